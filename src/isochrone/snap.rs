//! Snapping origins to the road network: the nearest point on a road's real geometry, found with
//! an R-tree (rstar 0.12, the version `geo` 0.33 uses) over road bounding boxes.
//!
//! Only roads both of whose end nodes lie in a core (large strongly connected) component are
//! candidates, so an origin never lands on a disconnected fragment or a one-way trap it could
//! not leave. Ferries are never snapped to.

use crate::geom::projection::LocalProjection;
use crate::geom::{distance_m, CoordE7, EARTH_RADIUS_M};
use crate::graph::{node_flags, RoadGraph};
use rstar::{PointDistance, RTree, RTreeObject, AABB};

/// The bounding box, in scaled degrees (`x = lon · k`, `y = lat`), of a small run of roads that
/// are consecutive in the graph's (Hilbert) order and so lie close together. Indexing runs of
/// [`ROADS_PER_BOX`] instead of single roads makes the tree that many times smaller and faster
/// to build; a query then checks each road of the runs it visits.
struct RoadBox {
    aabb: AABB<[f64; 2]>,
    /// Range into [`SnapIndex::roads`].
    first: u32,
    count: u32,
}

const ROADS_PER_BOX: usize = 8;

impl RTreeObject for RoadBox {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        self.aabb
    }
}

impl PointDistance for RoadBox {
    fn distance_2(&self, point: &[f64; 2]) -> f64 {
        self.aabb.distance_2(point)
    }
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

/// R-tree node sizes: wider nodes than rstar's default (6) bulk-load several times faster for
/// millions of roads, at a negligible cost for nearest-road queries.
pub struct WideNodes;

impl rstar::RTreeParams for WideNodes {
    const MIN_SIZE: usize = 8;
    const MAX_SIZE: usize = 24;
    const REINSERTION_COUNT: usize = 6;
    type DefaultInsertionStrategy = rstar::RStarInsertionStrategy;
}

/// Spatial index over the roads of a graph.
pub struct SnapIndex {
    /// R-trees over consecutive parts of the boxes, bulk-loaded in parallel; a query takes the
    /// best road over all of them (the same road whatever their number: see [`Self::nearest`]).
    trees: Vec<RTree<RoadBox, WideNodes>>,
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

        let tails = g.edge_tails();
        let core = |n: u32| n != u32::MAX && g.node_flags[n as usize] & node_flags::CORE != 0;
        let roads: Vec<u32> = (0..g.num_roads() as u32)
            .into_par_iter()
            .filter(|&r| {
                let ends = ends_of(g, &edge_of_road, r as usize, |e| tails[e as usize]);
                !g.is_ferry(r as usize) && core(ends.a) && core(ends.b)
            })
            .collect();
        drop(tails);
        let boxes: Vec<RoadBox> = roads
            .par_chunks(ROADS_PER_BOX)
            .enumerate()
            .map(|(k, chunk)| {
                let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
                for &r in chunk {
                    for c in g.road_geometry(r as usize) {
                        let p = [c.lon() * kx, c.lat()];
                        lo = [lo[0].min(p[0]), lo[1].min(p[1])];
                        hi = [hi[0].max(p[0]), hi[1].max(p[1])];
                    }
                }
                RoadBox {
                    aabb: AABB::from_corners(lo, hi),
                    first: (k * ROADS_PER_BOX) as u32,
                    count: chunk.len() as u32,
                }
            })
            .collect();
        let per_tree = boxes
            .len()
            .div_ceil(rayon::current_num_threads().max(1))
            .max(1);
        let mut parts: Vec<Vec<RoadBox>> = Vec::new();
        let mut boxes = boxes.into_iter().peekable();
        while boxes.peek().is_some() {
            parts.push(boxes.by_ref().take(per_tree).collect());
        }
        let trees = parts
            .into_par_iter()
            .map(RTree::bulk_load_with_params)
            .collect();
        SnapIndex {
            trees,
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
        // The best road of all trees (distance, then road id): which tree holds it, and in which
        // order they are searched, does not matter.
        for tree in &self.trees {
            for (rb, d2) in tree.nearest_neighbor_iter_with_distance_2(&q) {
                let lower_bound_m = d2.sqrt() * self.metres_per_scaled_deg;
                let bound = best.map(|b| b.distance_m).unwrap_or(max_m);
                if lower_bound_m > bound {
                    break; // boxes come nearest first: nothing closer in this tree
                }
                for &road32 in &self.roads[rb.first as usize..(rb.first + rb.count) as usize] {
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
