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

use crate::backend::{ConnectSpec, PoolKey, PoolLimits, Pools};
use crate::config::{Config, Role};
use crate::users::Users;

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

/// Everything sessions share.
pub struct Shared {
    /// The configuration in effect (replaced by a reload; read it with [`Shared::config`]).
    config: arc_swap::ArcSwap<Config>,
    /// The file the config came from (what `RELOAD` and SIGHUP read again).
    config_path: Mutex<Option<PathBuf>>,
    /// One reload at a time.
    reload_lock: Mutex<()>,
    /// What the health monitor checks (the default group's slots), rebuilt by a reload.
    monitor_targets: Arc<arc_swap::ArcSwap<Vec<crate::monitor::Target>>>,
    /// The slow log's queue to its writer thread.
    pub slow_log: crate::slowlog::SlowLog,
    /// Advice (loops seen by sessions, p99 intervals).
    pub advice: crate::advice::Advice,
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
    /// Client connection slots (`max_client_connections`).
    pub client_slots: Arc<Semaphore>,
    /// Connections per user, for `max_connections`.
    pub per_user: HashMap<String, Arc<AtomicUsize>>,
    /// Connection ids handed to clients.
    next_conn_id: AtomicU32,
    /// Version string in the greeting.
    pub server_version: Bytes,
    /// The primary of the default group.
    pub primary: BackendAddr,
    /// Cancelled on shutdown: sessions finish their statement and close.
    pub shutdown: CancellationToken,
    /// Sessions alive now (shutdown waits for zero).
    live_sessions: AtomicUsize,
    /// The default group's members.
    pub group: crate::topology::Group,
    /// The default group's routing view, replaced after every health check.
    pub routing: arc_swap::ArcSwap<crate::topology::RouteSnapshot>,
    /// The latest health snapshot (all groups).
    pub health: crate::monitor::Health,
    /// Statement plans by digest.
    pub plans: sluice_router::plan_cache::PlanCache,
    /// Query rules, compiled.
    pub rules: crate::rules::Rules,
    /// Admin interface accounts.
    pub admin_users: Users,
    /// Per-digest statistics.
    pub digests: crate::stats::Digests,
    /// Round-robin turn for replica picks.
    pub turn: std::sync::atomic::AtomicU64,
    /// Live sessions by connection id (KILL, SHOW SESSIONS).
    pub sessions: crate::session::Registry,
    /// Pins taken, by reason.
    pub pins: crate::session::PinCounters,
}

/// Counts one live session while it exists.
pub struct LiveSession<'a>(&'a AtomicUsize);

impl Drop for LiveSession<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Shared {
    /// Builds shared state from a validated config. Resolves backend secrets and TLS files.
    pub fn new(config: Config) -> Result<Self, String> {
        let users = Users::from_config(&config)?;
        let group = config.groups.first().ok_or("config has no [[groups]]")?;
        let member = group
            .members
            .iter()
            .find(|m| m.role == Role::Primary)
            .or_else(|| group.members.first())
            .ok_or_else(|| format!("group {} has no members", group.name))?;
        let tls_on = member.tls.unwrap_or(config.backend.tls.enabled);
        let primary = BackendAddr {
            address: member.address.clone(),
            label: format!("{}/primary {}", group.name, member.address),
            tls: tls_on,
        };
        let group_state = crate::topology::Group::from_config(&config, group);
        let routing = crate::topology::RouteSnapshot::initial(&group_state, &config);
        let client_tls = match &config.server.tls {
            Some(t) => Some(tokio_rustls::TlsAcceptor::from(crate::tls::server_config(&t.cert, &t.key)?)),
            None => None,
        };
        let any_backend_tls = config.backend.tls.enabled
            || config.groups.iter().flat_map(|g| &g.members).any(|m| m.tls == Some(true));
        let backend_tls = if any_backend_tls {
            Some(crate::tls::client_config(config.backend.tls.verify, config.backend.tls.ca.as_deref())?)
        } else {
            None
        };
        let limits = PoolLimits {
            max: config.pool.max_per_backend.max(1),
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
            pools: Pools::new(limits),
            users,
            client_tls,
            backend_tls,
            per_user,
            next_conn_id: AtomicU32::new(1),
            server_version,
            primary,
            shutdown: CancellationToken::new(),
            live_sessions: AtomicUsize::new(0),
            group: group_state,
            routing: arc_swap::ArcSwap::from_pointee(routing),
            health: Arc::new(arc_swap::ArcSwap::from_pointee(crate::monitor::HealthSnapshot::default())),
            rules: crate::rules::Rules::new(&config.rules),
            admin_users: Users::admins(&config),
            digests: crate::stats::Digests::new(config.stats.max_digests),
            slow_log: crate::slowlog::SlowLog::start(&config.log)?,
            advice: crate::advice::Advice::new(&config.advice),
            recording: std::sync::atomic::AtomicBool::new(config.stats.enabled),
            config_path: Mutex::new(config.origin().map(PathBuf::from).filter(|p| p.is_file())),
            reload_lock: Mutex::new(()),
            monitor_targets: Arc::new(arc_swap::ArcSwap::from_pointee(Vec::new())),
            plans: sluice_router::plan_cache::PlanCache::new(
                config.routing.plan_cache_entries.max(16),
                config.routing.plan_cache_entries.max(16) * 256,
            ),
            turn: std::sync::atomic::AtomicU64::new(0),
            sessions: crate::session::Registry::default(),
            pins: crate::session::PinCounters::default(),
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

    /// The file `RELOAD` reads, if any.
    pub fn config_path(&self) -> Option<PathBuf> {
        self.config_path.lock().ok().and_then(|p| p.clone())
    }

    /// Records one statement: the digest table, the slow log (over `slow_query_ms`: queued, never
    /// waited for) and the session's loop detector.
    pub fn record(&self, track: &mut crate::advice::SessionTrack, e: &crate::stats::Event<'_>) {
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
            self.slow_log.submit(crate::slowlog::SlowEntry {
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

    /// Reads the config file again and applies it ([`Shared::apply_config`]); an unreadable or
    /// invalid file changes nothing and its problems are the error.
    pub fn reload(&self) -> Result<Vec<(String, String)>, String> {
        let path = self.config_path().ok_or(
            "sluice was not started from a config file, so there is nothing to reload (start it with --config FILE)",
        )?;
        let next = Config::load(&path).map_err(|e| e.to_string())?;
        self.apply_config(next)
    }

    /// Applies a validated config without dropping a client connection: rules, routing settings,
    /// member roles and weights, members added or removed (a removed member is drained: no new
    /// statements, its pools closed), the slow log threshold and advice settings. Settings that need a
    /// restart are reported as such and keep their running values until then. Returns
    /// `(what, change)` rows; an error leaves everything as it was.
    pub fn apply_config(&self, next: Config) -> Result<Vec<(String, String)>, String> {
        use erased::Section;
        let _one = self.reload_lock.lock().map_err(|_| "a previous reload panicked".to_owned())?;
        let cur = self.config.load_full();
        let Some(group) = next.groups.first() else { return Err("config has no [[groups]]".into()) };
        if group.name != self.group.name {
            return Err(format!(
                "groups[0].name changed from {:?} to {:?}: the default group cannot be renamed by a reload (restart sluice)",
                self.group.name, group.name
            ));
        }
        if next.groups.len() != cur.groups.len() {
            return Err("the number of [[groups]] changed: adding or removing groups needs a restart".into());
        }
        // Everything that can fail is checked before anything changes.
        next.monitor.credentials.password().map_err(|e| e.to_string())?;
        let mut report = Vec::new();
        let log_files = |l: &crate::config::LogConfig| {
            format!("{:?}{:?}{:?}{}{}", l.level, l.format, l.slow_log, l.slow_log_max_bytes, l.slow_log_keep)
        };
        let restart_only = [
            ("server", cur.server.toml(), next.server.toml()),
            ("admin", cur.admin.toml(), next.admin.toml()),
            ("http", cur.http.toml(), next.http.toml()),
            ("users", cur.users.toml(), next.users.toml()),
            ("backend", cur.backend.toml(), next.backend.toml()),
            ("pool", cur.pool.toml(), next.pool.toml()),
            ("cache", cur.cache.toml(), next.cache.toml()),
            ("stats.max_digests", cur.stats.max_digests.toml(), next.stats.max_digests.toml()),
            ("monitor.interval_ms", cur.monitor.interval_ms.toml(), next.monitor.interval_ms.toml()),
            (
                "routing.plan_cache_entries",
                cur.routing.plan_cache_entries.toml(),
                next.routing.plan_cache_entries.toml(),
            ),
            ("log (level, format, slow log file and rotation)", log_files(&cur.log), log_files(&next.log)),
        ];
        for (name, a, b) in &restart_only {
            if a != b {
                report
                    .push((name.to_string(), "changed in the file; takes effect after a restart".to_owned()));
            }
        }
        let changes = self.group.apply(&next, group);
        for a in &changes.added {
            report.push(("member added".into(), format!("{a}: takes reads once a health check passes")));
        }
        for a in &changes.removed {
            let n = self.pools.close_address(a);
            report.push((
                "member removed".into(),
                format!("{a}: drained (no new statements), {n} pools closed"),
            ));
        }
        for a in &changes.changed {
            report.push(("member changed".into(), format!("{a}: role/weight updated")));
        }
        if cur.rules.toml() != next.rules.toml() {
            self.rules.replace(&next.rules);
            report.push(("rules".into(), format!("{} rules in effect", self.rules.len())));
        }
        if cur.routing.toml() != next.routing.toml() || cur.monitor.toml() != next.monitor.toml() {
            report.push(("routing, monitor".into(), "settings in effect (lag limits, balance, fallback, read-your-writes, credentials, heartbeat)".into()));
        }
        if cur.log.slow_query_ms != next.log.slow_query_ms {
            self.slow_log.set_threshold_ms(next.log.slow_query_ms);
            report.push(("log.slow_query_ms".into(), format!("{} ms", next.log.slow_query_ms)));
        }
        if cur.stats.enabled != next.stats.enabled {
            self.recording.store(next.stats.enabled, Ordering::Relaxed);
            report.push(("stats.enabled".into(), next.stats.enabled.to_string()));
        }
        if cur.advice.toml() != next.advice.toml() {
            self.advice.configure(&next.advice);
            report.push(("advice".into(), "settings in effect".into()));
        }
        self.config.store(Arc::new(next));
        let config = self.config.load();
        match crate::monitor::group_targets(&config, &self.group, self.backend_tls.clone()) {
            Ok(t) => self.monitor_targets.store(Arc::new(t)),
            Err(e) => tracing::error!(error = %e, "monitor targets not rebuilt after reload"),
        }
        // Routing sees removed members, new weights and settings now; added members join after their
        // first health check (health lines up with slots, so a new slot has none yet).
        self.publish_health(&self.health.load());
        if report.is_empty() {
            report.push(("nothing".into(), "the file matches the running config".into()));
        }
        for (what, change) in &report {
            tracing::info!(what = %what, change = %change, "config reloaded");
        }
        Ok(report)
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
    /// for all of them to end. Returns whether they all did.
    pub async fn drain(&self, grace: Duration) -> bool {
        self.shutdown.cancel();
        let deadline = tokio::time::Instant::now() + grace;
        while self.live_session_count() > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
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
    pub fn publish_health(&self, snap: &crate::monitor::HealthSnapshot) {
        let Some((_, members)) = snap.groups.first() else { return };
        let next = crate::topology::RouteSnapshot::build(&self.group, members, &self.config());
        let prev = self.routing.load();
        if prev.split_brain != next.split_brain && next.split_brain {
            tracing::error!(group = %self.group.name, "more than one writable member: writes are refused until one is made read_only");
        }
        self.routing.store(Arc::new(next));
    }

    /// Starts the health monitor (checks every member on `[monitor] interval_ms`); the first check is
    /// awaited up to `first_wait`, so routing starts with a real view. Returns the task.
    pub async fn start_monitor(
        self: &Arc<Self>,
        first_wait: Duration,
    ) -> Result<tokio::task::JoinHandle<()>, String> {
        let targets = crate::monitor::group_targets(&self.config(), &self.group, self.backend_tls.clone())?;
        self.monitor_targets.store(Arc::new(targets));
        let interval = Duration::from_millis(self.config().monitor.interval_ms.max(10));
        let me = self.clone();
        let health = self.health.clone();
        let stop = self.shutdown.clone();
        tokio::spawn(crate::advice::run_ticker(self.clone(), stop.clone()));
        let first = Arc::new(tokio::sync::Notify::new());
        let first2 = first.clone();
        let targets = self.monitor_targets.clone();
        let task = tokio::spawn(crate::monitor::run_with(targets, interval, health, stop, move |snap| {
            me.publish_health(snap);
            first2.notify_one();
        }));
        let _ = tokio::time::timeout(first_wait, first.notified()).await;
        Ok(task)
    }

    /// The address of member `i` of the default group.
    pub fn member(&self, i: usize) -> Option<BackendAddr> {
        self.group.member(i).map(|m| m.addr.clone())
    }

    /// Learns the primary's version for the greeting (when the config leaves it empty). Best effort.
    pub async fn learn_server_version(&mut self) {
        if !self.config().server.server_version.is_empty() {
            return;
        }
        let Some(name) = self.config().users.first().map(|u| u.name.clone()) else { return };
        let Some(user) = self.users.get(name.as_bytes()) else { return };
        let spec = self.connect_spec(&self.primary, &user.backend_user, &user.backend_password, false, 45);
        if let Ok(c) = crate::backend::BackendConn::connect(&spec).await {
            let mut v = c.server_version.to_vec();
            v.extend_from_slice(b"-sluice");
            self.server_version = Bytes::from(v);
        }
    }
}

/// Config sections compared as TOML text (what a reload changed).
mod erased {
    /// A serializable config section.
    pub trait Section {
        /// Its TOML text (empty if it cannot be serialized).
        fn toml(&self) -> String;
    }

    impl<T: serde::Serialize> Section for T {
        fn toml(&self) -> String {
            toml::Value::try_from(self).map(|v| v.to_string()).unwrap_or_default()
        }
    }
}
