//! Allocator settings for the command-line program.
//!
//! The import builds a few dozen arrays of tens to hundreds of megabytes, one after the other,
//! each freed once the next stage has read it. glibc serves every allocation above its mmap
//! threshold (at most 32 MB) with a fresh `mmap` and unmaps it on free, so each array's pages
//! are faulted in and zeroed by the kernel again: on the province mosaic that was 890,000 page
//! faults, about 2.4 s of system time in a 5.9 s import. Served from the heap and not trimmed,
//! freed arrays give their pages to the next ones: 465,000 faults, 1.6 s of system time and an
//! import about 10 % faster (`docs/performance.md`), for a peak resident size about 10 %
//! higher (the heap keeps what it was given until the process ends).

/// Serves large allocations from the heap and keeps freed memory in the process (glibc on Linux;
/// a no-op elsewhere). Call once at program start, before the threads start.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before any other thread
    // exists.
    unsafe {
        // No allocation is served by mmap: large ones come from the heap like small ones.
        libc::mallopt(libc::M_MMAP_MAX, 0);
        // Never give the top of the heap back (the largest value mallopt accepts).
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
