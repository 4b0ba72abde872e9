//! What stops a replay before it runs (or its report from being written), each with the text the
//! command line prints: the flag or file at fault and what to do.

use std::path::PathBuf;

/// Why a replay cannot run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag's value is refused.
    #[error("--{flag} {value:?} {why}")]
    Flag {
        /// The flag, without its dashes.
        flag: &'static str,
        /// The value given.
        value: String,
        /// What is wrong and what it takes.
        why: &'static str,
    },
    /// `--format` names no format.
    #[error("unknown format {0:?}: capture, general or slow")]
    UnknownFormat(String),
    /// The workload file cannot be read.
    #[error("{path}: {source}", path = path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The workload file is not what `--format` says.
    #[error("{path}: {source}", path = path.display())]
    Workload {
        /// The file.
        path: PathBuf,
        /// What is wrong in it.
        #[source]
        source: WorkloadError,
    },
    /// The workload writes and no flag says what to do with writes.
    #[error(
        "refusing to replay: the workload has {writes} writes (the first: {first:?}) that would change data on {target}; \
         pass --allow-writes to replay them (against a copy of the data), --read-only to skip them, or --dry-run to only analyze"
    )]
    Writes {
        /// How many.
        writes: usize,
        /// The first one's text (80 characters at most).
        first: String,
        /// `host:port`.
        target: String,
    },
    /// The tokio runtime cannot start.
    #[error("starting the runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The HTML report cannot be written.
    #[error("{path}: {source}", path = path.display())]
    Report {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The JSON summary cannot be encoded.
    #[error("encoding the summary: {0}")]
    Json(#[from] serde_json::Error),
    /// Standard output is gone.
    #[error("writing to stdout: {0}")]
    Stdout(#[source] std::io::Error),
}

impl Error {
    /// `--flag value` refused: `why` says what is wrong and what the flag takes.
    pub fn flag(flag: &'static str, value: impl std::fmt::Display, why: &'static str) -> Self {
        Self::Flag { flag, value: value.to_string(), why }
    }
}

/// What is wrong in a workload file.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// The capture file's bytes are not a capture.
    #[error(transparent)]
    Capture(#[from] sluice_protocol::capture::FormatError),
    /// A capture without its header record.
    #[error("the capture has no header record")]
    NoHeader,
    /// A log without a statement.
    #[error("no statements found: is this a MariaDB {0} log?")]
    NoStatements(&'static str),
}
