//! Fast point-in-polygon and boundary queries for big lon/lat polygons (commute circles have
//! thousands of vertices and holes): an R-tree over boundary segments in local metres.

use super::projection::LocalProjection;
use geo::{BoundingRect, MultiPolygon};
use rstar::primitives::{GeomWithData, Line};
use rstar::{RTree, AABB};

/// A prepared multipolygon.
pub struct PolyIndex {
    pub proj: LocalProjection,
    tree: RTree<GeomWithData<Line<[f64; 2]>, ()>>,
    max_x: f64,
    bbox: Option<geo::Rect<f64>>,
}

impl PolyIndex {
    /// Prepares a lon/lat multipolygon, projecting around its bounding-box centre.
    pub fn new(mp: &MultiPolygon<f64>) -> PolyIndex {
        let bbox = mp.bounding_rect();
        let (lon0, lat0) = bbox
            .map(|r| (r.center().x, r.center().y))
            .unwrap_or((0.0, 0.0));
        PolyIndex::with_projection(mp, LocalProjection::new(lon0, lat0))
    }

    pub fn with_projection(mp: &MultiPolygon<f64>, proj: LocalProjection) -> PolyIndex {
        let mut segs = Vec::new();
        let mut max_x = f64::MIN;
        for p in &mp.0 {
            for ring in std::iter::once(p.exterior()).chain(p.interiors()) {
                for w in ring.0.windows(2) {
                    let a = proj.forward(w[0].x, w[0].y);
                    let b = proj.forward(w[1].x, w[1].y);
                    max_x = max_x.max(a.0).max(b.0);
                    segs.push(GeomWithData::new(Line::new([a.0, a.1], [b.0, b.1]), ()));
                }
            }
        }
        PolyIndex {
            proj,
            tree: RTree::bulk_load(segs),
            max_x,
            bbox: mp.bounding_rect(),
        }
    }

    /// Even-odd containment of a lon/lat point.
    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        if let Some(b) = self.bbox {
            if lon < b.min().x || lon > b.max().x || lat < b.min().y || lat > b.max().y {
                return false;
            }
        }
        let (x, y) = self.proj.forward(lon, lat);
        if x > self.max_x {
            return false;
        }
        let env = AABB::from_corners([x, y], [self.max_x + 1.0, y]);
        let mut inside = false;
        for s in self.tree.locate_in_envelope_intersecting(&env) {
            let (a, b) = (s.geom().from, s.geom().to);
            if (a[1] > y) != (b[1] > y) {
                let xi = a[0] + (y - a[1]) / (b[1] - a[1]) * (b[0] - a[0]);
                if xi > x {
                    inside = !inside;
                }
            }
        }
        inside
    }

    /// Distance (m) from a lon/lat point to the polygon's boundary.
    pub fn boundary_distance(&self, lon: f64, lat: f64) -> f64 {
        let (x, y) = self.proj.forward(lon, lat);
        self.tree
            .nearest_neighbor(&[x, y])
            .map(|s| rstar::PointDistance::distance_2(s.geom(), &[x, y]).sqrt())
            .unwrap_or(f64::INFINITY)
    }

    /// Whether any boundary segment meets the lon/lat box (then the box is partly inside).
    pub fn boundary_meets(&self, min_lon: f64, min_lat: f64, max_lon: f64, max_lat: f64) -> bool {
        let a = self.proj.forward(min_lon, min_lat);
        let b = self.proj.forward(max_lon, max_lat);
        let env = AABB::from_corners([a.0, a.1], [b.0, b.1]);
        self.tree.locate_in_envelope_intersecting(&env).any(|s| {
            let (p, q) = (s.geom().from, s.geom().to);
            segment_meets_box(p, q, [a.0, a.1], [b.0, b.1])
        })
    }
}

/// Liang–Barsky clip test: does segment p–q touch the axis-aligned box lo–hi?
fn segment_meets_box(p: [f64; 2], q: [f64; 2], lo: [f64; 2], hi: [f64; 2]) -> bool {
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    let d = [q[0] - p[0], q[1] - p[1]];
    for k in 0..2 {
        if d[k] == 0.0 {
            if p[k] < lo[k] || p[k] > hi[k] {
                return false;
            }
        } else {
            let (mut a, mut b) = ((lo[k] - p[k]) / d[k], (hi[k] - p[k]) / d[k]);
            if a > b {
                std::mem::swap(&mut a, &mut b);
            }
            t0 = t0.max(a);
            t1 = t1.min(b);
            if t0 > t1 {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;

    #[test]
    fn containment_with_holes_and_boundary_queries() {
        let p = polygon!(
            exterior: [(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0), (x: 0.0, y: 1.0)],
            interiors: [[(x: 0.4, y: 0.4), (x: 0.6, y: 0.4), (x: 0.6, y: 0.6), (x: 0.4, y: 0.6)]],
        );
        let idx = PolyIndex::new(&MultiPolygon(vec![p]));
        assert!(idx.contains(0.2, 0.2));
        assert!(!idx.contains(0.5, 0.5));
        assert!(!idx.contains(1.5, 0.5));
        assert!(idx.boundary_meets(0.35, 0.35, 0.45, 0.45));
        assert!(!idx.boundary_meets(0.1, 0.1, 0.2, 0.2));
        let d = idx.boundary_distance(0.5, 0.5);
        assert!((d - 0.1 * 111_195.0).abs() < 200.0, "{d}");
    }
}
