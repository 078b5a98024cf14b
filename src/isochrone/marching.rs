//! Marching squares with rings grouped into polygons by construction.
//!
//! For a threshold `T`, a grid vertex is *inside* when its value is at most `T`. Each cell
//! contributes boundary segments between the crossing points on its edges (linear interpolation
//! of the values), oriented with the inside on the left, so exterior rings come out
//! counter-clockwise and holes clockwise. Saddle cells keep diagonal inside corners apart: inside
//! regions are 4-connected. Every ring borders exactly one 4-connected component of inside
//! vertices, found with a union-find, so a polygon's exterior and holes are grouped without any
//! point-in-polygon test, and a region for a larger threshold always contains the region for a
//! smaller one (the crossing points only move away from inside corners as `T` grows).
//!
//! Crossing points are kept at least 1 % of a cell away from grid vertices, so rings never touch
//! themselves or each other at a vertex.

use geo::{Coord, LineString, MultiPolygon, Polygon};

/// A grid of values: vertex `(i, j)` at `(x0 + i·cell, y0 + j·cell)`, row-major (`j * nx + i`).
pub struct Field<'a> {
    pub nx: usize,
    pub ny: usize,
    pub x0: f64,
    pub y0: f64,
    pub cell: f64,
    pub values: &'a [f32],
    /// How much the value grows over one cell beyond the last finite vertex (the off-road walk
    /// across a cell); an edge to an unreached (infinite) vertex is cut where the value reaches
    /// the threshold at that rate, but never past its middle.
    pub step_beyond: f32,
    /// Per row, the columns `[first, last + 1)` outside which every value is infinite, when the
    /// caller knows them (else they are found by scanning the values).
    pub rows: Option<&'a [(usize, usize)]>,
}

const NONE: u32 = u32::MAX;

/// The tracer's big arrays, kept between grids to reuse their memory. At rest every entry is
/// `NONE` / `false`: a tracer resets only what it wrote, so a large grid costs nothing to clear.
#[derive(Default)]
pub struct TracerBuffers {
    next: Vec<u32>,
    left: Vec<u32>,
    ins: Vec<bool>,
    touched: Vec<u32>,
    parent: Vec<u32>,
    runs: Vec<(u32, u32)>,
    row_runs: Vec<(u32, u32)>,
    rows: Vec<(usize, usize)>,
}

pub struct Tracer<'a> {
    f: Field<'a>,
    /// Per edge: the edge the boundary continues to (edge ids: 2·vertex + 0 for the horizontal
    /// edge to the right, + 1 for the vertical edge upward).
    next: Vec<u32>,
    /// Per edge: an inside vertex on the left of the segment leaving it.
    left: Vec<u32>,
    /// Inside flags of the current threshold.
    ins: Vec<bool>,
    touched: Vec<u32>,
    /// Union-find over runs of inside vertices.
    parent: Vec<u32>,
    /// Runs of inside vertices: (first column, last column + 1).
    runs: Vec<(u32, u32)>,
    /// Per row: the range of its runs in `runs`.
    row_runs: Vec<(u32, u32)>,
    /// Per row: the columns holding finite values (first, last + 1), to skip empty stretches.
    rows: Vec<(usize, usize)>,
}

impl<'a> Tracer<'a> {
    pub fn new(f: Field<'a>) -> Tracer<'a> {
        Tracer::with_buffers(f, TracerBuffers::default())
    }

    /// A tracer whose arrays reuse `b`'s allocations (see [`Tracer::into_buffers`]).
    pub fn with_buffers(f: Field<'a>, b: TracerBuffers) -> Tracer<'a> {
        let n = f.nx * f.ny;
        let (mut next, mut left, mut ins) = (b.next, b.left, b.ins);
        if next.len() < 2 * n {
            next.resize(2 * n, NONE);
            left.resize(2 * n, NONE);
        }
        if ins.len() < n {
            ins.resize(n, false);
        }
        let mut rows = b.rows;
        rows.clear();
        match f.rows {
            Some(r) => rows.extend_from_slice(r),
            None => rows.extend((0..f.ny).map(|j| {
                let row = &f.values[j * f.nx..(j + 1) * f.nx];
                match row.iter().position(|v| v.is_finite()) {
                    Some(a) => (
                        a,
                        f.nx - row.iter().rev().position(|v| v.is_finite()).unwrap_or(0),
                    ),
                    None => (0, 0),
                }
            })),
        }
        let (mut touched, mut parent, mut runs, mut row_runs) =
            (b.touched, b.parent, b.runs, b.row_runs);
        touched.clear();
        parent.clear();
        runs.clear();
        row_runs.clear();
        Tracer {
            next,
            left,
            ins,
            touched,
            parent,
            runs,
            row_runs,
            rows,
            f,
        }
    }

    fn find(&mut self, mut v: u32) -> u32 {
        while self.parent[v as usize] != v {
            let p = self.parent[v as usize];
            self.parent[v as usize] = self.parent[p as usize];
            v = p;
        }
        v
    }

    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            // Smaller id as root: deterministic.
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[hi as usize] = lo;
        }
    }

    /// The region where the field is at most `t`, as polygons in the field's coordinates.
    /// Vertices on the grid's border are never inside, so every ring closes inside the grid.
    pub fn region(&mut self, t: f32) -> MultiPolygon<f64> {
        let (nx, ny) = (self.f.nx, self.f.ny);
        for e in self.touched.drain(..) {
            self.next[e as usize] = NONE;
            self.left[e as usize] = NONE;
        }
        // Inside flags, row by row over the rows' finite ranges.
        // Only the rows' finite ranges are ever written (false outside, from `with_buffers`).
        let mut ins = std::mem::take(&mut self.ins);
        for j in 1..ny.saturating_sub(1) {
            let (a, b) = self.rows[j];
            for i in a.max(1)..b.min(nx - 1) {
                ins[j * nx + i] = self.f.values[j * nx + i] <= t;
            }
        }
        // Components of inside vertices (4-connected) from runs: each row's runs of inside
        // vertices, joined with the overlapping runs of the row below.
        self.runs.clear();
        self.row_runs.clear();
        self.parent.clear();
        for j in 0..ny {
            let first = self.runs.len();
            let (a, b) = self.rows[j];
            let mut i = a;
            while i < b {
                if ins[j * nx + i] {
                    let start = i;
                    while i < b && ins[j * nx + i] {
                        i += 1;
                    }
                    let id = self.runs.len() as u32;
                    self.runs.push((start as u32, i as u32));
                    self.parent.push(id);
                } else {
                    i += 1;
                }
            }
            self.row_runs.push((first as u32, self.runs.len() as u32));
            if j > 0 {
                let (p0, p1) = self.row_runs[j - 1];
                let (c0, c1) = (first as u32, self.runs.len() as u32);
                let (mut p, mut c) = (p0, c0);
                while p < p1 && c < c1 {
                    let (ps, pe) = self.runs[p as usize];
                    let (cs, ce) = self.runs[c as usize];
                    if ps < ce && cs < pe {
                        self.union(p, c);
                    }
                    if pe < ce {
                        p += 1;
                    } else {
                        c += 1;
                    }
                }
            }
        }
        // Segments. Corners: a = (i, j), b = (i+1, j), c = (i+1, j+1), d = (i, j+1).
        // Edges: bottom = H(a), right = V(b), top = H(d), left = V(a).
        for j in 0..ny.saturating_sub(1) {
            let (a0, b0) = self.rows[j];
            let (a1, b1) = self.rows[j + 1];
            let lo = a0.min(a1).saturating_sub(1);
            let hi = b0.max(b1).min(nx - 1);
            for i in lo..hi {
                let k = j * nx + i;
                let case = u8::from(ins[k])
                    | u8::from(ins[k + 1]) << 1
                    | u8::from(ins[k + nx + 1]) << 2
                    | u8::from(ins[k + nx]) << 3;
                if case == 0 || case == 15 {
                    continue;
                }
                let ka = k as u32;
                let (kb, kc, kd) = (ka + 1, ka + nx as u32 + 1, ka + nx as u32);
                let bottom = 2 * ka;
                let right = 2 * kb + 1;
                let top = 2 * kd;
                let left = 2 * ka + 1;
                // (from, to, inside corner on the left)
                let segs: &[(u32, u32, u32)] = match case {
                    1 => &[(bottom, left, ka)],
                    2 => &[(right, bottom, kb)],
                    3 => &[(right, left, ka)],
                    4 => &[(top, right, kc)],
                    5 => &[(bottom, left, ka), (top, right, kc)],
                    6 => &[(top, bottom, kb)],
                    7 => &[(top, left, ka)],
                    8 => &[(left, top, kd)],
                    9 => &[(bottom, top, ka)],
                    10 => &[(right, bottom, kb), (left, top, kd)],
                    11 => &[(right, top, ka)],
                    12 => &[(left, right, kc)],
                    13 => &[(bottom, right, ka)],
                    14 => &[(left, bottom, kb)],
                    _ => &[],
                };
                for &(from, to, corner) in segs {
                    self.next[from as usize] = to;
                    self.left[from as usize] = corner;
                    self.touched.push(from);
                }
            }
        }
        // Follow the segments into rings, grouped by the component on their left. Every segment
        // written by this call is in `touched`: a ring starts at each one not used yet.
        let mut rings: Vec<(u32, Vec<Coord<f64>>, bool)> = Vec::new(); // (component, points, ccw)
        for k in 0..self.touched.len() {
            let s = self.touched[k];
            if self.next[s as usize] == NONE {
                continue; // already used
            }
            let comp = self.component_of(self.left[s as usize]);
            let mut pts = Vec::new();
            let mut e = s;
            loop {
                pts.push(self.crossing(e, t));
                let n = self.next[e as usize];
                self.next[e as usize] = NONE;
                if n == NONE || n == s {
                    break;
                }
                e = n;
            }
            if pts.len() >= 3 {
                pts.push(pts[0]);
                let ccw = crate::geom::rings::twice_signed_area(&pts) > 0.0;
                rings.push((comp, pts, ccw));
            }
        }
        // Group: each component has one counter-clockwise exterior and clockwise holes.
        rings.sort_by_key(|r| (r.0, !r.2));
        let mut polys: Vec<Polygon<f64>> = Vec::new();
        let mut current: Option<(u32, LineString<f64>, Vec<LineString<f64>>)> = None;
        for (comp, pts, ccw) in rings {
            match &mut current {
                Some((c, _, holes)) if *c == comp && !ccw => holes.push(LineString(pts)),
                _ => {
                    if let Some((_, ext, holes)) = current.take() {
                        polys.push(Polygon::new(ext, holes));
                    }
                    current = Some((comp, LineString(pts), Vec::new()));
                }
            }
        }
        if let Some((_, ext, holes)) = current {
            polys.push(Polygon::new(ext, holes));
        }
        self.ins = ins;
        MultiPolygon(polys)
    }

    /// Gives the arrays back for the next grid.
    pub fn into_buffers(mut self) -> TracerBuffers {
        for &e in &self.touched {
            self.next[e as usize] = NONE;
            self.left[e as usize] = NONE;
        }
        let nx = self.f.nx;
        for (j, &(a, b)) in self.rows.iter().enumerate() {
            self.ins[j * nx + a..j * nx + b].fill(false);
        }
        self.touched.clear();
        TracerBuffers {
            next: self.next,
            left: self.left,
            ins: self.ins,
            touched: self.touched,
            parent: self.parent,
            runs: self.runs,
            row_runs: self.row_runs,
            rows: self.rows,
        }
    }

    /// The component (root run) of an inside vertex.
    fn component_of(&mut self, vertex: u32) -> u32 {
        let (i, j) = (
            (vertex as usize % self.f.nx) as u32,
            vertex as usize / self.f.nx,
        );
        let (r0, r1) = self.row_runs[j];
        let runs = &self.runs[r0 as usize..r1 as usize];
        let k = runs.partition_point(|r| r.1 <= i);
        self.find(r0 + k as u32)
    }

    /// The crossing point on edge `e` for threshold `t`.
    fn crossing(&self, e: u32, t: f32) -> Coord<f64> {
        let nx = self.f.nx;
        let v = (e / 2) as usize;
        let (i, j) = (v % nx, v / nx);
        let w = if e.is_multiple_of(2) { v + 1 } else { v + nx };
        let (va, vb) = (self.f.values[v], self.f.values[w]);
        let frac = match (va.is_finite(), vb.is_finite()) {
            (true, true) if vb != va => ((t - va) / (vb - va)) as f64,
            (true, false) => (((t - va) / self.f.step_beyond) as f64).min(0.5),
            (false, true) => 1.0 - (((t - vb) / self.f.step_beyond) as f64).min(0.5),
            _ => 0.5,
        };
        let frac = if frac.is_finite() {
            frac.clamp(0.01, 0.99)
        } else {
            0.5
        };
        let (x, y) = (
            self.f.x0 + i as f64 * self.f.cell,
            self.f.y0 + j as f64 * self.f.cell,
        );
        if e.is_multiple_of(2) {
            Coord {
                x: x + frac * self.f.cell,
                y,
            }
        } else {
            Coord {
                x,
                y: y + frac * self.f.cell,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Area, BooleanOps, Validation, Winding};
    use proptest::prelude::*;

    fn field(nx: usize, ny: usize, values: &[f32]) -> Field<'_> {
        // Callers guarantee a border of outside vertices; tests keep it too.
        Field {
            nx,
            ny,
            x0: 0.0,
            y0: 0.0,
            cell: 1.0,
            values,
            step_beyond: 7.0,
            rows: None,
        }
    }

    #[test]
    fn a_ring_with_a_hole_and_an_island_inside_it() {
        // 9x9: inside ring 1..7, hole 2..6 (outside), island at 4 (inside).
        let mut v = vec![10.0f32; 81];
        for j in 1..8 {
            for i in 1..8 {
                v[j * 9 + i] = 0.0;
            }
        }
        for j in 3..6 {
            for i in 3..6 {
                v[j * 9 + i] = 10.0;
            }
        }
        v[4 * 9 + 4] = 0.0;
        let mut t = Tracer::new(field(9, 9, &v));
        let mp = t.region(5.0);
        assert_eq!(mp.0.len(), 2);
        assert!(mp.is_valid(), "{:?}", mp.validation_errors());
        let with_hole = mp.0.iter().find(|p| !p.interiors().is_empty()).unwrap();
        assert!(with_hole.exterior().is_ccw());
        assert!(with_hole.interiors()[0].is_cw());
    }

    #[test]
    fn edges_toward_unreached_vertices_are_cut_at_walking_pace_but_not_past_the_middle() {
        // One reached vertex (value 0) amid unreached ones; step_beyond = 7 per cell.
        let mut v = vec![f32::INFINITY; 25];
        v[12] = 0.0;
        let mut tr = Tracer::new(field(5, 5, &v));
        // t = 3.5: cut at 0.5 cell (the middle); t = 1.4: at 0.2 cell.
        let a = tr.region(3.5).unsigned_area();
        let b = tr.region(1.4).unsigned_area();
        assert!((a - 2.0 * 0.5 * 0.5).abs() < 1e-9, "{a}");
        assert!((b - 2.0 * 0.2 * 0.2).abs() < 1e-6, "{b}");
        assert!(
            (tr.region(100.0).unsigned_area() - a).abs() < 1e-9,
            "never past the middle"
        );
    }

    proptest! {
        /// Against the `contour` crate (d3-contour's algorithm, linear interpolation) on random
        /// finite fields: the same area up to the saddle rule and the 1 % clamp; valid output;
        /// nested thresholds.
        #[test]
        fn matches_the_contour_crate_and_nests(nx in 3usize..14, ny in 3usize..14, seed in proptest::collection::vec(0u8..20, 196)) {
            let border = |k: usize| k.is_multiple_of(nx) || k / nx == 0 || k % nx == nx - 1 || k / nx == ny - 1;
            let values: Vec<f32> = (0..nx * ny).map(|k| if border(k) { 19.0 } else { seed[k] as f32 }).collect();
            let mut tr = Tracer::new(field(nx, ny, &values));
            let small = tr.region(6.5);
            let large = tr.region(11.5);
            prop_assert!(small.is_valid(), "{:?}", small.validation_errors());
            prop_assert!(large.is_valid());
            let outside = small.difference(&large).unsigned_area();
            prop_assert!(outside < 1e-9, "small band sticks out by {}", outside);
            for p in &small.0 {
                prop_assert!(p.exterior().is_ccw());
                prop_assert!(p.interiors().iter().all(|h| h.is_cw()));
            }
            // Reference: the contour crate on the negated field (it wants values ≥ threshold).
            let neg: Vec<f64> = values.iter().map(|v| -(*v as f64)).collect();
            let c = contour::ContourBuilder::new(nx, ny, true).x_origin(-0.5).y_origin(-0.5).contours(&neg, &[-6.5]).unwrap();
            let reference = c[0].geometry().unsigned_area();
            let ours = small.unsigned_area();
            let saddles = (0..nx - 1).flat_map(|i| (0..ny - 1).map(move |j| (i, j))).filter(|&(i, j)| {
                let a = values[j * nx + i] <= 6.5; let b = values[j * nx + i + 1] <= 6.5;
                let c = values[(j + 1) * nx + i + 1] <= 6.5; let d = values[(j + 1) * nx + i] <= 6.5;
                a == c && b == d && a != b
            }).count() as f64;
            prop_assert!((ours - reference).abs() <= 0.5 * saddles + 0.02 * (nx * ny) as f64, "ours {} vs contour {} ({} saddles)", ours, reference, saddles);
        }
    }
}
