//! sluice in front of MySQL 8.4/9.x (the harness's MySQL topology, from `SLUICE_MYSQL_BASEDIR`):
//! backend logins with caching_sha2_password — the fast path, and the full authentication every
//! account needs after a restart or a cache flush, without TLS (the server's RSA key, asked for or
//! configured) and over TLS — and a write and a read through sluice. Without `SLUICE_MYSQL_BASEDIR`
//! each test prints one line and returns (`scripts/test.sh` says so once for the run).
//!
//! The monitor, read-your-writes, statement limits and SWITCHOVER on MySQL are in `mysql_ops.rs` and
//! `switchover.rs`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use mysql_async::Conn;
use mysql_async::prelude::*;
use sluice::config::{BackendTls, Config, Credentials};
use sluice_tests::{Topology, Which};

/// Numbers the backend accounts of this process.
static ACCOUNT_SEQ: AtomicU32 = AtomicU32::new(0);

/// A backend account of its own for one test, on the primary (replicated): its caching_sha2 cache
/// entry is empty until sluice first logs in with it, and [`Account::forget`] empties it again.
struct Account {
    name: String,
    password: String,
    /// Holds the password file.
    dir: tempfile::TempDir,
}

impl Account {
    async fn create(topo: &Topology, schema: &str) -> Account {
        let n = ACCOUNT_SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!("sha2_{}_{n}", std::process::id());
        let password = format!("pw-{name}-secret");
        let mut root = topo.connect_root(&topo.primary).await.expect("root on the primary");
        for stmt in [
            format!("CREATE USER '{name}'@'%' IDENTIFIED WITH caching_sha2_password BY '{password}'"),
            format!("GRANT ALL ON `{schema}`.* TO '{name}'@'%'"),
        ] {
            root.query_drop(&stmt).await.unwrap_or_else(|e| panic!("{stmt}: {e}"));
        }
        root.disconnect().await.ok();
        topo.wait_replicas_caught_up().await;
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("password"), &password).expect("password file");
        Account { name, password, dir }
    }

    /// `[backend] credentials` for this account.
    fn credentials(&self) -> Credentials {
        Credentials {
            user: self.name.clone(),
            password_env: None,
            password_file: Some(self.dir.path().join("password")),
        }
    }

    /// Empties the server's caching_sha2 cache entry for this account on every member: `ALTER USER`
    /// does that for one account (`FLUSH PRIVILEGES` and a restart for all), and it replicates.
    async fn forget(&self, topo: &Topology) {
        let mut root = topo.connect_root(&topo.primary).await.expect("root on the primary");
        let stmt = format!("ALTER USER '{}'@'%' IDENTIFIED BY '{}'", self.name, self.password);
        root.query_drop(&stmt).await.expect("ALTER USER");
        root.disconnect().await.ok();
        topo.wait_replicas_caught_up().await;
    }
}

/// The MySQL topology and a fresh schema on it; `None` (after one line) without `SLUICE_MYSQL_BASEDIR`.
async fn setup(prefix: &str) -> Option<(&'static Topology, String)> {
    let topo = sluice_tests::shared_mysql().await?;
    assert_eq!(topo.flavor, sluice_tests::Flavor::MySql);
    let schema = topo.fresh_schema(prefix).await;
    Some((topo, schema))
}

/// The test config with `account` as sluice's backend account, and only the primary as member when
/// `primary_only` (the replicas offer no TLS).
fn config(topo: &Topology, account: &Account, primary_only: bool) -> Config {
    let mut cfg = topo.sluice_config();
    cfg.backend.credentials = account.credentials();
    if primary_only {
        cfg.groups[0].members.truncate(1);
    }
    cfg
}

/// A client of `cfg`'s sluice runs `SELECT CURRENT_USER()` and reads its backend session's
/// `Ssl_version`; the error as text when the login or the statement fails.
async fn backend_login(cfg: Config, schema: &str) -> Result<(String, String), String> {
    let p = sluice_tests::start_proxy(cfg).await;
    let result = async {
        let mut c = Conn::new(p.opts("app", "app").db_name(Some(schema))).await?;
        let user: Option<String> = c.query_first("SELECT CURRENT_USER()").await?;
        let ssl: Option<(String, String)> = c.query_first("SHOW SESSION STATUS LIKE 'Ssl_version'").await?;
        c.disconnect().await?;
        Ok::<_, mysql_async::Error>((user.unwrap_or_default(), ssl.map(|(_, v)| v).unwrap_or_default()))
    }
    .await
    .map_err(|e| e.to_string());
    p.shutdown().await;
    result
}

/// A PEM RSA public key no member has (a 2048-bit key of this test's own).
fn unrelated_key_file(dir: &Path) -> PathBuf {
    use rsa::pkcs8::EncodePublicKey as _;
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key");
    let pem = key.to_public_key().to_public_key_pem(rsa::pkcs8::LineEnding::LF).expect("PEM");
    let path = dir.join("unrelated_public_key.pem");
    std::fs::write(&path, pem).expect("key file");
    path
}

#[tokio::test]
async fn mysql_login_write_and_read_through_sluice() {
    let Some((topo, schema)) = setup("mysql_basic").await else { return };
    let p = sluice_tests::start_proxy(topo.sluice_config()).await;
    let mut c = Conn::new(p.opts("app", "app").db_name(Some(&schema))).await.expect("login through sluice");
    let version: Option<String> = c.query_first("SELECT VERSION()").await.expect("version");
    let version = version.unwrap_or_default();
    assert!(!version.contains("MariaDB") && version.starts_with(['8', '9']), "backend version {version:?}");
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(20), j JSON)")
        .await
        .expect("create");
    c.exec_drop("INSERT INTO t (v, j) VALUES (?, ?), (?, ?)", ("a", r#"{"k": 1}"#, "b", "[1, 2]"))
        .await
        .expect("insert");
    assert_eq!((c.affected_rows(), c.last_insert_id()), (2, Some(1)));
    let rows: Vec<(i32, String, String)> =
        c.query("SELECT id, v, CAST(j AS CHAR) FROM t ORDER BY id").await.expect("select");
    assert_eq!(rows, vec![(1, "a".into(), r#"{"k": 1}"#.into()), (2, "b".into(), "[1, 2]".into())]);
    let prepared: Option<String> =
        c.exec_first("SELECT v FROM t WHERE id = ?", (2,)).await.expect("prepared");
    assert_eq!(prepared.as_deref(), Some("b"));
    // The write reached the primary and replicates; the replicas refuse it themselves.
    topo.wait_replicas_caught_up().await;
    let mut replica =
        Conn::new(topo.app_opts(&topo.replicas[0]).db_name(Some(&schema))).await.expect("replica");
    let n: Option<i64> = replica.query_first("SELECT COUNT(*) FROM t").await.expect("count");
    assert_eq!(n, Some(2));
    replica.disconnect().await.ok();
    c.disconnect().await.expect("quit");
    p.shutdown().await;
}

/// Full authentication without TLS, with the key asked for and with a configured key, and the fast
/// path; a configured key the server does not hold proves which path a login took.
#[tokio::test]
async fn mysql_backend_caching_sha2_fast_and_full_path_without_tls() {
    let Some((topo, schema)) = setup("mysql_sha2").await else { return };
    let account = Account::create(topo, &schema).await;
    let expected_user = format!("{}@%", account.name);
    let wrong_key = unrelated_key_file(account.dir.path());
    // Every member has the key pair the template was initialized with.
    let right_key = topo.dir.join("primary/public_key.pem");
    assert!(right_key.is_file(), "{}", right_key.display());

    // 1. A new account is in no cache: full authentication; no key configured, so sluice asks for it.
    let (user, ssl) =
        backend_login(config(topo, &account, false), &schema).await.expect("full path, key asked for");
    assert_eq!((user.as_str(), ssl.as_str()), (expected_user.as_str(), ""), "no TLS toward the backend");

    // 2. Now cached: the fast path, which never uses the key (a wrong one does not matter).
    let mut cfg = config(topo, &account, true);
    cfg.backend.server_public_key_file = Some(wrong_key.clone());
    let (user, _) = backend_login(cfg.clone(), &schema).await.expect("fast path");
    assert_eq!(user, expected_user);

    // 3. Cache emptied: full authentication with the configured key; the wrong one is refused.
    account.forget(topo).await;
    let err = backend_login(cfg, &schema).await.expect_err("a key the server does not hold");
    assert!(err.contains("1045"), "the backend's refusal reaches the client: {err}");
    let mut cfg = config(topo, &account, true);
    cfg.backend.server_public_key_file = Some(right_key);
    let (user, ssl) = backend_login(cfg, &schema).await.expect("full path, configured key");
    assert_eq!((user.as_str(), ssl.as_str()), (expected_user.as_str(), ""));
}

/// Full authentication over TLS sends the password in clear inside TLS (no RSA key involved: a wrong
/// configured key does not matter).
#[tokio::test]
async fn mysql_backend_caching_sha2_full_path_over_tls() {
    let Some((topo, schema)) = setup("mysql_sha2_tls").await else { return };
    let account = Account::create(topo, &schema).await;
    let mut cfg = config(topo, &account, true);
    cfg.backend.tls = BackendTls { enabled: true, verify: true, ca: Some(topo.tls_ca.clone()) };
    cfg.backend.server_public_key_file = Some(unrelated_key_file(account.dir.path()));
    for round in ["new account", "after the cache entry was emptied"] {
        let (user, ssl) =
            backend_login(cfg.clone(), &schema).await.unwrap_or_else(|e| panic!("{round}: {e}"));
        assert_eq!(user, format!("{}@%", account.name), "{round}");
        assert!(ssl.starts_with("TLS"), "{round}: backend session not on TLS: {ssl:?}");
        account.forget(topo).await;
    }
}

/// A restarted MySQL has an empty caching_sha2 cache: sluice's new backend connections authenticate in
/// full (the RSA key asked for) and clients carry on.
#[tokio::test]
async fn private_mysql_backend_logs_in_again_after_a_restart() {
    let Some(mut private) = Topology::private_mysql().await else { return };
    let schema = private.fresh_schema("mysql_restart").await;
    let mut cfg = private.sluice_config();
    cfg.groups[0].members.truncate(1);
    let p = sluice_tests::start_proxy(cfg).await;
    let opts = p.opts("app", "app").db_name(Some(schema.clone()));
    let mut c = Conn::new(opts.clone()).await.expect("login");
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY)").await.expect("create");
    c.query_drop("INSERT INTO t VALUES (1)").await.expect("insert before the restart");
    drop(c);

    private.kill(Which::Primary).expect("kill the primary");
    private.restart(Which::Primary).await.expect("restart the primary");
    // Pooled connections died with the server; whatever the first attempt meets, a new session within
    // a few seconds must work, on a connection that authenticated in full.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut c = loop {
        match Conn::new(opts.clone()).await {
            Ok(mut c) => match c.query_drop("INSERT INTO t VALUES (2)").await {
                Ok(()) => break c,
                Err(e) => assert!(std::time::Instant::now() < deadline, "after the restart: {e}"),
            },
            Err(e) => assert!(std::time::Instant::now() < deadline, "login after the restart: {e}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM t").await.expect("count");
    assert_eq!(n, Some(2));
    c.disconnect().await.ok();
    p.shutdown().await;
}
