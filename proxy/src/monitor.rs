//! The health monitor: checks every backend on an interval with the monitor account (reachable,
//! `read_only`, replication threads and lag) and publishes an immutable snapshot. Routing reads the
//! snapshot; it never waits on a check.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::backend::{BackendConn, ConnectSpec};
use crate::config::{Config, Role};
use crate::error::Error;

/// One backend as last checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberHealth {
    /// `host:port`.
    pub address: String,
    /// The role the config gives it.
    pub configured_role: Role,
    /// Answered the last check.
    pub healthy: bool,
    /// `@@read_only` (None until a check succeeds).
    pub read_only: Option<bool>,
    /// Whether replication is configured on it (SHOW SLAVE STATUS has a row).
    pub replicating: bool,
    /// `Seconds_Behind_Master` × 1000; None when replication is stopped or broken, or not a replica.
    pub lag_ms: Option<u64>,
    /// GTID position applied (`gtid_slave_pos` on a MariaDB replica, `gtid_binlog_pos` otherwise).
    pub gtid: Option<String>,
    /// Why the last check failed.
    pub error: Option<String>,
    /// How long the last check took.
    pub check_time: Duration,
}

impl MemberHealth {
    /// Whether it takes writes: role primary, or role auto and not read_only.
    pub fn is_primary(&self) -> bool {
        match self.configured_role {
            Role::Primary => true,
            Role::Replica => false,
            Role::Auto => self.read_only == Some(false),
        }
    }
}

/// All groups' members, in config order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthSnapshot {
    /// `(group name, members)`.
    pub groups: Vec<(String, Vec<MemberHealth>)>,
}

/// The latest snapshot, swapped atomically.
pub type Health = Arc<ArcSwap<HealthSnapshot>>;

/// What to check.
#[derive(Clone)]
pub struct Target {
    /// The member's group name.
    pub group: String,
    role: Role,
    spec: ConnectSpec,
    /// `schema.table` of the heartbeat, if configured (validated: no quoting needed).
    heartbeat: Option<String>,
}

/// The members of `config` with the monitor credentials (password resolved now).
pub fn targets(config: &Config, tls: Option<Arc<rustls::ClientConfig>>) -> Result<Vec<Target>, String> {
    let creds = &config.monitor.credentials;
    let password = creds.password()?;
    let mut out = Vec::new();
    for g in &config.groups {
        for m in &g.members {
            let tls_on = m.tls.unwrap_or(config.backend.tls.enabled);
            out.push(Target {
                group: g.name.clone(),
                role: m.role,
                spec: ConnectSpec {
                    address: m.address.clone(),
                    label: format!("{}/{} {}", g.name, role_name(m.role), m.address),
                    user: creds.user.clone(),
                    password: password.clone(),
                    found_rows: false,
                    charset: 45,
                    tls: if tls_on { tls.clone() } else { None },
                    connect_timeout: Duration::from_millis(config.backend.connect_timeout_ms),
                    max_packet: 1 << 24,
                },
                heartbeat: config.monitor.heartbeat_table.clone(),
            });
        }
    }
    Ok(out)
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Primary => "primary",
        Role::Replica => "replica",
        Role::Auto => "auto",
    }
}

/// Checks one member, reusing `conn` when it is still open.
pub async fn check(target: &Target, conn: &mut Option<BackendConn>) -> MemberHealth {
    let started = Instant::now();
    let result = check_inner(target, conn).await;
    let mut h = MemberHealth {
        address: target.spec.address.clone(),
        configured_role: target.role,
        healthy: false,
        read_only: None,
        replicating: false,
        lag_ms: None,
        gtid: None,
        error: None,
        check_time: started.elapsed(),
    };
    match result {
        Ok((read_only, replicating, lag_ms, gtid)) => {
            h.healthy = true;
            h.read_only = Some(read_only);
            h.replicating = replicating;
            h.lag_ms = lag_ms;
            h.gtid = gtid;
        }
        Err(e) => {
            *conn = None;
            h.error = Some(e.to_string());
        }
    }
    h
}

async fn check_inner(
    target: &Target,
    conn: &mut Option<BackendConn>,
) -> Result<(bool, bool, Option<u64>, Option<String>), Error> {
    let label = target.spec.label.clone();
    let timeout = target.spec.connect_timeout;
    let c = match conn {
        Some(c) => c,
        None => conn.insert(BackendConn::connect(&target.spec).await?),
    };
    let run = async {
        let st = c.query(&label, "SHOW SLAVE STATUS").await?;
        let replicating = !st.rows.is_empty();
        // MariaDB: a replica's applied position is gtid_slave_pos, a primary's gtid_binlog_pos. MySQL
        // has neither name; its check falls back to read_only alone.
        let gtid_var = if replicating { "gtid_slave_pos" } else { "gtid_binlog_pos" };
        let (read_only, gtid) =
            match c.query(&label, &format!("SELECT @@global.read_only, @@global.{gtid_var}")).await {
                Ok(r) => {
                    let row = r.rows.first();
                    let cell = |i: usize| row.and_then(|r| r.get(i)).and_then(|v| v.as_deref());
                    (cell(0) == Some(b"1"), cell(1).map(|g| String::from_utf8_lossy(g).into_owned()))
                }
                Err(Error::BackendRefused { .. }) => {
                    let ro = c.query(&label, "SELECT @@global.read_only").await?;
                    (ro.rows.first().and_then(|r| r.first()).and_then(|v| v.as_deref()) == Some(b"1"), None)
                }
                Err(e) => return Err(e),
            };
        let running = st.get(0, "Slave_IO_Running").as_deref() == Some("Yes")
            && st.get(0, "Slave_SQL_Running").as_deref() == Some("Yes");
        let mut lag_ms = if running {
            st.get(0, "Seconds_Behind_Master").and_then(|s| s.parse::<u64>().ok()).map(|s| s * 1000)
        } else {
            None
        };
        if let Some(table) = &target.heartbeat {
            if !read_only {
                beat(c, &label, table).await;
            } else if running && let Some(ms) = heartbeat_age_ms(c, &label, table).await {
                lag_ms = Some(ms);
            }
        }
        Ok::<_, Error>((read_only, replicating, lag_ms, gtid))
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(r) => r,
        Err(_) => Err(Error::Backend {
            backend: label,
            message: format!("health check took over {} ms", timeout.as_millis()),
        }),
    }
}

/// Writes the heartbeat on a writable member (creating the table the first time). Best effort: a
/// failure is logged, and replicas then fall back to `Seconds_Behind_Master`.
async fn beat(c: &mut BackendConn, label: &str, table: &str) {
    let write = format!(
        "INSERT INTO {table} (id, ts) VALUES (1, UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE ts = VALUES(ts)"
    );
    if c.query(label, &write).await.is_ok() {
        return;
    }
    let schema = table.split('.').next().unwrap_or_default();
    let create = [
        format!("CREATE DATABASE IF NOT EXISTS {schema}"),
        format!("CREATE TABLE IF NOT EXISTS {table} (id INT PRIMARY KEY, ts DATETIME(6) NOT NULL)"),
        write,
    ];
    for sql in &create {
        if let Err(e) = c.query(label, sql).await {
            tracing::warn!(backend = label, error = %e, "heartbeat write failed (check the monitor account's privileges on {table})");
            return;
        }
    }
}

/// How old the heartbeat a replica has applied is, ms (None when it cannot be read yet).
async fn heartbeat_age_ms(c: &mut BackendConn, label: &str, table: &str) -> Option<u64> {
    let sql = format!("SELECT TIMESTAMPDIFF(MICROSECOND, ts, UTC_TIMESTAMP(6)) FROM {table} WHERE id = 1");
    let r = c.query(label, &sql).await.ok()?;
    let us: i64 =
        r.rows.first()?.first()?.as_deref().and_then(|v| std::str::from_utf8(v).ok())?.parse().ok()?;
    Some(u64::try_from(us.max(0)).unwrap_or(0) / 1000)
}

/// Checks every target once (concurrently) and returns the snapshot.
pub async fn check_all(targets: &[Target], conns: &mut [Option<BackendConn>]) -> HealthSnapshot {
    let checks = targets.iter().zip(conns.iter_mut()).map(|(t, c)| check(t, c));
    let results = futures_join_all(checks).await;
    let mut snap = HealthSnapshot::default();
    for (t, h) in targets.iter().zip(results) {
        match snap.groups.last_mut() {
            Some((g, members)) if *g == t.group => members.push(h),
            _ => snap.groups.push((t.group.clone(), vec![h])),
        }
    }
    snap
}

/// Runs checks every `interval` until `stop` is cancelled, publishing each snapshot into `health`.
pub async fn run(
    targets: Vec<Target>,
    interval: Duration,
    health: Health,
    stop: tokio_util::sync::CancellationToken,
) {
    run_with(targets, interval, health, stop, |_| {}).await;
}

/// [`run`], calling `publish` with every snapshot right after it is stored.
pub async fn run_with(
    targets: Vec<Target>,
    interval: Duration,
    health: Health,
    stop: tokio_util::sync::CancellationToken,
    publish: impl Fn(&HealthSnapshot),
) {
    let mut conns: Vec<Option<BackendConn>> = targets.iter().map(|_| None).collect();
    let mut was_unhealthy: Vec<bool> = targets.iter().map(|_| false).collect();
    loop {
        let snap = check_all(&targets, &mut conns).await;
        let flat = snap.groups.iter().flat_map(|(g, m)| m.iter().map(move |m| (g, m)));
        for ((g, m), was) in flat.zip(was_unhealthy.iter_mut()) {
            if *was && m.healthy {
                tracing::info!(group = %g, backend = %m.address, "backend healthy again");
            }
            *was = !m.healthy;
        }
        for (g, members) in &snap.groups {
            for m in members.iter().filter(|m| !m.healthy) {
                tracing::warn!(group = %g, backend = %m.address, error = m.error.as_deref().unwrap_or(""), "backend unhealthy");
            }
        }
        health.store(Arc::new(snap));
        publish(&health.load());
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// Awaits all futures, in order (a tiny join_all: the monitor checks a handful of members).
async fn futures_join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futs.map(Box::pin).collect();
    let mut out = Vec::with_capacity(handles.len());
    // Poll all concurrently by driving them through a JoinSet-free select loop.
    let mut pending: Vec<Option<std::pin::Pin<Box<F>>>> = handles.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (i, slot) in pending.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        results[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
    out.extend(results.into_iter().flatten());
    out
}
