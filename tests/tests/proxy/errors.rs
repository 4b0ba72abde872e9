//! Error paths: every bad input gets the right ERR code and SQLSTATE, and other sessions carry on.

use mysql_async::prelude::*;
use mysql_async::{Conn, Error as MyError};

use super::raw::{CLASSIC, Raw, err_code};
use super::{connect, proxy, setup};

fn server_error(e: &MyError) -> (u16, String) {
    match e {
        MyError::Server(s) => (s.code, s.state.clone()),
        other => panic!("expected a server error, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_password_is_1045() {
    let (topo, schema) = setup("badpw").await;
    let p = proxy(topo).await;
    for user in ["app", "nobody"] {
        let e = Conn::new(p.opts(user, "wrong").db_name(Some(&schema))).await.expect_err("must fail");
        assert_eq!(server_error(&e), (1045, "28000".into()), "{user}");
    }
}

#[tokio::test]
async fn over_connection_cap_is_1040() {
    let (topo, schema) = setup("cap").await;
    let mut cfg = topo.sluice_config();
    cfg.server.max_client_connections = 2;
    let p = sluice_tests::start_proxy(cfg).await;
    let a = connect(&p, "app", "app", &schema).await;
    let mut b = connect(&p, "app", "app", &schema).await;
    let e = Conn::new(p.opts("app", "app").db_name(Some(&schema))).await.expect_err("over cap");
    assert_eq!(server_error(&e).0, 1040);
    drop(a);
    b.ping().await.expect("existing session unaffected");
    let (_, metrics) = super::ops::http_get(p.http_addr().expect("http"), "/metrics").await;
    let line = "sluice_client_connections_refused_total{reason=\"max_client_connections\"} 1";
    assert!(metrics.lines().any(|l| l == line), "{metrics}");
}

#[tokio::test]
async fn unknown_command_is_1047_and_session_continues() {
    let (topo, schema) = setup("unkcmd").await;
    let p = proxy(topo).await;
    let mut r = Raw::login(p.addr(), "app", "app", &schema, CLASSIC).await;
    let resp = r.command(&[0x0a], |_| true).await;
    assert_eq!(err_code(&resp[0]), Some(1047));
    assert_eq!(&resp[0].payload[3..9], b"#08S01");
    let resp = r.command(&[0x0e], |_| true).await;
    assert_eq!(resp[0].payload[0], 0x00, "COM_PING after an unknown command");
}

#[tokio::test]
async fn out_of_order_packet_closes_only_that_session() {
    let (topo, schema) = setup("order").await;
    let p = proxy(topo).await;
    let mut other = connect(&p, "app", "app", &schema).await;
    let mut r = Raw::login(p.addr(), "app", "app", &schema, CLASSIC).await;
    r.send(7, b"\x03SELECT 1").await;
    let e = r.read().await.expect("an ERR before closing");
    assert_eq!(err_code(&e), Some(1156));
    assert!(r.read().await.is_none(), "session must close");
    // A truncated handshake response on a fresh connection: ERR, close.
    let (mut bad, _) = Raw::open(p.addr()).await;
    bad.send(1, &[0x05, 0x00]).await;
    let e = bad.read().await.expect("ERR");
    assert!(err_code(&e).is_some());
    let one: Option<i32> = other.query_first("SELECT 1").await.expect("other session fine");
    assert_eq!(one, Some(1));
}

#[tokio::test]
async fn multi_statements_refused_without_the_capability() {
    let (topo, schema) = setup("nomulti").await;
    let p = proxy(topo).await;
    let mut r = Raw::login(p.addr(), "app", "app", &schema, CLASSIC).await;
    let resp = r.command(b"\x03SELECT 1; SELECT 2", |_| true).await;
    assert_eq!(err_code(&resp[0]), Some(1064));
    // COM_SET_OPTION turns them on for this session.
    let resp = r.command(&[0x1b, 0, 0], |_| true).await;
    assert_eq!(resp[0].payload[0], 0xFE, "EOF for a client without DEPRECATE_EOF");
    let mut eofs = 0;
    let resp = r
        .command(b"\x03SELECT 1; SELECT 2", |p| {
            eofs += usize::from(p.payload.len() == 5 && p.payload[0] == 0xFE);
            eofs == 4
        })
        .await;
    assert_eq!(resp.iter().filter(|p| p.payload[0] == 0xFE).count(), 4, "two result sets, classic EOFs");
}

#[tokio::test]
async fn classic_eof_translation_for_old_clients() {
    let (topo, schema) = setup("classic").await;
    let p = proxy(topo).await;
    let mut r = Raw::login(p.addr(), "app", "app", &schema, CLASSIC).await;
    let resp = r.command(b"\x03SELECT 1 AS a, 'x' AS b", |p| p.payload[0] == 0xFE && p.seq > 4).await;
    let shape: Vec<u8> = resp.iter().map(|p| p.payload[0]).collect();
    // column count, 2 definitions, EOF, one row, EOF; sequence ids 1..=6.
    assert_eq!(resp.len(), 6, "{shape:?}");
    assert_eq!(resp[3].payload.len(), 5);
    assert_eq!(resp[5].payload.len(), 5);
    assert_eq!(resp.iter().map(|p| p.seq).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5, 6]);
    // An OK without session-state data for a client without SESSION_TRACK.
    let resp = r.command(b"\x03USE information_schema", |_| true).await;
    assert_eq!(resp[0].payload[0], 0x00);
    let status = u16::from_le_bytes([resp[0].payload[3], resp[0].payload[4]]);
    assert_eq!(status & 0x4000, 0, "SESSION_STATE_CHANGED leaked to a client that did not ask");
}

#[tokio::test]
async fn local_infile_refused_without_the_capability() {
    let (topo, schema) = setup("infile").await;
    let p = proxy(topo).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    c.query_drop("CREATE TABLE f (a INT)").await.expect("create");
    let mut r = Raw::login(p.addr(), "app", "app", &schema, CLASSIC).await;
    let resp = r.command(b"\x03LOAD DATA LOCAL INFILE '/etc/hostname' INTO TABLE f", |_| true).await;
    assert_eq!(err_code(&resp[0]), Some(1148));
    let resp = r.command(&[0x0e], |_| true).await;
    assert_eq!(resp[0].payload[0], 0x00, "session still usable");
}

#[tokio::test]
async fn unreachable_primary_gives_a_clear_error_quickly() {
    let (topo, schema) = setup("unreach").await;
    let mut cfg = topo.sluice_config();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_addr = dead.local_addr().expect("addr");
    drop(dead);
    cfg.groups[0].members[0].address = dead_addr.to_string();
    cfg.backend.connect_timeout_ms = 1000;
    let p = sluice_tests::start_proxy(cfg).await;
    let started = std::time::Instant::now();
    let e = Conn::new(p.opts("app", "app").db_name(Some(&schema))).await.expect_err("no backend");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let msg = e.to_string();
    assert!(msg.contains(&dead_addr.to_string()), "message must name the backend: {msg}");
}

#[tokio::test]
async fn backend_errors_pass_through_verbatim() {
    let (topo, schema) = setup("dup").await;
    let p = proxy(topo).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    c.query_drop("CREATE TABLE d (id INT PRIMARY KEY)").await.expect("create");
    c.query_drop("INSERT INTO d VALUES (1)").await.expect("insert");
    let e = c.query_drop("INSERT INTO d VALUES (1)").await.expect_err("duplicate");
    match &e {
        MyError::Server(s) => {
            assert_eq!((s.code, s.state.as_str()), (1062, "23000"));
            assert!(s.message.contains("Duplicate entry '1'"), "{}", s.message);
        }
        other => panic!("{other:?}"),
    }
    let e = c.query_drop("SELEC oops").await.expect_err("syntax");
    assert_eq!(server_error(&e).0, 1064);
    let e = Conn::new(p.opts("app", "app").db_name(Some("no_such_db_xyz"))).await.expect_err("bad db");
    assert_eq!(server_error(&e).0, 1049);
}

#[tokio::test]
async fn field_list_and_statistics_for_classic_clients() {
    let (topo, schema) = setup("fieldlist").await;
    let p = proxy(topo).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    c.query_drop("CREATE TABLE fl (a INT, b VARCHAR(3))").await.expect("create");
    let mut r = Raw::login(p.addr(), "app", "app", &schema, CLASSIC).await;
    // COM_FIELD_LIST: two definitions, then a classic EOF (the backend sent an OK-terminator).
    let resp = r.command(b"\x04fl\x00", |p| p.payload[0] == 0xFE || p.payload[0] == 0xFF).await;
    assert_eq!(resp.len(), 3, "{:?}", resp.iter().map(|p| p.payload[0]).collect::<Vec<_>>());
    assert_eq!(resp[2].payload.len(), 5);
    // COM_STATISTICS: one plain string.
    let resp = r.command(&[0x09], |_| true).await;
    assert!(String::from_utf8_lossy(&resp[0].payload).starts_with("Uptime:"));
}

#[tokio::test]
async fn graceful_shutdown_lets_statements_finish() {
    let (topo, schema) = setup("shutdown").await;
    let p = proxy(topo).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    let slow = tokio::spawn(async move {
        let v: Option<i64> = c.query_first("SELECT SLEEP(1)").await.expect("statement in flight finishes");
        (v, c)
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let addr = p.addr();
    p.shutdown().await;
    let (v, mut c) = slow.await.expect("join");
    assert_eq!(v, Some(0));
    assert!(c.ping().await.is_err(), "session closes after its statement");
    assert!(Conn::new(sluice_tests::direct_opts(addr, "app", "app")).await.is_err(), "no longer accepting");
}

/// The binary protocol's rarer commands, byte by byte, for a classic (no DEPRECATE_EOF) client.
#[tokio::test]
async fn long_data_and_cursor_fetch_for_classic_clients() {
    let (topo, schema) = setup("longdata").await;
    let p = proxy(topo).await;
    let mut r = Raw::login(p.addr(), "app", "app", &schema, CLASSIC).await;
    let is_eof = |p: &sluice_protocol::Packet| p.payload.len() == 5 && p.payload[0] == 0xFE;
    // COM_STMT_PREPARE: OK, 1 param def, EOF, 1 column def, EOF.
    let mut eofs = 0;
    let resp = r
        .command(b"\x16SELECT LENGTH(?)", |p| {
            eofs += usize::from(is_eof(p));
            eofs == 2 || p.payload[0] == 0xFF
        })
        .await;
    assert_eq!(resp.len(), 5, "{:?}", resp.iter().map(|p| p.payload[0]).collect::<Vec<_>>());
    let id = <[u8; 4]>::try_from(&resp[0].payload[1..5]).expect("stmt id");
    // COM_STMT_SEND_LONG_DATA twice (no response), then COM_STMT_EXECUTE with the parameter bound as BLOB.
    for chunk in [&[b'a'; 70_000][..], &[b'b'; 30_000][..]] {
        let mut cmd = vec![0x18];
        cmd.extend_from_slice(&id);
        cmd.extend_from_slice(&[0, 0]);
        cmd.extend_from_slice(chunk);
        r.send(0, &cmd).await;
    }
    let mut exec = vec![0x17];
    exec.extend_from_slice(&id);
    exec.extend_from_slice(&[0x00, 1, 0, 0, 0, 0x00, 0x01, 0xfc, 0x00]);
    let mut eofs = 0;
    let resp = r
        .command(&exec, |p| {
            eofs += usize::from(is_eof(p));
            eofs == 2 || p.payload[0] == 0xFF
        })
        .await;
    assert_eq!(resp.len(), 5, "column count, definition, EOF, row, EOF");
    // Binary row: header 0x00, null bitmap, LENGTH(): 100000 as the column's integer type says (MariaDB
    // types it INT, 4 bytes; MySQL BIGINT, 8 bytes).
    let value = match column_type(&resp[1].payload) {
        0x03 => 100_000u32.to_le_bytes().to_vec(),
        0x08 => 100_000u64.to_le_bytes().to_vec(),
        other => panic!("LENGTH() typed {other:#04x}"),
    };
    assert_eq!(&resp[3].payload[2..], &value[..]);
    // A read-only cursor: EXECUTE returns metadata ending in an EOF with CURSOR_EXISTS, rows come by FETCH.
    let prepare = format!("\x16SELECT seq FROM {}", super::seq_1_to(5));
    let resp = r.command(prepare.as_bytes(), |p| is_eof(p) || p.payload[0] == 0xFF).await;
    let id = <[u8; 4]>::try_from(&resp[0].payload[1..5]).expect("stmt id");
    let mut exec = vec![0x17];
    exec.extend_from_slice(&id);
    exec.extend_from_slice(&[0x01, 1, 0, 0, 0]);
    let resp = r.command(&exec, |p| is_eof(p) || p.payload[0] == 0xFF).await;
    assert_eq!(resp.len(), 3, "{:?}", resp.iter().map(|p| p.payload.to_vec()).collect::<Vec<_>>());
    let status = u16::from_le_bytes([resp[2].payload[3], resp[2].payload[4]]);
    assert_ne!(status & 0x40, 0, "CURSOR_EXISTS");
    let mut fetch = vec![0x1c];
    fetch.extend_from_slice(&id);
    fetch.extend_from_slice(&10u32.to_le_bytes());
    let resp = r.command(&fetch, |p| is_eof(p) || p.payload[0] == 0xFF).await;
    assert_eq!(resp.len(), 6, "five rows and an EOF");
    let status = u16::from_le_bytes([resp[5].payload[3], resp[5].payload[4]]);
    assert_ne!(status & 0x80, 0, "LAST_ROW_SENT");
}

/// The type byte of a column definition packet (after six length-encoded strings, each shorter than
/// 251 bytes here, the 0x0c length, the character set and the column length).
fn column_type(def: &[u8]) -> u8 {
    let mut at = 0;
    for _ in 0..6 {
        assert!(def[at] < 0xfb, "a short length-encoded string");
        at += 1 + usize::from(def[at]);
    }
    def[at + 1 + 2 + 4]
}

#[tokio::test]
async fn per_user_connection_limit_is_1226() {
    let (topo, schema) = setup("userlimit").await;
    let mut cfg = topo.sluice_config();
    let app = cfg.users.iter_mut().find(|u| u.name == "app").expect("app user");
    app.max_connections = 1;
    let p = sluice_tests::start_proxy(cfg).await;
    let mut first = connect(&p, "app", "app", &schema).await;
    let e = Conn::new(p.opts("app", "app").db_name(Some(&schema))).await.expect_err("over the user limit");
    assert_eq!(server_error(&e).0, 1226);
    // Other users are not limited, and the slot comes back when the first session ends.
    let _other = connect(&p, "sha2_only", "sha2", &schema).await;
    first.ping().await.expect("first session unaffected");
    first.disconnect().await.expect("quit");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    connect(&p, "app", "app", &schema).await;
}
