//! The routing view of a backend group, rebuilt from every health snapshot and swapped atomically:
//! which member is the primary, which replicas may serve reads (healthy, not lagging, not drained), and
//! what each replica is known to have applied (GTID positions, for read-your-writes).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use sluice_router::route::{Balance, ReplicaView, Topology};

use crate::config::{Config, GroupConfig, Role};
use crate::monitor::MemberHealth;
use crate::state::BackendAddr;

/// A MariaDB GTID position: per replication domain, the highest sequence number (`0-1-42,1-2-7`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GtidPos(Vec<(u32, u32, u64)>);

impl GtidPos {
    /// Parses `domain-server-seq[,…]`; malformed parts are skipped.
    pub fn parse(s: &str) -> Self {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let mut it = part.split('-');
            let (Some(d), Some(server), Some(seq)) = (it.next(), it.next(), it.next()) else { continue };
            if let (Ok(d), Ok(server), Ok(seq)) =
                (d.parse::<u32>(), server.parse::<u32>(), seq.parse::<u64>())
            {
                out.push((d, server, seq));
            }
        }
        Self(out)
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether this position includes every transaction of `other` (per domain, seq ≥).
    pub fn covers(&self, other: &GtidPos) -> bool {
        other.0.iter().all(|(d, _, seq)| self.0.iter().any(|(d2, _, s2)| d2 == d && s2 >= seq))
    }

    /// Raises this position to include `other`.
    pub fn merge(&mut self, other: &GtidPos) {
        for &(d, server, seq) in &other.0 {
            match self.0.iter_mut().find(|(d2, _, _)| *d2 == d) {
                Some((_, sv, s)) => {
                    if seq > *s {
                        *s = seq;
                        *sv = server;
                    }
                }
                None => self.0.push((d, server, seq)),
            }
        }
    }
}

impl std::fmt::Display for GtidPos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (n, (d, server, seq)) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str(",")?;
            }
            write!(f, "{d}-{server}-{seq}")?;
        }
        Ok(())
    }
}

/// One member of the group.
#[derive(Debug)]
pub struct Member {
    /// Where it is.
    pub addr: BackendAddr,
    /// Configured role.
    pub role: Role,
    /// Share of reads.
    pub weight: u32,
    /// Drained by an operator.
    pub offline: AtomicBool,
    /// The highest GTID position it is known to have applied (monitor checks and successful waits).
    pub applied: Mutex<GtidPos>,
}

/// The group's members (fixed for the config's life).
#[derive(Debug)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// Members in config order.
    pub members: Vec<Member>,
}

impl Group {
    /// From the config's group.
    pub fn from_config(config: &Config, g: &GroupConfig) -> Self {
        let members = g
            .members
            .iter()
            .map(|m| {
                let role = match m.role {
                    Role::Primary => "primary",
                    Role::Replica => "replica",
                    Role::Auto => "member",
                };
                Member {
                    addr: BackendAddr {
                        address: m.address.clone(),
                        label: format!("{}/{} {}", g.name, role, m.address),
                        tls: m.tls.unwrap_or(config.backend.tls.enabled),
                    },
                    role: m.role,
                    weight: m.weight,
                    offline: AtomicBool::new(false),
                    applied: Mutex::new(GtidPos::default()),
                }
            })
            .collect();
        Self { name: g.name.clone(), members }
    }

    /// Records that member `i` has applied `pos`.
    pub fn note_applied(&self, i: usize, pos: &GtidPos) {
        if let Some(m) = self.members.get(i)
            && let Ok(mut a) = m.applied.lock()
        {
            a.merge(pos);
        }
    }

    /// Whether member `i` is known to have applied `pos`.
    pub fn has_applied(&self, i: usize, pos: &GtidPos) -> bool {
        self.members.get(i).and_then(|m| m.applied.lock().ok().map(|a| a.covers(pos))).unwrap_or(false)
    }
}

/// What routing reads for one statement.
#[derive(Debug, Clone, Default)]
pub struct RouteSnapshot {
    /// The member taking writes; `None` when no member qualifies.
    pub primary: Option<usize>,
    /// More than one member is writable: writes are refused until an operator fixes it.
    pub split_brain: bool,
    /// Replicas for reads.
    pub topo: Topology,
    /// Whether a health check has completed yet.
    pub checked: bool,
}

impl RouteSnapshot {
    /// Before the first health check: the configured primary; no replica is trusted yet.
    pub fn initial(group: &Group, config: &Config) -> Self {
        let primary = group.members.iter().position(|m| m.role == Role::Primary);
        Self {
            primary,
            split_brain: false,
            topo: Topology {
                replicas: Vec::new(),
                max_lag_ms: config.monitor.max_replica_lag_ms,
                balance: balance(config),
            },
            checked: false,
        }
    }

    /// The same view with member indices moved by `base` (a shard group's members among all members).
    pub fn shifted(&self, base: usize) -> Self {
        let mut s = self.clone();
        s.primary = s.primary.map(|p| p + base);
        for r in &mut s.topo.replicas {
            r.index += base;
        }
        s
    }

    /// From a health check of the group's members.
    pub fn build(group: &Group, health: &[MemberHealth], config: &Config) -> Self {
        let mut writers = Vec::new();
        for (i, (m, h)) in group.members.iter().zip(health).enumerate() {
            let writable = match m.role {
                Role::Primary => true,
                Role::Replica => false,
                Role::Auto => h.healthy && h.read_only == Some(false),
            };
            // A configured replica that is writable is not a second writer (sluice never writes
            // there), but a configured primary that reports read_only=1 still is the primary: writes
            // then fail there with the server's own error, which names the problem.
            if writable {
                writers.push(i);
            }
        }
        let split_brain = writers.len() > 1;
        let primary = writers.first().copied();
        let replicas = group
            .members
            .iter()
            .zip(health)
            .enumerate()
            .filter(|(i, _)| Some(*i) != primary)
            .map(|(i, (m, h))| {
                if let Some(g) = &h.gtid {
                    group.note_applied(i, &GtidPos::parse(g));
                }
                ReplicaView {
                    index: i,
                    healthy: h.healthy && h.replicating,
                    lag_ms: h.lag_ms,
                    weight: m.weight,
                    in_use: 0,
                    offline: m.offline.load(Ordering::Relaxed),
                }
            })
            .collect();
        Self {
            primary,
            split_brain,
            topo: Topology {
                replicas,
                max_lag_ms: config.monitor.max_replica_lag_ms,
                balance: balance(config),
            },
            checked: true,
        }
    }
}

fn balance(config: &Config) -> Balance {
    use crate::config::BalanceConfig;
    match config.routing.balance {
        BalanceConfig::RoundRobin => Balance::RoundRobin,
        BalanceConfig::Weighted => Balance::Weighted,
        BalanceConfig::LeastConnections => Balance::LeastConnections,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtid_positions_cover_per_domain() {
        let replica = GtidPos::parse("0-1-100,1-2-7");
        assert!(replica.covers(&GtidPos::parse("0-1-99")));
        assert!(replica.covers(&GtidPos::parse("0-3-100")));
        assert!(!replica.covers(&GtidPos::parse("0-1-101")));
        assert!(!replica.covers(&GtidPos::parse("2-1-1")));
        assert!(replica.covers(&GtidPos::parse("")));
        let mut p = GtidPos::parse("0-1-5");
        p.merge(&GtidPos::parse("0-1-9,3-1-1"));
        assert_eq!(p, GtidPos::parse("0-1-9,3-1-1"));
        assert!(GtidPos::parse("garbage,0-x-1").is_empty());
        assert_eq!(GtidPos::parse("0-1-9,3-2-1").to_string(), "0-1-9,3-2-1");
    }
}
