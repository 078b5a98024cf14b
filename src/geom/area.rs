//! Geodesic areas (on the WGS-84 ellipsoid, Karney's method via `geo::GeodesicArea`).

use geo::{GeodesicArea, MultiPolygon, Polygon};

/// Area of a lon/lat polygon in km², on the ellipsoid.
pub fn polygon_km2(p: &Polygon<f64>) -> f64 {
    p.geodesic_area_unsigned() / 1e6
}

/// Area of a lon/lat multipolygon in km², on the ellipsoid (parts assumed not to overlap).
pub fn multipolygon_km2(mp: &MultiPolygon<f64>) -> f64 {
    mp.0.iter().map(polygon_km2).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;

    #[test]
    fn one_degree_square_at_equator() {
        // A 1°×1° cell at the equator is 12,308.8 km² on WGS-84.
        let p = polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0), (x: 0.0, y: 1.0)];
        let a = polygon_km2(&p);
        assert!((a - 12_308.8).abs() < 1.0, "{a}");
    }
}
