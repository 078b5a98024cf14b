//! Atomic output files: write to a temporary file in the same directory, then rename.
//!
//! A run that fails or is killed at any moment leaves either the previous file or the complete
//! new one, never a torn one. Temporary files are named `.NAME.tmp-PID` beside the target.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// An output file that appears at its final path only when `commit` succeeds.
pub struct AtomicFile {
    target: PathBuf,
    tmp: PathBuf,
    writer: Option<BufWriter<File>>,
}

/// Errors writing an output.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct WriteError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl AtomicFile {
    pub fn create(target: &Path) -> Result<AtomicFile, WriteError> {
        let err = |source| WriteError {
            path: target.to_path_buf(),
            source,
        };
        if target.is_dir() {
            return Err(err(std::io::Error::other("it is a directory")));
        }
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("directory {} does not exist", dir.display()),
            )));
        }
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        remove_stale_temporaries(&dir, &name);
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        // Readable as well, so that it can be mapped for writing (`write_mapped`).
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(err)?;
        Ok(AtomicFile {
            target: target.to_path_buf(),
            tmp,
            writer: Some(BufWriter::with_capacity(1 << 20, file)),
        })
    }

    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer
            .as_mut()
            .expect("writer is present until commit")
    }

    /// Writes `pieces` (file offset, bytes; in file order, not overlapping) into the file, `len`
    /// bytes long, a window of 4 MB at a time, with the processor and the disk both at work:
    ///
    /// - the cores copy windows through shared memory maps, side by side. Positioned writes to
    ///   one file take turns on its inode lock (ext4: the second core spun on it) and one stream
    ///   copies on one core; through maps the copies run in parallel. Each window is mapped on
    ///   its own, so the file's pages do not count toward the process's resident memory at once;
    /// - meanwhile two threads write other windows with direct I/O (`O_DIRECT`, from an aligned
    ///   buffer): the disk takes them from the buffer without the page cache, whose pages cost
    ///   the cores more than the copy on these virtual machines (each new page is faulted in and
    ///   zeroed: 0.75 s of processor time for the province mosaic's 440 MB graph). The cores take
    ///   windows from the front, the direct writers from the back, until they meet, so each side
    ///   does as much as its speed allows (figures in `docs/performance.md`).
    ///
    /// Where the file system refuses direct I/O, the cores write everything. The space is
    /// allocated first (`fallocate`): a full disk is an error here, never a fault while copying.
    /// Returns `Ok(false)`, having written nothing, where the file system cannot allocate ahead
    /// or the platform is not Linux: write the pieces or the stream instead.
    pub fn write_mapped(&mut self, len: u64, pieces: &[(u64, &[u8])]) -> Result<bool, WriteError> {
        Ok(self
            .write_mapped_in(len, pieces, 4 << 20, DIRECT_WRITERS)?
            .is_some())
    }

    /// [`AtomicFile::write_mapped`] with windows of `window` bytes (a multiple of the page size)
    /// and `direct_writers` direct-I/O threads. Returns how many windows were written with
    /// direct I/O, or `None` where nothing was written.
    fn write_mapped_in(
        &mut self,
        len: u64,
        pieces: &[(u64, &[u8])],
        window: u64,
        direct_writers: usize,
    ) -> Result<Option<usize>, WriteError> {
        let target = self.target.clone();
        let err = |source| WriteError {
            path: target.clone(),
            source,
        };
        #[cfg(target_os = "linux")]
        {
            use rayon::prelude::*;
            use std::os::fd::AsRawFd;
            use std::os::unix::fs::{FileExt, OpenOptionsExt};
            use std::sync::Mutex;
            if len == 0 || i64::try_from(len).is_err() {
                return Ok(None);
            }
            let tmp = self.tmp.clone();
            let file = self.writer().get_ref();
            // SAFETY: fallocate on a file descriptor this struct owns; no memory is passed.
            let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len as i64) };
            if rc != 0 {
                let e = std::io::Error::last_os_error();
                return match e.raw_os_error() {
                    Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) => Ok(None),
                    _ => Err(err(e)),
                };
            }
            let windows = len.div_ceil(window) as usize;
            // Direct I/O needs whole aligned blocks: only full windows after the first (whose
            // header is patched later through the page cache) go to the direct writers.
            let full = (len / window) as usize;
            let direct = if direct_writers > 0 && full > 1 && window.is_multiple_of(4096) {
                std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_DIRECT)
                    .open(&tmp)
                    .ok()
            } else {
                None
            };
            // Windows not yet taken: the cores take from the front, the direct writers from the
            // back (of the full windows); a window a direct writer could not write goes back.
            struct Queue {
                front: usize,
                back: usize,
                returned: Vec<usize>,
            }
            let queue = Mutex::new(Queue {
                front: 0,
                back: if direct.is_some() { full } else { windows },
                returned: Vec::new(),
            });
            let lock = || queue.lock().unwrap_or_else(|e| e.into_inner());
            let tail_done = std::sync::atomic::AtomicBool::new(direct.is_none());
            let written_direct = std::sync::atomic::AtomicUsize::new(0);
            let mapped = |w: usize| -> std::io::Result<()> {
                let start = w as u64 * window;
                let end = (start + window).min(len);
                // SAFETY: the temporary file is this process's own (named with its pid by
                // `create`) and is not truncated while mapped; its blocks are allocated, so
                // writing through the map cannot fault for want of space.
                let mut map = unsafe {
                    memmap2::MmapOptions::new()
                        .offset(start)
                        .len((end - start) as usize)
                        .map_mut(file)
                }?;
                populate_for_write(&mut map);
                copy_range(pieces, start, &mut map);
                Ok(())
            };
            let cores = rayon::current_num_threads().max(1);
            let mapped_result = std::thread::scope(|scope| {
                if let Some(direct) = &direct {
                    for _ in 0..direct_writers {
                        scope.spawn(|| {
                            let Ok(mut buf) = memmap2::MmapMut::map_anon(window as usize) else {
                                return;
                            };
                            loop {
                                let w = {
                                    let mut q = lock();
                                    // Window 0 and the partial last one are the cores'.
                                    if q.back <= q.front.max(1) {
                                        return;
                                    }
                                    q.back -= 1;
                                    q.back
                                };
                                let start = w as u64 * window;
                                copy_range(pieces, start, &mut buf);
                                if direct.write_all_at(&buf, start).is_err() {
                                    // Not written (the file system refused after all): the
                                    // cores write it, and the ones after it.
                                    lock().returned.push(w);
                                    return;
                                }
                                written_direct.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                        });
                    }
                }
                (0..cores).into_par_iter().try_for_each(|_| loop {
                    // The partial last window, beyond the direct writers' share, first.
                    if !tail_done.swap(true, std::sync::atomic::Ordering::Relaxed) {
                        for w in full.max(1)..windows {
                            mapped(w)?;
                        }
                    }
                    let w = {
                        let mut q = lock();
                        if q.front < q.back {
                            q.front += 1;
                            Some(q.front - 1)
                        } else {
                            q.returned.pop()
                        }
                    };
                    match w {
                        Some(w) => mapped(w)?,
                        None => return Ok(()),
                    }
                })
            });
            mapped_result.map_err(err)?;
            // A direct writer that gave up after the cores had finished left its window here.
            let (returned, direct_from) = {
                let mut q = lock();
                (std::mem::take(&mut q.returned), q.back)
            };
            for w in returned {
                mapped(w).map_err(err)?;
            }
            if let Some(direct) = direct.as_ref().filter(|_| direct_from < full) {
                // The direct writes bypassed the page cache: drop any page of their range that
                // the cores' maps read ahead before the writes landed (the kernel invalidates
                // them too; this keeps a later read of the file from ever seeing a stale one).
                let (from, to) = (direct_from as u64 * window, full as u64 * window);
                // SAFETY: fadvise on a descriptor this function owns; no memory is passed.
                unsafe {
                    libc::posix_fadvise(
                        direct.as_raw_fd(),
                        from as i64,
                        (to - from) as i64,
                        libc::POSIX_FADV_DONTNEED,
                    );
                }
            }
            Ok(Some(written_direct.into_inner()))
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (len, pieces, window, direct_writers, err);
            Ok(None)
        }
    }

    /// Writes `pieces` (file offset, bytes) with positioned writes from all cores, in place of
    /// the stream. On ext4 the writes to one file take turns on its inode lock, so this is
    /// about as fast as one stream (large files go through [`AtomicFile::write_mapped`]); it
    /// lets the checksum be computed on another core while the bytes are written. Returns
    /// `Ok(false)`, having written nothing, where positioned writes are not available (not
    /// Unix): write the stream instead.
    pub fn write_pieces(&mut self, pieces: &[(u64, &[u8])]) -> Result<bool, WriteError> {
        #[cfg(unix)]
        {
            use rayon::prelude::*;
            use std::os::unix::fs::FileExt;
            let file = self.writer().get_ref();
            pieces
                .par_iter()
                .try_for_each(|&(at, bytes)| file.write_all_at(bytes, at))
                .map_err(|source| WriteError {
                    path: self.target.clone(),
                    source,
                })?;
            Ok(true)
        }
        #[cfg(not(unix))]
        {
            let _ = pieces;
            Ok(false)
        }
    }

    /// Flushes, syncs and renames into place.
    pub fn commit(self) -> Result<(), WriteError> {
        self.finish(true)
    }

    /// Flushes and renames into place without waiting for the disk: for files that carry a
    /// checksum of their own (the graph file). A run that fails or is killed still leaves the
    /// previous file or the whole new one; only a power failure or kernel crash soon after can
    /// leave a file the disk did not receive in full, and reading it then fails (empty,
    /// truncated or checksum mismatch: re-import); it is never misread. The sync cost 0.2 s of a 5 s province import.
    pub fn commit_unsynced(self) -> Result<(), WriteError> {
        self.finish(false)
    }

    fn finish(mut self, sync: bool) -> Result<(), WriteError> {
        let err = |source| WriteError {
            path: self.target.clone(),
            source,
        };
        let w = self.writer.take().expect("commit once");
        let file = w.into_inner().map_err(|e| err(e.into_error()))?;
        if sync {
            file.sync_all().map_err(err)?;
        }
        drop(file);
        std::fs::rename(&self.tmp, &self.target).map_err(err)?;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.is_some() {
            self.writer = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Removes `.NAME.tmp-PID` files left by runs that were killed (their process no longer exists).
fn remove_stale_temporaries(dir: &Path, name: &str) {
    let prefix = format!(".{name}.tmp-");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name();
        let Some(pid) = file
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists();
        if !alive && Path::new("/proc/self").exists() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let mut f = AtomicFile::create(path)?;
    f.writer().write_all(bytes).map_err(|source| WriteError {
        path: path.to_path_buf(),
        source,
    })?;
    f.commit()
}

/// Direct-I/O threads of [`AtomicFile::write_mapped`]: two kept this machine's disk busy (the
/// mosaic's graph: 0.58 s for 440 MB, against 0.90 s with one and more with four).
const DIRECT_WRITERS: usize = 2;

/// Fills `dst`, the file's bytes from offset `start`, from `pieces` (file offset, bytes; in file
/// order, not overlapping); zeros where no piece lies.
#[cfg(target_os = "linux")]
fn copy_range(pieces: &[(u64, &[u8])], start: u64, dst: &mut [u8]) {
    let end = start + dst.len() as u64;
    // The first piece that ends after `start`.
    let first = pieces.partition_point(|&(offset, bytes)| offset + bytes.len() as u64 <= start);
    let mut at = start; // bytes of `dst` before this offset are filled
    for &(offset, bytes) in &pieces[first..] {
        if offset >= end {
            break;
        }
        let (s, e) = (offset.max(start), (offset + bytes.len() as u64).min(end));
        dst[(at - start) as usize..(s - start) as usize].fill(0);
        dst[(s - start) as usize..(e - start) as usize]
            .copy_from_slice(&bytes[(s - offset) as usize..(e - offset) as usize]);
        at = e;
    }
    dst[(at - start) as usize..].fill(0);
}

/// Faults in the pages of `dst`, a part of a shared file map, with one system call
/// (`MADV_POPULATE_WRITE`, Linux 5.14) instead of a trap per page as the copy reaches them: a
/// trap costs microseconds on a virtual machine, and a province's graph file is a hundred
/// thousand pages. A kernel without it leaves the pages to the copy.
#[cfg(target_os = "linux")]
fn populate_for_write(dst: &mut [u8]) {
    if dst.is_empty() {
        return;
    }
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    // The map starts on a page boundary, so the page holding `dst`'s first byte is mapped.
    let start = dst.as_mut_ptr() as usize / page * page;
    let end = dst.as_mut_ptr() as usize + dst.len();
    // SAFETY: the range lies within a live writable map; populating changes no contents.
    unsafe {
        libc::madvise(
            start as *mut libc::c_void,
            end - start,
            libc::MADV_POPULATE_WRITE,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_appears_until_commit_and_drop_cleans_up() {
        let dir = std::env::temp_dir().join(format!("mr-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("out.txt");
        {
            let mut f = AtomicFile::create(&target).unwrap();
            f.writer().write_all(b"half").unwrap();
            assert!(!target.exists());
        }
        assert!(!target.exists());
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "temporary file removed"
        );
        write_atomic(&target, b"whole").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"whole");
        assert!(write_atomic(&dir.join("missing/x.txt"), b"x").is_err());
        // A temporary file of a process that no longer exists is cleaned up.
        let stale = dir.join(".out.txt.tmp-4000000");
        std::fs::write(&stale, b"torn").unwrap();
        write_atomic(&target, b"again").unwrap();
        assert!(!stale.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Pieces written through windows of the map, pieces crossing windows and gaps left
    /// between them, give the bytes of writing each piece at its offset (zeros in the gaps).
    #[test]
    fn mapped_windows_write_every_piece_at_its_offset() {
        let dir = std::env::temp_dir().join(format!("mr-mapped-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("out.bin");
        let page = 4096u64;
        let len = 5 * page + 123;
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8 + 1).collect();
        // Pieces of odd sizes with gaps, one across three windows of a page, one ending the file.
        let bounds = [
            (0, 10),
            (16, 4000),
            (4200, 9000),
            (9000, 9001),
            (12000, len),
        ];
        let pieces: Vec<(u64, &[u8])> = bounds
            .iter()
            .map(|&(a, b)| (a, &data[a as usize..b as usize]))
            .collect();
        let mut expected = vec![0u8; len as usize];
        for &(a, b) in &bounds {
            expected[a as usize..b as usize].copy_from_slice(&data[a as usize..b as usize]);
        }
        for (window, direct) in [(page, 0), (page, 2), (2 * page, 1), (64 * page, 2)] {
            let mut f = AtomicFile::create(&target).unwrap();
            match f.write_mapped_in(len, &pieces, window, direct) {
                Ok(Some(written_direct)) => {
                    f.commit_unsynced().unwrap();
                    let what = format!("window {window}, {direct} direct writers");
                    assert_eq!(std::fs::read(&target).unwrap(), expected, "{what}");
                    // Only full windows after the first go to the direct writers.
                    let full = (len / window) as usize;
                    assert!(written_direct <= full.saturating_sub(1), "{what}");
                    assert!(direct > 0 || written_direct == 0, "{what}");
                }
                // A file system that cannot allocate ahead: nothing written, nothing to check.
                Ok(None) => {}
                Err(e) => panic!("{e}"),
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// On a file system that takes direct I/O, the direct writers write part of a large file
    /// while the cores write the rest, and the file reads back whole (through the page cache,
    /// which must not hold stale pages of the directly written windows).
    #[test]
    #[cfg(target_os = "linux")]
    fn direct_writers_share_the_windows() {
        let dir = std::env::temp_dir().join(format!("mr-direct-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("out.bin");
        let probe = dir.join("probe");
        std::fs::write(&probe, b"").unwrap();
        let direct_io = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_DIRECT)
                .open(&probe)
                .is_ok()
        };
        let page = 4096u64;
        let len = 2048 * page + 77;
        let data: Vec<u8> = (0..len).map(|i| (i * 13 % 253) as u8 + 1).collect();
        let pieces: Vec<(u64, &[u8])> = data
            .chunks(10_000)
            .enumerate()
            .map(|(i, c)| ((i * 10_000) as u64, c))
            .collect();
        let mut f = AtomicFile::create(&target).unwrap();
        // `None`: this file system cannot allocate ahead, nothing was written.
        if let Some(written_direct) = f.write_mapped_in(len, &pieces, page, 2).unwrap() {
            f.commit_unsynced().unwrap();
            assert!(std::fs::read(&target).unwrap() == data, "bytes differ");
            if direct_io {
                // The writers start before the cores and the cores map each of the 2,048
                // windows on its own: they cannot have taken all of them.
                assert!(written_direct > 0, "no window written directly");
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
