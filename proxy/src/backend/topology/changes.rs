//! What a reload does to a group's member slots: roles and weights change in place, new addresses get a
//! slot (or revive their old one), missing ones are marked removed, never reused for another server.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Group, Member, role_code};
use crate::core::config::{Config, GroupConfig};

/// What a reload changed in the group's members.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberChanges {
    /// Addresses added (or added back).
    pub added: Vec<String>,
    /// Addresses removed (drained: no new statements, pools closed).
    pub removed: Vec<String>,
    /// Addresses whose role or weight changed.
    pub changed: Vec<String>,
}

impl Group {
    /// Makes the slots match a reloaded group: roles and weights updated in place, new addresses
    /// appended (or a removed slot revived), missing ones marked removed.
    pub fn apply(&self, config: &Config, g: &GroupConfig) -> MemberChanges {
        let mut changes = MemberChanges::default();
        let mut slots: Vec<Arc<Member>> = self.members.load().iter().cloned().collect();
        for m in &g.members {
            match slots.iter().find(|s| s.addr.address == m.address) {
                Some(s) => {
                    if s.removed.swap(false, Ordering::AcqRel) {
                        changes.added.push(m.address.clone());
                    } else if s.role() != m.role || s.weight() != m.weight {
                        changes.changed.push(m.address.clone());
                    }
                    s.role.store(role_code(m.role), Ordering::Relaxed);
                    s.weight.store(m.weight, Ordering::Relaxed);
                }
                None => {
                    changes.added.push(m.address.clone());
                    slots.push(Arc::new(Member::new(config, &g.name, m)));
                }
            }
        }
        for s in &slots {
            if !g.members.iter().any(|m| m.address == s.addr.address)
                && !s.removed.swap(true, Ordering::AcqRel)
            {
                changes.removed.push(s.addr.address.clone());
            }
        }
        self.members.store(Arc::new(slots));
        changes
    }
}
