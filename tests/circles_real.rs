//! Isochrone engine and commute circles on the real shared extracts.

mod common;

use common::*;
use geo::{Area, BooleanOps, Validation, Winding};
use metroreach::geom::polyindex::PolyIndex;
use metroreach::geom::projection::LocalProjection;
use metroreach::graph::{node_flags, RoadGraph};
use metroreach::isochrone::search::{SearchScratch, Source, INF};
use metroreach::isochrone::{CircleParams, CitySpec, Direction, Engine, Extras};
use petgraph::visit::Reversed;
use rstar::primitives::GeomWithData;
use rstar::RTree;

/// A tiny deterministic PRNG (xorshift), so that the random origins are the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn petgraph_of(g: &RoadGraph) -> petgraph::Graph<(), u64> {
    let mut pg = petgraph::Graph::<(), u64>::with_capacity(g.num_nodes() + 1, g.num_edges());
    for _ in 0..=g.num_nodes() {
        pg.add_node(());
    }
    for u in 0..g.num_nodes() {
        for e in g.out_range(u as u32) {
            pg.add_edge(
                (u as u32).into(),
                g.edges[e].head.into(),
                g.edges[e].time_ms as u64,
            );
        }
    }
    pg
}

/// For many random origins, every reached node's time equals petgraph's Dijkstra, forward and
/// reverse, with the same multi-source start (partial edge times from snapping).
#[test]
fn search_matches_petgraph_dijkstra_on_real_graphs() {
    for (name, origins) in [(YUBA, 12), (PORTO, 8), (MALTA, 12)] {
        let g = graph(name, "car");
        let engine = Engine::new(&g);
        let mut pg = petgraph_of(&g);
        let super_node = petgraph::graph::NodeIndex::new(g.num_nodes());
        let mut rng = Rng(0x9e3779b97f4a7c15 ^ name.len() as u64);
        let mut scratch = SearchScratch::new(g.num_nodes());
        let bbox = g.bbox();
        let mut checked = 0;
        while checked < origins {
            let lon = bbox.min_lon
                + (bbox.max_lon - bbox.min_lon) * (rng.below(10_000) as f64 / 10_000.0);
            let lat = bbox.min_lat
                + (bbox.max_lat - bbox.min_lat) * (rng.below(10_000) as f64 / 10_000.0);
            let Some(snap) = engine.snap_index().nearest(&g, lon, lat, 2_000.0) else {
                continue;
            };
            checked += 1;
            let limit = [20u32, 45, 60][checked % 3] * 60_000;
            for direction in [Direction::Depart, Direction::Arrive] {
                let sources = engine.sources(&[(snap, 0)], direction);
                engine.search(&sources, direction, limit, &mut scratch);
                // Reference: super node with an edge (time + 1) to each source.
                let extra: Vec<_> = sources
                    .iter()
                    .map(|s: &Source| {
                        pg.add_edge(super_node, (s.node).into(), s.time_ms as u64 + 1)
                    })
                    .collect();
                let reference = match direction {
                    Direction::Depart => {
                        petgraph::algo::dijkstra(&pg, super_node, None, |e| *e.weight())
                    }
                    Direction::Arrive => {
                        // Reverse search: super node edges must point into the sources of the
                        // reversed graph, i.e. be reversed themselves.
                        for e in extra.iter().rev() {
                            pg.remove_edge(*e);
                        }
                        let extra_rev: Vec<_> = sources
                            .iter()
                            .map(|s| pg.add_edge((s.node).into(), super_node, s.time_ms as u64 + 1))
                            .collect();
                        let r = petgraph::algo::dijkstra(Reversed(&pg), super_node, None, |e| {
                            use petgraph::visit::EdgeRef;
                            *e.weight()
                        });
                        for e in extra_rev.iter().rev() {
                            pg.remove_edge(*e);
                        }
                        r
                    }
                };
                if direction == Direction::Depart {
                    for e in extra.iter().rev() {
                        pg.remove_edge(*e);
                    }
                }
                let mut reached = 0;
                for v in 0..g.num_nodes() {
                    let expect = reference
                        .get(&petgraph::graph::NodeIndex::new(v))
                        .map(|d| d - 1)
                        .filter(|d| *d <= limit as u64);
                    let got = scratch.time(v as u32);
                    assert_eq!(
                        expect,
                        (got != INF).then_some(got as u64),
                        "{name} {direction:?} node {v}"
                    );
                    reached += usize::from(got != INF);
                }
                assert!(reached > 0);
            }
        }
    }
}

/// Reached road points with their times, from the engine's own reached-edge list.
fn reached_points(edges: &[metroreach::isochrone::ReachedEdge]) -> Vec<(f64, f64, f64)> {
    let mut pts = Vec::new();
    // Ferry lines cross water: they are travelled but never drawn.
    for e in edges.iter().filter(|e| e.class != "ferry") {
        // Times are linear along the stretch by length; approximate by vertex index share of
        // length, computed exactly below.
        let mut cum = vec![0.0];
        for w in e.coords.windows(2) {
            let d = metroreach::geom::haversine_m(w[0][0], w[0][1], w[1][0], w[1][1]);
            cum.push(cum.last().unwrap() + d);
        }
        let total = *cum.last().unwrap();
        for (c, d) in e.coords.iter().zip(&cum) {
            let f = if total > 0.0 { d / total } else { 0.0 };
            pts.push((c[0], c[1], e.t_from_s + f * (e.t_to_s - e.t_from_s)));
        }
    }
    pts
}

/// Checks one circle's polygons: valid, RFC 7946 winding, nested, containing every reached road
/// point of its band (within the cell tolerance), excluding road points not reached even with the
/// off-road allowance.
fn check_circle(name: &str, g: &RoadGraph, c: &CitySpec, p: &CircleParams) {
    let engine = Engine::new(g);
    let mut scratch = SearchScratch::new(g.num_nodes());
    let circle = engine
        .circle_with(
            c,
            p,
            &mut scratch,
            Extras {
                keep_edges: true,
                keep_stretches: true,
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    // Road km, summed while sampling for the largest band, equals the separate pass's sum.
    let snaps: Vec<_> = circle.origins.iter().map(|o| (o.snap, 0u32)).collect();
    let reverse = (p.direction == Direction::Arrive).then(|| engine.reverse());
    let limit = p.max_minutes() * 60.0;
    let stretches = metroreach::isochrone::reach::stretches(
        g,
        reverse,
        &snaps,
        p.direction,
        limit,
        &scratch,
        engine.snap_index().edge_of_road(),
    );
    // The circle reads roads as they come; `stretches` collects them: the same stretches. (The
    // edge-of-road table both use is checked against a scan in `snapping_matches_brute_force`.)
    let mut by_road = stretches.clone();
    metroreach::isochrone::reach::sort_by_road(&mut by_road);
    assert_eq!(circle.stretches.as_deref(), Some(&by_road[..]), "{name}");
    for band in &circle.bands {
        let km =
            metroreach::isochrone::reach::reached_road_km(g, &stretches, &[band.minutes * 60.0]);
        // The circle sums the same per-road lengths in two parts (halves of the settled nodes),
        // so the totals agree up to the rounding of the order of addition.
        assert!(
            (band.reached_road_km - km[0]).abs() <= 1e-12 * km[0].max(1.0),
            "{name} {} min: {} vs {}",
            band.minutes,
            band.reached_road_km,
            km[0]
        );
    }
    let edges = circle.edges.clone().unwrap();
    let pts = reached_points(&edges);
    assert!(!pts.is_empty());
    let proj = LocalProjection::new(c.origins[0].lon, c.origins[0].lat);
    let v_off = p.offroad_kmh / 3.6;
    // Reached points in metres, for "is this point reachable with the allowance" queries.
    let tree: RTree<GeomWithData<[f64; 2], f64>> = RTree::bulk_load(
        pts.iter()
            .map(|&(lon, lat, t)| {
                let (x, y) = proj.forward(lon, lat);
                GeomWithData::new([x, y], t)
            })
            .collect(),
    );
    // All road vertices of the graph: candidates for the exclusion check.
    let mut rng = Rng(0xdeadbeef);
    for (k, band) in circle.bands.iter().enumerate() {
        let mp = &band.polygon;
        assert!(
            mp.is_valid(),
            "{name} {} min: invalid polygon",
            band.minutes
        );
        for poly in &mp.0 {
            assert!(poly.exterior().is_ccw(), "{name}: exterior not CCW");
            assert!(
                poly.interiors().iter().all(|h| h.is_cw()),
                "{name}: hole not CW"
            );
        }
        if let Some(next) = circle.bands.get(k + 1) {
            // Nested up to the output precision (6 decimals ≈ 0.1 m): whatever of the smaller
            // band lies outside the larger is a sliver thinner than 0.2 m.
            let outside = mp.difference(&next.polygon);
            for q in &outside.0 {
                let metric = geo::Polygon::new(
                    q.exterior()
                        .0
                        .iter()
                        .map(|c| {
                            let (x, y) = proj.forward(c.x, c.y);
                            geo::Coord { x, y }
                        })
                        .collect(),
                    vec![],
                );
                use geo::{Euclidean, Length};
                let thickness =
                    2.0 * metric.unsigned_area() / Euclidean.length(metric.exterior()).max(1e-9);
                assert!(thickness < 0.2, "{name}: {} min band sticks out of the {} min band by a {thickness:.2} m wide piece at {:?}", band.minutes, next.minutes, q.exterior().0.first());
            }
        }
        let index = PolyIndex::with_projection(mp, proj);
        let limit = band.minutes * 60.0;
        // Inclusion: every reached road point (sampled) within the band.
        let inside_pts: Vec<_> = pts.iter().filter(|p| p.2 <= limit).collect();
        assert!(!inside_pts.is_empty());
        for _ in 0..3000.min(inside_pts.len()) {
            let &&(lon, lat, t) = &inside_pts[rng.below(inside_pts.len())];
            if !index.contains(lon, lat) {
                let d = index.boundary_distance(lon, lat);
                assert!(d <= p.cell_m, "{name} {} min: reached road point ({lon:.6},{lat:.6}) at {t:.0} s is {d:.0} m outside", band.minutes);
            }
        }
        // Exclusion: road vertices that no reached point gets to within the band, even walking.
        let mut tested = 0;
        for _ in 0..20_000 {
            if tested >= 3000 {
                break;
            }
            let road = rng.below(g.num_roads());
            let geom = g.road_geometry(road);
            let c = geom[rng.below(geom.len())];
            let (x, y) = proj.forward(c.lon(), c.lat());
            let best = tree
                .locate_within_distance([x, y], (p.offroad_m + p.cell_m).powi(2))
                .map(|s| {
                    s.data + ((s.geom()[0] - x).hypot(s.geom()[1] - y) - p.cell_m).max(0.0) / v_off
                })
                .fold(f64::INFINITY, f64::min);
            if best <= limit {
                continue;
            }
            tested += 1;
            if index.contains(c.lon(), c.lat()) {
                let d = index.boundary_distance(c.lon(), c.lat());
                assert!(
                    d <= 1.5 * p.cell_m,
                    "{name} {} min: unreached road point ({:.6},{:.6}) lies {d:.0} m inside",
                    band.minutes,
                    c.lon(),
                    c.lat()
                );
            }
        }
    }
}

#[test]
fn polygons_are_valid_nested_and_faithful_to_the_network() {
    let p = CircleParams {
        minutes: vec![10.0, 20.0, 30.0],
        ..Default::default()
    };
    check_circle(
        "yuba",
        &graph(YUBA, "car"),
        &city("Marysville", -121.5914, 39.1457),
        &p,
    );
    check_circle(
        "porto",
        &graph(PORTO, "car"),
        &city("Porto", -8.6110, 41.1496),
        &CircleParams {
            minutes: vec![10.0, 20.0],
            ..Default::default()
        },
    );
    check_circle(
        "malta",
        &graph(MALTA, "car"),
        &city("Valletta", 14.5146, 35.8989),
        &p,
    );
    let arrive = CircleParams {
        minutes: vec![15.0, 30.0],
        direction: Direction::Arrive,
        ..Default::default()
    };
    check_circle(
        "yuba-arrive",
        &graph(YUBA, "car"),
        &city("Marysville", -121.5914, 39.1457),
        &arrive,
    );
    check_circle(
        "malta-arrive",
        &graph(MALTA, "car"),
        &city("Valletta", 14.5146, 35.8989),
        &arrive,
    );
    // Simplified polygons stay valid and nested too.
    let simple = CircleParams {
        minutes: vec![15.0, 30.0],
        simplify_m: 50.0,
        ..Default::default()
    };
    check_circle(
        "malta-simplified",
        &graph(MALTA, "car"),
        &city("Valletta", 14.5146, 35.8989),
        &simple,
    );
}

#[test]
fn marysville_hour_is_bounded_by_time_not_by_the_extract() {
    let g = graph(YUBA, "car");
    let engine = Engine::new(&g);
    let mut scratch = SearchScratch::new(g.num_nodes());
    let c = city("Marysville", -121.5914, 39.1457);
    let hour = engine
        .circle(
            &c,
            &CircleParams {
                minutes: vec![60.0],
                ..Default::default()
            },
            &mut scratch,
        )
        .unwrap();
    let settled_hour = hour.settled;
    let long = engine
        .circle(
            &c,
            &CircleParams {
                minutes: vec![240.0],
                ..Default::default()
            },
            &mut scratch,
        )
        .unwrap();
    let core = g
        .node_flags
        .iter()
        .filter(|f| **f & node_flags::CORE != 0)
        .count();
    // The hour leaves a good part of the county unreached; a longer search reaches much more.
    assert!(
        settled_hour < core * 9 / 10,
        "the hour reached {settled_hour} of {core} core nodes"
    );
    assert!(long.settled as f64 > settled_hour as f64 * 1.1);
    assert!(long.bands[0].area_km2 > hour.bands[0].area_km2 * 1.2);
}

#[test]
fn valletta_reaches_gozo_only_by_ferry() {
    let g = graph(MALTA, "car");
    let victoria = (14.2392, 36.0444);
    let c = city("Valletta", 14.5146, 35.8989);
    let p = CircleParams {
        minutes: vec![120.0],
        ..Default::default()
    };
    let mut scratch = SearchScratch::new(g.num_nodes());
    let with = Engine::new(&g).circle(&c, &p, &mut scratch).unwrap();
    let idx = PolyIndex::new(&with.bands[0].polygon);
    assert!(
        idx.contains(victoria.0, victoria.1),
        "Gozo not reached in 2 h"
    );
    // Without ferries (edges made very slow), Gozo is out of reach.
    let mut no_ferry = (*g).clone();
    for e in 0..no_ferry.num_edges() {
        if no_ferry.is_ferry(no_ferry.edge_road(e).0) {
            no_ferry.edges[e].time_ms = u32::MAX / 8;
        }
    }
    let without = Engine::new(&no_ferry).circle(&c, &p, &mut scratch).unwrap();
    let idx = PolyIndex::new(&without.bands[0].polygon);
    assert!(
        !idx.contains(victoria.0, victoria.1),
        "Gozo reached without a ferry"
    );
    assert!(with.bands[0].area_km2 > without.bands[0].area_km2 + 30.0);
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let g = graph(MALTA, "car");
    let engine = Engine::new(&g);
    let cities: Vec<CitySpec> = g
        .places
        .iter()
        .filter(|p| p.kind == "town" || p.kind == "city")
        .take(12)
        .map(|p| city(&p.label(), p.coord.lon(), p.coord.lat()))
        .collect();
    let p = CircleParams {
        minutes: vec![10.0, 20.0],
        ..Default::default()
    };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            use rayon::prelude::*;
            cities
                .par_iter()
                .map_init(
                    || SearchScratch::new(g.num_nodes()),
                    |s, c| engine.circle(c, &p, s).map(|c| c.bands),
                )
                .collect::<Vec<_>>()
        })
    };
    let one = run(1);
    let four = run(4);
    assert_eq!(one, four);
    assert!(one.iter().filter(|r| r.is_ok()).count() >= 10);
}

/// The R-tree snapping finds the same nearest road as a scan of every snappable road.
#[test]
fn snapping_matches_brute_force() {
    use metroreach::isochrone::snap::SnapIndex;
    for name in [MALTA, YUBA, CHINA] {
        let g = graph(name, "car");
        let engine = Engine::new(&g);
        let idx = engine.snap_index();
        // Each road's end nodes and edges, from a plain scan of every node's out-edges.
        let mut ends = vec![(u32::MAX, u32::MAX, None, None); g.num_roads()];
        for u in 0..g.num_nodes() as u32 {
            for e in g.out_range(u) {
                let (road, rev) = g.edge_road(e);
                let (head, end) = (g.edges[e].head, &mut ends[road]);
                if rev {
                    (end.0, end.1, end.3) = (head, u, Some(e as u32));
                } else {
                    (end.0, end.1, end.2) = (u, head, Some(e as u32));
                }
            }
        }
        for (road, &(a, b, forward, backward)) in ends.iter().enumerate() {
            let got = idx.road_ends(&g, road);
            assert_eq!(
                (got.a, got.b, got.forward, got.backward),
                (a, b, forward, backward)
            );
        }
        // Snappable: not a ferry, both ends in a core component (from the scanned ends).
        let core = |n: u32| n != u32::MAX && g.node_flags[n as usize] & node_flags::CORE != 0;
        let plain: Vec<u32> = (0..g.num_roads() as u32)
            .filter(|&r| {
                let (a, b, _, _) = ends[r as usize];
                !g.is_ferry(r as usize) && core(a) && core(b)
            })
            .collect();
        assert_eq!(idx.snappable(), &plain[..], "{name}: snappable roads");
        let bbox = g.bbox();
        let mut rng = Rng(0x51ab ^ name.len() as u64);
        for _ in 0..60 {
            let lon = bbox.min_lon
                + (bbox.max_lon - bbox.min_lon) * (rng.below(100_000) as f64 / 100_000.0);
            let lat = bbox.min_lat
                + (bbox.max_lat - bbox.min_lat) * (rng.below(100_000) as f64 / 100_000.0);
            let max = 5_000.0;
            let brute = idx
                .snappable()
                .iter()
                .map(|&r| (SnapIndex::distance_to(&g, r as usize, lon, lat), r))
                .filter(|(d, _)| *d <= max)
                .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let got = idx.nearest(&g, lon, lat, max);
            match (brute, got) {
                (None, None) => {}
                (Some((d, r)), Some(s)) => assert!(
                    d == s.distance_m && r == s.road,
                    "{name}: road {r} at {d} m vs road {} at {} m",
                    s.road,
                    s.distance_m
                ),
                (b, s) => panic!(
                    "{name} ({lon}, {lat}): brute {b:?} vs index {:?}",
                    s.map(|s| s.distance_m)
                ),
            }
        }
    }
}
