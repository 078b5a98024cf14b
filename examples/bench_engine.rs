//! Engine benchmarks for `scripts/bench.sh`, printed as one JSON object.
//!
//! ```text
//! cargo run --release --example bench_engine -- GRAPH LON LAT MINUTES [REPEATS] [--batch] [--towns-csv FILE]
//! ```
//! - one circle from (LON, LAT): first call (cold scratch) and the median/min/max of REPEATS warm
//!   calls, search and polygon timed apart;
//! - the same warm calls followed by writing the circle as GeoJSON text, the way `metroreach
//!   circles` writes it (Valhalla's `isochrone()` returns GeoJSON text, so this is the like-for-like
//!   figure to set against it);
//! - the search alone: settled nodes per second, and the time of one sequential pass over the same
//!   nodes' edge arrays (the memory-bandwidth floor a one-to-all search could approach);
//! - with --batch: circles for every town/city place node, on 1 and 2 threads (cities/s).
use metroreach::graph::store;
use metroreach::isochrone::search::SearchScratch;
use metroreach::isochrone::{CircleParams, CitySpec, Direction, Engine};
use metroreach::output::circles::{circles_geojson, RunInfo};
use metroreach::output::geojson;
use rayon::prelude::*;
use std::time::Instant;

fn city(name: &str, lon: f64, lat: f64) -> CitySpec {
    CitySpec::at(name, "bench", lon, lat)
}

fn stats(mut v: Vec<f64>) -> serde_json::Value {
    v.sort_by(f64::total_cmp);
    let median = v[v.len() / 2];
    serde_json::json!({"median_ms": median, "min_ms": v[0], "max_ms": v[v.len() - 1], "runs": v.len()})
}

fn main() {
    // The allocator as the `metroreach` command sets it (src/alloc.rs).
    metroreach::alloc::keep_freed_memory();
    let a: Vec<String> = std::env::args().collect();
    let path = std::path::Path::new(&a[1]);
    let (lon, lat, minutes): (f64, f64, f64) = (
        a[2].parse().unwrap(),
        a[3].parse().unwrap(),
        a[4].parse().unwrap(),
    );
    let repeats: usize = a.get(5).and_then(|x| x.parse().ok()).unwrap_or(20);
    let batch = a.iter().any(|x| x == "--batch");
    let towns_csv = a
        .iter()
        .position(|x| x == "--towns-csv")
        .and_then(|i| a.get(i + 1))
        .cloned();

    let t = Instant::now();
    let g = store::load(path).expect("graph");
    let load_ms = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    let engine = Engine::new(&g);
    let index_ms = t.elapsed().as_secs_f64() * 1000.0;
    let p = CircleParams {
        minutes: vec![minutes],
        ..Default::default()
    };
    let c = city("origin", lon, lat);

    let mut scratch = SearchScratch::new(g.num_nodes());
    // The circles are timed on a worker of rayon's pool, where `metroreach circles` runs its
    // cities: a circle's sampling, stamping and contouring share out halves to the other worker.
    let in_pool = |f: &mut (dyn FnMut() + Send)| rayon::scope(|_| f());
    let mut first = None;
    let mut first_total = 0.0;
    in_pool(&mut || {
        let t = Instant::now();
        first = Some(engine.circle(&c, &p, &mut scratch).expect("circle"));
        first_total = t.elapsed().as_secs_f64() * 1000.0;
    });
    let first = first.expect("first circle");
    let (mut total, mut search, mut polygon) = (Vec::new(), Vec::new(), Vec::new());
    in_pool(&mut || {
        for _ in 0..repeats {
            let t = Instant::now();
            let r = engine.circle(&c, &p, &mut scratch).expect("circle");
            total.push(t.elapsed().as_secs_f64() * 1000.0);
            search.push(r.search_ms);
            polygon.push(r.polygon_ms);
        }
    });
    // The same on a pool of one thread: what one core does alone (a batch of cities runs so).
    let mut total_one_thread = Vec::new();
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| {
            for _ in 0..repeats {
                let t = Instant::now();
                engine.circle(&c, &p, &mut scratch).expect("circle");
                total_one_thread.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        });

    // Circle, then its GeoJSON text (as `metroreach circles` writes it).
    let run = RunInfo {
        command: "circles".into(),
        graph: g.meta.clone(),
        graph_file: path.display().to_string(),
        parameters: serde_json::Value::Null,
        failed: Vec::new(),
        notes: Vec::new(),
        profile_json: Default::default(),
    };
    let (mut with_text, mut text_bytes) = (Vec::new(), 0);
    in_pool(&mut || {
        for _ in 0..repeats {
            let t = Instant::now();
            let r = engine.circle(&c, &p, &mut scratch).expect("circle");
            let text = geojson::to_string(&circles_geojson(&[r], &p, &run));
            with_text.push(t.elapsed().as_secs_f64() * 1000.0);
            text_bytes = text.len();
        }
    });

    // The search alone and its floor.
    let snaps: Vec<_> = first.origins.iter().map(|o| (o.snap, 0u32)).collect();
    let sources = engine.sources(&snaps, Direction::Depart);
    let limit = p.limit_ms();
    let mut search_only = Vec::new();
    for _ in 0..repeats.max(5) {
        let t = Instant::now();
        engine.search(&sources, Direction::Depart, limit, &mut scratch);
        search_only.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let settled = scratch.settled.clone();
    let edges_scanned: usize = settled.iter().map(|&v| g.out_range(v).len()).sum();
    // Sequential pass over the same nodes (in node order) and their edges: read every edge's
    // head and time and the head's distance slot once, as the search must.
    let mut sorted = settled.clone();
    sorted.sort_unstable();
    let mut dist = vec![u32::MAX; g.num_nodes()];
    let mut floor = Vec::new();
    for _ in 0..repeats.max(5) {
        let t = Instant::now();
        let mut acc = 0u64;
        for &v in &sorted {
            for e in g.out_edges(v) {
                let d = &mut dist[e.head as usize];
                *d = (*d).min(e.time_ms);
                acc = acc.wrapping_add(e.time_ms as u64);
            }
        }
        std::hint::black_box(acc);
        floor.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let search_med = {
        let mut v = search_only.clone();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let floor_med = {
        let mut v = floor.clone();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };

    let mut out = serde_json::json!({
        "graph": path.display().to_string(),
        "nodes": g.num_nodes(),
        "edges": g.num_edges(),
        "load_ms": load_ms,
        "snap_index_ms": index_ms,
        "origin": [lon, lat],
        "minutes": minutes,
        "area_km2": first.bands[0].area_km2,
        "settled_nodes": settled.len(),
        "edges_scanned": edges_scanned,
        "first_call_ms": first_total,
        "circle_total": stats(total),
        "circle_total_one_thread": stats(total_one_thread),
        "circle_search": stats(search),
        "circle_polygon": stats(polygon),
        "circle_with_geojson": stats(with_text),
        "geojson_bytes": text_bytes,
        "search_only": stats(search_only),
        "sequential_floor": stats(floor),
        "settled_per_second": settled.len() as f64 / (search_med / 1000.0),
        "search_over_floor": search_med / floor_med,
    });

    if batch {
        let towns: Vec<CitySpec> = g
            .places
            .iter()
            .filter(|pl| pl.kind == "town" || pl.kind == "city")
            .map(|pl| city(&pl.label(), pl.coord.lon(), pl.coord.lat()))
            .collect();
        let mut runs = serde_json::Map::new();
        for threads in [1usize, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let t = Instant::now();
            let ok = pool.install(|| {
                towns
                    .par_iter()
                    .map_init(
                        || SearchScratch::new(g.num_nodes()),
                        |s, c| engine.circle(c, &p, s).is_ok(),
                    )
                    .filter(|x| *x)
                    .count()
            });
            let secs = t.elapsed().as_secs_f64();
            runs.insert(
                format!("threads_{threads}"),
                serde_json::json!({"cities": towns.len(), "ok": ok, "seconds": secs, "cities_per_second": towns.len() as f64 / secs}),
            );
        }
        out["batch"] = serde_json::Value::Object(runs);
    }
    if let Some(path) = towns_csv {
        let mut csv = String::from("name,lon,lat\n");
        for pl in g
            .places
            .iter()
            .filter(|pl| pl.kind == "town" || pl.kind == "city")
        {
            csv.push_str(&format!(
                "\"{}\",{:.7},{:.7}\n",
                pl.label().replace('"', "'"),
                pl.coord.lon(),
                pl.coord.lat()
            ));
        }
        std::fs::write(&path, csv).expect("write towns csv");
    }
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
