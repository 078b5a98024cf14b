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

use super::reach::{by_road, reached_share, Stretch};
use super::search::SearchScratch;
use super::snap::Snapped;
use crate::geom::projection::LocalProjection;
use crate::geom::round_i64;
use crate::geom::CoordE7;
use crate::graph::RoadGraph;

/// A point of a reached road on the sampling lattice: its nearest lattice vertex `(i, j)` (at
/// `(i·cell, j·cell)` in local metres, so at most half a cell diagonal away), with the travel
/// time (s) of the road point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub i: i32,
    pub j: i32,
    pub t: f32,
    /// Label of the source (city) that reached it.
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

/// What a search reached, as the sampler reads it (the roads come one by one:
/// [`RoadSampler::road`]).
pub struct Reached<'a> {
    /// The search's times and labels.
    pub search: &'a SearchScratch,
    /// Its settled nodes, in any order (ascending ids read the graph in memory order).
    pub nodes: &'a [u32],
    /// The snapped origins and their labels (time 0 at each).
    pub origins: &'a [(Snapped, u32)],
    /// Nodes on ferry lines only (e.g. where two ferry ways meet at sea), ascending: never
    /// sampled ([`sea_nodes`]).
    pub sea_nodes: &'a [u32],
    /// Bound on a road's projected length ÷ its length, over all the nodes the search settled
    /// ([`stretch_factor`]): roads too short to hold a sample between their ends are skipped.
    pub stretch_factor: f64,
}

/// How much longer a road can be in the projection than on the ground: east-west lengths scale
/// by cos φ₀ / cos φ, over the latitudes of the settled `nodes` plus a margin for road shapes.
/// Infinite (never skip a road) when nothing was settled.
pub fn stretch_factor(g: &RoadGraph, proj: &LocalProjection, nodes: &[u32]) -> f64 {
    if nodes.is_empty() {
        return f64::INFINITY;
    }
    let (mut lat_lo, mut lat_hi) = (i32::MAX, i32::MIN);
    for &u in nodes {
        let c = g.node_coords[u as usize];
        lat_lo = lat_lo.min(c.lat);
        lat_hi = lat_hi.max(c.lat);
    }
    let far_lat = (lat_lo.unsigned_abs().max(lat_hi.unsigned_abs()) as f64 * 1e-7 + 0.1).min(89.0);
    (proj.lat0.to_radians().cos() / far_lat.to_radians().cos()).max(1.0) * 1.01
}

/// The nodes whose every out-edge is a ferry, ascending. Every node keeps at least one out-edge
/// (islands are dropped at import), so any other node is a point of some road.
pub fn sea_nodes(g: &RoadGraph) -> Vec<u32> {
    use rayon::prelude::*;
    (0..g.num_nodes() as u32)
        .into_par_iter()
        .filter(|&u| g.out_range(u).all(|e| g.is_ferry(g.edge_road(e).0)))
        .collect()
}

/// Samples every reached road (ferries excluded) about every `cell_m` metres within `limit`
/// seconds, onto the lattice of that cell size (see [`RoadSampler`]); `stretches` grouped by
/// road ([`super::reach::stretches`]).
pub fn sample_roads(
    g: &RoadGraph,
    proj: &LocalProjection,
    reached: &Reached,
    stretches: &[Stretch],
    limit: f64,
    cell_m: f64,
) -> Vec<Sample> {
    let mut out = Vec::new();
    let mut sampler = RoadSampler::new(g, proj, reached, limit, cell_m, &[], &mut out);
    for group in by_road(stretches) {
        sampler.road(group);
    }
    sampler.finish();
    out
}

/// Samples what a search reached onto the lattice, road by road.
///
/// Every origin's snapped point is a sample at time 0, and every node the search settled that
/// lies on a road (not only on ferry lines, which may meet at sea) is one sample with its time: a
/// node's time is the minimum over the roads that meet there. Each road is then walked once over
/// the union of its reached intervals at a regular spacing of at most one cell, its ends excluded
/// where they are nodes (they are sampled already), so a short road between two reached nodes
/// costs nothing. The time at a point of a road is the minimum over the road's stretches that
/// reach it (ties to the smaller label); along a road it has local minima only at its nodes and
/// origins, which are sampled exactly. Consecutive points of a walk that fall on the same lattice
/// vertex become one sample with the smaller time.
///
/// The same pass sums the length of road (ferries included) reached within each of `km_limits`
/// (s): the same terms as [`super::reach::reached_road_km`] (a circle adds up two samplers'
/// sums, one per half of the settled nodes).
pub struct RoadSampler<'a> {
    g: &'a RoadGraph,
    proj: &'a LocalProjection,
    limit: f64,
    km_limits: &'a [f64],
    reached_m: Vec<f64>,
    walker: Walker,
    ivs: Vec<StretchSpan>,
    share_ivs: Vec<(f64, f64)>,
    pieces: Vec<(f64, f64)>,
    out: &'a mut Vec<Sample>,
}

impl<'a> RoadSampler<'a> {
    /// Starts with the origins' and the settled nodes' samples, into `out` (cleared first; its
    /// allocation is reused).
    pub fn new(
        g: &'a RoadGraph,
        proj: &'a LocalProjection,
        reached: &Reached,
        limit: f64,
        cell_m: f64,
        km_limits: &'a [f64],
        out: &'a mut Vec<Sample>,
    ) -> RoadSampler<'a> {
        out.clear();
        let inv_h = 1.0 / cell_m;
        let lattice = |c: CoordE7| -> (i32, i32) {
            let (x, y) = proj.forward(c.lon(), c.lat());
            lattice_vertex(x, y, inv_h)
        };
        for (snap, label) in reached.origins {
            let (i, j) = lattice(snap.point);
            out.push(Sample {
                i,
                j,
                t: 0.0,
                label: *label,
            });
        }
        let search = reached.search;
        for &u in reached.nodes {
            if !reached.sea_nodes.is_empty() && reached.sea_nodes.binary_search(&u).is_ok() {
                continue;
            }
            let (i, j) = lattice(g.node_coords[u as usize]);
            out.push(Sample {
                i,
                j,
                t: (search.time(u) as f64 / 1000.0).min(limit) as f32,
                label: search.label(u).unwrap_or(0),
            });
        }
        RoadSampler {
            g,
            proj,
            limit,
            km_limits,
            reached_m: vec![0.0; km_limits.len()],
            walker: Walker {
                inv_h,
                stretch_factor: reached.stretch_factor,
                road: usize::MAX,
                pts: Vec::new(),
                cum: Vec::new(),
            },
            ivs: Vec::new(),
            share_ivs: Vec::new(),
            pieces: Vec::new(),
            out,
        }
    }

    /// Samples one road, given all its stretches.
    pub fn road(&mut self, group: &[Stretch]) {
        let (g, proj, limit) = (self.g, self.proj, self.limit);
        let road = group[0].road as usize;
        let length_m = g.road_length_m[road] as f64;
        let share = reached_share(group, limit, &mut self.share_ivs);
        for (k, &t) in self.km_limits.iter().enumerate() {
            let share_t = if t == limit {
                share
            } else {
                reached_share(group, t, &mut self.share_ivs)
            };
            self.reached_m[k] += share_t * length_m;
        }
        if share == 0.0 || g.is_ferry(road) {
            return;
        }
        // Most roads are short and reached whole (from both ends): nothing to walk (the walk
        // would find the same, after building the intervals).
        let walker = &mut self.walker;
        if share == 1.0 && length_m * walker.stretch_factor * walker.inv_h <= 1.0 {
            return;
        }
        let (ivs, pieces, out) = (&mut self.ivs, &mut self.pieces, &mut *self.out);
        ivs.clear();
        ivs.extend(group.iter().filter_map(|st| {
            st.interval(limit).map(|(lo, hi)| {
                let (c0, c1) = st.linear();
                StretchSpan {
                    lo,
                    hi,
                    c0,
                    c1,
                    label: st.label,
                }
            })
        }));
        if ivs.is_empty() {
            return;
        }
        if let [iv] = ivs[..] {
            // One stretch: the time is linear along the walk.
            let (ta, tb) = (
                (iv.c0 + iv.c1 * iv.lo).min(limit),
                (iv.c0 + iv.c1 * iv.hi).min(limit),
            );
            walker.walk(g, proj, road, iv.lo, iv.hi, out, |_, frac| {
                ((ta + (tb - ta) * frac) as f32, iv.label)
            });
            return;
        }
        // Several stretches (a road reached from both ends, or with an origin on it): walk each
        // piece of their union once, taking the minimum (ties to the smaller label).
        ivs.sort_by(|a, b| a.lo.total_cmp(&b.lo));
        pieces.clear();
        for iv in ivs.iter() {
            match pieces.last_mut() {
                Some(last) if iv.lo <= last.1 => last.1 = last.1.max(iv.hi),
                _ => pieces.push((iv.lo, iv.hi)),
            }
        }
        let ivs = &*ivs;
        for &(a, b) in pieces.iter() {
            walker.walk(g, proj, road, a, b, out, |s, _| {
                let mut best = (f64::INFINITY, u32::MAX);
                for iv in ivs {
                    if s >= iv.lo - 1e-9 && s <= iv.hi + 1e-9 {
                        let t = iv.c0 + iv.c1 * s;
                        if t < best.0 || (t == best.0 && iv.label < best.1) {
                            best = (t, iv.label);
                        }
                    }
                }
                (best.0.min(limit) as f32, best.1)
            });
        }
    }

    /// The road length (m) reached within each of `km_limits`.
    pub fn finish(self) -> Vec<f64> {
        self.reached_m
    }
}

/// One stretch's reached interval of road positions, with its time `c0 + c1·s` there.
#[derive(Clone, Copy)]
struct StretchSpan {
    lo: f64,
    hi: f64,
    c0: f64,
    c1: f64,
    label: u32,
}

/// One road's shape in local metres (projected when first walked), walked at a regular spacing
/// onto the lattice.
struct Walker {
    inv_h: f64,
    /// Bound on projected length ÷ ground length.
    stretch_factor: f64,
    /// The road whose shape `pts` and `cum` hold.
    road: usize,
    pts: Vec<(f64, f64)>,
    /// Cumulative length at each vertex.
    cum: Vec<f64>,
}

impl Walker {
    fn project(&mut self, g: &RoadGraph, proj: &LocalProjection, road: usize) {
        if self.road == road {
            return;
        }
        self.road = road;
        self.pts.clear();
        self.pts.extend(
            g.road_geometry(road)
                .iter()
                .map(|c| proj.forward(c.lon(), c.lat())),
        );
        self.cum.clear();
        self.cum.push(0.0);
        let mut acc = 0.0;
        for w in self.pts.windows(2) {
            let (dx, dy) = (w[1].0 - w[0].0, w[1].1 - w[0].1);
            acc += (dx * dx + dy * dy).sqrt();
            self.cum.push(acc);
        }
    }

    /// Samples road positions `lo..=hi` (shares of its length) at `n + 1` evenly spaced points,
    /// `n` the fewest that keeps the spacing within one cell, leaving out the road's own ends
    /// (positions exactly 0 and 1: nodes, sampled on their own). `time(s, k/n)` gives the time
    /// and label at point `k`, at position `s`.
    #[allow(clippy::too_many_arguments)]
    fn walk(
        &mut self,
        g: &RoadGraph,
        proj: &LocalProjection,
        road: usize,
        lo: f64,
        hi: f64,
        out: &mut Vec<Sample>,
        time: impl Fn(f64, f64) -> (f32, u32),
    ) {
        if lo == 0.0
            && hi == 1.0
            && g.road_length_m[road] as f64 * self.stretch_factor * self.inv_h <= 1.0
        {
            return; // a short road between two reached nodes: nothing between them to add
        }
        self.project(g, proj, road);
        let cum = &self.cum;
        let total = cum[cum.len() - 1];
        let n = ceil_usize((hi - lo) * total * self.inv_h).max(1);
        let k_first = usize::from(lo == 0.0);
        let k_last = if hi == 1.0 { n - 1 } else { n };
        if k_first > k_last {
            return;
        }
        let inv_n = 1.0 / n as f64;
        let (d0, dd) = (lo * total, (hi - lo) * total * inv_n);
        let last = cum.len() - 1;
        let first = out.len();
        let mut k = k_first;
        // Below this, `c1 - d0` is surely short of point `k` (the margin dwarfs rounding), so a
        // segment ending there holds no point: skipped without the division below, which
        // decides every other case exactly as before.
        let short_of = |k: usize| {
            if dd > 0.0 {
                k as f64 * dd * (1.0 - 1e-9)
            } else {
                f64::NEG_INFINITY
            }
        };
        let mut short = short_of(k);
        // Segment by segment: the points on a segment are an arithmetic run, so no search.
        for seg in 1..=last {
            let (c0, c1) = (cum[seg - 1], cum[seg]);
            if seg != last && c1 - d0 < short {
                continue;
            }
            let end_k = if seg == last || dd <= 0.0 {
                k_last
            } else {
                let e = (c1 - d0) / dd;
                if e < k as f64 {
                    continue;
                }
                (e as usize).min(k_last) // truncation is floor here: e ≥ 0
            };
            let (a, b) = (self.pts[seg - 1], self.pts[seg]);
            let len = c1 - c0;
            let (ux, uy) = if len > 0.0 {
                ((b.0 - a.0) / len, (b.1 - a.1) / len)
            } else {
                (0.0, 0.0)
            };
            for kk in k..=end_k {
                let d = d0 + kk as f64 * dd;
                let off = (d - c0).clamp(0.0, len);
                let (x, y) = (a.0 + ux * off, a.1 + uy * off);
                let frac = kk as f64 * inv_n;
                let (t, label) = time(lo + (hi - lo) * frac, frac);
                let (i, j) = lattice_vertex(x, y, self.inv_h);
                if out.len() > first {
                    let prev = out.last_mut().expect("a sample of this walk");
                    if prev.i == i && prev.j == j && prev.label == label {
                        prev.t = prev.t.min(t);
                        continue;
                    }
                }
                out.push(Sample { i, j, t, label });
            }
            k = end_k + 1;
            if k > k_last {
                break;
            }
            short = short_of(k);
        }
    }
}

/// The lattice vertex nearest to local metres `(x, y)`, for cells of `1 / inv_h` metres.
#[inline]
fn lattice_vertex(x: f64, y: f64, inv_h: f64) -> (i32, i32) {
    (round_i64(x * inv_h) as i32, round_i64(y * inv_h) as i32)
}

/// `x.ceil() as usize` for `x ≥ 0` without a call into libm.
#[inline]
fn ceil_usize(x: f64) -> usize {
    let i = x as usize;
    i + usize::from((i as f64) < x)
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

/// Fewest samples for which the grid is seeded and stamped in two bands of rows side by side.
const SPLIT_STAMPING_SAMPLES: usize = 2048;

/// A seed: (column, row, time) of a marked lattice vertex.
type Seed = (u32, u32, f32);

/// Seeding one band of grid rows ([`BandSeeds::seed_and_stamp`]).
struct BandSeeds {
    nx: usize,
    ny: usize,
    /// Lattice position of the grid's vertex (0, 0).
    i0: i64,
    j0: i64,
    /// Rows of the disc above and below its seed.
    reach: usize,
    /// Largest half width of a disc row (columns).
    hw: usize,
}

impl BandSeeds {
    /// Seeds grid rows `rows` (held by `part`, all infinite) from every sample of `parts` that
    /// falls there, records their seeds' column spans in `spans` (the band's rows), then stamps
    /// the discs of those seeds and of the seeds in the `reach` rows on either side (seeded
    /// here into a small buffer of their own) onto the band.
    fn seed_and_stamp(
        &self,
        parts: &[&[Sample]],
        discs: &Discs,
        rows: std::ops::Range<usize>,
        part: &mut [f32],
        spans: &mut [(usize, usize)],
    ) {
        let nx = self.nx;
        let above = rows.start.saturating_sub(self.reach)..rows.start;
        let below = rows.end..(rows.end + self.reach).min(self.ny);
        let mut outer = vec![f32::INFINITY; (above.len() + below.len()) * nx];
        let count: usize = parts.iter().map(|part| part.len()).sum();
        // Many samples share their vertex with a neighbour along the road: a first guess at
        // the seeds (Yuba: three in four samples, Malta: two in five).
        let mut own: Vec<Seed> = Vec::with_capacity(count * rows.len() / self.ny / 2);
        let mut near: Vec<Seed> = Vec::new();
        let (i0, j0) = (self.i0, self.j0);
        for samples in parts {
            for s in samples.iter() {
                let (ci, cj) = ((s.i as i64 - i0) as usize, (s.j as i64 - j0) as usize);
                // Unsigned differences: one comparison per range.
                let (v, seeds) = if cj.wrapping_sub(rows.start) < rows.len() {
                    (&mut part[(cj - rows.start) * nx + ci], &mut own)
                } else if cj.wrapping_sub(above.start) < above.len() {
                    (&mut outer[(cj - above.start) * nx + ci], &mut near)
                } else if cj.wrapping_sub(below.start) < below.len() {
                    let row = above.len() + cj - below.start;
                    (&mut outer[row * nx + ci], &mut near)
                } else {
                    continue;
                };
                if *v == f32::INFINITY {
                    seeds.push((ci as u32, cj as u32, 0.0));
                }
                if s.t < *v {
                    *v = s.t;
                }
            }
        }
        for seed in own.iter_mut() {
            let (ci, row) = (seed.0 as usize, seed.1 as usize - rows.start);
            seed.2 = part[row * nx + ci];
            let span = &mut spans[row];
            span.0 = span.0.min(ci - self.hw);
            span.1 = span.1.max(ci + self.hw + 1);
        }
        for seed in near.iter_mut() {
            let cj = seed.1 as usize;
            let row = if cj < rows.start {
                cj - above.start
            } else {
                above.len() + cj - below.start
            };
            seed.2 = outer[row * nx + seed.0 as usize];
        }
        discs.stamp(&own, part, rows.start);
        discs.stamp(&near, part, rows.start);
    }
}

/// The walking disc around every seed, without labels ([`TimeGrid::stamp_reusing`]).
struct Discs<'a> {
    nx: usize,
    /// Rows of the disc above and below its seed.
    reach: usize,
    /// Largest half width of a disc row (columns).
    hw: usize,
    /// Columns of a padded disc row (a multiple of [`LANES`]).
    width: usize,
    kernel: &'a [KernelRow],
    /// The disc's rows padded to `width` columns with infinite costs, `hw` columns left of the
    /// seed's.
    padded: &'a [f32],
}

impl Discs<'_> {
    /// Stamps every seed's disc onto the grid rows that `part` holds, from row `row0` on. The
    /// margin keeps every disc inside the grid; a padded row that would run past the end of
    /// `part` (into the next grid row) is stamped exactly instead.
    fn stamp(&self, seeds: &[Seed], part: &mut [f32], row0: usize) {
        // The common padded widths get their own copy of the loop, where a row's minimum is a
        // fixed number of vector operations with no loop around them (8 columns: cells of 100 m
        // and the default 300 m allowance; 16: finer cells).
        match self.width {
            8 => self.stamp_rows::<8>(seeds, part, row0),
            16 => self.stamp_rows::<16>(seeds, part, row0),
            _ => self.stamp_rows::<0>(seeds, part, row0),
        }
    }

    /// [`Discs::stamp`] for padded rows of `W` columns (`W == 0`: `self.width`, any).
    #[inline(always)]
    fn stamp_rows<const W: usize>(&self, seeds: &[Seed], part: &mut [f32], row0: usize) {
        let nx = self.nx;
        let width = if W == 0 { self.width } else { W };
        let row_end = row0 + part.len() / nx;
        let base = row0 * nx;
        for &(ci, cj, t0) in seeds {
            let (ci, cj) = (ci as usize, cj as usize);
            // Disc row k is grid row cj - reach + k.
            let top = cj - self.reach;
            let k_lo = row0.saturating_sub(top);
            let k_hi = (2 * self.reach + 1).min(row_end.saturating_sub(top));
            for k in k_lo..k_hi {
                let row_start = (top + k) * nx - base;
                let start = row_start + ci - self.hw;
                if start + width <= part.len() {
                    let costs = &self.padded[k * width..(k + 1) * width];
                    min_plus_w::<W>(&mut part[start..start + width], costs, t0);
                } else {
                    let row = &self.kernel[k];
                    let start = row_start + ci - row.half_width as usize;
                    let dst = &mut part[start..start + row.costs.len()];
                    for (v, &c) in dst.iter_mut().zip(&row.costs) {
                        *v = v.min(t0 + c);
                    }
                }
            }
        }
    }
}

/// [`min_plus`] on `W` values (`W == 0`: any multiple of [`LANES`]). For a fixed `W` both rows
/// are read into registers before anything is written: the compiler cannot tell that the grid
/// and the disc do not overlap, and would otherwise do one value at a time instead of `W / 4`
/// vector operations.
#[inline(always)]
fn min_plus_w<const W: usize>(dst: &mut [f32], costs: &[f32], t0: f32) {
    if W == 0 {
        return min_plus(dst, costs, t0);
    }
    let dst: &mut [f32; W] = dst.try_into().expect("W values");
    let costs: [f32; W] = costs.try_into().expect("W costs");
    let mut row = *dst;
    for (d, c) in row.iter_mut().zip(costs) {
        let t = t0 + c;
        *d = if t < *d { t } else { *d };
    }
    *dst = row;
}

/// Lanes of the walking disc's vector minimum ([`min_plus`]).
const LANES: usize = 8;

/// `dst[k] = min(dst[k], t0 + costs[k])`, `LANES` at a time (both lengths a multiple of `LANES`;
/// no NaN among the values, so a plain comparison is the minimum).
#[inline]
fn min_plus(dst: &mut [f32], costs: &[f32], t0: f32) {
    // One contiguous loop (the loop vectoriser's shape); a select, not `f32::min`, so no NaN
    // fix-ups are emitted.
    for (d, &c) in dst.iter_mut().zip(costs) {
        let t = t0 + c;
        *d = if t < *d { t } else { *d };
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
    /// Source label per vertex (catchments), `u32::MAX` where unreached; empty without labels.
    pub labels: Vec<u32>,
    /// Per row, the columns `[first, last + 1)` outside which every value is infinite (`(0, 0)`
    /// for an empty row): contouring skips the rest.
    pub rows: Vec<(usize, usize)>,
}

/// One row of the walking disc: the vertices `dj` rows from a seed and at most `half_width`
/// columns from it, with the walking time to each (left to right).
struct KernelRow {
    /// From a seed's index to this row's first vertex.
    offset: isize,
    half_width: isize,
    costs: Vec<f32>,
}

impl TimeGrid {
    /// Stamps `samples` onto a grid covering them plus the allowance and a margin.
    pub fn stamp(
        samples: &[Sample],
        p: &GridParams,
        with_labels: bool,
    ) -> Result<TimeGrid, GridTooLarge> {
        TimeGrid::stamp_reusing(&[samples], p, with_labels, Vec::new())
    }

    /// [`TimeGrid::stamp`] of the samples of `parts` taken in order (as if concatenated: a
    /// circle's two halves are not copied into one list), writing into `buffer` (its allocation
    /// is reused: a batch of cities does not fault in fresh memory for every grid).
    pub fn stamp_reusing(
        parts: &[&[Sample]],
        p: &GridParams,
        with_labels: bool,
        mut buffer: Vec<f32>,
    ) -> Result<TimeGrid, GridTooLarge> {
        let h = p.cell_m;
        let r = p.offroad_m.max(h);
        let samples = || parts.iter().flat_map(|part| part.iter());
        let (mut mini, mut minj, mut maxi, mut maxj) = (i32::MAX, i32::MAX, i32::MIN, i32::MIN);
        for s in samples() {
            mini = mini.min(s.i);
            minj = minj.min(s.j);
            maxi = maxi.max(s.i);
            maxj = maxj.max(s.j);
        }
        let count: usize = parts.iter().map(|part| part.len()).sum();
        if count == 0 {
            (mini, minj, maxi, maxj) = (0, 0, 0, 0);
        }
        // The lattice is the samples' own (multiples of the cell size), so grids of one
        // projection agree; the margin is wider than the walking disc.
        let margin = ((r + 2.0 * h) / h).ceil() as i64;
        let (i0, j0) = (mini as i64 - margin, minj as i64 - margin);
        let nx = (maxi as i64 + margin - i0 + 1) as usize;
        let ny = (maxj as i64 + margin - j0 + 1) as usize;
        if nx.saturating_mul(ny) > MAX_GRID_CELLS {
            return Err(GridTooLarge {
                cells: nx.saturating_mul(ny),
                cell_m: h,
            });
        }
        let inv_v = 1.0 / p.offroad_mps;

        // 1. The walking disc: precomputed, row by row. The seed is up to h/√2 from its road
        // point, so the disc is that much smaller (but at least one cell, so that consecutive
        // samples' vertices always connect).
        let r = (r - h * std::f64::consts::FRAC_1_SQRT_2).max(h);
        let reach = (r / h).floor() as isize;
        let nxi = nx as isize;
        let kernel: Vec<KernelRow> = (-reach..=reach)
            .map(|dj| {
                let mut half_width = 0;
                while ((((half_width + 1) * (half_width + 1) + dj * dj) as f64).sqrt() * h)
                    <= r + 1e-9
                {
                    half_width += 1;
                }
                let costs = (-half_width..=half_width)
                    .map(|di| ((((di * di + dj * dj) as f64).sqrt() * h) * inv_v) as f32)
                    .collect();
                KernelRow {
                    offset: dj * nxi - half_width,
                    half_width,
                    costs,
                }
            })
            .collect();
        let reach = reach as usize;
        let hw = kernel.iter().map(|row| row.half_width).max().unwrap_or(0) as usize;

        // 2. Seeds: each sample marks its lattice vertex with its time (the minimum over the
        // samples there; on ties the smaller label). Then walking from each seed within the
        // allowance. Seed values are read before any walking lowers them: a vertex is reached
        // by one walk of at most the allowance from one road point, never by a chain of walks.
        buffer.clear();
        buffer.resize(nx * ny, f32::INFINITY);
        let mut values = buffer;
        // Per row, the columns its own seeds' discs may cover; widened below to every row the
        // discs reach (a superset of the written columns, which is all the spans promise).
        let mut seed_spans: Vec<(usize, usize)> = vec![(usize::MAX, 0); ny];
        let mut labels = Vec::new();
        if with_labels {
            labels = vec![u32::MAX; nx * ny];
            let mut seeds: Vec<(u32, u32, f32, u32)> = Vec::with_capacity(count / 2);
            for s in samples() {
                let (ci, cj) = ((s.i as i64 - i0) as usize, (s.j as i64 - j0) as usize);
                let k = cj * nx + ci;
                if values[k] == f32::INFINITY {
                    seeds.push((ci as u32, cj as u32, 0.0, 0));
                }
                if s.t < values[k] || (s.t == values[k] && s.label < labels[k]) {
                    values[k] = s.t;
                    labels[k] = s.label;
                }
            }
            for seed in seeds.iter_mut() {
                let k = seed.1 as usize * nx + seed.0 as usize;
                (seed.2, seed.3) = (values[k], labels[k]);
                let span = &mut seed_spans[seed.1 as usize];
                span.0 = span.0.min(seed.0 as usize - hw);
                span.1 = span.1.max(seed.0 as usize + hw + 1);
            }
            for &(ci, cj, t0, l0) in &seeds {
                let centre = (cj as usize * nx + ci as usize) as isize;
                for row in &kernel {
                    let start = (centre + row.offset) as usize;
                    let dst = &mut values[start..start + row.costs.len()];
                    let lab = &mut labels[start..start + row.costs.len()];
                    for ((v, l), &c) in dst.iter_mut().zip(lab.iter_mut()).zip(&row.costs) {
                        let t = t0 + c;
                        if t < *v || (t == *v && l0 < *l) {
                            *v = t;
                            *l = l0;
                        }
                    }
                }
            }
        } else {
            // The same disc as whole rows of `width` columns (a multiple of the vector width),
            // infinite outside it: every row is then a few fixed-size minimums the compiler
            // turns into vector instructions, where the exact rows were short scalar loops. An
            // infinite cost leaves its vertex as it was, so the padding may run into the next
            // grid row.
            let width = (2 * hw + 1).next_multiple_of(LANES);
            let padded: Vec<f32> = kernel
                .iter()
                .flat_map(|row| {
                    let before = hw - row.half_width as usize;
                    std::iter::repeat_n(f32::INFINITY, before)
                        .chain(row.costs.iter().copied())
                        .chain(std::iter::repeat(f32::INFINITY))
                        .take(width)
                })
                .collect();
            let discs = Discs {
                nx,
                reach,
                hw,
                width,
                kernel: &kernel,
                padded: &padded,
            };
            let band = BandSeeds {
                nx,
                ny,
                i0,
                j0,
                reach,
                hw,
            };
            // Each vertex takes a minimum, so the order of the seeds does not matter, and two
            // bands of rows can be seeded and stamped side by side: each seeds its own rows,
            // and the rows just outside it whose discs reach in, from all the samples.
            if count >= SPLIT_STAMPING_SAMPLES && ny >= 2 {
                let mid = ny / 2;
                let (top, bottom) = values.split_at_mut(mid * nx);
                let (spans_top, spans_bottom) = seed_spans.split_at_mut(mid);
                rayon::join(
                    || band.seed_and_stamp(parts, &discs, 0..mid, top, spans_top),
                    || band.seed_and_stamp(parts, &discs, mid..ny, bottom, spans_bottom),
                );
            } else {
                band.seed_and_stamp(parts, &discs, 0..ny, &mut values, &mut seed_spans);
            }
        }
        let mut rows: Vec<(usize, usize)> = (0..ny)
            .map(|j| {
                seed_spans[j.saturating_sub(reach)..(j + reach + 1).min(ny)]
                    .iter()
                    .fold((usize::MAX, 0), |acc, s| (acc.0.min(s.0), acc.1.max(s.1)))
            })
            .collect();
        for span in rows.iter_mut() {
            if span.0 >= span.1 {
                *span = (0, 0);
            }
        }
        Ok(TimeGrid {
            x0: i0 as f64 * h,
            y0: j0 as f64 * h,
            cell: h,
            nx,
            ny,
            values,
            labels,
            rows,
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
                i: 0,
                j: 0,
                t: 5.0,
                label: 1,
            },
            Sample {
                i: 2,
                j: 0,
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
        // Row spans cover every finite value.
        for j in 0..g.ny {
            let (a, b) = g.rows[j];
            for i in 0..g.nx {
                assert!(
                    g.at(i, j).is_infinite() || (a..b).contains(&i),
                    "row {j} col {i}"
                );
            }
        }
        // Every reached vertex is within the allowance of some sample.
        for j in 0..g.ny {
            for i in 0..g.nx {
                if g.at(i, j).is_finite() {
                    let (x, y) = (g.x0 + i as f64 * 10.0, g.y0 + j as f64 * 10.0);
                    let d = s
                        .iter()
                        .map(|s| {
                            ((x - s.i as f64 * 10.0).powi(2) + (y - s.j as f64 * 10.0).powi(2))
                                .sqrt()
                        })
                        .fold(f64::MAX, f64::min);
                    assert!(d <= p.offroad_m + 1e-6, "vertex {x},{y} reached from {d} m");
                }
            }
        }
    }

    /// Enough samples for the two-band path (seeds and discs stamped in two bands of rows side
    /// by side): the same grid as the one-pass labelled path, on a cell and allowance that make
    /// discs cross the seam and padded rows run past a band's end.
    #[test]
    fn two_bands_stamp_what_one_pass_stamps() {
        let mut x = 12345u64;
        let mut next = |m: i32| -> i32 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 33) % m as u64) as i32
        };
        let samples: Vec<Sample> = (0..3 * SPLIT_STAMPING_SAMPLES)
            .map(|_| Sample {
                i: next(90) - 45,
                j: next(60) - 30,
                t: next(5000) as f32 * 0.5,
                label: 0,
            })
            .collect();
        for (cell, offroad) in [(100.0, 300.0), (25.0, 400.0), (50.0, 10.0)] {
            let p = GridParams {
                cell_m: cell,
                offroad_m: offroad,
                offroad_mps: 1.3,
            };
            let g = TimeGrid::stamp(&samples, &p, false).unwrap();
            let labelled = TimeGrid::stamp(&samples, &p, true).unwrap();
            assert_eq!(g.values, labelled.values, "cell {cell} allowance {offroad}");
            assert_eq!(g.rows, labelled.rows);
            // Given in two parts (each band reads both).
            let (a, b) = samples.split_at(1000);
            let parts = TimeGrid::stamp_reusing(&[a, b], &p, false, Vec::new()).unwrap();
            assert_eq!(parts.values, labelled.values);
            assert_eq!(parts.rows, labelled.rows);
        }
    }

    proptest::proptest! {
        /// Samples given in parts (a circle's two halves) make the grid of the same samples in
        /// one list: values, labels and row spans.
        #[test]
        fn parts_make_the_grid_of_their_concatenation(
            pts in proptest::collection::vec((-30i32..30, -30i32..30, 0u16..2000, 0u32..3), 0..300),
            cuts in proptest::collection::vec(0usize..300, 0..3),
            with_labels in proptest::bool::ANY,
        ) {
            let samples: Vec<Sample> = pts
                .iter()
                .map(|&(i, j, t, label)| Sample { i, j, t: f32::from(t), label })
                .collect();
            let mut at: Vec<usize> = cuts.iter().map(|&c| c.min(samples.len())).collect();
            at.push(0);
            at.push(samples.len());
            at.sort_unstable();
            let parts: Vec<&[Sample]> = at.windows(2).map(|w| &samples[w[0]..w[1]]).collect();
            let p = GridParams { cell_m: 50.0, offroad_m: 200.0, offroad_mps: 1.3 };
            let whole = TimeGrid::stamp(&samples, &p, with_labels).unwrap();
            let split = TimeGrid::stamp_reusing(&parts, &p, with_labels, Vec::new()).unwrap();
            proptest::prop_assert_eq!((whole.x0, whole.y0, whole.nx, whole.ny), (split.x0, split.y0, split.nx, split.ny));
            proptest::prop_assert_eq!(&whole.values, &split.values);
            proptest::prop_assert_eq!(&whole.labels, &split.labels);
            proptest::prop_assert_eq!(&whole.rows, &split.rows);
        }

        /// The vector kernel (no labels) against a plain reference: each vertex takes the
        /// minimum over the seeds within the disc of seed time plus the walk. The labelled path
        /// (exact rows, one vertex at a time) must give the same values.
        #[test]
        fn disc_stamping_matches_a_plain_reference(
            pts in proptest::collection::vec((-12i32..12, -12i32..12, 0u16..2000), 1..40),
            cell in 10.0f64..120.0,
            offroad in 0.0f64..500.0,
        ) {
            let samples: Vec<Sample> = pts
                .iter()
                .map(|&(i, j, t)| Sample { i, j, t: f32::from(t), label: 0 })
                .collect();
            let p = GridParams { cell_m: cell, offroad_m: offroad, offroad_mps: 1.3 };
            let g = TimeGrid::stamp(&samples, &p, false).unwrap();
            let labelled = TimeGrid::stamp(&samples, &p, true).unwrap();
            proptest::prop_assert_eq!(&g.values, &labelled.values);
            // Seeds: the minimum time per lattice vertex.
            let mut seeds: Vec<(i32, i32, f32)> = Vec::new();
            for s in &samples {
                match seeds.iter_mut().find(|x| x.0 == s.i && x.1 == s.j) {
                    Some(x) => x.2 = x.2.min(s.t),
                    None => seeds.push((s.i, s.j, s.t)),
                }
            }
            let r = (offroad.max(cell) - cell * std::f64::consts::FRAC_1_SQRT_2).max(cell);
            let reach = (r / cell).floor() as i64;
            let (i0, j0) = ((g.x0 / cell).round() as i64, (g.y0 / cell).round() as i64);
            for j in 0..g.ny {
                for i in 0..g.nx {
                    let (vi, vj) = (i0 + i as i64, j0 + j as i64);
                    let mut want = f32::INFINITY;
                    for &(si, sj, t) in &seeds {
                        let (di, dj) = (vi - si as i64, vj - sj as i64);
                        let d = (((di * di + dj * dj) as f64).sqrt()) * cell;
                        if dj.abs() <= reach && d <= r + 1e-9 {
                            want = want.min(t + (d * (1.0 / 1.3)) as f32);
                        }
                    }
                    proptest::prop_assert_eq!(g.at(i, j), want, "vertex {} {}", i, j);
                }
            }
        }
    }
}
