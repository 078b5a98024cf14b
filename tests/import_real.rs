//! Importer tests on the real shared extracts (issue: importer and routing graph).

mod common;

use common::*;
use geo::{Validation, Winding};
use metroreach::geom::area::multipolygon_km2;
use metroreach::geom::distance_m;
use metroreach::graph::{node_flags, store, RoadClass, RoadGraph};
use std::collections::VecDeque;

/// Nodes reachable from `start` (BFS over directed edges), optionally ignoring ferries.
fn reachable(g: &RoadGraph, start: u32, use_ferries: bool) -> Vec<bool> {
    let mut seen = vec![false; g.num_nodes()];
    let mut q = VecDeque::from([start]);
    seen[start as usize] = true;
    while let Some(v) = q.pop_front() {
        for e in g.out_range(v) {
            let (road, _) = g.edge_road(e);
            if !use_ferries && g.is_ferry(road) {
                continue;
            }
            let w = g.edges[e].head;
            if !seen[w as usize] {
                seen[w as usize] = true;
                q.push_back(w);
            }
        }
    }
    seen
}

fn nearest_node(g: &RoadGraph, lon: f64, lat: f64) -> u32 {
    let target = metroreach::geom::CoordE7::from_degrees(lon, lat);
    (0..g.num_nodes() as u32)
        .filter(|&n| g.node_flags[n as usize] & node_flags::CORE != 0)
        .min_by(|&a, &b| {
            distance_m(g.node_coords[a as usize], target)
                .total_cmp(&distance_m(g.node_coords[b as usize], target))
        })
        .unwrap()
}

/// The invariants every graph must satisfy.
fn check_invariants(name: &str, g: &RoadGraph) {
    store::validate(g).unwrap_or_else(|e| panic!("{name}: {e}"));
    for (e, &tail) in g.edge_tails().iter().enumerate() {
        let (road, rev) = g.edge_road(e);
        let geom = g.road_geometry(road);
        let (first, last) = if rev {
            (geom[geom.len() - 1], geom[0])
        } else {
            (geom[0], geom[geom.len() - 1])
        };
        assert_eq!(
            first, g.node_coords[tail as usize],
            "{name}: edge {e} geometry does not start at its tail"
        );
        assert_eq!(
            last, g.node_coords[g.edges[e].head as usize],
            "{name}: edge {e} geometry does not end at its head"
        );
        // Time consistent with length and a plausible speed.
        let len = g.road_length_m[road] as f64;
        let t = g.edges[e].time_ms as f64 / 1000.0;
        assert!(t > 0.0, "{name}: edge {e} has zero time");
        let kmh = len / t * 3.6;
        if g.is_ferry(road) {
            assert!(kmh < 80.0, "{name}: ferry edge {e} at {kmh} km/h");
        } else {
            assert!(
                kmh <= 130.0 * 0.75 + 1.0,
                "{name}: edge {e} at {kmh:.1} km/h"
            );
            assert!(
                len < 2.0 || kmh >= 2.0,
                "{name}: edge {e} at {kmh:.2} km/h over {len} m"
            );
        }
        // Length is the geometry's length.
        let geo_len = metroreach::geom::polyline_length_m(geom);
        assert!(
            (geo_len - len).abs() <= 0.01 * geo_len.max(1.0),
            "{name}: road {road} length {len} vs {geo_len}"
        );
    }
    // Round trip through the file format.
    let dir = scratch(&format!("inv-{name}"));
    let path = dir.join("g.graph");
    store::save(g, &path).unwrap();
    let back = store::load(&path).unwrap();
    assert!(&back == g, "{name}: reloaded graph differs");
}

#[test]
fn every_shared_extract_imports_with_valid_invariants() {
    for name in [
        MALTA,
        YUBA,
        PORTO,
        YIZHUANG,
        HELSINKI,
        ANDORRA,
        CHINA,
        "nanchang-citybrain.osm.pbf",
        "chengdu-centre-osmnx.osm.pbf",
        "porto-alegre-roads.osm.pbf",
        "yangtze-delta-highways-coarse.osm.pbf",
    ] {
        let g = graph(name, "car");
        assert!(g.num_nodes() > 100, "{name}: only {} nodes", g.num_nodes());
        check_invariants(name, &g);
    }
    for profile in ["bike", "foot"] {
        let g = graph(MALTA, profile);
        check_invariants(&format!("malta-{profile}"), &g);
    }
}

#[test]
fn malta_councils_are_valid_polygons_adding_up_to_malta() {
    let g = graph(MALTA, "car");
    let councils: Vec<_> = g
        .boundaries
        .iter()
        .filter(|b| b.admin_level == Some(8))
        .collect();
    assert_eq!(councils.len(), 67);
    let mut total = 0.0;
    for c in &councils {
        let mp = c.to_multipolygon();
        assert!(mp.is_valid(), "{} is not a valid polygon", c.label());
        assert_eq!(c.broken_rings, 0, "{}", c.label());
        for p in &mp.0 {
            assert!(
                p.exterior().is_ccw(),
                "{}: exterior not counter-clockwise",
                c.label()
            );
            for h in p.interiors() {
                assert!(h.is_cw(), "{}: hole not clockwise", c.label());
            }
        }
        total += multipolygon_km2(&mp);
    }
    // Malta's land area is about 316 km².
    assert!(
        (total - 316.0).abs() / 316.0 < 0.04,
        "councils add up to {total:.1} km²"
    );
}

#[test]
fn gozo_is_reachable_only_by_ferry() {
    let g = graph(MALTA, "car");
    let valletta = nearest_node(&g, 14.5146, 35.8989);
    let victoria = nearest_node(&g, 14.2392, 36.0444); // Victoria (Rabat), Gozo
    assert!(
        distance_m(
            g.node_coords[victoria as usize],
            metroreach::geom::CoordE7::from_degrees(14.2392, 36.0444)
        ) < 500.0
    );
    assert!(
        reachable(&g, valletta, true)[victoria as usize],
        "Gozo not reachable with ferries"
    );
    assert!(
        !reachable(&g, valletta, false)[victoria as usize],
        "Gozo reachable without a ferry"
    );
    assert!(g.meta.import.ferry_ways >= 1);
}

#[test]
fn yizhuang_keeps_districts_chinese_names_and_one_way_carriageways() {
    let g = graph(YIZHUANG, "car");
    let level6: Vec<_> = g
        .boundaries
        .iter()
        .filter(|b| b.admin_level == Some(6))
        .collect();
    let names: Vec<String> = level6.iter().filter_map(|b| b.name.clone()).collect();
    assert!(names.contains(&"大兴区".to_string()), "{names:?}");
    assert!(names.contains(&"通州区".to_string()), "{names:?}");
    assert!(
        g.places
            .iter()
            .any(|p| p.name.as_deref() == Some("亦庄地区")
                && p.name_en.as_deref() == Some("Yizhuang"))
    );
    // One-way roads: exactly one directed edge. The reverse trip between their ends must detour.
    let tails = g.edge_tails();
    let mut one_way_major = 0;
    for road in 0..g.num_roads() {
        let edges: Vec<usize> = (0..g.num_edges())
            .filter(|&e| g.edge_road(e).0 == road)
            .collect();
        if edges.len() == 1
            && matches!(
                g.road_class(road),
                RoadClass::Primary | RoadClass::Secondary | RoadClass::Motorway
            )
        {
            one_way_major += 1;
            let e = edges[0];
            let (u, v) = (tails[e], g.edges[e].head);
            // No edge of this road runs v → u.
            assert!(!g
                .out_range(v)
                .any(|f| g.edge_road(f).0 == road && g.edges[f].head == u));
        }
        if one_way_major > 20 {
            break;
        }
    }
    assert!(
        one_way_major > 20,
        "dual carriageways should come out one-way"
    );
}

#[test]
fn cut_extracts_count_missing_nodes_and_still_import() {
    for name in [HELSINKI, YUBA] {
        let g = graph(name, "car");
        let s = &g.meta.import;
        assert!(s.missing_node_refs > 0, "{name}: missing refs not counted");
        assert!(s.clipped_ways + s.dropped_ways > 0, "{name}");
        assert!(
            g.node_flags.iter().any(|f| f & node_flags::BORDER != 0),
            "{name}: no border nodes flagged"
        );
        assert!(!s.warnings.is_empty());
    }
}

#[test]
fn yuba_boundaries_include_the_county_and_its_cities() {
    let g = graph(YUBA, "car");
    let yuba = g
        .boundaries
        .iter()
        .find(|b| b.name.as_deref() == Some("Yuba County"))
        .unwrap();
    assert_eq!(yuba.admin_level, Some(6));
    assert_eq!(yuba.broken_rings, 0);
    let area = multipolygon_km2(&yuba.to_multipolygon());
    // Yuba County: 1,670 km² total area (US Census: 632 sq mi land + 12 sq mi water).
    assert!(
        (area - 1668.0).abs() / 1668.0 < 0.03,
        "Yuba County {area:.0} km²"
    );
    assert!(yuba.admin_centre.is_some());
    let marysville = g
        .boundaries
        .iter()
        .find(|b| b.name.as_deref() == Some("Marysville"))
        .unwrap();
    assert!(marysville.to_multipolygon().is_valid());
}

/// The blob probes that locate nodes, ways and relations in a sorted file (each group's first
/// key, without decoding elements) agree with a full decode on every blob of the real extracts.
#[test]
fn blob_probes_agree_with_full_decodes() {
    use metroreach::osm::pbf::{Kinds, PbfFile};
    for name in [MALTA, YUBA, PORTO, YIZHUANG, HELSINKI, ANDORRA, CHINA] {
        let file = PbfFile::open(&osm(name)).unwrap();
        let blobs = file.blobs().unwrap();
        for i in 0..blobs.data.len() {
            let decoded = blobs.with_block(i, Kinds::of).unwrap();
            assert_eq!(
                blobs.probe_kinds(i, false),
                Some(decoded),
                "{name} blob {i}"
            );
            let first = blobs.probe_kinds(i, true).expect("a first group");
            let kinds = [first.nodes, first.ways, first.relations];
            assert_eq!(kinds.iter().filter(|&&k| k).count(), 1, "{name} blob {i}");
            assert!(
                (!first.nodes || decoded.nodes)
                    && (!first.ways || decoded.ways)
                    && (!first.relations || decoded.relations),
                "{name} blob {i}: first group {first:?}, blob {decoded:?}"
            );
        }
    }
}

/// The in-place block reader the node and way passes use gives, on every blob of the real
/// extracts, the same elements as osmpbf: ids, coordinates, tags and delta-coded refs, in order.
#[test]
fn in_place_block_reader_matches_osmpbf() {
    use metroreach::osm::block::{zigzag, RawElement};
    use metroreach::osm::pbf::{Kinds, PbfFile};
    use osmpbf::Element;
    #[derive(Debug, PartialEq)]
    enum E {
        Node(i64, i64, i64, Vec<(String, String)>),
        Way(i64, Vec<(String, String)>, Vec<i64>),
        Relation,
    }
    let own = |t: &mut dyn Iterator<Item = (&str, &str)>| -> Vec<(String, String)> {
        t.map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    for name in [MALTA, YUBA, PORTO, YIZHUANG, HELSINKI, ANDORRA, CHINA] {
        let file = PbfFile::open(&osm(name)).unwrap();
        let blobs = file.blobs().unwrap();
        let mut elements = 0;
        for i in 0..blobs.data.len() {
            let (fast, fast_kinds) = blobs
                .with_raw_block(i, |b| {
                    let mut v = Vec::new();
                    let kinds = b.for_each(|e| {
                        v.push(match e {
                            RawElement::Node {
                                id,
                                nano_lon,
                                nano_lat,
                                tags,
                            } => E::Node(id, nano_lon, nano_lat, own(&mut b.tags(tags))),
                            RawElement::Way { id, tags, refs } => {
                                E::Way(id, own(&mut b.tags(tags)), refs.map(zigzag).collect())
                            }
                            RawElement::Relation => E::Relation,
                        })
                    })?;
                    Some((v, kinds))
                })
                .unwrap_or_else(|| panic!("{name} blob {i}: not read in place"));
            let (slow, slow_kinds) = blobs
                .with_block(i, |block| {
                    let mut v = Vec::new();
                    block.for_each_element(|e| {
                        v.push(match e {
                            Element::DenseNode(d) => {
                                E::Node(d.id(), d.nano_lon(), d.nano_lat(), own(&mut d.tags()))
                            }
                            Element::Node(n) => {
                                E::Node(n.id(), n.nano_lon(), n.nano_lat(), own(&mut n.tags()))
                            }
                            Element::Way(w) => {
                                E::Way(w.id(), own(&mut w.tags()), w.raw_refs().to_vec())
                            }
                            Element::Relation(_) => E::Relation,
                        })
                    });
                    (v, Kinds::of(block))
                })
                .unwrap();
            assert_eq!(fast_kinds, slow_kinds, "{name} blob {i}");
            assert!(fast == slow, "{name} blob {i}: elements differ");
            elements += fast.len();
        }
        assert!(elements > 10_000, "{name}: only {elements} elements");
    }
}
