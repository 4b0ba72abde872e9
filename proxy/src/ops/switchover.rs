//! Admin `SWITCHOVER [TO 'host:port']`: a planned move of a group's primary to one of its replicas, with
//! writes flowing and none lost.
//!
//! ```text
//!  checks (roles auto, target healthy and replicating, replication account set), connections opened
//!  1. hold:     the group's WriteGate pauses: new statements toward the primary wait in sluice;
//!               statements and transactions already running there finish (or: abort, nothing changed)
//!  2. demote:   old primary SET GLOBAL read_only = 1 (MySQL: super_read_only = 1); its
//!               gtid_binlog_pos (MySQL: gtid_executed) is the last write
//!  3. catch up: MASTER_GTID_WAIT(pos) (MySQL: WAIT_FOR_EXECUTED_GTID_SET) on the target (or: undo
//!               read_only, abort)
//!  4. promote:  target STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0 (MySQL: STOP REPLICA;
//!               RESET REPLICA ALL; super_read_only = 0, read_only = 0)
//!  5. repoint:  old primary replicates from the target (MariaDB from gtid_slave_pos = pos, MySQL with
//!               SOURCE_AUTO_POSITION=1); other replicas too
//!  6. publish:  a fresh health check of every member becomes the routing view (role `auto` finds the
//!               new primary); the gate opens and the held statements run there
//! ```
//!
//! The monitor account runs it (MariaDB: READ_ONLY ADMIN, REPLICATION SLAVE ADMIN, RELOAD; MySQL:
//! SYSTEM_VARIABLES_ADMIN, REPLICATION_SLAVE_ADMIN, RELOAD); the old primary logs in to the new one with
//! `[monitor.replication_credentials]`, at the address sluice uses.

use std::time::{Duration, Instant};

use crate::backend::monitor::{MemberHealth, Target};
use crate::backend::{BackendConn, Flavor};
use crate::core::config::Role;
use crate::core::error::Error;
use crate::frontend::state::Shared;

fn refuse(message: impl Into<String>) -> Error {
    Error::reply(sluice_protocol::constants::errors::INTERNAL, message)
}

/// What a switchover did (admin `SWITCHOVER` shows it as one row).
#[derive(Debug, Clone)]
pub struct Report {
    /// The group whose primary moved.
    pub group: String,
    /// `host:port` of the old primary.
    pub old_primary: String,
    /// `host:port` of the new primary.
    pub new_primary: String,
    /// The old primary's last `gtid_binlog_pos` (MySQL: `gtid_executed`), which the new one had applied.
    pub gtid: String,
    /// Statements and transactions that were running on the old primary when writes were held.
    pub waited_for: usize,
    /// How long they took to finish, in ms.
    pub drain_ms: u128,
    /// How long new writes were held, in ms.
    pub writes_held_ms: u128,
    /// What did not go to plan after the switch (repointing replicas, routing); empty when all did.
    pub notes: Vec<String>,
}

/// Runs a switchover of the group holding `to` (the default group when `to` is `None`, whose healthiest
/// caught-up replica is then chosen).
pub async fn run(shared: &Shared, to: Option<&str>) -> Result<Report, Error> {
    let config = shared.config_full();
    let Some(repl) = config.monitor.replication_credentials.as_ref() else {
        return Err(refuse(
            "SWITCHOVER needs [monitor.replication_credentials] (the account replicas log in to their primary with), so the old primary can replicate from the new one; set it and RELOAD",
        ));
    };
    let repl_password = repl.password().map_err(|e| refuse(e.to_string()))?;
    let group =
        match to {
            None => shared.group(),
            Some(addr) => shared.groups.iter().find(|g| g.position(addr).is_some()).ok_or_else(|| {
                refuse(format!("no backend {addr:?} in any group; SHOW BACKENDS lists them"))
            })?,
        };
    let snap = group.routing();
    if snap.split_brain {
        return Err(refuse(format!(
            "group '{}' has more than one writable member; make all but one read_only first",
            group.name
        )));
    }
    // `old` and `new` are slots of `group`.
    let old = snap
        .primary
        .map(|p| p.index)
        .ok_or_else(|| refuse(format!("group '{}' has no primary to switch from", group.name)))?;
    let health = shared.health.load();
    let members_health: &[MemberHealth] =
        health.groups.iter().find(|(n, _)| *n == group.name).map_or(&[], |(_, m)| m.as_slice());
    let members = group.members();
    let new = match to {
        Some(addr) => group.position(addr).ok_or_else(|| {
            refuse(format!("{addr} is no longer a member of group '{}' (SHOW BACKENDS)", group.name))
        })?,
        None => pick_target(members_health, old, |i| members.get(i).is_some_and(|m| !m.is_removed()))
            .ok_or_else(|| refuse(format!("group '{}' has no healthy replica to promote", group.name)))?,
    };
    if new == old {
        return Err(refuse(format!(
            "{} is already the primary of group '{}'",
            members[old].addr.address, group.name
        )));
    }
    for i in [old, new] {
        let m = &members[i];
        if m.role() != Role::Auto {
            return Err(refuse(format!(
                "SWITCHOVER needs role = \"auto\" on the old and the new primary (the config fixes {} as {}): with fixed roles writes could not follow; set role = \"auto\" and RELOAD",
                m.addr.address,
                if m.role() == Role::Primary { "primary" } else { "replica" }
            )));
        }
    }
    let timeout = Duration::from_millis(config.monitor.switchover_timeout_ms);
    match members_health.get(new) {
        Some(h) if h.healthy && h.replicating => {
            if let Some(lag) = h.lag_ms.filter(|&l| l > config.monitor.switchover_timeout_ms) {
                return Err(refuse(format!(
                    "{} is {lag} ms behind its primary; SWITCHOVER waits at most [monitor] switchover_timeout_ms = {} for it to catch up",
                    h.address,
                    timeout.as_millis()
                )));
            }
        }
        _ => {
            return Err(refuse(format!(
                "{} is not a healthy, replicating member of group '{}' (SHOW BACKENDS)",
                members[new].addr.address, group.name
            )));
        }
    }
    let targets =
        group.monitor_targets(&config, shared.backend_tls.clone()).map_err(|e| refuse(e.to_string()))?;
    let connect = |i: usize| {
        let t: Option<&Target> = targets.get(i);
        async move {
            let t = t.ok_or_else(|| refuse(format!("no member {i}")))?;
            BackendConn::connect(&t.spec).await.map(|c| (c, t.spec.label.clone()))
        }
    };
    let (mut old_c, old_label): (BackendConn, String) = connect(old).await?;
    let (mut new_c, new_label): (BackendConn, String) = connect(new).await?;
    let (old_addr, new_addr) = (members[old].addr.address.clone(), members[new].addr.address.clone());
    if old_c.flavor != new_c.flavor {
        return Err(refuse(format!(
            "{old_addr} and {new_addr} run different server flavours (MariaDB and MySQL): a group runs one"
        )));
    }
    let (host, port) = split_address(&new_addr)?;

    let started = Instant::now();
    let deadline = started + timeout;
    let Some(paused) = group.gate.pause() else {
        return Err(refuse(format!("a SWITCHOVER of group '{}' is already running", group.name)));
    };
    tracing::warn!(group = %group.name, from = %old_addr, to = %new_addr, "SWITCHOVER: holding new writes");
    let running = group.gate.busy();
    while group.gate.busy() > 0 {
        if Instant::now() >= deadline {
            return Err(Error::reply(
                (1205, "HY000"),
                format!(
                    "SWITCHOVER aborted, nothing changed: {} statements or transactions were still running on {old_addr} after {} ms ([monitor] switchover_timeout_ms); retry when they are done",
                    group.gate.busy(),
                    timeout.as_millis()
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let drained_ms = started.elapsed().as_millis();

    let sql = Statements::of(old_c.flavor);
    // Demote: from here on the old primary refuses writes, so its binlog position is final.
    for demote in sql.demote {
        if let Err(e) = old_c.query(&old_label, demote).await {
            return Err(undo(&mut old_c, &old_label, &old_addr, &sql, aborted("demote", &e)).await);
        }
    }
    // Every failure from here until the target is writable makes the old primary writable again.
    let promoted = async {
        let pos = old_c
            .query(&old_label, sql.position)
            .await
            .map_err(|e| aborted("read the old primary's GTID position", &e))?
            .get(0, "pos")
            .unwrap_or_default();
        // One line in the server's syntax (MySQL prints a newline after every comma).
        let parsed = crate::backend::gtid::GtidPos::parse(&pos);
        let pos = if parsed.is_readable() { parsed.to_string() } else { pos };
        let left = deadline.saturating_duration_since(Instant::now()).as_secs_f64().max(0.01);
        let wait = format!("SELECT {}('{}', {left:.3}) AS w", sql.wait_function, escape(&pos));
        let waited = new_c.query(&new_label, &wait).await;
        let caught_up = waited.map_err(|e| aborted("wait for the new primary to catch up", &e))?.get(0, "w");
        if caught_up.as_deref() != Some("0") {
            let why = replication_state(&mut new_c, &new_label, &sql).await;
            return Err(Error::reply(
                (1205, "HY000"),
                format!(
                    "SWITCHOVER aborted, nothing changed: {new_addr} had not applied {pos} within [monitor] switchover_timeout_ms = {} ms ({why})",
                    timeout.as_millis()
                ),
            ));
        }
        // Promote.
        new_c.query(&new_label, sql.stop).await.map_err(|e| aborted("stop replication on the new primary", &e))?;
        for step in sql.promote {
            if let Err(e) = new_c.query(&new_label, step).await {
                let _ = new_c.query(&new_label, sql.start).await;
                return Err(aborted(step, &e));
            }
        }
        Ok(pos)
    }
    .await;
    let pos = match promoted {
        Ok(pos) => pos,
        Err(why) => return Err(undo(&mut old_c, &old_label, &old_addr, &sql, why).await),
    };
    let promoted_ms = started.elapsed().as_millis();
    // Repoint: failures here leave the switch done and are reported, not undone.
    let mut notes = Vec::new();
    let tls = members[new].addr.tls;
    for step in sql.follow(host, port, tls, &repl.user, &repl_password, &pos) {
        if let Err(e) = old_c.query(&old_label, &step).await {
            let step = step.split("_PASSWORD").next().unwrap_or_default();
            notes.push(format!("{old_addr} does not replicate from {new_addr} ({step}: {e})"));
            break;
        }
    }
    for (i, h) in members_health.iter().enumerate() {
        if i == old
            || i == new
            || !h.healthy
            || !h.replicating
            || members.get(i).is_none_or(|m| m.is_removed())
        {
            continue;
        }
        let repoint = sql.repoint(host, port);
        let r = async {
            let (mut c, label) = connect(i).await?;
            for step in [sql.stop, repoint.as_str(), sql.start] {
                c.query(&label, step).await?;
            }
            Ok::<_, Error>(())
        };
        if let Err(e) = r.await {
            notes.push(format!("{} still replicates from {old_addr} ({e})", h.address));
        }
    }
    // Publish what the servers now say, then let the held statements go.
    shared.check_now(true).await;
    if group.routing().primary != Some(group.member_id(new)) {
        notes.push(format!("routing does not see {new_addr} as the primary yet (read_only=0 on it?)"));
    }
    drop(paused);
    let held_ms = started.elapsed().as_millis();
    tracing::warn!(group = %group.name, from = %old_addr, to = %new_addr, gtid = %pos, held_ms, "SWITCHOVER done");
    for n in &notes {
        tracing::warn!(group = %group.name, "SWITCHOVER: {n}");
    }
    Ok(Report {
        group: group.name.clone(),
        old_primary: old_addr,
        new_primary: new_addr,
        gtid: pos,
        waited_for: running,
        drain_ms: drained_ms,
        writes_held_ms: held_ms.max(promoted_ms),
        notes,
    })
}

/// The replica to promote when none is named: healthy, replicating, least lag (unknown lag last).
fn pick_target(health: &[MemberHealth], old: usize, usable: impl Fn(usize) -> bool) -> Option<usize> {
    health
        .iter()
        .enumerate()
        .filter(|(i, h)| *i != old && usable(*i) && h.healthy && h.replicating)
        .min_by_key(|(_, h)| h.lag_ms.unwrap_or(u64::MAX))
        .map(|(i, _)| i)
}

/// Makes the old primary writable again after a failed step; the error says what happened.
async fn undo(old: &mut BackendConn, label: &str, addr: &str, sql: &Statements, why: Error) -> Error {
    for step in sql.writable {
        if let Err(e) = old.query(label, step).await {
            return refuse(format!("{why}; and {addr} could not be made writable again ({e}): fix by hand"));
        }
    }
    why
}

/// A replica's threads and last errors, for a message.
async fn replication_state(c: &mut BackendConn, label: &str, sql: &Statements) -> String {
    let st = match c.query(label, sql.status).await {
        Ok(st) if !st.rows.is_empty() => st,
        Ok(_) => return "it does not replicate".into(),
        Err(e) => return format!("its replication state could not be read: {e}"),
    };
    let get = |name: &str| st.get(0, name).unwrap_or_default();
    let (io, applier) = match sql.flavor {
        Flavor::MariaDb => ("Slave_IO_Running", "Slave_SQL_Running"),
        Flavor::MySql => ("Replica_IO_Running", "Replica_SQL_Running"),
    };
    let mut out = format!("IO thread {}, SQL thread {}", get(io), get(applier));
    for e in ["Last_IO_Error", "Last_SQL_Error"] {
        let v = get(e);
        if !v.is_empty() {
            out.push_str(&format!("; {e}: {v}"));
        }
    }
    out
}

/// The statements a switchover runs, per flavour: MariaDB's SLAVE/MASTER names, `read_only` and
/// domain GTID positions; MySQL 8.4+'s REPLICA/SOURCE names, `super_read_only` (which keeps even
/// accounts with SUPER or CONNECTION_ADMIN from writing) and GTID sets.
#[derive(Debug, Clone, Copy)]
struct Statements {
    flavor: Flavor,
    /// Makes the old primary refuse writes.
    demote: &'static [&'static str],
    /// Its last GTID position (as column `pos`).
    position: &'static str,
    /// The function that waits for a position: 0 once applied.
    wait_function: &'static str,
    /// The replica status.
    status: &'static str,
    /// Stops and starts replication.
    stop: &'static str,
    start: &'static str,
    /// After `stop` on the new primary: forget the old source, take writes.
    promote: &'static [&'static str],
    /// Makes a member writable.
    writable: &'static [&'static str],
}

impl Statements {
    fn of(flavor: Flavor) -> Self {
        match flavor {
            Flavor::MariaDb => Self {
                flavor,
                demote: &["SET GLOBAL read_only = 1"],
                position: "SELECT @@global.gtid_binlog_pos AS pos",
                wait_function: "MASTER_GTID_WAIT",
                status: "SHOW SLAVE STATUS",
                stop: "STOP SLAVE",
                start: "START SLAVE",
                promote: &["RESET SLAVE ALL", "SET GLOBAL read_only = 0"],
                writable: &["SET GLOBAL read_only = 0"],
            },
            Flavor::MySql => Self {
                flavor,
                // super_read_only = 1 sets read_only too.
                demote: &["SET GLOBAL super_read_only = 1"],
                position: "SELECT @@global.gtid_executed AS pos",
                wait_function: "WAIT_FOR_EXECUTED_GTID_SET",
                status: "SHOW REPLICA STATUS",
                stop: "STOP REPLICA",
                start: "START REPLICA",
                promote: &["RESET REPLICA ALL", "SET GLOBAL super_read_only = 0", "SET GLOBAL read_only = 0"],
                writable: &["SET GLOBAL super_read_only = 0", "SET GLOBAL read_only = 0"],
            },
        }
    }

    /// What makes the old primary replicate from the new one (at `host:port`, over TLS when `tls`,
    /// as the account `user`), from its last position `pos`.
    fn follow(&self, host: &str, port: u16, tls: bool, user: &str, password: &str, pos: &str) -> Vec<String> {
        let (host, user, password) = (escape(host), escape(user), escape(password));
        match self.flavor {
            Flavor::MariaDb => vec![
                format!("SET GLOBAL gtid_slave_pos = '{}'", escape(pos)),
                format!(
                    "CHANGE MASTER TO MASTER_HOST='{host}', MASTER_PORT={port}, MASTER_USER='{user}', MASTER_PASSWORD='{password}', MASTER_USE_GTID=slave_pos"
                ),
                self.start.into(),
            ],
            // Auto-positioning: the new primary sends what the old one's gtid_executed lacks. TLS as
            // sluice connects to the new primary (a server with TLS of its own would otherwise insist
            // on it). GET_SOURCE_PUBLIC_KEY: a caching_sha2_password account logs in without TLS too.
            Flavor::MySql => vec![
                format!(
                    "CHANGE REPLICATION SOURCE TO SOURCE_HOST='{host}', SOURCE_PORT={port}, SOURCE_USER='{user}', SOURCE_PASSWORD='{password}', SOURCE_AUTO_POSITION=1, SOURCE_SSL={}, GET_SOURCE_PUBLIC_KEY=1",
                    u8::from(tls)
                ),
                self.start.into(),
            ],
        }
    }

    /// What points another replica at the new primary (its account and positioning stay).
    fn repoint(&self, host: &str, port: u16) -> String {
        match self.flavor {
            Flavor::MariaDb => format!("CHANGE MASTER TO MASTER_HOST='{}', MASTER_PORT={port}", escape(host)),
            Flavor::MySql => {
                format!("CHANGE REPLICATION SOURCE TO SOURCE_HOST='{}', SOURCE_PORT={port}", escape(host))
            }
        }
    }
}

fn aborted(step: &str, e: &Error) -> Error {
    refuse(format!("SWITCHOVER aborted at '{step}': {e}"))
}

/// `host:port` (or `[v6]:port`) split for CHANGE MASTER.
fn split_address(address: &str) -> Result<(&str, u16), Error> {
    address
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.trim_start_matches('[').trim_end_matches(']'), p.parse().ok()?)))
        .ok_or_else(|| refuse(format!("{address:?} is not host:port")))
}

/// A value inside single quotes in SQL.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(healthy: bool, replicating: bool, lag_ms: Option<u64>) -> MemberHealth {
        MemberHealth {
            address: "127.0.0.1:1".into(),
            configured_role: Role::Auto,
            healthy,
            read_only: Some(replicating),
            replicating,
            lag_ms,
            applying: replicating,
            reconnecting: false,
            gtid: None,
            flavor: None,
            error: None,
            check_time: Duration::ZERO,
        }
    }

    #[test]
    fn the_least_lagging_healthy_replica_is_promoted() {
        let h = [member(true, false, None), member(true, true, Some(900)), member(true, true, Some(100))];
        assert_eq!(pick_target(&h, 0, |_| true), Some(2));
        assert_eq!(pick_target(&h, 0, |i| i != 2), Some(1));
        let down = [member(true, false, None), member(false, true, Some(0)), member(true, false, None)];
        assert_eq!(pick_target(&down, 0, |_| true), None);
    }

    #[test]
    fn addresses_split_and_values_escape() {
        assert_eq!(split_address("127.0.0.1:3307").ok(), Some(("127.0.0.1", 3307)));
        assert_eq!(split_address("[::1]:3307").ok(), Some(("::1", 3307)));
        assert!(split_address("nohost").is_err());
        assert_eq!(escape(r"a'b\c"), r"a\'b\\c");
    }
}
