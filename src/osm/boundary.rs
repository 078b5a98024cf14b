//! Assembly of administrative boundary relations into (multi)polygons with holes.
//!
//! Member ways are joined end to end (by OSM node id) into closed rings; ways that cannot be
//! closed are reported as broken rings, never fatal. Whether a ring is an exterior or a hole is
//! decided by nesting depth (how many other rings contain it), not by the member roles, which are
//! often wrong in real data. Exteriors come out counter-clockwise and holes clockwise (RFC 7946).

use crate::geom::rings::nest;
use crate::geom::CoordE7;
use geo::LineString;
use std::collections::HashMap;

/// One member way of a relation: its node ids and their positions (`None` if missing).
pub struct MemberWay<'a> {
    pub node_ids: &'a [i64],
    pub coords: Vec<Option<CoordE7>>,
}

/// The result of assembling one relation.
#[derive(Debug, Default, PartialEq)]
pub struct Assembled {
    /// Polygons: exterior first (counter-clockwise), then holes (clockwise).
    pub polygons: Vec<Vec<Vec<CoordE7>>>,
    /// Chains of member ways that did not close (or had missing nodes).
    pub broken_rings: u32,
    /// The unclosed chains themselves (the parts of the boundary inside the extract), so that a
    /// boundary cut by the extract can still be drawn and compared.
    pub open_chains: Vec<Vec<CoordE7>>,
}

/// Joins member ways into rings and nests them into polygons.
pub fn assemble(members: &[MemberWay]) -> Assembled {
    let mut out = Assembled::default();
    // Usable segments: ways whose every node has a position.
    let mut segs: Vec<(Vec<i64>, Vec<CoordE7>)> = Vec::new();
    for m in members {
        if m.node_ids.len() < 2 {
            continue;
        }
        let coords: Option<Vec<CoordE7>> = m.coords.iter().copied().collect();
        match coords {
            Some(c) => segs.push((m.node_ids.to_vec(), c)),
            None => {
                out.broken_rings += 1;
                // Keep the runs of present nodes as open chains.
                let mut run: Vec<CoordE7> = Vec::new();
                for c in m.coords.iter().chain(std::iter::once(&None)) {
                    match c {
                        Some(c) => run.push(*c),
                        None => {
                            if run.len() >= 2 {
                                out.open_chains.push(std::mem::take(&mut run));
                            }
                            run.clear();
                        }
                    }
                }
            }
        }
    }
    // Endpoint index: node id → segments starting or ending there.
    let mut at: HashMap<i64, Vec<usize>> = HashMap::new();
    for (i, (ids, _)) in segs.iter().enumerate() {
        at.entry(ids[0]).or_default().push(i);
        at.entry(*ids.last().unwrap_or(&ids[0]))
            .or_default()
            .push(i);
    }
    let mut used = vec![false; segs.len()];
    let mut rings: Vec<Vec<CoordE7>> = Vec::new();
    for start in 0..segs.len() {
        if used[start] {
            continue;
        }
        used[start] = true;
        let mut ids = segs[start].0.clone();
        let mut coords = segs[start].1.clone();
        let first = ids[0];
        let mut closed = ids.last() == Some(&first);
        while !closed {
            let end = *ids.last().unwrap_or(&first);
            let next = at
                .get(&end)
                .and_then(|c| c.iter().copied().find(|&j| !used[j]));
            let Some(j) = next else { break };
            used[j] = true;
            let (jids, jc) = &segs[j];
            if jids[0] == end {
                ids.extend_from_slice(&jids[1..]);
                coords.extend_from_slice(&jc[1..]);
            } else {
                ids.extend(jids.iter().rev().skip(1));
                coords.extend(jc.iter().rev().skip(1));
            }
            closed = ids.last() == Some(&first);
        }
        if closed && coords.len() >= 4 {
            rings.push(coords);
        } else {
            out.broken_rings += 1;
            if coords.len() >= 2 {
                out.open_chains.push(coords);
            }
        }
    }
    out.polygons = nest_rings(rings);
    out
}

/// Nests closed rings by containment depth (see [`crate::geom::rings::nest`]): even depth =
/// exterior (counter-clockwise), odd = hole of the smallest enclosing exterior (clockwise).
pub fn nest_rings(rings: Vec<Vec<CoordE7>>) -> Vec<Vec<Vec<CoordE7>>> {
    let lines: Vec<LineString<f64>> = rings
        .iter()
        .map(|r| LineString::from(r.iter().map(|c| (c.lon(), c.lat())).collect::<Vec<_>>()))
        .collect();
    let back = |l: &LineString<f64>| -> Vec<CoordE7> {
        l.0.iter()
            .map(|c| CoordE7::from_degrees(c.x, c.y))
            .collect()
    };
    nest(lines)
        .0
        .iter()
        .map(|p| {
            std::iter::once(back(p.exterior()))
                .chain(p.interiors().iter().map(back))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(x: f64, y: f64) -> CoordE7 {
        CoordE7::from_degrees(x, y)
    }

    fn member<'a>(ids: &'a [i64], pts: &[(f64, f64)]) -> MemberWay<'a> {
        MemberWay {
            node_ids: ids,
            coords: pts.iter().map(|&(x, y)| Some(c(x, y))).collect(),
        }
    }

    #[test]
    fn joins_ways_in_any_direction_and_finds_holes() {
        // Outer square 0..10 made of two ways (the second reversed), inner square 4..6 as one way.
        let a = [1, 2, 3];
        let b = [1, 4, 3];
        let h = [10, 11, 12, 13, 10];
        let members = vec![
            member(&a, &[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)]),
            member(&b, &[(0.0, 0.0), (0.0, 1.0), (1.0, 1.0)]),
            member(
                &h,
                &[(0.4, 0.4), (0.6, 0.4), (0.6, 0.6), (0.4, 0.6), (0.4, 0.4)],
            ),
        ];
        let out = assemble(&members);
        assert_eq!(out.broken_rings, 0);
        assert_eq!(out.polygons.len(), 1);
        assert_eq!(out.polygons[0].len(), 2);
        let mp = crate::graph::AdminBoundary {
            osm_id: 1,
            admin_level: None,
            name: None,
            name_zh: None,
            name_en: None,
            codes: Default::default(),
            population: None,
            admin_centre: None,
            label: None,
            polygons: out.polygons,
            broken_rings: 0,
            open_chains: vec![],
        }
        .to_multipolygon();
        use geo::Validation;
        assert!(mp.is_valid());
        let area = geo::Area::signed_area(&mp);
        assert!((area - (1.0 - 0.04)).abs() < 1e-9, "{area}");
        // RFC 7946 winding.
        use geo::Winding;
        assert!(mp.0[0].exterior().is_ccw());
        assert!(mp.0[0].interiors()[0].is_cw());
    }

    #[test]
    fn broken_and_missing_rings_are_counted_not_fatal() {
        let a = [1, 2, 3];
        let b = [7, 8, 9];
        let members = vec![
            member(&a, &[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)]),
            MemberWay {
                node_ids: &b,
                coords: vec![Some(c(5.0, 5.0)), None, Some(c(6.0, 6.0))],
            },
        ];
        let out = assemble(&members);
        assert_eq!(out.broken_rings, 2);
        assert!(out.polygons.is_empty());
        assert_eq!(out.open_chains.len(), 1); // the 3-node chain; the 1+1-node runs are too short
    }

    #[test]
    fn island_inside_hole_is_a_new_polygon() {
        let outer = [1, 2, 3, 4, 1];
        let hole = [5, 6, 7, 8, 5];
        let island = [9, 10, 11, 12, 9];
        let sq = |a: f64, b: f64| vec![(a, a), (b, a), (b, b), (a, b), (a, a)];
        let members = vec![
            member(&outer, &sq(0.0, 10.0)),
            member(&hole, &sq(2.0, 8.0)),
            member(&island, &sq(4.0, 6.0)),
        ];
        let out = assemble(&members);
        assert_eq!(out.polygons.len(), 2);
        assert_eq!(out.polygons[0].len(), 2);
        assert_eq!(out.polygons[1].len(), 1);
    }
}
