//! The proxy's error type: every failure knows its side (client, backend, internal) and maps to exactly
//! one MySQL ERR packet, so the session loop has one place that turns errors into what the client sees.

use sluice_protocol::ProtocolError;
use sluice_protocol::constants::errors;
use sluice_protocol::packets::ErrPacket;

/// Something went wrong while serving a client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client sent bytes that break the protocol. Fatal for the session.
    #[error("client protocol error: {0}")]
    Client(#[source] ProtocolError),
    /// The client went away.
    #[error("client disconnected")]
    ClientGone,
    /// A backend could not be reached or broke mid-statement. Fatal for the backend connection.
    #[error("backend {backend}: {message}")]
    Backend {
        /// `group/role address` of the backend.
        backend: String,
        /// What happened, for the client and the log.
        message: String,
    },
    /// A backend refused us with an ERR packet during connect/auth/setup.
    #[error("backend {backend} refused: {err}")]
    BackendRefused {
        /// `group/role address` of the backend.
        backend: String,
        /// Its ERR packet, passed to the client verbatim.
        err: ErrPacket,
    },
    /// An error sluice reports to the client itself (bad password, unknown command…).
    #[error("{0}")]
    Reply(ErrPacket),
    /// The session cannot go on and nothing more can be said to the client (part of a response was
    /// already sent when the backend failed). Closes the session without an ERR.
    #[error("session aborted: {0}")]
    Abort(String),
}

impl Error {
    /// The ERR packet the client gets for this error.
    pub fn to_err_packet(&self) -> ErrPacket {
        match self {
            Self::Client(ProtocolError::TooLarge { size, limit }) => ErrPacket::new(
                errors::PACKET_TOO_LARGE,
                format!(
                    "Got a packet bigger than 'max_allowed_packet' bytes ({size} > {limit}); raise [server] max_packet_bytes in sluice's config"
                ),
            ),
            Self::Client(ProtocolError::OutOfOrder { got, expected }) => ErrPacket::new(
                errors::PACKETS_OUT_OF_ORDER,
                format!(
                    "Got packets out of order (sequence id {got}, expected {expected}); the connection is closed"
                ),
            ),
            Self::Client(e) => ErrPacket::new(
                errors::NET_READ,
                format!("Bad packet from client: {e}; the connection is closed"),
            ),
            Self::ClientGone => ErrPacket::new(errors::NET_READ, "client disconnected"),
            Self::Abort(why) => ErrPacket::new(errors::NET_READ, why.clone()),
            Self::Backend { backend, message } => ErrPacket::new(
                (2013, "HY000"),
                format!("sluice lost or could not reach backend {backend}: {message}"),
            ),
            Self::BackendRefused { err, .. } => err.clone(),
            Self::Reply(e) => e.clone(),
        }
    }

    /// Whether the session must close after reporting this error.
    /// A backend failure is fatal too: the session's backend state (transaction, variables, prepared
    /// statements) is gone, and carrying on would hide that from the application.
    pub fn is_fatal_for_session(&self) -> bool {
        matches!(self, Self::Client(_) | Self::ClientGone | Self::Abort(_) | Self::Backend { .. })
    }

    /// Whether the client must not be sent an ERR for this error (it is gone, or mid-response).
    pub fn is_silent(&self) -> bool {
        matches!(self, Self::ClientGone | Self::Abort(_))
    }

    /// A reply error from a `(code, sqlstate)` pair.
    pub fn reply(code: (u16, &str), message: impl Into<String>) -> Self {
        Self::Reply(ErrPacket::new(code, message))
    }
}

/// Result alias for the proxy.
pub type Result<T, E = Error> = std::result::Result<T, E>;
