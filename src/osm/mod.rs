//! Reading OpenStreetMap extracts: PBF access, tag rules (profiles), boundary assembly, and the
//! import that turns an extract into a [`crate::graph::RoadGraph`].

pub mod block;
pub mod boundary;
pub mod cache;
pub mod ids;
pub mod pbf;
pub mod profile;
pub mod read;
pub mod tags;

pub use profile::Profile;
pub use read::{import_pbf, ImportError, ImportOptions};
