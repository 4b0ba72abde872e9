//! Cache tests: L1 against generations and TTL, single flight, and L2 against a real redis-server
//! started on a free port for the test.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::*;

fn settings() -> Settings {
    Settings {
        l1_bytes: 1 << 20,
        max_entry_bytes: 64 << 10,
        flight_wait: Duration::from_secs(2),
        refresh_ahead: Duration::ZERO,
    }
}

fn tables(names: &[&str]) -> Arc<[TableId]> {
    names.iter().map(|n| table_id(Some("app"), n).unwrap()).collect()
}

fn collected(rows: &[&[u8]]) -> Collector {
    let mut c = Collector::new(64 << 10);
    for r in rows {
        c.push(r);
    }
    c
}

async fn miss(c: &Cache, key: &'static [u8], t: &[&str]) -> Miss {
    match c.lookup(Bytes::from_static(key), tables(t)).await {
        Lookup::Miss(m) => m,
        Lookup::Hit(..) => panic!("expected a miss"),
    }
}

async fn hit(c: &Cache, key: &'static [u8], t: &[&str]) -> Option<(Arc<Entry>, Level)> {
    match c.lookup(Bytes::from_static(key), tables(t)).await {
        Lookup::Hit(e, l) => Some((e, l)),
        Lookup::Miss(_) => None,
    }
}

#[tokio::test]
async fn a_fill_is_served_until_a_read_table_is_written() {
    let c = Cache::new(settings());
    let m = miss(&c, b"q1", &["a", "b"]).await;
    c.fill(m, collected(&[b"row1", b"row2"]), 2, Duration::from_secs(60)).await;
    let (e, level) = hit(&c, b"q1", &["a", "b"]).await.unwrap();
    assert_eq!(level, Level::L1);
    assert_eq!(e.payloads().collect::<Vec<_>>(), vec![&b"row1"[..], b"row2"]);
    assert!(hit(&c, b"q2", &["a", "b"]).await.is_none(), "keys compare in full");
    c.bump(&tables(&["c"]), None, None).await;
    assert!(hit(&c, b"q1", &["a", "b"]).await.is_some());
    c.bump(&tables(&["b"]), None, Some("0-1-3")).await;
    let m = miss(&c, b"q1", &["a", "b"]).await;
    assert_eq!(m.last_writes.iter().map(|g| &**g).collect::<Vec<_>>(), vec!["0-1-3"]);
    assert_eq!(c.snapshot().stale, 1);
}

#[tokio::test]
async fn a_write_while_the_query_ran_leaves_nothing_stored() {
    let c = Cache::new(settings());
    let m = miss(&c, b"q", &["a"]).await; // stamp taken here, before the "query"
    c.bump(&tables(&["a"]), None, None).await; // a write lands while it runs
    c.fill(m, collected(&[b"old row"]), 1, Duration::from_secs(60)).await;
    assert!(hit(&c, b"q", &["a"]).await.is_none());
}

#[tokio::test]
async fn entries_expire_and_large_results_are_not_stored() {
    let c = Cache::new(settings());
    let m = miss(&c, b"q", &["a"]).await;
    c.fill(m, collected(&[b"r"]), 1, Duration::from_millis(30)).await;
    assert!(hit(&c, b"q", &["a"]).await.is_some());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(hit(&c, b"q", &["a"]).await.is_none());
    let m = miss(&c, b"big", &["a"]).await;
    let mut big = Collector::new(1 << 10);
    big.push(&[0u8; 2048]);
    c.fill(m, big, 1, Duration::from_secs(60)).await;
    assert!(hit(&c, b"big", &["a"]).await.is_none());
    assert_eq!(c.snapshot().too_large, 1);
}

#[tokio::test]
async fn flush_and_schema_bumps_drop_entries() {
    let c = Cache::new(settings());
    let m = miss(&c, b"q", &["a"]).await;
    c.fill(m, collected(&[b"r"]), 1, Duration::from_secs(60)).await;
    c.bump(&[], Some("app"), None).await;
    assert!(hit(&c, b"q", &["a"]).await.is_none());
    let m = miss(&c, b"q", &["a"]).await;
    c.fill(m, collected(&[b"r"]), 1, Duration::from_secs(60)).await;
    c.flush_all().await;
    assert!(hit(&c, b"q", &["a"]).await.is_none());
}

#[tokio::test]
async fn concurrent_misses_share_one_fetch() {
    let c = Arc::new(Cache::new(settings()));
    let leader = miss(&c, b"q", &["a"]).await;
    let mut waiters = Vec::new();
    for _ in 0..8 {
        let c = c.clone();
        waiters.push(tokio::spawn(async move { hit(&c, b"q", &["a"]).await.map(|(_, l)| l) }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    c.fill(leader, collected(&[b"r"]), 1, Duration::from_secs(60)).await;
    for w in waiters {
        assert_eq!(w.await.unwrap(), Some(Level::L1));
    }
    let s = c.snapshot();
    assert_eq!(s.misses, 1, "one backend execution");
    assert_eq!(s.flight_waits, 8);
}

#[tokio::test]
async fn refresh_ahead_lets_one_lookup_refill_while_others_are_served() {
    let c = Cache::new(Settings { refresh_ahead: Duration::from_millis(80), ..settings() });
    let m = miss(&c, b"q", &["a"]).await;
    c.fill(m, collected(&[b"old"]), 1, Duration::from_millis(100)).await;
    assert!(hit(&c, b"q", &["a"]).await.is_some(), "fresh: a plain hit");
    tokio::time::sleep(Duration::from_millis(40)).await;
    // Inside the refresh window: the first lookup refreshes, the next ones still get the old entry.
    let refresher = miss(&c, b"q", &["a"]).await;
    let (e, _) = hit(&c, b"q", &["a"]).await.expect("served while refreshing");
    assert_eq!(e.payloads().next(), Some(&b"old"[..]));
    c.fill(refresher, collected(&[b"new"]), 1, Duration::from_millis(100)).await;
    let (e, _) = hit(&c, b"q", &["a"]).await.expect("refreshed");
    assert_eq!(e.payloads().next(), Some(&b"new"[..]));
    assert_eq!(c.snapshot().refreshes, 1);
}

#[tokio::test]
async fn l1_is_bounded_by_bytes() {
    let c = Cache::new(Settings { l1_bytes: 64 << 10, ..settings() });
    for i in 0..200u32 {
        let key = Bytes::from(format!("q{i}"));
        let Lookup::Miss(m) = c.lookup(key, tables(&["a"])).await else { panic!() };
        let mut col = Collector::new(64 << 10);
        col.push(&[1u8; 1000]);
        c.fill(m, col, 1, Duration::from_secs(60)).await;
    }
    let s = c.snapshot();
    assert!(s.l1_bytes <= 64 << 10, "{s:?}");
    assert!(s.l1_evictions > 0, "{s:?}");
}

/// A redis-server of our own on a free port, gone at drop.
struct Redis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server");
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Redis { child, port, _dir: dir }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn with_l2(url: &str, instance: u64) -> Arc<Cache> {
    let l2 = Arc::new(L2::connect(url, Duration::from_millis(200), instance).await.unwrap());
    let c = Arc::new(Cache::new(settings()));
    c.set_l2(l2.clone());
    let c2 = c.clone();
    tokio::spawn(l2::subscribe_loop(l2, move |inv| c2.apply(inv), std::future::pending()));
    tokio::time::sleep(Duration::from_millis(100)).await; // subscribed
    c
}

#[tokio::test]
async fn two_instances_share_l2_and_invalidate_each_other() {
    let redis = Redis::start();
    let a = with_l2(&redis.url(), 1).await;
    let b = with_l2(&redis.url(), 2).await;
    let m = miss(&a, b"q", &["t"]).await;
    a.fill(m, collected(&[b"r"]), 1, Duration::from_secs(60)).await;
    let (e, level) = hit(&b, b"q", &["t"]).await.unwrap();
    assert_eq!(level, Level::L2);
    assert_eq!(e.payloads().collect::<Vec<_>>(), vec![&b"r"[..]]);
    assert_eq!(hit(&b, b"q", &["t"]).await.unwrap().1, Level::L1, "copied into b's L1");
    // A write through b: a's L1 and the shared L2 both drop the entry.
    b.bump(&tables(&["t"]), None, Some("0-1-7")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let m = miss(&a, b"q", &["t"]).await;
    assert!(m.last_writes.iter().any(|g| &**g == "0-1-7"), "the write's GTID reached a");
    drop(m);
    assert!(hit(&b, b"q", &["t"]).await.is_none());
}

#[tokio::test]
async fn redis_down_means_l1_and_backend_and_no_stale_entry_after() {
    let mut redis = Redis::start();
    let port = redis.port;
    let a = with_l2(&redis.url(), 1).await;
    let m = miss(&a, b"q", &["t"]).await;
    a.fill(m, collected(&[b"old"]), 1, Duration::from_secs(60)).await;
    // Redis goes away: lookups and writes carry on, quickly.
    let _ = redis.child.kill();
    let _ = redis.child.wait();
    let t0 = std::time::Instant::now();
    assert!(hit(&a, b"q", &["t"]).await.is_some(), "L1 still serves");
    a.bump(&tables(&["t"]), None, None).await;
    assert!(hit(&a, b"q", &["t"]).await.is_none());
    assert!(!a.l2().unwrap().is_up());
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    // It comes back (same port, empty): recover() bumps the epoch for the lost write.
    let back = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    redis.child = back;
    let mut up = false;
    for _ in 0..100 {
        if a.l2().unwrap().recover().await {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up);
    let m = miss(&a, b"q", &["t"]).await;
    a.fill(m, collected(&[b"new"]), 1, Duration::from_secs(60)).await;
    let (e, _) = hit(&a, b"q", &["t"]).await.unwrap();
    assert_eq!(e.payloads().next(), Some(&b"new"[..]));
}
