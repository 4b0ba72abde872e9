//! A bare MySQL client on `sluice_protocol` for byte-level tests: it sends exactly what a test says,
//! including what no driver would send (wrong sequence ids, unknown commands, no DEPRECATE_EOF).

use bytes::{Bytes, BytesMut};
use sluice_protocol::auth::sha2_scramble;
use sluice_protocol::constants::caps;
use sluice_protocol::handshake::{HandshakeResponse, HandshakeV10};
use sluice_protocol::{Packet, PacketCodec, write_packet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;

/// A raw connection.
pub struct Raw {
    pub tcp: TcpStream,
    buf: BytesMut,
    codec: PacketCodec,
}

/// Capabilities of a minimal 4.1 client without DEPRECATE_EOF, SESSION_TRACK, MULTI_STATEMENTS or LOCAL_FILES.
pub const CLASSIC: u32 = caps::LONG_PASSWORD
    | caps::PROTOCOL_41
    | caps::SECURE_CONNECTION
    | caps::PLUGIN_AUTH
    | caps::TRANSACTIONS
    | caps::MULTI_RESULTS
    | caps::CONNECT_WITH_DB;

impl Raw {
    /// Connects without logging in; returns the greeting too.
    pub async fn open(addr: std::net::SocketAddr) -> (Self, Packet) {
        let tcp = TcpStream::connect(addr).await.expect("tcp");
        let mut r = Self { tcp, buf: BytesMut::new(), codec: PacketCodec::default() };
        let g = r.read().await.expect("greeting");
        (r, g)
    }

    /// Connects and logs in as `user`/`password` (caching_sha2 fast path) with `capabilities`.
    pub async fn login(
        addr: std::net::SocketAddr,
        user: &str,
        password: &str,
        db: &str,
        capabilities: u32,
    ) -> Self {
        Self::login_with_attributes(addr, user, password, db, capabilities, vec![]).await
    }

    /// [`Raw::login`] sending connection `attributes` (with CONNECT_ATTRS in `capabilities`).
    pub async fn login_with_attributes(
        addr: std::net::SocketAddr,
        user: &str,
        password: &str,
        db: &str,
        capabilities: u32,
        attributes: Vec<(Bytes, Bytes)>,
    ) -> Self {
        Self::handshake(addr, user, password, db, capabilities, 45, attributes).await
    }

    /// [`Raw::login`] with collation `charset` (drivers pick theirs).
    pub async fn login_with_charset(
        addr: std::net::SocketAddr,
        user: &str,
        password: &str,
        db: &str,
        capabilities: u32,
        charset: u8,
    ) -> Self {
        Self::handshake(addr, user, password, db, capabilities, charset, vec![]).await
    }

    async fn handshake(
        addr: std::net::SocketAddr,
        user: &str,
        password: &str,
        db: &str,
        capabilities: u32,
        charset: u8,
        attributes: Vec<(Bytes, Bytes)>,
    ) -> Self {
        let (mut r, g) = Self::open(addr).await;
        let hs = HandshakeV10::parse(&g.payload).expect("greeting parses");
        let resp = HandshakeResponse {
            capabilities,
            max_packet: 1 << 24,
            charset,
            user: Bytes::from(user.to_owned()),
            auth_response: Bytes::from(sha2_scramble(&hs.nonce, password.as_bytes())),
            database: Some(Bytes::from(db.to_owned())),
            auth_plugin: Some(Bytes::from_static(b"caching_sha2_password")),
            attributes,
        };
        let mut out = BytesMut::new();
        resp.encode(&mut out);
        r.send(1, &out).await;
        loop {
            let p = r.read().await.expect("auth reply");
            match p.payload[0] {
                0x00 => return r,
                0x01 => continue,
                _ => panic!("login (collation {charset}) failed: {:?}", String::from_utf8_lossy(&p.payload)),
            }
        }
    }

    /// Sends one packet.
    pub async fn send(&mut self, seq: u8, payload: &[u8]) {
        let mut out = BytesMut::new();
        write_packet(&mut out, seq, payload);
        self.tcp.write_all(&out).await.expect("write");
    }

    /// Reads one packet; `None` when the server closed the connection.
    pub async fn read(&mut self) -> Option<Packet> {
        loop {
            if let Some(p) = self.codec.decode(&mut self.buf).expect("valid framing from sluice") {
                return Some(p);
            }
            let n =
                tokio::time::timeout(std::time::Duration::from_secs(20), self.tcp.read_buf(&mut self.buf))
                    .await
                    .expect("sluice answered in time")
                    .ok()?;
            if n == 0 {
                return None;
            }
        }
    }

    /// Sends a command and reads packets until the first packet for which `done` says stop.
    pub async fn command(&mut self, payload: &[u8], mut done: impl FnMut(&Packet) -> bool) -> Vec<Packet> {
        self.send(0, payload).await;
        let mut out = Vec::new();
        while let Some(p) = self.read().await {
            let d = done(&p);
            out.push(p);
            if d {
                break;
            }
        }
        out
    }
}

/// ERR code of a packet, if it is an ERR.
pub fn err_code(p: &Packet) -> Option<u16> {
    (p.payload.first() == Some(&0xFF)).then(|| u16::from_le_bytes([p.payload[1], p.payload[2]]))
}
