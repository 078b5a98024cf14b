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
    /// bytes long, through shared memory maps, copying on all cores. Positioned writes to one
    /// file take turns on its inode lock (ext4: the second core spun on it) and one stream
    /// copies on one core; through a map the copies run side by side (the mosaic's 440 MB graph:
    /// about half the time, figures in `docs/performance.md`). The file is mapped a window at a
    /// time, so that its pages do not count toward the process's resident memory all at once.
    /// The space is allocated first (`fallocate`): a full disk is an error here, never a fault
    /// while copying. Returns `Ok(false)`, having written nothing, where the file system cannot
    /// allocate ahead or the platform is not Linux: write the pieces or the stream instead.
    pub fn write_mapped(&mut self, len: u64, pieces: &[(u64, &[u8])]) -> Result<bool, WriteError> {
        self.write_mapped_in(len, pieces, 32 << 20)
    }

    /// [`AtomicFile::write_mapped`] with windows of `window` bytes (a multiple of the page size).
    fn write_mapped_in(
        &mut self,
        len: u64,
        pieces: &[(u64, &[u8])],
        window: u64,
    ) -> Result<bool, WriteError> {
        let target = self.target.clone();
        let err = |source| WriteError {
            path: target.clone(),
            source,
        };
        #[cfg(target_os = "linux")]
        {
            use rayon::prelude::*;
            use std::os::fd::AsRawFd;
            if len == 0 || i64::try_from(len).is_err() {
                return Ok(false);
            }
            let file = self.writer().get_ref();
            // SAFETY: fallocate on a file descriptor this struct owns; no memory is passed.
            let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len as i64) };
            if rc != 0 {
                let e = std::io::Error::last_os_error();
                return match e.raw_os_error() {
                    Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) => Ok(false),
                    _ => Err(err(e)),
                };
            }
            let mut first = 0; // the first piece not yet copied in full
            for start in (0..len).step_by(window as usize) {
                let end = (start + window).min(len);
                // SAFETY: the temporary file is this process's own (named with its pid by
                // `create`) and is not truncated while mapped; its blocks are allocated, so
                // writing through the map cannot fault for want of space.
                let mut map = unsafe {
                    memmap2::MmapOptions::new()
                        .offset(start)
                        .len((end - start) as usize)
                        .map_mut(file)
                }
                .map_err(err)?;
                // Each piece's part inside the window, paired with its place in the map.
                let mut targets: Vec<(&mut [u8], &[u8])> = Vec::new();
                let mut rest: &mut [u8] = &mut map[..];
                let mut at = start;
                for &(offset, bytes) in &pieces[first..] {
                    let (s, e) = (offset.max(start), (offset + bytes.len() as u64).min(end));
                    if offset >= end {
                        break;
                    }
                    if e == offset + bytes.len() as u64 {
                        first += 1;
                    }
                    if s >= e {
                        continue;
                    }
                    let (_, r) = std::mem::take(&mut rest).split_at_mut((s - at) as usize);
                    let (dst, r) = r.split_at_mut((e - s) as usize);
                    targets.push((dst, &bytes[(s - offset) as usize..(e - offset) as usize]));
                    rest = r;
                    at = e;
                }
                targets.into_par_iter().for_each(|(dst, src)| {
                    populate_for_write(dst);
                    dst.copy_from_slice(src)
                });
            }
            Ok(true)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (len, pieces, window, err);
            Ok(false)
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
        for window in [page, 2 * page, 64 * page] {
            let mut f = AtomicFile::create(&target).unwrap();
            match f.write_mapped_in(len, &pieces, window) {
                Ok(true) => {
                    f.commit_unsynced().unwrap();
                    assert_eq!(std::fs::read(&target).unwrap(), expected, "window {window}");
                }
                // A file system that cannot allocate ahead: nothing written, nothing to check.
                Ok(false) => {}
                Err(e) => panic!("{e}"),
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
