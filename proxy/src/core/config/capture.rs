//! `[capture]`: traffic capture for `sluice replay` (also started and stopped from the admin interface).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What `[capture] mask` hides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mask {
    /// Statements as sent.
    #[default]
    None,
    /// String literals and string/bytes parameters become `x`s of the same length.
    Strings,
    /// Strings as above; numbers, hex and bit literals and numeric parameters become zeros.
    All,
}

/// `[capture]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaptureConfig {
    /// Capture from startup into `file`. Default false (admin `CAPTURE START 'file'` starts one).
    pub enabled: bool,
    /// The capture file when `enabled`; it must not exist yet, or be empty. Default none.
    pub file: PathBuf,
    /// `none`, `strings` (string literals and parameters become `x`s of the same length) or `all`
    /// (numbers become 0 too). Default `none`.
    pub mask: Mask,
    /// Statements queued for the writer at most; past it they are dropped and counted, never waited
    /// for. Default 65536.
    pub queue_records: usize,
    /// Uncompressed bytes per compressed block. Default 65536.
    pub block_bytes: usize,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            file: PathBuf::new(),
            mask: Mask::None,
            queue_records: 65_536,
            block_bytes: 65_536,
        }
    }
}

impl CaptureConfig {
    /// Issues as `(key, message)`.
    pub(super) fn issues(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.enabled && self.file.as_os_str().is_empty() {
            out.push(("capture.file", "is needed when capture is enabled".to_owned()));
        }
        if self.queue_records == 0 {
            out.push(("capture.queue_records", "must be at least 1".to_owned()));
        }
        if !(1024..=16 << 20).contains(&self.block_bytes) {
            out.push((
                "capture.block_bytes",
                format!("{} is not between 1024 and 16777216", self.block_bytes),
            ));
        }
        out
    }
}
