//! Stamping reached road geometry, with interpolated times, onto a metric travel-time grid.
//!
//! Each reached stretch of road is sampled every half cell along its real shape; a sample at time
//! `t` reaches every grid vertex within the off-road allowance `R` at `t + d / v_off` (walking the
//! last stretch). A vertex keeps the minimum. Only road geometry is stamped, never ferry lines, so
//! water is crossed only where the allowance itself spans it.

use crate::geom::projection::LocalProjection;
use crate::geom::CoordE7;

/// A point of a reached road, in local metres, with its travel time in seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub x: f32,
    pub y: f32,
    pub t: f32,
    /// Label of the source (city) that reached it (catchments); 0 when unused.
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

/// Samples the stretch of a polyline from fraction `s0` to `s1` of its length (either direction),
/// where time runs linearly from `t0` (at `s0`) to `t1` (at `s1`), keeping only the part reached
/// within `limit` and cutting at the interpolated point where time runs out.
#[allow(clippy::too_many_arguments)]
pub fn sample_stretch(
    proj: &LocalProjection,
    geom: &[CoordE7],
    s0: f64,
    s1: f64,
    t0: f64,
    t1: f64,
    limit: f64,
    step_m: f64,
    label: u32,
    out: &mut Vec<Sample>,
) {
    if t0 > limit || geom.len() < 2 {
        return;
    }
    let pts: Vec<(f64, f64)> = geom.iter().map(|c| proj.forward(c.lon(), c.lat())).collect();
    let mut cum = Vec::with_capacity(pts.len());
    let mut acc = 0.0;
    cum.push(0.0);
    for w in pts.windows(2) {
        acc += ((w[1].0 - w[0].0).powi(2) + (w[1].1 - w[0].1).powi(2)).sqrt();
        cum.push(acc);
    }
    let total = acc;
    let (d0, d1_full) = (s0 * total, s1 * total);
    // Cut where time runs out.
    let d1 = if t1 > limit && t1 != t0 {
        d0 + (d1_full - d0) * ((limit - t0) / (t1 - t0))
    } else {
        d1_full
    };
    let time_at = |d: f64| -> f64 {
        if d1_full == d0 {
            t0
        } else {
            t0 + (d - d0) / (d1_full - d0) * (t1 - t0)
        }
    };
    let point_at = |d: f64| -> (f64, f64) {
        let i = cum.partition_point(|&c| c <= d).clamp(1, cum.len() - 1);
        let (a, b) = (pts[i - 1], pts[i]);
        let seg = cum[i] - cum[i - 1];
        let f = if seg > 0.0 { ((d - cum[i - 1]) / seg).clamp(0.0, 1.0) } else { 0.0 };
        (a.0 + (b.0 - a.0) * f, a.1 + (b.1 - a.1) * f)
    };
    // Positions along the stretch: its ends, every vertex in between, and fillers so that no gap
    // exceeds the step.
    let (lo, hi) = if d0 <= d1 { (d0, d1) } else { (d1, d0) };
    let mut stops: Vec<f64> = Vec::new();
    stops.push(d0);
    let inner = cum.iter().copied().filter(|&c| c > lo && c < hi);
    if d0 <= d1 {
        stops.extend(inner);
    } else {
        let mut v: Vec<f64> = inner.collect();
        v.reverse();
        stops.extend(v);
    }
    stops.push(d1);
    let mut emit = |d: f64| {
        let (x, y) = point_at(d);
        out.push(Sample {
            x: x as f32,
            y: y as f32,
            t: time_at(d).min(limit) as f32,
            label,
        });
    };
    emit(stops[0]);
    for w in stops.windows(2) {
        let gap = (w[1] - w[0]).abs();
        let k = (gap / step_m).ceil().max(1.0) as usize;
        for j in 1..=k {
            emit(w[0] + (w[1] - w[0]) * j as f64 / k as f64);
        }
    }
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
    /// Source label per vertex (catchments), `u32::MAX` where unreached.
    pub labels: Vec<u32>,
}

impl TimeGrid {
    /// Stamps `samples` onto a grid covering them plus the allowance and a margin.
    pub fn stamp(samples: &[Sample], p: &GridParams, with_labels: bool) -> TimeGrid {
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
        let mut values = vec![f32::INFINITY; nx * ny];
        let mut labels = if with_labels { vec![u32::MAX; nx * ny] } else { Vec::new() };
        let reach = (r / h).ceil() as i64;
        let inv_v = 1.0 / p.offroad_mps;
        let r2 = r * r;
        for s in samples {
            let (sx, sy) = (s.x as f64, s.y as f64);
            let ci = ((sx - x0) / h).round() as i64;
            let cj = ((sy - y0) / h).round() as i64;
            for j in (cj - reach).max(0)..=(cj + reach).min(ny as i64 - 1) {
                let vy = y0 + j as f64 * h;
                let dy2 = (vy - sy) * (vy - sy);
                if dy2 > r2 {
                    continue;
                }
                let row = j as usize * nx;
                for i in (ci - reach).max(0)..=(ci + reach).min(nx as i64 - 1) {
                    let vx = x0 + i as f64 * h;
                    let d2 = (vx - sx) * (vx - sx) + dy2;
                    if d2 > r2 {
                        continue;
                    }
                    let t = s.t + (d2.sqrt() * inv_v) as f32;
                    let k = row + i as usize;
                    let cur = values[k];
                    if t < cur || (with_labels && t == cur && s.label < labels[k]) {
                        values[k] = t;
                        if with_labels {
                            labels[k] = s.label;
                        }
                    }
                }
            }
        }
        TimeGrid {
            x0,
            y0,
            cell: h,
            nx,
            ny,
            values,
            labels,
        }
    }

    /// Value at vertex (i, j).
    pub fn at(&self, i: usize, j: usize) -> f32 {
        self.values[j * self.nx + i]
    }

    /// Travel time at an arbitrary point (bilinear between vertices; infinite outside).
    pub fn sample(&self, x: f64, y: f64) -> f32 {
        let fi = (x - self.x0) / self.cell;
        let fj = (y - self.y0) / self.cell;
        if fi < 0.0 || fj < 0.0 || fi >= (self.nx - 1) as f64 || fj >= (self.ny - 1) as f64 {
            return f32::INFINITY;
        }
        let (i, j) = (fi.floor() as usize, fj.floor() as usize);
        let (u, v) = ((fi - i as f64) as f32, (fj - j as f64) as f32);
        let (a, b, c, d) = (self.at(i, j), self.at(i + 1, j), self.at(i, j + 1), self.at(i + 1, j + 1));
        if !(a.is_finite() && b.is_finite() && c.is_finite() && d.is_finite()) {
            return f32::INFINITY;
        }
        a * (1.0 - u) * (1.0 - v) + b * u * (1.0 - v) + c * (1.0 - u) * v + d * u * v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretch_is_cut_where_time_runs_out() {
        let proj = LocalProjection::new(0.0, 0.0);
        // A 1,112 m straight road along the equator (0.01°), 100 s end to end.
        let geom = [CoordE7::from_degrees(0.0, 0.0), CoordE7::from_degrees(0.01, 0.0)];
        let mut out = Vec::new();
        sample_stretch(&proj, &geom, 0.0, 1.0, 0.0, 100.0, 50.0, 50.0, 0, &mut out);
        let last = out.last().unwrap();
        assert!((last.x as f64 - 1111.95 / 2.0).abs() < 1.0, "cut at {}", last.x);
        assert_eq!(last.t, 50.0);
        assert!(out.windows(2).all(|w| (w[1].x - w[0].x).abs() <= 50.01));
        // Backwards from the end: times along the reversed direction.
        out.clear();
        sample_stretch(&proj, &geom, 1.0, 0.0, 10.0, 110.0, 1000.0, 50.0, 0, &mut out);
        assert!((out[0].x as f64 - 1111.95).abs() < 1.0 && out[0].t == 10.0);
        assert!(out.last().unwrap().x.abs() < 1e-3 && out.last().unwrap().t == 110.0);
        // Starting beyond the limit stamps nothing.
        out.clear();
        sample_stretch(&proj, &geom, 0.0, 1.0, 60.0, 160.0, 50.0, 50.0, 0, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn grid_takes_minimum_plus_walking() {
        let p = GridParams { cell_m: 10.0, offroad_m: 30.0, offroad_mps: 1.0 };
        let s = [Sample { x: 0.0, y: 0.0, t: 5.0, label: 1 }, Sample { x: 20.0, y: 0.0, t: 100.0, label: 0 }];
        let g = TimeGrid::stamp(&s, &p, true);
        let i0 = ((0.0 - g.x0) / 10.0).round() as usize;
        let j0 = ((0.0 - g.y0) / 10.0).round() as usize;
        assert_eq!(g.at(i0, j0), 5.0);
        assert_eq!(g.at(i0 + 2, j0), 25.0); // walking 20 m from the first beats the second
        assert_eq!(g.at(i0 + 3, j0), 35.0);
        assert_eq!(g.at(i0 + 4, j0), 120.0); // only the second reaches
        assert!(g.at(i0 + 6, j0).is_infinite());
        assert_eq!(g.labels[j0 * g.nx + i0 + 2], 1);
    }
}
