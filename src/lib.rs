//! metroreach: delineate metropolitan areas as 1-hour commute circles from OpenStreetMap roads.
//!
//! The pipeline, one module per stage, data flowing one way:
//!
//! ```text
//! osm (PBF → ways, places, boundaries) → graph (CSR road graph, file format)
//!   → isochrone (snapping, bounded search, polygons) → analysis (overlay, reach, delineation)
//!   → output (GeoJSON, CSV, reports)
//! ```

pub mod alloc;
pub mod analysis;
pub mod fsio;
pub mod geom;
pub mod graph;
pub mod input;
pub mod isochrone;
pub mod osm;
pub mod output;
pub mod parallel;
pub mod progress;

#[cfg(test)]
mod testing;
