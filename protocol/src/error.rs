//! The protocol crate's error: what can be wrong with bytes on the wire.

/// A packet or packet stream that does not follow the MySQL protocol.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// A logical packet (all its 16 MiB chunks joined) exceeds the configured limit.
    #[error("packet of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Bytes announced so far.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A packet is shorter than its fields or has an impossible value.
    #[error("malformed {what}: {why}")]
    Malformed {
        /// Which packet.
        what: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A packet arrived with a sequence id other than the next one.
    #[error("packet out of order: sequence id {got}, expected {expected}")]
    OutOfOrder {
        /// Sequence id received.
        got: u8,
        /// Sequence id expected.
        expected: u8,
    },
    /// The peer sent a packet that makes no sense in the current state.
    #[error("unexpected {0}")]
    Unexpected(&'static str),
    /// The transport failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl ProtocolError {
    /// Shorthand for [`ProtocolError::Malformed`].
    pub fn malformed(what: &'static str, why: &'static str) -> Self {
        Self::Malformed { what, why }
    }
}

/// Result alias for this crate.
pub type Result<T, E = ProtocolError> = std::result::Result<T, E>;
