//! GeoJSON (RFC 7946) writing: WGS-84 lon/lat, counter-clockwise exteriors, 6 decimals, and the
//! run's parameters as a top-level `metroreach` member.
//!
//! Geometries are written straight into JSON text ([`Geometry`]): a 60-minute circle has ten
//! thousand vertices or more, and building a `serde_json::Value` per coordinate pair cost more than
//! computing the circle. A large geometry's points are written in two halves on two threads and
//! joined (the same bytes). Properties stay `serde_json` maps. The text is byte for byte what
//! `serde_json` writes for the same rounded numbers (checked against it in the tests below).

use geo::{Coord, MultiPolygon};
use serde_json::{Map, Value};

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

/// Appends `round(v, 6)` as `serde_json` writes it (shortest round-trip form), without going
/// through a float formatter: `round(v, 6)` is the double nearest to `n / 10⁶` for the integer
/// `n = round(v·10⁶)`, and distinct multiples of 10⁻⁶ below 10⁹ are distinct doubles, so the
/// shortest form is `n / 10⁶` in decimal with trailing zeros dropped (`"39.0"` for an integer).
/// Magnitudes below 10⁻⁵ (written with an exponent) and very large ones go through `serde_json`.
///
/// ```
/// use metroreach::output::geojson::push_coord;
/// let mut s = String::new();
/// push_coord(&mut s, -121.2134612);
/// s.push(',');
/// push_coord(&mut s, 39.0);
/// assert_eq!(s, "-121.213461,39.0");
/// ```
pub fn push_coord(out: &mut String, v: f64) {
    match micro_degrees(v) {
        Some(n) => {
            let mut buf = [0u8; PAIR_BUF];
            let len = put_coord(&mut buf, 0, n);
            push_ascii(out, &buf, len);
        }
        None => {
            out.push_str(&serde_json::to_string(&round(v, 6)).unwrap_or_else(|_| "null".into()))
        }
    }
}

/// Room for `[x,y]` with both numbers at their longest (a sign, 9 integer digits, a point and 6
/// decimals each), rounded up.
const PAIR_BUF: usize = 40;

/// The two decimal digits of every number below 100, for writing decimals in pairs.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// `round(v·10⁶)` for the numbers written here, or `None` for those left to `serde_json`
/// (exponent forms below 10⁻⁵, NaN, ∞, |v| ≥ 10⁹).
#[inline]
fn micro_degrees(v: f64) -> Option<i64> {
    let x = v * 1e6;
    if x.is_nan() || x.abs() >= 1e15 {
        return None;
    }
    let n = crate::geom::round_i64(x);
    if (n != 0 && n.abs() < 10) || n.abs() >= 1_000_000_000_000_000 {
        return None;
    }
    Some(n)
}

/// Writes `n / 10⁶` at `buf[at..]` in the form of [`push_coord`] (at most 17 bytes) and returns
/// the position after it. Every write is at a known place: no copies of variable length.
#[inline]
fn put_coord(buf: &mut [u8; PAIR_BUF], mut at: usize, n: i64) -> usize {
    if n < 0 {
        buf[at] = b'-';
        at += 1;
    }
    let a = n.unsigned_abs();
    let (mut int, frac) = ((a / 1_000_000) as u32, (a % 1_000_000) as u32);
    let mut width = 1;
    while width < 9 && int >= 10u32.pow(width as u32) {
        width += 1;
    }
    for k in (at..at + width).rev() {
        buf[k] = b'0' + (int % 10) as u8;
        int /= 10;
    }
    at += width;
    buf[at] = b'.';
    at += 1;
    if frac == 0 {
        buf[at] = b'0';
        return at + 1;
    }
    for (slot, pair) in [frac / 10_000, frac / 100 % 100, frac % 100]
        .into_iter()
        .enumerate()
    {
        let from = 2 * pair as usize;
        buf[at + 2 * slot] = PAIRS[from];
        buf[at + 2 * slot + 1] = PAIRS[from + 1];
    }
    at += 6;
    // Trailing zeros dropped (frac ≠ 0, so a non-zero digit stays).
    while buf[at - 1] == b'0' {
        at -= 1;
    }
    at
}

/// Appends `buf[..len]` (ASCII) to `out`, copying the whole fixed-size buffer into the spare
/// capacity (one copy of known size) and then keeping `len` bytes of it.
#[inline]
fn push_ascii(out: &mut String, buf: &[u8; PAIR_BUF], len: usize) {
    debug_assert!(len <= PAIR_BUF && buf.is_ascii());
    out.reserve(PAIR_BUF);
    // SAFETY: only ASCII bytes are added (valid UTF-8 on their own); the first `len` of the
    // spare bytes are initialised by the copy before the length covers them.
    unsafe {
        let v = out.as_mut_vec();
        let old = v.len();
        let spare = v.spare_capacity_mut();
        std::ptr::copy_nonoverlapping(buf.as_ptr(), spare.as_mut_ptr().cast::<u8>(), PAIR_BUF);
        v.set_len(old + len);
    }
}

/// `[x,y]`, built on the stack and appended at once.
fn push_pair(out: &mut String, x: f64, y: f64) {
    let (Some(nx), Some(ny)) = (micro_degrees(x), micro_degrees(y)) else {
        out.push('[');
        push_coord(out, x);
        out.push(',');
        push_coord(out, y);
        out.push(']');
        return;
    };
    let mut buf = [0u8; PAIR_BUF];
    buf[0] = b'[';
    let at = put_coord(&mut buf, 1, nx);
    buf[at] = b',';
    let at = put_coord(&mut buf, at + 1, ny);
    buf[at] = b']';
    push_ascii(out, &buf, at + 1);
}

/// `[[x,y],…]`
fn push_line(out: &mut String, pts: impl IntoIterator<Item = (f64, f64)>) {
    out.push('[');
    for (k, (x, y)) in pts.into_iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        push_pair(out, x, y);
    }
    out.push(']');
}

/// One ring of a multipolygon, for writing its coordinates in pieces ([`push_points`]).
struct RingSlot<'a> {
    pts: &'a [Coord<f64>],
    /// Index of its first point among all the multipolygon's points.
    start: usize,
    /// What opens it (`[[` for a polygon's exterior, `,[[` after the first polygon, `,[` for a
    /// hole) and what closes it (`]]` for a polygon's last ring, else `]`).
    open: &'static str,
    close: &'static str,
}

/// The rings of `mp` in the order they are written, with their text around them.
fn ring_slots(mp: &MultiPolygon<f64>) -> Vec<RingSlot<'_>> {
    let mut slots = Vec::new();
    let mut start = 0;
    for (k, p) in mp.0.iter().enumerate() {
        let last = p.interiors().len();
        for (r, ring) in std::iter::once(p.exterior())
            .chain(p.interiors())
            .enumerate()
        {
            let open = match (r, k) {
                (0, 0) => "[[",
                (0, _) => ",[[",
                _ => ",[",
            };
            let close = if r == last { "]]" } else { "]" };
            slots.push(RingSlot {
                pts: &ring.0,
                start,
                open,
                close,
            });
            start += ring.0.len();
        }
    }
    slots
}

/// The text of points `range` (indices over all rings, in order) with the brackets and commas
/// that come with them: a ring's opening goes with its first point, its closing with its last.
/// Pieces for consecutive ranges covering every point, put end to end, are the whole
/// coordinates' text (an empty ring goes with the piece where its position falls; the last
/// piece's range is closed).
fn push_points(out: &mut String, slots: &[RingSlot], range: std::ops::Range<usize>, last: bool) {
    let owns = |k: usize| range.contains(&k) || (last && k == range.end);
    // The first ring that ends after the range starts (or the empty rings right at its start).
    let from =
        slots.partition_point(|s| s.start < range.start && s.start + s.pts.len() <= range.start);
    for s in &slots[from..] {
        if s.start > range.end || (s.start == range.end && !last) {
            break;
        }
        let end = s.start + s.pts.len();
        if owns(s.start) {
            out.push_str(s.open);
        }
        let (lo, hi) = (range.start.max(s.start), range.end.min(end));
        for k in lo..hi {
            if k > s.start {
                out.push(',');
            }
            let c = s.pts[k - s.start];
            push_pair(out, c.x, c.y);
        }
        // The closing goes with the last point, or with the opening for an empty ring.
        let closes = match s.pts.len() {
            0 => owns(s.start),
            _ => range.contains(&(end - 1)),
        };
        if closes {
            out.push_str(s.close);
        }
    }
}

/// A GeoJSON geometry object, already written as compact JSON text.
#[derive(Clone, Debug, PartialEq)]
pub struct Geometry(String);

impl Geometry {
    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Fewest points for which a multipolygon's text is written in two halves side by side.
const PARALLEL_TEXT_POINTS: usize = 4096;

/// A MultiPolygon geometry object (empty coordinates when there is nothing).
pub fn multipolygon(mp: &MultiPolygon<f64>) -> Geometry {
    write_multipolygon(
        mp,
        |points| {
            if points >= PARALLEL_TEXT_POINTS {
                2
            } else {
                1
            }
        },
    )
}

/// [`multipolygon`] with the points written in `pieces` ranges (the same text for any number).
#[cfg(test)]
fn multipolygon_in_pieces(mp: &MultiPolygon<f64>, pieces: usize) -> Geometry {
    write_multipolygon(mp, |_| pieces)
}

/// A MultiPolygon's text with its points written in `pieces(points)` ranges side by side.
fn write_multipolygon(mp: &MultiPolygon<f64>, pieces: impl Fn(usize) -> usize) -> Geometry {
    use rayon::prelude::*;
    const HEAD: &str = r#"{"type":"MultiPolygon","coordinates":["#;
    let slots = ring_slots(mp);
    let points: usize = slots.iter().map(|s| s.pts.len()).sum();
    let pieces = pieces(points).clamp(1, points.max(1));
    let bounds = |k: usize| points * k / pieces;
    let text = |k: usize, out: &mut String| {
        push_points(out, &slots, bounds(k)..bounds(k + 1), k + 1 == pieces)
    };
    let mut s = String::with_capacity(HEAD.len() + 2 + 26 * points);
    s.push_str(HEAD);
    if pieces == 1 {
        text(0, &mut s);
    } else {
        // The first piece goes straight into the result while the others are written.
        let ((), rest) = rayon::join(
            || text(0, &mut s),
            || {
                (1..pieces)
                    .into_par_iter()
                    .map(|k| {
                        let mut out = String::with_capacity(26 * (bounds(k + 1) - bounds(k)) + 8);
                        text(k, &mut out);
                        out
                    })
                    .collect::<Vec<String>>()
            },
        );
        for r in &rest {
            s.push_str(r);
        }
    }
    s.push_str("]}");
    Geometry(s)
}

/// The coordinates of a LineString, `[[lon,lat],…]`, appended to `out`.
pub fn push_linestring_coords(out: &mut String, coords: &[[f64; 2]]) {
    push_line(out, coords.iter().map(|c| (c[0], c[1])));
}

/// A LineString geometry object.
pub fn linestring(coords: &[[f64; 2]]) -> Geometry {
    let mut s = String::with_capacity(40 + 24 * coords.len());
    s.push_str(r#"{"type":"LineString","coordinates":"#);
    push_linestring_coords(&mut s, coords);
    s.push('}');
    Geometry(s)
}

/// A Point geometry object.
pub fn point(lon: f64, lat: f64) -> Geometry {
    let mut s = String::from(r#"{"type":"Point","coordinates":"#);
    push_pair(&mut s, lon, lat);
    s.push('}');
    Geometry(s)
}

/// A Feature: properties, geometry and optional foreign members (RFC 7946 §6.1), written after
/// the geometry in insertion order.
#[derive(Clone, Debug, PartialEq)]
pub struct Feature {
    pub properties: Map<String, Value>,
    pub geometry: Geometry,
    pub foreign: Map<String, Value>,
}

pub fn feature(properties: Map<String, Value>, geometry: Geometry) -> Feature {
    Feature {
        properties,
        geometry,
        foreign: Map::new(),
    }
}

impl Feature {
    /// Appends the feature as compact JSON.
    pub fn write(&self, out: &mut String) {
        out.push_str(&self.head());
        out.push_str(self.geometry.as_str());
        out.push_str(&self.tail());
    }

    /// The text before the geometry: type and properties.
    fn head(&self) -> String {
        let mut out = String::from(r#"{"type":"Feature","properties":"#);
        push_json(&mut out, &self.properties);
        out.push_str(r#","geometry":"#);
        out
    }

    /// The text after the geometry: foreign members and the closing brace.
    fn tail(&self) -> String {
        let mut out = String::new();
        for (k, v) in &self.foreign {
            out.push(',');
            push_json(&mut out, k);
            out.push(':');
            push_json(&mut out, v);
        }
        out.push('}');
        out
    }
}

fn push_json<T: serde::Serialize + ?Sized>(out: &mut String, v: &T) {
    // Serialising a map, string or value into memory cannot fail.
    out.push_str(&serde_json::to_string(v).expect("serialising JSON into memory"));
}

/// A FeatureCollection with the run description as a foreign member (`metroreach`).
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureCollection {
    pub run: Value,
    pub features: Vec<Feature>,
}

pub fn collection(features: Vec<Feature>, run: Value) -> FeatureCollection {
    FeatureCollection { run, features }
}

/// Serialises compactly, one feature per line (diff-friendly, still valid JSON).
pub fn to_string(c: &FeatureCollection) -> String {
    // Geometries are most of the text: reserved up front, so it is never copied to grow.
    let geometry_bytes: usize = c.features.iter().map(|f| f.geometry.0.len() + 512).sum();
    let mut out = Vec::with_capacity(4096 + geometry_bytes);
    write_to(&mut out, c).expect("writing into memory cannot fail");
    String::from_utf8(out).expect("JSON text is UTF-8")
}

/// Writes [`to_string`]'s text to `w` piece by piece: a batch of circles is tens of megabytes
/// of geometry, which is never copied into one string first.
pub fn write_to(w: &mut impl std::io::Write, c: &FeatureCollection) -> std::io::Result<()> {
    let mut head = String::from("{\n\"type\": \"FeatureCollection\",\n\"metroreach\": ");
    push_json(&mut head, &c.run);
    head.push_str(",\n\"features\": [\n");
    w.write_all(head.as_bytes())?;
    for (j, f) in c.features.iter().enumerate() {
        w.write_all(f.head().as_bytes())?;
        w.write_all(f.geometry.as_str().as_bytes())?;
        let mut tail = f.tail();
        if j + 1 < c.features.len() {
            tail.push(',');
        }
        tail.push('\n');
        w.write_all(tail.as_bytes())?;
    }
    w.write_all(b"]\n}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{polygon, LineString, Polygon};
    use proptest::prelude::*;
    use serde_json::json;

    fn serde_coord(v: f64) -> String {
        serde_json::to_string(&round(v, 6)).unwrap()
    }

    #[test]
    fn coordinates_match_serde_json_on_edge_cases() {
        for v in [
            0.0,
            -0.0,
            1e-7,
            -4e-7,
            5e-7,
            1e-6,
            -1e-6,
            9e-6,
            1e-5,
            1.5e-5,
            0.0001,
            39.0,
            -39.0,
            180.0,
            -180.0,
            0.1,
            0.5,
            1.0000005,
            2.9999995,
            -121.2134615,
            35.8989,
            1e9,
            1e20,
            f64::NAN,
            f64::INFINITY,
        ] {
            let mut s = String::new();
            push_coord(&mut s, v);
            assert_eq!(s, serde_coord(v), "{v}");
        }
    }

    proptest! {
        #[test]
        fn coordinates_match_serde_json(v in -181.0f64..181.0, scale in 0i32..8) {
            let v = v / 10f64.powi(scale);
            let mut s = String::new();
            push_coord(&mut s, v);
            prop_assert_eq!(s, serde_coord(v));
        }

        #[test]
        fn pairs_match_serde_json(
            x in -181.0f64..181.0,
            y in -91.0f64..91.0,
            sx in 0i32..8,
            sy in 0i32..8,
        ) {
            let (x, y) = (x / 10f64.powi(sx), y / 10f64.powi(sy));
            let mut s = String::from("[");
            push_pair(&mut s, x, y);
            prop_assert_eq!(s, format!("[[{},{}]", serde_coord(x), serde_coord(y)));
        }
    }

    #[test]
    fn pairs_at_the_longest_and_outside_the_fast_path() {
        for (x, y) in [
            (-999_999_999.999_999, -999_999_999.999_999),
            (999_999_999.999_999_5, 1e-7),
            (f64::NAN, -121.5),
            (1e20, f64::NEG_INFINITY),
        ] {
            let mut s = String::new();
            push_pair(&mut s, x, y);
            assert_eq!(s, format!("[{},{}]", serde_coord(x), serde_coord(y)));
        }
    }

    fn value_of(g: &Geometry) -> Value {
        serde_json::from_str(g.as_str()).expect("geometry text is valid JSON")
    }

    /// What the writer replaced: `serde_json` values built per coordinate.
    fn reference_multipolygon(mp: &MultiPolygon<f64>) -> Value {
        let ring = |r: &LineString<f64>| -> Value {
            Value::Array(
                r.0.iter()
                    .map(|c| json!([round(c.x, 6), round(c.y, 6)]))
                    .collect(),
            )
        };
        json!({
            "type": "MultiPolygon",
            "coordinates": mp.0.iter().map(|p| {
                let mut rings = vec![ring(p.exterior())];
                rings.extend(p.interiors().iter().map(ring));
                Value::Array(rings)
            }).collect::<Vec<_>>(),
        })
    }

    #[test]
    fn geometries_and_features_match_serde_json() {
        let with_hole = polygon!(
            exterior: [(x: 0.1234567, y: 1.0), (x: 2.0, y: 1.0), (x: 2.0, y: 3.25), (x: 0.1234567, y: 1.0)],
            interiors: [[(x: 0.5, y: 1.5), (x: 1.0, y: 1.5), (x: 1.0, y: 2.0), (x: 0.5, y: 1.5)]],
        );
        let square = polygon![(x: -8.61, y: 41.14), (x: -8.6, y: 41.14), (x: -8.6, y: 41.15), (x: -8.61, y: 41.14)];
        for mp in [
            MultiPolygon(vec![]),
            MultiPolygon(vec![with_hole.clone()]),
            MultiPolygon(vec![with_hole, square]),
        ] {
            let g = multipolygon(&mp);
            let reference = reference_multipolygon(&mp);
            assert_eq!(g.as_str(), serde_json::to_string(&reference).unwrap());
            assert_eq!(value_of(&g), reference);

            let mut props = Map::new();
            props.insert("city".into(), json!("上海 \"x\""));
            props.insert("minutes".into(), json!(60.0));
            let mut f = feature(props.clone(), g);
            f.foreign.insert("label".into(), json!("a"));
            let mut s = String::new();
            f.write(&mut s);
            let want = json!({"type": "Feature", "properties": props, "geometry": reference, "label": "a"});
            assert_eq!(s, serde_json::to_string(&want).unwrap());
        }
        let coords = [[-121.5914, 39.1457], [-121.0, 39.000001]];
        assert_eq!(
            value_of(&linestring(&coords)),
            json!({"type": "LineString", "coordinates": [[-121.5914, 39.1457], [-121.0, 39.000001]]})
        );
        assert_eq!(
            point(14.5146, 35.8989).as_str(),
            r#"{"type":"Point","coordinates":[14.5146,35.8989]}"#
        );
    }

    /// The text written in pieces (split inside rings, at their ends, between polygons) is the
    /// text written in one piece, and that is `serde_json`'s.
    #[test]
    fn text_in_pieces_is_the_text_in_one_piece() {
        let ring = |x0: f64, n: usize| -> LineString<f64> {
            let mut v: Vec<(f64, f64)> = (0..n)
                .map(|k| (x0 + k as f64 * 1e-3, 39.0 + (k % 3) as f64 * 1e-4))
                .collect();
            v.push(v[0]);
            LineString::from(v)
        };
        let mps = [
            MultiPolygon(vec![]),
            MultiPolygon(vec![Polygon::new(ring(1.0, 3), vec![])]),
            MultiPolygon(vec![
                Polygon::new(ring(-121.5, 50), vec![ring(-121.4, 3), ring(-121.3, 7)]),
                Polygon::new(ring(-120.0, 4), vec![]),
                Polygon::new(ring(-119.0, 9), vec![ring(-118.9, 5)]),
            ]),
            // An empty hole (geo allows it): its brackets are written once.
            MultiPolygon(vec![Polygon::new(
                ring(2.0, 5),
                vec![LineString::new(vec![]), ring(2.1, 3)],
            )]),
        ];
        for mp in &mps {
            let whole = multipolygon_in_pieces(mp, 1);
            assert_eq!(
                value_of(&whole),
                reference_multipolygon(mp),
                "one piece is serde_json's text"
            );
            for pieces in 2..=60 {
                assert_eq!(multipolygon_in_pieces(mp, pieces), whole, "{pieces} pieces");
            }
        }
    }

    #[test]
    fn collection_is_one_feature_per_line_and_parses() {
        let f = |name: &str| {
            let mut m = Map::new();
            m.insert("name".into(), json!(name));
            feature(m, point(1.0, 2.0))
        };
        let text = to_string(&collection(
            vec![f("a"), f("b")],
            json!({"tool": "metroreach"}),
        ));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "{");
        assert_eq!(lines[3], "\"features\": [");
        assert!(lines[4].ends_with("},") && lines[5].ends_with('}'));
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["type"], "FeatureCollection");
        assert_eq!(v["features"][1]["properties"]["name"], "b");
        assert_eq!(v["metroreach"]["tool"], "metroreach");
        let empty = to_string(&collection(vec![], json!({})));
        assert!(serde_json::from_str::<Value>(&empty).is_ok());
    }
}
