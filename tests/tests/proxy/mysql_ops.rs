//! sluice's own operations against MySQL 8.4/9.x (the harness's MySQL topology, from
//! `SLUICE_MYSQL_BASEDIR`): the monitor reads MySQL's replica status and `gtid_executed`, reads go to
//! replicas, read-your-writes waits on GTID sets (`WAIT_FOR_EXECUTED_GTID_SET`), and a group mixing
//! MySQL and MariaDB keeps only its primary's flavour. Without `SLUICE_MYSQL_BASEDIR` each test prints
//! one line and returns.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use mysql_async::Conn;
use mysql_async::prelude::*;
use sluice::config::Role;
use sluice::monitor;
use sluice_tests::Topology;

use super::routing::last_route;

/// The MySQL topology and a fresh schema on it; `None` (after one line) without `SLUICE_MYSQL_BASEDIR`.
async fn setup(prefix: &str) -> Option<(&'static Topology, String)> {
    let topo = sluice_tests::shared_mysql().await?;
    assert_eq!(topo.flavor, sluice_tests::Flavor::MySql);
    let schema = topo.fresh_schema(prefix).await;
    Some((topo, schema))
}

/// The `@@server_id`s that answer `n` autocommit reads through `c`.
async fn read_ids(c: &mut Conn, n: usize) -> BTreeSet<u32> {
    let mut ids = BTreeSet::new();
    for _ in 0..n {
        let id: Option<u32> = c.query_first("SELECT @@server_id").await.expect("server id");
        ids.insert(id.expect("a row"));
    }
    ids
}

/// Reads through `c` until both replicas answer them (the first health check may still be running).
async fn wait_for_replica_reads(c: &mut Conn, topo: &Topology) {
    let want: BTreeSet<u32> = topo.replicas.iter().map(|r| r.server_id).collect();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = read_ids(c, 6).await;
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "reads still answered by {got:?}, want the replicas {want:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// With roles `auto`, the monitor finds the primary by `read_only`/`super_read_only`, the replicas'
/// threads and lag in `SHOW REPLICA STATUS`, and every member's `gtid_executed`; reads through sluice
/// then go to the replicas, writes to the primary.
#[tokio::test]
async fn mysql_monitor_reads_replica_status_and_reads_go_to_replicas() {
    let Some((topo, schema)) = setup("mysql_monitor").await else { return };
    let mut cfg = topo.sluice_config();
    for m in &mut cfg.groups[0].members {
        m.role = Role::Auto;
    }
    let targets = monitor::targets(&cfg, None).expect("monitor credentials");
    let mut conns = (0..targets.len()).map(|_| None).collect::<Vec<_>>();
    let snap = monitor::check_all(&targets, &mut conns).await;
    let members = &snap.groups[0].1;
    let primary = &members[0];
    assert!(primary.healthy, "{:?}", primary.error);
    assert_eq!((primary.read_only, primary.replicating, primary.lag_ms), (Some(false), false, None));
    assert!(primary.is_primary());
    let mut root = topo.connect_root(&topo.primary).await.expect("root");
    let uuid: Option<String> = root.query_first("SELECT @@server_uuid").await.expect("uuid");
    let uuid = uuid.expect("a row");
    for r in &members[1..] {
        assert!(r.healthy, "{:?}", r.error);
        assert_eq!(r.read_only, Some(true), "super_read_only replica");
        assert!(r.replicating && r.applying && !r.reconnecting, "{r:?}");
        assert!(r.lag_ms.is_some_and(|l| l < 5000), "{r:?}");
        assert!(!r.is_primary());
        // The replica's executed set has the primary's transactions (the accounts, the schema).
        assert!(r.gtid.as_deref().is_some_and(|g| g.contains(&uuid)), "{r:?}");
    }

    let p = sluice_tests::start_proxy(cfg).await;
    let mut c = Conn::new(p.opts("app", "app").db_name(Some(schema.clone()))).await.expect("connect");
    wait_for_replica_reads(&mut c, topo).await;
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY)").await.expect("create on the primary");
    c.query_drop("INSERT INTO t VALUES (1)").await.expect("insert on the primary");
    assert_eq!(last_route(&mut c).await.0, "primary");
    c.disconnect().await.ok();
    p.shutdown().await;
}

/// A MariaDB member in a group whose primary is MySQL is taken out of it by the first check, with an
/// error that says why (SHOW BACKENDS shows it); the group's own members stay healthy.
#[tokio::test]
async fn mysql_group_with_a_mariadb_member_refuses_it() {
    let Some((topo, _schema)) = setup("mysql_mixed").await else { return };
    let maria = sluice_tests::try_shared_mariadb().await.expect("the MariaDB topology");
    let mut cfg = topo.sluice_config();
    cfg.groups[0].members.push(sluice::config::MemberConfig {
        address: maria.replicas[0].addr.to_string(),
        role: Role::Replica,
        weight: 1,
        tls: None,
    });
    // The MariaDB topology has the same monitor account and password.
    let targets = monitor::targets(&cfg, None).expect("monitor credentials");
    let mut conns = (0..targets.len()).map(|_| None).collect::<Vec<_>>();
    let snap = monitor::check_all(&targets, &mut conns).await;
    let members = &snap.groups[0].1;
    assert!(members[..3].iter().all(|m| m.healthy), "{members:?}");
    let mixed = &members[3];
    assert!(!mixed.healthy);
    let e = mixed.error.as_deref().unwrap_or_default();
    assert!(e.contains("MariaDB member in a MySQL group"), "{e}");
}

/// Read-your-writes on MySQL: every read after a session's own write sees it — on a replica whose
/// `gtid_executed` has the write's GTID (from the OWN_GTID session tracker), after
/// `WAIT_FOR_EXECUTED_GTID_SET` if needed, or on the primary. `PAIRS` sets the pairs per session
/// (default 500; 4 sessions). Some reads must land on replicas, or the test would prove nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_read_your_writes_no_stale_reads() {
    let Some((topo, schema)) = setup("mysql_ryw").await else { return };
    write_then_read(topo, &schema, false).await;
}

/// The same pairs with the result cache on, each read done twice: a result read on a replica is
/// stored only when that replica is known to have the table's last write (MySQL GTID sets), so the
/// second read may hit and never returns an older value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_cache_fills_on_replicas_follow_gtid_sets() {
    let Some((topo, schema)) = setup("mysql_ryw_cache").await else { return };
    write_then_read(topo, &schema, true).await;
}

async fn write_then_read(topo: &Topology, schema: &str, cache: bool) {
    let mut cfg = topo.sluice_config();
    if cache {
        cfg.cache.enabled = true;
        cfg.cache.cache_all = true;
    }
    let p = sluice_tests::start_proxy(cfg).await;
    let opts = p.opts("app", "app").db_name(Some(schema.to_owned()));
    let mut c = Conn::new(opts.clone()).await.expect("connect");
    c.query_drop("CREATE TABLE counters (id INT PRIMARY KEY, n INT)").await.expect("create");
    wait_for_replica_reads(&mut c, topo).await;
    let pairs: u32 = std::env::var("PAIRS").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    let sessions = 4u32;
    let reads = if cache { 2 } else { 1 };
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..sessions {
        let opts = opts.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::new(opts).await.expect("connect");
            c.exec_drop("INSERT INTO counters VALUES (?, 0)", (s,)).await.expect("insert");
            let (mut stale, mut on_replica, mut sampled) = (0u32, 0u32, 0u32);
            for i in 1..=pairs {
                c.exec_drop("UPDATE counters SET n = ? WHERE id = ?", (i, s)).await.expect("update");
                for _ in 0..reads {
                    let n: Option<u32> =
                        c.exec_first("SELECT n FROM counters WHERE id = ?", (s,)).await.expect("read");
                    stale += u32::from(n != Some(i));
                }
                if i % 25 == 0 {
                    sampled += 1;
                    on_replica += u32::from(last_route(&mut c).await.0 == "replica");
                }
            }
            c.disconnect().await.ok();
            (stale, on_replica, sampled)
        }));
    }
    let (mut stale, mut on_replica, mut sampled) = (0, 0, 0);
    for t in tasks {
        let (s, r, n) = t.await.expect("task");
        stale += s;
        on_replica += r;
        sampled += n;
    }
    let total = sessions * pairs;
    let mut hits = String::new();
    if cache {
        let mut a = super::admin(&p).await;
        let rows: Vec<(String, String)> = a.query("SHOW CACHE").await.expect("SHOW CACHE");
        let get = |k: &str| rows.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
        hits = format!(
            "; cache hits {}, not stored (replica behind) {}",
            get("hits_l1"),
            get("not_stored_replica_behind")
        );
        assert!(get("hits_l1").parse::<u64>().unwrap_or(0) > 0, "no read hit the cache{hits}");
    }
    eprintln!(
        "MySQL read-your-writes: {total} write-then-read pairs ({reads} read(s) each) in {:?}, {stale} stale; sampled last reads on replicas: {on_replica}/{sampled}{hits}",
        t0.elapsed()
    );
    assert_eq!(stale, 0, "{stale} stale reads of {total} pairs");
    if !cache {
        assert!(on_replica > 0, "no sampled read went to a replica ({sampled} sampled)");
    }
    c.disconnect().await.ok();
    p.shutdown().await;
}

/// A `[[rules]] timeout_ms` limit on MySQL: the statement is killed (KILL QUERY) and the client gets
/// MySQL's own code for a statement time limit, ERR 3024 (HY000), naming the rule; the session
/// carries on. (A lone `SELECT SLEEP(n)` killed on MySQL returns 1 instead of an error — MySQL's
/// documented behaviour — so the slow statement here is a join.)
#[tokio::test]
async fn mysql_rule_timeout_gives_mysqls_error_code() {
    let Some((topo, schema)) = setup("mysql_limit").await else { return };
    let mut cfg = topo.sluice_config();
    cfg.rules = vec![sluice::config::RuleConfig {
        name: Some("slow_join".into()),
        matches: sluice::config::RuleMatch { regex: Some("cross join".into()), ..Default::default() },
        action: sluice::config::RuleAction::Timeout,
        target: None,
        ttl_ms: None,
        message: None,
        timeout_ms: Some(300),
    }];
    let p = sluice_tests::start_proxy(cfg).await;
    let mut c = Conn::new(p.opts("app", "app").db_name(Some(schema.clone()))).await.expect("connect");
    c.query_drop("CREATE TABLE h (n INT PRIMARY KEY)").await.expect("create");
    c.query_drop(
        "INSERT INTO h WITH RECURSIVE s (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 200) SELECT n FROM s",
    )
    .await
    .expect("fill");
    // A sum over 1.6e9 rows (MySQL answers a COUNT(*) of the same join at once).
    let slow = "SELECT SUM(a.n + b.n + c.n + d.n) FROM h a CROSS JOIN h b CROSS JOIN h c CROSS JOIN h d";
    let started = Instant::now();
    let r = c.query_first::<i64, _>(slow).await;
    let took = started.elapsed();
    let (role, reason, _) = last_route(&mut c).await;
    let e =
        r.map(|n| panic!("{n:?} after {took:?} on {role} ({reason}): not over its time limit")).unwrap_err();
    let mysql_async::Error::Server(e) = e else { panic!("expected a server error: {e:?}") };
    eprintln!("MySQL: ERR {} ({}) after {took:?}: {}", e.code, e.state, e.message);
    assert_eq!((e.code, e.state.as_str()), (3024, "HY000"));
    assert!(e.message.contains("slow_join") && e.message.contains("300 ms"), "{}", e.message);
    assert!(took < Duration::from_secs(3), "{took:?}");
    let one: Option<i32> = c.query_first("SELECT 1").await.expect("the session carries on");
    assert_eq!(one, Some(1));
    c.disconnect().await.ok();
    p.shutdown().await;
}

/// sluice's GTID parser against the server's own text: `gtid_executed` of the primary and of a replica
/// after a tagged transaction (MySQL 8.4+ `uuid:tag:n`, printed with a newline after each comma).
#[tokio::test]
async fn mysql_gtid_text_with_tags_parses_as_the_server_prints_it() {
    use sluice::gtid::GtidPos;
    let Some((topo, schema)) = setup("mysql_gtid_tags").await else { return };
    let mut root = topo.connect_root(&topo.primary).await.expect("root");
    root.query_drop(format!("CREATE TABLE `{schema}`.t (id INT PRIMARY KEY)")).await.expect("create");
    root.query_drop("SET gtid_next = 'AUTOMATIC:sluice_test'").await.expect("a tag");
    root.query_drop(format!("INSERT INTO `{schema}`.t VALUES (1)")).await.expect("tagged insert");
    root.query_drop("SET gtid_next = 'AUTOMATIC'").await.expect("no tag");
    let uuid: String = root.query_first("SELECT @@server_uuid").await.expect("uuid").expect("a row");
    let primary: String =
        root.query_first("SELECT @@global.gtid_executed").await.expect("gtid").expect("a row");
    topo.wait_replicas_caught_up().await;
    let mut replica = topo.connect_root(&topo.replicas[0]).await.expect("root on a replica");
    let applied: String =
        replica.query_first("SELECT @@global.gtid_executed").await.expect("gtid").expect("a row");
    eprintln!("primary gtid_executed: {primary:?}; replica: {applied:?}");
    let (p, r) = (GtidPos::parse(&primary), GtidPos::parse(&applied));
    assert!(p.is_readable() && r.is_readable(), "{p} / {r}");
    assert!(r.covers(&p), "the caught-up replica has everything the primary has: {r} / {p}");
    let tagged = GtidPos::parse(&format!("{uuid}:sluice_test:1"));
    assert!(r.covers(&tagged), "{r} has the tagged transaction");
    assert!(!r.covers(&GtidPos::parse(&format!("{uuid}:sluice_other:1"))));
    // The server reads sluice's text back as the same set.
    let same: Option<i64> = replica
        .exec_first(
            "SELECT GTID_SUBSET(?, ?) AND GTID_SUBSET(?, ?)",
            (r.to_string(), &applied, &applied, r.to_string()),
        )
        .await
        .expect("GTID_SUBSET");
    assert_eq!(same, Some(1), "{r} vs {applied:?}");
}
