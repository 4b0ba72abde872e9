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
    #[error("backend {backend}: {source}")]
    Backend {
        /// `group/role address` of the backend.
        backend: String,
        /// What happened (its own source kept: the I/O or protocol error underneath).
        source: BackendFailure,
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
            Self::Backend { backend, source } => ErrPacket::new(
                (2013, "HY000"),
                format!("sluice lost or could not reach backend {backend}: {source}"),
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

    /// A failure of the backend labelled `backend` (`group/role address`).
    pub fn backend(backend: impl Into<String>, failure: impl Into<BackendFailure>) -> Self {
        Self::Backend { backend: backend.into(), source: failure.into() }
    }

    /// A reply error from a `(code, sqlstate)` pair.
    pub fn reply(code: (u16, &str), message: impl Into<String>) -> Self {
        Self::Reply(ErrPacket::new(code, message))
    }
}

/// Why a backend failed: the transport or protocol error underneath as the source, or what sluice
/// found wrong itself. Its text is the tail of the client's ERR 2013 ([`Error::to_err_packet`]).
#[derive(Debug, thiserror::Error)]
pub enum BackendFailure {
    /// The TCP connection could not be opened.
    #[error("cannot connect: {0}")]
    Connect(#[source] std::io::Error),
    /// The TLS handshake failed.
    #[error("TLS handshake failed: {0}")]
    TlsHandshake(#[source] std::io::Error),
    /// TLS could not be set up for the address.
    #[error("{0}")]
    Tls(#[from] crate::core::tls::TlsError),
    /// Writing to or reading from the connection failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The server's bytes break the protocol (or the transport failed under the codec).
    #[error("{0}")]
    Protocol(#[from] ProtocolError),
    /// A column definition or a row the server sent cannot be decoded.
    #[error("{0}")]
    Decode(#[from] sluice_protocol::column::DecodeError),
    /// The server's RSA public key is unusable (caching_sha2 full authentication without TLS).
    #[error("the server's RSA public key: {0}")]
    PublicKey(#[from] sluice_protocol::auth::KeyError),
    /// The server closed the connection.
    #[error("connection closed")]
    Closed,
    /// The server closed the connection before authentication finished.
    #[error("connection closed during the handshake")]
    ClosedInHandshake,
    /// The server answered something sluice cannot go on from.
    #[error("{0}")]
    Unexpected(&'static str),
    /// No answer within a limit (the text names it and the setting).
    #[error("{0}")]
    Timeout(String),
    /// Every connection the pool may open is lent out (the text names the limit).
    #[error("{0}")]
    Busy(String),
    /// A reload removed the member; its pools are closed.
    #[error("removed from the config by a reload; its pool is closed")]
    Removed,
}

/// Result alias for the proxy.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn a_backend_failure_keeps_its_source_and_maps_to_one_err() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = Error::backend("main/primary h:1", BackendFailure::Connect(io));
        // The chain reaches the I/O error: a caller can ask what kind of failure it was.
        let failure = e.source().and_then(|s| s.downcast_ref::<BackendFailure>());
        assert!(matches!(failure, Some(BackendFailure::Connect(_))), "{failure:?}");
        let io = failure.and_then(|f| f.source()).and_then(|s| s.downcast_ref::<std::io::Error>());
        assert_eq!(io.map(std::io::Error::kind), Some(std::io::ErrorKind::ConnectionRefused));
        let p = e.to_err_packet();
        assert_eq!((p.code, &p.sql_state), (2013, b"HY000"));
        assert_eq!(
            &p.message[..],
            b"sluice lost or could not reach backend main/primary h:1: cannot connect: refused"
        );
        assert!(e.is_fatal_for_session() && !e.is_silent());

        let e = Error::backend("main/replica h:2", ProtocolError::OutOfOrder { got: 3, expected: 2 });
        let failure = e.source().and_then(|s| s.downcast_ref::<BackendFailure>());
        assert!(matches!(failure, Some(BackendFailure::Protocol(ProtocolError::OutOfOrder { .. }))));
        assert_eq!(
            &e.to_err_packet().message[..],
            b"sluice lost or could not reach backend main/replica h:2: packet out of order: sequence id 3, expected 2"
        );
    }
}
