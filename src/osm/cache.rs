//! Using a PBF directly: import once, cache the graph beside the extract (or in the user cache
//! directory when that is read-only), reuse it while the extract and the import options are
//! unchanged. A cache file that is damaged or half-written fails its checksum and is rebuilt.

use super::read::{import_pbf, source_crc32, ImportError, ImportOptions};
use crate::fsio::WriteError;
use crate::graph::{store, RoadGraph};
use crate::progress::Progress;
use std::path::{Path, PathBuf};

/// Errors of [`load_or_import`].
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Whether a path names an OSM extract rather than a graph file.
pub fn is_pbf(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    name.ends_with(".pbf")
}

fn key_of(opts: &ImportOptions) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(opts.profile.to_toml().as_bytes());
    h.update(&opts.min_component_nodes.to_le_bytes());
    h.update(&opts.border_margin_m.to_le_bytes());
    h.update(&store::FORMAT_VERSION.to_le_bytes());
    h.finalize()
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Candidate cache paths: `$METROREACH_CACHE` alone when set; else beside the extract, then the
/// user cache directory (`$XDG_CACHE_HOME/metroreach` or `~/.cache/metroreach`).
pub fn cache_paths(pbf: &Path, opts: &ImportOptions) -> Vec<PathBuf> {
    let stem = pbf
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .trim_end_matches(".pbf")
                .trim_end_matches(".osm")
                .to_string()
        })
        .unwrap_or_else(|| "extract".into());
    let name = format!(
        "{stem}.{}-{:08x}.graph",
        sanitize(&opts.profile.name),
        key_of(opts)
    );
    if let Some(dir) = std::env::var_os("METROREACH_CACHE") {
        return vec![PathBuf::from(dir).join(name)];
    }
    let mut v = vec![pbf.with_file_name(&name)];
    let user = std::env::var_os("XDG_CACHE_HOME")
        .map(|d| PathBuf::from(d).join("metroreach"))
        .or_else(|| std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/metroreach")));
    if let Some(dir) = user {
        v.push(dir.join(name));
    }
    v
}

/// Loads a graph file, or imports a PBF using a cached graph when it is still valid.
/// Returns the graph and the path of the graph file used (if any).
pub fn load_or_import(
    input: &Path,
    opts: &ImportOptions,
    progress: &Progress,
) -> Result<(RoadGraph, Option<PathBuf>), LoadError> {
    if !is_pbf(input) {
        return Ok((store::load(input)?, Some(input.to_path_buf())));
    }
    let meta = std::fs::metadata(input).map_err(|source| LoadError::Io {
        path: input.display().to_string(),
        source,
    })?;
    let paths = cache_paths(input, opts);
    let mut crc: Option<u32> = None;
    for p in &paths {
        if !p.is_file() {
            continue;
        }
        match store::load(p) {
            Ok(g) => {
                let c = match crc {
                    Some(c) => c,
                    None => {
                        let c = source_crc32(input).map_err(|source| LoadError::Io {
                            path: input.display().to_string(),
                            source,
                        })?;
                        crc = Some(c);
                        c
                    }
                };
                let s = &g.meta.source;
                if s.size_bytes == meta.len()
                    && s.crc32 == c
                    && g.meta.profile_toml == opts.profile.to_toml()
                {
                    progress.note(&format!("using cached graph {}", p.display()));
                    return Ok((g, Some(p.clone())));
                }
            }
            Err(e) => progress.note(&format!(
                "cached graph {} is unusable ({e}); rebuilding it",
                p.display()
            )),
        }
    }
    let g = import_pbf(input, opts, progress)?;
    for p in &paths {
        if let Some(dir) = p.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        match store::save(&g, p) {
            Ok(()) => {
                progress.note(&format!("cached the graph as {}", p.display()));
                return Ok((g, Some(p.clone())));
            }
            Err(store::StoreError::Write(WriteError { .. })) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    progress.note(
        "could not cache the graph (no writable cache directory); it will be rebuilt next time",
    );
    Ok((g, None))
}
