//! Building the routing graph from road ways: split at junctions, contract degree-2 chains,
//! drop small islands, order nodes along a Hilbert curve, and lay out the CSR arrays.
//!
//! The builder knows nothing about OSM tags: it receives ways as node-index lists with a class and
//! allowed directions, and asks a [`SpeedModel`] for the speed of each piece.

use super::scc::{reachable_extending, strongly_connected_two_way};
use super::{node_flags, road_flags, EdgeTarget, RoadClass, RoadGraph};
use crate::geom::{distance_m, round_nonneg, BBox, CoordE7};
use crate::parallel::{par_fill_blocks, par_filled, par_sort_bucketed, split_blocks};
use rayon::prelude::*;

/// Marks a node whose coordinates are not in the extract.
pub const MISSING: CoordE7 = CoordE7 {
    lon: i32::MIN,
    lat: i32::MIN,
};

/// A road way as the builder sees it.
#[derive(Clone, Copy, Debug)]
pub struct BuildWay {
    pub osm_id: i64,
    pub class: RoadClass,
    pub forward: bool,
    pub backward: bool,
    /// Range into [`BuildInput::refs`].
    pub refs_start: u32,
    pub refs_len: u32,
}

/// Ways per chunk of the build's first pass.
const WAY_CHUNK: usize = 4096;
/// Ways per chunk of the pieces stage (a test builds several chunks).
const PIECE_CHUNK: usize = 2048;

/// Everything the builder needs.
pub struct BuildInput<'a> {
    /// OSM id of every referenced node (sorted). Owned: the build keeps only its own nodes' ids
    /// and frees the rest once they are numbered, before memory peaks.
    pub node_ids: Vec<i64>,
    pub node_coords: &'a [CoordE7],
    pub ways: &'a [BuildWay],
    /// Node indices (into `node_ids`) of all ways, concatenated. Owned: the build frees it as
    /// soon as the pieces between junctions are cut, before memory peaks.
    pub refs: Vec<u32>,
}

/// Speeds of a piece of road in metres per second, per direction (`None`: not allowed). A piece
/// has one speed along its whole length, which is what lets the search interpolate times along
/// an edge exactly.
pub trait SpeedModel: Sync {
    /// `way` indexes [`BuildInput::ways`]; `way_length_m` is the length of the whole way (for
    /// ferries timed by a `duration` tag; 0 where [`SpeedModel::uses_way_length`] says it is not
    /// read); `mid` is the middle of the piece.
    fn piece_speeds(
        &self,
        way: usize,
        way_length_m: f64,
        mid: CoordE7,
    ) -> (Option<f64>, Option<f64>);
    /// Fixed time added to each piece of the way (ferry boarding), seconds.
    fn piece_extra_secs(&self, _way: usize) -> f64 {
        0.0
    }
    /// Whether `piece_speeds` reads `way_length_m` for this way (when not, the build passes 0
    /// and saves measuring every way twice).
    fn uses_way_length(&self, _way: usize) -> bool {
        true
    }
    /// Sees the segments of a way, in order: every segment whose two nodes are in the extract
    /// (a node repeated in a row makes none), once per way, from any thread, before any piece's
    /// speeds are asked for: for models that learn from the whole network (road density), in
    /// the build's first pass over the ways instead of one of their own. A way at a time, so a
    /// model can add up a run of segments before touching shared state. Nothing by default.
    fn see_way_segments(&self, _way: usize, _segments: &[Segment]) {}
    /// Called once every segment has been seen, before the first
    /// [`SpeedModel::piece_speeds`].
    fn segments_seen(&mut self) {}
    /// Called once every piece's speeds have been asked for: a model may free what only
    /// [`SpeedModel::piece_speeds`] reads (only [`SpeedModel::piece_extra_secs`] is asked after
    /// this), before the build's memory peaks.
    fn pieces_cut(&mut self) {}
}

/// A segment of a way between two consecutive nodes, as measured by the build.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Segment {
    pub a: CoordE7,
    pub b: CoordE7,
    pub length_m: f64,
}

/// Parameters of the build.
#[derive(Clone, Copy, Debug)]
pub struct BuildOptions {
    /// Strongly connected components smaller than this (in graph nodes) are not "core": nodes
    /// that can neither reach nor be reached from a core component are dropped.
    pub min_component_nodes: u32,
    /// Nodes closer than this to the extract's bounding box are flagged as border nodes.
    pub border_margin_m: f64,
    /// The extract's bounding box (from the PBF header, else the data).
    pub extract_bbox: Option<BBox>,
}

/// Counts reported by the build.
#[derive(Clone, Debug, Default)]
pub struct BuildStats {
    pub missing_node_refs: u64,
    pub clipped_ways: u64,
    pub dropped_ways: u64,
    pub nodes_before_contraction: u64,
    pub contracted_nodes: u64,
    pub island_components_dropped: u64,
    pub island_nodes_dropped: u64,
    pub island_edges_dropped: u64,
}

/// A piece of way between two junctions, before contraction.
#[derive(Clone, Copy, bytemuck::Zeroable)]
struct Piece {
    way: u32,
    /// First and last node (indices into the input nodes).
    a: u32,
    b: u32,
    geom_start: u32,
    geom_len: u32,
    length_m: f64,
    /// Speeds along a→b and b→a (m/s), 0 where closed: a province has millions of pieces, and
    /// they are the build's largest array (extra seconds come from the way when needed).
    fwd: f64,
    bwd: f64,
}

impl Piece {
    fn fwd(&self) -> Option<f64> {
        (self.fwd > 0.0).then_some(self.fwd)
    }
    fn bwd(&self) -> Option<f64> {
        (self.bwd > 0.0).then_some(self.bwd)
    }
}

/// Builds the routing graph. Returns the graph (without meta, places and boundaries) and stats.
///
/// Generic over the speed model so that its calls inline: it is asked once per segment and per
/// piece, tens of millions of times on a province.
pub fn build_graph<M: SpeedModel + ?Sized>(
    mut input: BuildInput,
    model: &mut M,
    opts: &BuildOptions,
) -> (RoadGraph, BuildStats) {
    let speeds: &M = model;
    let mut stats = BuildStats::default();
    let n_in = input.node_ids.len();
    let laps = crate::progress::Laps::from_env_with_memory("build");

    // 1. Junctions: nodes used more than once, way ends, and nodes next to a missing node;
    // and the length of every way (the trigonometry), in the same pass over the refs.
    // In parallel: every write only ever sets a flag or counts a use (up to two), so the flags
    // do not depend on the order the ways are read in; each way's length is its own sum,
    // segment by segment, as a sequential pass would add it.
    // Every segment is measured here, once: its length is kept per ref (the segment that ends
    // at it, 0 where none does, negative at a missing node) for the pieces, and handed to the
    // speed model.
    let mut seg_len: Vec<f64> = par_filled(input.refs.len(), 0.0);
    let (way_length, junction, border) = {
        use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};
        let flags = || -> Vec<AtomicBool> {
            (0..n_in)
                .into_par_iter()
                .map(|_| AtomicBool::new(false))
                .collect()
        };
        let (junction, border) = (flags(), flags());
        let uses: Vec<AtomicU8> = (0..n_in)
            .into_par_iter()
            .map(|_| AtomicU8::new(0))
            .collect();
        // Each chunk of ways with its own slice of `seg_len` (the ways' refs are consecutive).
        let chunks = input.ways.chunks(WAY_CHUNK);
        let slots = split_blocks(
            &mut seg_len,
            chunks
                .clone()
                .map(|c| c.iter().map(|w| w.refs_len as usize).sum()),
        );
        let parts: Vec<(Vec<f64>, [u64; 3])> = chunks
            .zip(slots)
            .enumerate()
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|(ci, (chunk, seg_len))| {
                let (mut missing, mut clipped_ways, mut dropped_ways) = (0u64, 0u64, 0u64);
                let mut lengths = Vec::with_capacity(chunk.len());
                let mut segments: Vec<Segment> = Vec::new(); // this way's, for the model
                let mut at = 0usize; // this way's first ref in the chunk's slice
                for (k, w) in chunk.iter().enumerate() {
                    let wi = ci * WAY_CHUNK + k;
                    let refs = way_refs(&input, w);
                    let seg_len = &mut seg_len[at..at + refs.len()];
                    at += refs.len();
                    // Only some ways' speeds depend on their whole length (ferries).
                    let measure = speeds.uses_way_length(wi);
                    let mut length = 0.0;
                    let mut run = 0usize;
                    let mut longest_run = 0usize;
                    let mut prev: Option<u32> = None;
                    let mut clipped = false;
                    segments.clear();
                    for (k, &r) in refs.iter().enumerate() {
                        if input.node_coords[r as usize] == MISSING {
                            seg_len[k] = -1.0; // read by the pieces' cut
                            missing += 1;
                            clipped = true;
                            if let Some(p) = prev {
                                border[p as usize].store(true, Relaxed);
                                junction[p as usize].store(true, Relaxed);
                            }
                            prev = None;
                            run = 0;
                            continue;
                        }
                        if prev == Some(r) {
                            continue; // repeated node: no segment
                        }
                        if let Some(p) = prev {
                            let (a, b) =
                                (input.node_coords[p as usize], input.node_coords[r as usize]);
                            let d = distance_m(a, b);
                            seg_len[k] = d;
                            segments.push(Segment { a, b, length_m: d });
                            if measure {
                                length += d;
                            }
                        }
                        run += 1;
                        longest_run = longest_run.max(run);
                        if prev.is_none() {
                            junction[r as usize].store(true, Relaxed);
                            if k > 0 {
                                border[r as usize].store(true, Relaxed);
                            }
                        }
                        // Only "twice or more" matters: the count stops at 2.
                        let _ = uses[r as usize]
                            .fetch_update(Relaxed, Relaxed, |u| (u < 2).then_some(u + 1));
                        prev = Some(r);
                    }
                    if let Some(p) = prev {
                        junction[p as usize].store(true, Relaxed);
                    }
                    if !segments.is_empty() {
                        speeds.see_way_segments(wi, &segments);
                    }
                    if clipped {
                        if longest_run >= 2 {
                            clipped_ways += 1;
                        } else {
                            dropped_ways += 1;
                        }
                    }
                    lengths.push(length);
                }
                (lengths, [missing, clipped_ways, dropped_ways])
            })
            .collect();
        let mut way_length = Vec::with_capacity(input.ways.len());
        for (lengths, [missing, clipped_ways, dropped_ways]) in parts {
            way_length.extend(lengths);
            stats.missing_node_refs += missing;
            stats.clipped_ways += clipped_ways;
            stats.dropped_ways += dropped_ways;
        }
        let junction: Vec<bool> = junction
            .into_par_iter()
            .zip(uses.into_par_iter())
            .map(|(j, u)| j.into_inner() || u.into_inner() >= 2)
            .collect();
        let border: Vec<bool> = border.into_par_iter().map(AtomicBool::into_inner).collect();
        (way_length, junction, border)
    };

    let speeds: &M = {
        model.segments_seen();
        model
    };
    laps.lap("way lengths (parallel) and junctions");
    // 2. Pieces between junctions, ways in parallel (chunks keep the way order). Each chunk's
    // pieces and shapes are counted first (at most: a piece no direction may use is dropped
    // while filling), then every chunk fills its own slices of the two arrays. Pieces built
    // per chunk and then joined held both copies at once, where the import's memory peaked
    // (330 MB on the province mosaic).
    // Calls `emit(from, to, nodes)` for every candidate piece of way `wi`: the positions of its
    // first and last refs (into `input.refs` and `seg_len`) and its number of nodes (a node
    // repeated in a row counts once). Ranges, not node lists: the counting pass copies nothing.
    // A missing node is read from `seg_len` (negative), in order, not from the coordinates.
    let cut = |wi: usize, emit: &mut dyn FnMut(usize, usize, usize)| {
        let w = &input.ways[wi];
        let start = w.refs_start as usize;
        // The current piece: its first position, its nodes so far, its last node and position.
        let (mut from, mut nodes, mut last, mut last_pos) = (0usize, 0usize, 0u32, 0usize);
        for (k, &r) in way_refs(&input, w).iter().enumerate() {
            let pos = start + k;
            if seg_len[pos] < 0.0 {
                if nodes >= 2 {
                    emit(from, last_pos, nodes);
                }
                nodes = 0;
                continue;
            }
            if nodes > 0 && last == r {
                continue;
            }
            if nodes == 0 {
                from = pos;
            }
            nodes += 1;
            (last, last_pos) = (r, pos);
            if junction[r as usize] && nodes >= 2 {
                emit(from, pos, nodes);
                (from, nodes) = (pos, 1);
            }
        }
        if nodes >= 2 {
            emit(from, last_pos, nodes);
        }
    };
    let n_ways = input.ways.len();
    let chunk_ways = |ci: usize| ci * PIECE_CHUNK..((ci + 1) * PIECE_CHUNK).min(n_ways);
    let n_chunks = n_ways.div_ceil(PIECE_CHUNK);
    let most: Vec<(usize, usize)> = (0..n_chunks)
        .into_par_iter()
        .map(|ci| {
            let (mut n, mut points) = (0usize, 0usize);
            for wi in chunk_ways(ci) {
                cut(wi, &mut |_, _, nodes| {
                    n += 1;
                    points += nodes;
                });
            }
            (n, points)
        })
        .collect();
    let mut pieces: Vec<Piece> = bytemuck::zeroed_vec(most.iter().map(|m| m.0).sum());
    let mut piece_geom: Vec<u32> = bytemuck::zeroed_vec(most.iter().map(|m| m.1).sum());
    // Each chunk's slices, and where its shapes start in `piece_geom`.
    let geom_bases: Vec<u32> = most
        .iter()
        .scan(0u32, |at, &(_, points)| {
            let base = *at;
            *at += points as u32;
            Some(base)
        })
        .collect();
    let slots: Vec<_> = split_blocks(&mut pieces, most.iter().map(|m| m.0))
        .into_iter()
        .zip(split_blocks(&mut piece_geom, most.iter().map(|m| m.1)))
        .zip(geom_bases)
        .enumerate()
        .collect();
    let filled: Vec<(usize, usize)> = slots
        .into_par_iter()
        .map(|(ci, ((p_out, g_out), geom_base))| {
            let (mut n, mut points) = (0usize, 0usize);
            for wi in chunk_ways(ci) {
                let w = &input.ways[wi];
                cut(wi, &mut |from, to, nodes| {
                    // The segments between the nodes, as measured by the first pass, added in
                    // order (the same sum as measuring them again; a repeated node's is 0).
                    let length_m: f64 = seg_len[from + 1..=to].iter().sum();
                    let (a, b) = (input.refs[from], input.refs[to]);
                    let mid =
                        midpoint(input.node_coords[a as usize], input.node_coords[b as usize]);
                    let (f, bk) = speeds.piece_speeds(wi, way_length[wi], mid);
                    let fwd = f.filter(|_| w.forward).filter(|s| *s > 0.0);
                    let bwd = bk.filter(|_| w.backward).filter(|s| *s > 0.0);
                    if fwd.is_some() || bwd.is_some() {
                        p_out[n] = Piece {
                            way: wi as u32,
                            a,
                            b,
                            geom_start: geom_base + points as u32,
                            geom_len: nodes as u32,
                            length_m,
                            fwd: fwd.unwrap_or(0.0),
                            bwd: bwd.unwrap_or(0.0),
                        };
                        // The nodes, each repeated one once.
                        let shape = &mut g_out[points..points + nodes];
                        let mut m = 0;
                        for &r in &input.refs[from..=to] {
                            if m == 0 || shape[m - 1] != r {
                                shape[m] = r;
                                m += 1;
                            }
                        }
                        debug_assert_eq!(m, nodes);
                        n += 1;
                        points += nodes;
                    }
                });
            }
            (n, points)
        })
        .collect();
    // Pieces no direction may use leave gaps at the ends of their chunks' slices: close them
    // (on one core; a car profile drops none).
    if filled != most {
        let (mut to_p, mut to_g, mut from_p, mut from_g) = (0usize, 0usize, 0usize, 0usize);
        for (&(n, points), &(max_n, max_points)) in filled.iter().zip(&most) {
            let shift = (from_g - to_g) as u32;
            pieces.copy_within(from_p..from_p + n, to_p);
            for p in &mut pieces[to_p..to_p + n] {
                p.geom_start -= shift;
            }
            piece_geom.copy_within(from_g..from_g + points, to_g);
            (to_p, to_g) = (to_p + n, to_g + points);
            (from_p, from_g) = (from_p + max_n, from_g + max_points);
        }
        pieces.truncate(to_p);
        piece_geom.truncate(to_g);
        pieces.shrink_to_fit();
        piece_geom.shrink_to_fit();
    }
    drop((most, filled));
    drop(seg_len);

    drop(junction);
    drop(way_length);
    input.refs = Vec::new();
    let speeds: &M = {
        model.pieces_cut();
        model
    };
    laps.lap("pieces (parallel)");
    // Dense numbering of junction nodes used by pieces, and each piece's two ends in it (the
    // chain walk then reads them in piece order instead of looking them up at random).
    let mut node_of = par_filled(n_in, u32::MAX);
    let mut nodes: Vec<u32> = Vec::new(); // graph node -> input node
    let mut ends: Vec<[u32; 2]> = Vec::with_capacity(pieces.len());
    for p in &pieces {
        let mut end = [0; 2];
        for (e, x) in end.iter_mut().zip([p.a, p.b]) {
            if node_of[x as usize] == u32::MAX {
                node_of[x as usize] = nodes.len() as u32;
                nodes.push(x);
            }
            *e = node_of[x as usize];
        }
        ends.push(end);
    }
    drop(node_of);
    stats.nodes_before_contraction = nodes.len() as u64;
    let node_osm_ids_of: Vec<i64> = nodes
        .par_iter()
        .map(|&x| input.node_ids[x as usize])
        .collect();
    input.node_ids = Vec::new();

    laps.lap("node numbering");
    // 3. Contract degree-2 nodes joining two compatible pieces.
    let (chains, removed) = contract_chains(&pieces, &ends, nodes.len(), &border, &input, speeds);
    stats.contracted_nodes = removed as u64;

    laps.lap("chain contraction");
    // 4. Roads (merged chains) and directed edges.
    // Compact (40 bytes): millions of roads are alive where memory peaks.
    struct Road {
        a: u32,
        b: u32,
        /// Range into `road_nodes` (input node indices along the road).
        geom_start: u32,
        geom_len: u32,
        /// As stored in the graph (times are computed from the f64 length first).
        length_m: f32,
        /// Travel times, 0 where the direction is closed (times are at least 1 ms).
        fwd_ms: u32,
        bwd_ms: u32,
        class: RoadClass,
        ferry: bool,
        way_id: i64,
    }
    let to_ms = |len: f64, speed: f64, extra: f64| -> u32 {
        let ms = round_nonneg((len / speed + extra) * 1000.0);
        ms.clamp(1.0, u32::MAX as f64 / 4.0) as u32
    };
    // Each chain's shape length (its pieces share their joining nodes), then the shapes and
    // the roads built in parallel, each chain into its own part of `road_nodes`.
    let mut chain_geom_start: Vec<u32> = Vec::with_capacity(chains.len() + 1);
    chain_geom_start.push(0);
    let mut total = 0u32;
    for chain in chains.iter() {
        let points: u32 = chain
            .iter()
            .map(|&(pi, _)| pieces[pi as usize].geom_len)
            .sum();
        total += points - (chain.len() as u32 - 1);
        chain_geom_start.push(total);
    }
    let mut road_nodes: Vec<u32> = bytemuck::zeroed_vec(total as usize);
    {
        const BLOCK: usize = 4096;
        let block_len = |b: usize| {
            let end = (b + BLOCK).min(chains.len());
            (chain_geom_start[end] - chain_geom_start[b]) as usize
        };
        let lens = (0..chains.len()).step_by(BLOCK).map(block_len);
        par_fill_blocks(&mut road_nodes, lens, |i, part| {
            let b = i * BLOCK;
            let mut at = 0;
            for ci in b..(b + BLOCK).min(chains.len()) {
                let chain = chains.get(ci);
                for (k, &(pi, reversed)) in chain.iter().enumerate() {
                    let p = &pieces[pi as usize];
                    let g =
                        &piece_geom[p.geom_start as usize..(p.geom_start + p.geom_len) as usize];
                    let skip = usize::from(k > 0);
                    let n = g.len() - skip;
                    let dst = &mut part[at..at + n];
                    if reversed {
                        for (d, &x) in dst.iter_mut().zip(g.iter().rev().skip(skip)) {
                            *d = x;
                        }
                    } else {
                        dst.copy_from_slice(&g[skip..]);
                    }
                    at += n;
                }
            }
        });
    }
    let roads: Vec<Road> = (0..chains.len())
        .into_par_iter()
        .map(|ci| {
            let chain = chains.get(ci);
            let mut length_m = 0.0;
            let mut extra = 0.0;
            for &(pi, _) in chain.iter() {
                let p = &pieces[pi as usize];
                length_m += p.length_m;
                extra += speeds.piece_extra_secs(p.way as usize);
            }
            let (first_piece, first_rev) = chain[0];
            let (last_piece, last_rev) = *chain.last().expect("chains are non-empty");
            let p0 = &pieces[first_piece as usize];
            let a = ends[first_piece as usize][usize::from(first_rev)];
            let b = ends[last_piece as usize][usize::from(!last_rev)];
            let (fwd, bwd) = if first_rev {
                (p0.bwd(), p0.fwd())
            } else {
                (p0.fwd(), p0.bwd())
            };
            let w = &input.ways[p0.way as usize];
            let geom_start = chain_geom_start[ci];
            Road {
                a,
                b,
                geom_start,
                geom_len: chain_geom_start[ci + 1] - geom_start,
                length_m: length_m as f32,
                fwd_ms: fwd.map_or(0, |s| to_ms(length_m, s, extra)),
                bwd_ms: bwd.map_or(0, |s| to_ms(length_m, s, extra)),
                class: w.class,
                ferry: w.class == RoadClass::Ferry,
                way_id: w.osm_id,
            }
        })
        .collect();
    drop(chain_geom_start);
    // Memory peaks in this function: every array goes as soon as it has served.
    drop(pieces);
    drop(piece_geom);
    drop(chains);
    drop(ends);

    // Directed edges (tail, head, time, road, reversed) on the pre-contraction node numbering.
    let n_nodes = nodes.len();
    // Filled in parallel blocks of roads, each into its own slice (counted first): the list in
    // road order, as one pass pushing them would make it, without the doublings' copies.
    let edge_list: Vec<(u32, u32, u32, u32)> = {
        const BLOCK: usize = 1 << 16;
        let counts: Vec<usize> = roads
            .par_chunks(BLOCK)
            .map(|c| {
                c.iter()
                    .map(|r| usize::from(r.fwd_ms > 0) + usize::from(r.bwd_ms > 0))
                    .sum()
            })
            .collect();
        // tail, head, time, road<<1|rev
        let mut edge_list: Vec<(u32, u32, u32, u32)> =
            bytemuck::zeroed_vec(counts.iter().sum::<usize>());
        par_fill_blocks(&mut edge_list, counts, |bi, part| {
            let block = &roads[bi * BLOCK..((bi + 1) * BLOCK).min(roads.len())];
            let mut k = 0;
            for (j, r) in block.iter().enumerate() {
                let ri = (bi * BLOCK + j) as u32;
                if r.fwd_ms > 0 {
                    part[k] = (r.a, r.b, r.fwd_ms, ri << 1);
                    k += 1;
                }
                if r.bwd_ms > 0 {
                    part[k] = (r.b, r.a, r.bwd_ms, ri << 1 | 1);
                    k += 1;
                }
            }
        });
        edge_list
    };

    laps.lap("roads and edges");
    // 5. Islands: keep nodes that can reach or be reached from a core component.
    let alive: Vec<bool> = {
        let mut deg = par_filled(n_nodes, false);
        for r in &roads {
            deg[r.a as usize] = true;
            deg[r.b as usize] = true;
        }
        deg
    };
    // The components on the forward graph while the reverse graph is built on the other core.
    let ((first, heads), (rfirst, rheads)) = rayon::join(
        || csr_of(n_nodes, edge_list.iter().map(|e| (e.0, e.1))),
        || csr_of(n_nodes, edge_list.iter().map(|e| (e.1, e.0))),
    );
    let (comps, pivot) = strongly_connected_two_way(&first, &heads, &rfirst, &rheads);
    let largest = comps.sizes.iter().copied().max().unwrap_or(0);
    let core_threshold = opts.min_component_nodes.min(largest).max(1);
    let is_core = |v: usize| comps.sizes[comps.component[v] as usize] >= core_threshold;
    // Forward closure from the core and backward closure to it, one per core. Where the
    // components' pivot is in the core (the giant component of a road network), its reach sets
    // are already part of those closures: the searches start from them and only walk from the
    // other core components (two walks over the whole graph saved).
    let (start_from, start_to) = match pivot {
        Some(p) if comps.sizes[p.component as usize] >= core_threshold => (p.from, p.to),
        _ => (par_filled(n_nodes, false), par_filled(n_nodes, false)),
    };
    let (from_core, to_core) = rayon::join(
        || reachable_extending(&first, &heads, start_from, is_core),
        || reachable_extending(&rfirst, &rheads, start_to, is_core),
    );
    drop((rfirst, rheads));
    let keep: Vec<bool> = from_core
        .iter()
        .zip(&to_core)
        .map(|(&f, &t)| f || t)
        .collect();
    drop((from_core, to_core));
    {
        let mut dropped_components = std::collections::BTreeSet::new();
        for v in 0..n_nodes {
            if alive[v] && !keep[v] {
                stats.island_nodes_dropped += 1;
                dropped_components.insert(comps.component[v]);
            }
        }
        stats.island_components_dropped = dropped_components.len() as u64;
    }
    let mut edge_list = edge_list;
    let before = edge_list.len();
    edge_list.retain(|e| keep[e.0 as usize] && keep[e.1 as usize]);
    stats.island_edges_dropped = (before - edge_list.len()) as u64;
    drop(first);
    drop(heads);

    laps.lap("islands (SCC)");
    // 6. Final node order: Hilbert curve over the kept nodes.
    // The graph nodes' coordinates and border flags, gathered once from the input's arrays:
    // read through `nodes`, those are random reads over hundreds of megabytes, and the keys,
    // the box and the node arrays would each make them again.
    let (graph_coords, graph_border): (Vec<CoordE7>, Vec<bool>) = nodes
        .par_iter()
        .map(|&x| (input.node_coords[x as usize], border[x as usize]))
        .unzip();
    drop(border);
    let kept: Vec<u32> = (0..n_nodes as u32)
        .into_par_iter()
        .filter(|&v| keep[v as usize] && alive[v as usize])
        .collect();
    let bbox = BBox::par_of(&kept, |&v| Some(graph_coords[v as usize]));
    let order: Vec<(u64, u32)> = kept
        .par_iter()
        .map(|&v| (hilbert_key(graph_coords[v as usize], &bbox), v))
        .collect();
    laps.lap("Hilbert keys");
    // Keys are below 2^32 (order 16): scattered into 4,096 buckets by their top bits, each
    // bucket sorted on its own (the order of a full sort: the pairs are distinct).
    let order = par_sort_bucketed(&order, 1 << 12, |e| {
        ((e.0 >> 20) as usize).min((1 << 12) - 1)
    });
    let mut new_id = par_filled(n_nodes, u32::MAX);
    for (i, &(_, v)) in order.iter().enumerate() {
        new_id[v as usize] = i as u32;
    }
    let n_final = order.len();
    edge_list.par_iter_mut().for_each(|e| {
        e.0 = new_id[e.0 as usize];
        e.1 = new_id[e.1 as usize];
    });
    // By (tail, head, time, road): buckets of 256 tails scattered, then sorted one by one.
    let sorted = par_sort_bucketed(&edge_list, (n_final >> 8) + 1, |e| (e.0 >> 8) as usize);
    drop(edge_list);
    let edge_list = sorted;

    // Roads in order of first use by an edge; unused roads (dropped islands) disappear.
    let mut road_new = par_filled(roads.len(), u32::MAX);
    let mut road_order: Vec<u32> = Vec::new();
    for e in &edge_list {
        let r = (e.3 >> 1) as usize;
        if road_new[r] == u32::MAX {
            road_new[r] = road_order.len() as u32;
            road_order.push(r as u32);
        }
    }

    drop(new_id);
    laps.lap("Hilbert sort, renumbering, edge sort");
    // The final node arrays, in the new order: one parallel pass that reads each node once
    // (the order visits the old numbering at random).
    let mut node_coords: Vec<CoordE7> = bytemuck::zeroed_vec(n_final);
    let mut node_osm_ids: Vec<i64> = bytemuck::zeroed_vec(n_final);
    let mut node_flags: Vec<u8> = bytemuck::zeroed_vec(n_final);
    {
        const BLOCK: usize = 1 << 14;
        order
            .par_chunks(BLOCK)
            .zip(node_coords.par_chunks_mut(BLOCK))
            .zip(node_osm_ids.par_chunks_mut(BLOCK))
            .zip(node_flags.par_chunks_mut(BLOCK))
            .for_each(|(((block, coords), ids), flags)| {
                for (j, &(_, v)) in block.iter().enumerate() {
                    let v = v as usize;
                    let c = graph_coords[v];
                    coords[j] = c;
                    ids[j] = node_osm_ids_of[v];
                    let mut f = 0u8;
                    if is_core(v) {
                        f |= node_flags::CORE;
                    }
                    let near_edge = opts
                        .extract_bbox
                        .is_some_and(|b| b.inner_margin_m(c.lon(), c.lat()) < opts.border_margin_m);
                    if graph_border[v] || near_edge {
                        f |= node_flags::BORDER;
                    }
                    flags[j] = f;
                }
            });
    }
    drop(order);
    drop((comps, keep, alive, graph_coords, graph_border));
    laps.lap("node arrays");
    let mut first_out = vec![0u32; n_final + 1];
    for e in &edge_list {
        first_out[e.0 as usize + 1] += 1;
    }
    for i in 0..n_final {
        first_out[i + 1] += first_out[i];
    }
    let edges: Vec<EdgeTarget> = edge_list
        .par_iter()
        .map(|e| EdgeTarget {
            head: e.1,
            time_ms: e.2,
        })
        .collect();
    let edge_road: Vec<u32> = edge_list
        .par_iter()
        .map(|e| road_new[(e.3 >> 1) as usize] << 1 | (e.3 & 1))
        .collect();
    drop(edge_list);
    drop(road_new);
    laps.lap("CSR and edge arrays");
    let mut road_geom_start = Vec::with_capacity(road_order.len() + 1);
    road_geom_start.push(0u32);
    let mut total = 0u32;
    for &r in &road_order {
        total += roads[r as usize].geom_len;
        road_geom_start.push(total);
    }
    // Shapes and the per-road arrays filled in parallel, a block of roads at a time into its own
    // part of each: every road is read once (`roads` is in chain order, `road_order` visits it
    // at random, and one gather per array made four more passes of cache misses).
    let n_roads = road_order.len();
    let mut geom: Vec<CoordE7> = bytemuck::zeroed_vec(total as usize);
    let mut road_length_m: Vec<f32> = bytemuck::zeroed_vec(n_roads);
    let mut road_class: Vec<u8> = bytemuck::zeroed_vec(n_roads);
    let mut road_flags_v: Vec<u8> = bytemuck::zeroed_vec(n_roads);
    let mut road_way_id: Vec<i64> = bytemuck::zeroed_vec(n_roads);
    {
        const BLOCK: usize = 4096;
        let block_len = |b: usize| {
            let end = (b + BLOCK).min(n_roads);
            (road_geom_start[end] - road_geom_start[b]) as usize
        };
        let geom_blocks = split_blocks(&mut geom, (0..n_roads).step_by(BLOCK).map(block_len));
        geom_blocks
            .into_par_iter()
            .zip(road_length_m.par_chunks_mut(BLOCK))
            .zip(road_class.par_chunks_mut(BLOCK))
            .zip(road_flags_v.par_chunks_mut(BLOCK))
            .zip(road_way_id.par_chunks_mut(BLOCK))
            .enumerate()
            .for_each(|(i, ((((part, length), class), flags), way_id))| {
                let block = &road_order[i * BLOCK..((i + 1) * BLOCK).min(n_roads)];
                let mut at = 0;
                for (j, &r) in block.iter().enumerate() {
                    let road = &roads[r as usize];
                    length[j] = road.length_m;
                    class[j] = road.class as u8;
                    flags[j] = if road.ferry { road_flags::FERRY } else { 0 };
                    way_id[j] = road.way_id;
                    let nodes_of_road = &road_nodes
                        [road.geom_start as usize..(road.geom_start + road.geom_len) as usize];
                    for (dst, &i) in part[at..at + nodes_of_road.len()]
                        .iter_mut()
                        .zip(nodes_of_road)
                    {
                        *dst = input.node_coords[i as usize];
                    }
                    at += nodes_of_road.len();
                }
            });
    }
    laps.lap("road geometry");
    let g = RoadGraph {
        node_coords: node_coords.into(),
        node_osm_ids: node_osm_ids.into(),
        node_flags: node_flags.into(),
        first_out: first_out.into(),
        edges: edges.into(),
        edge_road: edge_road.into(),
        road_geom_start: road_geom_start.into(),
        geom: geom.into(),
        road_length_m: road_length_m.into(),
        road_class: road_class.into(),
        road_flags: road_flags_v.into(),
        road_way_id: road_way_id.into(),
        ..Default::default()
    };
    (g, stats)
}

fn way_refs<'a>(input: &'a BuildInput, w: &BuildWay) -> &'a [u32] {
    &input.refs[w.refs_start as usize..(w.refs_start + w.refs_len) as usize]
}

fn midpoint(a: CoordE7, b: CoordE7) -> CoordE7 {
    CoordE7 {
        lon: ((a.lon as i64 + b.lon as i64) / 2) as i32,
        lat: ((a.lat as i64 + b.lat as i64) / 2) as i32,
    }
}

fn csr_of(n: usize, edges: impl Iterator<Item = (u32, u32)> + Clone) -> (Vec<u32>, Vec<u32>) {
    let mut first = vec![0u32; n + 1];
    for (a, _) in edges.clone() {
        first[a as usize + 1] += 1;
    }
    for i in 0..n {
        first[i + 1] += first[i];
    }
    let mut fill = first.clone();
    let mut heads = vec![0u32; first[n] as usize];
    for (a, b) in edges {
        heads[fill[a as usize] as usize] = b;
        fill[a as usize] += 1;
    }
    (first, heads)
}

/// Groups pieces into chains through removable degree-2 nodes. Returns the chains (piece index,
/// reversed) and the number of nodes removed.
/// `ends[pi]` are piece `pi`'s first and last node (graph numbering).
fn contract_chains<M: SpeedModel + ?Sized>(
    pieces: &[Piece],
    ends: &[[u32; 2]],
    n_nodes: usize,
    border: &[bool],
    input: &BuildInput,
    speeds: &M,
) -> (Chains, usize) {
    // Incidence lists: up to the first two pieces per node, plus a count.
    let mut count = par_filled(n_nodes, 0u32);
    let mut inc = par_filled(n_nodes, [u32::MAX; 2]);
    for (pi, end) in ends.iter().enumerate() {
        for &v in end {
            let v = v as usize;
            if (count[v] as usize) < 2 {
                inc[v][count[v] as usize] = pi as u32;
            }
            count[v] += 1;
        }
    }
    // Speeds of piece `pi` when traversed so that it *leaves* node x / *enters* node x.
    let oriented = |pi: u32, enters_at_b: bool| -> (Option<f64>, Option<f64>) {
        let p = &pieces[pi as usize];
        if enters_at_b {
            (p.fwd(), p.bwd())
        } else {
            (p.bwd(), p.fwd())
        }
    };
    // Whether each node joins exactly two pieces that continue each other (in parallel: each
    // node reads only its own incidence).
    let removable: Vec<bool> = (0..n_nodes)
        .into_par_iter()
        .map(|v| {
            if count[v] != 2 || inc[v][0] == inc[v][1] {
                return false;
            }
            let (p, q) = (inc[v][0], inc[v][1]);
            let (pp, pq) = (&pieces[p as usize], &pieces[q as usize]);
            let (ep, eq) = (ends[p as usize], ends[q as usize]);
            let x = if ep[0] as usize == v { pp.a } else { pp.b };
            if border[x as usize] {
                return false;
            }
            let (wp, wq) = (&input.ways[pp.way as usize], &input.ways[pq.way as usize]);
            if wp.class != wq.class
                || wp.class == RoadClass::Ferry
                || speeds.piece_extra_secs(pp.way as usize)
                    != speeds.piece_extra_secs(pq.way as usize)
            {
                return false;
            }
            // Orient p to end at v and q to start at v; the speeds must continue unchanged.
            // For q, "enters at b" orientation means traversing a→b: same as starting at v
            // when q.a == v.
            let p_ends_at_v = ep[1] as usize == v;
            let q_starts_at_v = eq[0] as usize == v;
            oriented(p, p_ends_at_v) == oriented(q, q_starts_at_v)
        })
        .collect();
    let mut consumed = par_filled(pieces.len(), false);
    let mut chains = Chains::default();
    let mut chain: std::collections::VecDeque<(u32, bool)> = std::collections::VecDeque::new();
    let mut removed = 0usize;
    let other_piece = |v: usize, p: u32| -> u32 {
        if inc[v][0] == p {
            inc[v][1]
        } else {
            inc[v][0]
        }
    };
    for start in 0..pieces.len() as u32 {
        if consumed[start as usize] {
            continue;
        }
        consumed[start as usize] = true;
        chain.clear();
        chain.push_back((start, false));
        let [head_node, mut v] = ends[start as usize].map(|x| x as usize);
        // Extend forward from the end of `start` (at `v`).
        let mut last = start;
        while removable[v] && v != head_node {
            let q = other_piece(v, last);
            if consumed[q as usize] {
                break;
            }
            consumed[q as usize] = true;
            let eq = ends[q as usize];
            let rev = eq[0] as usize != v;
            chain.push_back((q, rev));
            removed += 1;
            v = eq[usize::from(!rev)] as usize;
            last = q;
        }
        let tail_node = v;
        // Extend backward from the start of `start`.
        let mut v = head_node;
        let mut first = start;
        while removable[v] && v != tail_node {
            let q = other_piece(v, first);
            if consumed[q as usize] {
                break;
            }
            consumed[q as usize] = true;
            let eq = ends[q as usize];
            // q must end at v when read forward in the chain.
            let rev = eq[1] as usize != v;
            chain.push_front((q, rev));
            removed += 1;
            v = eq[usize::from(rev)] as usize;
            first = q;
        }
        chains.starts.push(chains.items.len() as u32);
        chains.items.extend(chain.drain(..));
    }
    chains.starts.push(chains.items.len() as u32);
    (chains, removed)
}

/// Chains of pieces (piece index, reversed), stored flat.
#[derive(Default)]
struct Chains {
    items: Vec<(u32, bool)>,
    starts: Vec<u32>,
}

impl Chains {
    fn len(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }
    fn get(&self, i: usize) -> &[(u32, bool)] {
        &self.items[self.starts[i] as usize..self.starts[i + 1] as usize]
    }
    fn iter(&self) -> impl Iterator<Item = &[(u32, bool)]> {
        self.starts
            .windows(2)
            .map(|w| &self.items[w[0] as usize..w[1] as usize])
    }
}

/// Position along a Hilbert curve of order 16 over `bbox`, so that nodes close in space get
/// close indices and a search touches nearby memory.
pub fn hilbert_key(c: CoordE7, bbox: &BBox) -> u64 {
    const N: u64 = 1 << 16;
    let fx = if bbox.max_lon > bbox.min_lon {
        (c.lon() - bbox.min_lon) / (bbox.max_lon - bbox.min_lon)
    } else {
        0.0
    };
    let fy = if bbox.max_lat > bbox.min_lat {
        (c.lat() - bbox.min_lat) / (bbox.max_lat - bbox.min_lat)
    } else {
        0.0
    };
    let x = (round_nonneg(fx * (N - 1) as f64) as u64).min(N - 1);
    let y = (round_nonneg(fy * (N - 1) as f64) as u64).min(N - 1);
    hilbert_index(x as u32, y as u32)
}

/// Index of cell `(x, y)` (16 bits each) along the Hilbert curve of order 16: the curve of the
/// classic rotate-and-flip loop, computed without a loop or branches by prefix scans over the
/// bits (after "Fast Hilbert curve generation", rawrunprotected, 2016), which is several times
/// faster on the millions of nodes of a province graph.
fn hilbert_index(x: u32, y: u32) -> u64 {
    let (x, y) = (x & 0xFFFF, y & 0xFFFF);
    // Initial prefix scan round, primed with x and y.
    let (mut a1, mut b1, mut c1, mut d1);
    {
        let a = x ^ y;
        let b = 0xFFFF ^ a;
        let c = 0xFFFF ^ (x | y);
        let d = x & (y ^ 0xFFFF);
        a1 = a | (b >> 1);
        b1 = (a >> 1) ^ a;
        c1 = ((c >> 1) ^ (b & (d >> 1))) ^ c;
        d1 = ((a & (c >> 1)) ^ (d >> 1)) ^ d;
    }
    for shift in [2u32, 4] {
        let (a, b, c, d) = (a1, b1, c1, d1);
        a1 = (a & (a >> shift)) ^ (b & (b >> shift));
        b1 = (a & (b >> shift)) ^ (b & ((a ^ b) >> shift));
        c1 ^= (a & (c >> shift)) ^ (b & (d >> shift));
        d1 ^= (b & (c >> shift)) ^ ((a ^ b) & (d >> shift));
    }
    {
        let (a, b, c, d) = (a1, b1, c1, d1);
        c1 ^= (a & (c >> 8)) ^ (b & (d >> 8));
        d1 ^= (b & (c >> 8)) ^ ((a ^ b) & (d >> 8));
    }
    // Undo the transformation prefix scan, then recover the index bits.
    let a = c1 ^ (c1 >> 1);
    let b = d1 ^ (d1 >> 1);
    let i0 = x ^ y;
    let i1 = b | (0xFFFF ^ (i0 | a));
    ((interleave(i1) << 1) | interleave(i0)) as u64
}

/// The 16 low bits of `x` spread to the even bits of the result.
fn interleave(x: u32) -> u32 {
    let x = (x | (x << 8)) & 0x00FF_00FF;
    let x = (x | (x << 4)) & 0x0F0F_0F0F;
    let x = (x | (x << 2)) & 0x3333_3333;
    (x | (x << 1)) & 0x5555_5555
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Flat(f64);
    impl SpeedModel for Flat {
        fn piece_speeds(&self, _: usize, _: f64, _: CoordE7) -> (Option<f64>, Option<f64>) {
            (Some(self.0), Some(self.0))
        }
    }

    fn opts() -> BuildOptions {
        BuildOptions {
            min_component_nodes: 1,
            border_margin_m: 0.0,
            extract_bbox: None,
        }
    }

    fn way(id: i64, start: u32, len: u32, fwd: bool, bwd: bool) -> BuildWay {
        BuildWay {
            osm_id: id,
            class: RoadClass::Residential,
            forward: fwd,
            backward: bwd,
            refs_start: start,
            refs_len: len,
        }
    }

    fn coords(n: usize) -> Vec<CoordE7> {
        (0..n)
            .map(|i| CoordE7::from_degrees(10.0 + i as f64 * 0.001, 50.0 + (i % 3) as f64 * 0.0005))
            .collect()
    }

    #[test]
    fn chain_of_two_ways_becomes_one_edge_and_geometry_is_kept() {
        // Way 1: 0-1-2, way 2: 2-3-4 (a split way, same class and speed): one road 0..4.
        let ids: Vec<i64> = (100..105).collect();
        let c = coords(5);
        let refs = vec![0, 1, 2, 2, 3, 4];
        let ways = vec![way(1, 0, 3, true, true), way(2, 3, 3, true, true)];
        let input = BuildInput {
            node_ids: ids.clone(),
            node_coords: &c,
            ways: &ways,
            refs,
        };
        let (g, stats) = build_graph(input, &mut Flat(10.0), &opts());
        assert_eq!(g.num_nodes(), 2);
        assert_eq!(g.num_roads(), 1);
        assert_eq!(g.num_edges(), 2);
        assert_eq!(stats.contracted_nodes, 1);
        assert_eq!(g.road_geometry(0).len(), 5);
        let len = crate::geom::polyline_length_m(g.road_geometry(0));
        assert!((g.road_length_m[0] as f64 - len).abs() < 0.01);
        for e in 0..g.num_edges() {
            let expect = (len / 10.0 * 1000.0).round() as u32;
            assert_eq!(g.edges[e].time_ms, expect);
        }
    }

    #[test]
    fn oneway_against_twoway_is_not_merged_and_missing_nodes_clip() {
        // Way 1 two-way 0-1-2, way 2 one-way 2-3; way 3 references a missing node 5.
        let ids: Vec<i64> = (100..106).collect();
        let mut c = coords(6);
        c[5] = MISSING;
        let refs = vec![0, 1, 2, 2, 3, 3, 5, 4];
        let ways = vec![
            way(1, 0, 3, true, true),
            way(2, 3, 2, true, false),
            way(3, 5, 3, true, true),
        ];
        let input = BuildInput {
            node_ids: ids.clone(),
            node_coords: &c,
            ways: &ways,
            refs,
        };
        let (g, stats) = build_graph(input, &mut Flat(10.0), &opts());
        assert_eq!(stats.missing_node_refs, 1);
        assert_eq!(stats.clipped_ways, 0);
        assert_eq!(stats.dropped_ways, 1); // way 3 keeps one node on each side: nothing left
        assert_eq!(g.num_roads(), 2);
        assert_eq!(g.num_edges(), 3);
        // node 3 is a dead end of a one-way: it can be reached but not left; kept anyway.
        assert_eq!(g.num_nodes(), 3);
    }

    /// A node repeated in a row is one node of the shape, and a missing node cuts the way: the
    /// pieces are cut from ranges of refs, so both must come out as a node list would.
    #[test]
    fn repeated_nodes_count_once_and_missing_nodes_cut() {
        // One way: 0 0 1 1 1 2 | missing 6 | 3 4 4 5 5 (and 5 ends the way).
        let ids: Vec<i64> = (100..107).collect();
        let mut c = coords(7);
        c[6] = MISSING;
        let refs = vec![0, 0, 1, 1, 1, 2, 6, 3, 4, 4, 5, 5];
        let ways = vec![way(1, 0, refs.len() as u32, true, true)];
        let input = BuildInput {
            node_ids: ids,
            node_coords: &c,
            ways: &ways,
            refs,
        };
        let (g, stats) = build_graph(input, &mut Flat(10.0), &opts());
        assert_eq!(stats.missing_node_refs, 1);
        assert_eq!(stats.clipped_ways, 1);
        assert_eq!(g.num_roads(), 2);
        for r in 0..g.num_roads() {
            let len = crate::geom::polyline_length_m(g.road_geometry(r));
            assert!((g.road_length_m[r] as f64 - len).abs() < 0.01);
        }
        let mut shapes: Vec<Vec<CoordE7>> = (0..g.num_roads())
            .map(|r| {
                let mut s = g.road_geometry(r).to_vec();
                if s[0] > s[s.len() - 1] {
                    s.reverse();
                }
                s
            })
            .collect();
        shapes.sort();
        assert_eq!(shapes, vec![vec![c[0], c[1], c[2]], vec![c[3], c[4], c[5]]]);
    }

    /// Pieces that no direction may use leave gaps in their chunks' slices, which are closed:
    /// several chunks of separate three-node ways, every third one closed, give exactly the
    /// open ways, each with its own shape.
    #[test]
    fn closed_pieces_leave_no_gaps() {
        struct EveryThirdClosed;
        impl SpeedModel for EveryThirdClosed {
            fn piece_speeds(&self, way: usize, _: f64, _: CoordE7) -> (Option<f64>, Option<f64>) {
                if way % 3 == 1 {
                    (None, None)
                } else {
                    (Some(10.0), Some(10.0))
                }
            }
        }
        let n_ways = 5 * PIECE_CHUNK + 17;
        let c: Vec<CoordE7> = (0..3 * n_ways)
            .map(|i| {
                let (w, k) = (i / 3, i % 3);
                CoordE7::from_degrees(
                    10.0 + (w % 100) as f64 * 0.01 + k as f64 * 0.001,
                    50.0 + (w / 100) as f64 * 0.01,
                )
            })
            .collect();
        let ids: Vec<i64> = (0..c.len() as i64).collect();
        let refs: Vec<u32> = (0..c.len() as u32).collect();
        let ways: Vec<BuildWay> = (0..n_ways as u32)
            .map(|w| way(1000 + w as i64, 3 * w, 3, true, true))
            .collect();
        let input = BuildInput {
            node_ids: ids,
            node_coords: &c,
            ways: &ways,
            refs,
        };
        let (g, _) = build_graph(input, &mut EveryThirdClosed, &opts());
        let mut seen: Vec<i64> = (0..g.num_roads())
            .map(|r| {
                let w = (g.road_way_id[r] - 1000) as usize;
                assert_ne!(w % 3, 1, "way {w} is closed");
                assert_eq!(g.road_geometry(r), &c[3 * w..3 * w + 3], "shape of way {w}");
                g.road_way_id[r]
            })
            .collect();
        seen.sort_unstable();
        let open: Vec<i64> = (0..n_ways as i64)
            .filter(|w| w % 3 != 1)
            .map(|w| 1000 + w)
            .collect();
        assert_eq!(seen, open);
        assert!(crate::graph::store::validate(&g).is_ok());
    }

    /// The classic rotate-and-flip loop (Wikipedia's `xy2d`), the reference for
    /// [`hilbert_index`].
    fn hilbert_index_by_loop(mut x: u64, mut y: u64) -> u64 {
        const N: u64 = 1 << 16;
        let mut d = 0u64;
        let mut s = N / 2;
        while s > 0 {
            let rx = u64::from(x & s > 0);
            let ry = u64::from(y & s > 0);
            d += s * s * ((3 * rx) ^ ry);
            if ry == 0 {
                if rx == 1 {
                    x = s - 1 - (x & (s - 1)) + (x & !(s - 1));
                    y = s - 1 - (y & (s - 1)) + (y & !(s - 1));
                    x &= N - 1;
                    y &= N - 1;
                }
                std::mem::swap(&mut x, &mut y);
            }
            s /= 2;
        }
        d
    }

    #[test]
    fn hilbert_index_matches_the_loop() {
        // Every cell of a 256 × 256 corner and of a band across the middle, plus a scatter of
        // cells over the whole square.
        let mut cells: Vec<(u32, u32)> = Vec::new();
        for x in 0..256 {
            for y in 0..256 {
                cells.push((x, y));
                cells.push((x * 251 + 32_000, y + 65_280));
            }
        }
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            cells.push(((state & 0xFFFF) as u32, ((state >> 16) & 0xFFFF) as u32));
        }
        cells.extend([(0, 0), (65_535, 0), (0, 65_535), (65_535, 65_535)]);
        for (x, y) in cells {
            assert_eq!(
                hilbert_index(x, y),
                hilbert_index_by_loop(x as u64, y as u64),
                "({x}, {y})"
            );
        }
        // A bijection on a small block: distinct cells, distinct indices.
        let mut seen: Vec<u64> = (0..64u32)
            .flat_map(|x| (0..64u32).map(move |y| hilbert_index(x, y)))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 64 * 64);
    }
}
