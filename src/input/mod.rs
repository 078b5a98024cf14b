//! Reading user-supplied files (city lists, unit boundaries, population, plans) with errors that
//! name the file, the line and what is wrong.

pub mod cities;
pub mod table;

/// Errors in user input files.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{path} line {line}: {message}")]
    Line {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{0}")]
    Other(String),
}
