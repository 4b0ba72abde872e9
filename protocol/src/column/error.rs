//! `DecodeError`: why bytes from the wire could not be read as a row, column or command.

/// Bytes that do not decode as the packet they claim to be. Decoders return this instead of panicking,
/// whatever the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The payload ended before a field did.
    #[error("truncated packet: {what} needs {needed} bytes, {available} left")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Bytes the field needs.
        needed: u64,
        /// Bytes left in the payload.
        available: usize,
    },
    /// A field holds a value its type does not allow (a bad length prefix, a bad date length …).
    #[error("invalid value for {what}: {value:#x}")]
    InvalidValue {
        /// The field or type.
        what: &'static str,
        /// The offending value.
        value: u64,
    },
    /// A column type byte that is not a MySQL column type.
    #[error("unknown column type {0:#04x}")]
    UnknownColumnType(u8),
    /// Bytes left over after the last field: the packet is not what we think it is.
    #[error("{count} unexpected bytes after the end of {what}")]
    TrailingBytes {
        /// The packet.
        what: &'static str,
        /// How many bytes were left.
        count: usize,
    },
    /// Two counts that must agree do not (types vs parameters, long-data flags vs parameters).
    #[error("{what}: expected {expected}, got {got}")]
    CountMismatch {
        /// What was counted.
        what: &'static str,
        /// The count required.
        expected: usize,
        /// The count given.
        got: usize,
    },
    /// A COM_STMT_EXECUTE did not bind parameter types and the caller knew of none bound before.
    #[error("COM_STMT_EXECUTE reuses parameter types, but none were bound before")]
    MissingParamTypes,
}
