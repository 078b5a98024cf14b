//! Ring utilities for planar polygons: nesting by containment depth, orientation, lossless
//! removal of collinear points.

use geo::{Area, BoundingRect, Contains, Coord, InteriorPoint, LineString, MultiPolygon, Polygon};
use rstar::{RTree, RTreeObject, AABB};

struct RingBox {
    aabb: AABB<[f64; 2]>,
    idx: usize,
}

impl RTreeObject for RingBox {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        self.aabb
    }
}

/// Rebuilds polygons from a set of closed, mutually non-crossing rings: a ring inside an even
/// number of others is an exterior, an odd number a hole of its smallest enclosing exterior.
/// Exteriors come out counter-clockwise, holes clockwise.
pub fn nest(rings: Vec<LineString<f64>>) -> MultiPolygon<f64> {
    let rings: Vec<LineString<f64>> = rings.into_iter().filter(|r| r.0.len() >= 4).collect();
    let polys: Vec<Polygon<f64>> = rings
        .iter()
        .map(|r| Polygon::new(r.clone(), vec![]))
        .collect();
    let areas: Vec<f64> = polys.iter().map(|p| p.unsigned_area()).collect();
    let boxes: Vec<RingBox> = polys
        .iter()
        .enumerate()
        .filter_map(|(idx, p)| {
            p.bounding_rect().map(|r| RingBox {
                aabb: AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                idx,
            })
        })
        .collect();
    let tree = RTree::bulk_load(boxes);
    let n = rings.len();
    let mut containers: Vec<Vec<usize>> = vec![Vec::new(); n];
    for i in 0..n {
        let Some(pt) = polys[i].interior_point() else {
            continue;
        };
        let p = [pt.x(), pt.y()];
        for cand in tree.locate_in_envelope_intersecting(&AABB::from_point(p)) {
            let j = cand.idx;
            if j != i && areas[j] > areas[i] && polys[j].contains(&pt) {
                containers[i].push(j);
            }
        }
    }
    let depth: Vec<usize> = containers.iter().map(Vec::len).collect();
    let mut out: Vec<Polygon<f64>> = Vec::new();
    let mut poly_of = vec![usize::MAX; n];
    for i in 0..n {
        if depth[i].is_multiple_of(2) {
            poly_of[i] = out.len();
            out.push(Polygon::new(oriented(&rings[i], true), vec![]));
        }
    }
    for i in 0..n {
        if !depth[i].is_multiple_of(2) {
            if let Some(&outer) = containers[i]
                .iter()
                .filter(|&&j| depth[j] + 1 == depth[i])
                .min_by(|&&a, &&b| areas[a].total_cmp(&areas[b]))
            {
                out[poly_of[outer]].interiors_push(oriented(&rings[i], false));
            }
        }
    }
    MultiPolygon(out)
}

/// Twice the signed area (positive when counter-clockwise).
pub fn twice_signed_area(r: &[Coord<f64>]) -> f64 {
    r.windows(2)
        .map(|w| w[0].x * w[1].y - w[1].x * w[0].y)
        .sum()
}

/// The ring, counter-clockwise when `ccw`, else clockwise.
pub fn oriented(r: &LineString<f64>, ccw: bool) -> LineString<f64> {
    if (twice_signed_area(&r.0) > 0.0) == ccw {
        r.clone()
    } else {
        LineString(r.0.iter().rev().copied().collect())
    }
}

/// [`oriented`] of a ring given by value: reversed in place when needed, never copied.
pub fn into_oriented(mut r: LineString<f64>, ccw: bool) -> LineString<f64> {
    if (twice_signed_area(&r.0) > 0.0) != ccw {
        r.0.reverse();
    }
    r
}

/// Removes repeated points and points exactly on the line through their neighbours (the long
/// straight runs marching squares leaves along grid rows). The shape does not change.
pub fn remove_collinear(r: &LineString<f64>) -> LineString<f64> {
    let mut pts: Vec<Coord<f64>> = Vec::with_capacity(r.0.len());
    for &c in &r.0 {
        if pts.last() != Some(&c) {
            pts.push(c);
        }
    }
    remove_collinear_deduped(pts)
}

/// Points of a ring from which the collinear pass runs on two threads ([`remove_collinear`]).
const PARALLEL_COLLINEAR_POINTS: usize = 16_384;

/// [`remove_collinear`] of points with no two consecutive ones equal. Each point is kept or
/// dropped by looking at its two neighbours only, so a long ring is filtered in pieces side by
/// side, with the same result.
pub fn remove_collinear_deduped(mut pts: Vec<Coord<f64>>) -> LineString<f64> {
    if pts.len() > 1 && pts.first() == pts.last() {
        pts.pop();
    }
    let n = pts.len();
    if n < 3 {
        return LineString(vec![]);
    }
    let kept = |i: usize| -> bool {
        let a = pts[(i + n - 1) % n];
        let b = pts[i];
        let c = pts[(i + 1) % n];
        let cross = (b.x - a.x) * (c.y - b.y) - (b.y - a.y) * (c.x - b.x);
        let scale =
            ((b.x - a.x).abs() + (b.y - a.y).abs()) * ((c.x - b.x).abs() + (c.y - b.y).abs());
        let dot = (b.x - a.x) * (c.x - b.x) + (b.y - a.y) * (c.y - b.y);
        !(cross.abs() <= 1e-12 * scale.max(1e-300) && dot > 0.0)
    };
    let mut keep: Vec<Coord<f64>> = if n >= PARALLEL_COLLINEAR_POINTS {
        let mid = n / 2;
        let half = |range: std::ops::Range<usize>| -> Vec<Coord<f64>> {
            range.filter(|&i| kept(i)).map(|i| pts[i]).collect()
        };
        let (mut a, b) = rayon::join(|| half(0..mid), || half(mid..n));
        a.reserve(b.len() + 1);
        a.extend_from_slice(&b);
        a
    } else {
        let mut keep = Vec::with_capacity(n + 1);
        keep.extend((0..n).filter(|&i| kept(i)).map(|i| pts[i]));
        keep
    };
    if keep.len() < 3 {
        return LineString(vec![]);
    }
    keep.push(keep[0]);
    LineString(keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Validation, Winding};

    fn sq(a: f64, b: f64) -> LineString<f64> {
        LineString::from(vec![(a, a), (a, b), (b, b), (b, a), (a, a)])
    }

    #[test]
    fn nesting_islands_in_holes() {
        let mp = nest(vec![
            sq(4.0, 6.0),
            sq(0.0, 10.0),
            sq(2.0, 8.0),
            sq(20.0, 30.0),
            sq(4.5, 5.5),
        ]);
        assert_eq!(mp.0.len(), 3);
        assert!(mp.is_valid());
        for p in &mp.0 {
            assert!(p.exterior().is_ccw());
            assert!(p.interiors().iter().all(|h| h.is_cw()));
        }
        let holes: usize = mp.0.iter().map(|p| p.interiors().len()).sum();
        assert_eq!(holes, 2);
        assert!((mp.unsigned_area() - (100.0 - 36.0 + 4.0 - 1.0 + 100.0)).abs() < 1e-9);
    }

    #[test]
    fn collinear_points_go_shape_stays() {
        let r = LineString::from(vec![
            (0.0, 0.0),
            (1.0, 0.0),
            (2.0, 0.0),
            (2.0, 1.0),
            (2.0, 2.0),
            (0.0, 2.0),
            (0.0, 1.0),
            (0.0, 0.0),
        ]);
        let s = remove_collinear(&r);
        assert_eq!(s.0.len(), 5);
        let a = Polygon::new(r, vec![]).unsigned_area();
        let b = Polygon::new(s, vec![]).unsigned_area();
        assert_eq!(a, b);
    }
}
