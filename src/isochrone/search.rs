//! Bounded multi-source Dijkstra over a CSR adjacency (forward or reversed).
//!
//! Scratch arrays are allocated once per thread and reset in O(1) with a generation stamp, so a
//! batch of cities costs one allocation per thread, not per city. Times are integer milliseconds:
//! the result is exact and does not depend on the order of equal-time pops. Each node also gets
//! the label of the source it was reached from (ties go to the smaller label), which gives the
//! nearest-core partition from one search.

use crate::graph::{Adjacency, TimeMs};

/// A monotone priority queue for integer keys (radix heap): keys popped never decrease, which
/// Dijkstra guarantees, so an item is moved between buckets at most 32 times and most pushes and
/// pops touch only the current bucket. Faster than a binary heap on road graphs.
#[derive(Default)]
pub struct RadixHeap {
    buckets: Vec<Vec<(TimeMs, u32)>>,
    /// Bit `i` set when bucket `i` may be non-empty (exact for buckets above 0).
    nonempty: u64,
    last: TimeMs,
    len: usize,
}

impl RadixHeap {
    pub fn new() -> RadixHeap {
        RadixHeap {
            buckets: (0..33).map(|_| Vec::new()).collect(),
            nonempty: 0,
            last: 0,
            len: 0,
        }
    }
    #[inline]
    fn bucket(key: TimeMs, last: TimeMs) -> usize {
        (32 - (key ^ last).leading_zeros()) as usize
    }
    pub fn clear(&mut self) {
        for b in self.buckets.iter_mut() {
            b.clear();
        }
        self.nonempty = 0;
        self.last = 0;
        self.len = 0;
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Pushes `value` with `key` (at least the last popped key).
    #[inline]
    pub fn push(&mut self, key: TimeMs, value: u32) {
        debug_assert!(key >= self.last);
        let b = Self::bucket(key, self.last);
        self.buckets[b].push((key, value));
        self.nonempty |= 1 << b;
        self.len += 1;
    }
    /// Pops an item with the smallest key (among equal keys, any).
    pub fn pop(&mut self) -> Option<(TimeMs, u32)> {
        if self.len == 0 {
            return None;
        }
        if self.buckets[0].is_empty() {
            // The lowest non-empty bucket: its smallest key becomes `last`, and its items all
            // move to lower buckets.
            let i = (self.nonempty & !1).trailing_zeros() as usize;
            debug_assert!(i < 33 && !self.buckets[i].is_empty());
            let mut items = std::mem::take(&mut self.buckets[i]);
            self.nonempty &= !(1 << i);
            self.last = items
                .iter()
                .map(|x| x.0)
                .min()
                .expect("bucket is not empty");
            for &(k, v) in &items {
                let b = Self::bucket(k, self.last);
                self.buckets[b].push((k, v));
                self.nonempty |= 1 << b;
            }
            // Give the emptied bucket its allocation back.
            items.clear();
            self.buckets[i] = items;
        }
        self.len -= 1;
        self.buckets[0].pop()
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

/// One node's search state: the three fields a relaxation reads and writes, side by side, so
/// that touching a node costs one cache line rather than one per field.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct NodeState {
    /// The search (generation) that last wrote this record; older ones mean unreached.
    stamp: u32,
    dist: TimeMs,
    label: u32,
}

/// Per-thread search state, reusable across searches on graphs of the same size.
pub struct SearchScratch {
    state: Vec<NodeState>,
    generation: u32,
    heap: RadixHeap,
    /// Nodes settled by the last search, in order of settling (non-decreasing time).
    pub settled: Vec<u32>,
    /// The polygon stage's big arrays, reused from city to city on this thread.
    pub polygon: super::PolygonBuffers,
}

impl SearchScratch {
    pub fn new(num_nodes: usize) -> SearchScratch {
        SearchScratch {
            state: vec![
                NodeState {
                    stamp: 0,
                    dist: INF,
                    label: u32::MAX,
                };
                num_nodes
            ],
            generation: 0,
            heap: RadixHeap::new(),
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
            self.state.iter_mut().for_each(|s| s.stamp = 0);
            self.generation = 1;
        }
        self.heap.clear();
        self.settled.clear();
    }

    /// Travel time to `node` from the last search ([`INF`] if not reached within the limit).
    #[inline]
    pub fn time(&self, node: u32) -> TimeMs {
        let s = &self.state[node as usize];
        if s.stamp == self.generation {
            s.dist
        } else {
            INF
        }
    }

    /// The label of the source that reached `node` first.
    #[inline]
    pub fn label(&self, node: u32) -> Option<u32> {
        let s = &self.state[node as usize];
        (s.stamp == self.generation).then_some(s.label)
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
    let gen = scratch.generation;
    let state = &mut scratch.state;
    let mut pending: Vec<(TimeMs, u32)> = Vec::with_capacity(sources.len());
    for s in sources {
        if s.time_ms > limit_ms {
            continue;
        }
        let n = &mut state[s.node as usize];
        let better =
            n.stamp != gen || s.time_ms < n.dist || (s.time_ms == n.dist && s.label < n.label);
        if better {
            *n = NodeState {
                stamp: gen,
                dist: s.time_ms,
                label: s.label,
            };
            pending.push((s.time_ms, s.node));
        }
    }
    // A node enters the heap once per strictly smaller time (a source given twice at one time
    // is pushed once, and a relaxation at an equal time only changes the label), so the entry
    // holding a node's final time is popped exactly once and every other one is stale.
    pending.sort_unstable();
    pending.dedup();
    for (t, v) in pending {
        scratch.heap.push(t, v);
    }
    while let Some((d, v)) = scratch.heap.pop() {
        if d > state[v as usize].dist {
            continue; // stale entry
        }
        scratch.settled.push(v);
        let lv = state[v as usize].label;
        let (edges, _) = adj.adjacent(v);
        for e in edges {
            let nd = d.saturating_add(e.time_ms);
            if nd > limit_ms {
                continue;
            }
            let w = &mut state[e.head as usize];
            if w.stamp != gen || nd < w.dist {
                *w = NodeState {
                    stamp: gen,
                    dist: nd,
                    label: lv,
                };
                scratch.heap.push(nd, e.head);
            } else if nd == w.dist && lv < w.label {
                w.label = lv;
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
        /// The radix heap pops in key order like a sorted list, with pushes interleaved
        /// (keys never below the last popped, as in Dijkstra).
        #[test]
        fn radix_heap_is_a_monotone_priority_queue(ops in proptest::collection::vec((0u32..3, 0u32..5000), 1..400)) {
            let mut h = RadixHeap::new();
            let mut reference: Vec<u32> = Vec::new();
            let mut last = 0u32;
            for (op, k) in ops {
                if op < 2 {
                    let key = last + k;
                    h.push(key, key);
                    reference.push(key);
                } else if let Some((key, _)) = h.pop() {
                    reference.sort_unstable();
                    let expect = reference.remove(0);
                    prop_assert_eq!(key, expect);
                    last = key;
                }
            }
            reference.sort_unstable();
            for expect in reference {
                prop_assert_eq!(h.pop().map(|x| x.0), Some(expect));
            }
            prop_assert!(h.pop().is_none());
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
