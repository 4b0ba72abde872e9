//! The health monitor: checks every backend on an interval with the monitor account (reachable,
//! `read_only`, replication threads and lag) and publishes an immutable snapshot. Routing reads the
//! snapshot; it never waits on a check.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::backend::{BackendConn, ConnectSpec, Flavor};
use crate::core::config::{Config, ConfigError, Role};
use crate::core::error::Error;

/// One backend as last checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberHealth {
    /// `host:port`.
    pub address: String,
    /// The role the config gives it.
    pub configured_role: Role,
    /// Answered the last check.
    pub healthy: bool,
    /// `@@read_only` (MySQL: `read_only` or `super_read_only`; None until a check succeeds).
    pub read_only: Option<bool>,
    /// Whether replication is configured on it (SHOW SLAVE STATUS / SHOW REPLICA STATUS has a row).
    pub replicating: bool,
    /// `Seconds_Behind_Master` (MySQL: `Seconds_Behind_Source`) × 1000; None when replication is stopped or broken, or not a replica.
    pub lag_ms: Option<u64>,
    /// The replica's SQL (applier) thread runs (`Slave_SQL_Running = Yes`), whatever its IO thread
    /// does: with the primary down, such a replica has applied what it received and still serves reads.
    pub applying: bool,
    /// The replica's IO thread is reconnecting to its primary (`Slave_IO_Running = Connecting`: not
    /// stopped by an operator). Its lag then reads NULL; the monitor estimates it (see `run_with`).
    pub reconnecting: bool,
    /// GTID position applied (`gtid_slave_pos` on a MariaDB replica, `gtid_binlog_pos` on a MariaDB
    /// primary, `gtid_executed` on MySQL).
    pub gtid: Option<String>,
    /// The server's flavour, from its handshake (None until a check connects).
    pub flavor: Option<super::Flavor>,
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
    /// How to connect (monitor credentials).
    pub spec: ConnectSpec,
    /// `schema.table` of the heartbeat, if configured (validated: no quoting needed).
    heartbeat: Option<String>,
    /// Removed from the config by a reload: reported unhealthy without a check.
    removed: bool,
}

/// The members of `config` with the monitor credentials (password resolved now).
pub fn targets(config: &Config, tls: Option<Arc<rustls::ClientConfig>>) -> Result<Vec<Target>, ConfigError> {
    let creds = &config.monitor.credentials;
    let password = creds.password()?;
    let server_public_key = config.backend.server_public_key()?;
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
                    server_public_key: server_public_key.clone(),
                    connect_timeout: Duration::from_millis(config.backend.connect_timeout_ms),
                    max_packet: 1 << 24,
                },
                heartbeat: config.monitor.heartbeat_table.clone(),
                removed: false,
            });
        }
    }
    Ok(out)
}

/// One member slot to check, as [`group_targets`] takes it.
#[derive(Debug, Clone, Copy)]
pub struct Slot<'a> {
    /// `host:port`.
    pub address: &'a str,
    /// The role the config gives it.
    pub role: Role,
    /// TLS toward it.
    pub tls: bool,
    /// Removed from the config by a reload.
    pub removed: bool,
}

/// A group's member slots (in slot order, removed ones included so health lines up with member
/// indices) with the monitor credentials.
pub fn group_targets<'a>(
    config: &Config,
    group: &str,
    slots: impl IntoIterator<Item = Slot<'a>>,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<Vec<Target>, ConfigError> {
    let creds = &config.monitor.credentials;
    let password = creds.password()?;
    let server_public_key = config.backend.server_public_key()?;
    Ok(slots
        .into_iter()
        .map(|m| Target {
            group: group.to_owned(),
            role: m.role,
            spec: ConnectSpec {
                address: m.address.to_owned(),
                label: format!("{}/{} {}", group, role_name(m.role), m.address),
                user: creds.user.clone(),
                password: password.clone(),
                found_rows: false,
                charset: 45,
                tls: if m.tls { tls.clone() } else { None },
                server_public_key: server_public_key.clone(),
                connect_timeout: Duration::from_millis(config.backend.connect_timeout_ms),
                max_packet: 1 << 24,
            },
            heartbeat: config.monitor.heartbeat_table.clone(),
            removed: m.removed,
        })
        .collect())
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Primary => "primary",
        Role::Replica => "replica",
        Role::Auto => "auto",
    }
}

/// A member's health before anything is known of it: not healthy, nothing read.
fn unhealthy(target: &Target, error: Option<String>, check_time: Duration) -> MemberHealth {
    MemberHealth {
        address: target.spec.address.clone(),
        configured_role: target.role,
        healthy: false,
        read_only: None,
        replicating: false,
        lag_ms: None,
        applying: false,
        reconnecting: false,
        gtid: None,
        flavor: None,
        error,
        check_time,
    }
}

/// Checks one member, reusing `conn` when it is still open.
pub async fn check(target: &Target, conn: &mut Option<BackendConn>) -> MemberHealth {
    let started = Instant::now();
    if target.removed {
        *conn = None;
        return unhealthy(target, Some("removed from the config (reload)".into()), Duration::ZERO);
    }
    let result = check_inner(target, conn).await;
    let mut h = unhealthy(target, None, started.elapsed());
    match result {
        Ok(Checked { read_only, replicating, lag_ms, applying, reconnecting, gtid, flavor }) => {
            h.flavor = Some(flavor);
            h.healthy = true;
            h.read_only = Some(read_only);
            h.replicating = replicating;
            h.lag_ms = lag_ms;
            h.applying = applying;
            h.reconnecting = reconnecting;
            h.gtid = gtid;
        }
        Err(e) => {
            *conn = None;
            h.error = Some(e.to_string());
        }
    }
    h
}

/// What one successful check found.
struct Checked {
    read_only: bool,
    replicating: bool,
    lag_ms: Option<u64>,
    applying: bool,
    reconnecting: bool,
    gtid: Option<String>,
    flavor: super::Flavor,
}

async fn check_inner(target: &Target, conn: &mut Option<BackendConn>) -> Result<Checked, Error> {
    let label = target.spec.label.clone();
    let timeout = target.spec.connect_timeout;
    let c = match conn {
        Some(c) => c,
        None => conn.insert(BackendConn::connect(&target.spec).await?),
    };
    let names = ReplicaNames::of(c.flavor);
    let run = async {
        let st = c.query(&label, names.show).await?;
        let replicating = !st.rows.is_empty();
        let (read_only, gtid) = match c.query(&label, &names.vars_statement(replicating)).await {
            Ok(r) => {
                let row = r.rows.first();
                let cell = |i: usize| row.and_then(|r| r.get(i)).and_then(|v| v.as_deref());
                // MySQL: read_only or super_read_only (which implies read_only; both are read so a
                // server that reports them inconsistently still counts as read-only).
                let read_only = (0..names.read_only_columns).any(|i| cell(i) == Some(b"1"));
                let gtid = cell(names.read_only_columns).map(|g| String::from_utf8_lossy(g).into_owned());
                (read_only, gtid)
            }
            Err(Error::BackendRefused { .. }) => {
                let ro = c.query(&label, "SELECT @@global.read_only").await?;
                (ro.rows.first().and_then(|r| r.first()).and_then(|v| v.as_deref()) == Some(b"1"), None)
            }
            Err(e) => return Err(e),
        };
        let applying = st.get(0, names.sql_running).as_deref() == Some("Yes");
        let reconnecting = st.get(0, names.io_running).as_deref() == Some("Connecting");
        let running = st.get(0, names.io_running).as_deref() == Some("Yes") && applying;
        let mut lag_ms = if running {
            st.get(0, names.lag).and_then(|s| s.parse::<u64>().ok()).map(|s| s.saturating_mul(1000))
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
        Ok::<_, Error>(Checked {
            read_only,
            replicating,
            lag_ms,
            applying,
            reconnecting,
            gtid,
            flavor: c.flavor,
        })
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(r) => r,
        Err(_) => Err(Error::backend(
            label,
            crate::core::error::BackendFailure::Timeout(format!(
                "health check took over {} ms",
                timeout.as_millis()
            )),
        )),
    }
}

/// What the check reads on one flavour: MySQL 8.4 removed the SLAVE/MASTER names MariaDB keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ReplicaNames {
    /// `SHOW SLAVE STATUS` / `SHOW REPLICA STATUS`.
    show: &'static str,
    /// The IO (receiver) thread's column.
    io_running: &'static str,
    /// The SQL (applier) thread's column.
    sql_running: &'static str,
    /// The lag column, seconds.
    lag: &'static str,
    flavor: Flavor,
    /// How many read-only variables [`ReplicaNames::vars_statement`] selects before the GTID.
    read_only_columns: usize,
}

impl ReplicaNames {
    fn of(flavor: Flavor) -> Self {
        match flavor {
            Flavor::MariaDb => Self {
                show: "SHOW SLAVE STATUS",
                io_running: "Slave_IO_Running",
                sql_running: "Slave_SQL_Running",
                lag: "Seconds_Behind_Master",
                flavor,
                read_only_columns: 1,
            },
            Flavor::MySql => Self {
                show: "SHOW REPLICA STATUS",
                io_running: "Replica_IO_Running",
                sql_running: "Replica_SQL_Running",
                lag: "Seconds_Behind_Source",
                flavor,
                read_only_columns: 2,
            },
        }
    }

    /// The read-only variables, then the GTID position applied: MariaDB's replica position is
    /// `gtid_slave_pos`, a primary's `gtid_binlog_pos`; MySQL's is `gtid_executed` on both.
    fn vars_statement(&self, replicating: bool) -> String {
        match self.flavor {
            Flavor::MariaDb => {
                let gtid_var = if replicating { "gtid_slave_pos" } else { "gtid_binlog_pos" };
                format!("SELECT @@global.read_only, @@global.{gtid_var}")
            }
            Flavor::MySql => {
                "SELECT @@global.read_only, @@global.super_read_only, @@global.gtid_executed".into()
            }
        }
    }
}

/// Takes out of a group the members whose flavour is not the group's: GTIDs, replication statements
/// and session variables differ between MariaDB and MySQL, so one group runs one. The group's flavour
/// is its writable member's (the first healthy member's when none is). `groups` are the members'
/// group names and `flavors` their flavours as their connections' handshakes said (None: not
/// connected), in `health` order.
fn refuse_mixed_flavors(groups: &[&str], flavors: &[Option<Flavor>], health: &mut [MemberHealth]) {
    let mut start = 0;
    while start < groups.len() {
        let group = groups[start];
        let end = groups[start..].iter().position(|g| *g != group).map_or(groups.len(), |n| start + n);
        let members = start..end.min(health.len()).min(flavors.len());
        let known = |i: &usize| health[*i].healthy && flavors[*i].is_some();
        let leader = members
            .clone()
            .filter(known)
            .find(|&i| health[i].is_primary())
            .or_else(|| members.clone().find(known));
        let others: Vec<usize> = members.filter(known).collect();
        if let Some(want) = leader.and_then(|i| flavors[i]) {
            for i in others {
                if flavors[i] != Some(want) {
                    let h = &mut health[i];
                    h.healthy = false;
                    h.error = Some(format!(
                        "{} member in a {} group: one group runs one server flavour (GTIDs and replication statements differ); move it to a group of its own",
                        flavor_name(flavors[i]),
                        flavor_name(Some(want))
                    ));
                }
            }
        }
        start = end;
    }
}

fn flavor_name(f: Option<Flavor>) -> &'static str {
    match f {
        Some(Flavor::MariaDb) => "MariaDB",
        Some(Flavor::MySql) => "MySQL",
        None => "unknown",
    }
}

/// Writes the heartbeat on a writable member (creating the table the first time). Best effort: a
/// failure is logged, and replicas then fall back to `Seconds_Behind_Master`.
async fn beat(c: &mut BackendConn, label: &str, table: &str) {
    let write = format!(
        // No VALUES() (deprecated on MySQL): the same on both flavours.
        "INSERT INTO {table} (id, ts) VALUES (1, UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE ts = UTC_TIMESTAMP(6)"
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
    let mut results = futures_join_all(checks).await;
    let flavors: Vec<Option<Flavor>> = conns.iter().map(|c| c.as_ref().map(|c| c.flavor)).collect();
    let groups: Vec<&str> = targets.iter().map(|t| t.group.as_str()).collect();
    refuse_mixed_flavors(&groups, &flavors, &mut results);
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
    run_with(Arc::new(ArcSwap::from_pointee(targets)), interval, health, stop, |_| {}).await;
}

/// [`run`] over targets that a reload may replace (read again before every round), calling `publish`
/// with every snapshot right after it is stored.
pub async fn run_with(
    targets: Arc<ArcSwap<Vec<Target>>>,
    interval: Duration,
    health: Health,
    stop: tokio_util::sync::CancellationToken,
    publish: impl Fn(&HealthSnapshot),
) {
    let mut conns: Vec<Option<BackendConn>> = Vec::new();
    let mut was_unhealthy: Vec<bool> = Vec::new();
    let mut last_lag: Vec<Option<(u64, Instant)>> = Vec::new();
    let mut last_flavor: Vec<Option<Flavor>> = Vec::new();
    loop {
        let targets = targets.load_full();
        // Slots are append-only: a longer list keeps every earlier connection where it was.
        conns.resize_with(targets.len(), || None);
        was_unhealthy.resize(targets.len(), false);
        last_lag.resize(targets.len(), None);
        last_flavor.resize(targets.len(), None);
        let mut snap = check_all(&targets, &mut conns).await;
        estimate_reconnecting_lag(&mut snap, &mut last_lag);
        // A member that fails a check keeps the flavour its last handshake showed (SHOW BACKENDS).
        let members = snap.groups.iter_mut().flat_map(|(_, m)| m.iter_mut());
        for (m, known) in members.zip(last_flavor.iter_mut()) {
            match m.flavor {
                Some(f) => *known = Some(f),
                None => m.flavor = *known,
            }
        }
        let flat = snap.groups.iter().flat_map(|(g, m)| m.iter().map(move |m| (g, m)));
        for (((g, m), was), t) in flat.zip(was_unhealthy.iter_mut()).zip(targets.iter()) {
            if t.removed {
                continue;
            }
            if *was && m.healthy {
                tracing::info!(group = %g, backend = %m.address, "backend healthy again");
            }
            if !m.healthy {
                tracing::warn!(group = %g, backend = %m.address, error = m.error.as_deref().unwrap_or(""), "backend unhealthy");
            }
            *was = !m.healthy;
        }
        health.store(Arc::new(snap));
        publish(&health.load());
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// A replica whose IO thread lost its primary and reconnects reports NULL lag although its SQL thread
/// applies on: it is at most its last measured lag plus the time since behind, so that estimate stands
/// in for the lag (and takes it out of reads once past `max_replica_lag_ms`). This also covers the
/// round in which the replica already saw its primary die but the primary's own check still passed.
/// `last` holds each member's last measured lag and when, in snapshot order.
pub fn estimate_reconnecting_lag(snap: &mut HealthSnapshot, last: &mut [Option<(u64, Instant)>]) {
    let members = snap.groups.iter_mut().flat_map(|(_, m)| m.iter_mut());
    for (m, last) in members.zip(last.iter_mut()) {
        match (m.lag_ms, *last) {
            (Some(lag), _) => *last = Some((lag, Instant::now())),
            (None, Some((lag, at))) if m.healthy && m.applying && m.reconnecting => {
                let since = u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX);
                m.lag_ms = Some(lag.saturating_add(since));
            }
            (None, _) => *last = None,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(lag_ms: Option<u64>, applying: bool, reconnecting: bool) -> MemberHealth {
        MemberHealth {
            address: "127.0.0.1:1".into(),
            configured_role: Role::Replica,
            healthy: true,
            read_only: Some(true),
            replicating: true,
            lag_ms,
            applying,
            reconnecting,
            gtid: None,
            flavor: None,
            error: None,
            check_time: Duration::ZERO,
        }
    }

    #[test]
    fn a_group_keeps_its_writable_members_flavour() {
        let groups = ["a", "a", "a", "b", "b"];
        let (my, maria) = (Some(Flavor::MySql), Some(Flavor::MariaDb));
        let member = |role, read_only| MemberHealth {
            configured_role: role,
            read_only: Some(read_only),
            ..replica(Some(0), true, false)
        };
        // Group a: the writable member (the second) is MySQL, so the MariaDB one goes; group b is
        // one flavour (an unconnected member does not count).
        let mut health = vec![
            member(Role::Auto, true),
            member(Role::Auto, false),
            member(Role::Auto, true),
            member(Role::Primary, false),
            member(Role::Replica, true),
        ];
        refuse_mixed_flavors(&groups, &[maria, my, my, maria, None], &mut health);
        let healthy: Vec<bool> = health.iter().map(|h| h.healthy).collect();
        assert_eq!(healthy, [false, true, true, true, true]);
        let e = health[0].error.as_deref().unwrap_or_default();
        assert!(e.starts_with("MariaDB member in a MySQL group"), "{e}");
        // No writable member: the first healthy member's flavour.
        let mut health = vec![member(Role::Auto, true), member(Role::Auto, true), member(Role::Auto, true)];
        health[0].healthy = false;
        refuse_mixed_flavors(&groups[..3], &[my, maria, my], &mut health);
        let healthy: Vec<bool> = health.iter().map(|h| h.healthy).collect();
        assert_eq!(healthy, [false, true, false]);
    }

    #[test]
    fn a_reconnecting_replica_gets_its_last_lag_plus_the_time_since() {
        let mut last = vec![None, None, None];
        let snap = |members: Vec<MemberHealth>| HealthSnapshot { groups: vec![("main".into(), members)] };
        let mut s = snap(vec![
            replica(Some(200), true, false),
            replica(Some(0), true, false),
            replica(Some(0), true, false),
        ]);
        estimate_reconnecting_lag(&mut s, &mut last);
        std::thread::sleep(Duration::from_millis(20));
        // Reconnecting and applying: estimated; IO thread stopped by hand or SQL thread stopped: unknown.
        let mut s =
            snap(vec![replica(None, true, true), replica(None, true, false), replica(None, false, true)]);
        estimate_reconnecting_lag(&mut s, &mut last);
        let lags: Vec<Option<u64>> = s.groups[0].1.iter().map(|m| m.lag_ms).collect();
        assert!(lags[0].is_some_and(|l| (220..2_000).contains(&l)), "{lags:?}");
        assert_eq!(&lags[1..], &[None, None]);
        // The estimate keeps growing from the last measurement, not from the last estimate.
        std::thread::sleep(Duration::from_millis(20));
        let mut s =
            snap(vec![replica(None, true, true), replica(Some(5), true, false), replica(None, false, true)]);
        estimate_reconnecting_lag(&mut s, &mut last);
        assert!(s.groups[0].1[0].lag_ms.is_some_and(|l| l >= 240), "{:?}", s.groups[0].1[0].lag_ms);
    }
}
