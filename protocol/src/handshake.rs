//! The connection phase: HandshakeV10 (server greeting), SSLRequest, HandshakeResponse41, auth switch,
//! auth more-data and COM_CHANGE_USER. Both sides: sluice is the server toward clients and the client
//! toward backends.

use bytes::{BufMut, Bytes, BytesMut};

use crate::buf::{Reader, put_lenenc, put_lenenc_bytes};
use crate::constants::{caps, header};
use crate::error::{ProtocolError, Result};

/// Length of the auth nonce ("scramble") in HandshakeV10.
pub const NONCE_LEN: usize = 20;

/// Most connection attributes kept from a handshake response or COM_CHANGE_USER; the rest of the
/// block is skipped unparsed (truncated, as MySQL's performance_schema truncates, not refused: a
/// client's attributes are informational and a driver adding many should still connect). Real drivers
/// send 5–20. Without a cap, 64 MiB of empty pairs would be 32 million parsed pairs.
pub const MAX_ATTRS: usize = 256;

/// Most bytes of attribute keys and values kept (see [`MAX_ATTRS`]); the pair that would cross it and
/// all after it are dropped.
pub const MAX_ATTRS_BYTES: usize = 64 * 1024;

/// Parses a connection-attribute block (pairs of length-encoded strings), keeping at most
/// [`MAX_ATTRS`] pairs and [`MAX_ATTRS_BYTES`] bytes of them. What is kept is checked; what is past
/// the caps is not looked at.
fn parse_attributes(block: &Bytes) -> Result<Vec<(Bytes, Bytes)>> {
    let mut a = Reader::new(block, "connection attributes");
    let mut out = Vec::new();
    let mut bytes = 0usize;
    while a.remaining() > 0 && out.len() < MAX_ATTRS {
        let k = a.lenenc_bytes()?;
        let v = a.lenenc_bytes()?;
        bytes += k.len() + v.len();
        if bytes > MAX_ATTRS_BYTES {
            break;
        }
        out.push((k, v));
    }
    Ok(out)
}

/// The server greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeV10 {
    /// Version string, e.g. `10.11.19-MariaDB-sluice`.
    pub server_version: Bytes,
    /// Connection (thread) id.
    pub connection_id: u32,
    /// Auth nonce (20 bytes for the 4.1 protocol).
    pub nonce: Bytes,
    /// Capabilities the server offers (lower 32 bits).
    pub capabilities: u32,
    /// Default collation id.
    pub charset: u8,
    /// Server status flags.
    pub status: u16,
    /// Default auth plugin.
    pub auth_plugin: Bytes,
}

impl HandshakeV10 {
    /// Appends the greeting payload.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u8(0x0a);
        out.put_slice(&self.server_version);
        out.put_u8(0);
        out.put_u32_le(self.connection_id);
        let (p1, p2) = self.nonce.split_at(self.nonce.len().min(8));
        out.put_slice(p1);
        out.put_bytes(0, 8 - p1.len());
        out.put_u8(0);
        out.put_u16_le(self.capabilities as u16);
        out.put_u8(self.charset);
        out.put_u16_le(self.status);
        out.put_u16_le((self.capabilities >> 16) as u16);
        if self.capabilities & caps::PLUGIN_AUTH != 0 {
            out.put_u8((self.nonce.len() + 1) as u8);
        } else {
            out.put_u8(0);
        }
        out.put_bytes(0, 10);
        if self.capabilities & caps::SECURE_CONNECTION != 0 {
            out.put_slice(p2);
            // The second part is at least 12 bytes plus a terminating NUL.
            out.put_bytes(0, 13usize.saturating_sub(p2.len()).max(1));
        }
        if self.capabilities & caps::PLUGIN_AUTH != 0 {
            out.put_slice(&self.auth_plugin);
            out.put_u8(0);
        }
    }

    /// Parses a greeting (toward a backend). Protocol 10 only.
    pub fn parse(payload: &Bytes) -> Result<Self> {
        let mut r = Reader::new(payload, "handshake");
        if r.u8()? != 0x0a {
            return Err(ProtocolError::malformed("handshake", "not protocol version 10"));
        }
        let server_version = r.null_terminated();
        let connection_id = r.u32()?;
        let p1 = r.take(8)?;
        r.skip(1)?;
        let mut capabilities = u32::from(r.u16()?);
        let charset = r.u8()?;
        let status = r.u16()?;
        capabilities |= u32::from(r.u16()?) << 16;
        let nonce_len = usize::from(r.u8()?);
        r.skip(10)?;
        let mut nonce = BytesMut::from(&p1[..]);
        if capabilities & caps::SECURE_CONNECTION != 0 {
            let n = nonce_len.saturating_sub(9).max(12);
            let p2 = r.take(n.min(r.remaining()))?;
            nonce.extend_from_slice(&p2);
            if r.peek() == Some(0) {
                r.skip(1)?;
            }
        }
        let auth_plugin = if capabilities & caps::PLUGIN_AUTH != 0 {
            r.null_terminated()
        } else {
            Bytes::from_static(crate::auth::MYSQL_NATIVE_PASSWORD.as_bytes())
        };
        Ok(Self {
            server_version,
            connection_id,
            nonce: nonce.freeze(),
            capabilities,
            charset,
            status,
            auth_plugin,
        })
    }
}

/// Whether a client's first packet is an SSLRequest (32 bytes with CLIENT_SSL) rather than a full
/// HandshakeResponse41.
pub fn is_ssl_request(payload: &[u8]) -> bool {
    payload.len() == 32
        && u32::from_le_bytes([payload[0], payload[1], payload[2], payload[3]]) & caps::SSL != 0
}

/// The client's reply to the greeting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandshakeResponse {
    /// Client capabilities.
    pub capabilities: u32,
    /// Largest packet the client wants to receive.
    pub max_packet: u32,
    /// Collation id.
    pub charset: u8,
    /// User name.
    pub user: Bytes,
    /// Scramble (or cleartext password, by plugin).
    pub auth_response: Bytes,
    /// Initial schema, if CONNECT_WITH_DB.
    pub database: Option<Bytes>,
    /// Auth plugin the scramble was made with, if PLUGIN_AUTH.
    pub auth_plugin: Option<Bytes>,
    /// Connection attributes, if CONNECT_ATTRS: at most [`MAX_ATTRS`] pairs and [`MAX_ATTRS_BYTES`]
    /// bytes, the rest dropped.
    pub attributes: Vec<(Bytes, Bytes)>,
}

impl HandshakeResponse {
    /// Parses a HandshakeResponse41. Pre-4.1 clients are refused.
    pub fn parse(payload: &Bytes) -> Result<Self> {
        let mut r = Reader::new(payload, "handshake response");
        let capabilities = r.u32()?;
        if capabilities & caps::PROTOCOL_41 == 0 {
            return Err(ProtocolError::malformed("handshake response", "pre-4.1 clients are not supported"));
        }
        let max_packet = r.u32()?;
        let charset = r.u8()?;
        r.skip(23)?;
        let user = r.null_terminated();
        let auth_response = if capabilities & caps::PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
            r.lenenc_bytes()?
        } else if capabilities & caps::SECURE_CONNECTION != 0 {
            let n = usize::from(r.u8()?);
            r.take(n)?
        } else {
            r.null_terminated()
        };
        let database = (capabilities & caps::CONNECT_WITH_DB != 0 && r.remaining() > 0)
            .then(|| r.null_terminated())
            .filter(|d| !d.is_empty());
        // An empty plugin name is no plugin name: the server's default applies either way.
        let auth_plugin = (capabilities & caps::PLUGIN_AUTH != 0 && r.remaining() > 0)
            .then(|| r.null_terminated())
            .filter(|p| !p.is_empty());
        let mut attributes = Vec::new();
        if capabilities & caps::CONNECT_ATTRS != 0 && r.remaining() > 0 {
            let total = usize::try_from(r.lenenc()?)
                .map_err(|_| ProtocolError::malformed("handshake response", "attributes too long"))?;
            attributes = parse_attributes(&r.take(total)?)?;
        }
        Ok(Self { capabilities, max_packet, charset, user, auth_response, database, auth_plugin, attributes })
    }

    /// Appends the payload (toward a backend). Writes only the parts `capabilities` announce.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u32_le(self.capabilities);
        out.put_u32_le(self.max_packet);
        out.put_u8(self.charset);
        out.put_bytes(0, 23);
        out.put_slice(&self.user);
        out.put_u8(0);
        // The three forms `parse` reads, so what it gives re-encodes to the same response.
        if self.capabilities & caps::PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
            put_lenenc_bytes(out, &self.auth_response);
        } else if self.capabilities & caps::SECURE_CONNECTION != 0 {
            let data = &self.auth_response[..self.auth_response.len().min(255)];
            out.put_u8(data.len() as u8);
            out.put_slice(data);
        } else {
            out.put_slice(&self.auth_response);
            out.put_u8(0);
        }
        if self.capabilities & caps::CONNECT_WITH_DB != 0 {
            out.put_slice(self.database.as_deref().unwrap_or_default());
            out.put_u8(0);
        }
        if self.capabilities & caps::PLUGIN_AUTH != 0 {
            out.put_slice(self.auth_plugin.as_deref().unwrap_or_default());
            out.put_u8(0);
        }
        if self.capabilities & caps::CONNECT_ATTRS != 0 {
            let mut attrs = BytesMut::new();
            for (k, v) in &self.attributes {
                put_lenenc_bytes(&mut attrs, k);
                put_lenenc_bytes(&mut attrs, v);
            }
            put_lenenc(out, attrs.len() as u64);
            out.put_slice(&attrs);
        }
    }

    /// Appends an SSLRequest: the first 32 bytes of the response, sent before the TLS handshake.
    pub fn encode_ssl_request(&self, out: &mut BytesMut) {
        out.put_u32_le(self.capabilities | caps::SSL);
        out.put_u32_le(self.max_packet);
        out.put_u8(self.charset);
        out.put_bytes(0, 23);
    }
}

/// The server asks the client to authenticate again with another plugin (header 0xFE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSwitchRequest {
    /// Plugin to switch to.
    pub plugin: Bytes,
    /// Plugin data (a fresh nonce for the scramble plugins).
    pub data: Bytes,
}

impl AuthSwitchRequest {
    /// Appends the payload. Scramble plugins get the nonce plus a trailing NUL, as MySQL sends it.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u8(header::EOF);
        out.put_slice(&self.plugin);
        out.put_u8(0);
        out.put_slice(&self.data);
        out.put_u8(0);
    }

    /// Parses the payload (toward a backend); a trailing NUL after the data is dropped.
    pub fn parse(payload: &Bytes) -> Result<Self> {
        let mut r = Reader::new(payload, "auth switch request");
        if r.u8()? != header::EOF {
            return Err(ProtocolError::malformed("auth switch request", "bad header"));
        }
        let plugin = r.null_terminated();
        let mut data = r.rest();
        if data.last() == Some(&0) {
            data.truncate(data.len() - 1);
        }
        Ok(Self { plugin, data })
    }
}

/// Appends an AuthMoreData packet (0x01 + data): caching_sha2 status bytes or an RSA key.
pub fn encode_auth_more_data(data: &[u8], out: &mut BytesMut) {
    out.put_u8(header::AUTH_MORE_DATA);
    out.put_slice(data);
}

/// COM_CHANGE_USER: re-authenticate on an open connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeUser {
    /// New user.
    pub user: Bytes,
    /// Scramble made with the connection's original nonce.
    pub auth_response: Bytes,
    /// New default schema (empty = none).
    pub database: Bytes,
    /// Collation id, if sent.
    pub charset: Option<u16>,
    /// Plugin the scramble was made with, if sent.
    pub auth_plugin: Option<Bytes>,
    /// Connection attributes, if sent (capped as in [`HandshakeResponse::attributes`]).
    pub attributes: Vec<(Bytes, Bytes)>,
}

impl ChangeUser {
    /// Parses a COM_CHANGE_USER payload (including the 0x11 command byte) from a client with `capabilities`.
    pub fn parse(payload: &Bytes, capabilities: u32) -> Result<Self> {
        let mut r = Reader::new(payload, "COM_CHANGE_USER");
        r.skip(1)?;
        let user = r.null_terminated();
        let auth_response = if capabilities & caps::SECURE_CONNECTION != 0 {
            let n = usize::from(r.u8()?);
            r.take(n)?
        } else {
            r.null_terminated()
        };
        let database = r.null_terminated();
        let mut cu = Self { user, auth_response, database, ..Self::default() };
        if r.remaining() >= 2 {
            cu.charset = Some(r.u16()?);
        }
        if capabilities & caps::PLUGIN_AUTH != 0 && r.remaining() > 0 {
            cu.auth_plugin = Some(r.null_terminated());
        }
        if capabilities & caps::CONNECT_ATTRS != 0 && r.remaining() > 0 {
            let total = usize::try_from(r.lenenc()?)
                .map_err(|_| ProtocolError::malformed("COM_CHANGE_USER", "attributes too long"))?;
            cu.attributes = parse_attributes(&r.take(total.min(r.remaining()))?)?;
        }
        Ok(cu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The greeting MariaDB 10.11.19 (Debian 12) sent on 127.0.0.1:3306, captured with a raw socket.
    const MARIADB_GREETING: &str = "0a352e352e352d31302e31312e31392d4d6172696144422d302b64656231327531000b0000004e236349267c645f00fef72d0200ff81150000000000001d0000002e68424f4652485243393231006d7973716c5f6e61746976655f70617373776f726400";

    fn mariadb_greeting() -> Vec<u8> {
        hex::decode(MARIADB_GREETING).expect("hex")
    }

    #[test]
    fn empty_plugin_and_every_auth_data_form_round_trip() {
        // Found by the `handshake` fuzz target: PLUGIN_AUTH with nothing after the user parsed as no
        // plugin but re-encoded as an empty one; and a response without SECURE_CONNECTION (auth data
        // NUL-terminated) re-encoded with a length byte.
        let base = caps::PROTOCOL_41 | caps::PLUGIN_AUTH;
        for extra in [0, caps::SECURE_CONNECTION, caps::PLUGIN_AUTH_LENENC_CLIENT_DATA] {
            let r = HandshakeResponse {
                capabilities: base | extra,
                user: Bytes::from_static(b"u"),
                auth_response: Bytes::from_static(b"scramble"),
                ..HandshakeResponse::default()
            };
            let mut out = BytesMut::new();
            r.encode(&mut out);
            assert_eq!(HandshakeResponse::parse(&out.freeze()).expect("parses"), r, "caps {extra:#x}");
        }
        let mut p = (base | caps::SECURE_CONNECTION).to_le_bytes().to_vec();
        p.extend_from_slice(&[0; 4 + 1 + 23]);
        p.extend_from_slice(b"u\0\0");
        let r = HandshakeResponse::parse(&Bytes::from(p)).expect("parses");
        assert_eq!(r.auth_plugin, None);
    }

    #[test]
    fn parses_mariadb_greeting() {
        let b = Bytes::from(mariadb_greeting());
        let h = HandshakeV10::parse(&b).expect("greeting");
        assert_eq!(&h.server_version[..], b"5.5.5-10.11.19-MariaDB-0+deb12u1");
        assert_eq!(h.connection_id, 11);
        assert_eq!(h.nonce.len(), NONCE_LEN);
        assert_eq!(&h.nonce[..8], b"N#cI&|d_");
        assert_eq!(h.charset, 45);
        assert_eq!(h.status, 2);
        assert_eq!(h.capabilities, 0x81ff_f7fe);
        assert!(h.capabilities & caps::DEPRECATE_EOF != 0 && h.capabilities & caps::SESSION_TRACK != 0);
        assert_eq!(&h.auth_plugin[..], b"mysql_native_password");
    }

    #[test]
    fn greeting_round_trips() {
        let h = HandshakeV10 {
            server_version: Bytes::from_static(b"10.11.19-MariaDB-sluice"),
            connection_id: 7,
            nonce: Bytes::from_static(b"abcdefghijklmnopqrst"),
            capabilities: caps::PROTOCOL_41
                | caps::SECURE_CONNECTION
                | caps::PLUGIN_AUTH
                | caps::DEPRECATE_EOF,
            charset: 45,
            status: 2,
            auth_plugin: Bytes::from_static(b"caching_sha2_password"),
        };
        let mut out = BytesMut::new();
        h.encode(&mut out);
        assert_eq!(HandshakeV10::parse(&out.freeze()).expect("parse"), h);
    }

    #[test]
    fn response_round_trips_with_attrs_and_db() {
        let r = HandshakeResponse {
            capabilities: caps::PROTOCOL_41
                | caps::SECURE_CONNECTION
                | caps::PLUGIN_AUTH
                | caps::PLUGIN_AUTH_LENENC_CLIENT_DATA
                | caps::CONNECT_WITH_DB
                | caps::CONNECT_ATTRS,
            max_packet: 1 << 24,
            charset: 45,
            user: Bytes::from_static(b"app"),
            auth_response: Bytes::from(vec![9u8; 20]),
            database: Some(Bytes::from_static(b"app")),
            auth_plugin: Some(Bytes::from_static(b"mysql_native_password")),
            attributes: vec![(Bytes::from_static(b"_client_name"), Bytes::from_static(b"libmariadb"))],
        };
        let mut out = BytesMut::new();
        r.encode(&mut out);
        assert_eq!(HandshakeResponse::parse(&out.freeze()).expect("parse"), r);
    }

    #[test]
    fn parses_pymysql_style_response() {
        // PyMySQL 1.1: no PLUGIN_AUTH_LENENC, SECURE_CONNECTION with a 1-byte length, db given.
        let capabilities = caps::PROTOCOL_41
            | caps::SECURE_CONNECTION
            | caps::PLUGIN_AUTH
            | caps::CONNECT_WITH_DB
            | caps::LONG_PASSWORD
            | caps::TRANSACTIONS
            | caps::MULTI_RESULTS;
        let mut p = BytesMut::new();
        p.put_u32_le(capabilities);
        p.put_u32_le(1 << 24);
        p.put_u8(45);
        p.put_bytes(0, 23);
        p.put_slice(b"app\0");
        p.put_u8(20);
        p.put_slice(&[1u8; 20]);
        p.put_slice(b"app\0mysql_native_password\0");
        let r = HandshakeResponse::parse(&p.freeze()).expect("parse");
        assert_eq!(&r.user[..], b"app");
        assert_eq!(r.auth_response.len(), 20);
        assert_eq!(r.database.as_deref(), Some(&b"app"[..]));
        assert_eq!(r.auth_plugin.as_deref(), Some(&b"mysql_native_password"[..]));
        assert!(r.attributes.is_empty());
    }

    #[test]
    fn ssl_request_is_recognised() {
        let r = HandshakeResponse {
            capabilities: caps::PROTOCOL_41,
            max_packet: 1 << 24,
            charset: 45,
            ..Default::default()
        };
        let mut out = BytesMut::new();
        r.encode_ssl_request(&mut out);
        assert_eq!(out.len(), 32);
        assert!(is_ssl_request(&out));
        assert!(!is_ssl_request(&out[..31]));
    }

    #[test]
    fn truncated_inputs_are_errors_not_panics() {
        let g = mariadb_greeting();
        for n in 0..40 {
            let _ = HandshakeV10::parse(&Bytes::copy_from_slice(&g[..n]));
        }
        for n in 0..40 {
            let _ = HandshakeResponse::parse(&Bytes::copy_from_slice(&[0xffu8; 40][..n]));
            let _ = ChangeUser::parse(&Bytes::copy_from_slice(&[0x11u8; 40][..n]), u32::MAX);
        }
        assert!(HandshakeResponse::parse(&Bytes::from_static(&[0, 0, 0, 0])).is_err());
    }

    /// A HandshakeResponse41 for `app` with CONNECT_ATTRS and the attribute block `attrs`.
    fn response_with_attrs(attrs: &[u8]) -> Bytes {
        let mut p = BytesMut::new();
        p.put_u32_le(caps::PROTOCOL_41 | caps::SECURE_CONNECTION | caps::PLUGIN_AUTH | caps::CONNECT_ATTRS);
        p.put_u32_le(1 << 24);
        p.put_u8(45);
        p.put_bytes(0, 23);
        p.put_slice(b"app\0");
        p.put_u8(0);
        p.put_slice(b"mysql_native_password\0");
        put_lenenc(&mut p, attrs.len() as u64);
        p.put_slice(attrs);
        p.freeze()
    }

    #[test]
    fn attribute_count_is_capped() {
        // 60,000 empty pairs (0x00 0x00 each), as the hostile client sent: MAX_ATTRS are kept.
        let r = HandshakeResponse::parse(&response_with_attrs(&vec![0u8; 120_000])).expect("parses");
        assert_eq!(r.attributes.len(), MAX_ATTRS);
        assert_eq!(&r.user[..], b"app");
        // A normal block is kept whole.
        let r =
            HandshakeResponse::parse(&response_with_attrs(b"\x04_pid\x0242\x0c_client_name\x0alibmariadb"))
                .expect("parses");
        assert_eq!(r.attributes.len(), 2);
        assert_eq!(
            (&r.attributes[1].0[..], &r.attributes[1].1[..]),
            (&b"_client_name"[..], &b"libmariadb"[..])
        );
    }

    #[test]
    fn attribute_bytes_are_capped() {
        // Three pairs of 30,000-byte values: the third would pass MAX_ATTRS_BYTES and is dropped.
        let mut block = BytesMut::new();
        for k in [b"a", b"b", b"c"] {
            put_lenenc_bytes(&mut block, k);
            put_lenenc_bytes(&mut block, &vec![b'x'; 30_000]);
        }
        let r = HandshakeResponse::parse(&response_with_attrs(&block)).expect("parses");
        assert_eq!(r.attributes.len(), 2);
        // A value announcing more than the block holds is an error, not an allocation.
        let err =
            HandshakeResponse::parse(&response_with_attrs(b"\x01k\xfe\xff\xff\xff\xff\xff\xff\xff\x7f"));
        assert!(err.is_err());
        // A block announcing more than the packet holds, likewise.
        let mut p = BytesMut::from(&response_with_attrs(b"")[..]);
        p.truncate(p.len() - 1);
        p.put_slice(&[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert!(HandshakeResponse::parse(&p.freeze()).is_err());
    }

    #[test]
    fn change_user_attributes_are_capped() {
        let mut p = BytesMut::new();
        p.put_u8(0x11);
        p.put_slice(b"bob\0");
        p.put_u8(0);
        p.put_slice(b"db1\0");
        p.put_u16_le(45);
        p.put_slice(b"mysql_native_password\0");
        put_lenenc(&mut p, 200_000);
        p.put_bytes(0, 200_000);
        let cu = ChangeUser::parse(&p.freeze(), u32::MAX).expect("parses");
        assert_eq!(cu.attributes.len(), MAX_ATTRS);
    }

    #[test]
    fn auth_switch_round_trips() {
        let a = AuthSwitchRequest {
            plugin: Bytes::from_static(b"mysql_native_password"),
            data: Bytes::from_static(b"abcdefghijklmnopqrst"),
        };
        let mut out = BytesMut::new();
        a.encode(&mut out);
        assert_eq!(AuthSwitchRequest::parse(&out.freeze()).expect("parse"), a);
    }

    #[test]
    fn change_user_parses() {
        let mut p = BytesMut::new();
        p.put_u8(0x11);
        p.put_slice(b"bob\0");
        p.put_u8(20);
        p.put_slice(&[3u8; 20]);
        p.put_slice(b"db1\0");
        p.put_u16_le(45);
        p.put_slice(b"mysql_native_password\0");
        let cu = ChangeUser::parse(&p.freeze(), caps::SECURE_CONNECTION | caps::PLUGIN_AUTH).expect("parse");
        assert_eq!(&cu.user[..], b"bob");
        assert_eq!(&cu.database[..], b"db1");
        assert_eq!(cu.charset, Some(45));
        assert_eq!(cu.auth_plugin.as_deref(), Some(&b"mysql_native_password"[..]));
    }
}
