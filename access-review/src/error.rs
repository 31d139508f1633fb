//! What can go wrong reading syncs and writing the report. Every message names the file, and
//! for a bad record its line, so the fix is obvious without a debugger.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}, line {line}: {reason}", path.display())]
    BadLine {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    #[error(
        "{} holds no records: a sync has at least its resource types (the output of \
         `host-harness sync --out FILE`)",
        path.display()
    )]
    Empty { path: PathBuf },
    #[error(
        "{}, line {line}: the same {what} as line {first}; a sync lists each once",
        path.display()
    )]
    Duplicate {
        path: PathBuf,
        line: u64,
        first: u64,
        what: String,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Usage(String),
}

impl ReviewError {
    pub(crate) fn read(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Read {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn write(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Write {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn bad_line(path: &std::path::Path, line: u64, reason: impl Into<String>) -> Self {
        Self::BadLine {
            path: path.to_path_buf(),
            line,
            reason: reason.into(),
        }
    }
}
