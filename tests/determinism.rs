//! Determinism: the same inputs and parameters give byte-identical outputs across runs and
//! across thread counts (`--threads 1` vs `--threads 4`), for `circles` (GeoJSON, edges, grids)
//! and `reach` (every file of OUTDIR, run.json and the HTML report included), on Malta and Yuba.
//! Graph files are identical except the import's timings (`SOURCE_DATE_EPOCH` fixes its date).

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Runs `metroreach --threads N ARGS` with a fixed date and a given cache directory.
fn run(threads: usize, args: &[&str], cache: &Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_metroreach"))
        .arg("--threads")
        .arg(threads.to_string())
        .args(args)
        .env("METROREACH_CACHE", cache)
        .env("SOURCE_DATE_EPOCH", "0")
        .output()
        .expect("run metroreach");
    assert!(
        o.status.success(),
        "--threads {threads} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Every file under `dir`, by relative path.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, d: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Names the files that differ, with the first differing byte and its context.
fn differences(a: &BTreeMap<String, Vec<u8>>, b: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    let mut out = Vec::new();
    for k in a.keys().chain(b.keys()) {
        match (a.get(k), b.get(k)) {
            (Some(x), Some(y)) if x != y => {
                let at = x
                    .iter()
                    .zip(y)
                    .position(|(p, q)| p != q)
                    .unwrap_or(x.len().min(y.len()));
                let ctx = |v: &[u8]| {
                    String::from_utf8_lossy(&v[at.saturating_sub(60)..(at + 60).min(v.len())])
                        .into_owned()
                };
                out.push(format!(
                    "{k}: {} vs {} bytes, first difference at byte {at}:\n  {}\n  {}",
                    x.len(),
                    y.len(),
                    ctx(x),
                    ctx(y)
                ));
            }
            (Some(_), None) | (None, Some(_)) => out.push(format!("{k}: only in one run")),
            _ => {}
        }
    }
    out.sort();
    out.dedup();
    out
}

fn same_files(what: &str, a: &Path, b: &Path) {
    let (fa, fb) = (files(a), files(b));
    assert!(!fa.is_empty(), "{what}: no output in {}", a.display());
    let d = differences(&fa, &fb);
    assert!(d.is_empty(), "{what}: outputs differ:\n{}", d.join("\n"));
}

/// Imports an extract with `SOURCE_DATE_EPOCH=0` into a scratch directory named by `tag`.
fn import(name: &str, threads: usize, tag: &str) -> PathBuf {
    let d = scratch(&format!("det-graph-{tag}-{threads}-{name}"));
    let g = d.join(format!("{name}.graph"));
    run(threads, &["import", &s(&osm(name)), "-o", &s(&g)], &d);
    g
}

/// Graphs imported once per (extract, threads) and test binary (tests run in parallel).
fn graph(name: &str, threads: usize) -> PathBuf {
    type Cache = std::sync::Mutex<BTreeMap<(String, usize), PathBuf>>;
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut m = cache.lock().unwrap();
    m.entry((name.to_string(), threads))
        .or_insert_with(|| import(name, threads, "shared"))
        .clone()
}

/// Paths in the graph metadata whose values differ between two graphs.
fn meta_differences(a: &serde_json::Value, b: &serde_json::Value, path: &str) -> Vec<String> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut out = Vec::new();
            for k in x.keys().chain(y.keys()) {
                let p = format!("{path}.{k}");
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => out.extend(meta_differences(u, v, &p)),
                    _ => out.push(p),
                }
            }
            out.sort();
            out.dedup();
            out
        }
        _ if a == b => vec![],
        _ => vec![path.to_string()],
    }
}

/// What a graph's metadata may legitimately change between imports of the same extract: how long
/// it took (and how many threads did it). Everything else must be the same.
fn volatile(path: &str) -> bool {
    path.ends_with("_seconds") || path.contains("_seconds.") || path == ".import.threads"
}

#[test]
fn graph_files_are_identical_except_import_timings() {
    use metroreach::graph::store;
    for name in [MALTA, YUBA] {
        let a = store::load(&graph(name, 1)).unwrap();
        let b = store::load(&graph(name, 4)).unwrap();
        let again = store::load(&import(name, 4, "again")).unwrap();
        for (label, x, other) in [("threads 1 vs 4", &a, &b), ("two runs", &b, &again)] {
            assert_eq!(x.node_coords, other.node_coords, "{name} {label}");
            assert_eq!(x.node_osm_ids, other.node_osm_ids, "{name} {label}");
            assert_eq!(x.node_flags, other.node_flags, "{name} {label}");
            assert_eq!(x.first_out, other.first_out, "{name} {label}");
            assert_eq!(x.edges, other.edges, "{name} {label}");
            assert_eq!(x.edge_road, other.edge_road, "{name} {label}");
            assert_eq!(x.road_geom_start, other.road_geom_start, "{name} {label}");
            assert_eq!(x.geom, other.geom, "{name} {label}");
            assert_eq!(x.road_length_m, other.road_length_m, "{name} {label}");
            assert_eq!(x.road_class, other.road_class, "{name} {label}");
            assert_eq!(x.road_flags, other.road_flags, "{name} {label}");
            assert_eq!(x.road_way_id, other.road_way_id, "{name} {label}");
            assert_eq!(x.places, other.places, "{name} {label}");
            assert_eq!(x.boundaries, other.boundaries, "{name} {label}");
            let (mx, my) = (
                serde_json::to_value(&x.meta).unwrap(),
                serde_json::to_value(&other.meta).unwrap(),
            );
            let diff = meta_differences(&mx, &my, "");
            let unexpected: Vec<&String> = diff.iter().filter(|p| !volatile(p)).collect();
            eprintln!("{name} {label}: metadata fields that differ: {diff:?}");
            assert!(
                unexpected.is_empty(),
                "{name} {label}: metadata differs beyond timings: {unexpected:?}"
            );
            assert_eq!(x.meta.import.imported_at, "1970-01-01T00:00:00Z");
        }
    }
}

/// With `SOURCE_DATE_EPOCH` set, graph files are byte-identical whatever the thread count: the
/// import records a zero duration, zero stage timings and zero threads (src/osm/read.rs).
#[test]
fn graph_files_are_byte_identical_under_source_date_epoch() {
    for name in [MALTA, YUBA] {
        let a = std::fs::read(graph(name, 1)).unwrap();
        let b = std::fs::read(graph(name, 4)).unwrap();
        assert!(a == b, "{name}: graph files differ");
    }
}

fn circles_args<'a>(
    g: &'a str,
    out: &'a str,
    origins: &[&'a str],
    minutes: &'a str,
) -> Vec<&'a str> {
    let mut v = vec!["circles", g];
    v.extend_from_slice(origins);
    v.extend_from_slice(&["--minutes", minutes, "--arrive", "-o", out]);
    v
}

/// One circles run into a fresh directory: the GeoJSON, the reached edges and the grids.
fn circles_run(
    threads: usize,
    input: &Path,
    origins: &[&str],
    minutes: &str,
    dir: &Path,
    cache: &Path,
) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let (gi, out, edges, grid) = (
        s(input),
        s(&dir.join("circles.geojson")),
        s(&dir.join("edges.geojson")),
        s(&dir.join("grid")),
    );
    let mut a = circles_args(&gi, &out, origins, minutes);
    a.extend_from_slice(&["--edges", &edges, "--grid", &grid]);
    run(threads, &a, cache);
}

#[test]
fn circles_outputs_are_identical_across_runs_and_threads() {
    let d = scratch("det-circles");
    let valletta = [
        "--city",
        "Valletta",
        "--at",
        "14.2392,36.0444",
        "--label",
        "Victoria",
        "--at",
        "14.4031,35.8857",
        "--label",
        "Mdina",
    ];
    let yuba = [
        "--at",
        "-121.5914,39.1457",
        "--label",
        "Marysville",
        "--at",
        "-121.4,39.3",
        "--label",
        "Brownsville",
        "--at",
        "-121.3,39.05",
        "--label",
        "Wheatland",
        "--max-snap",
        "2000",
    ];
    for (name, origins, minutes) in [
        (MALTA, &valletta[..], "10,20,30"),
        (YUBA, &yuba[..], "15,30"),
    ] {
        let g = graph(name, 1);
        let (a, b, c) = (d.join("a"), d.join("b"), d.join("c"));
        circles_run(1, &g, origins, minutes, &a, &d);
        circles_run(4, &g, origins, minutes, &b, &d);
        circles_run(4, &g, origins, minutes, &c, &d);
        same_files(&format!("{name} circles, threads 1 vs 4"), &a, &b);
        same_files(&format!("{name} circles, two runs"), &b, &c);
        assert!(files(&a).len() >= 5, "{:?}", files(&a).keys());
    }
    // From the PBF directly (imported with the thread count, cached in the same place).
    let cache = d.join("cache");
    let (a, b) = (d.join("pa"), d.join("pb"));
    for (threads, dir) in [(1, &a), (4, &b)] {
        let _ = std::fs::remove_dir_all(&cache);
        std::fs::create_dir_all(&cache).unwrap();
        circles_run(threads, &osm(MALTA), &valletta, "10,20", dir, &cache);
    }
    same_files("Malta circles from the PBF, threads 1 vs 4", &a, &b);
}

fn reach_run(threads: usize, g: &Path, extra: &[&str], dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    let (gs, out, report) = (s(g), s(&dir.join("out")), s(&dir.join("out/report")));
    let mut a = vec!["reach", gs.as_str()];
    a.extend_from_slice(extra);
    a.extend_from_slice(&["-o", &out, "--report", &report]);
    run(threads, &a, dir.parent().unwrap());
}

#[test]
fn reach_outputs_are_identical_across_runs_and_threads() {
    let d = scratch("det-reach");
    let malta = [
        "--auto-cities",
        "--minutes",
        "10,20",
        "--units",
        "osm:8",
        "--population",
        "osm:places",
        "--rule",
        "area:0.5",
    ];
    let yuba = [
        "--at",
        "-121.5914,39.1457",
        "--label",
        "Marysville",
        "--at",
        "-121.4,39.3",
        "--label",
        "Brownsville",
        "--minutes",
        "15,30",
        "--units",
        "osm:8",
        "--population",
        "osm:places",
        "--contiguous",
    ];
    for (name, extra) in [(MALTA, &malta[..]), (YUBA, &yuba[..])] {
        let g = graph(name, 1);
        let (a, b, c) = (d.join("a"), d.join("b"), d.join("c"));
        reach_run(1, &g, extra, &a);
        reach_run(4, &g, extra, &b);
        reach_run(4, &g, extra, &c);
        let listed = files(&a);
        for f in [
            "run.json",
            "summary.md",
            "units.geojson",
            "catchments.geojson",
        ] {
            assert!(
                listed.contains_key(&format!("out/{f}")),
                "{f}: {:?}",
                listed.keys()
            );
        }
        same_files(&format!("{name} reach, threads 1 vs 4"), &a, &b);
        same_files(&format!("{name} reach, two runs"), &b, &c);
    }
}
