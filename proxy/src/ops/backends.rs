//! One view of the backends, for `/status`, `/metrics` and admin `SHOW BACKENDS`: every member that a
//! reload has not removed, of the default group and then of each shard group, with its role in the
//! group's routing view, its last health check and its pools.

use std::sync::atomic::Ordering;

use crate::frontend::state::Shared;

/// One backend as the status endpoints show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendRow {
    /// The group it is a member of.
    pub group: String,
    /// `host:port`.
    pub address: String,
    /// Its role in its group's routing view now.
    pub role: BackendRole,
    /// Whether it serves.
    pub state: BackendState,
    /// Taken offline by admin `SET BACKEND … OFFLINE`.
    pub offline: bool,
    /// Answered its last health check (`None` before the first).
    pub healthy: Option<bool>,
    /// Replication lag, ms.
    pub lag_ms: Option<u64>,
    /// GTID position seen by the last check.
    pub gtid: Option<String>,
    /// The last check's error.
    pub error: Option<String>,
    /// Share of reads.
    pub weight: u32,
    /// Connections lent out, summed over its pools (one per user and options).
    pub in_use: usize,
    /// Idle connections, summed over its pools.
    pub idle: usize,
    /// The most its pools lend, summed.
    pub max: usize,
    /// MariaDB or MySQL, from its handshake (`None` before a check connects).
    pub flavor: Option<crate::backend::Flavor>,
    /// A replica's replication; `None` for a member that does not replicate.
    pub replication: Option<Replication>,
}

/// A replica's replication as its last check saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replication {
    /// Receiving and applying.
    Running,
    /// Its IO thread retries a primary that is gone (applying what it has).
    Reconnecting,
    /// Its IO thread stopped (applying what it has; no lag known).
    IoStopped,
    /// Its SQL thread stopped: it applies nothing, so reads skip it.
    Stopped,
}

impl Replication {
    /// `running`, `reconnecting`, `io_stopped` or `stopped` (SHOW BACKENDS, /status).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Reconnecting => "reconnecting",
            Self::IoStopped => "io_stopped",
            Self::Stopped => "stopped",
        }
    }
}

/// A backend's role in its group's routing view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendRole {
    /// Writes go there.
    Primary,
    /// Any other member.
    Replica,
}

impl BackendRole {
    /// `primary` or `replica` (SHOW BACKENDS, /status, the `role` label of /metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Replica => "replica",
        }
    }
}

/// Whether a backend serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendState {
    /// Taken offline by admin `SET BACKEND … OFFLINE` (whatever its checks say).
    Offline,
    /// Answered its last health check.
    Online,
    /// Failed its last health check.
    Unhealthy,
    /// Not checked yet.
    Unknown,
}

impl BackendState {
    /// `offline`, `online`, `unhealthy` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Offline => "offline",
            Self::Online => "online",
            Self::Unhealthy => "unhealthy",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for BackendRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for BackendState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every backend now (default group first, then the shard groups in config order).
pub fn rows(shared: &Shared) -> Vec<BackendRow> {
    let health = shared.health.load();
    let pools = shared.pools.all();
    let mut rows = Vec::new();
    for group in shared.groups.iter() {
        let primary = group.routing.load().primary;
        let checks = health.groups.iter().find(|(g, _)| *g == group.name).map(|(_, m)| m.as_slice());
        for (i, m) in group.members().iter().enumerate() {
            if m.is_removed() {
                continue;
            }
            let address = &m.addr.address;
            let h = checks.and_then(|c| c.iter().find(|h| h.address == *address));
            let offline = m.offline.load(Ordering::Relaxed);
            let (in_use, idle, max) = pools
                .iter()
                .filter(|p| p.spec().address == *address)
                .fold((0, 0, 0), |(u, i, x), p| (u + p.in_use(), i + p.idle_count(), x + p.max()));
            rows.push(BackendRow {
                group: group.name.clone(),
                address: address.clone(),
                role: if primary == Some(group.member_id(i)) {
                    BackendRole::Primary
                } else {
                    BackendRole::Replica
                },
                state: match h {
                    _ if offline => BackendState::Offline,
                    Some(h) if h.healthy => BackendState::Online,
                    Some(_) => BackendState::Unhealthy,
                    None => BackendState::Unknown,
                },
                offline,
                healthy: h.map(|h| h.healthy),
                lag_ms: h.and_then(|h| h.lag_ms),
                gtid: h.and_then(|h| h.gtid.clone()),
                error: h.and_then(|h| h.error.clone()),
                weight: m.weight(),
                in_use,
                idle,
                max,
                flavor: h.and_then(|h| h.flavor),
                replication: h.filter(|h| h.healthy && h.replicating).map(|h| {
                    match (h.applying, h.reconnecting) {
                        (false, _) => Replication::Stopped,
                        (true, true) => Replication::Reconnecting,
                        (true, false) if h.lag_ms.is_some() => Replication::Running,
                        (true, false) => Replication::IoStopped,
                    }
                }),
            });
        }
    }
    rows
}
