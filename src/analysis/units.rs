//! Administrative units (counties, districts, councils...) to overlay circles on: from the
//! boundaries stored in the graph (`osm:LEVEL`) or from a GeoJSON file, checked and repaired,
//! with a seat point each and an R-tree for lookups.

use crate::geom::area::multipolygon_km2;
use crate::geom::polyindex::PolyIndex;
use crate::geom::rings::{nest, oriented};
use crate::geom::BBox;
use crate::graph::RoadGraph;
use crate::input::InputError;
use geo::{
    BoundingRect, Coord, InteriorPoint, Intersects, LineString, MakeValid, MultiPolygon, Polygon,
    Validation,
};
use rstar::{RTree, RTreeObject, AABB};
use serde_json::Value;
use std::path::Path;

/// Where a unit's seat point comes from.
#[derive(Clone, Debug, PartialEq)]
pub struct Seat {
    pub lon: f64,
    pub lat: f64,
    /// `admin_centre node/…`, `place node/… (town)`, `population point NAME`, `interior point`.
    pub source: String,
}

/// One administrative unit.
#[derive(Clone, Debug)]
pub struct Unit {
    pub name: String,
    pub code: String,
    /// The unit's parent (e.g. its prefecture's name), when the source gives one.
    pub parent: Option<String>,
    pub polygon: MultiPolygon<f64>,
    pub area_km2: f64,
    pub bbox: BBox,
    pub seat: Seat,
    /// Set when the seat came from an OSM `admin_centre` (kept over later candidates).
    seat_fixed: bool,
}

struct UnitBox {
    aabb: AABB<[f64; 2]>,
    idx: usize,
}

impl RTreeObject for UnitBox {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        self.aabb
    }
}

/// A set of units with a spatial index.
pub struct Units {
    /// `osm:6`, or the GeoJSON path.
    pub source: String,
    pub units: Vec<Unit>,
    /// Units repaired on loading, with what was done.
    pub repairs: Vec<String>,
    /// Units left out, with why.
    pub rejected: Vec<String>,
    tree: RTree<UnitBox>,
    index: Vec<PolyIndex>,
}

/// A candidate seat: a named place with a rank (higher wins) and a population.
#[derive(Clone, Debug)]
pub struct SeatCandidate {
    pub lon: f64,
    pub lat: f64,
    pub rank: u8,
    pub population: f64,
    pub source: String,
}

/// Rank of an OSM place kind as a unit seat.
pub fn place_rank(kind: &str) -> u8 {
    match kind {
        "city" => 6,
        "town" => 5,
        "suburb" | "borough" | "quarter" => 4,
        "village" => 3,
        "hamlet" | "neighbourhood" => 2,
        _ => 1,
    }
}

impl Units {
    fn build(
        source: String,
        units: Vec<Unit>,
        repairs: Vec<String>,
        rejected: Vec<String>,
    ) -> Units {
        let tree = RTree::bulk_load(
            units
                .iter()
                .enumerate()
                .map(|(idx, u)| UnitBox {
                    aabb: AABB::from_corners(
                        [u.bbox.min_lon, u.bbox.min_lat],
                        [u.bbox.max_lon, u.bbox.max_lat],
                    ),
                    idx,
                })
                .collect(),
        );
        let index = units.iter().map(|u| PolyIndex::new(&u.polygon)).collect();
        Units {
            source,
            units,
            repairs,
            rejected,
            tree,
            index,
        }
    }

    /// The graph's administrative boundaries at `admin_level`.
    pub fn from_graph(g: &RoadGraph, level: u8) -> Result<Units, InputError> {
        let mut units = Vec::new();
        let mut rejected = Vec::new();
        let mut repairs = Vec::new();
        for b in g.boundaries.iter().filter(|b| b.admin_level == Some(level)) {
            let label = b.label();
            if b.polygons.is_empty() {
                rejected.push(format!(
                    "{label} (relation/{}): no closed ring could be assembled ({} broken rings; the extract cuts it)",
                    b.osm_id, b.broken_rings
                ));
                continue;
            }
            let (polygon, note) = validated(b.to_multipolygon());
            let Some(polygon) = polygon else {
                rejected.push(format!("{label} (relation/{}): {note}", b.osm_id));
                continue;
            };
            if !note.is_empty() {
                repairs.push(format!("{label} (relation/{}): {note}", b.osm_id));
            }
            if b.broken_rings > 0 {
                repairs.push(format!(
                    "{label} (relation/{}): {} ring(s) could not be closed and were left out",
                    b.osm_id, b.broken_rings
                ));
            }
            let code = b
                .codes
                .get("ref")
                .or_else(|| b.codes.get("ISO3166-2"))
                .cloned()
                .unwrap_or_else(|| format!("relation/{}", b.osm_id));
            let (seat, seat_fixed) = match &b.admin_centre {
                Some((id, c, _)) => (
                    Seat {
                        lon: c.lon(),
                        lat: c.lat(),
                        source: format!("admin_centre node/{id}"),
                    },
                    true,
                ),
                None => (interior_seat(&polygon), false),
            };
            units.push(make_unit(label, code, None, polygon, seat, seat_fixed));
        }
        if units.is_empty() {
            let levels: std::collections::BTreeSet<u8> =
                g.boundaries.iter().filter_map(|b| b.admin_level).collect();
            return Err(InputError::Other(format!(
                "osm:{level}: the graph has no usable administrative boundaries at admin_level {level} (levels present: {:?}){}",
                levels,
                if rejected.is_empty() { String::new() } else { format!("; rejected: {}", rejected.join("; ")) }
            )));
        }
        Ok(Units::build(
            format!("osm:{level}"),
            units,
            repairs,
            rejected,
        ))
    }

    /// Units from a GeoJSON FeatureCollection of (Multi)Polygons; `name_prop` and `code_prop`
    /// name the properties to use, `parent_prop` optionally a parent name.
    pub fn from_geojson(
        path: &Path,
        name_prop: &str,
        code_prop: &str,
        parent_prop: Option<&str>,
    ) -> Result<Units, InputError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| InputError::Io {
            path: p.clone(),
            source,
        })?;
        let json: Value =
            serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| {
                InputError::File {
                    path: p.clone(),
                    message: format!("not valid JSON: {e}"),
                }
            })?;
        let features = match json.get("type").and_then(Value::as_str) {
            Some("FeatureCollection") => json
                .get("features")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            Some("Feature") => vec![json.clone()],
            _ => {
                return Err(InputError::File {
                    path: p,
                    message: "not a GeoJSON FeatureCollection".into(),
                })
            }
        };
        if features.is_empty() {
            return Err(InputError::File {
                path: p,
                message: "the FeatureCollection has no features".into(),
            });
        }
        // Property names present, for messages.
        let mut present: Vec<String> = Vec::new();
        for f in &features {
            if let Some(props) = f.get("properties").and_then(Value::as_object) {
                for k in props.keys() {
                    if !present.contains(k) {
                        present.push(k.clone());
                    }
                }
            }
        }
        for prop in [Some(name_prop), Some(code_prop), parent_prop]
            .into_iter()
            .flatten()
        {
            if !present.iter().any(|k| k == prop) {
                return Err(InputError::File {
                    path: p,
                    message: format!(
                        "no feature has the property '{prop}' (properties present: {})",
                        present.join(", ")
                    ),
                });
            }
        }
        let mut units = Vec::new();
        let mut repairs = Vec::new();
        let mut rejected = Vec::new();
        for (i, f) in features.iter().enumerate() {
            let props = f.get("properties").and_then(Value::as_object);
            let get = |k: &str| {
                props.and_then(|m| m.get(k)).map(|v| match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                })
            };
            let name = get(name_prop).unwrap_or_default();
            let code = get(code_prop).unwrap_or_default();
            let label = format!(
                "feature {} ({}{})",
                i + 1,
                if name.is_empty() { "no name" } else { &name },
                if code.is_empty() {
                    String::new()
                } else {
                    format!(", {code}")
                }
            );
            let geometry = f.get("geometry").filter(|g| !g.is_null());
            let Some(geometry) = geometry else {
                rejected.push(format!("{label}: no geometry"));
                continue;
            };
            let (mp, mut notes) = match parse_geometry(geometry) {
                Ok(x) => x,
                Err(e) => {
                    rejected.push(format!("{label}: {e}"));
                    continue;
                }
            };
            let (polygon, note) = validated(mp);
            let Some(polygon) = polygon else {
                rejected.push(format!("{label}: {note}"));
                continue;
            };
            if !note.is_empty() {
                notes.push(note);
            }
            if !notes.is_empty() {
                repairs.push(format!("{label}: {}", notes.join("; ")));
            }
            if name.is_empty() && code.is_empty() {
                rejected.push(format!(
                    "{label}: neither '{name_prop}' nor '{code_prop}' is set"
                ));
                continue;
            }
            let parent = parent_prop.and_then(get).filter(|s| !s.is_empty());
            let seat = interior_seat(&polygon);
            units.push(make_unit(
                if name.is_empty() { code.clone() } else { name },
                if code.is_empty() {
                    format!("#{}", i + 1)
                } else {
                    code
                },
                parent,
                polygon,
                seat,
                false,
            ));
        }
        if units.is_empty() {
            return Err(InputError::File {
                path: p,
                message: format!("no usable unit polygons ({})", rejected.join("; ")),
            });
        }
        Ok(Units::build(p, units, repairs, rejected))
    }

    /// Picks each unit's seat among candidates inside it (highest rank, then population), unless
    /// it already has an OSM `admin_centre`.
    pub fn assign_seats(&mut self, candidates: &[SeatCandidate]) {
        let mut best: Vec<Option<&SeatCandidate>> = vec![None; self.units.len()];
        for c in candidates {
            for u in self.containing_all(c.lon, c.lat) {
                let better = match best[u] {
                    None => true,
                    Some(b) => (c.rank, c.population) > (b.rank, b.population),
                };
                if better {
                    best[u] = Some(c);
                }
            }
        }
        for (u, b) in self.units.iter_mut().zip(best) {
            if let (Some(c), false) = (b, u.seat_fixed) {
                u.seat = Seat {
                    lon: c.lon,
                    lat: c.lat,
                    source: c.source.clone(),
                };
            }
        }
    }

    /// Indices of units whose boxes meet a box.
    pub fn candidates(&self, b: &BBox) -> Vec<usize> {
        let env = AABB::from_corners([b.min_lon, b.min_lat], [b.max_lon, b.max_lat]);
        let mut v: Vec<usize> = self
            .tree
            .locate_in_envelope_intersecting(&env)
            .map(|u| u.idx)
            .collect();
        v.sort_unstable();
        v
    }

    /// All units containing a point (units of one level normally do not overlap).
    pub fn containing_all(&self, lon: f64, lat: f64) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .tree
            .locate_in_envelope_intersecting(&AABB::from_point([lon, lat]))
            .map(|u| u.idx)
            .filter(|&i| self.index[i].contains(lon, lat))
            .collect();
        v.sort_unstable();
        v
    }

    /// The unit containing a point (the first by index if several).
    pub fn containing(&self, lon: f64, lat: f64) -> Option<usize> {
        self.containing_all(lon, lat).first().copied()
    }

    /// A unit's prepared polygon.
    pub fn prepared(&self, u: usize) -> &PolyIndex {
        &self.index[u]
    }

    /// Whether two units share a border (or overlap).
    pub fn adjacent(&self, a: usize, b: usize) -> bool {
        let (ua, ub) = (&self.units[a], &self.units[b]);
        let pad = 1e-6;
        let grown = BBox {
            min_lon: ua.bbox.min_lon - pad,
            min_lat: ua.bbox.min_lat - pad,
            max_lon: ua.bbox.max_lon + pad,
            max_lat: ua.bbox.max_lat + pad,
        };
        grown.intersects(&ub.bbox) && ua.polygon.intersects(&ub.polygon)
    }

    pub fn len(&self) -> usize {
        self.units.len()
    }

    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// Index of the unit with a code (exact) or, failing that, a name.
    pub fn find(&self, code_or_name: &str) -> Option<usize> {
        self.units
            .iter()
            .position(|u| u.code == code_or_name)
            .or_else(|| self.units.iter().position(|u| u.name == code_or_name))
    }
}

fn make_unit(
    name: String,
    code: String,
    parent: Option<String>,
    polygon: MultiPolygon<f64>,
    seat: Seat,
    seat_fixed: bool,
) -> Unit {
    let r = polygon.bounding_rect();
    let bbox = r
        .map(|r| BBox {
            min_lon: r.min().x,
            min_lat: r.min().y,
            max_lon: r.max().x,
            max_lat: r.max().y,
        })
        .unwrap_or(BBox::EMPTY);
    Unit {
        name,
        code,
        parent,
        area_km2: multipolygon_km2(&polygon),
        polygon,
        bbox,
        seat,
        seat_fixed,
    }
}

fn interior_seat(mp: &MultiPolygon<f64>) -> Seat {
    // The largest part's interior point: inside the unit even when its centroid is not.
    let largest =
        mp.0.iter()
            .max_by(|a, b| geo::Area::unsigned_area(*a).total_cmp(&geo::Area::unsigned_area(*b)));
    let p = largest
        .and_then(|p| p.interior_point())
        .map(|p| (p.x(), p.y()))
        .unwrap_or((0.0, 0.0));
    Seat {
        lon: p.0,
        lat: p.1,
        source: "interior point".into(),
    }
}

/// Returns the polygon if valid, repaired (with a note) if not, or `None` with the reason.
fn validated(mp: MultiPolygon<f64>) -> (Option<MultiPolygon<f64>>, String) {
    if mp.0.is_empty() {
        return (None, "empty geometry".into());
    }
    if mp.is_valid() {
        return (Some(mp), String::new());
    }
    let problem = mp
        .validation_errors()
        .first()
        .map(|e| e.to_string())
        .unwrap_or_else(|| "invalid".into());
    match mp.make_valid() {
        Ok(fixed) if !fixed.0.is_empty() && fixed.is_valid() => {
            let before = multipolygon_km2(&mp).abs();
            let after = multipolygon_km2(&fixed);
            (
                Some(fixed),
                format!("repaired ({problem}); area {before:.3} → {after:.3} km²"),
            )
        }
        _ => (
            None,
            format!("invalid polygon that could not be repaired ({problem})"),
        ),
    }
}

fn parse_ring(v: &Value, notes: &mut Vec<String>) -> Result<LineString<f64>, String> {
    let pts = v.as_array().ok_or("a ring is not an array")?;
    let mut coords: Vec<Coord<f64>> = Vec::with_capacity(pts.len() + 1);
    for p in pts {
        let a = p.as_array().ok_or("a position is not an array")?;
        let (x, y) = (
            a.first().and_then(Value::as_f64),
            a.get(1).and_then(Value::as_f64),
        );
        let (Some(x), Some(y)) = (x, y) else {
            return Err("a position is not two numbers".into());
        };
        if !(x.is_finite()
            && y.is_finite()
            && (-180.0..=180.0).contains(&x)
            && (-90.0..=90.0).contains(&y))
        {
            return Err(format!("position [{x}, {y}] is not WGS-84 lon/lat"));
        }
        coords.push(Coord { x, y });
    }
    if coords.len() >= 3 && coords.first() != coords.last() {
        coords.push(coords[0]);
        notes.push("unclosed ring closed".into());
    }
    if coords.len() < 4 {
        return Err(format!("a ring has only {} positions", coords.len()));
    }
    Ok(LineString(coords))
}

/// Parses a Polygon / MultiPolygon (or closed MultiLineString) geometry, noting repairs.
fn parse_geometry(g: &Value) -> Result<(MultiPolygon<f64>, Vec<String>), String> {
    let mut notes = Vec::new();
    let kind = g.get("type").and_then(Value::as_str).unwrap_or("");
    let coords = g.get("coordinates").ok_or("geometry has no coordinates")?;
    let polygon_of = |rings: &Value, notes: &mut Vec<String>| -> Result<Polygon<f64>, String> {
        let rings = rings.as_array().ok_or("polygon rings are not an array")?;
        let mut ls = rings
            .iter()
            .map(|r| parse_ring(r, notes))
            .collect::<Result<Vec<_>, _>>()?;
        if ls.is_empty() {
            return Err("a polygon has no rings".into());
        }
        let ext = oriented(&ls.remove(0), true);
        Ok(Polygon::new(
            ext,
            ls.iter().map(|h| oriented(h, false)).collect(),
        ))
    };
    let mp = match kind {
        "Polygon" => MultiPolygon(vec![polygon_of(coords, &mut notes)?]),
        "MultiPolygon" => MultiPolygon(
            coords
                .as_array()
                .ok_or("coordinates are not an array")?
                .iter()
                .map(|p| polygon_of(p, &mut notes))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        "LineString" | "MultiLineString" => {
            let lines: Vec<&Value> = if kind == "LineString" {
                vec![coords]
            } else {
                coords
                    .as_array()
                    .ok_or("coordinates are not an array")?
                    .iter()
                    .collect()
            };
            let mut rings = Vec::new();
            for l in lines {
                let pts = l.as_array().ok_or("a line is not an array")?;
                if pts.first() != pts.last() {
                    return Err(format!(
                        "a {kind} whose lines are not closed rings cannot be read as an area"
                    ));
                }
                rings.push(parse_ring(l, &mut notes)?);
            }
            notes.push(format!("{kind} of closed rings read as polygon rings"));
            nest(rings)
        }
        other => return Err(format!("geometry type '{other}' is not an area")),
    };
    Ok((mp, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("mr-units-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn geojson_units_are_checked_repaired_and_explained() {
        let fc = r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","properties":{"name":"A","gb":"1"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]]]}},
          {"type":"Feature","properties":{"name":"Unclosed","gb":"2"},"geometry":{"type":"Polygon","coordinates":[[[1,0],[2,0],[2,1],[1,1]]]}},
          {"type":"Feature","properties":{"name":"Bowtie","gb":"3"},"geometry":{"type":"Polygon","coordinates":[[[3,0],[4,1],[4,0],[3,1],[3,0]]]}},
          {"type":"Feature","properties":{"name":"Line","gb":"4"},"geometry":{"type":"LineString","coordinates":[[5,0],[6,1]]}},
          {"type":"Feature","properties":{"name":"Nothing","gb":"5"},"geometry":null}
        ]}"#;
        let p = write("units.geojson", fc);
        let u = Units::from_geojson(&p, "name", "gb", None).unwrap();
        assert_eq!(u.len(), 3);
        assert!(
            u.repairs
                .iter()
                .any(|r| r.contains("Unclosed") && r.contains("unclosed ring closed")),
            "{:?}",
            u.repairs
        );
        assert!(
            u.repairs
                .iter()
                .any(|r| r.contains("Bowtie") && r.contains("repaired")),
            "{:?}",
            u.repairs
        );
        assert!(
            u.rejected.iter().any(|r| r.contains("Line")),
            "{:?}",
            u.rejected
        );
        assert!(u.rejected.iter().any(|r| r.contains("Nothing")));
        assert!(u.units.iter().all(|x| x.polygon.is_valid()));
        assert_eq!(u.containing(0.5, 0.5), Some(0));
        assert!(u.adjacent(0, 1));
        assert!(!u.adjacent(0, 2));
        let e = Units::from_geojson(&p, "NAME", "gb", None)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("'NAME'") && e.contains("name, gb"), "{e}");
        let empty = write(
            "empty.geojson",
            r#"{"type":"FeatureCollection","features":[]}"#,
        );
        assert!(Units::from_geojson(&empty, "name", "gb", None)
            .err()
            .unwrap()
            .to_string()
            .contains("no features"));
    }
}
