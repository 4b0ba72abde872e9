//! Row and parameter codecs: binary-protocol rows and values, text-protocol rows, COM_STMT_EXECUTE.
//!
//! sluice relays rows as bytes; these decoders are for the few places that must look inside (merging
//! shards, logging and replaying statements with their parameters). Every decoder takes untrusted bytes
//! and returns a [`DecodeError`] instead of panicking.

mod cell;
mod execute;
mod row;
mod value;

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap; the lint guards library code
mod tests;

pub use crate::column::DecodeError;
pub use execute::{COM_STMT_EXECUTE, ParamType, StmtExecute, encode_stmt_execute, parse_stmt_execute};
pub use row::{BINARY_ROW_HEADER, decode_binary_row, decode_text_row, encode_binary_row, encode_text_row};
pub use value::Value;

use crate::constants::ColumnType;

/// Values that cannot be written as the columns or parameter types they are given for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The number of values differs from the number of columns, types or long-data flags.
    #[error("{what}: expected {expected}, got {got}")]
    CountMismatch {
        /// What was counted.
        what: &'static str,
        /// The number of values.
        expected: usize,
        /// The number given.
        got: usize,
    },
    /// A value of the wrong kind for its type, or an integer outside the type's range.
    #[error("value #{index} ({value}) does not fit {column_type:?} (unsigned: {unsigned})")]
    ValueMismatch {
        /// Position of the value in the row or parameter list.
        index: usize,
        /// The value's variant ([`Value::kind`]).
        value: &'static str,
        /// The type it was to be written as.
        column_type: ColumnType,
        /// Whether that type is unsigned.
        unsigned: bool,
    },
}
