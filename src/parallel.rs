//! Building one large array from parts on all cores, without a sequential concatenation.
//!
//! Stages that work on chunks in parallel end up with one vector per chunk. Appending them one
//! after the other is a sequential copy of the whole array (hundreds of MB on a province
//! extract) into freshly faulted memory; these helpers copy each part into its own slice of the
//! result instead, on all cores, in the same order.

use rayon::prelude::*;

/// Splits `out` into consecutive blocks of the given lengths (which add up to its length) and
/// fills them in parallel, `fill(block index, block)`: one array built from blocks of input
/// whose output sizes are known first.
///
/// ```
/// use metroreach::parallel::par_fill_blocks;
/// let mut out = vec![0; 5];
/// par_fill_blocks(&mut out, [2, 3], |i, block| block.fill(i + 1));
/// assert_eq!(out, [1, 1, 2, 2, 2]);
/// ```
pub fn par_fill_blocks<T: Send>(
    out: &mut [T],
    lens: impl IntoIterator<Item = usize>,
    fill: impl Fn(usize, &mut [T]) + Sync,
) {
    split_blocks(out, lens)
        .into_par_iter()
        .enumerate()
        .for_each(|(i, part)| fill(i, part));
}

/// `out` split into consecutive blocks of the given lengths, which add up to its length: each
/// block for one parallel task to write (several arrays split alike are zipped).
///
/// ```
/// use metroreach::parallel::split_blocks;
/// let mut out = [1, 2, 3, 4, 5];
/// let blocks = split_blocks(&mut out, [2, 0, 3]);
/// assert_eq!(blocks, [&mut [1, 2][..], &mut [][..], &mut [3, 4, 5][..]]);
/// ```
pub fn split_blocks<T>(out: &mut [T], lens: impl IntoIterator<Item = usize>) -> Vec<&mut [T]> {
    let mut parts: Vec<&mut [T]> = Vec::new();
    let mut rest = out;
    for len in lens {
        let (part, tail) = std::mem::take(&mut rest).split_at_mut(len);
        parts.push(part);
        rest = tail;
    }
    debug_assert!(rest.is_empty(), "the blocks cover the array");
    parts
}

/// `n` copies of `value`, written on all cores: `vec![value; n]` fills on one core, and for the
/// import's arrays of tens of millions of entries that is also where their pages are faulted in.
///
/// ```
/// use metroreach::parallel::par_filled;
/// assert_eq!(par_filled(3, u32::MAX), vec![u32::MAX; 3]);
/// ```
pub fn par_filled<T: Copy + Send + Sync>(n: usize, value: T) -> Vec<T> {
    (0..n).into_par_iter().map(|_| value).collect()
}

/// `f` of every item of the parts, one part after the other (the same as mapping the parts
/// appended in order), written on all cores straight into the result.
///
/// ```
/// use metroreach::parallel::par_concat_map;
/// assert_eq!(par_concat_map(&[vec![1u32, 2], vec![], vec![3]], |x| x * 10), [10, 20, 30]);
/// ```
pub fn par_concat_map<T, U, P>(parts: &[P], f: impl Fn(&T) -> U + Sync) -> Vec<U>
where
    T: Sync,
    U: Send,
    P: AsRef<[T]> + Sync,
{
    let n: usize = parts.iter().map(|p| p.as_ref().len()).sum();
    let mut out: Vec<U> = Vec::with_capacity(n);
    {
        let slots: Vec<(&[T], &mut [std::mem::MaybeUninit<U>])> = parts
            .iter()
            .map(AsRef::as_ref)
            .zip(split_blocks(
                &mut out.spare_capacity_mut()[..n],
                parts.iter().map(|p| p.as_ref().len()),
            ))
            .collect();
        slots.into_par_iter().for_each(|(part, slot)| {
            for (dst, item) in slot.iter_mut().zip(part) {
                dst.write(f(item));
            }
        });
    }
    // SAFETY: the slots partition the first `n` places of the capacity and every place of
    // every slot was written above (each slot is as long as its part); a panic in `f`
    // propagates before this line, leaving the length 0 (the written values leak).
    unsafe { out.set_len(n) };
    out
}

/// The parts one after the other, copied on all cores (the same as appending them in order).
///
/// ```
/// use metroreach::parallel::par_concat;
/// assert_eq!(par_concat(&[vec![1u32, 2], vec![], vec![3]]), [1, 2, 3]);
/// ```
pub fn par_concat<T, P>(parts: &[P]) -> Vec<T>
where
    T: Copy + Send + Sync,
    P: AsRef<[T]> + Sync,
{
    par_concat_map(parts, |x: &T| *x)
}

/// Sorts `items` (by their total order) given a coarse key that respects that order
/// (`bucket(a) < bucket(b)` implies `a < b`), below `buckets`: a counting scatter into the
/// buckets on all cores, then each bucket's few items sorted, buckets in parallel. The result is
/// the fully sorted list, whatever the thread count. For keys with many buckets of a few
/// thousand items (edges by tail node), about twice as fast as a parallel comparison sort.
///
/// ```
/// use metroreach::parallel::par_sort_bucketed;
/// let v = vec![(3u32, 1u32), (0, 9), (3, 0), (1, 5), (0, 2)];
/// let sorted = par_sort_bucketed(&v, 4, |e| e.0 as usize);
/// assert_eq!(sorted, [(0, 2), (0, 9), (1, 5), (3, 0), (3, 1)]);
/// ```
pub fn par_sort_bucketed<T>(
    items: &[T],
    buckets: usize,
    bucket: impl Fn(&T) -> usize + Sync,
) -> Vec<T>
where
    T: bytemuck::Zeroable + Copy + Ord + Send + Sync,
{
    let (mut out, bucket_start) = par_bucket_scatter(items, buckets, bucket);
    par_fill_blocks(
        &mut out,
        bucket_start.windows(2).map(|w| w[1] - w[0]),
        |_, part| part.sort_unstable(),
    );
    out
}

/// `items` grouped by `bucket` (below `buckets`), buckets in order and items in their input
/// order within one (a stable counting scatter, on all cores), and where each bucket starts
/// (`buckets + 1` offsets, the last the length).
pub(crate) fn par_bucket_scatter<T>(
    items: &[T],
    buckets: usize,
    bucket: impl Fn(&T) -> usize + Sync,
) -> (Vec<T>, Vec<usize>)
where
    T: bytemuck::Zeroable + Copy + Send + Sync,
{
    let chunk = items
        .len()
        .div_ceil(rayon::current_num_threads().max(1) * 4)
        .max(1);
    // Per chunk, how many items fall in each bucket.
    let counts: Vec<Vec<usize>> = items
        .par_chunks(chunk)
        .map(|c| {
            let mut n = vec![0usize; buckets];
            for x in c {
                n[bucket(x)] += 1;
            }
            n
        })
        .collect();
    // Where each chunk's items of each bucket go: buckets in order, chunks in order within one.
    let mut starts = vec![vec![0usize; buckets]; counts.len()];
    let mut bucket_start = vec![0usize; buckets + 1];
    let mut at = 0;
    for b in 0..buckets {
        bucket_start[b] = at;
        for (c, n) in counts.iter().enumerate() {
            starts[c][b] = at;
            at += n[b];
        }
    }
    bucket_start[buckets] = at;
    let mut out: Vec<T> = bytemuck::zeroed_vec(items.len());
    {
        let dst = SharedSlice(out.as_mut_ptr(), out.len());
        items
            .par_chunks(chunk)
            .zip(starts.into_par_iter())
            .for_each(|(c, mut next)| {
                for &x in c {
                    let b = bucket(&x);
                    // SAFETY: chunk `c` owns positions `starts[c][b]..` up to its count in
                    // bucket `b`, disjoint from every other chunk's and within `out`.
                    unsafe { dst.write(next[b], x) };
                    next[b] += 1;
                }
            });
    }
    (out, bucket_start)
}

/// Feeds `bytes` to a CRC-32 hasher, in pieces of 16 MB on all cores whose CRCs are combined
/// in order: the same value as one `update`.
///
/// ```
/// let bytes: Vec<u8> = (0..40_000_000u32).map(|i| (i % 251) as u8).collect();
/// let mut h = crc32fast::Hasher::new();
/// metroreach::parallel::par_crc32(&mut h, &bytes);
/// assert_eq!(h.finalize(), crc32fast::hash(&bytes));
/// ```
pub fn par_crc32(h: &mut crc32fast::Hasher, bytes: &[u8]) {
    const PIECE: usize = 16 << 20;
    let pieces: Vec<crc32fast::Hasher> = bytes
        .par_chunks(PIECE)
        .map(|piece| {
            let mut p = crc32fast::Hasher::new();
            p.update(piece);
            p
        })
        .collect();
    for p in pieces {
        h.combine(&p);
    }
}

/// A raw pointer to a slice that threads write disjoint positions of.
pub(crate) struct SharedSlice<T>(pub(crate) *mut T, pub(crate) usize);
impl<T> Clone for SharedSlice<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SharedSlice<T> {}
// SAFETY: only used for writes to disjoint positions (each caller says why they are).
unsafe impl<T: Send> Send for SharedSlice<T> {}
unsafe impl<T: Send> Sync for SharedSlice<T> {}

impl<T> SharedSlice<T> {
    /// # Safety
    /// `i` is in bounds and no other thread reads or writes position `i`.
    pub(crate) unsafe fn write(self, i: usize, v: T) {
        debug_assert!(i < self.1);
        unsafe { self.0.add(i).write(v) }
    }
}

/// Runs `f` (on a worker of rayon's pool) while another worker waits for its parallel parts
/// awake, for at most [`AWAKE_HELPER_LIMIT`]: a circle hands work to the other core about ten
/// times in a few milliseconds, and a sleeping worker takes 15–25 µs to wake each time on
/// these virtual machines. The waiting worker runs any pool work meanwhile, so nothing else
/// is held up; outside a pool, or with one thread, `f` just runs.
pub fn with_awake_helper<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    use std::sync::atomic::{AtomicBool, Ordering};
    let Some(me) = rayon::current_thread_index() else {
        return f();
    };
    if rayon::current_num_threads() < 2 {
        return f();
    }
    let done = AtomicBool::new(false);
    rayon::scope(|s| {
        s.spawn(|_| {
            // Picked up by this very thread (waiting for one of its own parallel parts): done.
            if rayon::current_thread_index() == Some(me) {
                return;
            }
            let start = std::time::Instant::now();
            while !done.load(Ordering::Acquire) && start.elapsed() < AWAKE_HELPER_LIMIT {
                if rayon::yield_now() != Some(rayon::Yield::Executed) {
                    // Gives way at once should the scheduler have put this thread on the
                    // same core as the one it waits for.
                    std::thread::yield_now();
                }
            }
        });
        let r = f();
        done.store(true, Ordering::Release);
        r
    })
}

/// Longest a worker waits awake for [`with_awake_helper`]'s parts.
pub const AWAKE_HELPER_LIMIT: std::time::Duration = std::time::Duration::from_millis(50);

#[cfg(test)]
mod tests {
    use super::*;

    /// The helper changes nothing but who runs the parallel parts: `f` runs once and its value
    /// comes back, outside a pool, on one thread, on two, and for each item of a parallel batch
    /// (where both workers are busy and the helpers are picked up late or by their own thread);
    /// and each helper stops when its `f` is done, not at the limit.
    #[test]
    fn awake_helper_returns_what_f_returns_and_stops_with_it() {
        let sum = |k: u64| -> u64 { (0..k).into_par_iter().map(|x| x * x).sum() };
        let want = |k: u64| -> u64 { (0..k).map(|x| x * x).sum() };
        assert_eq!(with_awake_helper(|| sum(1000)), want(1000));
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            assert_eq!(
                pool.install(|| with_awake_helper(|| sum(100_000))),
                want(100_000)
            );
            let t = std::time::Instant::now();
            let batch: Vec<u64> = pool.install(|| {
                (0..64u64)
                    .into_par_iter()
                    .map(|k| with_awake_helper(|| sum(k * 100)))
                    .collect()
            });
            assert_eq!(batch, (0..64).map(|k| want(k * 100)).collect::<Vec<_>>());
            // 64 helpers held to the limit would take 64 limits (over three seconds).
            assert!(t.elapsed() < AWAKE_HELPER_LIMIT * 16, "{:?}", t.elapsed());
        }
    }

    #[test]
    fn blocks_are_filled_in_place_and_in_order() {
        let lens = [3, 0, 2, 1, 0];
        let mut out = vec![usize::MAX; 6];
        par_fill_blocks(&mut out, lens, |i, block| {
            for (k, x) in block.iter_mut().enumerate() {
                *x = i * 10 + k;
            }
        });
        assert_eq!(out, [0, 1, 2, 20, 21, 30]);
    }

    #[test]
    fn concatenation_equals_appending_in_order() {
        // Parts of many sizes (empty ones too), larger than rayon's smallest split.
        let parts: Vec<Vec<i64>> = (0..200)
            .map(|i| (0..(i * 37) % 101).map(|k| i * 1000 + k).collect())
            .collect();
        let appended: Vec<i64> = parts.iter().flatten().copied().collect();
        assert_eq!(par_concat(&parts), appended);
        assert!(par_concat::<u8, Vec<u8>>(&[]).is_empty());
    }

    proptest::proptest! {
        /// The bucketed sort is the plain sort, for edge-like tuples keyed by their first field
        /// (few and many buckets, empty buckets, duplicates).
        #[test]
        fn bucketed_sort_is_the_sort(
            items in proptest::collection::vec((0u32..300, 0u32..50, 0u32..4), 0..3000),
            shift in 0u32..9,
        ) {
            let buckets = (300 >> shift) + 1;
            let ours = par_sort_bucketed(&items, buckets as usize, |e| (e.0 >> shift) as usize);
            let mut reference = items.clone();
            reference.sort();
            proptest::prop_assert_eq!(ours, reference);
        }
    }
}
