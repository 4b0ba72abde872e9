//! The health monitor against the real topology: roles from read_only, replication lag, unreachable
//! members reported with their error, snapshots published on an interval.

use std::sync::Arc;
use std::time::Duration;

use sluice::monitor::{self, HealthSnapshot};

use super::setup;

#[tokio::test]
async fn monitor_sees_roles_lag_and_failures() {
    let (topo, _schema) = setup("monitor").await;
    let mut cfg = topo.sluice_config();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_addr = dead.local_addr().expect("addr").to_string();
    drop(dead);
    cfg.groups[0].members.push(sluice::config::MemberConfig {
        address: dead_addr.clone(),
        role: sluice::config::Role::Auto,
        weight: 1,
        tls: None,
    });
    cfg.backend.connect_timeout_ms = 500;
    let targets = monitor::targets(&cfg, None).expect("monitor credentials");
    let mut conns = (0..targets.len()).map(|_| None).collect::<Vec<_>>();
    let snap = monitor::check_all(&targets, &mut conns).await;
    let (group, members) = &snap.groups[0];
    assert_eq!(group, "main");
    assert_eq!(members.len(), 4);
    let primary = &members[0];
    assert!(primary.healthy, "{:?}", primary.error);
    assert_eq!((primary.read_only, primary.replicating, primary.lag_ms), (Some(false), false, None));
    assert!(primary.is_primary());
    for r in &members[1..3] {
        assert!(r.healthy, "{:?}", r.error);
        assert_eq!(r.read_only, Some(true));
        assert!(r.replicating);
        assert!(r.lag_ms.is_some_and(|l| l < 5000), "{r:?}");
        assert!(!r.is_primary());
    }
    let dead = &members[3];
    assert!(!dead.healthy);
    assert!(dead.error.as_deref().is_some_and(|e| e.contains(&dead_addr)), "{dead:?}");
    // A second round reuses the open connections.
    assert!(conns[0].is_some() && conns[3].is_none());
    let again = monitor::check_all(&targets, &mut conns).await;
    assert!(again.groups[0].1[0].healthy);

    // The loop publishes snapshots and stops when told.
    let health: monitor::Health = Arc::new(arc_swap_new(HealthSnapshot::default()));
    let stop = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(monitor::run(targets, Duration::from_millis(50), health.clone(), stop.clone()));
    for _ in 0..100 {
        if !health.load().groups.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(health.load().groups[0].1.len(), 4);
    stop.cancel();
    task.await.expect("monitor stops");
}

fn arc_swap_new(s: HealthSnapshot) -> arc_swap::ArcSwap<HealthSnapshot> {
    arc_swap::ArcSwap::from_pointee(s)
}

/// With a heartbeat table the monitor writes the heartbeat on the primary and measures replica lag
/// from it, to the millisecond.
#[tokio::test]
async fn heartbeat_table_gives_lag_in_milliseconds() {
    use mysql_async::prelude::*;
    let (topo, schema) = setup("heartbeat").await;
    let mut root = mysql_async::Conn::new(topo.root_opts(&topo.primary)).await.expect("root");
    root.query_drop(format!("GRANT CREATE, INSERT, UPDATE, SELECT ON `{schema}`.* TO 'monitor'@'%'"))
        .await
        .expect("grant");
    root.disconnect().await.ok();
    topo.wait_replicas_caught_up().await;
    let mut cfg = topo.sluice_config();
    cfg.monitor.heartbeat_table = Some(format!("{schema}.heartbeat"));
    let targets = monitor::targets(&cfg, None).expect("monitor credentials");
    let mut conns = (0..targets.len()).map(|_| None).collect::<Vec<_>>();
    monitor::check_all(&targets, &mut conns).await; // creates and writes the heartbeat
    topo.wait_replicas_caught_up().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Replicas only: a check of the primary would write a fresh heartbeat.
    let snap = monitor::check_all(&targets[1..3], &mut conns[1..3]).await;
    let members = &snap.groups[0].1;
    for r in members {
        let lag = r.lag_ms.expect("lag from the heartbeat");
        // Seconds_Behind_Master would say 0 (whole seconds); the heartbeat is at least 50 ms old.
        assert!((50..5_000).contains(&lag), "{r:?}");
    }
}
