//! The static PNG map (tiny-skia). To be implemented.

use super::layers::MapLayers;
use std::path::Path;

/// Errors rendering a map.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error("cannot write {path}: {message}")]
    Write { path: String, message: String },
    #[error("{0}")]
    Font(String),
}

/// Renders `layers` to a PNG of `width` × `height` pixels.
pub fn render_png(path: &Path, layers: &MapLayers, width: u32, height: u32, font: Option<&Path>) -> Result<(), MapError> {
    let _ = (layers, width, height, font);
    Err(MapError::Write { path: path.display().to_string(), message: "not implemented yet".into() })
}
