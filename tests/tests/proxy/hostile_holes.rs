//! Smaller holes a hostile local user or client could use: the upgrade socket's directory, the modes of
//! the files sluice writes, passwords in kept statement text, client-chosen collations multiplying
//! backend connections, huge durations, and COM_CHANGE_USER around per-user limits.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use mysql_async::{Conn, Row};
use sluice_protocol::auth::{
    native_hash_to_string, native_password_hash, sha2_hash_to_string, sha2_password_hash,
};
use sluice_tests::Topology;
use sluice_tests::procs::sluice_bin;

use super::ops::col;
use super::raw::{CLASSIC, Raw, err_code};
use super::{admin, connect, setup};

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).expect("stat").permissions().mode() & 0o7777
}

/// A `[[users]]` entry with both hashes of `password`.
fn user(name: &str, password: &str, max_connections: usize) -> sluice::config::UserConfig {
    sluice::config::UserConfig {
        name: name.into(),
        mysql_native_password: Some(native_hash_to_string(&native_password_hash(password.as_bytes()))),
        caching_sha2_password: Some(sha2_hash_to_string(&sha2_password_hash(password.as_bytes()))),
        default_schema: None,
        require_tls: false,
        max_connections,
        backend: None,
        password_env: None,
        password_file: None,
    }
}

/// The binary's config with the upgrade socket at `sock`.
fn binary_config(topo: &Topology, port: u16, sock: &std::path::Path) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
workers = 1
upgrade_sock = "{sock}"
[admin]
enabled = false
[http]
enabled = false
[[users]]
name = "app"
mysql_native_password = "{native}"
[backend.credentials]
user = "app"
password_file = "{pwfile}"
[[groups]]
name = "main"
[[groups.members]]
address = "{primary}"
role = "primary"
"#,
        sock = sock.display(),
        native = native_hash_to_string(&native_password_hash(b"app")),
        pwfile = topo.app_password_file().display(),
        primary = topo.primary.addr,
    )
}

#[tokio::test]
async fn upgrade_socket_directory_must_be_private() {
    let (topo, _schema) = setup("hh_upgrade").await;
    let dir = tempfile::tempdir().expect("tmp");
    let port = sluice_tests::procs::free_ports(1).expect("port")[0];
    // A directory every local user may write to (like /tmp): refused before anything listens.
    let open = dir.path().join("open");
    std::fs::create_dir(&open).expect("mkdir");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    let path = dir.path().join("open.toml");
    std::fs::write(&path, binary_config(topo, port, &open.join("upgrade.sock"))).expect("write");
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(sluice_bin()).arg("--config").arg(&path).output(),
    )
    .await
    .expect("exits at once")
    .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started with a world-writable upgrade socket directory");
    assert!(stderr.contains("upgrade_sock") && stderr.contains("may write"), "{stderr}");
    assert!(!sluice_tests::procs::port_open(format!("127.0.0.1:{port}").parse().expect("addr")));

    // A missing directory is created 0700, and sluice serves.
    let private = dir.path().join("private");
    let path = dir.path().join("private.toml");
    std::fs::write(&path, binary_config(topo, port, &private.join("upgrade.sock"))).expect("write");
    let mut child = tokio::process::Command::new(sluice_bin())
        .arg("--config")
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start sluice");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let started = Instant::now();
    while !sluice_tests::procs::port_open(addr) {
        assert!(started.elapsed() < Duration::from_secs(30), "sluice never listened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(mode(&private), 0o700, "the upgrade socket's directory is private");
    child.start_kill().expect("kill");
    let _ = child.wait().await;
}

#[tokio::test]
async fn written_files_are_0600_and_kept_statements_hold_no_password() {
    let (topo, schema) = setup("hh_files").await;
    let dir = tempfile::tempdir().expect("tmp");
    let (slow, cap, allow) =
        (dir.path().join("slow.log"), dir.path().join("c.cap"), dir.path().join("allow.txt"));
    let mut cfg = topo.sluice_config();
    cfg.log.slow_log = Some(slow.clone());
    cfg.log.slow_query_ms = 0;
    cfg.capture.enabled = true;
    cfg.capture.file = cap.clone();
    cfg.firewall.mode = sluice::config::FirewallMode::Learn;
    cfg.firewall.allowlist_file = Some(allow.clone());
    let p = sluice_tests::start_proxy(cfg).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    // `app` may not manage accounts: most of these fail on the server, and are recorded all the same.
    let statements = [
        "CREATE USER 'hh_x'@'%' IDENTIFIED BY 'Hol3sPw1'",
        "ALTER USER 'hh_x'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('Hol3sPw2')",
        "SET PASSWORD FOR 'hh_x'@'%' = PASSWORD('Hol3sPw3')",
        "GRANT SELECT ON *.* TO 'hh_x'@'%' IDENTIFIED WITH mysql_native_password AS 'Hol3sPw4'",
    ];
    for sql in statements {
        let _ = c.query_drop(sql).await;
    }
    // PASSWORD() is MariaDB's (MySQL 8.0 removed it): on MySQL the statement fails, and is recorded all
    // the same, like the account statements above.
    let hashed: Result<Option<String>, _> = c.query_first("SELECT PASSWORD('Hol3sPw5')").await;
    match topo.flavor {
        sluice_tests::Flavor::MariaDb => {
            assert!(hashed.expect("PASSWORD()").is_some_and(|h| h.starts_with('*')));
        }
        sluice_tests::Flavor::MySql => {
            hashed.expect_err("MySQL has no PASSWORD()");
        }
    }
    let _: Option<String> = c.query_first("SELECT 'Hol3sPw-not-a-password'").await.expect("select");

    // Digest samples (EXPLAIN DIGEST, plan lints, SHOW ADVICE read them).
    let samples: Vec<String> =
        p.shared().expect("in-process").digests.snapshot().into_iter().map(|d| d.sample).collect();
    let all = samples.join("\n");
    assert!(all.contains("IDENTIFIED BY '***'") && all.contains("PASSWORD('***')"), "{all}");
    assert!(all.contains("SELECT 'Hol3sPw-not-a-password'"), "other strings stay: {all}");
    for n in 1..=5 {
        assert!(!all.contains(&format!("Hol3sPw{n}")), "password {n} in a digest sample:\n{all}");
    }

    let mut a = admin(&p).await;
    a.query_drop("FIREWALL SAVE").await.expect("save");
    a.disconnect().await.ok();
    c.disconnect().await.ok();
    p.shutdown().await; // the capture writer closes its file
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&slow).unwrap_or_default().contains("not-a-password") {
        assert!(Instant::now() < deadline, "slow log never written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for f in [&slow, &cap, &allow] {
        assert_eq!(mode(f), 0o600, "{} is {:04o}", f.display(), mode(f));
    }
    let slow_text = std::fs::read_to_string(&slow).expect("slow log");
    let cap_bytes = std::fs::read(&cap).expect("capture");
    assert!(slow_text.contains("IDENTIFIED BY '***'"), "{slow_text}");
    assert!(cap_bytes.windows(19).any(|w| w == b"IDENTIFIED BY '***'"), "capture lost the statement");
    for n in 1..=5 {
        let pw = format!("Hol3sPw{n}");
        assert!(!slow_text.contains(&pw), "{pw} in the slow log:\n{slow_text}");
        assert!(!cap_bytes.windows(pw.len()).any(|w| w == pw.as_bytes()), "{pw} in the capture");
    }
}

/// Logs in as `app` with collation `charset` (a raw handshake: drivers pick theirs).
async fn login_with_collation(addr: std::net::SocketAddr, charset: u8, schema: &str) -> Raw {
    Raw::login_with_charset(addr, "app", "app", schema, CLASSIC, charset).await
}

/// Runs a text query on a raw connection; `Ok(())` after its result, or the ERR code.
async fn raw_query(r: &mut Raw, sql: &str) -> Result<(), u16> {
    let mut payload = vec![0x03];
    payload.extend_from_slice(sql.as_bytes());
    // Without DEPRECATE_EOF: column defs, EOF, rows, EOF; an ERR or OK ends it early.
    let mut eofs = 0;
    let packets = r
        .command(&payload, |p| {
            let first = p.payload.first().copied();
            if first == Some(0xFE) && p.payload.len() < 9 {
                eofs += 1;
            }
            first == Some(0xFF) || (first == Some(0x00) && eofs == 0 && p.payload.len() < 9) || eofs == 2
        })
        .await;
    match packets.last() {
        Some(p) if err_code(p).is_some() => Err(err_code(p).unwrap_or_default()),
        Some(_) => Ok(()),
        None => Err(0),
    }
}

/// Connections of `user` on the primary now.
async fn on_primary(root: &mut Conn, user: &str) -> i64 {
    root.exec_first("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?", (user,))
        .await
        .expect("processlist")
        .unwrap_or_default()
}

/// [`on_primary`] once closes have landed: the least of a few reads within a second (a connection
/// sluice just closed may still be listed for a moment).
async fn settled_on_primary(root: &mut Conn, user: &str) -> i64 {
    let mut least = i64::MAX;
    for _ in 0..10 {
        least = least.min(on_primary(root, user).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    least
}

/// Collations a MariaDB client may log in with (none is ucs2/utf16/utf32, which a client cannot use).
const COLLATIONS: [u8; 12] = [8, 33, 45, 46, 63, 83, 47, 48, 224, 192, 11, 65];

/// A backend account of this test alone, so the process list counts only this test's connections.
async fn pool_account(topo: &Topology, dir: &std::path::Path) -> std::path::PathBuf {
    let mut root = Conn::new(topo.root_opts(&topo.primary)).await.expect("root");
    root.query_drop("CREATE USER IF NOT EXISTS 'hh_pool'@'%' IDENTIFIED BY 'hh_pool'").await.expect("user");
    root.query_drop("GRANT SELECT ON *.* TO 'hh_pool'@'%'").await.expect("grant");
    let pw = dir.join("hh_pool.pw");
    std::fs::write(&pw, "hh_pool\n").expect("write");
    pw
}

/// Runs one `SELECT` per collation in `COLLATIONS`, one client after the other; returns the most
/// connections `hh_pool` had on the primary after each (settled).
async fn one_client_per_collation(p: &sluice_tests::Proxy, root: &mut Conn, schema: &str) -> i64 {
    let mut most = 0;
    for cs in COLLATIONS {
        let mut r = login_with_collation(p.addr(), cs, schema).await;
        raw_query(&mut r, "SELECT 1").await.unwrap_or_else(|e| panic!("collation {cs}: ERR {e}"));
        drop(r);
        most = most.max(settled_on_primary(root, "hh_pool").await);
    }
    most
}

#[tokio::test]
async fn client_collations_cannot_multiply_backend_connections() {
    const CAP: usize = 4;
    let (topo, schema) = setup("hh_pool").await;
    let dir = tempfile::tempdir().expect("tmp");
    let pw = pool_account(topo, dir.path()).await;
    let mut root = Conn::new(topo.root_opts(&topo.primary)).await.expect("root");
    let config = |cap: usize| {
        let mut cfg = topo.sluice_config();
        cfg.groups[0].members.truncate(1); // the primary alone: every connection is counted there
        cfg.users[0].backend = Some(sluice::config::Credentials {
            user: "hh_pool".into(),
            password_env: None,
            password_file: Some(pw.clone()),
        });
        cfg.pool.max_connections_per_backend = cap;
        cfg
    };

    // Without a binding cap: a pool, and a connection kept idle, per collation.
    let p = sluice_tests::start_proxy(config(256)).await;
    let uncapped = one_client_per_collation(&p, &mut root, &schema).await;
    p.shutdown().await;
    assert!(uncapped > CAP as i64, "{uncapped}: an idle connection per collation's pool");
    let deadline = Instant::now() + Duration::from_secs(10);
    while on_primary(&mut root, "hh_pool").await > 0 {
        assert!(Instant::now() < deadline, "the first sluice's connections did not close");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Capped at 4: idle connections of other collations are closed to make room.
    let p = sluice_tests::start_proxy(config(CAP)).await;
    let capped = one_client_per_collation(&p, &mut root, &schema).await;
    assert_eq!(capped, CAP as i64, "connections on the primary with the cap");
    let addr = topo.primary.addr.to_string();
    let slots = p.shared().expect("in-process").pools.backend_slots(&addr).expect("slots");
    assert_eq!(slots.max(), CAP);

    // 8 clients of 8 collations at once, each statement holding its connection 300 ms: at most 4 run
    // at a time, the others wait for a slot (within checkout_timeout_ms) and all get their answer.
    let most_open = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let watch = {
        let (most_open, shared) = (most_open.clone(), p.shared().expect("in-process").clone());
        let addr = addr.clone();
        tokio::spawn(async move {
            loop {
                if let Some(s) = shared.pools.backend_slots(&addr) {
                    most_open.fetch_max(s.open(), std::sync::atomic::Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let clients: Vec<_> = COLLATIONS[..8]
        .iter()
        .map(|&cs| {
            let (addr, schema) = (p.addr(), schema.clone());
            tokio::spawn(async move {
                let mut r = login_with_collation(addr, cs, &schema).await;
                raw_query(&mut r, "SELECT SLEEP(0.3)").await
            })
        })
        .collect();
    let mut primary_most = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(900) {
        let n = on_primary(&mut root, "hh_pool").await;
        // A connection sluice just closed may be listed a moment longer: read again before counting.
        primary_most =
            primary_most.max(if n > CAP as i64 { on_primary(&mut root, "hh_pool").await } else { n });
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for c in clients {
        assert_eq!(c.await.expect("join"), Ok(()), "a client got no answer");
    }
    watch.abort();
    assert!(most_open.load(std::sync::atomic::Ordering::Relaxed) <= CAP, "sluice opened more than the cap");
    assert!(primary_most <= CAP as i64, "{primary_most} connections on the primary");
    assert!(settled_on_primary(&mut root, "hh_pool").await <= CAP as i64);
    let evicted: u64 = p.shared().expect("in-process").pools.all().iter().map(|p| p.evicted()).sum();
    assert!(evicted > 0, "room was made by closing idle connections of other collations");
    eprintln!(
        "hh_pool connections on the primary: {uncapped} for {} collations without the cap, {capped} with max_connections_per_backend = {CAP}; {evicted} idle connections closed to make room",
        COLLATIONS.len()
    );
}

#[tokio::test]
async fn capture_duration_past_any_clock_is_clamped() {
    let (topo, _schema) = setup("hh_dur").await;
    let p = sluice_tests::start_proxy(topo.sluice_config()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut a = admin(&p).await;
    // `Duration::from_secs_f64(1e300)` panicked the admin connection's task.
    a.query_drop(format!("CAPTURE START '{}' DURATION 1e300", dir.path().join("x.cap").display()))
        .await
        .expect("capture start");
    let rows: Vec<Row> = a.query("SHOW CAPTURE").await.expect("show capture");
    assert_eq!(col(&rows[0], "state"), "on");
    a.query_drop("CAPTURE STOP").await.expect("capture stop");
}

#[tokio::test]
async fn change_user_moves_the_per_user_limit_and_the_session_registry() {
    let (topo, schema) = setup("hh_chuser").await;
    let mut cfg = topo.sluice_config();
    cfg.users.push(user("hh_a", "pw_a", 0));
    cfg.users.push(user("hh_b", "pw_b", 1));
    let p = sluice_tests::start_proxy(cfg).await;
    let to_b = || {
        mysql_async::ChangeUserOpts::default()
            .with_user(Some("hh_b".into()))
            .with_pass(Some("pw_b".into()))
            .with_db_name(Some(schema.clone()))
    };
    // hh_b's one connection is taken: changing to hh_b is refused like a login.
    let b1 = connect(&p, "hh_b", "pw_b", &schema).await;
    let mut a = connect(&p, "hh_a", "pw_a", &schema).await;
    let e = a.change_user(to_b()).await.expect_err("over hh_b's max_connections");
    assert!(e.to_string().contains("1226"), "{e}");
    let mut a = connect(&p, "hh_a", "pw_a", &schema).await; // a refused change-user closes the driver's connection
    drop(b1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // hh_b's slot is free: the change succeeds, and the session now counts as hh_b's.
    a.change_user(to_b()).await.expect("change to hh_b");
    let one: Option<i32> = a.query_first("SELECT 1").await.expect("runs as hh_b");
    assert_eq!(one, Some(1));
    let e =
        Conn::new(p.opts("hh_b", "pw_b").db_name(Some(schema.clone()))).await.expect_err("limit bypassed");
    assert!(e.to_string().contains("1226"), "{e}");
    // SHOW SESSIONS names the new user.
    let id = a.id();
    let mut adm = admin(&p).await;
    let rows: Vec<Row> = adm.query("SHOW SESSIONS").await.expect("show sessions");
    let row = rows.iter().find(|r| col(r, "id") == id.to_string()).expect("the session is listed");
    assert_eq!(col(row, "user"), "hh_b");
    // KILL's owner check follows too: hh_a no longer owns it.
    let mut other_a = connect(&p, "hh_a", "pw_a", &schema).await;
    let e = other_a.query_drop(format!("KILL {id}")).await.expect_err("not hh_a's any more");
    assert!(e.to_string().contains("1095"), "{e}");
    // Changing back to hh_a gives hh_b's slot back.
    let back = mysql_async::ChangeUserOpts::default()
        .with_user(Some("hh_a".into()))
        .with_pass(Some("pw_a".into()))
        .with_db_name(Some(schema.clone()));
    a.change_user(back).await.expect("change back to hh_a");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let b2 = connect(&p, "hh_b", "pw_b", &schema).await;
    drop(b2);
}
