//! From a travel-time grid to nested band polygons in WGS-84.
//!
//! Marching squares ([`super::marching`]) on the grid gives, for each threshold, the region whose
//! travel time is at most that threshold, with exteriors and holes grouped by construction. All
//! bands come from one grid, so a smaller band lies inside a larger one. Straight runs are
//! removed losslessly, an optional topology-preserving simplification is applied (then each band
//! is clipped by the next larger one to keep nesting exact), and coordinates are mapped back to
//! lon/lat and rounded to the 6 decimals written to GeoJSON, so that areas are measured on
//! exactly the published shape.

use super::marching::{Field, Tracer, TracerBuffers};
use super::stamp::TimeGrid;
use crate::geom::area::{polygon_m2_of_rings, ring_area_m2};
use crate::geom::projection::LocalProjection;
use crate::geom::rings::{into_oriented, remove_collinear, remove_collinear_deduped};
use geo::{BooleanOps, Coord, LineString, MultiPolygon, Polygon, SimplifyVwPreserve};

/// Polygons (lon/lat, 6 decimals) of the regions where the grid time is at most each threshold
/// (seconds, ascending). `walk_secs_per_cell` is the off-road walking time across one cell: an
/// edge toward an unreached vertex is cut where that walk runs out (at most half way).
pub fn band_polygons(
    grid: &TimeGrid,
    thresholds_s: &[f64],
    walk_secs_per_cell: f64,
    proj: &LocalProjection,
    simplify_m: f64,
) -> Vec<MultiPolygon<f64>> {
    band_polygons_reusing(
        grid,
        thresholds_s,
        walk_secs_per_cell,
        proj,
        simplify_m,
        &mut Vec::new(),
    )
    .into_iter()
    .map(|(polygon, _)| polygon)
    .collect()
}

/// [`band_polygons`] with each band's area (km², [`multipolygon_km2`] of it, measured ring by
/// ring as the rings are mapped), reusing the tracers' arrays from `buffers` (one per band, and
/// leaving them there). The bands are traced side by side: each reads the same grid and has its
/// own tracer.
///
/// [`multipolygon_km2`]: crate::geom::area::multipolygon_km2
pub fn band_polygons_reusing(
    grid: &TimeGrid,
    thresholds_s: &[f64],
    walk_secs_per_cell: f64,
    proj: &LocalProjection,
    simplify_m: f64,
    buffers: &mut Vec<TracerBuffers>,
) -> Vec<(MultiPolygon<f64>, f64)> {
    use rayon::prelude::*;
    let field = || Field {
        nx: grid.nx,
        ny: grid.ny,
        x0: grid.x0,
        y0: grid.y0,
        cell: grid.cell,
        values: &grid.values,
        step_beyond: walk_secs_per_cell as f32,
        rows: Some(&grid.rows),
    };
    buffers.resize_with(thresholds_s.len().max(buffers.len()), Default::default);
    let metric: Vec<MultiPolygon<f64>> = buffers
        .par_iter_mut()
        .zip(thresholds_s.par_iter())
        .map(|(b, &t)| {
            // Moved out while tracing, so that two tracers never write to one cache line.
            let mut tracer = Tracer::with_buffers(field(), std::mem::take(b));
            let region = tracer.region(t as f32);
            *b = tracer.into_buffers();
            region
        })
        .collect();
    finish(metric, proj, simplify_m, true)
}

/// Polygons of the region where `mask` holds (vertex-wise), e.g. one catchment of a labelled grid.
pub fn mask_polygon(
    grid: &TimeGrid,
    mask: impl Fn(usize) -> bool,
    proj: &LocalProjection,
    simplify_m: f64,
) -> MultiPolygon<f64> {
    let values: Vec<f32> = (0..grid.values.len())
        .map(|k| if mask(k) { 0.0 } else { f32::INFINITY })
        .collect();
    let mut tracer = Tracer::new(Field {
        nx: grid.nx,
        ny: grid.ny,
        x0: grid.x0,
        y0: grid.y0,
        cell: grid.cell,
        values: &values,
        step_beyond: 1.0, // cut half way between a masked and an unmasked vertex
        rows: None,
    });
    finish(vec![tracer.region(0.5)], proj, simplify_m, false)
        .pop()
        .map_or_else(|| MultiPolygon(vec![]), |(polygon, _)| polygon)
}

/// Optional simplification (then re-nesting by clipping), lon/lat rounding and lossless cleanup
/// (repeated and collinear points, collapsed rings: [`to_lonlat`]); with each result's area
/// (km²) when `with_area` (else 0).
fn finish(
    metric: Vec<MultiPolygon<f64>>,
    proj: &LocalProjection,
    simplify_m: f64,
    with_area: bool,
) -> Vec<(MultiPolygon<f64>, f64)> {
    if simplify_m <= 0.0 {
        return to_lonlat_measured(&metric, proj, with_area);
    }
    // Straight runs go first so the simplification sees the shape, not the grid's steps.
    let mut metric: Vec<MultiPolygon<f64>> = metric
        .into_iter()
        .map(|mp| {
            MultiPolygon(
                mp.0.into_iter()
                    .filter_map(|p| {
                        let (ext, holes) = p.into_inner();
                        let ext = remove_collinear(&ext);
                        (ext.0.len() >= 4).then(|| {
                            Polygon::new(
                                ext,
                                holes
                                    .iter()
                                    .map(remove_collinear)
                                    .filter(|h| h.0.len() >= 4)
                                    .collect(),
                            )
                        })
                    })
                    .collect(),
            )
        })
        .collect();
    let eps = simplify_m * simplify_m / 2.0;
    for mp in metric.iter_mut() {
        *mp = mp.simplify_vw_preserve(eps);
    }
    // Keep bands nested after simplifying each on its own.
    for k in (0..metric.len().saturating_sub(1)).rev() {
        metric[k] = metric[k].intersection(&metric[k + 1]);
    }
    to_lonlat_measured(&metric, proj, with_area)
}

/// Maps a metric multipolygon to lon/lat rounded to 6 decimals, dropping rings that collapse.
pub fn to_lonlat(mp: &MultiPolygon<f64>, proj: &LocalProjection) -> MultiPolygon<f64> {
    to_lonlat_all(std::slice::from_ref(mp), proj)
        .pop()
        .unwrap_or_else(|| MultiPolygon(vec![]))
}

/// Fewest points for which rings are mapped to lon/lat on several threads.
const PARALLEL_RING_POINTS: usize = 4096;

/// [`to_lonlat`] of each multipolygon. Rings are mapped one by one, independently, so many
/// points are shared out between threads by ring; the result does not depend on how.
pub fn to_lonlat_all(mps: &[MultiPolygon<f64>], proj: &LocalProjection) -> Vec<MultiPolygon<f64>> {
    to_lonlat_measured(mps, proj, false)
        .into_iter()
        .map(|(mp, _)| mp)
        .collect()
}

/// [`to_lonlat_all`], with each result's area (km², [`multipolygon_km2`]) when `with_area` (else
/// 0): each ring is measured as it is mapped (on the same thread, while its points are at hand),
/// and the areas are added up as [`multipolygon_km2`] adds them.
///
/// [`multipolygon_km2`]: crate::geom::area::multipolygon_km2
fn to_lonlat_measured(
    mps: &[MultiPolygon<f64>],
    proj: &LocalProjection,
    with_area: bool,
) -> Vec<(MultiPolygon<f64>, f64)> {
    use rayon::prelude::*;
    // Every ring, exteriors flagged, in the order they are put back together below.
    let rings: Vec<(&LineString<f64>, bool)> = mps
        .iter()
        .flat_map(|mp| &mp.0)
        .flat_map(|p| {
            std::iter::once((p.exterior(), true)).chain(p.interiors().iter().map(|h| (h, false)))
        })
        .collect();
    let points: usize = rings.iter().map(|(r, _)| r.0.len()).sum();
    let map = |&(r, exterior): &(&LineString<f64>, bool)| -> Option<(LineString<f64>, f64)> {
        let ring = ring_to_lonlat(r, proj);
        (ring.0.len() >= 4).then(|| {
            let ring = into_oriented(ring, exterior);
            let m2 = if with_area { ring_area_m2(&ring) } else { 0.0 };
            (ring, m2)
        })
    };
    let mapped: Vec<Option<(LineString<f64>, f64)>> = if points >= PARALLEL_RING_POINTS {
        rings.par_iter().map(map).collect()
    } else {
        rings.iter().map(map).collect()
    };
    let mut mapped = mapped.into_iter();
    let mut next = || mapped.next().expect("one mapped ring per ring");
    mps.iter()
        .map(|mp| {
            let polygons: Vec<(Polygon<f64>, f64)> =
                mp.0.iter()
                    .filter_map(|p| {
                        let exterior = next();
                        let holes: Vec<(LineString<f64>, f64)> =
                            p.interiors().iter().filter_map(|_| next()).collect();
                        // A polygon whose exterior collapses goes, holes and all.
                        exterior.map(|(e, e_m2)| {
                            let m2 = polygon_m2_of_rings(e_m2, holes.iter().map(|h| h.1));
                            (
                                Polygon::new(e, holes.into_iter().map(|h| h.0).collect()),
                                m2,
                            )
                        })
                    })
                    .collect();
            let km2 = polygons.iter().map(|p| p.1).sum::<f64>() / 1e6;
            (
                MultiPolygon(polygons.into_iter().map(|p| p.0).collect()),
                km2,
            )
        })
        .collect()
}

/// Points of a ring from which it is mapped in two halves side by side.
const PARALLEL_MAP_POINTS: usize = 16_384;

/// One ring in lon/lat rounded to 6 decimals, without repeated or collinear points.
fn ring_to_lonlat(r: &LineString<f64>, proj: &LocalProjection) -> LineString<f64> {
    let map = |c: &Coord<f64>| -> Coord<f64> {
        let (lon, lat) = proj.inverse(c.x, c.y);
        Coord {
            x: round6(lon),
            y: round6(lat),
        }
    };
    // A point equal to the one before it goes. That is the same as comparing with the last
    // point kept (which always equals the one before), so each half can decide on its own,
    // looking one point back across the split.
    let map_range = |range: std::ops::Range<usize>, pts: &mut Vec<Coord<f64>>| {
        let mut prev = range.start.checked_sub(1).map(|k| map(&r.0[k]));
        for c in &r.0[range] {
            let p = map(c);
            if prev != Some(p) {
                pts.push(p);
            }
            prev = Some(p);
        }
    };
    let n = r.0.len();
    let mut pts: Vec<Coord<f64>> = Vec::with_capacity(n);
    if n >= PARALLEL_MAP_POINTS {
        let mid = n / 2;
        let mut b = Vec::with_capacity(n - mid);
        rayon::join(|| map_range(0..mid, &mut pts), || map_range(mid..n, &mut b));
        pts.extend_from_slice(&b);
    } else {
        map_range(0..n, &mut pts);
    }
    remove_collinear_deduped(pts)
}

/// Rounds to 6 decimals (≈ 0.1 m), the precision written to GeoJSON.
pub fn round6(v: f64) -> f64 {
    crate::geom::round_fast(v * 1e6) / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Many rings (past the threshold for mapping them on several threads) come out as each
    /// polygon mapped on its own, in order, with collapsed rings dropped the same way.
    #[test]
    fn rings_mapped_in_parallel_equal_one_by_one() {
        let proj = LocalProjection::new(116.4, 39.9);
        let ring = |x: f64, y: f64, d: f64, n: usize, ccw: bool| -> LineString<f64> {
            // A square of side `d` metres, jagged along its bottom side (`n` points).
            let mut v: Vec<(f64, f64)> = (0..n)
                .map(|k| (x + d * k as f64 / n as f64, y - 0.01 * d * (k % 2) as f64))
                .collect();
            v.extend([(x + d, y), (x + d, y + d), (x, y + d), (x, y)]);
            if !ccw {
                v.reverse();
            }
            LineString::from(v)
        };
        let mps: Vec<MultiPolygon<f64>> = (0..3)
            .map(|b| {
                MultiPolygon(
                    (0..30)
                        .map(|k| {
                            let (x, y) = (k as f64 * 5000.0, b as f64 * 5000.0);
                            // Some holes too small to survive rounding (0.01 m).
                            let holes = vec![
                                ring(x + 100.0, y + 100.0, 500.0, 40, false),
                                ring(x + 900.0, y + 900.0, 0.01, 3, false),
                            ];
                            Polygon::new(ring(x, y, 4000.0, 100, true), holes)
                        })
                        .collect(),
                )
            })
            .collect();
        let points: usize = mps
            .iter()
            .flat_map(|mp| &mp.0)
            .map(|p| p.exterior().0.len())
            .sum();
        assert!(points >= PARALLEL_RING_POINTS);
        let all = to_lonlat_all(&mps, &proj);
        let one_by_one: Vec<MultiPolygon<f64>> = mps
            .iter()
            .map(|mp| {
                MultiPolygon(
                    mp.0.iter()
                        .flat_map(|p| to_lonlat(&MultiPolygon(vec![p.clone()]), &proj).0)
                        .collect(),
                )
            })
            .collect();
        assert_eq!(all, one_by_one);
        assert!(all
            .iter()
            .all(|mp| mp.0.iter().all(|p| p.interiors().len() == 1)));
        // Areas measured ring by ring as they are mapped: the multipolygon's area to the bit.
        let measured = to_lonlat_measured(&mps, &proj, true);
        for ((mp, km2), want) in measured.iter().zip(&all) {
            assert_eq!(mp, want);
            assert_eq!(
                km2.to_bits(),
                crate::geom::area::multipolygon_km2(mp).to_bits()
            );
            assert!(*km2 > 0.0);
        }
    }

    /// The plain one-pass cleanup a long ring's halves must reproduce: map and round every
    /// point, drop repeats, drop points exactly between their neighbours.
    fn reference_lonlat(r: &LineString<f64>, proj: &LocalProjection) -> LineString<f64> {
        let mut pts: Vec<Coord<f64>> = Vec::new();
        for c in &r.0 {
            let (lon, lat) = proj.inverse(c.x, c.y);
            let p = Coord {
                x: round6(lon),
                y: round6(lat),
            };
            if pts.last() != Some(&p) {
                pts.push(p);
            }
        }
        if pts.len() > 1 && pts.first() == pts.last() {
            pts.pop();
        }
        let n = pts.len();
        let mut keep = Vec::new();
        for i in 0..n {
            let (a, b, c) = (pts[(i + n - 1) % n], pts[i], pts[(i + 1) % n]);
            let cross = (b.x - a.x) * (c.y - b.y) - (b.y - a.y) * (c.x - b.x);
            let scale =
                ((b.x - a.x).abs() + (b.y - a.y).abs()) * ((c.x - b.x).abs() + (c.y - b.y).abs());
            let dot = (b.x - a.x) * (c.x - b.x) + (b.y - a.y) * (c.y - b.y);
            if !(cross.abs() <= 1e-12 * scale.max(1e-300) && dot > 0.0) {
                keep.push(b);
            }
        }
        if keep.len() < 3 {
            return LineString(vec![]);
        }
        keep.push(keep[0]);
        LineString(keep)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// Rings long enough to be mapped and cleaned in two halves: the same points as one
        /// pass, whatever falls at the split (repeats, straight runs, steps below 0.1 m).
        #[test]
        fn long_rings_in_halves_equal_one_pass(
            steps in proptest::collection::vec((0u8..6, 0u8..4), 1..64),
            len in PARALLEL_MAP_POINTS..3 * PARALLEL_MAP_POINTS,
        ) {
            let proj = LocalProjection::new(121.47, 31.23);
            // A walk of grid-like moves (repeats, straight runs, tiny steps), closed.
            let mut v = vec![Coord { x: 0.0, y: 0.0 }];
            for k in 1..len {
                let (kind, dir) = steps[k % steps.len()];
                let d = match kind {
                    0 => 0.0,
                    1 => 0.04,
                    _ => 25.0 * f64::from(kind),
                };
                let p = v[k - 1];
                v.push(match dir {
                    0 => Coord { x: p.x + d, y: p.y },
                    1 => Coord { x: p.x, y: p.y + d },
                    2 => Coord { x: p.x + d, y: p.y - d },
                    _ => Coord { x: p.x - 0.5 * d, y: p.y },
                });
            }
            v.push(v[0]);
            let r = LineString(v);
            proptest::prop_assert_eq!(ring_to_lonlat(&r, &proj), reference_lonlat(&r, &proj));
        }
    }
}
