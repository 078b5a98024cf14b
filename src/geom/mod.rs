//! Coordinates, distances and the local metric projection shared by every stage.
//!
//! Coordinates are stored as WGS-84 longitude/latitude in fixed point (1e-7 degree, the precision
//! of OSM itself), so that the graph file is compact and every stage reads the same numbers.

pub mod area;
pub mod polyindex;
pub mod projection;
pub mod rings;

use bytemuck::{Pod, Zeroable};
use serde::{Deserialize, Serialize};

/// Mean Earth radius in metres (IUGG), used for haversine distances.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A WGS-84 position in 1e-7 degrees (OSM's "decimicro" degrees).
#[repr(C)]
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Pod,
    Zeroable,
    Serialize,
    Deserialize,
)]
pub struct CoordE7 {
    pub lon: i32,
    pub lat: i32,
}

impl CoordE7 {
    /// Builds a coordinate from degrees, rounding to the nearest 1e-7 degree.
    pub fn from_degrees(lon: f64, lat: f64) -> CoordE7 {
        CoordE7 {
            lon: (lon * 1e7).round() as i32,
            lat: (lat * 1e7).round() as i32,
        }
    }
    pub fn lon(self) -> f64 {
        self.lon as f64 * 1e-7
    }
    pub fn lat(self) -> f64 {
        self.lat as f64 * 1e-7
    }
    pub fn to_geo(self) -> geo::Coord<f64> {
        geo::Coord {
            x: self.lon(),
            y: self.lat(),
        }
    }
    /// True when the coordinate is a valid WGS-84 position.
    pub fn is_valid(self) -> bool {
        (-1_800_000_000..=1_800_000_000).contains(&self.lon)
            && (-900_000_000..=900_000_000).contains(&self.lat)
    }
}

/// Great-circle distance in metres between two lon/lat points (degrees).
pub fn haversine_m(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
}

/// Distance in metres between two fixed-point coordinates: an equirectangular approximation for
/// the short segments of road geometry (relative error below 1e-7 under 10 km, one cosine
/// instead of the haversine's trigonometry), the haversine beyond.
#[inline]
pub fn distance_m(a: CoordE7, b: CoordE7) -> f64 {
    let dlat = (b.lat - a.lat) as f64 * 1e-7;
    let dlon = (b.lon - a.lon) as f64 * 1e-7;
    if dlat.abs() < 0.09 && dlon.abs() < 0.09 {
        let k = EARTH_RADIUS_M.to_radians();
        let mid = ((a.lat as f64 + b.lat as f64) * 0.5e-7).to_radians();
        let x = dlon * cos_lat(mid);
        (x * x + dlat * dlat).sqrt() * k
    } else {
        haversine_m(a.lon(), a.lat(), b.lon(), b.lat())
    }
}

/// `x.round()` (halves away from zero) for `0 ≤ x < 2⁵²`, without a call into libm: the default
/// x86-64 target has no rounding instruction, and the import rounds every road's travel times
/// and every node's Hilbert cell. Anything else goes to libm.
///
/// ```
/// use metroreach::geom::round_nonneg;
/// assert_eq!(round_nonneg(2.5), 3.0);
/// assert_eq!(round_nonneg(0.49999999999999994), 0.0);
/// ```
#[inline]
pub fn round_nonneg(x: f64) -> f64 {
    if !(0.0..4_503_599_627_370_496.0).contains(&x) {
        return x.round();
    }
    // Truncation is the floor here, and the fraction `x − t` is exact below 2⁵².
    let t = (x as u64) as f64;
    if x - t >= 0.5 {
        t + 1.0
    } else {
        t
    }
}

/// `x.cos()` for a latitude in radians (|x| ≤ π/2), without a call into libm: the import
/// measures every road segment, tens of millions on a province, and libm's cosines were 5 % of
/// its processor time (when each segment was still measured three times).
///
/// The Taylor series to x²⁰, whose remainder is below 2·10⁻¹⁷ on that range (the test below
/// checks it against `f64::cos`); outside it, libm.
///
/// ```
/// use metroreach::geom::cos_lat;
/// let x = 39.1457f64.to_radians();
/// assert!((cos_lat(x) - x.cos()).abs() < 1e-15);
/// ```
#[inline]
pub fn cos_lat(x: f64) -> f64 {
    if x.is_nan() || x.abs() > std::f64::consts::FRAC_PI_2 {
        return x.cos();
    }
    // 1/(2k)! for k = 10 down to 1, alternating signs, in Horner form on x².
    const C: [f64; 10] = [
        1.0 / 2_432_902_008_176_640_000.0,
        -1.0 / 6_402_373_705_728_000.0,
        1.0 / 20_922_789_888_000.0,
        -1.0 / 87_178_291_200.0,
        1.0 / 479_001_600.0,
        -1.0 / 3_628_800.0,
        1.0 / 40_320.0,
        -1.0 / 720.0,
        1.0 / 24.0,
        -1.0 / 2.0,
    ];
    let y = x * x;
    horner(y, &C) * y + 1.0
}

/// `c[0]·yⁿ⁻¹ + … + c[n−1]` by Horner's rule.
#[inline]
fn horner(y: f64, c: &[f64]) -> f64 {
    c[1..].iter().fold(c[0], |p, &k| p * y + k)
}

/// `x.sin()` for a latitude in radians (|x| ≤ π/2), without a call into libm: a circle's
/// area takes the sine of every vertex's latitude (tens of thousands per circle).
///
/// The Taylor series to x²¹, whose remainder is below 10⁻¹⁷ on that range (the test below
/// checks it against `f64::sin`); outside it, libm.
///
/// ```
/// use metroreach::geom::sin_lat;
/// let x = 39.1457f64.to_radians();
/// assert!((sin_lat(x) - x.sin()).abs() < 1e-15);
/// ```
#[inline]
pub fn sin_lat(x: f64) -> f64 {
    if x.is_nan() || x.abs() > std::f64::consts::FRAC_PI_2 {
        return x.sin();
    }
    // 1/(2k+1)! for k = 10 down to 1, alternating signs, in Horner form on x².
    const C: [f64; 10] = [
        1.0 / 51_090_942_171_709_440_000.0,
        -1.0 / 121_645_100_408_832_000.0,
        1.0 / 355_687_428_096_000.0,
        -1.0 / 1_307_674_368_000.0,
        1.0 / 6_227_020_800.0,
        -1.0 / 39_916_800.0,
        1.0 / 362_880.0,
        -1.0 / 5_040.0,
        1.0 / 120.0,
        -1.0 / 6.0,
    ];
    let y = x * x;
    x + x * y * horner(y, &C)
}

/// `x.round()` (half away from zero) without a call into libm: baseline x86-64 has no rounding
/// instruction, and the polygon stage rounds every sample and every output coordinate.
///
/// ```
/// use metroreach::geom::round_fast;
/// assert_eq!(round_fast(2.5), 3.0);
/// assert_eq!(round_fast(-2.5), -3.0);
/// assert_eq!(round_fast(-0.2).to_bits(), (-0.0f64).to_bits());
/// ```
#[inline]
pub fn round_fast(x: f64) -> f64 {
    if x.is_nan() || x.abs() >= 4.0e15 {
        return x.round(); // already an integer (or NaN)
    }
    // Half away from zero keeps the sign of x, and copysign gives zero its sign.
    (round_i64(x) as f64).copysign(x)
}

/// The nearest integer to `x` (half away from zero), for `|x| < 4·10¹⁵`; branch-free.
#[inline]
pub fn round_i64(x: f64) -> i64 {
    let i = x as i64; // truncation
    let f = x - i as f64; // exact below 2^52
    i + i64::from(f >= 0.5) - i64::from(f <= -0.5)
}

/// Length in metres of a polyline of fixed-point coordinates.
pub fn polyline_length_m(points: &[CoordE7]) -> f64 {
    points.windows(2).map(|w| distance_m(w[0], w[1])).sum()
}

/// Where distance `d` falls along a polyline whose vertices are at the cumulative lengths `cum`
/// (`cum[0] = 0`, at least two vertices): the segment `i` (from vertex `i - 1` to vertex `i`) and
/// the fraction of it, both clamped to the polyline.
///
/// ```
/// use metroreach::geom::locate_along;
/// let cum = [0.0, 10.0, 30.0];
/// assert_eq!(locate_along(&cum, 20.0), (2, 0.5));
/// assert_eq!(locate_along(&cum, 99.0), (2, 1.0));
/// ```
pub fn locate_along(cum: &[f64], d: f64) -> (usize, f64) {
    let i = cum.partition_point(|&c| c <= d).clamp(1, cum.len() - 1);
    let seg = cum[i] - cum[i - 1];
    let f = if seg > 0.0 {
        ((d - cum[i - 1]) / seg).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (i, f)
}

/// A lon/lat bounding box in degrees.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    pub min_lon: f64,
    pub min_lat: f64,
    pub max_lon: f64,
    pub max_lat: f64,
}

impl Default for BBox {
    fn default() -> Self {
        BBox::EMPTY
    }
}

impl BBox {
    pub const EMPTY: BBox = BBox {
        min_lon: f64::INFINITY,
        min_lat: f64::INFINITY,
        max_lon: f64::NEG_INFINITY,
        max_lat: f64::NEG_INFINITY,
    };
    pub fn is_empty(&self) -> bool {
        self.min_lon > self.max_lon || self.min_lat > self.max_lat
    }
    pub fn extend(&mut self, lon: f64, lat: f64) {
        self.min_lon = self.min_lon.min(lon);
        self.min_lat = self.min_lat.min(lat);
        self.max_lon = self.max_lon.max(lon);
        self.max_lat = self.max_lat.max(lat);
    }
    pub fn union(&self, o: &BBox) -> BBox {
        BBox {
            min_lon: self.min_lon.min(o.min_lon),
            min_lat: self.min_lat.min(o.min_lat),
            max_lon: self.max_lon.max(o.max_lon),
            max_lat: self.max_lat.max(o.max_lat),
        }
    }
    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        lon >= self.min_lon && lon <= self.max_lon && lat >= self.min_lat && lat <= self.max_lat
    }
    pub fn intersects(&self, o: &BBox) -> bool {
        !(o.min_lon > self.max_lon
            || o.max_lon < self.min_lon
            || o.min_lat > self.max_lat
            || o.max_lat < self.min_lat)
    }
    pub fn of_coords<'a>(coords: impl IntoIterator<Item = &'a CoordE7>) -> BBox {
        let mut b = BBox::EMPTY;
        for c in coords {
            b.extend(c.lon(), c.lat());
        }
        b
    }
    /// The box of the coordinates `coord` gives for `items` (`None` skipped), in parallel
    /// pieces: for the millions of nodes of a province graph.
    pub fn par_of<T: Sync>(items: &[T], coord: impl Fn(&T) -> Option<CoordE7> + Sync) -> BBox {
        use rayon::prelude::*;
        items
            .par_chunks(1 << 16)
            .map(|piece| {
                let mut b = BBox::EMPTY;
                for c in piece.iter().filter_map(&coord) {
                    b.extend(c.lon(), c.lat());
                }
                b
            })
            .reduce(|| BBox::EMPTY, |a, b| a.union(&b))
    }
    /// Distance in metres from a point inside the box to the nearest side (0 when outside).
    pub fn inner_margin_m(&self, lon: f64, lat: f64) -> f64 {
        if !self.contains(lon, lat) {
            return 0.0;
        }
        let coslat = lat.to_radians().cos();
        let m_per_deg = EARTH_RADIUS_M.to_radians();
        let dx = (lon - self.min_lon).min(self.max_lon - lon) * m_per_deg * coslat;
        let dy = (lat - self.min_lat).min(self.max_lat - lat) * m_per_deg;
        dx.min(dy)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_nonneg_equals_libm_round() {
        let mut rng = crate::testing::XorShift(0x2545_f491_4f6c_dd1d);
        let mut xs: Vec<f64> = vec![
            0.0,
            -0.0,
            0.5,
            1.5,
            2.5,
            0.49999999999999994,
            4_503_599_627_370_495.5,
            4_503_599_627_370_496.0,
            1e300,
            f64::INFINITY,
            -2.5,
            f64::NAN,
        ];
        for _ in 0..200_000 {
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            xs.push(u * 70_000.0);
            xs.push((rng.next_u64() % 1_000_000) as f64 + 0.5);
            xs.push(u * 4e15);
        }
        for x in xs {
            let (ours, libm) = (super::round_nonneg(x), x.round());
            assert!(
                ours == libm || (ours.is_nan() && libm.is_nan()),
                "round({x}): {ours} vs {libm}"
            );
        }
    }

    #[test]
    fn cos_lat_equals_libm_cos() {
        let mut rng = crate::testing::XorShift(0x9e37_79b9_7f4a_7c15);
        let half_pi = std::f64::consts::FRAC_PI_2;
        let mut xs: Vec<f64> = vec![0.0, -0.0, half_pi, -half_pi, 1e-9, 0.7, 1.5];
        xs.extend((0..200_000).map(|_| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64));
        for x in xs.iter().flat_map(|&u| [u * half_pi, -u * half_pi]) {
            let (ours, libm) = (super::cos_lat(x), x.cos());
            assert!((ours - libm).abs() <= 4e-16, "cos({x}): {ours} vs {libm}");
        }
        // Outside the latitude range it is libm's.
        for x in [2.0, -3.0, 100.0, f64::NAN] {
            assert_eq!(super::cos_lat(x).to_bits(), x.cos().to_bits());
        }
    }

    #[test]
    fn sin_lat_equals_libm_sin() {
        let mut rng = crate::testing::XorShift(0x2545_f491_4f6c_dd1d);
        let half_pi = std::f64::consts::FRAC_PI_2;
        let mut xs: Vec<f64> = vec![0.0, -0.0, half_pi, -half_pi, 1e-300, 1e-9, 0.7, 1.5];
        xs.extend((0..200_000).map(|_| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64));
        for x in xs.iter().flat_map(|&u| [u * half_pi, -u * half_pi]) {
            let (ours, libm) = (super::sin_lat(x), x.sin());
            assert!(
                (ours - libm).abs() <= 4e-16 * libm.abs().max(1e-300),
                "sin({x}): {ours} vs {libm}"
            );
        }
        for x in [2.0, -3.0, 100.0, f64::NAN] {
            assert_eq!(super::sin_lat(x).to_bits(), x.sin().to_bits());
        }
    }

    #[test]
    fn round_fast_equals_round() {
        let mut rng = crate::testing::XorShift(0x2545_f491_4f6c_dd1d);
        let specials = [
            0.5,
            -0.5,
            1.5,
            -1.5,
            0.49999999999999994,
            -0.49999999999999994,
            0.0,
            -0.0,
            4.5e15,
            -1e300,
            1e16 + 1.0,
            2.5e-7,
        ];
        for &x in &specials {
            assert_eq!(super::round_fast(x).to_bits(), x.round().to_bits(), "{x}");
        }
        for _ in 0..200_000 {
            let bits = rng.next_u64();
            // Mix of magnitudes: lon/lat × 1e6, grid coordinates, halves.
            let x = match bits % 3 {
                0 => ((bits >> 8) as i64 as f64) / 2f64.powi((bits % 61) as i32),
                1 => ((bits >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 3.6e8,
                _ => ((bits >> 20) as i64 - (1 << 43)) as f64 * 0.5,
            };
            assert_eq!(super::round_fast(x).to_bits(), x.round().to_bits(), "{x}");
        }
    }

    use super::*;

    #[test]
    fn haversine_matches_known_distance() {
        // One degree of latitude is ~111.2 km on the mean sphere.
        let d = haversine_m(0.0, 0.0, 0.0, 1.0);
        assert!((d - 111_195.0).abs() < 10.0, "{d}");
        // One degree of longitude at 60 degrees is half of that.
        let d = haversine_m(10.0, 60.0, 11.0, 60.0);
        assert!((d - 55_597.0).abs() < 50.0, "{d}");
    }

    #[test]
    fn short_distances_match_the_haversine() {
        for (lon, lat) in [
            (0.0, 0.0),
            (121.47, 31.23),
            (24.94, 60.17),
            (-121.59, 39.14),
        ] {
            for (dx, dy) in [(0.0001, 0.0), (0.001, 0.0007), (0.05, -0.08), (0.0, 0.089)] {
                let a = CoordE7::from_degrees(lon, lat);
                let b = CoordE7::from_degrees(lon + dx, lat + dy);
                let h = haversine_m(a.lon(), a.lat(), b.lon(), b.lat());
                let d = distance_m(a, b);
                assert!((d - h).abs() <= 1e-6 * h + 1e-9, "{d} vs {h}");
            }
        }
    }

    #[test]
    fn coord_round_trip() {
        let c = CoordE7::from_degrees(116.5069, 39.7953);
        assert!((c.lon() - 116.5069).abs() < 1e-9);
        assert!((c.lat() - 39.7953).abs() < 1e-9);
        assert!(c.is_valid());
        assert!(!CoordE7 {
            lon: 0,
            lat: 950_000_000
        }
        .is_valid());
    }
}
