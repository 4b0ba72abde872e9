//! A group's routing view, rebuilt from every health check: which member is the primary, whether more
//! than one is writable, and which replicas may serve reads.

use std::sync::atomic::Ordering;

use sluice_router::route::{Balance, ReplicaView, Topology};

use super::{Group, GtidPos};
use crate::backend::member::MemberId;
use crate::backend::monitor::MemberHealth;
use crate::core::config::{Config, Role};

/// What routing reads for one statement, in one group.
#[derive(Debug, Clone, Default)]
pub struct RouteSnapshot {
    /// The group it routes in ([`MemberId::group`]).
    pub group: usize,
    /// The member taking writes; `None` when no member qualifies.
    pub primary: Option<MemberId>,
    /// More than one member is writable: writes are refused until an operator fixes it.
    pub split_brain: bool,
    /// Replicas for reads, by slot in the group (the router knows one group: [`Self::member_id`]
    /// names what it picks).
    pub topo: Topology,
    /// Whether a health check has completed yet.
    pub checked: bool,
}

impl RouteSnapshot {
    /// Before the first health check: the configured primary; no replica is trusted yet.
    pub fn initial(group: &Group, config: &Config) -> Self {
        let primary = group.members().iter().position(|m| m.role() == Role::Primary);
        Self {
            group: group.id,
            primary: primary.map(|i| group.member_id(i)),
            split_brain: false,
            topo: Topology {
                replicas: Vec::new(),
                max_lag_ms: config.monitor.max_replica_lag_ms,
                balance: balance(config),
            },
            checked: false,
        }
    }

    /// The id of the group's slot `index` (what the router returns for a replica or a `backend=` hint).
    pub fn member_id(&self, index: usize) -> MemberId {
        MemberId::new(self.group, index)
    }

    /// From a health check of the group's members.
    pub fn build(group: &Group, health: &[MemberHealth], config: &Config) -> Self {
        let members = group.members();
        let mut writers = Vec::new();
        for (i, (m, h)) in members.iter().zip(health).enumerate() {
            let writable = !m.is_removed()
                && match m.role() {
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
        // With the primary unreachable its replicas' IO threads only reconnect, so their lag reads as
        // NULL; nothing new can be written meanwhile, so a replica still applying has what there is.
        let primary_down = primary.and_then(|p| health.get(p)).is_some_and(|h| !h.healthy);
        let replicas = members
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
                    healthy: h.healthy && h.replicating && !m.is_removed(),
                    // (Or only the monitor's estimate, which grows for as long as the primary is down.)
                    lag_ms: if primary_down && h.applying && (h.lag_ms.is_none() || h.reconnecting) {
                        Some(0)
                    } else {
                        h.lag_ms
                    },
                    weight: m.weight(),
                    in_use: 0,
                    offline: m.offline.load(Ordering::Relaxed) || m.is_removed(),
                }
            })
            .collect();
        Self {
            group: group.id,
            primary: primary.map(|i| group.member_id(i)),
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
    use crate::core::config::BalanceConfig;
    match config.routing.balance {
        BalanceConfig::RoundRobin => Balance::RoundRobin,
        BalanceConfig::Weighted => Balance::Weighted,
        BalanceConfig::LeastConnections => Balance::LeastConnections,
    }
}
