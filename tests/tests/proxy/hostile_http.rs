//! The HTTP port exposed to a hostile network: a listener bound beyond loopback (0.0.0.0, reached
//! here on 127.0.0.1: the bind address is what counts) keeps /metrics and the probes open but wants
//! the `[http]` token for the status endpoints (403 when none is configured); statement literals
//! stay out of /digests and /advice unless `show_literals`; responses are bounded by `?limit=`;
//! connections are capped; a client that never finishes its request, or never reads the answer, is
//! dropped while others are served; `sluice check-config` warns about exposed listeners.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use sluice::config::Config;
use sluice_tests::Proxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{connect, setup};

const TOKEN: &str = "hostile-http-token-7f3a9c1e5b";

/// One answer: status code, head (lower-cased header lines), body.
struct Answer {
    code: u16,
    head: String,
    body: String,
}

/// The listener's address, on 127.0.0.1 when it is bound to every interface.
fn http_of(p: &Proxy) -> SocketAddr {
    let mut a = p.http_addr().expect("http listener");
    if a.ip().is_unspecified() {
        a.set_ip([127, 0, 0, 1].into());
    }
    a
}

/// `GET path` with an optional `Authorization` value, on a connection of its own (read to its end:
/// `Connection: close`, as the server keeps an HTTP/1.1 connection open otherwise).
async fn get(addr: SocketAddr, path: &str, auth: Option<&str>) -> Answer {
    let mut s = TcpStream::connect(addr).await.expect("http connect");
    let auth = auth.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}\r\n").as_bytes())
        .await
        .expect("request");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("answered within 10 s")
        .expect("response");
    let out = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Answer { code, head: head.to_lowercase(), body: body.to_owned() }
}

/// Standard base64, for basic auth.
fn b64(s: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in s.as_bytes().chunks(3) {
        let n = c.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= c.len() { A[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
        }
    }
    out
}

/// The test config with HTTP on every interface and, with `token`, a token file in `dir`.
fn exposed(cfg: &mut Config, dir: &tempfile::TempDir, token: Option<&str>) {
    cfg.http.listen = "0.0.0.0:0".parse().expect("addr");
    if let Some(t) = token {
        let f = dir.path().join("http-token");
        std::fs::write(&f, format!("{t}\n")).expect("write token");
        cfg.http.token_file = Some(f);
    }
}

const PROTECTED: [&str; 5] = ["/", "/index.html", "/status", "/digests", "/advice"];
const OPEN: [&str; 4] = ["/metrics", "/live", "/ready", "/health"];

#[tokio::test]
async fn exposed_listener_wants_the_token_for_status_endpoints_not_for_metrics_and_probes() {
    let (topo, _schema) = setup("http_auth").await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = topo.sluice_config();
    exposed(&mut cfg, &dir, Some(TOKEN));
    let p = sluice_tests::start_proxy(cfg).await;
    assert!(p.http_addr().expect("http").ip().is_unspecified(), "bound to 0.0.0.0");
    let http = http_of(&p);
    for path in OPEN {
        let a = get(http, path, None).await;
        assert!(matches!(a.code, 200 | 503), "{path}: open without credentials, got {}", a.code);
    }
    let m = get(http, "/metrics", None).await;
    assert_eq!(m.code, 200);
    assert!(m.body.contains("sluice_statements_total"), "{}", m.body);
    let bearer = format!("Bearer {TOKEN}");
    let basic = format!("Basic {}", b64(&format!("sluice:{TOKEN}")));
    for path in PROTECTED {
        let a = get(http, path, None).await;
        assert_eq!(a.code, 401, "{path} without credentials");
        assert!(a.head.contains("www-authenticate: basic realm=\"sluice\""), "{path}: {}", a.head);
        assert!(!a.body.contains("backends") && !a.body.contains("digest"), "{path}: {}", a.body);
        for wrong in [
            format!("Bearer {TOKEN}x"),
            "Bearer ".to_owned(),
            TOKEN.to_owned(),
            format!("Basic {}", b64(&format!("admin:{TOKEN}"))),
            format!("Basic {}", b64("sluice:guess")),
        ] {
            assert_eq!(get(http, path, Some(&wrong)).await.code, 401, "{path} with {wrong:?}");
        }
        for good in [&bearer, &basic] {
            let a = get(http, path, Some(good)).await;
            assert_eq!(a.code, 200, "{path} with {good:?}: {}", a.body);
            assert!(a.head.contains("cache-control: no-store"), "{path}: {}", a.head);
        }
    }
    let status = get(http, "/status", Some(&bearer)).await;
    let json: serde_json::Value = serde_json::from_str(&status.body).expect("status JSON");
    assert_eq!(json["backends"].as_array().map(Vec::len), Some(3), "{json}");
    // Only GET; a malformed or oversized head gets its 4xx, not a panic or a hang.
    let mut s = TcpStream::connect(http).await.expect("connect");
    s.write_all(b"POST /status HTTP/1.1\r\n\r\n").await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    assert!(out.starts_with("HTTP/1.1 405"), "{out}");
    let mut s = TcpStream::connect(http).await.expect("connect");
    s.write_all(format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(9000)).as_bytes())
        .await
        .expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    assert!(out.starts_with(b"HTTP/1.1 431"), "{}", String::from_utf8_lossy(&out));
    p.shutdown().await;

    // On loopback a configured token is still required.
    let mut cfg = topo.sluice_config();
    let f = dir.path().join("loopback-token");
    std::fs::write(&f, TOKEN).expect("write token");
    cfg.http.token_file = Some(f);
    let p = sluice_tests::start_proxy(cfg).await;
    let http = http_of(&p);
    assert_eq!(get(http, "/digests", None).await.code, 401);
    assert_eq!(get(http, "/digests", Some(&bearer)).await.code, 200);
    assert_eq!(get(http, "/metrics", None).await.code, 200);
    p.shutdown().await;
}

#[tokio::test]
async fn exposed_listener_without_a_token_answers_403_saying_how_to_set_one() {
    let (topo, _schema) = setup("http_403").await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = topo.sluice_config();
    exposed(&mut cfg, &dir, None);
    let p = sluice_tests::start_proxy(cfg).await;
    let http = http_of(&p);
    for path in PROTECTED {
        let a = get(http, path, Some(&format!("Bearer {TOKEN}"))).await;
        assert_eq!(a.code, 403, "{path}");
        assert!(a.body.contains("token_env") && a.body.contains("127.0.0.1"), "{path}: {}", a.body);
    }
    assert_eq!(get(http, "/metrics", None).await.code, 200);
    assert_eq!(get(http, "/live", None).await.code, 200);
    p.shutdown().await;
    // The default loopback listener without a token stays open (a local setup, the status page).
    let p = sluice_tests::start_proxy(topo.sluice_config()).await;
    assert_eq!(get(http_of(&p), "/status", None).await.code, 200);
    p.shutdown().await;
}

/// Runs statements with literals that must not leak through a fresh proxy; returns its /digests and
/// /advice bodies.
async fn literal_run(show_literals: bool, schema: &str) -> (String, String) {
    let topo = sluice_tests::shared().await;
    let mut cfg = topo.sluice_config();
    cfg.http.show_literals = show_literals;
    let p = sluice_tests::start_proxy(cfg).await;
    let mut c = connect(&p, "app", "app", schema).await;
    for i in 0..3 {
        let _: Vec<i32> = c
            .query(format!("SELECT id FROM people WHERE email LIKE '%alice.secret{i}@example.com'"))
            .await
            .expect("like");
        let _: Vec<i32> =
            c.query(format!("SELECT id FROM people ORDER BY id LIMIT 50000{i}, 10")).await.expect("offset");
    }
    let http = http_of(&p);
    let digests = get(http, "/digests", None).await;
    let advice = get(http, "/advice", None).await;
    assert_eq!((digests.code, advice.code), (200, 200));
    p.shutdown().await;
    (digests.body, advice.body)
}

#[tokio::test]
async fn literals_stay_out_of_digests_and_advice_unless_show_literals() {
    let (topo, schema) = setup("http_literals").await;
    {
        let p = sluice_tests::start_proxy(topo.sluice_config()).await;
        let mut c = connect(&p, "app", "app", &schema).await;
        c.query_drop("CREATE TABLE people (id INT PRIMARY KEY, email VARCHAR(100))").await.expect("create");
        c.query_drop("INSERT INTO people VALUES (1, 'a@example.com')").await.expect("fill");
        topo.wait_replicas_caught_up().await;
        p.shutdown().await;
    }
    let (digests, advice) = literal_run(false, &schema).await;
    let rows: serde_json::Value = serde_json::from_str(&digests).expect("digests JSON");
    let like = rows
        .as_array()
        .expect("array")
        .iter()
        .find(|d| d["digest_text"].as_str().is_some_and(|t| t.contains("like")))
        .unwrap_or_else(|| panic!("the LIKE digest: {digests}"));
    assert_eq!(like["sample"], like["digest_text"], "the sample is the normalized text: {like}");
    assert!(like["sample"].as_str().is_some_and(|s| s.contains("like ?")), "{like}");
    let findings: serde_json::Value = serde_json::from_str(&advice).expect("advice JSON");
    let kinds: Vec<&str> =
        findings.as_array().expect("array").iter().filter_map(|f| f["kind"].as_str()).collect();
    assert!(kinds.contains(&"leading_wildcard_like") && kinds.contains(&"deep_offset"), "{advice}");
    for body in [&digests, &advice] {
        assert!(!body.contains("alice.secret") && !body.contains("500000"), "a literal leaked: {body}");
    }
    println!(
        "masked: {}",
        findings
            .as_array()
            .expect("array")
            .iter()
            .map(|f| f["evidence"].to_string())
            .collect::<Vec<_>>()
            .join(" | ")
    );

    let (digests, advice) = literal_run(true, &schema).await;
    assert!(digests.contains("alice.secret2@example.com"), "show_literals shows the last sample: {digests}");
    assert!(advice.contains("alice.secret") && advice.contains("OFFSET 500002"), "{advice}");
}

#[tokio::test]
async fn digests_and_advice_return_the_top_limit_rows() {
    let (topo, schema) = setup("http_limit").await;
    let p = sluice_tests::start_proxy(topo.sluice_config()).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    for i in 0..30 {
        // 30 shapes (the alias differs), the last ones slower.
        let _: Option<(i32, i32)> = c
            .query_first(format!("SELECT {i} AS c{i}, SLEEP({})", f64::from(i) / 3000.0))
            .await
            .expect("select");
    }
    let http = http_of(&p);
    let count = |body: &str| {
        serde_json::from_str::<serde_json::Value>(body)
            .expect("JSON")
            .as_array()
            .map(Vec::len)
            .expect("array")
    };
    let top = get(http, "/digests?limit=3", None).await;
    assert_eq!(count(&top.body), 3, "{}", top.body);
    let rows: serde_json::Value = serde_json::from_str(&top.body).expect("JSON");
    let totals: Vec<u64> =
        rows.as_array().expect("array").iter().filter_map(|r| r["total_us"].as_u64()).collect();
    assert!(totals.windows(2).all(|w| w[0] >= w[1]), "most total time first: {totals:?}");
    let all = get(http, "/digests", None).await;
    assert!((30..=100).contains(&count(&all.body)), "default limit 100");
    assert!(count(&get(http, "/digests?limit=100000", None).await.body) <= 1000, "capped");
    assert_eq!(count(&get(http, "/digests?limit=0", None).await.body), 0);
    assert_eq!(get(http, "/digests?limit=many", None).await.code, 400);
    assert_eq!(get(http, "/advice?limit=x", None).await.code, 400);
    assert!(count(&get(http, "/advice?limit=1", None).await.body) <= 1);
    p.shutdown().await;
}

#[tokio::test]
async fn connections_beyond_max_connections_get_503() {
    let (topo, _schema) = setup("http_cap").await;
    let mut cfg = topo.sluice_config();
    cfg.http.max_connections = 3;
    cfg.http.request_timeout_ms = 20_000;
    let p = sluice_tests::start_proxy(cfg).await;
    let shared = p.shared().expect("in-process").clone();
    let http = http_of(&p);
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(http).await.expect("connect"));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while shared.http_slots.open() < 3 {
        assert!(Instant::now() < deadline, "3 connections were not taken in");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    let a = get(http, "/metrics", None).await;
    let took = started.elapsed();
    assert_eq!(a.code, 503, "{}", a.body);
    assert!(a.body.contains("max_connections = 3") && a.head.contains("retry-after"), "{}", a.body);
    println!("the 4th connection got 503 in {took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    drop(idle.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    let m = loop {
        let m = get(http, "/metrics", None).await;
        if m.code == 200 || Instant::now() > deadline {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(m.code, 200, "a slot came free");
    assert!(
        m.body.lines().any(|l| l
            .starts_with("sluice_client_connections_refused_total{reason=\"http_max_connections\"}")
            && !l.ends_with(" 0")),
        "{}",
        m.body
    );
    p.shutdown().await;
}

#[tokio::test]
async fn slowloris_clients_are_dropped_while_metrics_answers_promptly() {
    let (topo, _schema) = setup("http_slowloris").await;
    let mut cfg = topo.sluice_config();
    cfg.http.request_timeout_ms = 1_000;
    let p = sluice_tests::start_proxy(cfg).await;
    let http = http_of(&p);
    // Ten clients that send a header line every 100 ms and never end the head.
    let mut slow = Vec::new();
    for i in 0..10 {
        slow.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(http).await.expect("connect");
            let started = Instant::now();
            s.write_all(b"GET /metrics HTTP/1.1\r\n").await.expect("request line");
            let mut n = 0;
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let mut probe = [0u8; 64];
                // Dropped = the server closed: a read sees EOF (or a reset), a write fails.
                match tokio::time::timeout(Duration::from_millis(1), s.read(&mut probe)).await {
                    Ok(Ok(0) | Err(_)) => return started.elapsed(),
                    Ok(Ok(_)) => panic!("slow client {i} got an answer"),
                    Err(_) => {}
                }
                n += 1;
                if s.write_all(format!("X-Slow-{n}: {i}\r\n").as_bytes()).await.is_err() {
                    return started.elapsed();
                }
                assert!(started.elapsed() < Duration::from_secs(10), "slow client {i} never dropped");
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut worst = Duration::ZERO;
    for _ in 0..5 {
        let started = Instant::now();
        let m = get(http, "/metrics", None).await;
        worst = worst.max(started.elapsed());
        assert_eq!(m.code, 200);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut dropped = Vec::new();
    for t in slow {
        dropped.push(t.await.expect("slow client"));
    }
    let (min, max) = (dropped.iter().min().copied(), dropped.iter().max().copied());
    println!(
        "10 slowloris clients dropped after {min:?}..{max:?}; /metrics meanwhile answered in at most {worst:?}"
    );
    assert!(worst < Duration::from_millis(500), "/metrics took {worst:?}");
    for d in dropped {
        assert!(d >= Duration::from_millis(900) && d < Duration::from_secs(3), "dropped after {d:?}");
    }
    p.shutdown().await;
}

#[tokio::test]
async fn a_client_that_never_reads_its_answer_is_dropped_at_write_timeout() {
    let (topo, schema) = setup("http_noread").await;
    let mut cfg = topo.sluice_config();
    cfg.http.show_literals = true;
    cfg.http.write_timeout_ms = 1_000;
    let p = sluice_tests::start_proxy(cfg).await;
    let shared = p.shared().expect("in-process").clone();
    let mut c = connect(&p, "app", "app", &schema).await;
    // 1000 digests with a 4 KB sample of control characters each, which JSON writes as `\u0001`:
    // /digests?limit=1000 is ~24 MB, far more than the socket buffers hold (4 MiB at most here).
    let pad = "\u{1}".repeat(4000);
    for i in 0..1000 {
        let _: Option<String> = c.query_first(format!("SELECT '{pad}' AS c{i}")).await.expect("select");
    }
    let http = http_of(&p);
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.set_recv_buffer_size(4096).expect("small receive buffer");
    let mut s = sock.connect(http).await.expect("connect");
    s.write_all(b"GET /digests?limit=1000 HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("request");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(10);
    // Taken in (its slot held while the answer is written), then dropped.
    while shared.http_slots.open() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    while shared.http_slots.open() > 0 {
        assert!(Instant::now() < deadline, "the connection was never dropped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    println!("a client that never reads was dropped after {took:?}");
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(4), "{took:?}");
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got).await;
    assert!(got.len() < 20_000_000, "the whole answer was not sent: {} bytes", got.len());
    assert_eq!(get(http, "/metrics", None).await.code, 200);
    p.shutdown().await;
}

fn check_config(text: &str) -> (bool, String, String) {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("sluice.toml");
    std::fs::write(&path, text).expect("write config");
    let out = std::process::Command::new(sluice_tests::procs::sluice_bin())
        .arg("check-config")
        .arg(&path)
        .env_remove("SLUICE_HTTP_TOKEN")
        .output()
        .expect("run check-config");
    let err = String::from_utf8_lossy(&out.stderr).replace(&path.display().to_string(), "F");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), err)
}

#[test]
fn check_config_warns_about_exposed_listeners_with_default_secrets() {
    let base = r#"
[admin]
listen = "ADMIN"
[[admin.users]]
name = "admin"
mysql_native_password = "*4ACFE3202A5FF5CF467898FC58AAB1D615029441"
caching_sha2_password = "dd474e450473186ec733689b549a94a54a96f276dba76b29138c57b6afe15bf7"
[[admin.users]]
name = "ops"
mysql_native_password = ""
[http]
listen = "HTTP"
[[groups]]
name = "main"
[[groups.members]]
address = "127.0.0.1:3306"
role = "primary"
"#;
    let exposed = base.replace("ADMIN", "0.0.0.0:6032").replace("HTTP", "0.0.0.0:9033");
    let (ok, out, err) = check_config(&exposed);
    assert!(ok, "warnings do not fail the check: {err}");
    assert!(out.trim_end().ends_with(": ok"), "{out}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].starts_with("sluice: F:4: admin.users[0]: warning: ") && lines[0].contains("\"admin\""),
        "{err}"
    );
    assert!(
        lines[1].starts_with("sluice: F:8: admin.users[1]: warning: ") && lines[1].contains("empty"),
        "{err}"
    );
    assert!(
        lines[2].starts_with("sluice: F:12: http.listen: warning: ") && lines[2].contains("token"),
        "{err}"
    );
    println!("{err}");

    let local = base.replace("ADMIN", "127.0.0.1:6032").replace("HTTP", "127.0.0.1:9033");
    let (ok, _, err) = check_config(&local);
    assert!(ok && err.is_empty(), "loopback: {err}");

    // A token (even unreadable here) and admin passwords from secrets: nothing to say.
    let secrets = exposed
        .replace("[http]\n", "[http]\ntoken_env = \"SLUICE_HTTP_TOKEN\"\n")
        .replace("mysql_native_password = \"\"", "password_env = \"SLUICE_OPS_PASSWORD\"");
    let secrets = secrets.replacen(
        "mysql_native_password = \"*4ACFE3202A5FF5CF467898FC58AAB1D615029441\"\ncaching_sha2_password = \"dd474e450473186ec733689b549a94a54a96f276dba76b29138c57b6afe15bf7\"",
        "password_file = \"/run/secrets/admin\"",
        1,
    );
    let (ok, _, err) = check_config(&secrets);
    assert!(ok && err.is_empty(), "{secrets}\n{err}");

    // The shipped configs warn about nothing.
    for f in ["docker/sluice.toml", "sluice.example.toml"] {
        let text =
            std::fs::read_to_string(format!("{}/../deploy/{f}", env!("CARGO_MANIFEST_DIR"))).expect("read");
        let (ok, _, err) = check_config(&text);
        assert!(ok && err.is_empty(), "deploy/{f}: {err}");
    }
}

/// Latency of `/metrics` as a scraper sees it: 1000 sequential GETs, each on a new connection
/// (`Connection: close`), p50/p99 printed (`--nocapture`); a loose bound only guards against a hang.
#[tokio::test]
async fn metrics_latency_over_1000_sequential_gets() {
    let (topo, schema) = setup("http_latency").await;
    let p = sluice_tests::start_proxy(topo.sluice_config()).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    for i in 0..200 {
        let _: Option<i32> = c.query_first(format!("SELECT {i} AS c{i}")).await.expect("select");
    }
    let http = http_of(&p);
    let mut took = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let started = Instant::now();
        let mut s = TcpStream::connect(http).await.expect("connect");
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.expect("request");
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.expect("response");
        took.push(started.elapsed());
        assert!(out.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&out));
    }
    took.sort();
    let (p50, p99) = (took[499], took[989]);
    println!("GET /metrics x1000, a connection each: p50 {p50:?}, p99 {p99:?}, max {:?}", took[999]);
    assert!(p50 < Duration::from_millis(100), "p50 {p50:?}");
    p.shutdown().await;
}

/// Reads one response (head and `Content-Length` body) off a kept-alive connection; the head is
/// lower-cased.
async fn read_response(s: &mut TcpStream) -> Answer {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let (head, body_at) = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break (String::from_utf8_lossy(&buf[..at]).to_lowercase(), at + 4);
        }
        let n = s.read(&mut chunk).await.expect("read head");
        assert!(n > 0, "closed before the head: {}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    };
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("content-length");
    while buf.len() < body_at + len {
        let n = s.read(&mut chunk).await.expect("read body");
        assert!(n > 0, "closed in the body");
        buf.extend_from_slice(&chunk[..n]);
    }
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Answer { code, head, body: String::from_utf8_lossy(&buf[body_at..body_at + len]).into_owned() }
}

#[tokio::test]
async fn a_kept_alive_connection_serves_many_requests_and_is_closed_once_idle() {
    let (topo, _schema) = setup("http_keepalive").await;
    let mut cfg = topo.sluice_config();
    cfg.http.request_timeout_ms = 1_000;
    cfg.http.max_connections = 1;
    let p = sluice_tests::start_proxy(cfg).await;
    let shared = p.shared().expect("in-process").clone();
    let http = http_of(&p);
    let mut s = TcpStream::connect(http).await.expect("connect");
    let mut took = Vec::with_capacity(1000);
    for i in 0..1000 {
        let started = Instant::now();
        let path = if i % 2 == 0 { "/metrics" } else { "/live" };
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await.expect("request");
        let a = read_response(&mut s).await;
        if i % 2 == 0 {
            took.push(started.elapsed());
        }
        assert_eq!(a.code, 200, "request {i}: {}", a.body);
        assert!(!a.head.contains("connection: close"), "{}", a.head);
    }
    took.sort();
    println!("GET /metrics x500 on one kept-alive connection: p50 {:?}, p99 {:?}", took[249], took[494]);
    // It holds the only slot: another connection gets 503.
    assert_eq!(get(http, "/live", None).await.code, 503);
    // Idle for longer than request_timeout_ms: closed without a word, and the slot is free again.
    let started = Instant::now();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest))
        .await
        .expect("closed within 5 s")
        .expect("read");
    let idle = started.elapsed();
    println!("an idle kept-alive connection was closed after {idle:?}");
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    assert!(idle >= Duration::from_millis(900) && idle < Duration::from_secs(3), "{idle:?}");
    let deadline = Instant::now() + Duration::from_secs(2);
    while shared.http_slots.open() > 0 {
        assert!(Instant::now() < deadline, "the slot was not given back");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(get(http, "/live", None).await.code, 200);
    p.shutdown().await;
}
