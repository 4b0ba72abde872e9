//! The proxy's error type: every failure knows its side (client, backend, internal) and maps to exactly
//! one MySQL ERR packet, so the session loop has one place that turns errors into what the client sees.

use sluice_protocol::ProtocolError;
use sluice_protocol::constants::errors;
use sluice_protocol::packets::ErrPacket;
use sluice_router::shard::ShardError;

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
    /// A statement over a sharded table that sluice does not run as written.
    #[error("sharded statement refused: {0}")]
    Shard(#[from] sluice_router::shard::ShardError),
    /// A scattered SELECT whose shards' results do not merge.
    #[error("scattered SELECT not merged: {0}")]
    Merge(#[from] sluice_router::shard::MergeError),
    /// An error sluice reports to the client itself (bad password, unknown command…).
    #[error("{0}")]
    Reply(ErrPacket),
    /// The session cannot go on and nothing more can be said to the client (part of a response was
    /// already sent when the backend failed). Closes the session without an ERR.
    #[error("session aborted: {0}")]
    Abort(#[from] Abort),
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
            Self::Abort(why) => ErrPacket::new(errors::NET_READ, why.to_string()),
            Self::Backend { backend, source } => ErrPacket::new(
                (2013, "HY000"),
                format!("sluice lost or could not reach backend {backend}: {source}"),
            ),
            Self::BackendRefused { err, .. } => err.clone(),
            Self::Shard(ShardError::NotRouted(why)) => {
                ErrPacket::new(errors::NOT_SUPPORTED_YET, why.to_string())
            }
            // The closest MySQL has to "no shard holds this key".
            Self::Shard(ShardError::NoShard(why)) => {
                ErrPacket::new(errors::NO_PARTITION_FOR_GIVEN_VALUE, why.to_string())
            }
            Self::Merge(why) => ErrPacket::new(errors::NOT_SUPPORTED_YET, why.to_string()),
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

/// Why a session cannot go on ([`Error::Abort`]). Its text is the message of the ERR sent where one
/// still is (a failed session setup or COM_CHANGE_USER, one part of a sharded statement).
#[derive(Debug, thiserror::Error)]
pub enum Abort {
    /// A phase that works on the session's backend connection found none held.
    #[error("no backend")]
    NoBackend,
    /// A diagnostics read found no parked connection.
    #[error("no parked connection")]
    NoParked,
    /// Routing chose the session's own connection, and it holds none.
    #[error("routed to a connection the session does not hold")]
    NotHeld,
    /// A member id (group, slot) that names no member.
    #[error("no member {group}/{index}")]
    NoMember {
        /// The group's position in the config.
        group: usize,
        /// The slot in the group.
        index: usize,
    },
    /// The backend failed after part of its response had reached the client.
    #[error("backend {backend} failed mid-response: {source}")]
    MidResponse {
        /// `group/role address` of the backend.
        backend: String,
        /// What happened.
        source: BackendFailure,
    },
    /// The response being relayed breaks the protocol.
    #[error("{0}")]
    Response(#[source] ProtocolError),
    /// A backend packet could not be rewritten for the client's capabilities.
    #[error("could not translate a backend packet: {0}")]
    Translate(#[source] ProtocolError),
    /// A row one shard sent cannot be decoded.
    #[error("shard {shard}: {source}")]
    ShardRow {
        /// The shard.
        shard: usize,
        /// The decoding error.
        source: sluice_protocol::column::DecodeError,
    },
    /// The task running one shard's part panicked or was cancelled.
    #[error("shard {shard}: {source}")]
    ShardTask {
        /// The shard.
        shard: usize,
        /// The task's failure.
        source: tokio::task::JoinError,
    },
    /// A column definition a shard sent cannot be decoded.
    #[error("column definition: {0}")]
    ColumnDefinition(#[source] sluice_protocol::column::DecodeError),
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

    #[test]
    fn the_routers_shard_errors_become_1235_or_1526_with_its_text() {
        use sluice_router::shard::{MergeError, NoShard, NotRouted};
        let e = Error::from(ShardError::from(NotRouted("DISTINCT over all shards is not merged".into())));
        let p = e.to_err_packet();
        assert_eq!((p.code, &p.sql_state), (1235, b"42000"));
        assert_eq!(&p.message[..], b"DISTINCT over all shards is not merged");
        let no_shard = NoShard::OutOfRange { table: "events".into(), key: "id".into(), value: "250".into() };
        let e = Error::from(ShardError::from(no_shard));
        let p = e.to_err_packet();
        assert_eq!((p.code, &p.sql_state), (1526, b"HY000"));
        assert_eq!(
            &p.message[..],
            b"no shard of events holds id=250: it is outside every [sharding.tables] range"
        );
        // The source stays reachable, and the log line says what kind of refusal it was.
        let source = e.source().and_then(|s| s.downcast_ref::<ShardError>());
        assert!(matches!(source, Some(ShardError::NoShard(NoShard::OutOfRange { .. }))), "{source:?}");
        assert!(e.to_string().starts_with("sharded statement refused: no shard of events"), "{e}");
        let p = Error::from(MergeError::SumOverflow).to_err_packet();
        assert_eq!((p.code, &p.message[..]), (1235, &b"the sum over all shards overflows"[..]));
        assert!(!Error::from(MergeError::SumOverflow).is_fatal_for_session());
    }

    #[test]
    fn an_abort_reads_as_the_text_it_had_when_it_was_a_string() {
        use sluice_protocol::column::DecodeError;
        let decode = || DecodeError::InvalidValue { what: "NULL bitmap size", value: 9 };
        let protocol = || ProtocolError::Unexpected("empty response packet");
        let cases = [
            (Abort::NoBackend, "no backend".to_owned()),
            (Abort::NoParked, "no parked connection".to_owned()),
            (Abort::NotHeld, "routed to a connection the session does not hold".to_owned()),
            (Abort::NoMember { group: 1, index: 2 }, "no member 1/2".to_owned()),
            (
                Abort::MidResponse { backend: "main/primary h:1".into(), source: BackendFailure::Closed },
                "backend main/primary h:1 failed mid-response: connection closed".to_owned(),
            ),
            (Abort::Response(protocol()), protocol().to_string()),
            (Abort::Translate(protocol()), format!("could not translate a backend packet: {}", protocol())),
            (Abort::ShardRow { shard: 3, source: decode() }, format!("shard 3: {}", decode())),
            (Abort::ColumnDefinition(decode()), format!("column definition: {}", decode())),
        ];
        for (abort, text) in cases {
            let e = Error::from(abort);
            let p = e.to_err_packet();
            assert_eq!((p.code, &p.sql_state), (errors::NET_READ.0, b"08S01"), "{text}");
            assert_eq!(String::from_utf8_lossy(&p.message), text);
            assert_eq!(e.to_string(), format!("session aborted: {text}"));
            assert!(e.is_silent() && e.is_fatal_for_session());
        }
        let e = Error::from(Abort::MidResponse { backend: "b".into(), source: BackendFailure::Closed });
        let source = e.source().and_then(|s| s.source()).and_then(|s| s.downcast_ref::<BackendFailure>());
        assert!(matches!(source, Some(BackendFailure::Closed)), "{source:?}");
    }
}
