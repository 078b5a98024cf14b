//! The HTML report: one self-contained `index.html` that opens offline, from `file://`, with no
//! server and no internet. Leaflet (vendored in `assets/leaflet/`), the report's script and style
//! (`assets/report/`) and the data are all inlined; nothing is fetched. The data is embedded as
//! compact GeoJSON (6 decimals, no pretty-printing) in a `<script type="application/json">`.
//!
//! The page writes a JSON self-test summary into `#metroreach-selftest` once everything is
//! drawn (features per layer, detail checks, errors); `tests/report_browser.rs` reads it from a
//! headless Chromium. See `docs/report.md`.

use super::geojson;
use super::layers::{MapLayers, PolygonFeature, RoadLine};
use crate::fsio::{write_atomic, WriteError};
use crate::geom::BBox;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// The vendored Leaflet's version.
pub const LEAFLET_VERSION: &str = "1.9.4";
/// The `id` of the `<pre>` the page writes its self-test summary into.
pub const SELFTEST_ID: &str = "metroreach-selftest";
/// The `format` member of the embedded data.
pub const DATA_FORMAT: &str = "metroreach-report/1";

const LEAFLET_JS: &str = include_str!("../../assets/leaflet/leaflet.js");
const LEAFLET_CSS: &str = include_str!("../../assets/leaflet/leaflet.css");
const LEAFLET_LICENSE: &str = include_str!("../../assets/leaflet/LICENSE");
const ERRORS_JS: &str = include_str!("../../assets/report/errors.js");
const REPORT_JS: &str = include_str!("../../assets/report/report.js");
const REPORT_CSS: &str = include_str!("../../assets/report/report.css");

/// What the page may load: its own inline scripts and styles, and the optional tile basemap.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                   img-src data: https://tile.openstreetmap.org; base-uri 'none'; form-action 'none'";

/// Writes `dir/index.html` (creating `dir`).
pub fn write_report(dir: &Path, layers: &MapLayers) -> Result<PathBuf, WriteError> {
    std::fs::create_dir_all(dir).map_err(|source| WriteError {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join("index.html");
    write_atomic(&path, &render_html(layers))?;
    Ok(path)
}

/// The whole page.
pub fn render_html(layers: &MapLayers) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(LEAFLET_JS.len() + (1 << 20));
    let title = if layers.title.is_empty() {
        "metroreach report"
    } else {
        layers.title.as_str()
    };
    let mut head = String::new();
    head.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    head.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    head.push_str(&format!(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n",
        esc(CSP)
    ));
    head.push_str(&format!(
        "<meta name=\"generator\" content=\"metroreach {}\">\n",
        env!("CARGO_PKG_VERSION")
    ));
    head.push_str(&format!("<title>{}</title>\n", esc(title)));
    head.push_str(&format!("<script>\n{}</script>\n", script_text(ERRORS_JS)));
    head.push_str(&format!(
        "<style>\n{}</style>\n<style>\n{}</style>\n",
        leaflet_css(),
        REPORT_CSS
    ));
    head.push_str("</head>\n<body>\n");
    head.push_str(&format!("<header>\n<h1>{}</h1>\n", esc(title)));
    if !layers.subtitle.is_empty() {
        head.push_str(&format!(
            "<div class=\"sub\">{}</div>\n",
            esc(&layers.subtitle)
        ));
    }
    head.push_str("</header>\n<div id=\"map\" role=\"region\" aria-label=\"map\"></div>\n<main>\n");
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body_sections(layers).as_bytes());
    out.extend_from_slice(b"<script type=\"application/json\" id=\"metroreach-data\">");
    let mut data = Vec::with_capacity(1 << 20);
    write_data(&mut data, layers);
    push_script_safe_json(&mut out, &data);
    out.extend_from_slice(b"</script>\n<script>\n");
    out.extend_from_slice(script_text(LEAFLET_JS).as_bytes());
    out.extend_from_slice(b"</script>\n<script>\n");
    out.extend_from_slice(script_text(REPORT_JS).as_bytes());
    out.extend_from_slice(b"</script>\n</body>\n</html>\n");
    out
}

/// Notes, tables, parameters, licences and the self-test box, as static HTML (readable even
/// without scripts).
fn body_sections(layers: &MapLayers) -> String {
    let mut s = String::new();
    if !layers.notes.is_empty() {
        s.push_str("<section id=\"notes\">\n<h2>Notes</h2>\n<ul class=\"notes\">\n");
        for n in &layers.notes {
            s.push_str(&format!("<li>{}</li>\n", esc(n)));
        }
        s.push_str("</ul>\n</section>\n");
    }
    if !layers.tables.is_empty() {
        s.push_str("<section id=\"tables\">\n");
        for t in &layers.tables {
            s.push_str(&format!(
                "<h2>{}</h2>\n<div class=\"table-wrap\">\n<table class=\"mr-table\">\n<thead><tr>",
                esc(&t.title)
            ));
            for h in &t.headers {
                s.push_str(&format!("<th>{}</th>", esc(h)));
            }
            s.push_str("</tr></thead>\n<tbody>\n");
            for r in &t.rows {
                s.push_str("<tr>");
                for c in r {
                    if looks_numeric(c) {
                        s.push_str(&format!("<td class=\"num\">{}</td>", esc(c)));
                    } else {
                        s.push_str(&format!("<td>{}</td>", esc(c)));
                    }
                }
                s.push_str("</tr>\n");
            }
            s.push_str("</tbody>\n</table>\n</div>\n");
        }
        s.push_str("</section>\n");
    }
    let params = serde_json::to_string_pretty(&layers.parameters).unwrap_or_default();
    s.push_str(&format!(
        "<details id=\"parameters\">\n<summary>Parameters (the run's description)</summary>\n<pre>{}</pre>\n</details>\n",
        esc(&params)
    ));
    s.push_str(&format!(
        "<details id=\"about\">\n<summary>About this report</summary>\n<p>Made by metroreach {}. \
         Everything this page needs is inside this file: it works offline. The OpenStreetMap tile \
         basemap offered in the layer switcher is off by default and needs internet. Road data \
         © OpenStreetMap contributors (ODbL).</p>\n<p>The map is drawn with Leaflet {} \
         (https://leafletjs.com), under the BSD 2-Clause licence:</p>\n<pre>{}</pre>\n</details>\n",
        esc(env!("CARGO_PKG_VERSION")),
        LEAFLET_VERSION,
        esc(LEAFLET_LICENSE)
    ));
    s.push_str(&format!(
        "<details id=\"selftest\">\n<summary>Self-test</summary>\n<pre id=\"{SELFTEST_ID}\"></pre>\n</details>\n</main>\n"
    ));
    s
}

fn looks_numeric(c: &str) -> bool {
    let t = c.trim().trim_end_matches('%').trim();
    !t.is_empty() && t.parse::<f64>().is_ok()
}

/// Escapes text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(ch),
        }
    }
    o
}

/// Leaflet's stylesheet without its `url(...)` references (the layer-switcher and marker images,
/// IE's VML behaviour): the page uses none of them, and must load nothing.
fn leaflet_css() -> String {
    LEAFLET_CSS.lines().filter(|l| !l.contains("url(")).fold(
        String::with_capacity(LEAFLET_CSS.len()),
        |mut s, l| {
            s.push_str(l);
            s.push('\n');
            s
        },
    )
}

/// A script's text made safe to inline: no source-map comment (nothing to load), and no
/// `</script` inside.
fn script_text(js: &str) -> String {
    js.lines()
        .filter(|l| !l.starts_with("//# sourceMappingURL="))
        .fold(String::with_capacity(js.len()), |mut s, l| {
            s.push_str(&l.replace("</script", "<\\/script"));
            s.push('\n');
            s
        })
}

/// Copies JSON text into the page with every `<` written as `\u003c` (only possible inside JSON
/// strings, where it means the same), so that nothing in the data can end the script element.
fn push_script_safe_json(out: &mut Vec<u8>, json: &[u8]) {
    out.reserve(json.len());
    for chunk in json.split_inclusive(|&b| b == b'<') {
        match chunk.split_last() {
            Some((b'<', rest)) => {
                out.extend_from_slice(rest);
                out.extend_from_slice(b"\\u003c");
            }
            _ => out.extend_from_slice(chunk),
        }
    }
}

fn push_feature(out: &mut Vec<u8>, f: &geojson::Feature) {
    let mut s = String::new();
    f.write(&mut s);
    out.extend_from_slice(s.as_bytes());
}

fn push_value(out: &mut Vec<u8>, v: &Value) {
    // Writing a `Value` into memory cannot fail.
    serde_json::to_writer(&mut *out, v).expect("serialising JSON into memory");
}

fn bbox_value(b: Option<&BBox>) -> Value {
    match b {
        Some(b)
            if !b.is_empty()
                && [b.min_lon, b.min_lat, b.max_lon, b.max_lat]
                    .iter()
                    .all(|v| v.is_finite()) =>
        {
            json!([
                geojson::round(b.min_lon, 6),
                geojson::round(b.min_lat, 6),
                geojson::round(b.max_lon, 6),
                geojson::round(b.max_lat, 6)
            ])
        }
        _ => Value::Null,
    }
}

/// The embedded data: one object of GeoJSON FeatureCollections, written feature by feature so
/// that a large report never holds the whole document as a JSON tree.
fn write_data(out: &mut Vec<u8>, layers: &MapLayers) {
    let mut cities = layers.cities();
    for c in layers
        .metro_areas
        .iter()
        .map(|f| &f.city)
        .chain(layers.origins.iter().map(|o| &o.city))
    {
        if !cities.contains(c) {
            cities.push(c.clone());
        }
    }
    let mut head = Map::new();
    head.insert("format".into(), json!(DATA_FORMAT));
    head.insert("extent".into(), bbox_value(Some(&layers.extent)));
    head.insert("edge".into(), bbox_value(layers.extract_edge.as_ref()));
    head.insert("minutes".into(), json!(layers.minutes));
    head.insert("cities".into(), json!(cities));
    let head = serde_json::to_vec(&Value::Object(head)).expect("serialising JSON into memory");
    // Open the object: everything of `head` but its closing brace.
    out.extend_from_slice(&head[..head.len() - 1]);
    out.extend_from_slice(b",\"roads\":");
    write_roads(out, &layers.roads);
    for (name, fs) in [
        ("circles", &layers.circles),
        ("units", &layers.units),
        ("catchments", &layers.catchments),
        ("metro_areas", &layers.metro_areas),
    ] {
        out.extend_from_slice(format!(",\"{name}\":").as_bytes());
        write_polygons(out, fs);
    }
    out.extend_from_slice(b",\"origins\":");
    write_origins(out, layers);
    out.push(b'}');
}

fn write_polygons(out: &mut Vec<u8>, fs: &[PolygonFeature]) {
    out.extend_from_slice(b"{\"type\":\"FeatureCollection\",\"features\":[");
    for (i, f) in fs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let mut v = geojson::feature(f.properties.clone(), geojson::multipolygon(&f.polygon));
        // Foreign members (RFC 7946 §6.1) for the page; the properties are what it shows.
        let m = &mut v.foreign;
        m.insert("label".into(), json!(f.label));
        m.insert("city".into(), json!(f.city));
        m.insert("minutes".into(), json!(f.minutes));
        m.insert("share".into(), json!(geojson::round(f.share, 4)));
        m.insert("member".into(), json!(f.member));
        push_feature(out, &v);
    }
    out.extend_from_slice(b"]}");
}

/// The context roads: one MultiLineString feature per class, in the order of the classes.
fn write_roads(out: &mut Vec<u8>, roads: &[RoadLine]) {
    let mut classes = Vec::new();
    for r in roads {
        if !classes.contains(&r.class) {
            classes.push(r.class);
        }
    }
    classes.sort();
    out.extend_from_slice(b"{\"type\":\"FeatureCollection\",\"features\":[");
    for (i, class) in classes.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let lines: Vec<&RoadLine> = roads.iter().filter(|r| r.class == *class).collect();
        out.extend_from_slice(b"{\"type\":\"Feature\",\"properties\":");
        push_value(out, &json!({"class": class.as_str(), "lines": lines.len()}));
        out.extend_from_slice(b",\"geometry\":{\"type\":\"MultiLineString\",\"coordinates\":[");
        for (j, l) in lines.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            let mut coords = String::new();
            geojson::push_linestring_coords(&mut coords, &l.coords);
            out.extend_from_slice(coords.as_bytes());
        }
        out.extend_from_slice(b"]}}");
    }
    out.extend_from_slice(b"]}");
}

fn write_origins(out: &mut Vec<u8>, layers: &MapLayers) {
    out.extend_from_slice(b"{\"type\":\"FeatureCollection\",\"features\":[");
    for (i, o) in layers.origins.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let mut p = Map::new();
        p.insert("label".into(), json!(o.label));
        p.insert("city".into(), json!(o.city));
        p.insert("lon".into(), json!(geojson::round(o.lon, 6)));
        p.insert("lat".into(), json!(geojson::round(o.lat, 6)));
        p.insert(
            "snapped lon".into(),
            json!(geojson::round(o.snapped_lon, 6)),
        );
        p.insert(
            "snapped lat".into(),
            json!(geojson::round(o.snapped_lat, 6)),
        );
        p.insert("snap distance m".into(), json!(geojson::round(o.snap_m, 0)));
        let mut v = geojson::feature(p, geojson::point(o.lon, o.lat));
        {
            let m = &mut v.foreign;
            m.insert("label".into(), json!(o.label));
            m.insert("city".into(), json!(o.city));
            m.insert(
                "snapped".into(),
                json!([
                    geojson::round(o.snapped_lon, 6),
                    geojson::round(o.snapped_lat, 6)
                ]),
            );
        }
        push_feature(out, &v);
    }
    out.extend_from_slice(b"]}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::RoadClass;
    use crate::output::layers::{OriginPoint, TableData};
    use geo::{polygon, MultiPolygon};

    fn square(x: f64, y: f64, d: f64) -> MultiPolygon<f64> {
        MultiPolygon(vec![
            polygon![(x: x, y: y), (x: x + d, y: y), (x: x + d, y: y + d), (x: x, y: y + d), (x: x, y: y)],
        ])
    }

    fn feature(city: &str, minutes: f64, label: &str, mp: MultiPolygon<f64>) -> PolygonFeature {
        let mut p = Map::new();
        p.insert("name".into(), json!(label));
        PolygonFeature {
            city: city.into(),
            minutes,
            polygon: mp,
            label: label.into(),
            properties: p,
            share: 0.5,
            member: true,
        }
    }

    fn sample() -> MapLayers {
        MapLayers {
            title: "Commute circles: 亦庄 & <Valletta>".into(),
            subtitle: "car, 10,20 min".into(),
            parameters: json!({"note": "</script><script>alert(1)</script>"}),
            extent: BBox {
                min_lon: 116.4,
                min_lat: 39.7,
                max_lon: 116.6,
                max_lat: 39.9,
            },
            extract_edge: Some(BBox {
                min_lon: 116.3,
                min_lat: 39.6,
                max_lon: 116.7,
                max_lat: 40.0,
            }),
            roads: vec![
                RoadLine {
                    class: RoadClass::Primary,
                    coords: vec![[116.41234567, 39.7], [116.5, 39.8]],
                },
                RoadLine {
                    class: RoadClass::Motorway,
                    coords: vec![[116.4, 39.7], [116.5, 39.8]],
                },
                RoadLine {
                    class: RoadClass::Primary,
                    coords: vec![[116.45, 39.75], [116.55, 39.85]],
                },
            ],
            minutes: vec![10.0, 20.0],
            circles: vec![
                feature("亦庄", 10.0, "亦庄 · 10 min", square(116.45, 39.75, 0.05)),
                feature("亦庄", 20.0, "亦庄 · 20 min", square(116.42, 39.72, 0.1)),
            ],
            units: vec![feature("", 0.0, "</script> unit", square(116.4, 39.7, 0.2))],
            catchments: vec![],
            metro_areas: vec![feature("亦庄", 20.0, "亦庄 · metro", MultiPolygon(vec![]))],
            origins: vec![OriginPoint {
                city: "亦庄".into(),
                label: "亦庄".into(),
                lon: 116.5069,
                lat: 39.7953,
                snapped_lon: 116.507,
                snapped_lat: 39.7954,
                snap_m: 12.3,
            }],
            tables: vec![TableData {
                title: "Circles".into(),
                headers: vec!["city".into(), "area km²".into()],
                rows: vec![vec!["亦庄".into(), "12.5".into()]],
            }],
            notes: vec!["a <note>".into()],
        }
    }

    fn data_block(html: &str) -> &str {
        let start = html.find("id=\"metroreach-data\">").unwrap() + "id=\"metroreach-data\">".len();
        let end = start + html[start..].find("</script>").unwrap();
        &html[start..end]
    }

    #[test]
    fn page_is_self_contained_and_escaped() {
        let html = String::from_utf8(render_html(&sample())).unwrap();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<meta charset=\"utf-8\">"));
        assert!(html.contains("<title>Commute circles: 亦庄 &amp; &lt;Valletta&gt;</title>"));
        assert!(html.contains("<li>a &lt;note&gt;</li>"));
        assert!(!html.contains("<script src"), "no external script");
        assert!(!html.contains("<link"), "no external stylesheet");
        assert!(
            !leaflet_css().contains("url(") && !REPORT_CSS.contains("url("),
            "nothing loaded from CSS"
        );
        assert!(!html.contains("sourceMappingURL"));
        assert!(html.contains("Leaflet 1.9.4"));
        assert!(html.contains("BSD 2-Clause License"));
        assert!(html.contains(&format!("<pre id=\"{SELFTEST_ID}\"></pre>")));
        // Script elements: exactly the four of the page; the data's "</script>" is escaped.
        assert_eq!(html.matches("<script").count(), 4);
        assert_eq!(html.matches("</script>").count(), 4);
    }

    #[test]
    fn embedded_data_is_compact_geojson() {
        let layers = sample();
        let html = String::from_utf8(render_html(&layers)).unwrap();
        let text = data_block(&html);
        assert!(!text.contains('\n'), "not pretty-printed");
        assert!(!text.contains('<'));
        let v: Value = serde_json::from_str(text).unwrap();
        assert_eq!(v["format"], DATA_FORMAT);
        assert_eq!(v["circles"]["features"].as_array().unwrap().len(), 2);
        assert_eq!(v["circles"]["features"][0]["label"], "亦庄 · 10 min");
        assert_eq!(
            v["circles"]["features"][0]["geometry"]["type"],
            "MultiPolygon"
        );
        assert_eq!(v["units"]["features"][0]["label"], "</script> unit");
        assert_eq!(
            v["metro_areas"]["features"][0]["geometry"]["coordinates"],
            json!([])
        );
        assert_eq!(v["catchments"]["features"], json!([]));
        // Roads grouped by class, in class order, 6 decimals.
        let roads = v["roads"]["features"].as_array().unwrap();
        assert_eq!(roads.len(), 2);
        assert_eq!(roads[0]["properties"]["class"], "motorway");
        assert_eq!(roads[1]["properties"]["class"], "primary");
        assert_eq!(
            roads[1]["geometry"]["coordinates"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            roads[1]["geometry"]["coordinates"][0][0][0],
            json!(116.412346)
        );
        assert_eq!(
            v["origins"]["features"][0]["snapped"],
            json!([116.507, 39.7954])
        );
        assert_eq!(v["edge"], json!([116.3, 39.6, 116.7, 40.0]));
        assert_eq!(v["cities"], json!(["亦庄"]));
    }

    #[test]
    fn empty_layers_still_make_a_page() {
        let html = String::from_utf8(render_html(&MapLayers::default())).unwrap();
        let v: Value = serde_json::from_str(data_block(&html)).unwrap();
        assert_eq!(v["extent"], Value::Null);
        assert_eq!(v["edge"], Value::Null);
        assert!(html.contains("<title>metroreach report</title>"));
    }

    #[test]
    fn write_report_creates_the_directory() {
        let dir = std::env::temp_dir().join(format!("mr-report-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = write_report(&dir.join("a/b"), &sample()).unwrap();
        assert_eq!(path, dir.join("a/b/index.html"));
        assert!(std::fs::metadata(&path).unwrap().len() > 100_000);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
