//! Areas on the WGS-84 ellipsoid.
//!
//! [`multipolygon_km2`] projects to the authalic sphere (authalic latitude β, cylindrical
//! equal-area) and sums planar shoelace areas: exact on the ellipsoid for the projected polygon,
//! and within 1e-6 of the geodesic-edged polygon for the short edges of grid contours and unit
//! boundaries (checked against Karney's geodesic area, `geo::GeodesicArea`, in the tests). It
//! costs one sine per vertex instead of an inverse geodesic problem per edge.

use super::sin_lat;
use geo::{GeodesicArea, LineString, MultiPolygon, Polygon};

const A: f64 = 6_378_137.0;
const F: f64 = 1.0 / 298.257_223_563;

/// WGS-84's first eccentricity squared.
const E2: f64 = F * (2.0 - F);

/// Snyder's `q(φ) = (1 − e²)·(sin φ / (1 − e² sin²φ) + atanh(e sin φ) / e)` (eq. 3-12), from
/// `sinphi`. `e·sin φ` is at most 0.082, so `atanh(x)/x = Σ x^2k / (2k + 1)` converges fast:
/// nine terms leave a relative error below 1e-20, and there is no logarithm to call per vertex.
#[inline]
fn q(sinphi: f64) -> f64 {
    let x2 = E2 * sinphi * sinphi;
    // Horner's scheme in x², from the smallest term up.
    let mut series = 1.0 / 17.0;
    for k in (0..8).rev() {
        series = series * x2 + 1.0 / (2 * k + 1) as f64;
    }
    (1.0 - E2) * sinphi * (1.0 / (1.0 - x2) + series)
}

/// Area (m²) of one lon/lat ring, on the ellipsoid (unsigned).
pub fn ring_area_m2(r: &LineString<f64>) -> f64 {
    // Cylindrical equal-area (Snyder 1987, eq. 3-12 and 10-15): y = A·q/2, x = A·λ, so the
    // planar area in (λ, q) units times A²/2 is the area on the ellipsoid.
    let mut sum = 0.0;
    let pts = &r.0;
    if pts.len() < 3 {
        return 0.0;
    }
    let mut prev = pts[pts.len() - 1];
    let mut prev_q = q(sin_lat(prev.y.to_radians()));
    for p in pts {
        let pq = q(sin_lat(p.y.to_radians()));
        sum += (p.x - prev.x).to_radians() * (pq + prev_q);
        prev = *p;
        prev_q = pq;
    }
    // Shoelace (trapezoids): area = A²/2 · |Σ Δλ (q_i + q_{i−1}) / 2|.
    (A * A / 2.0 * sum / 2.0).abs()
}

fn polygon_m2(p: &Polygon<f64>) -> f64 {
    polygon_m2_of_rings(
        ring_area_m2(p.exterior()),
        p.interiors().iter().map(ring_area_m2),
    )
}

/// A polygon's area (m²) from its rings' areas ([`ring_area_m2`]): every caller adds them up in
/// this order, so a multipolygon's area is the same to the last bit however it was measured.
pub fn polygon_m2_of_rings(exterior_m2: f64, holes_m2: impl Iterator<Item = f64>) -> f64 {
    (exterior_m2 - holes_m2.sum::<f64>()).max(0.0)
}

/// Area of a lon/lat polygon in km², on the ellipsoid.
pub fn polygon_km2(p: &Polygon<f64>) -> f64 {
    polygon_m2(p) / 1e6
}

/// Area of a lon/lat multipolygon in km², on the ellipsoid (parts assumed not to overlap).
pub fn multipolygon_km2(mp: &MultiPolygon<f64>) -> f64 {
    let points: usize = rings(mp).map(|r| r.0.len()).sum();
    if points < PARALLEL_AREA_POINTS {
        return mp.0.iter().map(polygon_m2).sum::<f64>() / 1e6;
    }
    // Ring areas on several threads, then added up in the order of the line above (the same
    // sum to the last bit).
    use rayon::prelude::*;
    let rings: Vec<&LineString<f64>> = rings(mp).collect();
    let areas: Vec<f64> = rings.par_iter().map(|r| ring_area_m2(r)).collect();
    let mut k = 0;
    mp.0.iter()
        .map(|p| {
            let n = p.interiors().len();
            let (ext, holes) = (areas[k], &areas[k + 1..k + 1 + n]);
            k += 1 + n;
            polygon_m2_of_rings(ext, holes.iter().copied())
        })
        .sum::<f64>()
        / 1e6
}

/// Every ring of `mp`: each polygon's exterior, then its holes.
fn rings(mp: &MultiPolygon<f64>) -> impl Iterator<Item = &LineString<f64>> {
    mp.0.iter()
        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
}

/// Fewest points for which a multipolygon's rings are measured on several threads.
const PARALLEL_AREA_POINTS: usize = 4096;

/// Karney's geodesic area (km²): the reference the fast method is checked against.
pub fn geodesic_km2(mp: &MultiPolygon<f64>) -> f64 {
    mp.geodesic_area_unsigned() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;

    /// The series against Snyder's closed form with its logarithm, pole to pole (q is at most 2;
    /// the closed form loses a few units in the last place to the logarithm of a ratio near 1,
    /// hence the tolerance).
    #[test]
    fn q_series_matches_the_closed_form() {
        let e = E2.sqrt();
        for k in -9000..=9000 {
            let s = (k as f64 * 0.01).to_radians().sin();
            let es = e * s;
            let closed = (1.0 - E2)
                * (s / (1.0 - es * es) - (1.0 / (2.0 * e)) * ((1.0 - es) / (1.0 + es)).ln());
            assert!((q(s) - closed).abs() <= 4e-15, "{k}: {} {closed}", q(s));
        }
    }

    #[test]
    fn one_degree_square_at_equator() {
        // A 1°×1° cell at the equator is 12,308.8 km² on WGS-84.
        let p = polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0), (x: 0.0, y: 1.0)];
        let a = polygon_km2(&p);
        assert!((a - 12_308.8).abs() < 1.0, "{a}");
    }

    #[test]
    fn agrees_with_geodesic_area_on_fine_polygons() {
        // A 20 km "circle" with 2,000 vertices and a hole, at Shanghai's latitude.
        let ring = |r: f64, n: usize, cw: bool| -> LineString<f64> {
            let mut v: Vec<(f64, f64)> = (0..=n)
                .map(|k| {
                    let a = k as f64 / n as f64 * std::f64::consts::TAU;
                    (121.47 + r / 95.0 * a.cos(), 31.23 + r / 111.0 * a.sin())
                })
                .collect();
            if cw {
                v.reverse();
            }
            v.into()
        };
        let mp = MultiPolygon(vec![Polygon::new(
            ring(20.0, 2000, false),
            vec![ring(5.0, 500, true)],
        )]);
        let fast = multipolygon_km2(&mp);
        let exact = geodesic_km2(&mp);
        assert!((fast - exact).abs() / exact < 1e-6, "{fast} vs {exact}");
        // Winding does not matter.
        let ccw = MultiPolygon(vec![Polygon::new(ring(20.0, 2000, false), vec![])]);
        let cw = MultiPolygon(vec![Polygon::new(ring(20.0, 2000, true), vec![])]);
        assert!((multipolygon_km2(&cw) - geodesic_km2(&ccw)).abs() / geodesic_km2(&ccw) < 1e-6);
    }

    /// Many rings (past the threshold for measuring them on several threads): the same sum, to
    /// the last bit, as measuring polygon by polygon on one.
    #[test]
    fn rings_measured_in_parallel_add_up_as_one_pass() {
        let square = |x: f64, y: f64, d: f64, ccw: bool| -> LineString<f64> {
            let mut v = vec![(x, y), (x + d, y), (x + d, y + d), (x, y + d), (x, y)];
            if !ccw {
                v.reverse();
            }
            LineString::from(v)
        };
        // Rings of many points: jagged squares, with square holes.
        let jagged = |x: f64, y: f64, d: f64| -> LineString<f64> {
            let n = 200;
            let mut v: Vec<(f64, f64)> = Vec::new();
            for k in 0..n {
                v.push((x + d * k as f64 / n as f64, y - 1e-4 * (k % 3) as f64));
            }
            v.extend([(x + d, y), (x + d, y + d), (x, y + d), v[0]]);
            LineString::from(v)
        };
        let mp = MultiPolygon(
            (0..40)
                .map(|k| {
                    let (x, y) = (100.0 + 0.1 * k as f64, 30.0 + 0.05 * (k % 7) as f64);
                    let holes = (0..k % 4)
                        .map(|h| square(x + 0.01 + 0.02 * h as f64, y + 0.01, 0.005, false))
                        .collect();
                    Polygon::new(jagged(x, y, 0.08), holes)
                })
                .collect(),
        );
        let points: usize = mp.0.iter().map(|p| p.exterior().0.len()).sum();
        assert!(points >= PARALLEL_AREA_POINTS);
        let one_pass = mp.0.iter().map(polygon_m2).sum::<f64>() / 1e6;
        assert_eq!(multipolygon_km2(&mp).to_bits(), one_pass.to_bits());
    }
}
