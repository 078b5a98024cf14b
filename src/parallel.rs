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
    let mut parts: Vec<&mut [T]> = Vec::new();
    let mut rest = out;
    for len in lens {
        let (part, tail) = std::mem::take(&mut rest).split_at_mut(len);
        parts.push(part);
        rest = tail;
    }
    debug_assert!(rest.is_empty(), "the blocks cover the array");
    parts
        .into_par_iter()
        .enumerate()
        .for_each(|(i, part)| fill(i, part));
}

/// The parts one after the other, copied on all cores (the same as appending them in order).
///
/// ```
/// use metroreach::parallel::par_concat;
/// assert_eq!(par_concat(&[vec![1u32, 2], vec![], vec![3]]), [1, 2, 3]);
/// ```
pub fn par_concat<T, P>(parts: &[P]) -> Vec<T>
where
    T: bytemuck::Zeroable + Copy + Send + Sync,
    P: AsRef<[T]> + Sync,
{
    let len = |p: &P| p.as_ref().len();
    let mut out: Vec<T> = bytemuck::zeroed_vec(parts.iter().map(len).sum());
    par_fill_blocks(&mut out, parts.iter().map(len), |i, dst| {
        dst.copy_from_slice(parts[i].as_ref())
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
