//! Runs one circle many times, for profilers: `cargo run --release --example profile_circle --
//! GRAPH LON LAT MINUTES[,MINUTES...] [N]`.
use metroreach::graph::store;
use metroreach::isochrone::search::SearchScratch;
use metroreach::isochrone::{CircleParams, CitySpec, Engine, OriginSpec};

fn main() {
    // The allocator as the `metroreach` command sets it (src/alloc.rs).
    metroreach::alloc::keep_freed_memory();
    let a: Vec<String> = std::env::args().collect();
    let g = store::load(std::path::Path::new(&a[1])).expect("graph");
    let (lon, lat): (f64, f64) = (a[2].parse().unwrap(), a[3].parse().unwrap());
    // One band or several, comma-separated ("30,45,60").
    let minutes: Vec<f64> = a[4].split(',').map(|m| m.parse().unwrap()).collect();
    let n: usize = a.get(5).map(|x| x.parse().unwrap()).unwrap_or(50);
    let engine = Engine::new(&g);
    let city = CitySpec {
        name: "x".into(),
        id: None,
        source: "x".into(),
        population: None,
        origins: vec![OriginSpec {
            label: "x".into(),
            lon,
            lat,
        }],
    };
    let p = CircleParams {
        minutes,
        ..Default::default()
    };
    let mut s = SearchScratch::new(g.num_nodes());
    let t = std::time::Instant::now();
    let mut area = 0.0;
    // On a worker of rayon's pool, as the command runs its cities, so that the circle's own
    // parallel parts find the other worker awake.
    rayon::scope(|_| {
        for _ in 0..n {
            let c = engine.circle(&city, &p, &mut s).unwrap();
            area += c.bands[0].area_km2;
        }
    });
    eprintln!(
        "{:.2} ms per circle (area {:.1})",
        t.elapsed().as_secs_f64() * 1000.0 / n as f64,
        area / n as f64
    );
}
