//! Strongly connected components of a CSR graph (iterative Tarjan, no recursion, flat arrays).
//!
//! petgraph's `tarjan_scc` needs a petgraph graph (several times the memory of our CSR for a
//! province); this version runs directly on `first_out`/`heads` and is checked against petgraph's
//! `kosaraju_scc` in the tests below.

/// Component id per node, numbered in the order Tarjan completes them, and each component's size.
pub struct Components {
    pub component: Vec<u32>,
    pub sizes: Vec<u32>,
}

/// Computes the strongly connected components of the graph given by CSR offsets and edge heads.
pub fn strongly_connected(first_out: &[u32], heads: &[u32]) -> Components {
    tarjan(first_out, heads, |_| false)
}

/// What [`strongly_connected_two_way`] learns on the way: the nodes reachable from its pivot
/// (`from`) and those reaching it (`to`), and the pivot's component. Both sets are closed
/// (nothing outside `from` is reachable from inside it, nothing outside `to` reaches into it),
/// so they can start the closures of any set of seeds that includes the pivot's component
/// ([`reachable_extending`]).
pub struct PivotReach {
    pub component: u32,
    pub from: Vec<bool>,
    pub to: Vec<bool>,
}

/// The same components as [`strongly_connected`] (numbered differently), using the reverse
/// graph too so that most of the work runs on two cores: a road network is one giant component
/// and crumbs. The component of a pivot (the node with the most edges) is found as the nodes
/// both reachable from it and reaching it, one search per core; Tarjan then runs on the rest
/// only (a component other than the pivot's never passes through the pivot's, or it would be
/// part of it). The pivot's component gets the last id; the pivot's two reach sets come back
/// too (`None` for an empty graph), for the caller to reuse ([`PivotReach`]).
pub fn strongly_connected_two_way(
    first_out: &[u32],
    heads: &[u32],
    rev_first_out: &[u32],
    rev_heads: &[u32],
) -> (Components, Option<PivotReach>) {
    use rayon::prelude::*;
    let n = first_out.len().saturating_sub(1);
    if n == 0 {
        return (strongly_connected(first_out, heads), None);
    }
    let degree = |v: usize| {
        (first_out[v + 1] - first_out[v]) as u64 + (rev_first_out[v + 1] - rev_first_out[v]) as u64
    };
    // Most edges; the lowest index among equals (the same pivot whatever the thread count).
    let pivot = (0..n)
        .into_par_iter()
        .max_by_key(|&v| (degree(v), std::cmp::Reverse(v)))
        .expect("n > 0");
    let (from_pivot, to_pivot) = rayon::join(
        || reachable(first_out, heads, |v| v == pivot),
        || reachable(rev_first_out, rev_heads, |v| v == pivot),
    );
    let in_pivot: Vec<bool> = from_pivot
        .par_iter()
        .zip(&to_pivot)
        .map(|(&f, &t)| f && t)
        .collect();
    let mut comps = tarjan(first_out, heads, |v| in_pivot[v]);
    let id = comps.sizes.len() as u32;
    let mut size = 0u32;
    for (c, &inside) in comps.component.iter_mut().zip(&in_pivot) {
        if inside {
            *c = id;
            size += 1;
        }
    }
    comps.sizes.push(size);
    let pivot = PivotReach {
        component: id,
        from: from_pivot,
        to: to_pivot,
    };
    (comps, Some(pivot))
}

/// Nodes reachable from the seeds (seeds included), by a depth-first walk.
pub fn reachable(first: &[u32], heads: &[u32], is_seed: impl Fn(usize) -> bool) -> Vec<bool> {
    let n = first.len() - 1;
    reachable_extending(first, heads, vec![false; n], is_seed)
}

/// The nodes of `seen` and those reachable from the seeds (seeds included). `seen` must be
/// closed (every node reachable from one in it is in it): its nodes are not searched from
/// again, so a closure already known costs nothing.
pub fn reachable_extending(
    first: &[u32],
    heads: &[u32],
    mut seen: Vec<bool>,
    is_seed: impl Fn(usize) -> bool,
) -> Vec<bool> {
    let n = first.len() - 1;
    assert_eq!(seen.len(), n, "one flag per node");
    let mut stack: Vec<u32> = Vec::new();
    for (v, s) in seen.iter_mut().enumerate() {
        if !*s && is_seed(v) {
            *s = true;
            stack.push(v as u32);
        }
    }
    while let Some(v) = stack.pop() {
        for &w in &heads[first[v as usize] as usize..first[v as usize + 1] as usize] {
            if !seen[w as usize] {
                seen[w as usize] = true;
                stack.push(w);
            }
        }
    }
    seen
}

/// Iterative Tarjan over the nodes for which `absent` is false (edges into absent nodes are
/// ignored; absent nodes keep the component id `u32::MAX`).
fn tarjan(first_out: &[u32], heads: &[u32], absent: impl Fn(usize) -> bool) -> Components {
    let n = first_out.len().saturating_sub(1);
    const UNVISITED: u32 = u32::MAX;
    let mut index = vec![UNVISITED; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut component = vec![u32::MAX; n];
    let mut sizes = Vec::new();
    let mut stack: Vec<u32> = Vec::new();
    // Call stack of (node, next edge position).
    let mut calls: Vec<(u32, u32)> = Vec::new();
    let mut next_index = 0u32;

    for root in 0..n as u32 {
        if index[root as usize] != UNVISITED || absent(root as usize) {
            continue;
        }
        calls.push((root, first_out[root as usize]));
        index[root as usize] = next_index;
        low[root as usize] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root as usize] = true;
        while let Some(&mut (v, ref mut pos)) = calls.last_mut() {
            let end = first_out[v as usize + 1];
            if *pos < end {
                let w = heads[*pos as usize];
                *pos += 1;
                if absent(w as usize) {
                    continue;
                }
                if index[w as usize] == UNVISITED {
                    index[w as usize] = next_index;
                    low[w as usize] = next_index;
                    next_index += 1;
                    stack.push(w);
                    on_stack[w as usize] = true;
                    calls.push((w, first_out[w as usize]));
                } else if on_stack[w as usize] {
                    low[v as usize] = low[v as usize].min(index[w as usize]);
                }
            } else {
                calls.pop();
                if let Some(&(parent, _)) = calls.last() {
                    low[parent as usize] = low[parent as usize].min(low[v as usize]);
                }
                if low[v as usize] == index[v as usize] {
                    let id = sizes.len() as u32;
                    let mut size = 0u32;
                    loop {
                        let w = stack.pop().expect("Tarjan stack holds the component");
                        on_stack[w as usize] = false;
                        component[w as usize] = id;
                        size += 1;
                        if w == v {
                            break;
                        }
                    }
                    sizes.push(size);
                }
            }
        }
    }
    Components { component, sizes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn csr(n: usize, edges: &[(u32, u32)]) -> (Vec<u32>, Vec<u32>) {
        let mut sorted = edges.to_vec();
        sorted.sort();
        let mut first = vec![0u32; n + 1];
        for &(a, _) in &sorted {
            first[a as usize + 1] += 1;
        }
        for i in 0..n {
            first[i + 1] += first[i];
        }
        (first, sorted.iter().map(|e| e.1).collect())
    }

    proptest! {
        #[test]
        fn same_partition_as_petgraph(n in 1usize..40, raw in proptest::collection::vec((0u32..40, 0u32..40), 0..120)) {
            let edges: Vec<(u32, u32)> = raw.into_iter().filter(|(a, b)| (*a as usize) < n && (*b as usize) < n).collect();
            let (first, heads) = csr(n, &edges);
            let ours = strongly_connected(&first, &heads);
            let mut g = petgraph::Graph::<(), ()>::new();
            let ids: Vec<_> = (0..n).map(|_| g.add_node(())).collect();
            for &(a, b) in &edges {
                g.add_edge(ids[a as usize], ids[b as usize], ());
            }
            let reference = petgraph::algo::kosaraju_scc(&g);
            let rev: Vec<(u32, u32)> = edges.iter().map(|&(a, b)| (b, a)).collect();
            let (rfirst, rheads) = csr(n, &rev);
            let (two_way, pivot) = strongly_connected_two_way(&first, &heads, &rfirst, &rheads);
            // The pivot's reach sets start the closures of any seeds that include its
            // component: the same sets as searching from all the seeds.
            let pivot = pivot.expect("n > 0");
            let seeds = |v: usize| two_way.component[v] == pivot.component || v % 7 == 3;
            prop_assert_eq!(
                reachable_extending(&first, &heads, pivot.from.clone(), seeds),
                reachable(&first, &heads, seeds)
            );
            prop_assert_eq!(
                reachable_extending(&rfirst, &rheads, pivot.to.clone(), seeds),
                reachable(&rfirst, &rheads, seeds)
            );
            for comps in [&ours, &two_way] {
                prop_assert_eq!(reference.len(), comps.sizes.len());
                for comp in &reference {
                    let c = comps.component[comp[0].index()];
                    prop_assert_eq!(comps.sizes[c as usize] as usize, comp.len());
                    for v in comp {
                        prop_assert_eq!(comps.component[v.index()], c);
                    }
                }
            }
        }
    }
}
