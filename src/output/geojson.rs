//! GeoJSON (RFC 7946) writing: WGS-84 lon/lat, counter-clockwise exteriors, 6 decimals, and the
//! run's parameters as a top-level `metroreach` member.

use geo::{LineString, MultiPolygon, Polygon};
use serde_json::{json, Map, Value};

/// Rounds to `d` decimals for output.
pub fn round(v: f64, d: i32) -> f64 {
    let k = 10f64.powi(d);
    let r = (v * k).round() / k;
    if r == 0.0 {
        0.0 // no "-0.0"
    } else {
        r
    }
}

fn ring_coords(r: &LineString<f64>) -> Value {
    Value::Array(
        r.0.iter()
            .map(|c| json!([round(c.x, 6), round(c.y, 6)]))
            .collect(),
    )
}

fn polygon_coords(p: &Polygon<f64>) -> Value {
    let mut rings = vec![ring_coords(p.exterior())];
    rings.extend(p.interiors().iter().map(ring_coords));
    Value::Array(rings)
}

/// A MultiPolygon geometry object (empty coordinates when there is nothing).
pub fn multipolygon(mp: &MultiPolygon<f64>) -> Value {
    json!({
        "type": "MultiPolygon",
        "coordinates": Value::Array(mp.0.iter().map(polygon_coords).collect()),
    })
}

pub fn linestring(coords: &[[f64; 2]]) -> Value {
    json!({
        "type": "LineString",
        "coordinates": coords.iter().map(|c| json!([round(c[0], 6), round(c[1], 6)])).collect::<Vec<_>>(),
    })
}

pub fn point(lon: f64, lat: f64) -> Value {
    json!({"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]})
}

pub fn feature(properties: Map<String, Value>, geometry: Value) -> Value {
    json!({"type": "Feature", "properties": Value::Object(properties), "geometry": geometry})
}

/// A FeatureCollection with the run description as a foreign member.
pub fn collection(features: Vec<Value>, run: Value) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), Value::String("FeatureCollection".into()));
    m.insert("metroreach".into(), run);
    m.insert("features".into(), Value::Array(features));
    Value::Object(m)
}

/// Serialises compactly, one feature per line (diff-friendly, still valid JSON).
pub fn to_string(v: &Value) -> String {
    match v {
        Value::Object(m) if m.contains_key("features") => {
            let mut out = String::from("{\n");
            let n = m.len();
            for (i, (k, val)) in m.iter().enumerate() {
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push_str(": ");
                if k == "features" {
                    out.push_str("[\n");
                    if let Value::Array(fs) = val {
                        for (j, f) in fs.iter().enumerate() {
                            out.push_str(&serde_json::to_string(f).unwrap_or_default());
                            if j + 1 < fs.len() {
                                out.push(',');
                            }
                            out.push('\n');
                        }
                    }
                    out.push(']');
                } else {
                    out.push_str(&serde_json::to_string(val).unwrap_or_default());
                }
                if i + 1 < n {
                    out.push(',');
                }
                out.push('\n');
            }
            out.push_str("}\n");
            out
        }
        _ => serde_json::to_string(v).unwrap_or_default() + "\n",
    }
}
