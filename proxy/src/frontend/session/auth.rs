//! The client-facing connection phase: greeting, optional TLS switch, handshake response, and sluice's
//! own authentication against `[[users]]` (mysql_native_password, caching_sha2_password fast path, full
//! auth over TLS, auth switch when the client's plugin does not fit the stored hash).

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use sluice_protocol::auth::{
    CACHING_SHA2_PASSWORD, MYSQL_NATIVE_PASSWORD, SHA2_FAST_AUTH_SUCCESS, SHA2_PERFORM_FULL_AUTH,
    SHA2_REQUEST_PUBLIC_KEY, verify_cleartext, verify_native, verify_sha2,
};
use sluice_protocol::constants::{caps, errors, status};
use sluice_protocol::handshake::{
    AuthSwitchRequest, HandshakeResponse, HandshakeV10, NONCE_LEN, encode_auth_more_data, is_ssl_request,
};
use sluice_protocol::{Packet, ProtocolError};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::core::config::AuthPlugin;
use crate::core::error::{Error, Result};
use crate::core::net::{MaybeTls, PacketStream, Prefixed};
use crate::frontend::state::Shared;
use crate::frontend::users::User;

/// Capabilities sluice offers clients (plus SSL when TLS is configured): a server's, so drivers that
/// keep only the offered flags (the Node mariadb connector) ask for the same. IGNORE_SPACE is honoured
/// as a server does (see [`Login`]); sluice's own parsing does not depend on it. Not offered: COMPRESS,
/// QUERY_ATTRIBUTES and OPTIONAL_RESULTSET_METADATA (change layouts).
///
/// QUERY_ATTRIBUTES (MySQL 8.0.23+) puts an attribute block before the text of every COM_QUERY and
/// changes COM_STMT_EXECUTE; serving it would mean forwarding the attributes on backend connections
/// that negotiated it too, which MariaDB backends cannot and a shared pool would have to split on.
/// Not offering it is exact: drivers then send plain COM_QUERY and, only when the application set
/// attributes, say that the server does not support them (mysql-connector-python warns). libmysqlclient
/// sets the flag in its response even when it is not offered but follows the negotiated set, so the
/// client's flag alone is no reason to refuse it; a client that sends the block anyway has its text
/// refused by the server (ERR 1064), and the lexer takes no keyword from behind a control byte.
pub const SERVER_CAPS: u32 = caps::LONG_PASSWORD
    | caps::FOUND_ROWS
    | caps::LONG_FLAG
    | caps::CONNECT_WITH_DB
    | caps::LOCAL_FILES
    | caps::PROTOCOL_41
    | caps::IGNORE_SPACE
    | caps::INTERACTIVE
    | caps::IGNORE_SIGPIPE
    | caps::TRANSACTIONS
    | caps::RESERVED
    | caps::SECURE_CONNECTION
    | caps::MULTI_STATEMENTS
    | caps::MULTI_RESULTS
    | caps::PS_MULTI_RESULTS
    | caps::PLUGIN_AUTH
    | caps::CONNECT_ATTRS
    | caps::PLUGIN_AUTH_LENENC_CLIENT_DATA
    | caps::SESSION_TRACK
    | caps::DEPRECATE_EOF;

/// Largest packet a client may send before it has logged in: the handshake response, the SSLRequest
/// and the answers to an auth switch or full-auth request. Real ones are a few hundred bytes (MySQL's
/// own servers refuse a handshake response past a few KiB); `[server] max_packet_bytes` (64 MiB by
/// default) applies only once the client is authenticated, so an anonymous peer cannot make sluice
/// hold megabytes per connection.
pub const PREAUTH_MAX_PACKET: usize = 64 * 1024;

/// A client stream at any stage.
pub type ClientStream<S> = PacketStream<MaybeTls<S>>;

/// What the connection phase established.
pub struct Login {
    /// Negotiated capabilities (client's ∩ sluice's).
    pub caps: u32,
    /// The account.
    pub user: std::sync::Arc<User>,
    /// Collation id the client asked for.
    pub charset: u8,
    /// The client set CLIENT_IGNORE_SPACE: a server then starts the session with IGNORE_SPACE added
    /// to its sql_mode.
    pub ignore_space: bool,
    /// Schema named in the handshake, if any.
    pub database: Option<String>,
    /// The nonce of the greeting (COM_CHANGE_USER scrambles use it).
    pub nonce: Bytes,
    /// Next sequence id toward the client.
    pub seq: u8,
}

/// A fresh nonce: printable ASCII without NUL, as MySQL servers generate.
pub fn new_nonce() -> Bytes {
    use rand::Rng;
    let mut rng = rand::rng();
    Bytes::from((0..NONCE_LEN).map(|_| rng.random_range(0x21u8..0x7f)).collect::<Vec<u8>>())
}

/// Sends the greeting, switches to TLS if asked, reads the handshake response and authenticates.
/// Returns the stream (maybe now TLS) with the login or the error to send; `None` when the client is
/// gone or broke the TLS handshake (nothing can be sent then).
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: &Shared,
    users: &crate::frontend::users::Users,
    stream: S,
    peer: SocketAddr,
    conn_id: u32,
) -> Option<(ClientStream<S>, Result<Login>)> {
    let max = shared.max_packet();
    let mut client = PacketStream::preauth(MaybeTls::Plain(stream), PREAUTH_MAX_PACKET);
    let nonce = new_nonce();
    let offered = SERVER_CAPS | if shared.client_tls.is_some() { caps::SSL } else { 0 };
    let default_plugin = match shared.config().server.default_auth_plugin {
        AuthPlugin::MysqlNativePassword => MYSQL_NATIVE_PASSWORD,
        AuthPlugin::CachingSha2Password => CACHING_SHA2_PASSWORD,
    };
    let greeting = HandshakeV10 {
        server_version: shared.server_version.clone(),
        connection_id: conn_id,
        nonce: nonce.clone(),
        capabilities: offered,
        charset: shared.server_charset,
        status: status::AUTOCOMMIT,
        auth_plugin: Bytes::from_static(default_plugin.as_bytes()),
    };
    let mut out = BytesMut::with_capacity(128);
    greeting.encode(&mut out);
    client.write(0, &out);
    client.flush().await.ok()?;

    let p = match read_client(&mut client).await {
        Ok(p) => p,
        Err(e) => return Some((client, Err(e))),
    };
    let (mut client, p) = if is_ssl_request(&p.payload) {
        let Some(acceptor) = shared.client_tls.clone() else {
            let e =
                Error::reply(errors::HANDSHAKE, "TLS is not configured on this sluice; connect without SSL");
            return Some((client, Err(e)));
        };
        let (io, rest) = client.into_parts();
        let MaybeTls::Plain(raw) = io else { return None };
        let tls = match acceptor.accept(Prefixed::new(rest, raw)).await {
            Ok(t) => t,
            Err(e) => {
                tracing::info!(%peer, error = %e, "TLS handshake with client failed");
                return None;
            }
        };
        let mut c = PacketStream::preauth(MaybeTls::Server(Box::new(tls)), PREAUTH_MAX_PACKET);
        let r = read_client(&mut c).await.and_then(|q| {
            if q.seq == p.next_seq {
                Ok(q)
            } else {
                Err(Error::Client(ProtocolError::OutOfOrder { got: q.seq, expected: p.next_seq }))
            }
        });
        match r {
            Ok(q) => (c, q),
            Err(e) => return Some((c, Err(e))),
        }
    } else {
        (client, p)
    };
    let r = login(users, &mut client, p, nonce, offered, default_plugin, peer).await;
    if r.is_ok() {
        client.logged_in(max);
    }
    Some((client, r))
}

async fn login<S: AsyncRead + AsyncWrite + Unpin + Send>(
    users: &crate::frontend::users::Users,
    client: &mut ClientStream<S>,
    p: Packet,
    nonce: Bytes,
    offered: u32,
    default_plugin: &'static str,
    peer: SocketAddr,
) -> Result<Login> {
    let resp = HandshakeResponse::parse(&p.payload)
        .map_err(|e| Error::reply(errors::HANDSHAKE, format!("Bad handshake: {e}")))?;
    let caps = resp.capabilities & offered;
    let tls = client.get_ref().is_tls();
    let user = users.get(&resp.user);
    let client_plugin = resp.auth_plugin.as_deref().unwrap_or(default_plugin.as_bytes());
    let creds = Attempt {
        user: user.as_deref(),
        plugin: client_plugin,
        data: resp.auth_response.clone(),
        nonce: nonce.clone(),
    };
    let (ok, _plugin, seq) = authenticate(client, creds, p.next_seq, tls).await?;
    let name = String::from_utf8_lossy(&resp.user).into_owned();
    let user = match (ok, user) {
        (true, Some(u)) => u,
        _ => return Err(access_denied(&name, peer, !resp.auth_response.is_empty())),
    };
    if user.require_tls && !tls {
        // Refused after all: the queued fast-auth success byte must not reach the client.
        client.discard_pending();
        return Err(Error::reply(
            errors::ACCESS_DENIED,
            format!(
                "Access denied for user '{name}'@'{}': this account requires TLS; connect with SSL/TLS (e.g. --ssl)",
                peer.ip()
            ),
        ));
    }
    let database = resp.database.as_ref().map(|d| String::from_utf8_lossy(d).into_owned());
    let ignore_space = resp.capabilities & caps::IGNORE_SPACE != 0;
    Ok(Login { caps, user, charset: resp.charset, ignore_space, database, nonce, seq })
}

/// ERR 1045 as MySQL words it.
pub fn access_denied(name: &str, peer: SocketAddr, with_password: bool) -> Error {
    Error::reply(
        errors::ACCESS_DENIED,
        format!(
            "Access denied for user '{name}'@'{}' (using password: {})",
            peer.ip(),
            if with_password { "YES" } else { "NO" }
        ),
    )
}

/// One authentication attempt: who, with which plugin, which response to which nonce.
pub struct Attempt<'a> {
    /// The account, if the name exists.
    pub user: Option<&'a User>,
    /// The plugin the response was made with.
    pub plugin: &'a [u8],
    /// The client's auth response.
    pub data: Bytes,
    /// The nonce it answers.
    pub nonce: Bytes,
}

/// Verifies `attempt`, switching plugins or asking for the password over TLS where the stored hash
/// needs it. Returns (verified, plugin used, next sequence id). Unknown users fail like wrong passwords.
pub async fn authenticate<S: AsyncRead + AsyncWrite + Unpin + Send>(
    client: &mut ClientStream<S>,
    attempt: Attempt<'_>,
    mut seq: u8,
    tls: bool,
) -> Result<(bool, &'static str, u8)> {
    let Attempt { user, plugin, mut data, mut nonce } = attempt;
    let native = user.and_then(|u| u.native.as_ref());
    let sha2 = user.and_then(|u| u.sha2.as_ref());
    let mut plugin: &'static str = if plugin == CACHING_SHA2_PASSWORD.as_bytes() {
        CACHING_SHA2_PASSWORD
    } else if plugin == MYSQL_NATIVE_PASSWORD.as_bytes() {
        MYSQL_NATIVE_PASSWORD
    } else {
        ""
    };
    for _ in 0..3 {
        // Which plugin can check this account's stored hash on this connection?
        let target = match plugin {
            MYSQL_NATIVE_PASSWORD if native.is_some() || sha2.is_none() => MYSQL_NATIVE_PASSWORD,
            CACHING_SHA2_PASSWORD if sha2.is_some() || native.is_none() || tls => CACHING_SHA2_PASSWORD,
            _ if sha2.is_some() => CACHING_SHA2_PASSWORD,
            _ => MYSQL_NATIVE_PASSWORD,
        };
        if target != plugin {
            nonce = new_nonce();
            let mut out = BytesMut::new();
            AuthSwitchRequest { plugin: Bytes::from_static(target.as_bytes()), data: nonce.clone() }
                .encode(&mut out);
            client.write(seq, &out);
            client.flush().await.map_err(|_| Error::ClientGone)?;
            let p = read_client(client).await?;
            seq = p.next_seq;
            data = p.payload;
            plugin = target;
            continue;
        }
        if plugin == MYSQL_NATIVE_PASSWORD {
            return Ok((verify_native(&nonce, &data, native), plugin, seq));
        }
        if sha2.is_some() || native.is_none() {
            let ok = verify_sha2(&nonce, &data, sha2);
            if ok && !data.is_empty() {
                let mut out = BytesMut::new();
                encode_auth_more_data(&[SHA2_FAST_AUTH_SUCCESS], &mut out);
                seq = client.write(seq, &out);
            }
            return Ok((ok, plugin, seq));
        }
        // Only a native hash, over TLS: caching_sha2 full authentication sends the password itself.
        let mut out = BytesMut::new();
        encode_auth_more_data(&[SHA2_PERFORM_FULL_AUTH], &mut out);
        client.write(seq, &out);
        client.flush().await.map_err(|_| Error::ClientGone)?;
        let p = read_client(client).await?;
        seq = p.next_seq;
        if p.payload[..] == [SHA2_REQUEST_PUBLIC_KEY] {
            return Err(Error::reply(
                errors::NOT_SUPPORTED_AUTH_MODE,
                "sluice does not do RSA key exchange for caching_sha2_password; connect with TLS (e.g. --ssl / ssl-mode=REQUIRED)",
            ));
        }
        let pw = p.payload.strip_suffix(&[0]).unwrap_or(&p.payload);
        return Ok((verify_cleartext(pw, native, None), plugin, seq));
    }
    Ok((false, MYSQL_NATIVE_PASSWORD, seq))
}

/// Reads one client packet during the connection phase (at most [`PREAUTH_MAX_PACKET`] bytes).
async fn read_client<S: AsyncRead + AsyncWrite + Unpin>(client: &mut ClientStream<S>) -> Result<Packet> {
    match client.read().await {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(Error::ClientGone),
        // Not max_packet_bytes' message: raising that would not help before login.
        Err(ProtocolError::TooLarge { size, limit }) => Err(Error::reply(
            errors::PACKET_TOO_LARGE,
            format!(
                "Got a packet of {size} bytes before login; sluice accepts at most {limit} bytes until the client has authenticated (a handshake response is normally a few hundred bytes: send fewer or shorter connection attributes)"
            ),
        )),
        Err(e) => Err(Error::Client(e)),
    }
}
