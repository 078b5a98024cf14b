//! Shared helpers for the real-data tests: where the shared extracts live, cached imports.
#![allow(dead_code)]

use metroreach::graph::RoadGraph;
use metroreach::osm::{import_pbf, ImportOptions, Profile};
use metroreach::progress::Progress;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

/// A city with one origin point (`CitySpec::at`, source "test").
pub fn city(label: &str, lon: f64, lat: f64) -> metroreach::isochrone::CitySpec {
    metroreach::isochrone::CitySpec::at(label, "test", lon, lat)
}

/// The shared data directory: `$METROREACH_DATA`, else `../shared/data` beside the repository.
/// Tests fail (never skip) when it is missing, so CI cannot pass without the real data.
pub fn data_dir() -> PathBuf {
    let dir = std::env::var_os("METROREACH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    assert!(
        dir.join("osm").is_dir(),
        "real test data not found at {}: set METROREACH_DATA to the shared data directory",
        dir.display()
    );
    dir
}

pub fn osm(name: &str) -> PathBuf {
    let p = data_dir().join("osm").join(name);
    assert!(p.is_file(), "missing shared extract {}", p.display());
    p
}

pub const MALTA: &str = "malta-2018-08-27.osm.pbf";
pub const YUBA: &str = "yuba-county-2024-06-05.osm.pbf";
pub const PORTO: &str = "porto-2015-roads.osm.pbf";
pub const YIZHUANG: &str = "beijing-yizhuang-2021-12-27.osm.pbf";
pub const HELSINKI: &str = "helsinki-2019.osm.pbf";
pub const ANDORRA: &str = "andorra-2021-10-28.osm.pbf";
pub const CHINA: &str = "china-highways-coarse.osm.pbf";

/// Imports an extract with a built-in profile once per test binary.
pub fn graph(name: &str, profile: &str) -> Arc<RoadGraph> {
    type Cache = Mutex<HashMap<(String, String), Arc<RoadGraph>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (name.to_string(), profile.to_string());
    if let Some(g) = cache.lock().unwrap().get(&key) {
        return g.clone();
    }
    let opts = ImportOptions {
        profile: Profile::resolve(profile).unwrap(),
        ..Default::default()
    };
    let g = Arc::new(import_pbf(&osm(name), &opts, &Progress::hidden()).unwrap());
    cache.lock().unwrap().insert(key, g.clone());
    g
}

/// A scratch directory unique to this test process and `tag`.
pub fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("metroreach-test-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
