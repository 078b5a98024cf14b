//! The outputs of `circles`: band polygons, reached edges, travel-time grids.

use super::geojson::{
    collection, feature, linestring, multipolygon, round, Feature, FeatureCollection,
};
use crate::fsio::{write_atomic, AtomicFile, WriteError};
use crate::graph::GraphMeta;
use crate::isochrone::{CircleParams, CommuteCircle};
use serde_json::{json, Map, Value};
use std::path::Path;

/// What produced an output: recorded in every file so that a result can be reproduced.
#[derive(Clone, Debug)]
pub struct RunInfo {
    pub command: String,
    /// Source extract and profile of the graph.
    pub graph: GraphMeta,
    pub graph_file: String,
    /// Every parameter of the run (the command's own options).
    pub parameters: Value,
    /// Cities that failed, with the reason.
    pub failed: Vec<(String, String)>,
    /// Free-form notes (e.g. "coarse network: major roads only").
    pub notes: Vec<String>,
    /// The graph's profile as JSON, parsed from its TOML on first use (`Default::default()`
    /// when constructing): every file of a run, and every circle of a server-like loop, records
    /// the same profile without parsing it again.
    pub profile_json: std::sync::OnceLock<Value>,
}

impl RunInfo {
    pub fn to_json(&self) -> Value {
        let profile = self.profile_json.get_or_init(|| {
            toml::from_str::<toml::Value>(&self.graph.profile_toml)
                .ok()
                .and_then(|v| serde_json::to_value(v).ok())
                .unwrap_or(Value::Null)
        });
        json!({
            "tool": "metroreach",
            "version": env!("CARGO_PKG_VERSION"),
            "command": self.command,
            "graph": {
                "file": self.graph_file,
                "source": self.graph.source.file_name,
                "source_crc32": format!("{:08x}", self.graph.source.crc32),
                "osm_timestamp": self.graph.source.replication_timestamp.map(super::format_rfc3339),
                "profile_name": self.graph.profile_name,
                "profile": profile,
                "min_component_nodes": self.graph.import.min_component_nodes,
                "border_margin_m": self.graph.import.border_margin_m,
            },
            "parameters": self.parameters,
            "failed": self.failed.iter().map(|(c, e)| json!({"city": c, "error": e})).collect::<Vec<_>>(),
            "notes": self.notes,
            "attribution": "Road data © OpenStreetMap contributors, ODbL 1.0",
        })
    }
}

/// The circle parameters as recorded in outputs.
pub fn params_json(p: &CircleParams) -> Value {
    serde_json::to_value(p).unwrap_or(Value::Null)
}

/// Properties shared by every band feature of one circle.
fn city_properties(c: &CommuteCircle, p: &CircleParams, profile: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("city".into(), json!(c.city.name));
    m.insert("city_id".into(), json!(c.city.id));
    m.insert("city_source".into(), json!(c.city.source));
    m.insert("population".into(), json!(c.city.population));
    m.insert(
        "origins".into(),
        Value::Array(
            c.origins
                .iter()
                .map(|o| {
                    json!({
                        "label": o.spec.label,
                        "lon": round(o.spec.lon, 6),
                        "lat": round(o.spec.lat, 6),
                        "snapped_lon": round(o.snap.point.lon(), 6),
                        "snapped_lat": round(o.snap.point.lat(), 6),
                        "snap_m": round(o.snap.distance_m, 1),
                    })
                })
                .collect(),
        ),
    );
    let max_snap = c
        .origins
        .iter()
        .map(|o| o.snap.distance_m)
        .fold(0.0, f64::max);
    m.insert("snap_distance_m".into(), json!(round(max_snap, 1)));
    m.insert("direction".into(), json!(p.direction.as_str()));
    m.insert("profile".into(), json!(profile));
    m.insert("cell_m".into(), json!(p.cell_m));
    m.insert("offroad_m".into(), json!(p.offroad_m));
    m.insert("offroad_kmh".into(), json!(p.offroad_kmh));
    m.insert("simplify_m".into(), json!(p.simplify_m));
    m.insert("reference_kmh".into(), json!(p.reference_kmh));
    m
}

/// The circles as a FeatureCollection: one feature per city and band, largest band first (so
/// smaller bands draw on top).
pub fn circles_geojson(
    circles: &[CommuteCircle],
    p: &CircleParams,
    run: &RunInfo,
) -> FeatureCollection {
    let features = per_city(circles, |c| {
        let base = city_properties(c, p, &run.graph.profile_name);
        c.bands
            .iter()
            .rev()
            .map(|b| {
                let mut m = base.clone();
                m.insert("minutes".into(), json!(b.minutes));
                m.insert("area_km2".into(), json!(round(b.area_km2, 3)));
                m.insert(
                    "equivalent_radius_km".into(),
                    json!(round(b.equivalent_radius_km, 3)),
                );
                m.insert("reach_factor".into(), json!(round(b.reach_factor, 4)));
                m.insert("reached_road_km".into(), json!(round(b.reached_road_km, 3)));
                m.insert("reached_nodes".into(), json!(b.reached_nodes));
                m.insert("truncated".into(), json!(b.truncated));
                feature(m, multipolygon(&b.polygon))
            })
            .collect()
    });
    collection(features, run.to_json())
}

/// Each circle's features, built on all cores (the geometry text is most of the work) and
/// concatenated in input order.
fn per_city(
    circles: &[CommuteCircle],
    features: impl Fn(&CommuteCircle) -> Vec<Feature> + Sync,
) -> Vec<Feature> {
    use rayon::prelude::*;
    let parts: Vec<Vec<Feature>> = circles.par_iter().map(&features).collect();
    parts.into_iter().flatten().collect()
}

/// Reached road stretches as LineStrings (one per directed edge, cut where time runs out).
pub fn edges_geojson(
    circles: &[CommuteCircle],
    p: &CircleParams,
    run: &RunInfo,
) -> FeatureCollection {
    let features = per_city(circles, |c| {
        c.edges
            .iter()
            .flatten()
            .map(|e| {
                let mut m = Map::new();
                m.insert("city".into(), json!(c.city.name));
                m.insert("direction".into(), json!(p.direction.as_str()));
                m.insert("way_id".into(), json!(e.way_id));
                m.insert("class".into(), json!(e.class));
                m.insert("from_min".into(), json!(round(e.t_from_s / 60.0, 3)));
                m.insert("to_min".into(), json!(round(e.t_to_s / 60.0, 3)));
                m.insert("full".into(), json!(e.full));
                feature(m, linestring(&e.coords))
            })
            .collect()
    });
    collection(features, run.to_json())
}

/// Writes a collection atomically, streaming its text ([`super::geojson::write_to`]).
pub fn write_json(path: &Path, v: &FeatureCollection) -> Result<(), WriteError> {
    let mut f = AtomicFile::create(path)?;
    super::geojson::write_to(f.writer(), v).map_err(|source| WriteError {
        path: path.to_path_buf(),
        source,
    })?;
    f.commit()
}

/// File-system-safe version of a city name for per-city files.
pub fn file_stem(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "city".into()
    } else {
        s
    }
}

/// Writes each circle's travel-time grid as an ESRI ASCII grid (minutes, in the circle's local
/// equirectangular projection) with a `.prj` beside it, into `dir`.
pub fn write_grids(
    dir: &Path,
    circles: &[CommuteCircle],
    p: &CircleParams,
) -> Result<Vec<String>, WriteError> {
    std::fs::create_dir_all(dir).map_err(|source| WriteError {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    let cap = (p.max_minutes() * 60.0) as f32;
    let mut used: std::collections::HashSet<String> = std::collections::HashSet::new();
    for c in circles {
        let Some((grid, proj)) = &c.grid else {
            continue;
        };
        let mut s = String::new();
        use std::fmt::Write;
        let _ = writeln!(s, "ncols {}", grid.nx);
        let _ = writeln!(s, "nrows {}", grid.ny);
        let _ = writeln!(s, "xllcorner {}", grid.x0 - grid.cell / 2.0);
        let _ = writeln!(s, "yllcorner {}", grid.y0 - grid.cell / 2.0);
        let _ = writeln!(s, "cellsize {}", grid.cell);
        let _ = writeln!(s, "NODATA_value -9999");
        for j in (0..grid.ny).rev() {
            let row: Vec<String> = (0..grid.nx)
                .map(|i| {
                    let v = grid.at(i, j);
                    if v.is_finite() && v <= cap {
                        format!("{:.2}", v / 60.0)
                    } else {
                        "-9999".into()
                    }
                })
                .collect();
            s.push_str(&row.join(" "));
            s.push('\n');
        }
        // Distinct names can map to one file name (e.g. "A/B" and "A_B"): number the repeats.
        let mut stem = file_stem(&c.city.name);
        let base = stem.clone();
        let mut k = 2;
        while !used.insert(stem.clone()) {
            stem = format!("{base}-{k}");
            k += 1;
        }
        let asc = dir.join(format!("{stem}.asc"));
        write_atomic(&asc, s.as_bytes())?;
        let prj = format!(
            "PROJCS[\"metroreach local equirectangular\",GEOGCS[\"sphere\",DATUM[\"sphere\",SPHEROID[\"sphere\",6371008.8,0]],PRIMEM[\"Greenwich\",0],UNIT[\"degree\",0.0174532925199433]],PROJECTION[\"Equirectangular\"],PARAMETER[\"standard_parallel_1\",{}],PARAMETER[\"central_meridian\",{}],PARAMETER[\"latitude_of_origin\",{}],PARAMETER[\"false_easting\",0],PARAMETER[\"false_northing\",0],UNIT[\"metre\",1]]",
            proj.lat0, proj.lon0, proj.lat0
        );
        write_atomic(&dir.join(format!("{stem}.prj")), prj.as_bytes())?;
        written.push(asc.display().to_string());
    }
    Ok(written)
}
