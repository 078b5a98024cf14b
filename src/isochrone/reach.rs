//! What a search reached, road by road.
//!
//! Every reached directed edge (and each origin's own road) becomes a [`Stretch`]: along one road,
//! time grows linearly from an anchor point in one direction. A road reached from both ends, or
//! from an origin in its middle, has several stretches; the travel time at a point of the road is
//! the minimum over them. Polygons, reached road length and the `--edges` output all read these,
//! so they agree with each other and with the search.

use super::search::SearchScratch;
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

/// The stretches a search reached within `limit` (s), sorted by road. Depart: edges leave
/// settled nodes (timed from the tail). Arrive: edges enter settled nodes (timed back from the
/// head). Plus each origin's own road, from the snapped point. Ferries included.
pub fn stretches(
    g: &RoadGraph,
    reverse: Option<&ReverseGraph>,
    snaps: &[(Snapped, u32)],
    direction: Direction,
    limit: f64,
    scratch: &SearchScratch,
) -> Vec<Stretch> {
    let mut out = Vec::with_capacity(scratch.settled.len() * 3);
    let mut push = |e: usize, node: u32, t: f64, from_tail: bool| {
        if t > limit {
            return;
        }
        let (road, rev) = g.edge_road(e);
        // The edge runs along the geometry unless reversed; timed from the tail it grows in the
        // edge's own direction, timed from the head against it.
        let along = !rev;
        let toward_end = if from_tail { along } else { !along };
        let tail_pos = if rev { 1.0 } else { 0.0 };
        out.push(Stretch {
            road: road as u32,
            anchor: if from_tail { tail_pos } else { 1.0 - tail_pos },
            toward_end,
            t_anchor: t,
            w: g.edges[e].time_ms as f64 / 1000.0,
            label: scratch.label(node).unwrap_or(0),
        });
    };
    match direction {
        Direction::Depart => {
            for &u in &scratch.settled {
                let t = scratch.time(u) as f64 / 1000.0;
                for e in g.out_range(u) {
                    push(e, u, t, true);
                }
            }
        }
        Direction::Arrive => {
            let r = reverse.expect("arrival searches need the reverse graph");
            for &v in &scratch.settled {
                let t = scratch.time(v) as f64 / 1000.0;
                for k in r.first_in[v as usize] as usize..r.first_in[v as usize + 1] as usize {
                    push(r.forward_edge[k] as usize, v, t, false);
                }
            }
        }
    }
    for (s, label) in snaps {
        // Depart: the forward edge carries us toward the road's end, the backward toward its
        // start. Arrive: points before the snapped point drive to it on the forward edge, points
        // after it on the backward edge.
        let edges = [
            (s.ends.forward, direction == Direction::Depart),
            (s.ends.backward, direction == Direction::Arrive),
        ];
        for (edge, toward_end) in edges {
            if let Some(e) = edge {
                out.push(Stretch {
                    road: s.road,
                    anchor: s.fraction,
                    toward_end,
                    t_anchor: 0.0,
                    w: g.edges[e as usize].time_ms as f64 / 1000.0,
                    label: *label,
                });
            }
        }
    }
    // Group by road, keeping the (deterministic) build order within a road: sort compact
    // (road, index) keys rather than the records themselves.
    let mut keys: Vec<u64> = out
        .iter()
        .enumerate()
        .map(|(i, s)| (s.road as u64) << 32 | i as u64)
        .collect();
    keys.sort_unstable();
    keys.into_iter()
        .map(|k| out[(k & 0xffff_ffff) as usize])
        .collect()
}

/// Groups of stretches by road (input sorted by road).
pub fn by_road(stretches: &[Stretch]) -> impl Iterator<Item = &[Stretch]> {
    stretches.chunk_by(|a, b| a.road == b.road)
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

/// Road length (km) reached within each limit (s), each road counted once.
pub fn reached_road_km(g: &RoadGraph, stretches: &[Stretch], limits: &[f64]) -> Vec<f64> {
    limits
        .iter()
        .map(|&limit| {
            let mut total_m = 0.0;
            let mut ivs = Vec::new();
            for group in by_road(stretches) {
                ivs.clear();
                ivs.extend(group.iter().filter_map(|s| s.interval(limit)));
                total_m += union_length(&mut ivs) * g.road_length_m[group[0].road as usize] as f64;
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
    }
}
