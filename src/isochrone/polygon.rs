//! From a travel-time grid to nested band polygons in WGS-84.
//!
//! Marching squares (the `contour` crate, d3-contour's algorithm) on the grid gives, for each
//! threshold, the region whose travel time is at most that threshold. All bands come from one
//! grid, so a smaller band lies inside a larger one by construction. Rings are re-nested by
//! containment depth (the crate attaches a hole to the first exterior containing it, which is
//! wrong for islands inside holes), straight runs are removed losslessly, an optional
//! topology-preserving simplification is applied (then each band is clipped by the next larger
//! one to keep nesting exact), and coordinates are mapped back to lon/lat and rounded to the
//! 6 decimals written to GeoJSON, so that areas are measured on exactly the published shape.

use super::stamp::TimeGrid;
use crate::geom::projection::LocalProjection;
use crate::geom::rings::{nest, oriented, remove_collinear};
use geo::{BooleanOps, Coord, LineString, MultiPolygon, Polygon, SimplifyVwPreserve};

/// Value used for unreached vertices (below every negated threshold).
const UNREACHED: f64 = -1e12;

/// Polygons (lon/lat, 6 decimals) of the regions where the grid time is at most each threshold
/// (seconds, ascending).
pub fn band_polygons(
    grid: &TimeGrid,
    thresholds_s: &[f64],
    proj: &LocalProjection,
    simplify_m: f64,
) -> Vec<MultiPolygon<f64>> {
    // contour finds regions with value ≥ threshold: negate times.
    let values: Vec<f64> = grid
        .values
        .iter()
        .map(|&v| {
            if v.is_finite() {
                -(v as f64)
            } else {
                UNREACHED
            }
        })
        .collect();
    let negated: Vec<f64> = thresholds_s.iter().map(|t| -t).collect();
    contour_regions(grid, &values, &negated, proj, simplify_m)
}

/// Polygons of the region where `mask` holds (vertex-wise), e.g. one catchment of a labelled grid.
pub fn mask_polygon(
    grid: &TimeGrid,
    mask: impl Fn(usize) -> bool,
    proj: &LocalProjection,
    simplify_m: f64,
) -> MultiPolygon<f64> {
    let values: Vec<f64> = (0..grid.values.len())
        .map(|k| if mask(k) { 1.0 } else { 0.0 })
        .collect();
    contour_regions(grid, &values, &[0.5], proj, simplify_m)
        .pop()
        .unwrap_or_else(|| MultiPolygon(vec![]))
}

fn contour_regions(
    grid: &TimeGrid,
    values: &[f64],
    thresholds: &[f64],
    proj: &LocalProjection,
    simplify_m: f64,
) -> Vec<MultiPolygon<f64>> {
    let h = grid.cell;
    // d3-contour puts value (i, j) at pixel centre (i + ½, j + ½): shift so it lands on the vertex.
    let builder = contour::ContourBuilder::new(grid.nx, grid.ny, false)
        .x_origin(grid.x0 - 0.5 * h)
        .y_origin(grid.y0 - 0.5 * h)
        .x_step(h)
        .y_step(h);
    let contours = match builder.contours(values, thresholds) {
        Ok(c) => c,
        Err(_) => return thresholds.iter().map(|_| MultiPolygon(vec![])).collect(),
    };
    let mut metric: Vec<MultiPolygon<f64>> = contours
        .into_iter()
        .map(|c| {
            let (mp, _) = c.into_inner();
            let rings: Vec<LineString<f64>> =
                mp.0.into_iter()
                    .flat_map(|p| {
                        let (ext, holes) = p.into_inner();
                        std::iter::once(ext).chain(holes)
                    })
                    .map(|r| remove_collinear(&r))
                    .collect();
            nest(rings)
        })
        .collect();
    if simplify_m > 0.0 {
        let eps = simplify_m * simplify_m / 2.0;
        for mp in metric.iter_mut() {
            *mp = mp.simplify_vw_preserve(eps);
        }
        // Keep bands nested after simplifying each on its own.
        for k in (0..metric.len().saturating_sub(1)).rev() {
            metric[k] = metric[k].intersection(&metric[k + 1]);
        }
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
    (v * 1e6).round() / 1e6
}
