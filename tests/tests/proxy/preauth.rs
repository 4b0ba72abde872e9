//! What a peer that has not logged in can make sluice hold: packets before login are capped at 64 KiB
//! (ERR 1153), connection attributes are truncated, connections in the handshake are limited per
//! source address (ERR 1040), the admin port has a connection cap and a handshake timeout. The figure
//! tests print RSS before and after 1,000 hostile handshakes and per idle pre-auth connection.

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use mysql_async::Conn;
use mysql_async::prelude::*;
use sluice_protocol::Packet;
use sluice_protocol::buf::put_lenenc;
use sluice_protocol::constants::caps;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::limits::rss_bytes;
use super::raw::{CLASSIC, Raw, err_code};
use super::{connect, setup};

/// An ERR packet's (code, SQLSTATE, message).
fn err_parts(p: &Packet) -> (u16, String, String) {
    let code = err_code(p).unwrap_or_else(|| panic!("not an ERR: {:?}", String::from_utf8_lossy(&p.payload)));
    let state = String::from_utf8_lossy(&p.payload[4..9]).into_owned();
    let msg = String::from_utf8_lossy(&p.payload[9..]).into_owned();
    (code, state, msg)
}

/// `/metrics`' refusal count for `reason`.
async fn refused(p: &sluice_tests::Proxy, reason: &str) -> u64 {
    let (_, metrics) = super::ops::http_get(p.http_addr().expect("http"), "/metrics").await;
    let prefix = format!("sluice_client_connections_refused_total{{reason=\"{reason}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// A handshake response payload of about `size` bytes for user `nobody`: CONNECT_ATTRS with a block
/// of empty pairs (2 bytes each) filling the rest, as the hostile client sent.
fn attribute_flood(size: usize) -> Vec<u8> {
    let mut p = BytesMut::new();
    p.put_u32_le(CLASSIC | caps::CONNECT_ATTRS);
    p.put_u32_le(1 << 24);
    p.put_u8(45);
    p.put_bytes(0, 23);
    p.put_slice(b"nobody\0");
    p.put_u8(0);
    p.put_slice(b"\0caching_sha2_password\0");
    let block = size.saturating_sub(p.len() + 4) & !1;
    put_lenenc(&mut p, block as u64);
    p.put_bytes(0, block);
    p.to_vec()
}

/// Reads one packet from a plain socket within 10 s; `None` when closed (or reset).
async fn read_packet(s: &mut TcpStream) -> Option<Packet> {
    let mut head = [0u8; 4];
    let read = async {
        s.read_exact(&mut head).await.ok()?;
        let len = usize::from(head[0]) | usize::from(head[1]) << 8 | usize::from(head[2]) << 16;
        let mut payload = vec![0u8; len];
        s.read_exact(&mut payload).await.ok()?;
        Some(Packet { seq: head[3], next_seq: head[3].wrapping_add(1), payload: Bytes::from(payload) })
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.expect("sluice answered in time")
}

/// A handshake response announcing 16 MiB gets ERR 1153 (08S01) naming the 64 KiB limit as soon as
/// its header arrives; the connection closes; others carry on.
#[tokio::test]
async fn handshake_response_over_64_kib_is_1153() {
    let (topo, schema) = setup("preauth_big").await;
    let p = super::proxy(topo).await;
    let mut other = connect(&p, "app", "app", &schema).await;
    let (mut r, _greeting) = Raw::open(p.addr()).await;
    // 16 MiB − 1 announced, 1 KiB of it sent.
    let mut out = vec![0xff, 0xff, 0xff, 0x01];
    out.extend_from_slice(&attribute_flood(1024));
    r.tcp.write_all(&out).await.expect("write");
    let e = r.read().await.expect("an ERR before the close");
    let (code, state, msg) = err_parts(&e);
    println!("ERR {code} ({state}) seq {}: {msg}", e.seq);
    assert_eq!((code, state.as_str()), (1153, "08S01"));
    assert!(msg.contains("65536"), "{msg}");
    assert_eq!(e.seq, 2, "the ERR answers the response (seq 1)");
    assert!(r.read().await.is_none(), "closed after the ERR");
    // Just over the limit, fully sent: the same.
    let (mut r, _) = Raw::open(p.addr()).await;
    let mut out = BytesMut::new();
    sluice_protocol::write_packet(&mut out, 1, &attribute_flood(64 * 1024 + 64));
    // sluice may refuse (and close) before all of it is written.
    let _ = r.tcp.write_all(&out).await;
    let (code, _, _) = err_parts(&r.read().await.expect("ERR"));
    assert_eq!(code, 1153);
    let one: Option<i32> = other.query_first("SELECT 1").await.expect("other sessions carry on");
    assert_eq!(one, Some(1));
    // After login the configured max_packet_bytes (64 MiB) applies, not the pre-auth cap.
    let big = format!("SELECT LENGTH('{}')", "x".repeat(100 << 10));
    let n: Option<u64> = other.query_first(big).await.expect("a 100 KiB statement after login");
    assert_eq!(n, Some(100 << 10));
}

/// A client with more attributes than sluice keeps still logs in (they are truncated, not refused).
#[tokio::test]
async fn many_attributes_are_truncated_and_login_works() {
    let (topo, schema) = setup("preauth_attrs").await;
    let p = super::proxy(topo).await;
    let attributes =
        (0..1000).map(|i| (Bytes::from(format!("attr{i}")), Bytes::from_static(b"value"))).collect();
    let caps = CLASSIC | caps::CONNECT_ATTRS | caps::DEPRECATE_EOF;
    let mut r = Raw::login_with_attributes(p.addr(), "app", "app", &schema, caps, attributes).await;
    let rows = r.command(b"\x03SELECT 1", |p| p.payload[0] == 0xFE && p.payload.len() < 9);
    assert!(rows.await.iter().all(|p| err_code(p).is_none()));
}

/// `[server] max_handshakes_per_ip` (64 here; the default is 1024): the 65th connection from one
/// address still in the handshake gets ERR 1040 naming the setting; a connection that logged in no
/// longer counts.
#[tokio::test]
async fn handshakes_per_ip_are_limited_until_login() {
    let (topo, schema) = setup("preauth_per_ip").await;
    let mut cfg = topo.sluice_config();
    assert_eq!(cfg.server.max_handshakes_per_ip, 1024, "the default");
    cfg.server.max_handshakes_per_ip = 64;
    let p = sluice_tests::start_proxy(cfg).await;
    let mut idle = Vec::new();
    for _ in 0..64 {
        idle.push(Raw::open(p.addr()).await.0);
    }
    let mut s = TcpStream::connect(p.addr()).await.expect("tcp");
    let e = read_packet(&mut s).await.expect("an ERR instead of a greeting");
    let (code, state, msg) = err_parts(&e);
    println!("65th: ERR {code} ({state}): {msg}");
    assert_eq!((code, state.as_str()), (1040, "08004"));
    assert!(msg.contains("max_handshakes_per_ip"), "{msg}");
    assert_eq!(refused(&p, "max_handshakes_per_ip").await, 1);
    // One idle connection gone: room for one login, which then stops counting.
    drop(idle.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut c = loop {
        match Conn::new(p.opts("app", "app").db_name(Some(schema.clone()))).await {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                println!("retrying while the closed one is noticed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("login after a slot came back: {e}"),
        }
    };
    idle.push(Raw::open(p.addr()).await.0);
    let mut s = TcpStream::connect(p.addr()).await.expect("tcp");
    let (code, _, _) = err_parts(&read_packet(&mut s).await.expect("ERR"));
    assert_eq!(code, 1040, "64 in the handshake again");
    let one: Option<i32> = c.query_first("SELECT 1").await.expect("the logged-in session works");
    assert_eq!(one, Some(1));
}

/// The admin port: `[admin] max_connections` (ERR 1040 naming it) and `[server] handshake_timeout_ms`.
#[tokio::test]
async fn admin_port_has_a_connection_cap_and_a_handshake_timeout() {
    let (topo, _schema) = setup("preauth_admin").await;
    let mut cfg = topo.sluice_config();
    cfg.admin.max_connections = 2;
    cfg.server.handshake_timeout_ms = 1000;
    let p = sluice_tests::start_proxy(cfg).await;
    let admin = p.admin_addr().expect("admin listener");
    let (mut a, _) = Raw::open(admin).await;
    let (mut b, _) = Raw::open(admin).await;
    let mut s = TcpStream::connect(admin).await.expect("tcp");
    let (code, state, msg) = err_parts(&read_packet(&mut s).await.expect("ERR"));
    println!("3rd admin connection: ERR {code} ({state}): {msg}");
    assert_eq!((code, state.as_str()), (1040, "08004"));
    assert!(msg.contains("[admin] max_connections"), "{msg}");
    // Idle in the handshake: closed after handshake_timeout_ms.
    let started = Instant::now();
    assert!(a.read().await.is_none() && b.read().await.is_none(), "closed by the timeout");
    let waited = started.elapsed();
    println!("idle admin handshakes closed after {waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    // Their slots are back.
    let mut c = super::admin(&p).await;
    let rows: Vec<mysql_async::Row> = c.query("SHOW POOLS").await.expect("admin works");
    drop(rows);
}

/// Figures: RSS before and after 1,000 hostile handshakes (each announcing 16 MiB, or a 64 KiB
/// response of empty attributes), and per idle pre-auth connection.
#[tokio::test]
async fn hostile_handshakes_do_not_grow_memory() {
    let (topo, schema) = setup("preauth_rss").await;
    let mut cfg = topo.sluice_config();
    // Measuring memory, not the per-address limit (all come from 127.0.0.1).
    cfg.server.max_handshakes_per_ip = 0;
    let p = sluice_tests::start_proxy(cfg).await;
    let addr = p.addr();
    // Warm up: one login, so pools and tasks exist before the baseline.
    let mut c = connect(&p, "app", "app", &schema).await;
    let base = rss_bytes();

    // 1. 1,000 × a header announcing 16 MiB − 1, followed by 64 KiB of attribute bytes, 50 at a time.
    let mut peak = base;
    let mut worst = std::time::Duration::ZERO;
    for _ in 0..20 {
        let mut wave = Vec::new();
        for _ in 0..50 {
            wave.push(tokio::spawn(async move {
                let mut s = TcpStream::connect(addr).await.expect("tcp");
                read_packet(&mut s).await.expect("greeting");
                let mut out = vec![0xff, 0xff, 0xff, 0x01];
                out.extend_from_slice(&attribute_flood(64 * 1024));
                // sluice refuses at the header and closes: the rest of the write may be reset.
                let _ = s.write_all(&out).await;
                read_packet(&mut s).await.map(|e| err_code(&e))
            }));
        }
        // A logged-in session while the wave is in flight.
        let t = std::time::Instant::now();
        let one: Option<i64> = c.query_first("SELECT 1").await.expect("a session during the attack");
        assert_eq!(one, Some(1));
        worst = worst.max(t.elapsed());
        for t in wave {
            let got = t.await.expect("task");
            assert!(matches!(got, None | Some(Some(1153))), "{got:?}");
        }
        peak = peak.max(rss_bytes());
    }
    println!("a logged-in session during the 16 MiB handshake waves: slowest SELECT 1 {worst:?}");
    let after_big = rss_bytes();
    println!(
        "1000 handshakes announcing 16 MiB: RSS {} MB before, {} MB after, peak {} MB (+{} KB)",
        base >> 20,
        after_big >> 20,
        peak >> 20,
        peak.saturating_sub(base) >> 10
    );
    assert!(peak.saturating_sub(base) < 64 << 20, "grew {} MB", peak.saturating_sub(base) >> 20);

    // 2. 1,000 × a complete response just under 64 KiB, all empty attributes (parsed and truncated
    //    to 256, then access denied).
    let payload = attribute_flood(64 * 1024 - 64);
    let mut out = BytesMut::new();
    sluice_protocol::write_packet(&mut out, 1, &payload);
    let out = out.freeze();
    let mut peak2 = rss_bytes();
    for _ in 0..20 {
        let mut wave = Vec::new();
        for _ in 0..50 {
            let out = out.clone();
            wave.push(tokio::spawn(async move {
                let mut s = TcpStream::connect(addr).await.expect("tcp");
                read_packet(&mut s).await.expect("greeting");
                s.write_all(&out).await.expect("write");
                read_packet(&mut s).await.and_then(|e| err_code(&e))
            }));
        }
        for t in wave {
            assert_eq!(t.await.expect("task"), Some(1045), "access denied for nobody");
        }
        peak2 = peak2.max(rss_bytes());
    }
    let after_attrs = rss_bytes();
    println!(
        "1000 handshakes of 64 KiB empty attributes: RSS {} MB after, peak {} MB (+{} KB over the start)",
        after_attrs >> 20,
        peak2 >> 20,
        peak2.saturating_sub(base) >> 10
    );
    assert!(peak2.saturating_sub(base) < 64 << 20, "grew {} MB", peak2.saturating_sub(base) >> 20);

    // 3. 1,000 idle connections that never answer the greeting.
    let before_idle = rss_bytes();
    let mut idle = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let mut s = TcpStream::connect(addr).await.expect("tcp");
        read_packet(&mut s).await.expect("greeting");
        idle.push(s);
    }
    let with_idle = rss_bytes();
    let per = with_idle.saturating_sub(before_idle) / 1000;
    println!(
        "1000 idle pre-auth connections: RSS {} MB -> {} MB, {} bytes per connection (sluice + this test's client side)",
        before_idle >> 20,
        with_idle >> 20,
        per
    );
    assert!(per < 64 << 10, "{per} bytes per idle connection");
    drop(idle);
    let one: Option<i32> = c.query_first("SELECT 1").await.expect("the logged-in session carried on");
    assert_eq!(one, Some(1));
}
