//! Read-only arrays of plain records that either own their elements or borrow them, without a
//! copy, from a memory-mapped graph file.
//!
//! A province graph file is hundreds of megabytes; copying every section into its own vector
//! took about as long as everything else in loading it, and doubled the memory a command held.
//! An [`Array`] over a mapped section reads the file's pages in place (the map is read-only and
//! kept alive by the array). Arrays built in memory (the importer, tests) own a `Vec`. Both
//! dereference to a slice, so code reading the graph does not see the difference; writing
//! through one ([`std::ops::DerefMut`]) first turns a mapped array into an owned copy.
//!
//! ```
//! use metroreach::graph::array::Array;
//! let a: Array<u32> = vec![1, 2, 3].into();
//! assert_eq!(a.iter().sum::<u32>(), 6);
//! assert_eq!(&a[1..], &[2, 3]);
//! ```

use bytemuck::Pod;
use memmap2::Mmap;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::Arc;

/// A slice of `T` owned as a `Vec` or borrowed from a shared memory map.
pub struct Array<T: Pod> {
    /// Start of the elements: the vector's buffer, or a place inside the map.
    ptr: NonNull<T>,
    len: usize,
    owner: Owner<T>,
}

enum Owner<T> {
    Vec(Vec<T>),
    Map(#[allow(dead_code)] Arc<Mmap>),
}

// SAFETY: an `Array` is a read-only view of memory it keeps alive (a `Vec` it owns, or a
// read-only map shared through an `Arc`), like `Vec<T>` or `&[T]`; it is as thread-safe as they
// are for `T: Send + Sync`.
unsafe impl<T: Pod + Send> Send for Array<T> {}
unsafe impl<T: Pod + Sync> Sync for Array<T> {}

impl<T: Pod> Array<T> {
    /// The elements stored in `bytes`, a part of `map`: borrowed in place when `bytes` is aligned
    /// for `T`, else copied. `None` if `bytes` is not a whole number of records or does not lie
    /// within `map`.
    pub fn from_map(map: &Arc<Mmap>, bytes: &[u8]) -> Option<Array<T>> {
        let size = std::mem::size_of::<T>();
        let (base, start) = (map.as_ptr() as usize, bytes.as_ptr() as usize);
        if size == 0
            || !bytes.len().is_multiple_of(size)
            || start < base
            || start + bytes.len() > base + map.len()
        {
            return None;
        }
        if !start.is_multiple_of(std::mem::align_of::<T>()) {
            return Some(bytemuck::allocation::pod_collect_to_vec(bytes).into());
        }
        let len = bytes.len() / size;
        let ptr = NonNull::new(bytes.as_ptr() as *mut T)?;
        Some(Array {
            ptr,
            len,
            owner: Owner::Map(Arc::clone(map)),
        })
    }

    /// Whether the elements are read from a memory map (not copied).
    #[cfg(test)]
    fn is_mapped(&self) -> bool {
        matches!(self.owner, Owner::Map(_))
    }
}

impl<T: Pod> From<Vec<T>> for Array<T> {
    fn from(v: Vec<T>) -> Array<T> {
        // A vector's buffer does not move when the vector does; an empty one's pointer is
        // dangling but aligned, which a zero-length slice allows.
        let ptr = NonNull::new(v.as_ptr() as *mut T).expect("a vector's pointer is never null");
        Array {
            ptr,
            len: v.len(),
            owner: Owner::Vec(v),
        }
    }
}

impl<T: Pod> Deref for Array<T> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` and `len` describe initialised `T`s (any bytes are a valid `Pod`) inside
        // memory `owner` keeps alive and nothing mutates while `&self` is held: the vector's
        // buffer, or a read-only map whose range and alignment `from_map` checked.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Pod> DerefMut for Array<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        if let Owner::Map(_) = self.owner {
            *self = self.to_vec().into();
        }
        match &mut self.owner {
            Owner::Vec(v) => v.as_mut_slice(),
            Owner::Map(_) => unreachable!("a mapped array was just copied"),
        }
    }
}

impl<T: Pod> Clone for Array<T> {
    fn clone(&self) -> Array<T> {
        self.to_vec().into()
    }
}

impl<T: Pod> Default for Array<T> {
    fn default() -> Array<T> {
        Vec::new().into()
    }
}

impl<T: Pod + PartialEq> PartialEq for Array<T> {
    fn eq(&self, other: &Array<T>) -> bool {
        **self == **other
    }
}

impl<T: Pod + std::fmt::Debug> std::fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl<'a, T: Pod> IntoIterator for &'a Array<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn map_of(bytes: &[u8]) -> Arc<Mmap> {
        let path = std::env::temp_dir().join(format!("metroreach-array-{}", std::process::id()));
        std::fs::File::create(&path)
            .unwrap()
            .write_all(bytes)
            .unwrap();
        let f = std::fs::File::open(&path).unwrap();
        // SAFETY (test): nothing else writes the file while it is mapped.
        let map = unsafe { Mmap::map(&f) }.unwrap();
        std::fs::remove_file(&path).unwrap();
        Arc::new(map)
    }

    #[test]
    fn mapped_arrays_read_in_place_and_copy_on_write() {
        let values: Vec<u32> = (0..1000).map(|i| i * 7).collect();
        let map = map_of(bytemuck::cast_slice(&values));
        let mut a: Array<u32> = Array::from_map(&map, &map[..]).unwrap();
        assert!(a.is_mapped());
        assert_eq!(&a[..], &values[..]);
        assert_eq!(a.clone(), Array::from(values.clone()));
        a[3] = 1; // writing copies
        assert!(!a.is_mapped());
        assert_eq!(a[3], 1);
        assert_eq!(&map[12..16], &21u32.to_le_bytes()); // the file is untouched
                                                        // Misaligned: copied; a partial record or a range outside the map: refused.
        let b: Array<u32> = Array::from_map(&map, &map[1..9]).unwrap();
        assert!(!b.is_mapped());
        assert_eq!(b.len(), 2);
        assert!(Array::<u32>::from_map(&map, &map[0..6]).is_none());
        let other = [0u8; 8];
        assert!(Array::<u32>::from_map(&map, &other).is_none());
        drop(map); // the arrays keep the map alive
        assert_eq!(&a[..2], &[0, 7]);
    }

    #[test]
    fn owned_arrays_behave_like_vectors() {
        let mut a: Array<u8> = Vec::new().into();
        assert!(a.is_empty() && a == Array::default());
        a = vec![3, 1, 2].into();
        a.sort_unstable();
        assert_eq!(format!("{a:?}"), "[1, 2, 3]");
        assert_eq!((&a).into_iter().count(), 3);
    }
}
