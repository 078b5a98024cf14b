//! Helpers shared by the fuzz targets.

use std::path::PathBuf;
use std::sync::OnceLock;

/// One worker thread for the whole fuzzing process (rayon's global pool): runs are then
/// reproducible and the fuzzer's own parallelism (`-fork`/`-jobs`) is not oversubscribed.
pub fn init() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build_global();
    });
}

/// A scratch file for targets whose API takes a path: `/dev/shm` when there is one (no disk
/// I/O per run), one file per process and `name`.
pub fn scratch_file(name: &str) -> PathBuf {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("metroreach-fuzz-{}-{name}", std::process::id()))
}
