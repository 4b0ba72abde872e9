//! A group's members: the slots sessions and routing snapshots name by index, their addresses, configured
//! roles and weights, and how many connections sessions hold to each.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use super::GtidPos;
use crate::core::config::{Config, MemberConfig, Role};

/// A backend as sessions see it.
#[derive(Debug, Clone)]
pub struct BackendAddr {
    /// `host:port`.
    pub address: String,
    /// `group/role address`, for messages.
    pub label: String,
    /// TLS toward it.
    pub tls: bool,
}

/// One member of the group: a slot that keeps its index for the life of the process (a reload that
/// removes the member marks it removed; adding it back reuses the slot), so member indices held by
/// sessions and routing snapshots never point at another server.
#[derive(Debug)]
pub struct Member {
    /// Where it is.
    pub addr: BackendAddr,
    pub(super) role: AtomicU8,
    pub(super) weight: AtomicU32,
    /// Drained by an operator.
    pub offline: AtomicBool,
    /// Removed from the config by a reload: no new statements; its pools are closed.
    pub removed: AtomicBool,
    /// The highest GTID position it is known to have applied (monitor checks and successful waits).
    pub applied: Mutex<GtidPos>,
    /// Connections to it that sessions hold now (least-connections balancing; [`HeldCount`]).
    busy: AtomicU32,
}

/// One connection a session holds to a member, counted in [`Member::busy`] until dropped.
pub struct HeldCount(Arc<Member>);

impl HeldCount {
    /// Counts one more held connection to `member`.
    pub fn new(member: Arc<Member>) -> Self {
        member.busy.fetch_add(1, Ordering::Relaxed);
        HeldCount(member)
    }
}

impl Drop for HeldCount {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(super) fn role_code(r: Role) -> u8 {
    match r {
        Role::Primary => 0,
        Role::Replica => 1,
        Role::Auto => 2,
    }
}

impl Member {
    /// Connections to it that sessions hold now.
    pub fn busy(&self) -> u32 {
        self.busy.load(Ordering::Relaxed)
    }

    pub(super) fn new(config: &Config, group: &str, m: &MemberConfig) -> Self {
        Member {
            addr: BackendAddr {
                address: m.address.clone(),
                label: format!("{group}/{} {}", role_label(m.role), m.address),
                tls: m.tls.unwrap_or(config.backend.tls.enabled),
            },
            role: AtomicU8::new(role_code(m.role)),
            weight: AtomicU32::new(m.weight),
            offline: AtomicBool::new(false),
            removed: AtomicBool::new(false),
            applied: Mutex::new(GtidPos::default()),
            busy: AtomicU32::new(0),
        }
    }

    /// Configured role.
    pub fn role(&self) -> Role {
        match self.role.load(Ordering::Relaxed) {
            0 => Role::Primary,
            1 => Role::Replica,
            _ => Role::Auto,
        }
    }

    /// Share of reads.
    pub fn weight(&self) -> u32 {
        self.weight.load(Ordering::Relaxed)
    }

    /// Whether a reload removed it.
    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }
}

fn role_label(r: Role) -> &'static str {
    match r {
        Role::Primary => "primary",
        Role::Replica => "replica",
        Role::Auto => "member",
    }
}
