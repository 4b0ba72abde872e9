//! The `sluice` binary itself (pingora-core server): config from a file, SIGTERM drains statements in
//! flight and exits cleanly.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use mysql_async::Conn;
use mysql_async::prelude::*;
use sluice_protocol::auth::{
    native_hash_to_string, native_password_hash, sha2_hash_to_string, sha2_password_hash,
};

use super::setup;

/// The sluice binary of this build (built on demand when only this crate's tests were built).
fn sluice_bin() -> PathBuf {
    let target = sluice_tests::procs::target_dir();
    let bin = target.join("debug").join("sluice");
    if !bin.exists() {
        let ok = std::process::Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "sluice", "--bin", "sluice"])
            .env("CARGO_TARGET_DIR", &target)
            .status()
            .expect("cargo build");
        assert!(ok.success());
    }
    bin
}

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
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
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
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
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
[[users]]
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
