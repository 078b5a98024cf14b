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
use crate::geom::projection::LocalProjection;
use crate::geom::rings::{oriented, remove_collinear};
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
        &mut TracerBuffers::default(),
    )
}

/// [`band_polygons`] reusing the tracer's arrays from `buffers` (and leaving them there).
pub fn band_polygons_reusing(
    grid: &TimeGrid,
    thresholds_s: &[f64],
    walk_secs_per_cell: f64,
    proj: &LocalProjection,
    simplify_m: f64,
    buffers: &mut TracerBuffers,
) -> Vec<MultiPolygon<f64>> {
    let mut tracer = Tracer::with_buffers(
        Field {
            nx: grid.nx,
            ny: grid.ny,
            x0: grid.x0,
            y0: grid.y0,
            cell: grid.cell,
            values: &grid.values,
            step_beyond: walk_secs_per_cell as f32,
            rows: Some(&grid.rows),
        },
        std::mem::take(buffers),
    );
    let metric: Vec<MultiPolygon<f64>> = thresholds_s
        .iter()
        .map(|&t| tracer.region(t as f32))
        .collect();
    *buffers = tracer.into_buffers();
    finish(metric, proj, simplify_m)
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
    finish(vec![tracer.region(0.5)], proj, simplify_m)
        .pop()
        .unwrap_or_else(|| MultiPolygon(vec![]))
}

/// Optional simplification (then re-nesting by clipping), lon/lat rounding and lossless cleanup
/// (repeated and collinear points, collapsed rings: [`to_lonlat`]).
fn finish(
    metric: Vec<MultiPolygon<f64>>,
    proj: &LocalProjection,
    simplify_m: f64,
) -> Vec<MultiPolygon<f64>> {
    if simplify_m <= 0.0 {
        return metric.iter().map(|mp| to_lonlat(mp, proj)).collect();
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
    metric.iter().map(|mp| to_lonlat(mp, proj)).collect()
}

/// Maps a metric multipolygon to lon/lat rounded to 6 decimals, dropping rings that collapse.
pub fn to_lonlat(mp: &MultiPolygon<f64>, proj: &LocalProjection) -> MultiPolygon<f64> {
    let conv = |r: &LineString<f64>| -> LineString<f64> {
        let mut pts: Vec<Coord<f64>> = Vec::with_capacity(r.0.len());
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
        remove_collinear(&LineString(pts))
    };
    MultiPolygon(
        mp.0.iter()
            .filter_map(|p| {
                let ext = conv(p.exterior());
                if ext.0.len() < 4 {
                    return None;
                }
                let holes: Vec<LineString<f64>> = p
                    .interiors()
                    .iter()
                    .map(conv)
                    .filter(|h| h.0.len() >= 4)
                    .map(|h| oriented(&h, false))
                    .collect();
                Some(Polygon::new(oriented(&ext, true), holes))
            })
            .collect(),
    )
}

/// Rounds to 6 decimals (≈ 0.1 m), the precision written to GeoJSON.
pub fn round6(v: f64) -> f64 {
    crate::geom::round_fast(v * 1e6) / 1e6
}
