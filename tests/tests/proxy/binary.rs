//! The `sluice` binary itself (pingora-core server): config from a file, SIGTERM drains statements in
//! flight and exits cleanly.

use std::process::Stdio;
use std::time::{Duration, Instant};

use mysql_async::Conn;
use mysql_async::prelude::*;
use sluice_protocol::auth::{
    native_hash_to_string, native_password_hash, sha2_hash_to_string, sha2_password_hash,
};

use super::setup;

use sluice_tests::procs::sluice_bin;

#[tokio::test]
async fn binary_serves_and_drains_on_sigterm() {
    drains_on(nix::sys::signal::Signal::SIGTERM).await;
}

#[tokio::test]
async fn binary_drains_on_sigint_too() {
    drains_on(nix::sys::signal::Signal::SIGINT).await;
}

async fn drains_on(signal: nix::sys::signal::Signal) {
    let (topo, schema) = setup("binary").await;
    let port = sluice_tests::procs::free_ports(1).expect("a free port")[0];
    let dir = tempfile::tempdir().expect("tmp");
    let config = format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
workers = 1
shutdown_grace_ms = 10000
[admin]
enabled = false
[http]
enabled = false
[[users]]
name = "app"
mysql_native_password = "{native}"
caching_sha2_password = "{sha2}"
[backend.credentials]
user = "app"
password_file = "{pwfile}"
[[groups]]
name = "main"
[[groups.members]]
address = "{primary}"
role = "primary"
"#,
        native = native_hash_to_string(&native_password_hash(b"app")),
        sha2 = sha2_hash_to_string(&sha2_password_hash(b"app")),
        pwfile = topo.app_password_file().display(),
        primary = topo.primary.addr,
    );
    let path = dir.path().join("sluice.toml");
    std::fs::write(&path, config).expect("write config");
    let check =
        std::process::Command::new(sluice_bin()).arg("check-config").arg(&path).output().expect("run");
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));

    let mut child = tokio::process::Command::new(sluice_bin())
        .arg("--config")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start sluice");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let opts = sluice_tests::direct_opts(addr, "app", "app").db_name(Some(schema.clone()));
    let started = Instant::now();
    let mut c = loop {
        match Conn::new(opts.clone()).await {
            Ok(c) => break c,
            Err(e) if started.elapsed() > Duration::from_secs(20) => {
                panic!("sluice binary never answered: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let slow = tokio::spawn(async move {
        let v: Option<i64> = c.query_first("SELECT SLEEP(1)").await.expect("statement in flight finishes");
        v
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = nix::unistd::Pid::from_raw(child.id().expect("pid") as i32);
    nix::sys::signal::kill(pid, signal).expect("signal");
    let t = Instant::now();
    assert_eq!(slow.await.expect("join"), Some(0));
    let status =
        tokio::time::timeout(Duration::from_secs(8), child.wait()).await.expect("exits after draining");
    assert!(status.expect("status").success());
    assert!(t.elapsed() < Duration::from_secs(8), "exit waited out the grace period");
    assert!(Conn::new(opts).await.is_err(), "nothing listens any more");
}

#[tokio::test]
async fn binary_reloads_its_config_on_sighup() {
    let (topo, schema) = setup("sighup").await;
    let port = sluice_tests::procs::free_ports(1).expect("a free port")[0];
    let dir = tempfile::tempdir().expect("tmp");
    let base = format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
workers = 1
[admin]
enabled = false
[http]
enabled = false
{app}"#,
        app = app_and_primary(topo),
    );
    let rule = "\n[[rules]]\nmatch = { pattern = \"as hup_probe\" }\naction = \"block\"\nmessage = \"blocked after SIGHUP\"\n";
    let path = dir.path().join("sluice.toml");
    std::fs::write(&path, &base).expect("write config");
    let mut child = tokio::process::Command::new(sluice_bin())
        .arg("--config")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start sluice");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let opts = sluice_tests::direct_opts(addr, "app", "app").db_name(Some(schema.clone()));
    let started = Instant::now();
    let mut c = loop {
        match Conn::new(opts.clone()).await {
            Ok(c) => break c,
            Err(e) if started.elapsed() > Duration::from_secs(20) => {
                panic!("sluice binary never answered: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let probe = "SELECT 1 AS hup_probe";
    assert_eq!(c.query_first::<i32, _>(probe).await.expect("allowed"), Some(1));
    let pid = nix::unistd::Pid::from_raw(child.id().expect("pid") as i32);
    let hup = || nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("SIGHUP");

    std::fs::write(&path, format!("{base}{rule}")).expect("write config with a rule");
    hup();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match c.query_first::<i32, _>(probe).await {
            Err(e) => {
                assert!(e.to_string().contains("blocked after SIGHUP"), "{e}");
                break;
            }
            Ok(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            Ok(_) => panic!("the rule never took effect after SIGHUP"),
        }
    }
    // An invalid file on SIGHUP: logged and ignored; the process and the rule stay.
    std::fs::write(&path, format!("{base}{rule}[pool]\nmax_per_backend = 0\n")).expect("write bad config");
    hup();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(child.try_wait().expect("try_wait").is_none(), "sluice exited on SIGHUP");
    assert_eq!(c.query_first::<i32, _>("SELECT 2").await.expect("still serving"), Some(2));
    assert!(c.query_first::<i32, _>(probe).await.is_err(), "the rule from the last good file stays");
    let pid = nix::unistd::Pid::from_raw(child.id().expect("pid") as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await.expect("exits");
    assert!(status.expect("status").success());
}

/// Connects until it works (the binary is starting), for up to 20 s.
async fn first_conn(opts: mysql_async::OptsBuilder) -> Conn {
    let started = Instant::now();
    loop {
        match Conn::new(opts.clone()).await {
            Ok(c) => return c,
            Err(e) if started.elapsed() > Duration::from_secs(20) => {
                panic!("sluice binary never answered: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The config of the upgrade tests: clients, admin and HTTP on the given ports, the upgrade socket
/// in `dir`, and a pid file there when `pid_file`.
fn upgrade_config(
    topo: &sluice_tests::Topology,
    dir: &std::path::Path,
    (port, admin_port, http_port): (u16, u16, u16),
    pid_file: bool,
) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
workers = 2
shutdown_grace_ms = 15000
upgrade_sock = "{sock}"
{pid}[admin]
listen = "127.0.0.1:{admin_port}"
[[admin.users]]
name = "admin"
mysql_native_password = "{admin_hash}"
[http]
listen = "127.0.0.1:{http_port}"
{app}"#,
        sock = dir.join("upgrade.sock").display(),
        pid = if pid_file {
            format!("pid_file = \"{}\"\n", dir.join("sluice.pid").display())
        } else {
            String::new()
        },
        admin_hash = native_hash_to_string(&native_password_hash(b"admin")),
        app = app_and_primary(topo),
    )
}

/// Three distinct free ports: clients, admin, HTTP.
fn three_ports() -> [u16; 3] {
    let p = sluice_tests::procs::free_ports(3).expect("free ports");
    [p[0], p[1], p[2]]
}

/// The config sections the binary tests share: user `app`/`app` (native hash), the topology's backend
/// and monitor accounts, and group `main` with the primary alone.
fn app_and_primary(topo: &sluice_tests::Topology) -> String {
    format!(
        r#"[[users]]
name = "app"
mysql_native_password = "{native}"
[backend.credentials]
user = "app"
password_file = "{pwfile}"
[monitor.credentials]
user = "monitor"
password_file = "{monfile}"
[[groups]]
name = "main"
[[groups.members]]
address = "{primary}"
role = "primary"
"#,
        native = native_hash_to_string(&native_password_hash(b"app")),
        pwfile = topo.app_password_file().display(),
        monfile = topo.monitor_password_file().display(),
        primary = topo.primary.addr,
    )
}

/// Zero-downtime upgrade: a second sluice started with `--upgrade` takes the listening socket over from
/// the first (pingora fd handoff; the old one is sent SIGQUIT through `[server] pid_file`), while a
/// mysql_async pool of 4 long-lived connections writes (autocommit and transactions), new connections
/// keep arriving, and one transaction stays open across the handover. Then: 0 failed statements, 0
/// refused connections, every acknowledged write present, the open transaction committed on the old
/// process, the old process exited 0, and the new one serves clients, admin and HTTP on the same ports.
/// A bare connection idle across the switch (no pool) is closed by the old process: documented.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_upgrade_hands_over_with_no_failed_statement() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let (topo, schema) = setup("upgrade").await;
    let [port, admin_port, http_port] = three_ports();
    let dir = tempfile::tempdir().expect("tmp");
    let config = upgrade_config(topo, dir.path(), (port, admin_port, http_port), true);
    let path = dir.path().join("sluice.toml");
    std::fs::write(&path, config).expect("write config");
    let spawn = |upgrade: bool| {
        let mut cmd = tokio::process::Command::new(sluice_bin());
        cmd.arg("--config").arg(&path);
        if upgrade {
            cmd.arg("--upgrade");
        }
        let log =
            std::fs::File::create(dir.path().join(if upgrade { "new.log" } else { "old.log" })).expect("log");
        cmd.stdout(Stdio::null()).stderr(log).kill_on_drop(true).spawn().expect("start sluice")
    };
    let mut old = spawn(false);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let opts = sluice_tests::direct_opts(addr, "app", "app").db_name(Some(schema.clone()));
    let mut c = first_conn(opts.clone()).await;
    c.query_drop("CREATE TABLE w (id INT PRIMARY KEY, writer INT)").await.expect("create");
    // The pid file appears once the old process listens.
    let pid_path = dir.path().join("sluice.pid");
    while !pid_path.exists() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let pool = mysql_async::Pool::new(
        opts.clone().pool_opts(
            mysql_async::PoolOpts::default()
                .with_constraints(mysql_async::PoolConstraints::new(4, 4).expect("constraints")),
        ),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut workers = Vec::new();
    for n in 0..4u32 {
        let (pool, stop, failed) = (pool.clone(), stop.clone(), failed.clone());
        workers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let id = n * 1_000_000 + i;
                i += 2;
                let r = async {
                    let mut c = pool.get_conn().await?;
                    if i.is_multiple_of(10) {
                        let mut tx = c.start_transaction(Default::default()).await?;
                        tx.exec_drop("INSERT INTO w VALUES (?, ?)", (id, n)).await?;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        tx.exec_drop("INSERT INTO w VALUES (?, ?)", (id + 1, n)).await?;
                        tx.commit().await?;
                        Ok::<_, mysql_async::Error>(vec![id, id + 1])
                    } else {
                        c.exec_drop("INSERT INTO w VALUES (?, ?)", (id, n)).await?;
                        Ok(vec![id])
                    }
                }
                .await;
                match r {
                    Ok(ids) => acked.extend(ids),
                    Err(e) => failed.lock().expect("lock").push(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            acked
        }));
    }
    // New connections keep arriving: none may be refused during the switch.
    let (connects, refused) =
        (Arc::new(AtomicU64::new(0)), Arc::new(std::sync::Mutex::new(Vec::<String>::new())));
    let connector = {
        let (opts, stop, connects, refused) = (opts.clone(), stop.clone(), connects.clone(), refused.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match Conn::new(opts.clone()).await {
                    Ok(mut c) => {
                        match c.query_first::<i32, _>("SELECT 1").await {
                            Ok(Some(1)) => {}
                            other => refused.lock().expect("lock").push(format!("{other:?}")),
                        }
                        let _ = c.disconnect().await;
                        connects.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => refused.lock().expect("lock").push(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    // A transaction open across the whole handover finishes on the old process.
    let mut long_tx = Conn::new(opts.clone()).await.expect("connect");
    long_tx.query_drop("BEGIN").await.expect("begin");
    long_tx.query_drop("INSERT INTO w VALUES (7777777, 9)").await.expect("insert in tx");
    let mut idle = Conn::new(opts.clone()).await.expect("connect");
    idle.query_drop("SELECT 1").await.expect("select");

    tokio::time::sleep(Duration::from_millis(500)).await;
    let t0 = Instant::now();
    let mut new = spawn(true);
    // pingora keeps the old listener open for 5 s after the handover, then the old one drains.
    tokio::time::sleep(Duration::from_secs(7)).await;
    long_tx.query_drop("INSERT INTO w VALUES (7777778, 9)").await.expect("insert in tx, on the old process");
    long_tx.query_drop("COMMIT").await.expect("commit on the old process");
    let status = tokio::time::timeout(Duration::from_secs(10), old.wait()).await.expect("old process exits");
    assert!(status.expect("status").success(), "old process exit status");
    let switched = t0.elapsed();
    assert!(
        long_tx.query_drop("SELECT 1").await.is_err(),
        "the old process closed the session after its transaction"
    );
    let idle_err =
        idle.query_drop("SELECT 1").await.expect_err("an idle bare connection is closed by the old process");
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acked = vec![7777777, 7777778];
    for w in workers {
        acked.extend(w.await.expect("worker"));
    }
    connector.await.expect("connector");
    let failed = failed.lock().expect("lock").clone();
    let refused = refused.lock().expect("lock").clone();
    println!(
        "upgrade: old exited {switched:?} after the new one started; {} writes acknowledged, {} failed; {} connections, {} refused; idle bare connection: {idle_err}",
        acked.len(),
        failed.len(),
        connects.load(Ordering::Relaxed),
        refused.len()
    );
    assert!(failed.is_empty(), "failed statements: {failed:?}");
    assert!(refused.is_empty(), "refused connections: {refused:?}");
    assert!(acked.len() > 100, "{} writes", acked.len());
    // Everything acknowledged is there, and the new process serves clients, admin and HTTP.
    let mut c = first_conn(opts.clone()).await;
    let present: Vec<u32> = c.query("SELECT id FROM w").await.expect("ids");
    let present: std::collections::BTreeSet<u32> = present.into_iter().collect();
    let lost: Vec<&u32> = acked.iter().filter(|id| !present.contains(id)).collect();
    assert!(lost.is_empty(), "acknowledged writes missing: {lost:?}");
    let admin_addr: std::net::SocketAddr = format!("127.0.0.1:{admin_port}").parse().expect("addr");
    let mut a = first_conn(sluice_tests::direct_opts(admin_addr, "admin", "admin")).await;
    let sessions: Vec<mysql_async::Row> = a.query("SHOW SESSIONS").await.expect("admin on the new process");
    assert!(!sessions.is_empty());
    let mut http = tokio::net::TcpStream::connect(("127.0.0.1", http_port)).await.expect("http");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    http.write_all(b"GET /health HTTP/1.0\r\n\r\n").await.expect("write");
    let mut body = String::new();
    http.read_to_string(&mut body).await.expect("read");
    assert!(body.starts_with("HTTP/1.") && body.contains(" 200 "), "{body}");
    drop(c);
    pool.disconnect().await.expect("pool disconnect");
    let pid = nix::unistd::Pid::from_raw(new.id().expect("pid") as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let status = tokio::time::timeout(Duration::from_secs(10), new.wait()).await.expect("new process exits");
    assert!(status.expect("status").success());
}

/// The `MAINPID=` of the next systemd notification on `sock` (within 20 s).
async fn next_main_pid(sock: &tokio::net::UnixDatagram) -> i32 {
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(20), sock.recv(&mut buf))
        .await
        .expect("a systemd notification within 20 s")
        .expect("recv");
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(msg.contains("READY=1"), "{msg}");
    msg.lines()
        .find_map(|l| l.strip_prefix("MAINPID="))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no MAINPID in {msg:?}"))
}

/// Whether process `pid` is gone (or a zombie nobody reaps).
fn gone(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_or(true, |s| s.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')))
}

/// The upgrade as systemd runs it (`systemctl kill -s USR2 --kill-whom=main sluice`, `Type=notify`,
/// `NotifyAccess=all`): SIGUSR2 makes sluice start its own successor from the same binary path; the
/// successor takes the socket over, tells systemd (a `$NOTIFY_SOCKET` datagram socket here) that it is
/// the main process now, and the old one drains and exits. A client connecting every 20 ms is never
/// refused; no pid file is needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_sigusr2_starts_its_successor_and_tells_systemd() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let (topo, schema) = setup("upgrade_usr2").await;
    let [port, admin_port, http_port] = three_ports();
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("sluice.toml");
    std::fs::write(&path, upgrade_config(topo, dir.path(), (port, admin_port, http_port), false))
        .expect("write");
    let notify_path = dir.path().join("notify.sock");
    let notify = tokio::net::UnixDatagram::bind(&notify_path).expect("bind the notify socket");
    let log = std::fs::File::create(dir.path().join("sluice.log")).expect("log");
    let mut old = tokio::process::Command::new(sluice_bin())
        .arg("--config")
        .arg(&path)
        .env("NOTIFY_SOCKET", &notify_path)
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start sluice");
    let old_pid = old.id().expect("pid") as i32;
    assert_eq!(next_main_pid(&notify).await, old_pid, "READY=1 with MAINPID of the process itself");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let opts = sluice_tests::direct_opts(addr, "app", "app").db_name(Some(schema.clone()));
    let mut c = first_conn(opts.clone()).await;
    c.query_drop("CREATE TABLE w (id INT PRIMARY KEY)").await.expect("create");
    drop(c);

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(std::sync::Mutex::new(Vec::<String>::new())));
    let client = {
        let (opts, stop, ok, refused) = (opts.clone(), stop.clone(), ok.clone(), refused.clone());
        tokio::spawn(async move {
            let mut id = 0u32;
            while !stop.load(Ordering::Relaxed) {
                id += 1;
                let r = async {
                    let mut c = Conn::new(opts.clone()).await?;
                    c.exec_drop("INSERT INTO w VALUES (?)", (id,)).await?;
                    c.disconnect().await
                }
                .await;
                match r {
                    Ok(()) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => refused.lock().expect("lock").push(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(old_pid), nix::sys::signal::Signal::SIGUSR2)
        .expect("USR2");
    let t0 = Instant::now();
    let new_pid = next_main_pid(&notify).await;
    assert_ne!(new_pid, old_pid, "the successor names itself the main process");
    let ready_after = t0.elapsed();
    let status = tokio::time::timeout(Duration::from_secs(15), old.wait()).await.expect("old process exits");
    assert!(status.expect("status").success());
    let old_exited = t0.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    client.await.expect("client");
    let refused = refused.lock().expect("lock").clone();
    println!(
        "SIGUSR2: successor ready after {ready_after:?}, old process exited after {old_exited:?}; {} writes on fresh connections, {} failed",
        ok.load(Ordering::Relaxed),
        refused.len()
    );
    assert!(refused.is_empty(), "{refused:?}");
    assert!(!gone(new_pid), "the successor serves on");
    let mut c = first_conn(opts).await;
    let n: Option<u64> = c.query_first("SELECT COUNT(*) FROM w").await.expect("count");
    assert_eq!(n, Some(ok.load(Ordering::Relaxed)));
    drop(c);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(new_pid), nix::sys::signal::Signal::SIGTERM)
        .expect("TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gone(new_pid) {
        assert!(Instant::now() < deadline, "the successor did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
