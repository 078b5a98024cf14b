//! Stamping reached roads, with interpolated times, onto a metric travel-time grid.
//!
//! Each reached road is sampled once every cell along its real shape (plus the exact points where
//! time runs out); the time at a sample is the minimum over the road's stretches (reached from
//! either end, or from an origin on it). A sample marks its nearest grid vertex (at most half a
//! cell diagonal away) with its time; each marked vertex then reaches the vertices within the
//! off-road allowance at `t + d / v_off` (walking the last stretch), the allowance being
//! measured from the road point (`d ≤ R − h/√2`, at least one cell). A vertex keeps the minimum,
//! so a reached road point is always within one cell of its band's polygon, and no vertex is
//! reached by a walk longer than `R` from a road point. Only road geometry is stamped, never ferry lines, so water is
//! crossed only where the allowance itself spans it.

use super::reach::{by_road, Stretch};
use crate::geom::locate_along;
use crate::geom::projection::LocalProjection;
use crate::graph::RoadGraph;

/// A point of a reached road, in local metres, with its travel time in seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub x: f32,
    pub y: f32,
    pub t: f32,
    /// Label of the source (city) that reached it first.
    pub label: u32,
}

/// How reached roads turn into grid values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridParams {
    /// Grid cell size (m).
    pub cell_m: f64,
    /// Largest off-road distance (m) from a reached road point.
    pub offroad_m: f64,
    /// Off-road speed (m/s).
    pub offroad_mps: f64,
}

/// Samples every reached road (ferries excluded) every `step_m` metres within `limit` seconds.
pub fn sample_roads(
    g: &RoadGraph,
    proj: &LocalProjection,
    stretches: &[Stretch],
    limit: f64,
    step_m: f64,
) -> Vec<Sample> {
    let mut out = Vec::new();
    let mut pts: Vec<(f64, f64)> = Vec::new();
    let mut cum: Vec<f64> = Vec::new();
    for group in by_road(stretches) {
        let road = group[0].road as usize;
        if g.is_ferry(road) {
            continue;
        }
        let geom = g.road_geometry(road);
        pts.clear();
        pts.extend(geom.iter().map(|c| proj.forward(c.lon(), c.lat())));
        cum.clear();
        cum.push(0.0);
        for w in pts.windows(2) {
            let d = ((w[1].0 - w[0].0).powi(2) + (w[1].1 - w[0].1).powi(2)).sqrt();
            cum.push(cum[cum.len() - 1] + d);
        }
        let total = cum[cum.len() - 1];
        // Positions to sample: a regular spacing over each reached interval, ends included. The
        // order does not matter (the grid keeps minima), so no sorting is needed; the time at a
        // position is the minimum over the road's stretches.
        let emit = |s: f64, out: &mut Vec<Sample>| {
            let mut best: Option<(f64, u32)> = None;
            for st in group {
                if let (Some(t), Some((lo, hi))) = (st.time_at(s), st.interval(limit)) {
                    if s >= lo - 1e-9
                        && s <= hi + 1e-9
                        && best.is_none_or(|b| t < b.0 || (t == b.0 && st.label < b.1))
                    {
                        best = Some((t, st.label));
                    }
                }
            }
            let Some((t, label)) = best else { return };
            let d = s * total;
            let (i, f) = locate_along(&cum, d);
            let (a, b) = (pts[i - 1], pts[i]);
            out.push(Sample {
                x: (a.0 + (b.0 - a.0) * f) as f32,
                y: (a.1 + (b.1 - a.1) * f) as f32,
                t: t.min(limit) as f32,
                label,
            });
        };
        for st in group {
            if let Some((lo, hi)) = st.interval(limit) {
                let n = ((hi - lo) * total / step_m).ceil().max(1.0) as usize;
                for k in 0..=n {
                    emit(lo + (hi - lo) * k as f64 / n as f64, &mut out);
                }
            }
        }
    }
    out
}

/// Largest grid (vertices) a polygon is drawn on: about 2 GB of working memory. A larger one means
/// a cell too fine for the area reached; the caller reports it instead of running out of memory.
pub const MAX_GRID_CELLS: usize = 100_000_000;

/// The area reached is too large for the cell size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridTooLarge {
    pub cells: usize,
    pub cell_m: f64,
}

/// A travel-time grid in local metres: vertex `(i, j)` is at `(x0 + i·cell, y0 + j·cell)`.
#[derive(Clone, Debug)]
pub struct TimeGrid {
    pub x0: f64,
    pub y0: f64,
    pub cell: f64,
    pub nx: usize,
    pub ny: usize,
    /// Seconds; `f32::INFINITY` where unreached.
    pub values: Vec<f32>,
    /// Source label per vertex (catchments), `u32::MAX` where unreached; empty without labels.
    pub labels: Vec<u32>,
}

impl TimeGrid {
    /// Stamps `samples` onto a grid covering them plus the allowance and a margin.
    pub fn stamp(
        samples: &[Sample],
        p: &GridParams,
        with_labels: bool,
    ) -> Result<TimeGrid, GridTooLarge> {
        TimeGrid::stamp_reusing(samples, p, with_labels, Vec::new())
    }

    /// [`TimeGrid::stamp`] writing into `buffer` (its allocation is reused: a batch of cities
    /// does not fault in fresh memory for every grid).
    pub fn stamp_reusing(
        samples: &[Sample],
        p: &GridParams,
        with_labels: bool,
        mut buffer: Vec<f32>,
    ) -> Result<TimeGrid, GridTooLarge> {
        let h = p.cell_m;
        let r = p.offroad_m.max(h);
        let (mut minx, mut miny, mut maxx, mut maxy) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for s in samples {
            minx = minx.min(s.x as f64);
            miny = miny.min(s.y as f64);
            maxx = maxx.max(s.x as f64);
            maxy = maxy.max(s.y as f64);
        }
        if samples.is_empty() {
            (minx, miny, maxx, maxy) = (0.0, 0.0, 0.0, 0.0);
        }
        let margin = r + 2.0 * h;
        // Align the lattice to multiples of the cell size so grids of one projection agree.
        let x0 = ((minx - margin) / h).floor() * h;
        let y0 = ((miny - margin) / h).floor() * h;
        let nx = (((maxx + margin) - x0) / h).ceil() as usize + 1;
        let ny = (((maxy + margin) - y0) / h).ceil() as usize + 1;
        if nx.saturating_mul(ny) > MAX_GRID_CELLS {
            return Err(GridTooLarge {
                cells: nx.saturating_mul(ny),
                cell_m: h,
            });
        }
        let inv_v = 1.0 / p.offroad_mps;

        // 1. Seeds: each sample marks its nearest vertex (at most h/√2 away) with its time.
        buffer.clear();
        buffer.resize(nx * ny, f32::INFINITY);
        let mut seeds = buffer;
        let mut seed_labels = if with_labels {
            vec![u32::MAX; nx * ny]
        } else {
            Vec::new()
        };
        let mut seeded: Vec<u32> = Vec::with_capacity(samples.len());
        for s in samples {
            let i = ((s.x as f64 - x0) / h).round() as usize;
            let j = ((s.y as f64 - y0) / h).round() as usize;
            let k = j * nx + i;
            if seeds[k].is_infinite() {
                seeded.push(k as u32);
            }
            if s.t < seeds[k] || (with_labels && s.t == seeds[k] && s.label < seed_labels[k]) {
                seeds[k] = s.t;
                if with_labels {
                    seed_labels[k] = s.label;
                }
            }
        }
        // Deterministic order (samples come in road order; the minimum does not depend on it,
        // labels on ties are resolved by the smaller label).
        seeded.sort_unstable();

        // 2. Walking from each seed within the allowance (a precomputed disc of offsets). The
        // seed is up to h/√2 from its road point, so the disc is that much smaller (but at least
        // one cell, so that consecutive samples' vertices always connect). The grid's margin is
        // wider than the disc, so offsets never leave the grid.
        let r = (r - h * std::f64::consts::FRAC_1_SQRT_2).max(h);
        let reach = (r / h).floor() as isize;
        let mut kernel: Vec<(isize, f32)> = Vec::new();
        for dj in -reach..=reach {
            for di in -reach..=reach {
                let d = ((di * di + dj * dj) as f64).sqrt() * h;
                if d <= r + 1e-9 && (di, dj) != (0, 0) {
                    kernel.push((dj * nx as isize + di, (d * inv_v) as f32));
                }
            }
        }
        // Seed values by vertex, then the same arrays become the result.
        let seed_list: Vec<(u32, f32, u32)> = seeded
            .iter()
            .map(|&k| {
                (
                    k,
                    seeds[k as usize],
                    if with_labels {
                        seed_labels[k as usize]
                    } else {
                        0
                    },
                )
            })
            .collect();
        let mut values = seeds;
        let mut labels = seed_labels;
        for &(k, t0, l0) in &seed_list {
            let k = k as isize;
            if with_labels {
                for &(off, c) in &kernel {
                    let kk = (k + off) as usize;
                    let t = t0 + c;
                    if t < values[kk] || (t == values[kk] && l0 < labels[kk]) {
                        values[kk] = t;
                        labels[kk] = l0;
                    }
                }
            } else {
                for &(off, c) in &kernel {
                    let kk = (k + off) as usize;
                    let t = t0 + c;
                    if t < values[kk] {
                        values[kk] = t;
                    }
                }
            }
        }
        Ok(TimeGrid {
            x0,
            y0,
            cell: h,
            nx,
            ny,
            values,
            labels,
        })
    }

    /// Value at vertex (i, j).
    pub fn at(&self, i: usize, j: usize) -> f32 {
        self.values[j * self.nx + i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_takes_minimum_plus_walking() {
        let p = GridParams {
            cell_m: 10.0,
            offroad_m: 30.0 + 10.0 * std::f64::consts::FRAC_1_SQRT_2,
            offroad_mps: 1.0,
        };
        // Samples exactly on vertices: the seed is the sample's own time; the disc is 30 m.
        let s = [
            Sample {
                x: 0.0,
                y: 0.0,
                t: 5.0,
                label: 1,
            },
            Sample {
                x: 20.0,
                y: 0.0,
                t: 100.0,
                label: 0,
            },
        ];
        let g = TimeGrid::stamp(&s, &p, true).unwrap();
        let i0 = ((0.0 - g.x0) / 10.0).round() as usize;
        let j0 = ((0.0 - g.y0) / 10.0).round() as usize;
        assert_eq!(g.at(i0, j0), 5.0);
        assert_eq!(g.at(i0 + 2, j0), 25.0); // walking 20 m from the first beats the second's 100
        assert_eq!(g.at(i0 + 3, j0), 35.0);
        assert_eq!(g.at(i0 + 4, j0), 120.0); // only the second reaches (20 m from it)
        assert!(g.at(i0 + 6, j0).is_infinite());
        assert_eq!(g.labels[j0 * g.nx + i0 + 2], 1);
        assert_eq!(g.labels[j0 * g.nx + i0 + 4], 0);
        // Every reached vertex is within the allowance of some sample.
        for j in 0..g.ny {
            for i in 0..g.nx {
                if g.at(i, j).is_finite() {
                    let (x, y) = (g.x0 + i as f64 * 10.0, g.y0 + j as f64 * 10.0);
                    let d = s
                        .iter()
                        .map(|s| ((x - s.x as f64).powi(2) + (y - s.y as f64).powi(2)).sqrt())
                        .fold(f64::MAX, f64::min);
                    assert!(d <= p.offroad_m + 1e-6, "vertex {x},{y} reached from {d} m");
                }
            }
        }
    }
}
