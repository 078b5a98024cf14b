//! Inner pieces, measured with criterion: the bounded search, the polygon stage, and the overlay
//! of circles on China's 2,891 county-level units. Real data from `../shared/data`
//! (`METROREACH_DATA`). Run with `cargo bench --bench engine`.

use criterion::{criterion_group, criterion_main, Criterion};
use metroreach::analysis::overlay::coverage;
use metroreach::analysis::units::Units;
use metroreach::graph::RoadGraph;
use metroreach::isochrone::search::SearchScratch;
use metroreach::isochrone::{CircleParams, CitySpec, Direction, Engine};
use metroreach::osm::{import_pbf, ImportOptions, Profile};
use metroreach::progress::Progress;
use std::path::PathBuf;

fn data(rel: &str) -> PathBuf {
    std::env::var_os("METROREACH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
        .join(rel)
}

fn graph(name: &str, profile: &str) -> RoadGraph {
    let opts = ImportOptions {
        profile: Profile::resolve(profile).unwrap(),
        ..Default::default()
    };
    import_pbf(&data(&format!("osm/{name}")), &opts, &Progress::hidden()).expect("import")
}

fn city(lon: f64, lat: f64) -> CitySpec {
    CitySpec::at("o", "bench", lon, lat)
}

fn bench(c: &mut Criterion) {
    let yuba = graph("yuba-county-2024-06-05.osm.pbf", "car");
    let porto = graph("porto-2015-roads.osm.pbf", "car");
    for (name, g, lon, lat, minutes) in [
        ("yuba-60", &yuba, -121.5914, 39.1457, 60.0),
        ("porto-20", &porto, -8.6110, 41.1496, 20.0),
    ] {
        let engine = Engine::new(g);
        let p = CircleParams {
            minutes: vec![minutes],
            ..Default::default()
        };
        let mut scratch = SearchScratch::new(g.num_nodes());
        let circle = engine.circle(&city(lon, lat), &p, &mut scratch).unwrap();
        let snaps: Vec<_> = circle.origins.iter().map(|o| (o.snap, 0)).collect();
        let sources = engine.sources(&snaps, Direction::Depart);
        c.bench_function(&format!("search/{name}"), |b| {
            b.iter(|| engine.search(&sources, Direction::Depart, p.limit_ms(), &mut scratch))
        });
        c.bench_function(&format!("circle/{name}"), |b| {
            b.iter(|| engine.circle(&city(lon, lat), &p, &mut scratch).unwrap())
        });
    }
    // Overlay: circles of the coarse China network against every county.
    let china = graph("china-highways-coarse.osm.pbf", "car");
    let engine = Engine::new(&china);
    let p = CircleParams {
        minutes: vec![60.0],
        max_snap_m: 20_000.0,
        cell_m: 500.0,
        offroad_m: 5000.0,
        offroad_kmh: 30.0,
        ..Default::default()
    };
    let mut scratch = SearchScratch::new(china.num_nodes());
    let circles: Vec<_> = [
        (121.4737, 31.2304),
        (118.7969, 32.0603),
        (113.2644, 23.1291),
        (104.0665, 30.5728),
    ]
    .iter()
    .map(|&(lon, lat)| engine.circle(&city(lon, lat), &p, &mut scratch).unwrap())
    .collect();
    let units = Units::from_geojson(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/china/county.geojson"),
        "name",
        "gb",
        None,
    )
    .unwrap();
    c.bench_function("overlay/4-circles-x-2891-counties", |b| {
        b.iter(|| {
            circles
                .iter()
                .map(|c| coverage(&c.bands[0].polygon, &units).len())
                .sum::<usize>()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
