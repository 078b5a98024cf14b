//! The set of node ids an import needs: sorted and deduplicated, then looked up once per way
//! reference.
//!
//! A province extract has tens of millions of references. The set is built by a parallel radix
//! sort ([`sorted_unique`]) and the references are turned into indices by [`IdIndex`]: a table
//! on the ids' high bits narrows each search to a few dozen ids, and the position after the
//! previous hit is tried first (a way's nodes are often numbered in a row: a fifth of the
//! references of the province mosaic hit there).

use crate::parallel::{par_bucket_scatter, split_blocks};
use rayon::prelude::*;

/// Below this many ids a plain sort is as fast (the radix passes have fixed costs).
const RADIX_MIN: usize = 1 << 16;
/// Bits of the first (most significant) digit: 2,048 buckets, each sorted on its own.
const MSD_BITS: u32 = 11;
/// Bits of each later digit: 256 counters stay in the first-level cache.
const LSD_BITS: u32 = 8;

/// `ids` sorted ascending without repeats.
///
/// Ids are ordered by value (negative ids, as some editors write, come first). Large inputs are
/// sorted by their most significant digit into buckets in parallel, then each bucket by the
/// remaining digits (least significant first) in parallel: every id is moved a fixed number of
/// times, and a bucket's passes run in cache.
///
/// ```
/// use metroreach::osm::ids::sorted_unique;
/// assert_eq!(sorted_unique(vec![5, -2, 5, 3, -2]), vec![-2, 3, 5]);
/// ```
pub fn sorted_unique(mut ids: Vec<i64>) -> Vec<i64> {
    if ids.len() < RADIX_MIN {
        ids.sort_unstable();
        ids.dedup();
        return ids;
    }
    // Keys relative to the smallest id: order-preserving, and only the bits in use are sorted.
    // Converted in place (fresh pages cost more than the passes over them).
    let min = *ids.par_iter().min().expect("non-empty");
    let mut keys: Vec<u64> = bytemuck::allocation::cast_vec(ids);
    keys.par_iter_mut()
        .for_each(|k| *k = (*k as i64).wrapping_sub(min) as u64);
    let max = keys.par_iter().copied().max().unwrap_or(0);
    let bits = 64 - max.leading_zeros();
    let shift = bits.saturating_sub(MSD_BITS);
    let mut sorted = msd_then_lsd(&mut keys, shift);
    drop(keys);
    sorted.dedup();
    sorted
        .par_iter_mut()
        .for_each(|k| *k = (*k as i64).wrapping_add(min) as u64);
    let mut out: Vec<i64> = bytemuck::allocation::cast_vec(sorted);
    out.shrink_to_fit();
    out
}

/// Sorts `keys` (all below `2^(shift + MSD_BITS)`): a parallel scatter by `keys >> shift`, then
/// each bucket by its low `shift` bits. Returns the sorted keys (a new vector; `keys` is left
/// as scratch).
fn msd_then_lsd(keys: &mut [u64], shift: u32) -> Vec<u64> {
    const BUCKETS: usize = 1 << MSD_BITS;
    let (mut out, bucket_start) = par_bucket_scatter(keys, BUCKETS, |&k| (k >> shift) as usize);
    // Each bucket by the low bits, in parallel, with the matching piece of `keys` as scratch.
    let mut pieces: Vec<(&mut [u64], &mut [u64])> = Vec::with_capacity(BUCKETS);
    let (mut rest_out, mut rest_tmp) = (&mut out[..], &mut keys[..]);
    for b in 0..BUCKETS {
        let len = bucket_start[b + 1] - bucket_start[b];
        let (o, ro) = rest_out.split_at_mut(len);
        let (t, rt) = rest_tmp.split_at_mut(len);
        if len > 1 {
            pieces.push((o, t));
        }
        rest_out = ro;
        rest_tmp = rt;
    }
    pieces
        .into_par_iter()
        .for_each(|(bucket, tmp)| lsd_sort(bucket, tmp, shift));
    out
}

/// Sorts `v` by its low `bits` bits (the higher bits are equal), least significant digit first,
/// using `tmp` (same length) as scratch. Digits every key shares are skipped.
fn lsd_sort(v: &mut [u64], tmp: &mut [u64], bits: u32) {
    if v.len() <= 32 {
        v.sort_unstable();
        return;
    }
    let mask = (1u64 << LSD_BITS) - 1;
    let mut in_v = true;
    let mut shift = 0;
    while shift < bits {
        let (src, dst): (&[u64], &mut [u64]) = if in_v { (v, tmp) } else { (tmp, v) };
        let mut count = [0usize; 1 << LSD_BITS];
        for &k in src {
            count[((k >> shift) & mask) as usize] += 1;
        }
        if count.contains(&src.len()) {
            shift += LSD_BITS;
            continue; // every key has the same digit here
        }
        let mut at = 0;
        for n in count.iter_mut() {
            let here = *n;
            *n = at;
            at += here;
        }
        for &k in src {
            let d = ((k >> shift) & mask) as usize;
            dst[count[d]] = k;
            count[d] += 1;
        }
        in_v = !in_v;
        shift += LSD_BITS;
    }
    if !in_v {
        v.copy_from_slice(tmp);
    }
}

/// Lookup of OSM ids in a sorted array of unique ids: a table indexed by the high bits of
/// `id − min` gives the range of ids that share them (about 32 ids on average), which is then
/// binary searched; a cold binary search over tens of millions of ids would miss the cache at
/// nearly every step.
pub struct IdIndex<'a> {
    ids: &'a [i64],
    min: i64,
    shift: u32,
    /// `starts[p]`: the first position whose id has high bits `≥ p`; one entry past the last.
    starts: Vec<u32>,
}

impl<'a> IdIndex<'a> {
    /// Ids per table entry, on average.
    const PER_SLOT: usize = 32;

    /// An index over `ids` (ascending, unique).
    pub fn new(ids: &'a [i64]) -> IdIndex<'a> {
        let (Some(&min), Some(&max)) = (ids.first(), ids.last()) else {
            return IdIndex {
                ids,
                min: 0,
                shift: 0,
                starts: vec![0, 0],
            };
        };
        let range_bits = 64 - (max.wrapping_sub(min) as u64).leading_zeros();
        let slot_bits = (ids.len() / Self::PER_SLOT)
            .max(1)
            .next_power_of_two()
            .trailing_zeros()
            .min(range_bits);
        let shift = range_bits - slot_bits;
        let slots = 1usize << slot_bits;
        let mut starts = Vec::with_capacity(slots + 1);
        let mut at = 0usize;
        for p in 0..slots as u64 {
            while at < ids.len() && high_bits(ids[at], min, shift) < p {
                at += 1;
            }
            starts.push(at as u32);
        }
        starts.push(ids.len() as u32);
        IdIndex {
            ids,
            min,
            shift,
            starts,
        }
    }

    /// The position of `id`, if present.
    #[inline]
    pub fn find(&self, id: i64) -> Option<u32> {
        if id < self.min {
            return None;
        }
        let p = high_bits(id, self.min, self.shift) as usize;
        if p + 1 >= self.starts.len() {
            return None;
        }
        let (lo, hi) = (self.starts[p] as usize, self.starts[p + 1] as usize);
        self.ids[lo..hi]
            .binary_search(&id)
            .ok()
            .map(|i| (lo + i) as u32)
    }

    /// The position of every id of the parts, one part after the other (`u32::MAX` where
    /// absent), in parallel. Within a run of references the position after the previous hit is
    /// tried first.
    pub fn positions(&self, parts: &[&[i64]]) -> Vec<u32> {
        const CHUNK: usize = 1 << 14;
        let n = parts.iter().map(|p| p.len()).sum();
        // Zeroed memory comes from the system untouched: each page is faulted in once, here.
        let mut out = vec![0u32; n];
        let chunks = parts.iter().flat_map(|part| part.chunks(CHUNK));
        let pairs: Vec<(&mut [u32], &[i64])> =
            split_blocks(&mut out, chunks.clone().map(<[i64]>::len))
                .into_iter()
                .zip(chunks)
                .collect();
        pairs.into_par_iter().for_each(|(out, refs)| {
            let mut prev = u32::MAX;
            for (o, &id) in out.iter_mut().zip(refs) {
                let next = prev.wrapping_add(1) as usize;
                prev = if self.ids.get(next) == Some(&id) {
                    next as u32
                } else {
                    self.find(id).unwrap_or(u32::MAX)
                };
                *o = prev;
            }
        });
        out
    }
}

/// The bits of `id − min` (`id ≥ min`) above `shift` (none when `shift` is 64).
#[inline]
fn high_bits(id: i64, min: i64, shift: u32) -> u64 {
    (id.wrapping_sub(min) as u64)
        .checked_shr(shift)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn id_index_finds_exactly_the_ids_present() {
        let ids: Vec<i64> = (0..10_000).map(|k| k * 7 + (k % 3)).collect();
        let idx = IdIndex::new(&ids);
        for (i, &id) in ids.iter().enumerate() {
            assert_eq!(idx.find(id), Some(i as u32));
        }
        for probe in [-5, 1, 8, 69_999 + 10, i64::MAX] {
            assert_eq!(
                idx.find(probe),
                ids.binary_search(&probe).ok().map(|i| i as u32),
                "{probe}"
            );
        }
        assert_eq!(IdIndex::new(&[]).find(3), None);
        assert_eq!(IdIndex::new(&[]).positions(&[&[3, 4]]), vec![u32::MAX; 2]);
    }

    /// The plain reference: sort, then drop repeats.
    fn reference(mut v: Vec<i64>) -> Vec<i64> {
        v.sort_unstable();
        v.dedup();
        v
    }

    #[test]
    fn large_inputs_take_the_radix_path_and_match_a_plain_sort() {
        // Clustered ids (as ways reference them), far-apart clusters, repeats, negatives and the
        // extremes of i64: every digit and bucket case of the radix path.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for case in 0..4 {
            let n = RADIX_MIN * 3 + case * 1234;
            let ids: Vec<i64> = (0..n)
                .map(|k| match case {
                    0 => (next() % 12_000_000_000) as i64,
                    1 => (k as i64 / 3) * 2 + ((next() % 4) as i64) * 5_000_000_000,
                    2 => (next() % 1000) as i64 - 500,
                    _ => match next() % 5 {
                        0 => i64::MIN + (next() % 7) as i64,
                        1 => i64::MAX - (next() % 7) as i64,
                        _ => next() as i64,
                    },
                })
                .collect();
            assert!(ids.len() >= RADIX_MIN);
            assert_eq!(sorted_unique(ids.clone()), reference(ids), "case {case}");
        }
    }

    proptest! {
        #[test]
        fn lsd_sort_matches_a_plain_sort(v in proptest::collection::vec(0u64..(1 << 20), 0..600)) {
            let mut got = v.clone();
            let mut tmp = vec![0; v.len()];
            lsd_sort(&mut got, &mut tmp, 20);
            let mut want = v;
            want.sort_unstable();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn positions_match_a_binary_search(
            ids in proptest::collection::btree_set(prop_oneof![-50i64..5000, any::<i64>()], 0..400),
            refs in proptest::collection::vec(prop_oneof![-60i64..5100, any::<i64>()], 0..400),
            cut in 0usize..800,
        ) {
            let ids: Vec<i64> = ids.into_iter().collect();
            let idx = IdIndex::new(&ids);
            // Every id present, and the probes.
            let probes: Vec<i64> = ids.iter().chain(&refs).copied().collect();
            let want: Vec<u32> = probes
                .iter()
                .map(|r| ids.binary_search(r).map_or(u32::MAX, |i| i as u32))
                .collect();
            // In one part, and in parts cut at `cut` and `cut + 1` (an empty part among them).
            prop_assert_eq!(&idx.positions(&[&probes]), &want);
            let cut = cut.min(probes.len());
            let (a, rest) = probes.split_at(cut);
            let (b, c) = rest.split_at(rest.len().min(1));
            prop_assert_eq!(idx.positions(&[a, &[], b, c]), want);
        }
    }

    #[test]
    fn the_index_spans_the_whole_id_range() {
        for ids in [
            vec![i64::MIN, i64::MAX],
            vec![i64::MIN, -1, 0, 1, i64::MAX],
            vec![7],
        ] {
            let idx = IdIndex::new(&ids);
            for (i, &id) in ids.iter().enumerate() {
                assert_eq!(idx.find(id), Some(i as u32));
            }
            assert_eq!(idx.find(5), None);
        }
    }
}
