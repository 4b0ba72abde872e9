//! State shared by every session: the config, accounts, pools, TLS, limits. Passed as an `Arc`, never a
//! global, so several sluice instances can run in one process (tests do).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::backend::member::MemberId;
use crate::backend::topology::{BackendAddr, Group, Groups, Member, RouteSnapshot};
use crate::backend::{ConnectSpec, PoolKey, PoolLimits, Pools};
use crate::core::config::{Config, Role};
use crate::frontend::users::Users;

/// Everything sessions share.
pub struct Shared {
    /// The configuration in effect (replaced by a reload; read it with [`Shared::config`]).
    config: arc_swap::ArcSwap<Config>,
    /// The file the config came from (what `RELOAD` and SIGHUP read again).
    config_path: Mutex<Option<PathBuf>>,
    /// One reload at a time.
    reload_lock: Mutex<()>,
    /// What the health monitor checks (the default group's slots), rebuilt by a reload.
    monitor_targets: Arc<arc_swap::ArcSwap<Vec<crate::backend::monitor::Target>>>,
    /// The slow log's queue to its writer thread.
    pub slow_log: crate::features::slowlog::SlowLog,
    /// Advice (loops seen by sessions, p99 intervals).
    pub advice: crate::features::advice::Advice,
    /// `[stats] enabled`: statements are recorded (reloadable).
    recording: std::sync::atomic::AtomicBool,
    /// Client-facing accounts.
    pub users: Users,
    /// Backend pools.
    pub pools: Pools,
    /// TLS toward clients, if configured.
    pub client_tls: Option<tokio_rustls::TlsAcceptor>,
    /// TLS toward backends, if configured.
    pub backend_tls: Option<Arc<rustls::ClientConfig>>,
    /// `[backend] server_public_key_file`, read at start (caching_sha2 full authentication without TLS).
    pub backend_public_key: Option<Arc<sluice_protocol::auth::ServerPublicKey>>,
    /// Client connection slots (`max_client_connections`).
    pub client_slots: Arc<Semaphore>,
    /// Connections in the handshake per source address (`[server] max_handshakes_per_ip`).
    pub handshakes: Arc<crate::frontend::preauth::Handshakes>,
    /// Open admin connections (`[admin] max_connections`).
    pub admin_slots: Arc<crate::frontend::preauth::Slots>,
    /// Open HTTP connections (`[http] max_connections`).
    pub http_slots: Arc<crate::frontend::preauth::Slots>,
    /// Connections per user, for `max_connections`.
    pub per_user: HashMap<String, Arc<AtomicUsize>>,
    /// Connection ids handed to clients.
    next_conn_id: AtomicU32,
    /// Version string in the greeting.
    pub server_version: Bytes,
    /// Collation id in the greeting: the primary's default (learned at start; utf8mb4_general_ci until
    /// then). Drivers choose their handshake collation from it (Connector/J takes the server's when it
    /// is utf8mb4), so it must be what a direct connection would see.
    pub server_charset: u8,
    /// The primary's server flavour (learned at start; MariaDB until then).
    pub server_flavor: crate::backend::Flavor,
    /// MySQL: the character set variables a `COM_RESET_CONNECTION` gives a session (the server's
    /// global values, whatever collation the client logged in with), as (tracked index, value);
    /// empty for MariaDB, which keeps the login's.
    pub reset_charset: Vec<(usize, Bytes)>,
    /// The primary of the default group.
    pub primary: BackendAddr,
    /// Cancelled on shutdown: sessions finish their statement and close.
    pub shutdown: CancellationToken,
    /// Sessions alive now (shutdown waits for zero).
    live_sessions: AtomicUsize,
    /// Every group in config order (members, routing view, write gate); a [`MemberId`] names a
    /// member of any of them. The first is the default group ([`Shared::group`]).
    pub groups: Groups,
    /// The last write each read-your-writes scope must see in the default group (`[routing]
    /// read_your_writes_scope`).
    pub writes: crate::backend::topology::WriteScopes,
    /// The latest health snapshot (all groups).
    pub health: crate::backend::monitor::Health,
    /// Statement plans by digest.
    pub plans: sluice_router::plan_cache::PlanCache,
    /// Keys for INSERTs that omit a `generate_key` table's shard key.
    pub shard_ids: sluice_router::shard::IdGenerator,
    /// Query rules, compiled.
    pub rules: crate::features::rules::Rules,
    /// Each table's AUTO_INCREMENT column (`schema.table` → name; `None`: it has none), read from
    /// information_schema the first time an INSERT into it reports an id (LAST_INSERT_ID()).
    pub auto_increment: Mutex<std::collections::HashMap<String, Option<String>>>,
    /// Admin interface accounts.
    pub admin_users: Users,
    /// Per-digest statistics.
    pub digests: crate::features::stats::Digests,
    /// Round-robin turn for replica picks.
    pub turn: std::sync::atomic::AtomicU64,
    /// Live sessions by connection id (KILL, SHOW SESSIONS).
    pub sessions: crate::frontend::pins::Registry,
    /// Pins taken, by reason.
    pub pins: crate::frontend::pins::PinCounters,
    /// The result cache (`[cache] enabled`).
    pub cache: Option<Arc<sluice_cache::Cache>>,
    /// Table dependencies for the cache; `None` until loaded (nothing is cached until then).
    pub cache_deps: arc_swap::ArcSwapOption<crate::backend::cache_deps::Deps>,
    /// Set when DDL may have changed the dependencies: they are reloaded.
    pub cache_deps_dirty: tokio::sync::Notify,
    /// Tables being moved (dual writes).
    pub migrations: crate::features::migration::Migrations,
    /// The digest allowlist (`[firewall]`).
    pub firewall: crate::features::firewall::Firewall,
    /// Traffic capture (off unless `[capture] enabled` or admin `CAPTURE START`).
    pub capture: Arc<crate::features::capture::Capture>,
}

/// Why one of sluice's own queries to the primary (GTID position, cache dependencies, version) did not
/// run.
#[derive(Debug, thiserror::Error)]
pub enum OwnQueryError {
    /// It runs with the first `[[users]]` entry's backend account, and there is none.
    #[error("no [[users]] to connect with")]
    NoUser,
    /// The primary could not be reached or refused the query.
    #[error(transparent)]
    Backend(#[from] crate::core::error::Error),
}

/// Counts one live session while it exists.
pub struct LiveSession<'a>(&'a AtomicUsize);

impl Drop for LiveSession<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why the shared state could not be built from a config.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// An account's secrets.
    #[error(transparent)]
    Users(#[from] crate::frontend::users::UsersError),
    /// The slow log's file or thread.
    #[error(transparent)]
    SlowLog(#[from] crate::features::slowlog::SlowLogError),
    /// The firewall's allowlist file.
    #[error(transparent)]
    Allowlist(#[from] crate::features::firewall::AllowlistError),
    /// TLS certificates, keys or CA files.
    #[error(transparent)]
    Tls(#[from] crate::core::tls::TlsError),
    /// `[backend] server_public_key_file` cannot be read or is no RSA public key.
    #[error(transparent)]
    ServerPublicKey(#[from] crate::core::config::ConfigError),
    /// The config has no group, or a group no member.
    #[error("{0}")]
    Topology(String),
}

impl Shared {
    /// Builds shared state from a validated config. Resolves backend secrets and TLS files.
    pub fn new(config: Config) -> Result<Self, StartError> {
        let users = Users::from_config(&config)?;
        let no_groups = || StartError::Topology("config has no [[groups]]".into());
        let group = config.groups.first().ok_or_else(no_groups)?;
        let member = group
            .members
            .iter()
            .find(|m| m.role == Role::Primary)
            .or_else(|| group.members.first())
            .ok_or_else(|| StartError::Topology(format!("group {} has no members", group.name)))?;
        let tls_on = member.tls.unwrap_or(config.backend.tls.enabled);
        let primary = BackendAddr {
            address: member.address.clone(),
            label: format!("{}/primary {}", group.name, member.address),
            tls: tls_on,
        };
        let groups = Groups::from_config(&config).ok_or_else(no_groups)?;
        let client_tls = match &config.server.tls {
            Some(t) => Some(tokio_rustls::TlsAcceptor::from(crate::core::tls::server_config(
                &t.cert,
                &t.key,
                config.server.tls_min_version,
            )?)),
            None => None,
        };
        let any_backend_tls = config.backend.tls.enabled
            || config.groups.iter().flat_map(|g| &g.members).any(|m| m.tls == Some(true));
        let backend_tls = if any_backend_tls {
            Some(crate::core::tls::client_config(
                config.backend.tls.verify,
                config.backend.tls.ca.as_deref(),
                config.backend.tls_min_version,
            )?)
        } else {
            None
        };
        let limits = PoolLimits {
            max: config.pool.max_per_backend.max(1),
            max_per_backend: config.pool.max_connections_per_backend.max(1),
            checkout_timeout: Duration::from_millis(config.pool.checkout_timeout_ms),
            idle_timeout: Duration::from_millis(config.pool.idle_timeout_ms),
            max_lifetime: Duration::from_millis(config.pool.max_lifetime_ms),
        };
        let per_user = config.users.iter().map(|u| (u.name.clone(), Arc::new(AtomicUsize::new(0)))).collect();
        let server_version = if config.server.server_version.is_empty() {
            Bytes::from_static(b"5.5.5-10.11.0-MariaDB-sluice")
        } else {
            Bytes::from(config.server.server_version.clone())
        };
        Ok(Self {
            client_slots: Arc::new(Semaphore::new(config.server.max_client_connections)),
            handshakes: Arc::default(),
            admin_slots: Arc::default(),
            http_slots: Arc::default(),
            pools: Pools::new(limits),
            users,
            client_tls,
            backend_tls,
            backend_public_key: config.backend.server_public_key()?,
            per_user,
            next_conn_id: AtomicU32::new(1),
            server_version,
            server_charset: 45,
            server_flavor: crate::backend::Flavor::MariaDb,
            reset_charset: Vec::new(),
            primary,
            shutdown: CancellationToken::new(),
            live_sessions: AtomicUsize::new(0),
            groups,
            writes: crate::backend::topology::WriteScopes::default(),
            health: Arc::new(arc_swap::ArcSwap::from_pointee(
                crate::backend::monitor::HealthSnapshot::default(),
            )),
            rules: crate::features::rules::Rules::new(&config.rules),
            auto_increment: Mutex::new(std::collections::HashMap::new()),
            admin_users: Users::admins(&config)?,
            digests: crate::features::stats::Digests::new(config.stats.max_digests),
            slow_log: crate::features::slowlog::SlowLog::start(&config.log)?,
            advice: crate::features::advice::Advice::new(&config.advice),
            recording: std::sync::atomic::AtomicBool::new(config.stats.enabled),
            config_path: Mutex::new(config.origin().map(PathBuf::from).filter(|p| p.is_file())),
            reload_lock: Mutex::new(()),
            monitor_targets: Arc::new(arc_swap::ArcSwap::from_pointee(Vec::new())),
            plans: sluice_router::plan_cache::PlanCache::new(
                config.routing.plan_cache_entries.max(16),
                config.routing.plan_cache_entries.max(16) * 256,
            )
            .with_shards(config.sharding.shard_map(&config.groups)),
            shard_ids: sluice_router::shard::IdGenerator::new(config.sharding.node_id),
            turn: std::sync::atomic::AtomicU64::new(0),
            sessions: crate::frontend::pins::Registry::default(),
            pins: crate::frontend::pins::PinCounters::default(),
            cache: config.cache.enabled.then(|| {
                Arc::new(sluice_cache::Cache::new(sluice_cache::Settings {
                    l1_bytes: config.cache.l1_size,
                    max_entry_bytes: config.cache.max_entry_bytes as usize,
                    flight_wait: Duration::from_millis(config.backend.read_timeout_ms.clamp(100, 5000)),
                    refresh_ahead: Duration::from_millis(config.cache.refresh_ahead_ms),
                }))
            }),
            cache_deps: arc_swap::ArcSwapOption::empty(),
            cache_deps_dirty: tokio::sync::Notify::new(),
            capture: Arc::new(crate::features::capture::Capture::new(&config.capture)),
            firewall: crate::features::firewall::Firewall::from_config(&config.firewall)?,
            migrations: crate::features::migration::Migrations::from_config(&config),
            config: arc_swap::ArcSwap::from_pointee(config),
        })
    }

    /// The configuration in effect now (a reload may replace it between two calls).
    pub fn config(&self) -> arc_swap::Guard<Arc<Config>> {
        self.config.load()
    }

    /// Names the file `RELOAD` and SIGHUP read again.
    pub fn set_config_path(&self, path: impl Into<PathBuf>) {
        if let Ok(mut p) = self.config_path.lock() {
            *p = Some(path.into());
        }
    }

    /// The config in effect as an owned handle (compared with a reloaded one).
    pub(crate) fn config_full(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// Makes `next` the config in effect (a reload, after everything derived from it was applied).
    pub(crate) fn store_config(&self, next: Config) {
        self.config.store(Arc::new(next));
    }

    /// Held while a reload runs (one at a time).
    pub(crate) fn reload_lock(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, ()>, std::sync::PoisonError<std::sync::MutexGuard<'_, ()>>> {
        self.reload_lock.lock()
    }

    /// What the health monitor checks from its next round on.
    pub(crate) fn set_monitor_targets(&self, t: Vec<crate::backend::monitor::Target>) {
        self.monitor_targets.store(Arc::new(t));
    }

    /// `[stats] enabled`.
    pub(crate) fn set_recording(&self, on: bool) {
        self.recording.store(on, Ordering::Relaxed);
    }

    /// The file `RELOAD` reads, if any.
    pub fn config_path(&self) -> Option<PathBuf> {
        self.config_path.lock().ok().and_then(|p| p.clone())
    }

    /// Records one statement: the digest table, the slow log (over `slow_query_ms`: queued, never
    /// waited for) and the session's loop detector.
    pub fn record(
        &self,
        track: &mut crate::features::advice::SessionTrack,
        e: &crate::features::stats::Event<'_>,
    ) {
        if !self.recording.load(Ordering::Relaxed) {
            self.digests.record_totals(e);
            return;
        }
        self.digests.record(e);
        if self.slow_log.wants(e.latency) {
            let sql = if e.sql.is_empty() {
                e.text.to_owned()
            } else {
                String::from_utf8_lossy(e.sql).into_owned()
            };
            self.slow_log.submit(crate::features::slowlog::SlowEntry {
                at: std::time::SystemTime::now(),
                user: e.user.to_owned(),
                peer: e.peer,
                session: e.session,
                schema: String::from_utf8_lossy(e.schema).into_owned(),
                latency: e.latency,
                rows_sent: e.rows_sent,
                rows_affected: e.rows_affected,
                sql,
            });
        }
        track.observe(e, &self.advice);
    }

    /// Marks a session alive until the returned guard drops.
    pub fn live_session(&self) -> LiveSession<'_> {
        self.live_sessions.fetch_add(1, Ordering::AcqRel);
        LiveSession(&self.live_sessions)
    }

    /// Sessions alive now.
    pub fn live_session_count(&self) -> usize {
        self.live_sessions.load(Ordering::Acquire)
    }

    /// Cancels sessions (each finishes its statement in flight, then closes) and waits up to `grace`
    /// for all of them to end, then lets a running capture finish its file (up to 5 s more). Returns
    /// whether every session ended.
    pub async fn drain(&self, grace: Duration) -> bool {
        self.shutdown.cancel();
        let deadline = crate::core::clock::tokio_after(tokio::time::Instant::now(), grace);
        let mut all = true;
        while self.live_session_count() > 0 {
            if tokio::time::Instant::now() >= deadline {
                all = false;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.capture.finish(Duration::from_secs(5)).await;
        all
    }

    /// Largest packet accepted from a client.
    pub fn max_packet(&self) -> usize {
        self.config().server.max_packet_bytes
    }

    /// A new client connection id.
    pub fn next_conn_id(&self) -> u32 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The connect spec toward `backend` for a backend user, capability variant and collation.
    pub fn connect_spec(
        &self,
        backend: &BackendAddr,
        user: &str,
        password: &str,
        found_rows: bool,
        charset: u8,
    ) -> ConnectSpec {
        ConnectSpec {
            address: backend.address.clone(),
            label: backend.label.clone(),
            user: user.to_owned(),
            password: password.to_owned(),
            found_rows,
            charset,
            tls: if backend.tls { self.backend_tls.clone() } else { None },
            server_public_key: self.backend_public_key.clone(),
            connect_timeout: Duration::from_millis(self.config().backend.connect_timeout_ms),
            max_packet: 1 << 30,
        }
    }

    /// The pool for `backend` and a session's backend user, FOUND_ROWS flag and collation.
    pub fn pool_for(
        &self,
        backend: &BackendAddr,
        user: &str,
        password: &str,
        found_rows: bool,
        charset: u8,
    ) -> Arc<crate::backend::Pool> {
        let key = PoolKey { address: backend.address.clone(), user: user.to_owned(), found_rows, charset };
        self.pools.pool(key, || self.connect_spec(backend, user, password, found_rows, charset))
    }

    /// Applies a health snapshot to the default group's routing view.
    pub fn publish_health(&self, snap: &crate::backend::monitor::HealthSnapshot) {
        self.publish_routing(snap, false);
    }

    /// [`Self::publish_health`]; a group whose primary a SWITCHOVER is moving keeps its routing view
    /// unless `during_switchover` (the switchover publishes its own result).
    pub fn publish_routing(&self, snap: &crate::backend::monitor::HealthSnapshot, during_switchover: bool) {
        let config = self.config();
        for (n, (name, members)) in snap.groups.iter().enumerate() {
            // The snapshot's first group is the default group; the others are found by name.
            let group =
                if n == 0 { Some(self.group()) } else { self.groups.by_name(name).filter(|g| g.id > 0) };
            let Some(group) = group else { continue };
            if group.gate.is_paused() && !during_switchover {
                continue;
            }
            let next = RouteSnapshot::build(group, members, &config);
            if next.split_brain && !group.routing.load().split_brain {
                tracing::error!(group = %group.name, "more than one writable member: writes are refused until one is made read_only");
            }
            group.routing.store(Arc::new(next));
        }
    }

    /// Checks every member once now (new connections) and publishes the result, as the monitor would;
    /// `during_switchover` publishes a group whose gate is paused too.
    pub(crate) async fn check_now(&self, during_switchover: bool) {
        let targets = self.monitor_targets.load_full();
        let mut conns: Vec<Option<crate::backend::BackendConn>> = Vec::new();
        conns.resize_with(targets.len(), || None);
        let snap = crate::backend::monitor::check_all(&targets, &mut conns).await;
        self.health.store(Arc::new(snap));
        self.publish_routing(&self.health.load(), during_switchover);
    }

    /// The default group's primary now (the configured one until the monitor has found one): where
    /// sluice's own queries (GTID position, dependencies, version) go.
    pub fn current_primary(&self) -> BackendAddr {
        self.group()
            .routing
            .load()
            .primary
            .and_then(|i| self.member(i))
            .unwrap_or_else(|| self.primary.clone())
    }

    /// Starts the health monitor (checks every member on `[monitor] interval_ms`); the first check is
    /// awaited up to `first_wait`, so routing starts with a real view. Returns the task.
    pub async fn start_monitor(
        self: &Arc<Self>,
        first_wait: Duration,
    ) -> Result<tokio::task::JoinHandle<()>, crate::core::config::ConfigError> {
        let targets = self.all_monitor_targets(&self.config())?;
        self.monitor_targets.store(Arc::new(targets));
        let interval = Duration::from_millis(self.config().monitor.interval_ms.max(10));
        let me = self.clone();
        let health = self.health.clone();
        let stop = self.shutdown.clone();
        tokio::spawn(advice_ticker(self.clone(), stop.clone()));
        let first = Arc::new(tokio::sync::Notify::new());
        let first2 = first.clone();
        let targets = self.monitor_targets.clone();
        let task =
            tokio::spawn(crate::backend::monitor::run_with(targets, interval, health, stop, move |snap| {
                me.publish_health(snap);
                first2.notify_one();
            }));
        let _ = tokio::time::timeout(first_wait, first.notified()).await;
        self.start_cache(first_wait).await;
        Ok(task)
    }

    /// Connects the cache's L2 (pub/sub, recovery checks) and loads its table dependencies, on the
    /// runtime that serves sessions. Redis being unreachable leaves L1 only, with a warning.
    async fn start_cache(self: &Arc<Self>, first_wait: Duration) {
        let Some(cache) = self.cache.clone() else { return };
        let config = self.config_full();
        let cfg = &config.cache;
        if cfg.redis_enabled && !cfg.redis_url.is_empty() {
            let instance = rand::random::<u64>();
            let timeout = Duration::from_millis(cfg.redis_timeout_ms.max(1));
            match sluice_cache::L2::connect(&cfg.redis_url, timeout, instance).await {
                Ok(l2) => {
                    let l2 = Arc::new(l2);
                    cache.set_l2(l2.clone());
                    let c = cache.clone();
                    let stop = self.shutdown.clone();
                    tokio::spawn(sluice_cache::l2::subscribe_loop(
                        l2.clone(),
                        move |inv| c.apply(inv),
                        async move { stop.cancelled().await },
                    ));
                    let stop = self.shutdown.clone();
                    tokio::spawn(async move {
                        let mut tick = tokio::time::interval(Duration::from_millis(250));
                        loop {
                            tokio::select! { _ = tick.tick() => {}, () = stop.cancelled() => return }
                            l2.recover().await;
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(url = %cfg.redis_url, error = %e, "redis unreachable at start: the cache runs with L1 only");
                }
            }
        }
        let me = self.clone();
        let loaded = Arc::new(tokio::sync::Notify::new());
        let loaded2 = loaded.clone();
        tokio::spawn(async move {
            loop {
                match me.load_cache_deps().await {
                    Ok(d) => {
                        me.cache_deps.store(Some(Arc::new(d)));
                        loaded2.notify_one();
                        tokio::select! {
                            () = me.cache_deps_dirty.notified() => me.cache_deps.store(None),
                            () = me.shutdown.cancelled() => return,
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cache: table dependencies not loaded; nothing is cached until they are");
                        tokio::select! {
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                            () = me.shutdown.cancelled() => return,
                        }
                    }
                }
            }
        });
        let _ = tokio::time::timeout(first_wait, loaded.notified()).await;
    }

    /// Reads triggers, foreign keys and views from the primary with the first user's backend account.
    async fn load_cache_deps(&self) -> Result<crate::backend::cache_deps::Deps, OwnQueryError> {
        let primary = self.current_primary();
        let mut conn = self.connect_as_first_user(&primary).await?;
        Ok(crate::backend::cache_deps::Deps::load(&mut conn, &primary.label).await?)
    }

    /// A new connection to `to` with the first `[[users]]` entry's backend account (sluice's own
    /// queries: dependencies, GTID positions, the server version).
    async fn connect_as_first_user(
        &self,
        to: &BackendAddr,
    ) -> Result<crate::backend::BackendConn, OwnQueryError> {
        let name = self.config().users.first().map(|u| u.name.clone()).ok_or(OwnQueryError::NoUser)?;
        let user = self.users.get(name.as_bytes()).ok_or(OwnQueryError::NoUser)?;
        let spec = self.connect_spec(to, &user.backend_user, &user.backend_password, false, 45);
        Ok(crate::backend::BackendConn::connect(&spec).await?)
    }

    /// The default group (the first configured): where sessions route unless a shard or a rule
    /// says otherwise.
    pub fn group(&self) -> &Group {
        self.groups.default_group()
    }

    /// Member `id` (removed ones included).
    pub fn member_at(&self, id: MemberId) -> Option<Arc<Member>> {
        self.groups.member(id)
    }

    /// The position (config order) of the group named `name`.
    pub fn group_index(&self, name: &str) -> Option<usize> {
        self.groups.by_name(name).map(|g| g.id)
    }

    /// Connections to member `id` that sessions hold now (least-connections balancing).
    pub fn member_busy(&self, id: MemberId) -> u32 {
        self.member_at(id).map_or(0, |m| m.busy())
    }

    /// The address of member `id`.
    pub fn member(&self, id: MemberId) -> Option<BackendAddr> {
        self.member_at(id).map(|m| m.addr.clone())
    }

    /// Group `g` (config order; the default group for a position past the last).
    pub fn group_at(&self, g: usize) -> &Group {
        self.groups.get(g).unwrap_or_else(|| self.group())
    }

    /// Group `g`'s routing view now.
    pub fn routing_at(&self, g: usize) -> Arc<RouteSnapshot> {
        self.group_at(g).routing()
    }

    /// Whether member `id` is its group's primary now.
    pub fn is_primary(&self, id: MemberId) -> bool {
        self.routing_at(id.group).primary == Some(id)
    }

    /// What the monitor checks: the default group's slots, then the members of the groups shards
    /// are placed on or `[[rules]]` route to.
    pub fn all_monitor_targets(
        &self,
        config: &Config,
    ) -> Result<Vec<crate::backend::monitor::Target>, crate::core::config::ConfigError> {
        let mut targets = self.group().monitor_targets(config, self.backend_tls.clone())?;
        let mut used: Vec<&str> = config.rules.iter().filter_map(|r| r.target.as_deref()).collect();
        if config.sharding.enabled {
            used.extend(config.sharding.tables.iter().flat_map(|t| t.placement.iter().map(String::as_str)));
        }
        let default = &self.group().name;
        if used.iter().any(|g| g != default && config.groups.iter().any(|c| c.name == *g)) {
            targets.extend(
                crate::backend::monitor::targets(config, self.backend_tls.clone())?
                    .into_iter()
                    .filter(|t| t.group != *default && used.contains(&t.group.as_str())),
            );
        }
        Ok(targets)
    }

    /// The primary's `gtid_binlog_pos` (MariaDB) or `gtid_executed` (MySQL), read on a new connection
    /// with the first user's backend account.
    pub async fn primary_gtid(&self) -> Result<String, OwnQueryError> {
        let primary = self.current_primary();
        let mut c = self.connect_as_first_user(&primary).await?;
        let label = primary.label.clone();
        let r = match c.query(&label, "SELECT @@global.gtid_binlog_pos AS g").await {
            Ok(r) => r,
            Err(_) => c.query(&label, "SELECT @@global.gtid_executed AS g").await?,
        };
        Ok(r.get(0, "g").unwrap_or_default())
    }

    /// Learns the primary's default collation and (when the config leaves it empty) its version for
    /// the greeting. Best effort.
    pub async fn learn_server_version(&mut self) {
        if let Ok(mut c) = self.connect_as_first_user(&self.current_primary()).await {
            self.server_charset = c.server_charset;
            self.server_flavor = c.flavor;
            if c.flavor == crate::backend::Flavor::MySql {
                use crate::backend::vars::{
                    CHARSET_CLIENT, CHARSET_CONNECTION, CHARSET_RESULTS, COLLATION_CONNECTION,
                };
                let names = [CHARSET_CLIENT, CHARSET_CONNECTION, CHARSET_RESULTS, COLLATION_CONNECTION]
                    .map(|i| (i, crate::backend::vars::TRACKED[i]));
                let select = names.iter().map(|(_, n)| format!("@@global.{n} AS {n}")).collect::<Vec<_>>();
                let label = self.current_primary().label.clone();
                if let Ok(r) = c.query(&label, &format!("SELECT {}", select.join(", "))).await {
                    self.reset_charset =
                        names.iter().filter_map(|&(i, n)| Some((i, Bytes::from(r.get(0, n)?)))).collect();
                }
            }
            if self.config().server.server_version.is_empty() {
                let mut v = c.server_version.to_vec();
                v.extend_from_slice(b"-sluice");
                self.server_version = Bytes::from(v);
            }
        }
    }
}

/// Every `[advice] p99_interval_ms`, compares p99 per digest with the interval before, until `stop`.
async fn advice_ticker(shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        let interval = shared.advice.p99_interval();
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = stop.cancelled() => return,
        }
        let snap = shared.digests.snapshot();
        shared.advice.tick(&snap);
    }
}
