//! Polygon overlay: how much of each unit a polygon covers, and how two polygons overlap.
//! Only units whose bounding boxes meet the polygon are clipped (R-tree lookup), never all pairs.

use super::units::Units;
use crate::geom::area::multipolygon_km2;
use crate::geom::BBox;
use geo::{BooleanOps, BoundingRect, MultiPolygon};

/// The bounding box of a multipolygon (`None` when empty).
pub fn bbox_of(mp: &MultiPolygon<f64>) -> Option<BBox> {
    mp.bounding_rect().map(|r| BBox {
        min_lon: r.min().x,
        min_lat: r.min().y,
        max_lon: r.max().x,
        max_lat: r.max().y,
    })
}

/// A unit's part inside a polygon.
pub struct Covered {
    pub unit: usize,
    pub part: MultiPolygon<f64>,
    /// Geodesic area of the part, km².
    pub km2: f64,
    /// Share of the unit's area.
    pub share: f64,
}

/// Clips `polygon` against every unit whose box meets it; units left untouched are omitted.
pub fn coverage(polygon: &MultiPolygon<f64>, units: &Units) -> Vec<Covered> {
    let Some(bb) = bbox_of(polygon) else {
        return Vec::new();
    };
    units
        .candidates(&bb)
        .into_iter()
        .filter_map(|u| {
            let unit = &units.units[u];
            let part = polygon.intersection(&unit.polygon);
            let km2 = multipolygon_km2(&part);
            (km2 > 0.0).then(|| Covered {
                unit: u,
                share: if unit.area_km2 > 0.0 {
                    (km2 / unit.area_km2).min(1.0)
                } else {
                    0.0
                },
                part,
                km2,
            })
        })
        .collect()
}

/// The overlap of two polygons and its area (zero, not an error, when they are apart).
pub fn overlap(a: &MultiPolygon<f64>, b: &MultiPolygon<f64>) -> (MultiPolygon<f64>, f64) {
    match (bbox_of(a), bbox_of(b)) {
        (Some(x), Some(y)) if x.intersects(&y) => {
            let o = a.intersection(b);
            let km2 = multipolygon_km2(&o);
            (o, km2)
        }
        _ => (MultiPolygon(vec![]), 0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{polygon, Polygon};

    fn units_of(squares: &[(f64, f64, f64, f64)]) -> Units {
        let features: Vec<String> = squares
            .iter()
            .enumerate()
            .map(|(i, &(x0, y0, x1, y1))| {
                format!(
                    r#"{{"type":"Feature","properties":{{"name":"U{i}","code":"{i}"}},"geometry":{{"type":"Polygon","coordinates":[[[{x0},{y0}],[{x1},{y0}],[{x1},{y1}],[{x0},{y1}],[{x0},{y0}]]]}}}}"#
                )
            })
            .collect();
        let text = format!(
            r#"{{"type":"FeatureCollection","features":[{}]}}"#,
            features.join(",")
        );
        let dir = std::env::temp_dir().join(format!(
            "mr-overlay-{}-{}",
            std::process::id(),
            squares.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("u.geojson");
        std::fs::write(&p, text).unwrap();
        Units::from_geojson(&p, "name", "code", None).unwrap()
    }

    #[test]
    fn half_a_square_is_half() {
        let units = units_of(&[(10.0, 30.0, 10.2, 30.2)]);
        // The western half, split along a meridian: equal halves on the ellipsoid by symmetry.
        let west = MultiPolygon(vec![
            polygon![(x: 9.0, y: 29.0), (x: 10.1, y: 29.0), (x: 10.1, y: 31.0), (x: 9.0, y: 31.0)],
        ]);
        let c = coverage(&west, &units);
        assert_eq!(c.len(), 1);
        assert!((c[0].share - 0.5).abs() < 1e-6, "{}", c[0].share); // i_overlay snaps to an integer grid
    }

    #[test]
    fn disjoint_polygons_overlap_zero() {
        let a = MultiPolygon(vec![
            polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0), (x: 0.0, y: 1.0)],
        ]);
        let b = MultiPolygon(vec![
            polygon![(x: 2.0, y: 0.0), (x: 3.0, y: 0.0), (x: 3.0, y: 1.0), (x: 2.0, y: 1.0)],
        ]);
        let (o, km2) = overlap(&a, &b);
        assert_eq!(km2, 0.0);
        assert!(o.0.is_empty());
        // Touching boxes but disjoint shapes.
        let c = MultiPolygon(vec![
            polygon![(x: 0.5, y: 1.5), (x: 1.5, y: 0.5), (x: 1.5, y: 1.5)],
        ]);
        assert_eq!(overlap(&a, &c).1, 0.0);
    }

    #[test]
    fn coverage_over_a_partition_adds_up() {
        // A 2×2 tiling; an irregular polygon half outside it.
        let units = units_of(&[
            (0.0, 0.0, 0.1, 0.1),
            (0.1, 0.0, 0.2, 0.1),
            (0.0, 0.1, 0.1, 0.2),
            (0.1, 0.1, 0.2, 0.2),
        ]);
        let shape = MultiPolygon(vec![Polygon::new(
            vec![
                (0.05, -0.05),
                (0.3, 0.02),
                (0.17, 0.19),
                (0.02, 0.13),
                (0.05, -0.05),
            ]
            .into(),
            vec![vec![(0.09, 0.05), (0.12, 0.05), (0.12, 0.09), (0.09, 0.05)].into()],
        )]);
        let c = coverage(&shape, &units);
        let sum: f64 = c.iter().map(|x| x.km2).sum();
        let square = MultiPolygon(vec![
            polygon![(x: 0.0, y: 0.0), (x: 0.2, y: 0.0), (x: 0.2, y: 0.2), (x: 0.0, y: 0.2)],
        ]);
        let (_, inside) = overlap(&shape, &square);
        assert!((sum - inside).abs() / inside < 1e-6, "{sum} vs {inside}");
        assert!(c.iter().all(|x| x.share > 0.0 && x.share <= 1.0));
    }
}
