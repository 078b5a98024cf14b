//! The HTML report: one self-contained `index.html` (Leaflet inlined, data inlined), usable
//! offline. To be implemented.

use super::layers::MapLayers;
use crate::fsio::WriteError;
use std::path::Path;

/// Writes `dir/index.html` (creating `dir`).
pub fn write_report(dir: &Path, layers: &MapLayers) -> Result<std::path::PathBuf, WriteError> {
    let _ = layers;
    Err(WriteError { path: dir.to_path_buf(), source: std::io::Error::other("not implemented yet") })
}
