//! Which backend a session, a route or a pin means: a member's group and its slot in that group.

/// One member of one group: `group` is the group's position in the config (0: the default group,
/// then the groups shards are placed on or `[[rules]]` route to), `index` the member's slot in it.
///
/// Groups are fixed at start (a reload refuses to add or remove one) and a group's slots are
/// append-only (a removed member keeps its slot), so an id names the same server for the life of
/// the process. Copy and two words: sessions, routing snapshots and the registry hold it by value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberId {
    /// The group's position in the config.
    pub group: usize,
    /// The member's slot in its group (what the router's `ReplicaView::index` and
    /// `Destination::Replica` hold, which know one group only).
    pub index: usize,
}

impl MemberId {
    /// Slot `index` of group `group`.
    pub const fn new(group: usize, index: usize) -> Self {
        Self { group, index }
    }
}

impl std::fmt::Display for MemberId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.group, self.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_different_groups_differ_even_with_the_same_slot() {
        assert_ne!(MemberId::new(0, 1), MemberId::new(1, 1));
        assert_eq!(MemberId::new(2, 3), MemberId { group: 2, index: 3 });
        assert_eq!(MemberId::new(2, 3).to_string(), "2/3");
        assert_eq!(std::mem::size_of::<MemberId>(), 2 * std::mem::size_of::<usize>());
    }
}
