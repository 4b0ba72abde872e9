//! The client side of authentication toward a MySQL 8 backend (`caching_sha2_password`), against a
//! scripted server speaking the exchanges of the MySQL documentation ("Authentication Method
//! caching_sha2_password": fast path `0x01 0x03`, full auth `0x01 0x04`, the RSA key asked for with
//! `0x02`). The same exchanges against a real MySQL 9.7 are in the integration tests (`proxy/mysql.rs`).

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rsa::pkcs8::EncodePublicKey as _;
use sluice_protocol::auth::{ServerPublicKey, native_scramble, sha2_scramble};
use sluice_protocol::constants::{caps, errors};
use sluice_protocol::handshake::{AuthSwitchRequest, HandshakeResponse, HandshakeV10};
use sluice_protocol::packets::{ErrPacket, OkPacket};
use sluice_protocol::{PacketCodec, write_packet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Decoder;

use super::{BackendConn, ConnectSpec};
use crate::core::error::Error;

const NONCE: &[u8; 20] = b"0123456789abcdefghij";
const SWITCH_NONCE: &[u8; 20] = b"ZYXWVUTSRQPONMLKJIHG";

/// What the scripted server does after reading the handshake response.
enum Script {
    FastPath,
    /// Full authentication; sluice has no key configured, so it asks for the server's.
    FullAuthRequestsKey(Arc<rsa::RsaPrivateKey>),
    /// Full authentication; sluice encrypts with its configured key at once.
    FullAuthConfiguredKey(Arc<rsa::RsaPrivateKey>),
    SwitchToNative,
    Refuse,
}

struct Peer {
    tcp: TcpStream,
    buf: BytesMut,
    codec: PacketCodec,
}

impl Peer {
    async fn send(&mut self, seq: u8, payload: &[u8]) {
        let mut out = BytesMut::new();
        write_packet(&mut out, seq, payload);
        self.tcp.write_all(&out).await.expect("write");
    }

    async fn recv(&mut self) -> (u8, Bytes) {
        loop {
            if let Some(p) = self.codec.decode(&mut self.buf).expect("framing") {
                return (p.seq, p.payload);
            }
            assert!(self.tcp.read_buf(&mut self.buf).await.expect("read") > 0, "client closed");
        }
    }
}

/// A MySQL 8.0 greeting announcing caching_sha2_password.
fn greeting() -> Bytes {
    let mut out = BytesMut::new();
    HandshakeV10 {
        server_version: Bytes::from_static(b"8.0.36"),
        connection_id: 99,
        nonce: Bytes::from_static(NONCE),
        capabilities: 0xdfff_f7ff & !caps::SSL,
        charset: 255,
        status: 2,
        auth_plugin: Bytes::from_static(b"caching_sha2_password"),
    }
    .encode(&mut out);
    out.freeze()
}

async fn serve(listener: TcpListener, script: Script) -> HandshakeResponse {
    let (tcp, _) = listener.accept().await.expect("accept");
    let mut p = Peer { tcp, buf: BytesMut::new(), codec: PacketCodec::default() };
    p.send(0, &greeting()).await;
    let (seq, payload) = p.recv().await;
    assert_eq!(seq, 1);
    let resp = HandshakeResponse::parse(&payload).expect("handshake response");
    let ok = OkPacket { status: 2, ..OkPacket::default() }.to_bytes(resp.capabilities);
    match script {
        Script::FastPath => {
            assert_eq!(resp.auth_plugin.as_deref(), Some(&b"caching_sha2_password"[..]));
            assert_eq!(&resp.auth_response[..], &sha2_scramble(NONCE, b"secret")[..]);
            p.send(2, &[0x01, 0x03]).await;
            p.send(3, &ok).await;
        }
        Script::FullAuthRequestsKey(key) => {
            p.send(2, &[0x01, 0x04]).await;
            assert_eq!(p.recv().await, (3, Bytes::from_static(&[0x02])), "the public key request");
            let mut pem = vec![0x01];
            pem.extend_from_slice(public_pem(&key).as_bytes());
            p.send(4, &pem).await;
            let (seq, enc) = p.recv().await;
            assert_eq!(seq, 5);
            assert_eq!(decrypt(&key, &enc), b"secret\0");
            p.send(6, &ok).await;
        }
        Script::FullAuthConfiguredKey(key) => {
            p.send(2, &[0x01, 0x04]).await;
            let (seq, enc) = p.recv().await;
            assert_eq!(seq, 3, "the encrypted password at once, no key request");
            assert_eq!(decrypt(&key, &enc), b"secret\0");
            p.send(4, &ok).await;
        }
        Script::SwitchToNative => {
            let mut out = BytesMut::new();
            AuthSwitchRequest {
                plugin: Bytes::from_static(b"mysql_native_password"),
                data: Bytes::from_static(SWITCH_NONCE),
            }
            .encode(&mut out);
            p.send(2, &out).await;
            let (seq, data) = p.recv().await;
            assert_eq!(seq, 3);
            assert_eq!(&data[..], &native_scramble(SWITCH_NONCE, b"secret")[..]);
            p.send(4, &ok).await;
        }
        Script::Refuse => {
            let e = ErrPacket::new(
                errors::ACCESS_DENIED,
                "Access denied for user 'app'@'localhost' (using password: YES)",
            );
            p.send(2, &e.to_bytes()).await;
        }
    }
    resp
}

/// A small key pair for the scripted server (1024 bits keeps key generation fast in a debug build).
fn key_pair() -> Arc<rsa::RsaPrivateKey> {
    Arc::new(rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).expect("RSA key"))
}

fn public_pem(key: &rsa::RsaPrivateKey) -> String {
    key.to_public_key().to_public_key_pem(rsa::pkcs8::LineEnding::LF).expect("PEM")
}

/// What the server does with the full-authentication answer: RSA-OAEP (SHA-1) decrypt, XOR the nonce.
fn decrypt(key: &rsa::RsaPrivateKey, enc: &[u8]) -> Vec<u8> {
    let plain = key.decrypt(rsa::Oaep::new::<sha1::Sha1>(), enc).expect("RSA-OAEP decrypt");
    plain.iter().zip(NONCE.iter().cycle()).map(|(b, n)| b ^ n).collect()
}

async fn run(script: Script) -> (Result<BackendConn, Error>, HandshakeResponse) {
    run_with_key(script, None).await
}

async fn run_with_key(
    script: Script,
    server_public_key: Option<Arc<ServerPublicKey>>,
) -> (Result<BackendConn, Error>, HandshakeResponse) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("addr").to_string();
    let server = tokio::spawn(serve(listener, script));
    let spec = ConnectSpec {
        label: format!("test/primary {address}"),
        address,
        user: "app".into(),
        password: "secret".into(),
        found_rows: false,
        charset: 45,
        tls: None,
        server_public_key,
        connect_timeout: Duration::from_secs(5),
        max_packet: 1 << 24,
    };
    let r = BackendConn::connect(&spec).await;
    (r, server.await.expect("server script"))
}

#[tokio::test]
async fn caching_sha2_fast_path() {
    let (r, resp) = run(Script::FastPath).await;
    let conn = r.expect("fast path logs in");
    assert_eq!(&conn.server_version[..], b"8.0.36");
    assert_eq!(conn.thread_id, 99);
    // sluice's fixed backend capability set, intersected with the server's.
    assert_ne!(resp.capabilities & caps::DEPRECATE_EOF, 0);
    assert_ne!(resp.capabilities & caps::SESSION_TRACK, 0);
    assert_eq!(resp.capabilities & caps::QUERY_ATTRIBUTES, 0);
    assert_eq!(resp.capabilities & caps::FOUND_ROWS, 0);
}

#[tokio::test]
async fn caching_sha2_full_auth_without_tls_asks_for_the_rsa_key() {
    let (r, _) = run(Script::FullAuthRequestsKey(key_pair())).await;
    r.expect("full authentication with the server's RSA key logs in");
}

#[tokio::test]
async fn caching_sha2_full_auth_without_tls_uses_the_configured_key() {
    let key = key_pair();
    let configured = ServerPublicKey::from_pem(public_pem(&key).as_bytes()).expect("parse");
    let (r, _) = run_with_key(Script::FullAuthConfiguredKey(key), Some(Arc::new(configured))).await;
    r.expect("full authentication with the configured RSA key logs in");
}

#[tokio::test]
async fn auth_switch_to_native() {
    let (r, _) = run(Script::SwitchToNative).await;
    r.expect("switch to mysql_native_password logs in");
}

#[tokio::test]
async fn backend_refusal_is_passed_on() {
    let (r, _) = run(Script::Refuse).await;
    match r.err() {
        Some(Error::BackendRefused { err, .. }) => assert_eq!(err.code, 1045),
        other => panic!("{other:?}"),
    }
}

/// The SIGNAL that puts a refusal back in a diagnostics area says what the server said: quotes
/// doubled, backslashes doubled unless the mode reads them literally.
#[test]
fn signal_statement_quotes_the_message_for_the_mode() {
    let err = ErrPacket::new((1792, "25006"), "Can't run it: a\\b.");
    assert_eq!(
        super::signal_statement(&err, false),
        "SIGNAL SQLSTATE '25006' SET MYSQL_ERRNO = 1792, MESSAGE_TEXT = 'Can''t run it: a\\\\b.'"
    );
    assert_eq!(
        super::signal_statement(&err, true),
        "SIGNAL SQLSTATE '25006' SET MYSQL_ERRNO = 1792, MESSAGE_TEXT = 'Can''t run it: a\\b.'"
    );
    // SIGNAL takes 128 characters at most.
    let long = ErrPacket::new((1064, "42000"), "é".repeat(200));
    assert!(super::signal_statement(&long, true).ends_with(&format!("'{}'", "é".repeat(128))));
}
