//! Snapping origins to the road network: the nearest point on a road's real geometry, found with
//! a packed R-tree over road bounding boxes.
//!
//! The graph numbers roads along a Hilbert curve, so runs of consecutive roads lie close
//! together: the tree's leaves are the boxes of such runs and each level above boxes a run of
//! the level below, in the same order. Nothing is sorted, so the tree is built in one pass over
//! the road shapes (on all cores) rather than bulk-loaded.
//!
//! Only roads both of whose end nodes lie in a core (large strongly connected) component are
//! candidates, so an origin never lands on a disconnected fragment or a one-way trap it could
//! not leave. Ferries are never snapped to.

use crate::geom::projection::LocalProjection;
use crate::geom::{distance_m, CoordE7, EARTH_RADIUS_M};
use crate::graph::{node_flags, RoadGraph};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering};

/// An axis-aligned box in scaled degrees (`x = lon · k`, `y = lat`): `[min x, min y, max x, max y]`.
type Aabb = [f64; 4];

/// Roads per leaf box, and boxes per box of the level above.
const ROADS_PER_BOX: usize = 8;
const FANOUT: usize = 16;

/// Squared distance from `q` to the box (0 inside).
#[inline]
fn distance_2(b: &Aabb, q: [f64; 2]) -> f64 {
    let dx = (b[0] - q[0]).max(q[0] - b[2]).max(0.0);
    let dy = (b[1] - q[1]).max(q[1] - b[3]).max(0.0);
    dx * dx + dy * dy
}

fn union(boxes: &[Aabb]) -> Aabb {
    boxes
        .iter()
        .fold([f64::MAX, f64::MAX, f64::MIN, f64::MIN], |a, b| {
            [
                a[0].min(b[0]),
                a[1].min(b[1]),
                a[2].max(b[2]),
                a[3].max(b[3]),
            ]
        })
}

/// The end nodes and directed edges of a road.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoadEnds {
    /// Node at the start of the road's geometry.
    pub a: u32,
    /// Node at its end.
    pub b: u32,
    /// Edge a→b (along the geometry), if the road allows it.
    pub forward: Option<u32>,
    /// Edge b→a, if allowed.
    pub backward: Option<u32>,
}

/// A point on the network.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Snapped {
    pub road: u32,
    pub ends: RoadEnds,
    /// Position along the road as a share of its length from its first node (0..=1).
    pub fraction: f64,
    /// The snapped point.
    pub point: CoordE7,
    /// Distance from the query point, metres.
    pub distance_m: f64,
}

/// Spatial index over the roads of a graph.
pub struct SnapIndex {
    /// `levels[0]` boxes runs of [`ROADS_PER_BOX`] snappable roads (`roads[8i..8i + 8]`), and
    /// `levels[k + 1][i]` the boxes `levels[k][16i..16i + 16]`; the last level is the root's
    /// children.
    levels: Vec<Vec<Aabb>>,
    /// The roads an origin may snap to, in graph order.
    roads: Vec<u32>,
    /// The edge of each road and direction ([`super::reach::edge_of_road`]).
    edge_of_road: Vec<u32>,
    kx: f64,
    /// Lower bound of true metres per scaled degree anywhere in the graph.
    metres_per_scaled_deg: f64,
}

impl SnapIndex {
    pub fn build(g: &RoadGraph) -> SnapIndex {
        use rayon::prelude::*;
        let edge_of_road = super::reach::edge_of_road(g);
        let bbox = g.bbox();
        let mid_lat = if bbox.is_empty() {
            0.0
        } else {
            (bbox.min_lat + bbox.max_lat) / 2.0
        };
        let kx = mid_lat.to_radians().cos();
        let max_abs_lat = bbox.min_lat.abs().max(bbox.max_lat.abs()).min(89.0);
        let m_per_deg = EARTH_RADIUS_M.to_radians();
        let metres_per_scaled_deg = m_per_deg * (max_abs_lat.to_radians().cos() / kx).min(1.0);

        // A road's ends are those of any of its edges (tail and head), so a road is snappable
        // when one of its edges joins two core nodes and it is not a ferry. Flags per road, set
        // from every node's out-edges on all cores (each set to the same value by whoever sets
        // it), then read in road order.
        let core = |n: u32| g.node_flags[n as usize] & node_flags::CORE != 0;
        let joins_core: Vec<AtomicBool> =
            (0..g.num_roads()).map(|_| AtomicBool::new(false)).collect();
        (0..g.num_nodes() as u32)
            .into_par_iter()
            .with_min_len(1 << 12)
            .filter(|&u| core(u))
            .for_each(|u| {
                for e in g.out_range(u) {
                    if core(g.edges[e].head) {
                        joins_core[g.edge_road(e).0].store(true, Ordering::Relaxed);
                    }
                }
            });
        let roads: Vec<u32> = (0..g.num_roads() as u32)
            .into_par_iter()
            .filter(|&r| joins_core[r as usize].load(Ordering::Relaxed) && !g.is_ferry(r as usize))
            .collect();
        drop(joins_core);
        // Leaf boxes from the integer coordinates: `x ↦ x · 1e-7 · kx` is monotone, so the
        // extremes of the scaled coordinates are those of the integers, scaled.
        let leaves: Vec<Aabb> = roads
            .par_chunks(ROADS_PER_BOX)
            .map(|chunk| {
                let (mut lo, mut hi) = ([i32::MAX; 2], [i32::MIN; 2]);
                for &r in chunk {
                    for c in g.road_geometry(r as usize) {
                        lo = [lo[0].min(c.lon), lo[1].min(c.lat)];
                        hi = [hi[0].max(c.lon), hi[1].max(c.lat)];
                    }
                }
                let scaled = |v: i32, k: f64| v as f64 * 1e-7 * k;
                [
                    scaled(lo[0], kx),
                    scaled(lo[1], 1.0),
                    scaled(hi[0], kx),
                    scaled(hi[1], 1.0),
                ]
            })
            .collect();
        let mut levels = vec![leaves];
        while levels.last().is_some_and(|l| l.len() > FANOUT) {
            let below = levels.last().expect("a level");
            let above: Vec<Aabb> = below.par_chunks(FANOUT).map(union).collect();
            levels.push(above);
        }
        SnapIndex {
            levels,
            roads,
            edge_of_road,
            kx,
            metres_per_scaled_deg,
        }
    }

    /// Number of roads an origin may snap to.
    pub fn len(&self) -> usize {
        self.roads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.roads.is_empty()
    }

    /// The roads an origin may snap to.
    pub fn snappable(&self) -> &[u32] {
        &self.roads
    }

    /// Distance (m) from a point to a road's geometry (the measure `nearest` minimises).
    pub fn distance_to(g: &RoadGraph, road: usize, lon: f64, lat: f64) -> f64 {
        nearest_on_polyline(&LocalProjection::new(lon, lat), g.road_geometry(road))
            .map(|x| x.0)
            .unwrap_or(f64::INFINITY)
    }

    /// The end nodes and edges of a road.
    pub fn road_ends(&self, g: &RoadGraph, road: usize) -> RoadEnds {
        // The tail of an edge: the node whose range of out-edges holds it.
        ends_of(g, &self.edge_of_road, road, |e| {
            (g.first_out.partition_point(|&f| f <= e) - 1) as u32
        })
    }

    /// The edge of each road and direction ([`super::reach::edge_of_road`]).
    pub fn edge_of_road(&self) -> &[u32] {
        &self.edge_of_road
    }

    /// The nearest point on a snappable road within `max_m` metres of (`lon`, `lat`).
    pub fn nearest(&self, g: &RoadGraph, lon: f64, lat: f64, max_m: f64) -> Option<Snapped> {
        let q = [lon * self.kx, lat];
        let proj = LocalProjection::new(lon, lat);
        let mut best: Option<Snapped> = None;
        // Best first: boxes come off the queue nearest first, and the search ends at the first
        // one farther than the best road so far. The best road (distance, then road id) is the
        // same whatever order ties come in. Non-negative doubles order as their bits.
        let mut queue: BinaryHeap<Reverse<(u64, u32, u32)>> = BinaryHeap::new();
        let top = self.levels.last()?;
        let top_level = (self.levels.len() - 1) as u32;
        for (i, b) in top.iter().enumerate() {
            queue.push(Reverse((distance_2(b, q).to_bits(), top_level, i as u32)));
        }
        while let Some(Reverse((d2, level, i))) = queue.pop() {
            let lower_bound_m = f64::from_bits(d2).sqrt() * self.metres_per_scaled_deg;
            let bound = best.map(|b| b.distance_m).unwrap_or(max_m);
            if lower_bound_m > bound {
                break; // nothing left is closer
            }
            if level > 0 {
                let below = &self.levels[level as usize - 1];
                let first = i as usize * FANOUT;
                for (k, b) in below[first..(first + FANOUT).min(below.len())]
                    .iter()
                    .enumerate()
                {
                    queue.push(Reverse((
                        distance_2(b, q).to_bits(),
                        level - 1,
                        (first + k) as u32,
                    )));
                }
                continue;
            }
            let first = i as usize * ROADS_PER_BOX;
            for &road32 in &self.roads[first..(first + ROADS_PER_BOX).min(self.roads.len())] {
                let road = road32 as usize;
                let geom = g.road_geometry(road);
                let Some((dist, seg, t)) = nearest_on_polyline(&proj, geom) else {
                    continue;
                };
                if dist <= max_m
                    && best.is_none_or(|b| {
                        dist < b.distance_m || (dist == b.distance_m && road32 < b.road)
                    })
                {
                    let (p0, p1) = (geom[seg], geom[seg + 1]);
                    let point = CoordE7::from_degrees(
                        p0.lon() + (p1.lon() - p0.lon()) * t,
                        p0.lat() + (p1.lat() - p0.lat()) * t,
                    );
                    let before: f64 = geom[..=seg]
                        .windows(2)
                        .map(|w| distance_m(w[0], w[1]))
                        .sum();
                    let along = before + distance_m(p0, p1) * t;
                    let total = g.road_length_m[road] as f64;
                    let fraction = if total > 0.0 {
                        (along / total).clamp(0.0, 1.0)
                    } else {
                        0.0
                    };
                    best = Some(Snapped {
                        road: road32,
                        ends: self.road_ends(g, road),
                        fraction,
                        point,
                        distance_m: dist,
                    });
                }
            }
        }
        best
    }
}

/// A road's end nodes and edges from the [`super::reach::edge_of_road`] table. Its forward edge
/// runs from its first node `a` to its last `b`, a backward edge from `b` to `a`: the ends are
/// the heads of its two edges, and `tail(edge)` is asked only for a one-way road.
fn ends_of(
    g: &RoadGraph,
    edge_of_road: &[u32],
    road: usize,
    tail: impl Fn(u32) -> u32,
) -> RoadEnds {
    let edge = |k: usize| Some(edge_of_road[2 * road + k]).filter(|&e| e != u32::MAX);
    let (forward, backward) = (edge(0), edge(1));
    let head = |e: u32| g.edges[e as usize].head;
    let (a, b) = match (forward, backward) {
        (Some(f), Some(k)) => (head(k), head(f)),
        (Some(f), None) => (tail(f), head(f)),
        (None, Some(k)) => (head(k), tail(k)),
        (None, None) => (u32::MAX, u32::MAX),
    };
    RoadEnds {
        a,
        b,
        forward,
        backward,
    }
}

/// Distance (m) from the projection centre to the nearest point of a polyline, with the segment
/// index and the position `t` (0..=1) on that segment.
fn nearest_on_polyline(proj: &LocalProjection, geom: &[CoordE7]) -> Option<(f64, usize, f64)> {
    let pts: Vec<(f64, f64)> = geom
        .iter()
        .map(|c| proj.forward(c.lon(), c.lat()))
        .collect();
    let mut best: Option<(f64, usize, f64)> = None;
    for (i, w) in pts.windows(2).enumerate() {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        let (dx, dy) = (x1 - x0, y1 - y0);
        let len2 = dx * dx + dy * dy;
        let t = if len2 > 0.0 {
            ((-x0 * dx - y0 * dy) / len2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let (px, py) = (x0 + t * dx, y0 + t * dy);
        let d = (px * px + py * py).sqrt();
        if best.is_none_or(|b| d < b.0) {
            best = Some((d, i, t));
        }
    }
    best
}
