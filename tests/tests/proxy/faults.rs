//! Faults on a private topology (serial nextest group: names start with `fault_`).

use std::time::{Duration, Instant};

use mysql_async::Conn;
use mysql_async::prelude::*;
use sluice_tests::{Topology, Which};

/// A backend that accepts TCP but never answers (SIGSTOP): the statement fails within the configured
/// read timeout with an error naming the backend; nothing hangs; after it resumes, new sessions work.
#[tokio::test]
async fn fault_paused_primary_hits_the_read_timeout() {
    let private = Topology::private().await;
    let schema = private.fresh_schema("paused").await;
    let mut cfg = private.sluice_config();
    cfg.backend.read_timeout_ms = 700;
    cfg.backend.connect_timeout_ms = 700;
    let p = sluice_tests::start_proxy(cfg).await;
    let opts = p.opts("app", "app").db_name(Some(schema.clone()));
    let mut c = Conn::new(opts.clone()).await.expect("connect");
    let one: Option<i32> = c.query_first("SELECT 1").await.expect("before the pause");
    assert_eq!(one, Some(1));

    private.pause(Which::Primary).expect("SIGSTOP primary");
    let started = Instant::now();
    let e = c.query_drop("/* sluice: primary */ SELECT 2").await.expect_err("a paused backend cannot answer");
    let waited = started.elapsed();
    let msg = e.to_string();
    assert!(waited < Duration::from_secs(5), "took {waited:?}");
    // The statement meets the pause on a pooled connection (read timeout) or opening one (connect timeout).
    assert!(
        msg.contains(&private.primary.addr.to_string())
            && (msg.contains("read_timeout_ms") || msg.contains("connect_timeout_ms")),
        "{msg}"
    );
    // New sessions fail fast too instead of hanging: at login (connect timeout) or, when the login is
    // served from an idle pooled connection, at their first statement on the primary.
    let started = Instant::now();
    let attempt = async {
        let mut c = Conn::new(opts.clone()).await?;
        c.query_drop("/* sluice: primary */ SELECT 2").await
    };
    assert!(attempt.await.is_err());
    assert!(started.elapsed() < Duration::from_secs(5));

    private.resume(Which::Primary).expect("SIGCONT primary");
    let mut c = Conn::new(opts).await.expect("connect after resume");
    let three: Option<i32> = c.query_first("SELECT 3").await.expect("after resume");
    assert_eq!(three, Some(3));
}

/// Idle pooled connections die when the primary restarts; the next logins must not fail because of
/// them (with and without a default schema).
#[tokio::test]
async fn fault_primary_restart_does_not_break_later_logins() {
    let mut private = Topology::private().await;
    let schema = private.fresh_schema("restart").await;
    let mut cfg = private.sluice_config();
    cfg.pool.max_per_backend = 2;
    cfg.users.iter_mut().for_each(|u| u.default_schema = None);
    let p = sluice_tests::start_proxy(cfg).await;
    for with_schema in [false, true] {
        let opts = p.opts("app", "app").db_name(with_schema.then(|| schema.clone()));
        // A session leaves its connection idle in the pool (reset in the background).
        let c = Conn::new(opts.clone()).await.expect("connect");
        c.disconnect().await.expect("quit");
        tokio::time::sleep(Duration::from_millis(300)).await;
        private.restart(Which::Primary).await.expect("restart primary");
        let mut c = Conn::new(opts).await.expect("login after a primary restart");
        let one: Option<i32> = c.query_first("SELECT 1").await.expect("query after restart");
        assert_eq!(one, Some(1), "with_schema={with_schema}");
    }
}
