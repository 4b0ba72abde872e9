//! The result cache through a real driver, against the real primary, replicas and Redis: hits after
//! misses, invalidation by writes (also through another sluice instance sharing Redis, and by
//! triggers), replica lag never frozen into the cache, per-user isolation, prepared statements,
//! non-deterministic statements never cached, SHOW CACHE / FLUSH CACHE.

use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use mysql_async::{Conn, Row};
use sluice_tests::{Proxy, Topology};

use super::ops::http_get;
use super::routing::last_route;
use super::{admin, connect, setup};

/// A config with the cache on for every cacheable SELECT, L2 in the topology's Redis.
fn cache_config(topo: &Topology) -> sluice::config::Config {
    let mut cfg = topo.sluice_config();
    cfg.cache.enabled = true;
    cfg.cache.cache_all = true;
    cfg.monitor.interval_ms = 100;
    cfg
}

/// The cache column of SHOW LAST ROUTE.
async fn cache_status(c: &mut Conn) -> String {
    let row: Row = c.query_first("SHOW LAST ROUTE").await.expect("SHOW LAST ROUTE").expect("a row");
    row.get::<Option<String>, _>("cache").flatten().unwrap_or_default()
}

/// SHOW CACHE as (name, value) pairs.
async fn show_cache(p: &Proxy) -> std::collections::HashMap<String, String> {
    let mut admin = admin(p).await;
    let rows: Vec<(String, String)> = admin.query("SHOW CACHE").await.expect("SHOW CACHE");
    rows.into_iter().collect()
}

/// Waits until sluice has loaded the cache's table dependencies (done at start and after DDL).
async fn deps_loaded(p: &Proxy) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while show_cache(p).await.get("dependencies").map(String::as_str) != Some("loaded") {
        assert!(Instant::now() < deadline, "dependencies never loaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn prepare_table(c: &mut Conn, topo: &Topology) {
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))").await.expect("create");
    c.query_drop("INSERT INTO t VALUES (1, 'one'), (2, 'two')").await.expect("insert");
    topo.wait_replicas_caught_up().await;
}

/// A fresh schema with table `t`, a sluice with the cache on in front of the shared topology (its
/// dependencies loaded), and a session that created the table.
async fn cached_setup(prefix: &str) -> (&'static Topology, String, Proxy, Conn) {
    let (topo, schema) = setup(prefix).await;
    let p = sluice_tests::start_proxy(cache_config(topo)).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    prepare_table(&mut c, topo).await;
    deps_loaded(&p).await;
    (topo, schema, p, c)
}

#[tokio::test]
async fn hit_after_miss_returns_the_same_result_and_writes_invalidate() {
    let (topo, schema, p, mut c) = cached_setup("cache_hit").await;
    let mut reader = connect(&p, "app", "app", &schema).await;
    let q = "SELECT id, v AS `Value` FROM t ORDER BY id";
    let first: Vec<Row> = reader.query(q).await.expect("miss");
    assert_eq!(cache_status(&mut reader).await, "miss");
    // Stored once the monitor has seen the replica apply the table's last write (the INSERT above).
    let second: Vec<Row> = until_hit(&mut reader, q).await;
    let (role, reason, _) = last_route(&mut reader).await;
    assert_eq!((role.as_str(), reason.as_str()), ("", "cache l1"));
    // Same rows and the same column metadata (names, types, flags) as the backend's answer.
    assert_eq!(first.len(), 2);
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a.clone().unwrap(), b.clone().unwrap());
        let (ca, cb) = (a.columns_ref(), b.columns_ref());
        for (x, y) in ca.iter().zip(cb) {
            assert_eq!(
                (x.name_str(), x.column_type(), x.flags(), x.column_length()),
                (y.name_str(), y.column_type(), y.flags(), y.column_length())
            );
        }
    }
    assert_eq!(first[0].columns_ref()[1].name_str(), "Value", "column names come from the exact text");
    // Another spelling of the same shape is another entry (its column names could differ).
    let _: Vec<Row> = reader.query("select id, v as `value` from t order by id").await.expect("other text");
    assert_eq!(cache_status(&mut reader).await, "miss");

    // A write through sluice: the next read is fresh (here or on a replica that has it).
    c.query_drop("UPDATE t SET v = 'uno' WHERE id = 1").await.expect("update");
    topo.wait_replicas_caught_up().await;
    let v: Vec<(i32, String)> = reader.query(q).await.expect("after write");
    assert_eq!(v[0], (1, "uno".to_string()));
    assert_eq!(cache_status(&mut reader).await, "miss");
    // A transaction's writes are invalidated at COMMIT.
    let _: Vec<Row> = reader.query(q).await.expect("fill again");
    c.query_drop("BEGIN").await.expect("begin");
    c.query_drop("UPDATE t SET v = 'eins' WHERE id = 1").await.expect("update in tx");
    c.query_drop("COMMIT").await.expect("commit");
    topo.wait_replicas_caught_up().await;
    let v: Vec<(i32, String)> = reader.query(q).await.expect("after commit");
    assert_eq!(v[0], (1, "eins".to_string()));

    // Statements whose results change by themselves are never cached.
    for q in ["SELECT NOW(), v FROM t", "SELECT RAND() FROM t", "SELECT v, UUID() FROM t"] {
        for _ in 0..2 {
            let _: Vec<Row> = reader.query(q).await.expect("non-deterministic");
            assert_eq!(cache_status(&mut reader).await, "bypass", "{q}");
        }
    }
    // Nor locking reads, nor reads in a transaction.
    c.query_drop("BEGIN").await.expect("begin");
    for _ in 0..2 {
        let _: Vec<Row> = c.query(q).await.expect("read in tx");
        assert_ne!(cache_status(&mut c).await, "hit");
    }
    c.query_drop("COMMIT").await.expect("commit");
    let s = show_cache(&p).await;
    assert!(s["hits_l1"].parse::<u64>().unwrap() >= 1, "{s:?}");
    // Per digest too.
    let mut admin = admin(&p).await;
    let rows: Vec<Row> = admin.query("SHOW DIGESTS ORDER BY count").await.expect("SHOW DIGESTS");
    let row = rows
        .iter()
        .find(|r| r.get::<String, _>("digest_text").unwrap_or_default().contains("order by id"))
        .unwrap_or_else(|| {
            let texts: Vec<String> = rows.iter().filter_map(|r| r.get::<String, _>("digest_text")).collect();
            panic!("the cached statement's digest in {texts:?}")
        });
    assert!(row.get::<u64, _>("cache_hits").unwrap() >= 1);
    assert!(row.get::<u64, _>("cache_misses").unwrap() >= 1);
    let (code, metrics) = http_get(p.http_addr().expect("http"), "/metrics").await;
    assert_eq!(code, 200);
    assert!(metrics.contains("sluice_cache_hits_total{level=\"l1\"}"), "{metrics}");
    assert!(metrics.contains("sluice_cache_l2_up 1"), "{metrics}");
}

/// Runs `q` until it is answered from the cache (a result read on a replica is stored only once sluice
/// knows that replica had applied the read tables' last writes); returns that answer.
async fn until_hit(c: &mut Conn, q: &str) -> Vec<Row> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows: Vec<Row> = c.query(q).await.expect("query");
        if cache_status(c).await == "hit" {
            return rows;
        }
        assert!(Instant::now() < deadline, "{q} never hit the cache");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn results_are_per_user_and_prepared_statements_hit() {
    let (topo, schema, p, mut c) = cached_setup("cache_users").await;
    let q = "SELECT v FROM t WHERE id = 2";
    until_hit(&mut c, q).await;
    // Another user (same backend account) never gets app's entry.
    let mut other = connect(&p, "native_only", "native", &schema).await;
    let v: Option<String> = other.query_first(q).await.expect("other user");
    assert_eq!(v.as_deref(), Some("two"));
    assert_eq!(cache_status(&mut other).await, "miss");

    // Prepared statements: the same parameters hit, other parameters miss.
    let stmt = c.prep("SELECT id, v FROM t WHERE id = ?").await.expect("prepare");
    let a: Option<(i32, String)> = c.exec_first(&stmt, (1,)).await.expect("exec 1");
    assert_eq!(cache_status(&mut c).await, "miss");
    let b: Option<(i32, String)> = c.exec_first(&stmt, (1,)).await.expect("exec 1 again");
    assert_eq!(
        cache_status(&mut c).await,
        "hit",
        "stored: the replicas are known to have the table's writes"
    );
    assert_eq!(a, b);
    assert_eq!(a, Some((1, "one".to_string())));
    let d: Option<(i32, String)> = c.exec_first(&stmt, (2,)).await.expect("exec 2");
    assert_eq!(d, Some((2, "two".to_string())));
    assert_eq!(cache_status(&mut c).await, "miss");
    c.exec_drop("UPDATE t SET v = ? WHERE id = ?", ("dos", 2)).await.expect("update");
    topo.wait_replicas_caught_up().await;
    let mut r = connect(&p, "app", "app", &schema).await;
    let d: Option<(i32, String)> =
        r.exec_first("SELECT id, v FROM t WHERE id = ?", (2,)).await.expect("exec");
    assert_eq!(d, Some((2, "dos".to_string())));
}

#[tokio::test]
async fn two_instances_share_redis_and_invalidate_each_other() {
    let (topo, schema) = setup("cache_l2").await;
    let a = sluice_tests::start_proxy(cache_config(topo)).await;
    let b = sluice_tests::start_proxy(cache_config(topo)).await;
    let mut ca = connect(&a, "app", "app", &schema).await;
    let mut cb = connect(&b, "app", "app", &schema).await;
    prepare_table(&mut ca, topo).await;
    deps_loaded(&a).await;
    deps_loaded(&b).await;
    let q = "SELECT v FROM t WHERE id = 1";
    until_hit(&mut ca, q).await;
    let v: Option<String> = cb.query_first(q).await.expect("read through b");
    assert_eq!(v.as_deref(), Some("one"));
    assert_eq!(last_route(&mut cb).await.1, "cache l2");
    let _: Option<String> = cb.query_first(q).await.expect("again through b");
    assert_eq!(last_route(&mut cb).await.1, "cache l1");
    // A write through b: a's L1 entry goes too (pub/sub), and so does the shared L2 entry.
    cb.query_drop("UPDATE t SET v = 'new' WHERE id = 1").await.expect("update through b");
    topo.wait_replicas_caught_up().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let v: Option<String> = ca.query_first(q).await.expect("read through a");
    assert_eq!(v.as_deref(), Some("new"));
    assert_eq!(cache_status(&mut ca).await, "miss");
}

#[tokio::test]
async fn a_trigger_maintained_table_is_invalidated_by_writes_to_its_source() {
    let (topo, schema) = setup("cache_trigger").await;
    let mut root =
        Conn::new(topo.root_opts(&topo.primary).db_name(Some(schema.clone()))).await.expect("root");
    root.query_drop("CREATE TABLE src (id INT PRIMARY KEY, n INT)").await.expect("src");
    root.query_drop("CREATE TABLE total (id INT PRIMARY KEY, n INT)").await.expect("total");
    root.query_drop("INSERT INTO total VALUES (1, 0)").await.expect("seed");
    root.query_drop(
        "CREATE TRIGGER src_ai AFTER INSERT ON src FOR EACH ROW UPDATE total SET n = n + NEW.n WHERE id = 1",
    )
    .await
    .expect("trigger");
    topo.wait_replicas_caught_up().await;
    let p = sluice_tests::start_proxy(cache_config(topo)).await;
    deps_loaded(&p).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    let q = "SELECT n FROM total WHERE id = 1";
    until_hit(&mut c, q).await;
    let mut w = connect(&p, "app", "app", &schema).await;
    w.query_drop("INSERT INTO src VALUES (1, 5)").await.expect("insert into the source");
    topo.wait_replicas_caught_up().await;
    let n: Option<i32> = c.query_first(q).await.expect("after the trigger fired");
    assert_eq!(n, Some(5));
}

/// Concurrent writers and cached readers with the replicas in the loop: once a write's OK is back and
/// the replicas have applied it, no read through sluice returns anything older.
#[tokio::test]
async fn no_stale_read_under_concurrent_writes() {
    let (topo, schema) = setup("cache_race").await;
    let p = sluice_tests::start_proxy(cache_config(topo)).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    c.query_drop("CREATE TABLE k (id INT PRIMARY KEY, v INT)").await.expect("create");
    c.query_drop("INSERT INTO k VALUES (1, 0), (2, 0), (3, 0), (4, 0)").await.expect("seed");
    topo.wait_replicas_caught_up().await;
    deps_loaded(&p).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Readers keep the cache full of every row's current value.
    let mut readers = Vec::new();
    for _ in 0..4 {
        let mut r = connect(&p, "app", "app", &schema).await;
        let stop = stop.clone();
        readers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for id in 1..=4 {
                    let _: Option<i32> =
                        r.query_first(format!("SELECT v FROM k WHERE id = {id}")).await.expect("read");
                    n += 1;
                }
            }
            n
        }));
    }
    let mut writers = Vec::new();
    for id in 1..=4 {
        let mut w = connect(&p, "app", "app", &schema).await;
        let mut check = connect(&p, "app", "app", &schema).await;
        writers.push(tokio::spawn(async move {
            let mut stale = 0;
            for v in 1..=200 {
                w.query_drop(format!("UPDATE k SET v = {v} WHERE id = {id}")).await.expect("write");
                topo.wait_replicas_caught_up().await;
                let got: Option<i32> =
                    check.query_first(format!("SELECT v FROM k WHERE id = {id}")).await.expect("check read");
                if got != Some(v) {
                    stale += 1;
                }
            }
            stale
        }));
    }
    let mut stale = 0;
    for w in writers {
        stale += w.await.expect("writer");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut reads = 0;
    for r in readers {
        reads += r.await.expect("reader");
    }
    let s = show_cache(&p).await;
    assert_eq!(stale, 0, "stale reads after {reads} cached reads; {s:?}");
    assert!(s["hits_l1"].parse::<u64>().unwrap() > 0, "the readers hit the cache: {s:?}");
}

/// A redis-server of this test's own on a free port (killed and restarted by the test).
struct OwnRedis {
    child: std::process::Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl OwnRedis {
    fn start_on(port: u16, dir: tempfile::TempDir) -> OwnRedis {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server");
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        OwnRedis { child, port, dir }
    }

    fn start() -> OwnRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Self::start_on(port, tempfile::tempdir().expect("temp dir"))
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Redis dies under cached load: no client error, writes still invalidate, and once Redis is back no
/// entry from before is served.
#[tokio::test]
async fn redis_killed_under_cached_load_gives_no_errors() {
    let (topo, schema) = setup("cache_redis_kill").await;
    let mut redis = OwnRedis::start();
    let mut cfg = cache_config(topo);
    cfg.cache.redis_url = format!("redis://127.0.0.1:{}/", redis.port);
    let p = sluice_tests::start_proxy(cfg).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    prepare_table(&mut c, topo).await;
    deps_loaded(&p).await;
    let q = "SELECT v FROM t WHERE id = 1";
    until_hit(&mut c, q).await;
    let mut readers = Vec::new();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for _ in 0..4 {
        let mut r = connect(&p, "app", "app", &schema).await;
        let stop = stop.clone();
        readers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let v: Option<String> = r.query_first(q).await.expect("a read while redis dies: no error");
                assert!(v.is_some());
                n += 1;
            }
            n
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    redis.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Writes carry on and invalidate this instance's L1.
    c.query_drop("UPDATE t SET v = 'while down' WHERE id = 1").await.expect("write while redis is down");
    topo.wait_replicas_caught_up().await;
    let v: Option<String> = c.query_first(q).await.expect("read while down");
    assert_eq!(v.as_deref(), Some("while down"));
    assert_eq!(show_cache(&p).await["l2"], "down");
    // Redis comes back on the same port: L2 is used again, nothing stale is served.
    let port = redis.port;
    let dir = std::mem::replace(&mut redis.dir, tempfile::tempdir().unwrap());
    redis.kill();
    let _back = OwnRedis::start_on(port, dir);
    let back = Instant::now();
    let deadline = back + Duration::from_secs(10);
    while show_cache(&p).await["l2"] != "up" {
        assert!(Instant::now() < deadline, "L2 never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let l2_back_after = back.elapsed();
    let mut fresh = connect(&p, "app", "app", &schema).await;
    for _ in 0..20 {
        let v: Option<String> = fresh.query_first(q).await.expect("read after redis is back");
        assert_eq!(v.as_deref(), Some("while down"));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut reads = 0;
    for r in readers {
        reads += r.await.expect("reader saw no error");
    }
    assert!(reads > 50, "{reads} reads");
    println!(
        "redis killed under 4 cached readers: {reads} reads, 0 errors; L2 up again {l2_back_after:?} after redis restarted; 0 stale reads (21 checked)"
    );
}

/// A replica delayed with MASTER_DELAY (kept in the read rotation by a generous lag limit) returns old
/// rows for a while, as any lagging replica does; but those rows are never stored, so a cache hit never
/// returns them.
#[tokio::test]
async fn private_delayed_replica_never_gets_its_old_rows_cached() {
    let private = Topology::private().await;
    let schema = private.fresh_schema("cache_delay").await;
    let mut cfg = cache_config(&private);
    cfg.monitor.max_replica_lag_ms = 600_000;
    // The reading session must not wait for the writer's write (the default scope, user, would make
    // it): the delayed replica then answers it with the old row, which must never be stored.
    cfg.routing.read_your_writes_scope = sluice::config::WriteScope::Session;
    let p = sluice_tests::start_proxy(cfg).await;
    let mut w = connect(&p, "app", "app", &schema).await;
    prepare_table(&mut w, &private).await;
    deps_loaded(&p).await;
    let r1 = &private.replicas[1];
    let mut root1 = Conn::new(private.root_opts(r1)).await.expect("root on replica 1");
    let ctl = sluice_tests::setup::ReplicaControl::of(private.flavor);
    root1.query_drop(ctl.stop).await.expect("stop replication");
    root1.query_drop(ctl.delay(10)).await.expect("delay");
    root1.query_drop(ctl.start).await.expect("start replication");
    w.query_drop("UPDATE t SET v = 'new' WHERE id = 1").await.expect("update");
    let mut r = connect(&p, "app", "app", &schema).await;
    let q = "SELECT v FROM t WHERE id = 1";
    let (mut old_reads, mut hits, mut misses) = (0, 0, 0);
    let started = Instant::now();
    // Until both kinds of read were seen (and at least 2 s), at most 8 s: the delay is 10 s.
    while started.elapsed() < Duration::from_secs(8)
        && (started.elapsed() < Duration::from_secs(2) || old_reads == 0 || hits == 0)
    {
        let v: Option<String> = r.query_first(q).await.expect("read");
        let status = cache_status(&mut r).await;
        if status == "hit" {
            hits += 1;
            assert_eq!(v.as_deref(), Some("new"), "a cache hit returned the delayed replica's old row");
        } else if v.as_deref() == Some("one") {
            old_reads += 1;
        }
        // A statement of its own each time, so it is never a hit: these reach both replicas in turn,
        // and the delayed one answers with the old row (as any lagging replica does) — never stored.
        let n = old_reads + hits + misses;
        misses += 1;
        let u: Option<String> =
            r.query_first(format!("SELECT v FROM t WHERE id = 1 AND {n} = {n}")).await.expect("read");
        if u.as_deref() == Some("one") {
            old_reads += 1;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let s = show_cache(&p).await;
    assert!(old_reads > 0, "the delayed replica served reads (else this test proves nothing): {s:?}");
    assert!(s["not_stored_replica_behind"].parse::<u64>().unwrap() > 0, "{s:?}");
    assert!(hits > 0, "the up-to-date replica's rows were cached: {s:?}");
    root1.query_drop(ctl.stop).await.expect("stop replication");
    root1.query_drop(ctl.delay(0)).await.expect("no delay");
    root1.query_drop(ctl.start).await.expect("start replication");
}
