//! The routing view of a backend group, rebuilt from every health snapshot and swapped atomically:
//! which member is the primary, which replicas may serve reads (healthy, not lagging, not drained), and
//! what each replica is known to have applied (GTID positions, for read-your-writes).

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use sluice_router::route::{Balance, ReplicaView, Topology};

pub use crate::backend::gtid::GtidPos;
use crate::backend::member::MemberId;
use crate::backend::monitor::MemberHealth;
use crate::core::config::{Config, GroupConfig, MemberConfig, Role};

/// The last write that reads in one read-your-writes scope (`[routing] read_your_writes_scope`) must
/// see: its GTID (`None`: the server reported none) and when it was acknowledged. Sessions publish
/// every write; a reader looks again only when `version` moved (one atomic load per statement).
#[derive(Debug, Default)]
pub struct WriteCell {
    version: std::sync::atomic::AtomicU64,
    last: Mutex<Option<(Option<GtidPos>, std::time::Instant)>>,
}

impl WriteCell {
    /// Records a write acknowledged now: GTIDs merge (MariaDB: per domain, the highest; MySQL: the
    /// union, widened when it fragments); a write without one keeps what is known.
    pub fn publish(&self, gtid: Option<&GtidPos>) {
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut pos = last.take().and_then(|(g, _)| g);
        match (&mut pos, gtid) {
            (Some(p), Some(g)) => p.merge(g),
            (None, Some(g)) => pos = Some(g.clone()),
            (_, None) => {}
        }
        if let Some(p) = &mut pos {
            p.bound_needed();
        }
        *last = Some((pos, std::time::Instant::now()));
        self.version.fetch_add(1, Ordering::Release);
    }

    /// Changes whenever a write is published.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The last write, if any.
    pub fn last(&self) -> Option<(Option<GtidPos>, std::time::Instant)> {
        self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// The write cells: one per user (users come from the config, so the map is bounded) and one global.
#[derive(Debug, Default)]
pub struct WriteScopes {
    users: Mutex<std::collections::HashMap<String, Arc<WriteCell>>>,
    global: Arc<WriteCell>,
}

impl WriteScopes {
    /// The cell a session of `user` reads and publishes to (`None`: its own writes only).
    pub fn cell(&self, scope: crate::core::config::WriteScope, user: &str) -> Option<Arc<WriteCell>> {
        use crate::core::config::WriteScope;
        match scope {
            WriteScope::Session => None,
            WriteScope::Global => Some(self.global.clone()),
            WriteScope::User => {
                let mut users = self.users.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                Some(users.entry(user.to_owned()).or_default().clone())
            }
        }
    }
}

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
    role: AtomicU8,
    weight: AtomicU32,
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

fn role_code(r: Role) -> u8 {
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

    fn new(config: &Config, group: &str, m: &MemberConfig) -> Self {
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

/// Holds new statements toward a group's primary while `SWITCHOVER` runs, and counts the statements and
/// transactions already running there, so the switch starts only once the primary is quiet.
///
/// A session takes a [`Busy`] token *before* it looks at [`WriteGate::is_paused`], and the switchover
/// pauses *before* it reads [`WriteGate::busy`] (both sequentially consistent): either the session sees
/// the pause and waits, or the switchover sees the token and waits for it.
#[derive(Debug, Default)]
pub struct WriteGate {
    paused: AtomicBool,
    busy: std::sync::atomic::AtomicUsize,
    released: tokio::sync::Notify,
}

/// One statement or transaction running on a group's primary (see [`WriteGate`]).
#[derive(Debug)]
pub struct Busy(Arc<WriteGate>);

impl Busy {
    /// Whether the gate this token counts on is paused.
    pub fn gate_paused(&self) -> bool {
        self.0.is_paused()
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A paused gate; dropping it lets the held statements go (to whatever is primary by then).
#[derive(Debug)]
pub struct Paused(Arc<WriteGate>);

impl Drop for Paused {
    fn drop(&mut self) {
        self.0.paused.store(false, Ordering::SeqCst);
        self.0.released.notify_waiters();
    }
}

impl WriteGate {
    /// Counts a statement (or transaction) on the primary until the token is dropped.
    pub fn enter(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::SeqCst);
        Busy(self.clone())
    }

    /// Whether a switchover holds new statements.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// Statements and transactions running on the primary now.
    pub fn busy(&self) -> usize {
        self.busy.load(Ordering::SeqCst)
    }

    /// Pauses the gate; `None` when another switchover already has it.
    pub fn pause(self: &Arc<Self>) -> Option<Paused> {
        self.paused.compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst).ok()?;
        Some(Paused(self.clone()))
    }

    /// Waits until the gate opens, at most `limit`; whether it did.
    pub async fn wait_open(&self, limit: std::time::Duration) -> bool {
        let deadline = crate::core::clock::tokio_after(tokio::time::Instant::now(), limit);
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if !self.is_paused() {
                return true;
            }
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                return !self.is_paused();
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_still_applying_serve_reads_while_the_primary_is_down() {
        let text = "[[groups]]\nname = \"main\"\n[[groups.members]]\naddress = \"127.0.0.1:1\"\nrole = \"primary\"\n[[groups.members]]\naddress = \"127.0.0.1:2\"\nrole = \"replica\"\n[[groups.members]]\naddress = \"127.0.0.1:3\"\nrole = \"replica\"\n[[groups.members]]\naddress = \"127.0.0.1:4\"\nrole = \"replica\"\n";
        let config = Config::parse(text, "t.toml").expect("parses");
        let group = Group::from_config(&config, 0, &config.groups[0]);
        let member = |address: &str, role, healthy, applying| MemberHealth {
            address: address.into(),
            configured_role: role,
            healthy,
            read_only: Some(role == Role::Replica),
            replicating: role == Role::Replica,
            lag_ms: None,
            applying,
            reconnecting: false,
            gtid: None,
            error: None,
            check_time: std::time::Duration::ZERO,
        };
        let lags = |primary_healthy| {
            let mut health = [
                member("127.0.0.1:1", Role::Primary, primary_healthy, false),
                member("127.0.0.1:2", Role::Replica, true, true),
                member("127.0.0.1:3", Role::Replica, true, false),
                member("127.0.0.1:4", Role::Replica, true, true),
            ];
            // Reconnecting for a minute: the monitor's estimate is past any max lag.
            health[3].reconnecting = true;
            health[3].lag_ms = Some(60_000);
            let snap = RouteSnapshot::build(&group, &health, &config);
            snap.topo.replicas.iter().map(|r| r.lag_ms).collect::<Vec<_>>()
        };
        // Primary down: replicas whose SQL thread runs serve reads, the stopped one does not.
        assert_eq!(lags(false), vec![Some(0), None, Some(0)]);
        // Primary up: NULL lag (IO or SQL thread stopped) takes a replica out; the estimate stands.
        assert_eq!(lags(true), vec![None, None, Some(60_000)]);
    }

    #[test]
    fn groups_name_members_by_group_and_slot() {
        let text = "[[groups]]\nname = \"main\"\n[[groups.members]]\naddress = \"127.0.0.1:1\"\nrole = \"replica\"\n[[groups.members]]\naddress = \"127.0.0.1:2\"\nrole = \"primary\"\n[[groups]]\nname = \"s1\"\n[[groups.members]]\naddress = \"127.0.0.1:3\"\nrole = \"primary\"\n";
        let config = Config::parse(text, "t.toml").expect("parses");
        let groups = Groups::from_config(&config).expect("has groups");
        assert_eq!(groups.default_group().name, "main");
        assert_eq!(
            groups.iter().map(|g| (g.id, g.name.as_str())).collect::<Vec<_>>(),
            [(0, "main"), (1, "s1")]
        );
        // Slot 0 of each group is a different server; the routing views name their own group.
        let addr = |id| groups.member(id).map(|m| m.addr.address.clone());
        assert_eq!(addr(MemberId::new(0, 0)).as_deref(), Some("127.0.0.1:1"));
        assert_eq!(addr(MemberId::new(1, 0)).as_deref(), Some("127.0.0.1:3"));
        assert_eq!(addr(MemberId::new(1, 1)), None);
        assert_eq!(addr(MemberId::new(2, 0)), None);
        assert_eq!(groups.default_group().routing().primary, Some(MemberId::new(0, 1)));
        assert_eq!(groups.by_name("s1").and_then(|g| g.routing().primary), Some(MemberId::new(1, 0)));
        assert_eq!(groups.get(1).map(|g| g.routing().member_id(4)), Some(MemberId::new(1, 4)));
    }
}
