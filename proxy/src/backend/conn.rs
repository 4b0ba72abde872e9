//! One backend connection: sluice as a MySQL client. Connects, negotiates sluice's fixed backend
//! capability set, authenticates (mysql_native_password, caching_sha2_password, cleartext over TLS),
//! optionally over TLS, and resets itself for reuse with COM_CHANGE_USER.
//!
//! caching_sha2_password's full authentication (the server's cache lacks the account: after every
//! server restart, `FLUSH PRIVILEGES` or password change) sends the password itself: in clear over TLS,
//! otherwise encrypted with the server's RSA public key, from `[backend] server_public_key_file` or
//! requested from the server (`0x02`, answered with the PEM key).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use sluice_protocol::auth::{
    CACHING_SHA2_PASSWORD, MYSQL_CLEAR_PASSWORD, MYSQL_NATIVE_PASSWORD, SHA2_FAST_AUTH_SUCCESS,
    SHA2_PERFORM_FULL_AUTH, SHA2_REQUEST_PUBLIC_KEY, ServerPublicKey, native_scramble, sha2_scramble,
};
use sluice_protocol::constants::{caps, command, header};
use sluice_protocol::handshake::{AuthSwitchRequest, HandshakeResponse, HandshakeV10};
use sluice_protocol::packets::ErrPacket;
use sluice_protocol::{Packet, ProtocolError};
use tokio::net::TcpStream;

use crate::core::error::{BackendFailure, Error, Result};
use crate::core::net::{MaybeTls, PacketStream};

/// Capabilities sluice asks every backend for (intersected with what the server offers). One fixed set,
/// so connections are interchangeable; each client's own set is honoured by translation at the edge.
/// Multi-statements are off: a session whose client enabled them turns them on for its borrow with
/// COM_SET_OPTION ([`BackendConn::set_multi_statements`]), so a statement sluice split differently from
/// the server can never run a hidden second statement for a client that did not ask for them.
pub const BACKEND_CAPS: u32 = caps::LONG_PASSWORD
    | caps::LONG_FLAG
    | caps::CONNECT_WITH_DB
    | caps::LOCAL_FILES
    | caps::PROTOCOL_41
    | caps::TRANSACTIONS
    | caps::SECURE_CONNECTION
    | caps::MULTI_RESULTS
    | caps::PS_MULTI_RESULTS
    | caps::PLUGIN_AUTH
    | caps::PLUGIN_AUTH_LENENC_CLIENT_DATA
    | caps::CONNECT_ATTRS
    | caps::SESSION_TRACK
    | caps::DEPRECATE_EOF;

/// Where and how to connect.
#[derive(Clone)]
pub struct ConnectSpec {
    /// `host:port`.
    pub address: String,
    /// Name for messages: `group/role address`.
    pub label: String,
    /// Backend user.
    pub user: String,
    /// Backend password.
    pub password: String,
    /// CLIENT_FOUND_ROWS (changes affected-row counts, so it is part of the pool key).
    pub found_rows: bool,
    /// Collation id for the handshake.
    pub charset: u8,
    /// TLS toward this backend.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The server's RSA public key for caching_sha2_password full authentication without TLS
    /// (`[backend] server_public_key_file`); `None` asks the server for it when needed.
    pub server_public_key: Option<Arc<ServerPublicKey>>,
    /// Connect + handshake deadline.
    pub connect_timeout: Duration,
    /// Largest packet accepted from the backend.
    pub max_packet: usize,
}

/// An authenticated backend connection.
pub struct BackendConn {
    /// The packet stream.
    pub stream: PacketStream<MaybeTls<TcpStream>>,
    /// Capabilities in effect on this connection.
    pub caps: u32,
    /// The server's thread id (for KILL QUERY).
    pub thread_id: u32,
    /// The server's version string.
    pub server_version: Bytes,
    /// The server's default collation id (from its greeting).
    pub server_charset: u8,
    /// The nonce of the initial handshake (COM_CHANGE_USER scrambles with it).
    nonce: Bytes,
    /// The auth plugin the server uses for our user.
    plugin: Bytes,
    /// When the connection was opened (max_lifetime).
    pub created: Instant,
    /// Status flags from the last OK/EOF.
    pub status: u16,
    /// Server flavour (names of tracked variables).
    pub flavor: super::Flavor,
    /// Tracked session variables on this connection (see [`BackendConn::prepare_session`]).
    pub vars: super::Vars,
    /// The connection's default schema (`None` after connect and after a reset).
    pub schema: Option<Bytes>,
    /// Statements prepared on this connection, by SQL text.
    pub stmts: super::StmtCache,
    /// Whether multi-statements are on (COM_SET_OPTION); off at connect and after a reset.
    pub multi_statements: bool,
    /// The last statement left warnings or an error in the server's diagnostics area: another session
    /// must not see them (`SHOW WARNINGS` shows them until a statement that uses a table clears it).
    pub diagnostics_pending: bool,
    /// The server holds session state sluice cannot name or replay (MariaDB's READ ONLY leftover
    /// after `SET autocommit = 1` ended a READ ONLY transaction): reset before anyone else borrows it.
    pub hidden_state: bool,
    /// The client session (sluice connection id) whose INSERT last generated an id here: the server
    /// substitutes that id for `auto_col IS NULL` (sql_auto_is_null) in the next such SELECT,
    /// whoever borrows the connection by then.
    pub insert_id_of: Option<u32>,
}

fn fail(spec: &ConnectSpec, failure: impl Into<BackendFailure>) -> Error {
    Error::backend(spec.label.clone(), failure)
}

fn proto(spec: &ConnectSpec) -> impl Fn(ProtocolError) -> Error + '_ {
    move |e| fail(spec, e)
}

impl BackendConn {
    /// Connects and authenticates within `spec.connect_timeout`.
    pub async fn connect(spec: &ConnectSpec) -> Result<Self> {
        match tokio::time::timeout(spec.connect_timeout, Self::connect_inner(spec)).await {
            Ok(r) => r,
            Err(_) => Err(fail(
                spec,
                BackendFailure::Timeout(format!(
                    "no answer within {} ms (backend.connect_timeout_ms); check that the server is up",
                    spec.connect_timeout.as_millis()
                )),
            )),
        }
    }

    async fn connect_inner(spec: &ConnectSpec) -> Result<Self> {
        let tcp =
            TcpStream::connect(&spec.address).await.map_err(|e| fail(spec, BackendFailure::Connect(e)))?;
        let _ = tcp.set_nodelay(true);
        let mut stream = PacketStream::new(MaybeTls::Plain(tcp), spec.max_packet);
        let greeting = read(&mut stream, spec).await?;
        if greeting.first() == Some(header::ERR) {
            let err = ErrPacket::parse(&greeting.payload).map_err(proto(spec))?;
            return Err(Error::BackendRefused { backend: spec.label.clone(), err });
        }
        let hs = HandshakeV10::parse(&greeting.payload).map_err(proto(spec))?;
        let mut want = BACKEND_CAPS | if spec.found_rows { caps::FOUND_ROWS } else { 0 };
        if spec.tls.is_some() {
            want |= caps::SSL;
        }
        let caps = want & hs.capabilities;
        if caps & caps::PROTOCOL_41 == 0 {
            return Err(fail(spec, BackendFailure::Unexpected("server does not speak the 4.1 protocol")));
        }
        if spec.tls.is_some() && caps & caps::SSL == 0 {
            return Err(fail(
                spec,
                BackendFailure::Unexpected(
                    "TLS is configured for this backend but the server does not offer it",
                ),
            ));
        }
        let mut resp = HandshakeResponse {
            capabilities: caps,
            max_packet: 1 << 30,
            charset: spec.charset,
            user: Bytes::from(spec.user.clone()),
            auth_response: Bytes::new(),
            database: None,
            auth_plugin: Some(hs.auth_plugin.clone()),
            attributes: vec![
                (Bytes::from_static(b"_client_name"), Bytes::from_static(b"sluice")),
                (
                    Bytes::from_static(b"_client_version"),
                    Bytes::from_static(env!("CARGO_PKG_VERSION").as_bytes()),
                ),
            ],
        };
        let mut seq = greeting.next_seq;
        if let Some(tls) = &spec.tls {
            let mut out = BytesMut::new();
            resp.encode_ssl_request(&mut out);
            seq = stream.write(seq, &out);
            stream.flush().await.map_err(|e| fail(spec, e))?;
            let (io, rest) = stream.into_parts();
            let MaybeTls::Plain(tcp) = io else {
                return Err(fail(spec, BackendFailure::Unexpected("TLS started twice")));
            };
            if !rest.is_empty() {
                return Err(fail(
                    spec,
                    BackendFailure::Unexpected("server sent data before the TLS handshake"),
                ));
            }
            let name = crate::core::tls::server_name(&spec.address).map_err(|e| fail(spec, e))?;
            let tls = tokio_rustls::TlsConnector::from(tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| fail(spec, BackendFailure::TlsHandshake(e)))?;
            stream = PacketStream::new(MaybeTls::Client(Box::new(tls)), spec.max_packet);
        }
        let plugin = hs.auth_plugin.clone();
        resp.auth_response = Bytes::from(scramble(&plugin, &hs.nonce, spec.password.as_bytes()));
        let mut out = BytesMut::new();
        resp.encode(&mut out);
        seq = stream.write(seq, &out);
        stream.flush().await.map_err(|e| fail(spec, e))?;
        let mut conn = Self {
            stream,
            caps,
            thread_id: hs.connection_id,
            server_version: hs.server_version.clone(),
            server_charset: hs.charset,
            nonce: hs.nonce.clone(),
            plugin,
            created: Instant::now(),
            status: hs.status,
            flavor: super::Flavor::from_version(&hs.server_version),
            vars: super::Vars::unknown(),
            schema: None,
            stmts: super::StmtCache::default(),
            multi_statements: false,
            diagnostics_pending: false,
            hidden_state: false,
            insert_id_of: None,
        };
        let _ = seq;
        conn.finish_auth(spec).await?;
        Ok(conn)
    }

    /// Runs the rest of an authentication exchange (after our response) until OK: auth switches,
    /// caching_sha2 fast and full auth (see the module doc).
    async fn finish_auth(&mut self, spec: &ConnectSpec) -> Result<()> {
        let pw = spec.password.as_bytes();
        // Set once sluice has asked the server for its RSA key: the next AuthMoreData carries it.
        let mut key_requested = false;
        loop {
            let p = read(&mut self.stream, spec).await?;
            let seq = p.next_seq;
            match p.first() {
                Some(header::OK) => {
                    self.status = sluice_protocol::packets::status_of(&p.payload).unwrap_or(self.status);
                    return Ok(());
                }
                Some(header::ERR) => {
                    let err = ErrPacket::parse(&p.payload).map_err(proto(spec))?;
                    return Err(Error::BackendRefused { backend: spec.label.clone(), err });
                }
                Some(header::EOF) => {
                    let sw = AuthSwitchRequest::parse(&p.payload).map_err(proto(spec))?;
                    let data = if &sw.plugin[..] == MYSQL_CLEAR_PASSWORD.as_bytes() {
                        if !self.stream.get_ref().is_tls() {
                            return Err(fail(
                                spec,
                                BackendFailure::Unexpected(
                                    "backend asks for a cleartext password; enable backend TLS",
                                ),
                            ));
                        }
                        let mut v = pw.to_vec();
                        v.push(0);
                        v
                    } else {
                        self.nonce = sw.data.clone();
                        scramble(&sw.plugin, &sw.data, pw)
                    };
                    self.plugin = sw.plugin;
                    key_requested = false;
                    self.stream.write(seq, &data);
                }
                Some(header::AUTH_MORE_DATA) if key_requested => {
                    // The server's PEM public key, as asked for.
                    let key = ServerPublicKey::from_pem(&p.payload[1..]).map_err(|e| fail(spec, e))?;
                    let data = self.encrypt_password(spec, &key)?;
                    key_requested = false;
                    self.stream.write(seq, &data);
                }
                Some(header::AUTH_MORE_DATA) => match p.payload.get(1) {
                    Some(&SHA2_FAST_AUTH_SUCCESS) => continue,
                    Some(&SHA2_PERFORM_FULL_AUTH) => {
                        if self.stream.get_ref().is_tls() {
                            let mut v = pw.to_vec();
                            v.push(0);
                            self.stream.write(seq, &v);
                        } else if let Some(key) = &spec.server_public_key {
                            let data = self.encrypt_password(spec, key)?;
                            self.stream.write(seq, &data);
                        } else {
                            key_requested = true;
                            self.stream.write(seq, &[SHA2_REQUEST_PUBLIC_KEY]);
                        }
                    }
                    _ => {
                        return Err(fail(
                            spec,
                            BackendFailure::Unexpected("unexpected auth data from backend"),
                        ));
                    }
                },
                _ => {
                    return Err(fail(
                        spec,
                        BackendFailure::Unexpected("unexpected packet during authentication"),
                    ));
                }
            }
            self.stream.flush().await.map_err(|e| fail(spec, e))?;
        }
    }

    /// The password for caching_sha2 full authentication without TLS, encrypted with `key` and the
    /// nonce the current scramble was made with.
    fn encrypt_password(&self, spec: &ConnectSpec, key: &ServerPublicKey) -> Result<Vec<u8>> {
        key.encrypt_password(&self.nonce, spec.password.as_bytes()).map_err(|e| fail(spec, e))
    }

    /// Resets the session on the server for reuse by another client (COM_CHANGE_USER to the same user:
    /// drops temp tables, user variables, prepared statements, transactions, the default schema, and
    /// restores the pool's collation).
    pub async fn reset(&mut self, spec: &ConnectSpec) -> Result<()> {
        let mut p = BytesMut::new();
        p.put_u8(command::CHANGE_USER);
        p.put_slice(spec.user.as_bytes());
        p.put_u8(0);
        let s = scramble(&self.plugin, &self.nonce, spec.password.as_bytes());
        p.put_u8(s.len() as u8);
        p.put_slice(&s);
        p.put_u8(0); // no schema
        p.put_u16_le(u16::from(spec.charset));
        p.put_slice(&self.plugin);
        p.put_u8(0);
        if self.caps & caps::CONNECT_ATTRS != 0 {
            p.put_u8(0);
        }
        self.stream.write(0, &p);
        self.stream.flush().await.map_err(|e| fail(spec, e))?;
        self.finish_auth(spec).await?;
        self.prepare_session(&spec.label).await?;
        if self.multi_statements {
            // COM_CHANGE_USER keeps the client options the connection had: put them back to the pool's.
            self.set_multi_statements(&spec.label, false).await?;
        }
        self.diagnostics_pending = false;
        self.hidden_state = false;
        self.insert_id_of = None;
        Ok(())
    }

    /// Ends the session (COM_QUIT; the server answers nothing). Errors are ignored: the connection
    /// is being dropped either way.
    pub async fn quit(&mut self) {
        self.stream.write(0, &[command::QUIT]);
        let _ = self.stream.flush().await;
    }

    /// Turns multi-statements on or off for this connection (COM_SET_OPTION).
    pub async fn set_multi_statements(&mut self, label: &str, on: bool) -> Result<()> {
        // MYSQL_OPTION_MULTI_STATEMENTS_ON = 0, _OFF = 1.
        let option: u16 = if on { 0 } else { 1 };
        let [a, b] = option.to_le_bytes();
        self.simple_command(label, &[command::SET_OPTION, a, b]).await?;
        self.multi_statements = on;
        Ok(())
    }

    /// Empties the server's diagnostics area (warnings and errors of the last statement). MariaDB: with
    /// a statement that reads a table (`DO` and `SET` do not clear it, any table access does). MySQL:
    /// with any statement, and one without a table, as its data dictionary is InnoDB (reading
    /// information_schema with autocommit off would open a transaction).
    pub async fn clear_diagnostics(&mut self, label: &str) -> Result<()> {
        let sql = match self.flavor {
            super::Flavor::MariaDb => "DO (SELECT 1 FROM information_schema.COLLATIONS LIMIT 0)",
            super::Flavor::MySql => "DO 0",
        };
        self.query(label, sql).await?;
        self.diagnostics_pending = false;
        Ok(())
    }

    /// Whether the connection's sql_mode (as tracked) has NO_BACKSLASH_ESCAPES.
    pub fn no_backslash_escapes(&self) -> bool {
        self.vars
            .sql_mode()
            .is_some_and(|m| m.split(|&b| b == b',').any(|w| w.eq_ignore_ascii_case(b"NO_BACKSLASH_ESCAPES")))
    }

    /// Puts `err` in the connection's diagnostics area, as if the statement the server refused had
    /// just run there (`SIGNAL`, whose own ERR is dropped): for a refusal that sluice's later
    /// statements on the connection would otherwise empty (MySQL empties the area at every statement).
    pub async fn raise(&mut self, label: &str, err: &sluice_protocol::packets::ErrPacket) -> Result<()> {
        let sql = signal_statement(err, self.no_backslash_escapes());
        // Its own ERR is `err` (the message cut to SIGNAL's 128 characters); either way the area
        // holds the session's condition now, emptied before anyone else borrows the connection.
        match self.query(label, &sql).await {
            Ok(_) | Err(Error::BackendRefused { .. }) => {
                self.diagnostics_pending = true;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Turns on session-state tracking for the variables sluice syncs and reads their values. Run on
    /// every new connection a pool opens and after every reset.
    pub async fn prepare_session(&mut self, label: &str) -> Result<()> {
        let track = self.flavor.tracking_statement();
        self.query(label, &track).await?;
        let show = self.flavor.show_statement();
        let r = self.query(label, &show).await?;
        self.vars = super::Vars::unknown();
        for row in &r.rows {
            if let (Some(Some(name)), Some(Some(value))) = (row.first(), row.get(1))
                && let Some(i) = self.flavor.index(name)
            {
                self.vars.set(i, value.clone());
            }
        }
        self.schema = None;
        self.stmts.clear();
        Ok(())
    }

    /// Applies an OK packet's session-state changes to what sluice knows of this connection. Returns
    /// the changes for the session to apply to its own view.
    pub fn apply_state(&mut self, ok_payload: &Bytes) -> Vec<sluice_protocol::packets::StateChange> {
        use sluice_protocol::packets::{StateChange, session_changes};
        let changes = session_changes(ok_payload, self.caps).unwrap_or_default();
        for c in &changes {
            match c {
                StateChange::Variable { name, value } => {
                    if let Some(i) = self.flavor.index(name) {
                        self.vars.set(i, value.clone());
                    }
                }
                StateChange::Schema(s) => self.schema = Some(s.clone()),
                _ => {}
            }
        }
        changes
    }

    /// Sends a simple command that answers OK/ERR (COM_INIT_DB…) and waits for the answer.
    /// Returns the backend's ERR packet as `Err(Error::BackendRefused)`.
    pub async fn simple_command(&mut self, spec_label: &str, payload: &[u8]) -> Result<Packet> {
        self.stream.write(0, payload);
        let label = spec_label.to_owned();
        self.stream.flush().await.map_err(|e| Error::backend(label.clone(), e))?;
        let p = self
            .stream
            .read()
            .await
            .map_err(|e| Error::backend(label.clone(), e))?
            .ok_or_else(|| Error::backend(label.clone(), BackendFailure::Closed))?;
        if p.first() == Some(header::ERR) {
            let err = ErrPacket::parse(&p.payload).map_err(|e| Error::backend(label.clone(), e))?;
            return Err(Error::BackendRefused { backend: label, err });
        }
        Ok(p)
    }
}

/// A small text result: column names and rows (for the monitor and admin queries, not the relay).
#[derive(Debug, Clone, Default)]
pub struct TextResult {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows; `None` is SQL NULL.
    pub rows: Vec<Vec<Option<Bytes>>>,
    /// Warnings the statement left in the connection's diagnostics area (an OK's count; 0 after rows).
    pub warnings: u16,
}

impl TextResult {
    /// Column `i` of the first row (`None` without a row or for SQL NULL).
    pub fn cell(&self, i: usize) -> Option<&Bytes> {
        self.rows.first()?.get(i)?.as_ref()
    }

    /// [`TextResult::cell`] read as a number (`None` when it is not one of type `T`).
    pub fn int_cell<T: std::str::FromStr>(&self, i: usize) -> Option<T> {
        std::str::from_utf8(self.cell(i)?).ok()?.parse().ok()
    }

    /// The value of column `name` in row `row`, as text.
    pub fn get(&self, row: usize, name: &str) -> Option<String> {
        let i = self.columns.iter().position(|c| c.eq_ignore_ascii_case(name))?;
        let v = self.rows.get(row)?.get(i)?.as_ref()?;
        Some(String::from_utf8_lossy(v).into_owned())
    }
}

impl BackendConn {
    /// Runs one statement and collects its (first) result set, decoding text rows. For small internal
    /// queries only: the whole result is held in memory.
    pub async fn query(&mut self, label: &str, sql: &str) -> Result<TextResult> {
        let raw = self.query_raw(label, sql).await?;
        if let Some(err) = raw.err {
            return Err(Error::BackendRefused { backend: label.to_owned(), err });
        }
        let mut out =
            TextResult { warnings: raw.ok.as_ref().map_or(0, |ok| ok.warnings), ..Default::default() };
        for c in &raw.columns {
            let c =
                sluice_protocol::column::ColumnDefinition::parse(c).map_err(|e| Error::backend(label, e))?;
            out.columns.push(String::from_utf8_lossy(&c.name).into_owned());
        }
        for r in &raw.rows {
            let row = sluice_protocol::binary::decode_text_row(r, out.columns.len())
                .map_err(|e| Error::backend(label, e))?;
            out.rows.push(row);
        }
        Ok(out)
    }
}

async fn read(stream: &mut PacketStream<MaybeTls<TcpStream>>, spec: &ConnectSpec) -> Result<Packet> {
    stream
        .read()
        .await
        .map_err(|e| fail(spec, e))?
        .ok_or_else(|| fail(spec, BackendFailure::ClosedInHandshake))
}

/// The auth response for `plugin` with `nonce`.
fn scramble(plugin: &[u8], nonce: &[u8], password: &[u8]) -> Vec<u8> {
    if plugin == CACHING_SHA2_PASSWORD.as_bytes() {
        sha2_scramble(nonce, password)
    } else if plugin == MYSQL_NATIVE_PASSWORD.as_bytes() {
        native_scramble(&nonce[..nonce.len().min(20)], password)
    } else {
        // Unknown plugin: an empty response makes the server switch to one it shares with us.
        Vec::new()
    }
}

/// The most characters a `SIGNAL`'s MESSAGE_TEXT takes.
const SIGNAL_MESSAGE_CHARS: usize = 128;

/// `SIGNAL` raising `err` (its code, SQLSTATE and message) on a connection whose sql_mode has
/// NO_BACKSLASH_ESCAPES or not.
pub fn signal_statement(err: &sluice_protocol::packets::ErrPacket, no_backslash_escapes: bool) -> String {
    // SIGNAL takes at most 128 characters of MESSAGE_TEXT (more is ERR 1648 in strict mode).
    let text = String::from_utf8_lossy(&err.message);
    let text: String = text.chars().take(SIGNAL_MESSAGE_CHARS).collect();
    let mut message = text.replace('\'', "''");
    if !no_backslash_escapes {
        message = message.replace('\\', "\\\\");
    }
    format!(
        "SIGNAL SQLSTATE '{}' SET MYSQL_ERRNO = {}, MESSAGE_TEXT = '{message}'",
        String::from_utf8_lossy(&err.sql_state),
        err.code
    )
}

#[cfg(test)]
mod tests;
