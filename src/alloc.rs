//! Allocator settings for the command-line program.
//!
//! The import builds a few dozen arrays of tens to hundreds of megabytes, one after the other,
//! each freed once the next stage has read it. glibc serves every allocation above its mmap
//! threshold (at most 32 MB) with a fresh `mmap` and unmaps it on free, so each array's pages
//! are faulted in and zeroed by the kernel again: on the province mosaic that was 890,000 page
//! faults, about 2.4 s of system time in a 5.9 s import. Served from the heap and not trimmed,
//! freed arrays give their pages to the next ones. With one arena for all threads, memory a
//! worker thread freed is not stranded in that thread's arena either, so the peak does not grow
//! (mosaic: 1.6 GB before, 1.5–1.6 GB after, against 1.8 GB with an arena per thread). Figures
//! in `docs/performance.md`.
//!
//! A circle's scratch memory is reused per thread, so circles are about as fast either way; the
//! benchmark programs call this too, to time the engine as the command runs it.

/// Serves large allocations from the heap and keeps freed memory in the process (glibc on Linux;
/// a no-op elsewhere). Call once at program start, before any other thread starts (a thread
/// keeps the arena it first allocated from).
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before any other thread
    // exists.
    unsafe {
        // No allocation is served by mmap: large ones come from the heap like small ones.
        libc::mallopt(libc::M_MMAP_MAX, 0);
        // Never give the top of the heap back (the largest value mallopt accepts).
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        // One arena: what one thread frees, any thread reuses. Small allocations still come
        // from each thread's cache without the lock.
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
