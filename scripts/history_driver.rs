//! Before/after driver for `scripts/bench_history.sh`: copied into a worktree of an older commit
//! as `examples/history_driver.rs`, it uses only the API every measured commit has.
//! usage: history_driver GRAPH LON LAT MINUTES REPEATS
use metroreach::graph::store;
use metroreach::isochrone::search::SearchScratch;
use metroreach::isochrone::{CircleParams, CitySpec, Direction, Engine, OriginSpec};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (lon, lat, minutes): (f64, f64, f64) = (a[2].parse().unwrap(), a[3].parse().unwrap(), a[4].parse().unwrap());
    let repeats: usize = a[5].parse().unwrap();
    let t = Instant::now();
    let g = store::load(std::path::Path::new(&a[1])).expect("graph");
    let load_ms = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    let engine = Engine::new(&g);
    let index_ms = t.elapsed().as_secs_f64() * 1000.0;
    let city = CitySpec { name: "o".into(), id: None, source: "h".into(), population: None, origins: vec![OriginSpec { label: "o".into(), lon, lat }] };
    let p = CircleParams { minutes: vec![minutes], ..Default::default() };
    let mut scratch = SearchScratch::new(g.num_nodes());
    // On a worker of rayon's pool, where `metroreach circles` runs its cities (a circle may
    // share out work to the other worker); commits before that simply run there.
    let (first, total) = rayon::scope(|_| {
        let first = engine.circle(&city, &p, &mut scratch).expect("circle");
        let mut total = Vec::new();
        for _ in 0..repeats {
            let t = Instant::now();
            engine.circle(&city, &p, &mut scratch).expect("circle");
            total.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        (first, total)
    });
    let snaps: Vec<_> = first.origins.iter().map(|o| (o.snap, 0u32)).collect();
    let sources = engine.sources(&snaps, Direction::Depart);
    let mut search = Vec::new();
    for _ in 0..repeats {
        let t = Instant::now();
        engine.search(&sources, Direction::Depart, (minutes * 60_000.0) as u32, &mut scratch);
        search.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "{{\"load_ms\": {load_ms}, \"snap_index_ms\": {index_ms}, \"circle_ms\": {}, \"search_ms\": {}, \"area_km2\": {}}}",
        median(total),
        median(search),
        first.bands[0].area_km2
    );
}
