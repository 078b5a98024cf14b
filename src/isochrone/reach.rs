//! What a search reached, road by road.
//!
//! Every reached directed edge (and each origin's own road) becomes a [`Stretch`]: along one road,
//! time grows linearly from an anchor point in one direction. A road reached from both ends, or
//! from an origin in its middle, has several stretches; the travel time at a point of the road is
//! the minimum over them. Polygons, reached road length and the `--edges` output all read these,
//! so they agree with each other and with the search.

use super::search::{SearchScratch, INF};
use super::snap::Snapped;
use super::Direction;
use crate::geom::{distance_m, locate_along, CoordE7};
use crate::graph::{ReverseGraph, RoadGraph};

/// A reached part of a road: time grows linearly from `anchor` toward one end of the road.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stretch {
    pub road: u32,
    /// Position (share of the road's length from its first node) where the stretch starts.
    pub anchor: f64,
    /// Whether it runs toward the road's last node (else toward its first).
    pub toward_end: bool,
    /// Time (s) at the anchor, and for the road's full length.
    pub t_anchor: f64,
    pub w: f64,
    /// Label (source) of the search that reached it.
    pub label: u32,
}

impl Stretch {
    /// Reached interval `[lo, hi]` of road positions within `limit` seconds (empty if none).
    pub fn interval(&self, limit: f64) -> Option<(f64, f64)> {
        if self.t_anchor > limit {
            return None;
        }
        let reach = if self.w > 0.0 {
            (limit - self.t_anchor) / self.w
        } else {
            1.0
        };
        Some(if self.toward_end {
            (self.anchor, (self.anchor + reach).min(1.0))
        } else {
            ((self.anchor - reach).max(0.0), self.anchor)
        })
    }
    /// Time at road position `s` along this stretch (`None` if `s` is behind the anchor).
    #[inline]
    pub fn time_at(&self, s: f64) -> Option<f64> {
        let d = if self.toward_end {
            s - self.anchor
        } else {
            self.anchor - s
        };
        (d >= -1e-12).then(|| self.t_anchor + d.max(0.0) * self.w)
    }
    /// The time along the stretch as `c0 + c1·s` for road positions `s` on its side of the
    /// anchor.
    #[inline]
    pub fn linear(&self) -> (f64, f64) {
        if self.toward_end {
            (self.t_anchor - self.anchor * self.w, self.w)
        } else {
            (self.t_anchor + self.anchor * self.w, -self.w)
        }
    }
    /// Position where the stretch ends within `limit` (the cut point, or the road's end).
    pub fn end(&self, limit: f64) -> f64 {
        match self.interval(limit) {
            Some((lo, hi)) => {
                if self.toward_end {
                    hi
                } else {
                    lo
                }
            }
            None => self.anchor,
        }
    }
}

/// Marks roads already visited by one pass (generation stamps: no clearing between passes).
#[derive(Default)]
pub struct RoadMarks {
    stamp: Vec<u32>,
    generation: u32,
}

impl RoadMarks {
    /// Starts a pass over a graph with `num_roads` roads.
    pub fn begin(&mut self, num_roads: usize) {
        if self.stamp.len() != num_roads {
            self.stamp = vec![0; num_roads];
            self.generation = 0;
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamp.fill(0);
            self.generation = 1;
        }
    }
    /// Whether this is the pass's first visit of `road` (and marks it).
    #[inline]
    pub fn first_visit(&mut self, road: usize) -> bool {
        let fresh = self.stamp[road] != self.generation;
        self.stamp[road] = self.generation;
        fresh
    }
}

/// The stretches a search reached within `limit` (s), grouped by road (roads in a deterministic
/// order: the origins' roads, then by the settled nodes in ascending id; not sorted by road id).
/// Depart: edges leave settled nodes (timed from the tail). Arrive: edges enter settled nodes
/// (timed back from the head). Plus each origin's own road, from the snapped point. Ferries
/// included.
///
/// A road is visited once, from the first settled node that meets it: its stretches (one per
/// direction whose timing end was reached) come out together, so grouping needs no sort.
pub fn stretches(
    g: &RoadGraph,
    reverse: Option<&ReverseGraph>,
    snaps: &[(Snapped, u32)],
    direction: Direction,
    limit: f64,
    scratch: &SearchScratch,
    edge_of_road: &[u32],
) -> Vec<Stretch> {
    let (mut nodes, mut tmp) = (Vec::new(), Vec::new());
    sorted_ids(&scratch.settled, &mut nodes, &mut tmp);
    let mut out = Vec::with_capacity(scratch.settled.len() * 2 + 2 * snaps.len());
    for_each_road(
        g,
        reverse,
        &Reach {
            snaps,
            direction,
            limit,
            scratch,
            nodes: &nodes,
            edge_of_road,
        },
        Visits::Marked(&mut RoadMarks::default()),
        &mut Vec::new(),
        |group| out.extend_from_slice(group),
    );
    out
}

/// `ids` in ascending order, into `out` (`tmp` is scratch space): a least-significant-digit
/// radix sort, 11 bits a pass, linear in the number of ids.
///
/// Settled nodes come in order of time, scattered over the graph's arrays; visited in id order
/// (the import numbers nodes along a Hilbert curve, and roads and geometry follow) their edges,
/// roads and shapes are read in memory order, which on a province graph saves cache and TLB
/// misses.
pub fn sorted_ids(ids: &[u32], out: &mut Vec<u32>, tmp: &mut Vec<u32>) {
    out.clear();
    out.extend_from_slice(ids);
    tmp.clear();
    tmp.resize(ids.len(), 0);
    let max = ids.iter().copied().max().unwrap_or(0);
    let mut shift = 0;
    while shift < 32 && (shift == 0 || max >> shift != 0) {
        let mut count = [0usize; 2049];
        for &x in out.iter() {
            count[((x >> shift) & 0x7ff) as usize + 1] += 1;
        }
        for d in 0..2048 {
            count[d + 1] += count[d];
        }
        for &x in out.iter() {
            let d = ((x >> shift) & 0x7ff) as usize;
            tmp[count[d]] = x;
            count[d] += 1;
        }
        std::mem::swap(out, tmp);
        shift += 11;
    }
}

/// What a search reached, as [`for_each_road`] reads it.
pub struct Reach<'a> {
    pub snaps: &'a [(Snapped, u32)],
    pub direction: Direction,
    /// Seconds.
    pub limit: f64,
    pub scratch: &'a SearchScratch,
    /// The settled nodes in the order their roads are visited (ascending ids: [`sorted_ids`]).
    pub nodes: &'a [u32],
    /// The graph's [`edge_of_road`] table (kept by the engine's snap index): a road's edge in
    /// the other direction is one lookup.
    pub edge_of_road: &'a [u32],
}

/// The edge of every road and direction: entry `road << 1 | reversed` (as in
/// `RoadGraph::edge_road`) is that edge's index, `u32::MAX` where the road has no edge that way
/// (one-way roads).
pub fn edge_of_road(g: &RoadGraph) -> Vec<u32> {
    let mut table = vec![u32::MAX; 2 * g.num_roads()];
    for (e, &v) in g.edge_road.iter().enumerate() {
        table[v as usize] = e as u32;
    }
    table
}

/// Which roads a pass over some settled nodes visits (each reached road exactly once).
pub enum Visits<'m> {
    /// The origins' roads, then each road at the first node of the pass that meets it, recorded
    /// in `marks` (the plain way, for one pass over all settled nodes).
    Marked(&'m mut RoadMarks),
    /// Each road at its first settled end in ascending id (loops: from their first edge there),
    /// decided from the search's times alone, so that passes over disjoint parts of the settled
    /// nodes split the roads between them: together they visit exactly the roads, stretches and
    /// order of one [`Visits::Marked`] pass. `with_origins` adds the origins' roads (first), which
    /// are left out of every node's visits.
    Split { with_origins: bool },
}

/// Calls `visit` once per reached road with its stretches, in the order of [`stretches`],
/// without collecting them all: `group` holds one road's stretches at a time. `visits` says how
/// roads met twice are recognised (and whether the origins' roads are part of this pass).
pub fn for_each_road(
    g: &RoadGraph,
    reverse: Option<&ReverseGraph>,
    reach: &Reach,
    mut visits: Visits,
    group: &mut Vec<Stretch>,
    mut visit: impl FnMut(&[Stretch]),
) {
    let Reach {
        snaps,
        direction,
        limit,
        scratch,
        nodes,
        edge_of_road,
    } = *reach;
    let with_origins = match &mut visits {
        Visits::Marked(marks) => {
            marks.begin(g.num_roads());
            true
        }
        Visits::Split { with_origins } => *with_origins,
    };
    let depart = direction == Direction::Depart;
    // The stretch of edge `e` (from `tail` to `head`) if its timing end was reached in time.
    let push_edge = |out: &mut Vec<Stretch>, e: usize, tail: u32, head: u32| {
        let node = if depart { tail } else { head };
        let t_ms = scratch.time(node);
        if t_ms == INF {
            return;
        }
        let t = t_ms as f64 / 1000.0;
        if t > limit {
            return;
        }
        let (road, rev) = g.edge_road(e);
        // The edge runs along the geometry unless reversed; timed from the tail it grows in the
        // edge's own direction, timed from the head against it.
        let tail_pos = if rev { 1.0 } else { 0.0 };
        out.push(Stretch {
            road: road as u32,
            anchor: if depart { tail_pos } else { 1.0 - tail_pos },
            toward_end: if depart { !rev } else { rev },
            t_anchor: t,
            w: g.edges[e].time_ms as f64 / 1000.0,
            label: scratch.label(node).unwrap_or(0),
        });
    };
    if with_origins {
        for (i, (s, _)) in snaps.iter().enumerate() {
            // Several origins may share a road: it is visited at the first of them.
            let seen = match &mut visits {
                Visits::Marked(marks) => !marks.first_visit(s.road as usize),
                Visits::Split { .. } => snaps[..i].iter().any(|(s2, _)| s2.road == s.road),
            };
            if seen {
                continue;
            }
            group.clear();
            // Every origin on this road, from its snapped point. Depart: the forward edge
            // carries us toward the road's end, the backward toward its start. Arrive: points
            // before the snapped point drive to it on the forward edge, points after it on the
            // backward edge.
            for (s2, label) in snaps[i..].iter().filter(|(s2, _)| s2.road == s.road) {
                let edges = [(s2.ends.forward, depart), (s2.ends.backward, !depart)];
                for (edge, toward_end) in edges {
                    if let Some(e) = edge {
                        group.push(Stretch {
                            road: s2.road,
                            anchor: s2.fraction,
                            toward_end,
                            t_anchor: 0.0,
                            w: g.edges[e as usize].time_ms as f64 / 1000.0,
                            label: *label,
                        });
                    }
                }
            }
            // The road's own edges, timed from its ends.
            if let Some(fe) = s.ends.forward {
                push_edge(group, fe as usize, s.ends.a, s.ends.b);
            }
            if let Some(be) = s.ends.backward {
                push_edge(group, be as usize, s.ends.b, s.ends.a);
            }
            if !group.is_empty() {
                visit(group);
            }
        }
    }
    // Whether edge `e`, met at settled node `at` (its tail departing, its head arriving), is the
    // road's first visit. `other` is the road's other end.
    let mut first_visit = |e: usize, at: u32, other: u32| -> bool {
        match &mut visits {
            Visits::Marked(marks) => marks.first_visit(g.edge_road(e).0),
            Visits::Split { .. } => {
                let p = edge_of_road[(g.edge_road[e] ^ 1) as usize];
                let first_end = if p == u32::MAX {
                    true // one-way: met at one node only
                } else if other == at {
                    e < p as usize // a loop meets its node by both edges, in ascending order
                } else {
                    // The road's other edge is met at `other`: first if settled and smaller.
                    !(other < at && scratch.time(other) != INF)
                };
                // An origin's road is visited with the origins (asked last: it scans them).
                first_end
                    && !snaps
                        .iter()
                        .any(|(s, _)| s.road as usize == g.edge_road(e).0)
            }
        }
    };
    // Edge `e` from `tail` to `head`, then the road's edge the other way, if it has one.
    let mut road = |e: usize, tail: u32, head: u32| {
        group.clear();
        push_edge(group, e, tail, head);
        let opposite = g.edge_road[e] ^ 1;
        let p = edge_of_road[opposite as usize];
        if p != u32::MAX {
            push_edge(group, p as usize, head, tail);
        }
        if !group.is_empty() {
            visit(group);
        }
    };
    match direction {
        Direction::Depart => {
            for &u in nodes {
                for e in g.out_range(u) {
                    let head = g.edges[e].head;
                    if first_visit(e, u, head) {
                        road(e, u, head);
                    }
                }
            }
        }
        Direction::Arrive => {
            let r = reverse.expect("arrival searches need the reverse graph");
            for &v in nodes {
                for k in r.first_in[v as usize] as usize..r.first_in[v as usize + 1] as usize {
                    let e = r.forward_edge[k] as usize;
                    let tail = r.edges[k].head;
                    if first_visit(e, v, tail) {
                        road(e, tail, v);
                    }
                }
            }
        }
    }
}

/// Sorts stretches by road, keeping each road's order (for lookups by road).
pub fn sort_by_road(stretches: &mut [Stretch]) {
    stretches.sort_by_key(|s| s.road);
}

/// Groups of stretches by road (input grouped by road, as [`stretches`] gives it).
pub fn by_road(stretches: &[Stretch]) -> impl Iterator<Item = &[Stretch]> {
    stretches.chunk_by(|a, b| a.road == b.road)
}

/// Share of a road (one group of stretches) reached within `limit`: the length of the union of
/// the stretches' intervals. `ivs` is scratch space.
pub fn reached_share(group: &[Stretch], limit: f64, ivs: &mut Vec<(f64, f64)>) -> f64 {
    match group {
        // Most roads have one or two stretches: no sorting for those.
        [a] => a.interval(limit).map_or(0.0, |(lo, hi)| hi - lo),
        [a, b] => match (a.interval(limit), b.interval(limit)) {
            (Some((a0, a1)), Some((b0, b1))) if a0 <= b1 && b0 <= a1 => a1.max(b1) - a0.min(b0),
            (Some((a0, a1)), Some((b0, b1))) => (a1 - a0) + (b1 - b0),
            (Some((lo, hi)), None) | (None, Some((lo, hi))) => hi - lo,
            (None, None) => 0.0,
        },
        _ => {
            ivs.clear();
            ivs.extend(group.iter().filter_map(|s| s.interval(limit)));
            union_length(ivs)
        }
    }
}

/// Length of the union of intervals (each within [0, 1]).
pub fn union_length(ivs: &mut [(f64, f64)]) -> f64 {
    ivs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut total = 0.0;
    let mut cur: Option<(f64, f64)> = None;
    for &(a, b) in ivs.iter() {
        let (a, b) = (a.clamp(0.0, 1.0), b.clamp(0.0, 1.0));
        if b <= a {
            continue;
        }
        match cur {
            Some((ca, cb)) if a <= cb => cur = Some((ca, cb.max(b))),
            Some((ca, cb)) => {
                total += cb - ca;
                cur = Some((a, b));
            }
            None => cur = Some((a, b)),
        }
    }
    if let Some((ca, cb)) = cur {
        total += cb - ca;
    }
    total
}

/// Road length (km) reached within each limit (s), each road counted once, from a list of
/// stretches. Circles sum the same in their sampling pass ([`super::stamp::RoadSampler`]); this
/// separate pass is the reference `tests/circles_real.rs` checks that sum against.
pub fn reached_road_km(g: &RoadGraph, stretches: &[Stretch], limits: &[f64]) -> Vec<f64> {
    limits
        .iter()
        .map(|&limit| {
            let mut total_m = 0.0;
            let mut ivs = Vec::new();
            for group in by_road(stretches) {
                let share = reached_share(group, limit, &mut ivs);
                total_m += share * g.road_length_m[group[0].road as usize] as f64;
            }
            total_m / 1000.0
        })
        .collect()
}

/// The part of a polyline from position `s0` to `s1` (shares of its length) reached within
/// `limit`, with time linear from `t0` to `t1`: lon/lat points, the time at the last point, and
/// whether the whole stretch was reached.
pub fn cut_polyline(
    geom: &[CoordE7],
    s0: f64,
    s1: f64,
    t0: f64,
    t1: f64,
    limit: f64,
) -> (Vec<[f64; 2]>, f64, bool) {
    let mut cum = vec![0.0];
    for w in geom.windows(2) {
        let last = *cum.last().unwrap_or(&0.0);
        cum.push(last + distance_m(w[0], w[1]));
    }
    let total = *cum.last().unwrap_or(&0.0);
    let (d0, d1_full) = (s0 * total, s1 * total);
    let full = t1 <= limit;
    let d1 = if full || t1 == t0 {
        d1_full
    } else {
        d0 + (d1_full - d0) * ((limit - t0) / (t1 - t0))
    };
    let at = |d: f64| -> [f64; 2] {
        let (i, f) = locate_along(&cum, d);
        let (a, b) = (geom[i - 1], geom[i]);
        [
            a.lon() + (b.lon() - a.lon()) * f,
            a.lat() + (b.lat() - a.lat()) * f,
        ]
    };
    let (lo, hi) = if d0 <= d1 { (d0, d1) } else { (d1, d0) };
    let mut pts = vec![at(d0)];
    let inner: Vec<usize> = (0..cum.len())
        .filter(|&i| cum[i] > lo && cum[i] < hi)
        .collect();
    if d0 <= d1 {
        pts.extend(inner.iter().map(|&i| [geom[i].lon(), geom[i].lat()]));
    } else {
        pts.extend(inner.iter().rev().map(|&i| [geom[i].lon(), geom[i].lat()]));
    }
    pts.push(at(d1));
    pts.dedup();
    (pts, if full { t1 } else { limit }, full)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The radix sort agrees with the standard sort, for small and full-width ids.
        #[test]
        fn sorted_ids_matches_sort(ids in proptest::collection::vec(any::<u32>(), 0..500), small in any::<bool>()) {
            let ids: Vec<u32> = if small { ids.iter().map(|x| x % 5000).collect() } else { ids };
            let (mut out, mut tmp) = (vec![7], vec![9, 9]);
            sorted_ids(&ids, &mut out, &mut tmp);
            let mut expected = ids.clone();
            expected.sort_unstable();
            prop_assert_eq!(out, expected);
        }
    }

    #[test]
    fn interval_union() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(union_length(&mut [(0.0, 0.3), (0.7, 1.0)]), 0.6));
        assert!(close(union_length(&mut [(0.0, 0.6), (0.5, 1.0)]), 1.0));
        assert!(close(
            union_length(&mut [(0.0, 0.0), (1.0, 1.0), (0.2, 0.4)]),
            0.2
        ));
        assert!(close(
            union_length(&mut [(0.1, 0.5), (0.2, 0.3), (0.4, 0.9)]),
            0.8
        ));
    }

    #[test]
    fn reached_share_is_the_union_length() {
        let mut rng = crate::testing::XorShift(0x9e37_79b9_7f4a_7c15);
        let mut unit = || rng.unit();
        let mut ivs = Vec::new();
        for _ in 0..20_000 {
            let n = 1 + (unit() * 3.0) as usize;
            let group: Vec<Stretch> = (0..n)
                .map(|_| Stretch {
                    road: 0,
                    anchor: if unit() < 0.3 {
                        (unit() * 2.0).floor()
                    } else {
                        unit()
                    },
                    toward_end: unit() < 0.5,
                    t_anchor: unit() * 100.0,
                    w: unit() * 200.0,
                    label: 0,
                })
                .collect();
            let limit = 50.0 + unit() * 100.0;
            let mut all: Vec<(f64, f64)> = group.iter().filter_map(|s| s.interval(limit)).collect();
            let expect = union_length(&mut all);
            let got = reached_share(&group, limit, &mut ivs);
            assert!(
                (got - expect).abs() < 1e-12,
                "{group:?} at {limit}: {got} vs {expect}"
            );
        }
    }

    #[test]
    fn stretch_geometry() {
        let s = Stretch {
            road: 0,
            anchor: 0.2,
            toward_end: true,
            t_anchor: 10.0,
            w: 100.0,
            label: 0,
        };
        assert_eq!(s.interval(50.0), Some((0.2, 0.6000000000000001)));
        assert_eq!(s.time_at(0.5), Some(40.0));
        assert_eq!(s.time_at(0.1), None);
        assert_eq!(s.interval(5.0), None);
        let b = Stretch {
            toward_end: false,
            ..s
        };
        assert_eq!(b.interval(1000.0), Some((0.0, 0.2)));
        assert_eq!(b.time_at(0.0), Some(30.0));
        for st in [s, b] {
            let (c0, c1) = st.linear();
            for pos in [0.0, 0.2, 0.5] {
                if let Some(t) = st.time_at(pos) {
                    assert!((c0 + c1 * pos - t).abs() < 1e-9);
                }
            }
        }
    }
}
