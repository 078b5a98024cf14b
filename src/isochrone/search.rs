//! Bounded multi-source Dijkstra over a CSR adjacency (forward or reversed).
//!
//! Scratch arrays are allocated once per thread and reset in O(1) with a generation stamp, so a
//! batch of cities costs one allocation per thread, not per city. Times are integer milliseconds:
//! the result is exact and does not depend on the order of equal-time pops. Each node also gets
//! the label of the source it was reached from (ties go to the smaller label), which gives the
//! nearest-core partition from one search.

use crate::graph::{Adjacency, TimeMs};

/// A monotone priority queue for integer keys up to a known limit (a bucket queue): bucket `b`
/// holds the keys of the `b`-th slice of 1024 ms, found from a bit per bucket. The
/// bucket being consumed is sorted once when it becomes current (largest first, so the smallest
/// pops off its end); a push into it, at a key not below the last popped (Dijkstra's guarantee),
/// goes in at its sorted place. Every other push is an append: an item is written once and
/// sorted once, instead of being moved down the buckets of a radix heap.
#[derive(Default)]
pub struct BucketQueue {
    buckets: Vec<Vec<(TimeMs, u32)>>,
    /// Bit `b % 64` of word `b / 64` set when bucket `b` is not empty.
    nonempty: Vec<u64>,
    /// log2 of a bucket's width in ms: 1024 ms, wider for limits beyond about 18 hours so that
    /// there are at most 2^16 buckets.
    shift: u32,
    /// The bucket being consumed, and whether it has been sorted.
    current: usize,
    sorted: bool,
    len: usize,
}

impl BucketQueue {
    pub fn new() -> BucketQueue {
        BucketQueue::default()
    }

    /// Empties the queue and makes room for keys up to `max_key`.
    pub fn reset(&mut self, max_key: TimeMs) {
        self.shift = 10.max((32 - max_key.leading_zeros()).saturating_sub(16));
        let n = (max_key >> self.shift) as usize + 1;
        if self.buckets.len() < n {
            self.buckets.resize_with(n, Vec::new);
            self.nonempty.resize(n.div_ceil(64), 0);
        }
        if self.len > 0 {
            self.buckets.iter_mut().for_each(Vec::clear);
            self.nonempty.fill(0);
        }
        (self.current, self.sorted, self.len) = (0, false, 0);
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `value` at `key` (at most the `max_key` of the last reset, and not below the last
    /// key popped).
    #[inline]
    pub fn push(&mut self, key: TimeMs, value: u32) {
        let b = (key >> self.shift) as usize;
        debug_assert!(b >= self.current || self.len == 0);
        let bucket = &mut self.buckets[b];
        if b == self.current && self.sorted {
            let at = bucket.partition_point(|&x| x > (key, value));
            bucket.insert(at, (key, value));
        } else {
            bucket.push((key, value));
        }
        self.nonempty[b / 64] |= 1 << (b % 64);
        self.len += 1;
    }

    /// The smallest key and its value (the smaller value among equal keys).
    #[inline]
    pub fn pop(&mut self) -> Option<(TimeMs, u32)> {
        if self.len == 0 {
            return None;
        }
        if self.buckets[self.current].is_empty() || !self.sorted {
            if self.buckets[self.current].is_empty() {
                self.current = self.next_nonempty(self.current);
            }
            self.buckets[self.current].sort_unstable_by(|a, b| b.cmp(a));
            self.sorted = true;
        }
        let b = self.current;
        let item = self.buckets[b].pop();
        if self.buckets[b].is_empty() {
            self.nonempty[b / 64] &= !(1 << (b % 64));
        }
        self.len -= 1;
        item
    }

    /// The first non-empty bucket after `b` (there is one: the queue is not empty).
    fn next_nonempty(&self, b: usize) -> usize {
        let mut w = (b + 1) / 64;
        let mut bits = self.nonempty[w] & (u64::MAX << ((b + 1) % 64));
        while bits == 0 {
            w += 1;
            bits = self.nonempty[w];
        }
        w * 64 + bits.trailing_zeros() as usize
    }
}

/// Unreached.
pub const INF: TimeMs = TimeMs::MAX;

/// A search source: a node, the time already spent reaching it, and a label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Source {
    pub node: u32,
    pub time_ms: TimeMs,
    pub label: u32,
}

/// Per-thread search state, reusable across searches on graphs of the same size.
pub struct SearchScratch {
    /// Per node, side by side (one cache line where three arrays would cost three): the
    /// search (generation) that last wrote it, its time (ms) and its label. An older
    /// generation means unreached, so nothing needs clearing between searches.
    state: Vec<[u32; 3]>,
    generation: u32,
    heap: BucketQueue,
    /// Nodes settled by the last search, in order of settling (non-decreasing time).
    pub settled: Vec<u32>,
    /// The polygon stage's big arrays, reused from city to city on this thread.
    pub polygon: super::PolygonBuffers,
}

impl SearchScratch {
    pub fn new(num_nodes: usize) -> SearchScratch {
        SearchScratch {
            // Zeroed allocations are mapped lazily: a scratch for a province graph costs
            // nothing until a search touches its pages. Stamp 0 is no search's generation, so
            // time and label are never read before a search writes them.
            state: vec![[0; 3]; num_nodes],
            generation: 0,
            heap: BucketQueue::new(),
            settled: Vec::new(),
            polygon: Default::default(),
        }
    }

    fn reset(&mut self, num_nodes: usize) {
        if self.state.len() != num_nodes {
            let polygon = std::mem::take(&mut self.polygon);
            *self = SearchScratch::new(num_nodes);
            self.polygon = polygon;
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.state.fill([0; 3]);
            self.generation = 1;
        }
        self.settled.clear();
    }

    /// Travel time to `node` from the last search ([`INF`] if not reached within the limit).
    #[inline]
    pub fn time(&self, node: u32) -> TimeMs {
        let [stamp, time, _] = self.state[node as usize];
        if stamp == self.generation {
            time
        } else {
            INF
        }
    }

    /// The label of the source that reached `node` first.
    #[inline]
    pub fn label(&self, node: u32) -> Option<u32> {
        let [stamp, _, label] = self.state[node as usize];
        (stamp == self.generation).then_some(label)
    }
}

/// Settles every node whose travel time from the nearest source is at most `limit_ms`.
/// Nodes whose tentative time exceeds the limit are left unreached.
pub fn bounded_dijkstra<A: Adjacency + ?Sized>(
    adj: &A,
    sources: &[Source],
    limit_ms: TimeMs,
    scratch: &mut SearchScratch,
) {
    scratch.reset(adj.num_nodes());
    scratch.heap.reset(limit_ms);
    let gen = scratch.generation;
    let state = &mut scratch.state;
    let mut pending: Vec<(TimeMs, u32)> = Vec::with_capacity(sources.len());
    for s in sources {
        if s.time_ms > limit_ms {
            continue;
        }
        let [stamp, dist, label] = state[s.node as usize];
        let better = stamp != gen || s.time_ms < dist || (s.time_ms == dist && s.label < label);
        if better {
            state[s.node as usize] = [gen, s.time_ms, s.label];
            pending.push((s.time_ms, s.node));
        }
    }
    // A node enters the queue once per strictly smaller time (a source given twice at one time
    // is pushed once, and a relaxation at an equal time only changes the label), so the entry
    // holding a node's final time is popped exactly once and every other one is stale.
    pending.sort_unstable();
    pending.dedup();
    for (t, v) in pending {
        scratch.heap.push(t, v);
    }
    while let Some((d, v)) = scratch.heap.pop() {
        let [_, dv, lv] = state[v as usize];
        if d > dv {
            continue; // stale entry
        }
        scratch.settled.push(v);
        let (edges, _) = adj.adjacent(v);
        for e in edges {
            let nd = d.saturating_add(e.time_ms);
            if nd > limit_ms {
                continue;
            }
            let w = &mut state[e.head as usize];
            let [stamp, dist, label] = *w;
            if stamp != gen || nd < dist {
                *w = [gen, nd, lv];
                scratch.heap.push(nd, e.head);
            } else if nd == dist && lv < label {
                w[2] = lv;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{EdgeTarget, ReverseGraph};
    use proptest::prelude::*;

    /// One source at `node`, time 0, label 0.
    fn from(node: u32) -> [Source; 1] {
        [Source {
            node,
            time_ms: 0,
            label: 0,
        }]
    }

    /// A graph given as CSR, as the search sees it.
    struct Csr {
        first: Vec<u32>,
        edges: Vec<EdgeTarget>,
    }
    impl Adjacency for Csr {
        fn num_nodes(&self) -> usize {
            self.first.len() - 1
        }
        fn adjacent(&self, node: u32) -> (&[EdgeTarget], usize) {
            let (a, b) = (
                self.first[node as usize] as usize,
                self.first[node as usize + 1] as usize,
            );
            (&self.edges[a..b], a)
        }
    }

    fn csr(n: usize, mut list: Vec<(u32, u32, u32)>) -> Csr {
        list.sort();
        let mut first = vec![0u32; n + 1];
        for e in &list {
            first[e.0 as usize + 1] += 1;
        }
        for i in 0..n {
            first[i + 1] += first[i];
        }
        Csr {
            first,
            edges: list
                .iter()
                .map(|e| EdgeTarget {
                    head: e.1,
                    time_ms: e.2,
                })
                .collect(),
        }
    }

    proptest! {
        /// Against petgraph's dijkstra on random graphs, with random sources and limits.
        #[test]
        fn matches_petgraph_dijkstra(
            n in 1usize..60,
            raw in proptest::collection::vec((0u32..60, 0u32..60, 1u32..1000), 0..300),
            srcs in proptest::collection::vec((0u32..60, 0u32..500), 1..4),
            limit in 0u32..5000,
        ) {
            let list: Vec<(u32, u32, u32)> = raw.into_iter().filter(|e| (e.0 as usize) < n && (e.1 as usize) < n).collect();
            let g = csr(n, list.clone());
            let sources: Vec<Source> = srcs.iter().enumerate()
                .filter(|(_, s)| (s.0 as usize) < n)
                .map(|(i, s)| Source { node: s.0, time_ms: s.1, label: i as u32 })
                .collect();
            prop_assume!(!sources.is_empty());
            let mut scratch = SearchScratch::new(n);
            bounded_dijkstra(&g, &sources, limit, &mut scratch);

            // Reference: a super-source node n with edges of the source times (+1 to keep them
            // positive, subtracted afterwards).
            let mut pg = petgraph::Graph::<(), u64>::new();
            let ids: Vec<_> = (0..=n).map(|_| pg.add_node(())).collect();
            for &(a, b, w) in &list {
                pg.add_edge(ids[a as usize], ids[b as usize], w as u64);
            }
            for s in &sources {
                pg.add_edge(ids[n], ids[s.node as usize], s.time_ms as u64 + 1);
            }
            let reference = petgraph::algo::dijkstra(&pg, ids[n], None, |e| *e.weight());
            for (v, id) in ids.iter().enumerate().take(n) {
                let expect = reference.get(id).map(|d| d - 1).filter(|d| *d <= limit as u64);
                let got = scratch.time(v as u32);
                prop_assert_eq!(expect, (got != INF).then_some(got as u64), "node {}", v);
            }
            // Settled nodes come out in non-decreasing time, once each.
            let times: Vec<u32> = scratch.settled.iter().map(|&v| scratch.time(v)).collect();
            prop_assert!(times.windows(2).all(|w| w[0] <= w[1]));
            let mut s = scratch.settled.clone();
            s.sort();
            s.dedup();
            prop_assert_eq!(s.len(), scratch.settled.len());
            // Labels: each reached node's label is a source whose own time plus a path matches.
            for v in 0..n as u32 {
                if let Some(l) = scratch.label(v) {
                    prop_assert!((l as usize) < srcs.len());
                }
            }
        }
    }

    proptest! {
        /// The bucket queue pops like a sorted list (smaller value first among equal keys),
        /// with pushes interleaved at keys not below the last popped one, up to its limit.
        #[test]
        fn bucket_queue_is_a_monotone_priority_queue(
            ops in proptest::collection::vec((0u32..3, 0u32..5000, 0u32..4), 1..400),
            limit_bits in 16u32..33,
        ) {
            let limit = if limit_bits == 32 { u32::MAX } else { (1u32 << limit_bits) - 1 };
            let mut q = BucketQueue::new();
            q.reset(limit);
            let mut reference: Vec<(u32, u32)> = Vec::new();
            let mut last = 0u32;
            let scale = (limit / 100_000).max(1); // keys spread over the whole range
            for (op, k, v) in ops {
                if op < 2 {
                    let key = last.saturating_add(k.saturating_mul(scale)).min(limit);
                    q.push(key, v);
                    reference.push((key, v));
                } else if let Some(got) = q.pop() {
                    reference.sort_unstable();
                    let expect = reference.remove(0);
                    prop_assert_eq!(got, expect);
                    last = got.0;
                }
            }
            reference.sort_unstable();
            for expect in reference {
                prop_assert_eq!(q.pop(), Some(expect));
            }
            prop_assert!(q.pop().is_none() && q.is_empty());
            // Reused after a reset, even one that leaves items behind.
            q.push(limit, 1);
            q.reset(1000);
            prop_assert!(q.pop().is_none());
            q.push(999, 2);
            q.push(3, 1);
            prop_assert_eq!(q.pop(), Some((3, 1)));
            prop_assert_eq!(q.pop(), Some((999, 2)));
        }
    }

    #[test]
    fn scratch_is_reused_without_leaking_state() {
        let g = csr(3, vec![(0, 1, 5), (1, 2, 5)]);
        let mut s = SearchScratch::new(3);
        bounded_dijkstra(&g, &from(0), 100, &mut s);
        assert_eq!(s.time(2), 10);
        bounded_dijkstra(&g, &from(2), 100, &mut s);
        assert_eq!(s.time(0), INF);
        assert_eq!(s.time(2), 0);
        assert_eq!(s.settled, vec![2]);
    }

    #[test]
    fn reverse_graph_gives_arrival_times() {
        // 0 -> 1 -> 2 one way; arrival at 2 from 0 takes 7.
        let g = crate::graph::RoadGraph {
            node_coords: vec![Default::default(); 3].into(),
            node_osm_ids: vec![0; 3].into(),
            node_flags: vec![0; 3].into(),
            first_out: vec![0, 1, 2, 2].into(),
            edges: vec![
                EdgeTarget {
                    head: 1,
                    time_ms: 3,
                },
                EdgeTarget {
                    head: 2,
                    time_ms: 4,
                },
            ]
            .into(),
            edge_road: vec![0, 2].into(),
            ..Default::default()
        };
        let r: ReverseGraph = g.reversed();
        let mut s = SearchScratch::new(3);
        bounded_dijkstra(&r, &from(2), 100, &mut s);
        assert_eq!((s.time(0), s.time(1), s.time(2)), (7, 4, 0));
        bounded_dijkstra(&g, &from(2), 100, &mut s);
        assert_eq!(s.time(0), INF);
    }
}
