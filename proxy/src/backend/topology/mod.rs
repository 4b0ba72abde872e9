//! The routing view of a backend group, rebuilt from every health snapshot and swapped atomically:
//! which member is the primary, which replicas may serve reads (healthy, not lagging, not drained), and
//! what each replica is known to have applied (GTID positions, for read-your-writes).
//!
//! `mod.rs` holds the groups and their slots; `members` the members, `view` the routing view, `changes`
//! what a reload does to the slots, `gate` the switchover's write gate, `writes` the read-your-writes
//! cells.

use std::sync::Arc;

use arc_swap::ArcSwap;

pub use crate::backend::gtid::GtidPos;
use crate::backend::member::MemberId;
use crate::core::config::{Config, GroupConfig};

mod changes;
mod gate;
mod members;
mod view;
mod writes;

pub use gate::{Busy, WriteGate};
use members::role_code;
pub use members::{BackendAddr, HeldCount, Member};
pub use view::RouteSnapshot;
pub use writes::{WriteCell, WriteScopes};

/// One group: its member slots, its routing view and its write gate.
#[derive(Debug)]
pub struct Group {
    /// Its position in the config ([`MemberId::group`]).
    pub id: usize,
    /// Group name.
    pub name: String,
    /// Member slots in the order they were first configured (append-only).
    members: ArcSwap<Vec<Arc<Member>>>,
    /// Holds new writes while a SWITCHOVER moves the primary.
    pub gate: Arc<WriteGate>,
    /// Its routing view, replaced after every health check (for a group neither shards nor rules
    /// use, the configured primary only).
    pub routing: ArcSwap<RouteSnapshot>,
}

impl Group {
    /// From the config's group at position `id`, routing to its configured primary until the first
    /// health check.
    pub fn from_config(config: &Config, id: usize, g: &GroupConfig) -> Self {
        let members = g.members.iter().map(|m| Arc::new(Member::new(config, &g.name, m))).collect();
        let mut group = Self {
            id,
            name: g.name.clone(),
            members: ArcSwap::from_pointee(members),
            gate: Arc::default(),
            routing: ArcSwap::default(),
        };
        group.routing = ArcSwap::from_pointee(RouteSnapshot::initial(&group, config));
        group
    }

    /// Its routing view now.
    pub fn routing(&self) -> Arc<RouteSnapshot> {
        self.routing.load_full()
    }

    /// The id of its slot `index`.
    pub fn member_id(&self, index: usize) -> MemberId {
        MemberId::new(self.id, index)
    }

    /// What the monitor checks for this group: every slot in slot order (removed ones included, so
    /// health lines up with member indices), with the monitor credentials.
    pub fn monitor_targets(
        &self,
        config: &Config,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Vec<crate::backend::monitor::Target>, crate::core::config::ConfigError> {
        let members = self.members();
        let slots = members.iter().map(|m| crate::backend::monitor::Slot {
            address: &m.addr.address,
            role: m.role(),
            tls: m.addr.tls,
            removed: m.is_removed(),
        });
        crate::backend::monitor::group_targets(config, &self.name, slots, tls)
    }

    /// Every slot, removed ones included (index = member index).
    pub fn members(&self) -> Arc<Vec<Arc<Member>>> {
        self.members.load_full()
    }

    /// Member `i`.
    pub fn member(&self, i: usize) -> Option<Arc<Member>> {
        self.members.load().get(i).cloned()
    }

    /// The index of the (not removed) member at `address`.
    pub fn position(&self, address: &str) -> Option<usize> {
        self.members.load().iter().position(|m| m.addr.address == address && !m.is_removed())
    }

    /// Whether member `i` was removed by a reload.
    pub fn is_removed(&self, i: usize) -> bool {
        self.members.load().get(i).is_some_and(|m| m.is_removed())
    }

    /// Records that member `i` has applied `pos`.
    pub fn note_applied(&self, i: usize, pos: &GtidPos) {
        if let Some(m) = self.member(i)
            && let Ok(mut a) = m.applied.lock()
        {
            a.merge(pos);
            a.bound_applied();
        }
    }

    /// Whether member `i` is known to have applied `pos`.
    pub fn has_applied(&self, i: usize, pos: &GtidPos) -> bool {
        self.member(i).and_then(|m| m.applied.lock().ok().map(|a| a.covers(pos))).unwrap_or(false)
    }
}

/// Every group in config order, so that `groups.get(id.group)` finds any member's group; never
/// empty (the first is the default group: sessions route there unless a shard or a rule says
/// otherwise).
#[derive(Debug)]
pub struct Groups {
    default: Group,
    others: Vec<Group>,
}

impl Groups {
    /// From the config's `[[groups]]`; `None` when there is none.
    pub fn from_config(config: &Config) -> Option<Self> {
        let mut all = config.groups.iter().enumerate().map(|(id, g)| Group::from_config(config, id, g));
        let default = all.next()?;
        Some(Self { default, others: all.collect() })
    }

    /// The default group (the first configured).
    pub fn default_group(&self) -> &Group {
        &self.default
    }

    /// The group at position `id` in the config.
    pub fn get(&self, id: usize) -> Option<&Group> {
        match id.checked_sub(1) {
            None => Some(&self.default),
            Some(i) => self.others.get(i),
        }
    }

    /// Every group, the default one first.
    pub fn iter(&self) -> impl Iterator<Item = &Group> {
        std::iter::once(&self.default).chain(&self.others)
    }

    /// The group named `name`.
    pub fn by_name(&self, name: &str) -> Option<&Group> {
        self.iter().find(|g| g.name == name)
    }

    /// Member `id` (removed ones included).
    pub fn member(&self, id: MemberId) -> Option<Arc<Member>> {
        self.get(id.group)?.member(id.index)
    }
}

#[cfg(test)]
mod tests;
