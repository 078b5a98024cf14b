//! Times loading a graph and building the snap index: `cargo run --release --example time_load -- GRAPH`.
fn main() {
    let p = std::env::args().nth(1).expect("GRAPH");
    let t = std::time::Instant::now();
    let g = metroreach::graph::store::load(std::path::Path::new(&p)).expect("load");
    let load = t.elapsed();
    let t = std::time::Instant::now();
    let e = metroreach::isochrone::Engine::new(&g);
    let snap = t.elapsed();
    let towns: Vec<_> = g
        .places
        .iter()
        .filter(|p| p.kind == "town")
        .take(3)
        .map(|p| (p.label(), p.coord.lon(), p.coord.lat()))
        .collect();
    println!(
        "load {load:?}, snap index {snap:?} ({} roads); towns {towns:?}",
        e.snap_index().len()
    );
}
