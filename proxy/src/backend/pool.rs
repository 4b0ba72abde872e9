//! Backend connection pools. A pool holds idle connections to one backend for one backend user and
//! capability variant; a [`Guard`] lends one out and, when dropped, resets it off the hot path and puts
//! it back — or closes it if it broke or is too old.
//!
//! Every connection to a backend, lent or idle, of any of its pools, also holds one of the backend's
//! [`BackendSlots`] (`[pool] max_connections_per_backend`): clients choose the collation and
//! FOUND_ROWS that key the pools, so without it one client could open `max_per_backend` connections
//! per collation. When the backend is full, an idle connection of another pool is closed to make room;
//! when none is idle, the borrower waits for a slot within the same `checkout_timeout_ms`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::conn::{BackendConn, ConnectSpec};
use crate::core::error::{BackendFailure, Error, Result};

/// Everything that makes two backend connections not interchangeable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolKey {
    /// `host:port`.
    pub address: String,
    /// Backend user.
    pub user: String,
    /// CLIENT_FOUND_ROWS changes affected-row counts.
    pub found_rows: bool,
    /// Handshake collation (restored by every reset).
    pub charset: u8,
}

/// Pool limits.
#[derive(Debug, Clone, Copy)]
pub struct PoolLimits {
    /// Connections per pool, lent or idle.
    pub max: usize,
    /// Connections per backend across all its pools, lent or idle.
    pub max_per_backend: usize,
    /// Longest wait for a connection.
    pub checkout_timeout: Duration,
    /// Idle connections older than this (since last use) are closed.
    pub idle_timeout: Duration,
    /// Connections older than this are closed.
    pub max_lifetime: Duration,
}

/// The connections one backend may have open across all its pools; each open connection holds one.
pub struct BackendSlots {
    max: usize,
    slots: Arc<Semaphore>,
    /// Borrowers waiting for a slot: a connection given back meanwhile is closed, not kept idle.
    waiting: AtomicUsize,
    /// The backend's pools, whose idle connections may be closed to make room.
    pools: Mutex<Vec<Weak<Pool>>>,
}

impl BackendSlots {
    fn new(max: usize) -> Self {
        Self {
            max,
            slots: Arc::new(Semaphore::new(max)),
            waiting: AtomicUsize::new(0),
            pools: Mutex::new(Vec::new()),
        }
    }

    /// Connections open to this backend now (lent, idle or being reset).
    pub fn open(&self) -> usize {
        self.max - self.slots.available_permits()
    }

    /// The most it may have.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Closes the oldest idle connection of one of the backend's pools, another pool than `mine` (a
    /// pool's address) if any has one; whether one was closed (its slot is free then).
    fn evict_idle(&self, mine: usize) -> bool {
        let pools: Vec<Arc<Pool>> = match self.pools.lock() {
            Ok(mut p) => {
                p.retain(|w| w.strong_count() > 0);
                p.iter().filter_map(Weak::upgrade).collect()
            }
            Err(_) => return false,
        };
        let is_mine = |p: &&Arc<Pool>| Arc::as_ptr(p) as usize == mine;
        let others = pools.iter().filter(|p| !is_mine(p));
        let own = pools.iter().filter(is_mine);
        for p in others.chain(own) {
            let oldest = match p.idle.lock() {
                Ok(mut idle) if !idle.is_empty() => Some(idle.remove(0)),
                _ => None,
            };
            if oldest.is_some() {
                p.evicted.fetch_add(1, Ordering::Relaxed);
                return true; // dropped here: the connection closes and its slot comes free
            }
        }
        false
    }

    /// Called after a connection went idle: if someone waits for a slot, an idle one is closed.
    fn make_room_for_waiters(&self, mine: usize) {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.evict_idle(mine);
        }
    }
}

/// Decrements the backend's waiter count when a borrower stops waiting.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How many idle connections below the newest a checkout looks through for one already in the
/// borrower's schema.
const PREFER_SCAN: usize = 8;

/// A pooled connection, boxed: a `BackendConn` (its packet stream and buffers, a TLS state that may be
/// inline) is a large value, and a pooled one moves on every statement (idle list → guard → the
/// session's `Held` → back), so the pool moves a pointer instead of memcpying the struct each time.
type Pooled = Box<BackendConn>;

/// An idle connection: since when, and the backend slot it holds.
type Idle = (Pooled, Instant, OwnedSemaphorePermit);

/// One pool.
pub struct Pool {
    spec: ConnectSpec,
    limits: PoolLimits,
    idle: Mutex<Vec<Idle>>,
    backend: Arc<BackendSlots>,
    /// Idle connections closed to make room for another pool of the same backend.
    evicted: std::sync::atomic::AtomicU64,
    permits: Arc<Semaphore>,
    opened: std::sync::atomic::AtomicU64,
    /// Set when its backend left the config (reload): nothing is lent, returned connections close.
    closed: std::sync::atomic::AtomicBool,
    /// The tracked variables of the newest connection this pool opened, as the server set them at
    /// connect: the server's defaults for this user and collation, where every client session starts.
    baseline: Mutex<Option<Arc<super::Vars>>>,
}

impl Pool {
    /// Lends a connection: an idle one if fresh enough, else a new one.
    pub async fn get(self: &Arc<Self>) -> Result<Guard> {
        self.get_in(None).await
    }

    /// [`Self::get`] preferring an idle connection whose default schema is `schema` (`Some(None)`: none),
    /// which the borrower need not change: COM_INIT_DB, or on MySQL a new connection to drop one.
    pub async fn get_in(self: &Arc<Self>, schema: Option<Option<&[u8]>>) -> Result<Guard> {
        if self.is_closed() {
            return Err(Error::backend(self.spec.label.clone(), BackendFailure::Removed));
        }
        let deadline =
            crate::core::clock::tokio_after(tokio::time::Instant::now(), self.limits.checkout_timeout);
        let permit = match tokio::time::timeout_at(deadline, self.permits.clone().acquire_owned()).await {
            Ok(Ok(p)) => p,
            _ => {
                return Err(Error::backend(
                    self.spec.label.clone(),
                    BackendFailure::Busy(format!(
                        "all {} connections are busy and none came free within {} ms; raise [pool] max_per_backend or checkout_timeout_ms",
                        self.limits.max,
                        self.limits.checkout_timeout.as_millis()
                    )),
                ));
            }
        };
        let (conn, slot, reused) = match self.take_idle(schema) {
            Some((c, slot)) => (c, slot, true),
            None => {
                let slot = self.backend_slot(deadline).await?;
                (self.open().await?, slot, false)
            }
        };
        Ok(Guard {
            conn: Some(conn),
            pool: self.clone(),
            permit: Some(permit),
            slot: Some(slot),
            broken: false,
            reused,
            clean: false,
        })
    }

    /// A slot for a new connection to this backend: a free one, else one an idle connection of
    /// another pool gives up, else the first to come free before `deadline`.
    async fn backend_slot(&self, deadline: tokio::time::Instant) -> Result<OwnedSemaphorePermit> {
        let b = &self.backend;
        if let Ok(s) = b.slots.clone().try_acquire_owned() {
            return Ok(s);
        }
        // Counted as waiting before looking for an idle connection: one that goes idle after this
        // look is closed by its returner (see `make_room_for_waiters`), so none is missed.
        b.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&b.waiting);
        let mine = std::ptr::from_ref(self) as usize;
        while b.evict_idle(mine) {
            if let Ok(s) = b.slots.clone().try_acquire_owned() {
                return Ok(s);
            }
        }
        match tokio::time::timeout_at(deadline, b.slots.clone().acquire_owned()).await {
            Ok(Ok(s)) => Ok(s),
            _ => Err(Error::backend(
                self.spec.label.clone(),
                BackendFailure::Busy(format!(
                    "all {} connections to this backend are busy (all pools) and none came free within {} ms; raise [pool] max_connections_per_backend or checkout_timeout_ms",
                    b.max,
                    self.limits.checkout_timeout.as_millis()
                )),
            )),
        }
    }

    /// Opens a new connection with session tracking on.
    async fn open(&self) -> Result<Pooled> {
        let mut c = Box::new(BackendConn::connect(&self.spec).await?);
        match tokio::time::timeout(self.spec.connect_timeout, c.prepare_session(&self.spec.label)).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(Error::backend(
                    self.spec.label.clone(),
                    BackendFailure::Timeout(format!(
                        "session setup took over {} ms (backend.connect_timeout_ms)",
                        self.spec.connect_timeout.as_millis()
                    )),
                ));
            }
        }
        self.opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut b) = self.baseline.lock() {
            // The newest connection's: a changed global default reaches new sessions as it would
            // reach new direct connections.
            if b.as_deref() != Some(&c.vars) {
                *b = Some(Arc::new(c.vars.clone()));
            }
        }
        Ok(c)
    }

    /// Makes `conn` a fresh session for the next borrower. MariaDB: COM_CHANGE_USER to the pool's user
    /// ([`BackendConn::reset`]). MySQL: a new connection in its place, as after COM_RESET_CONNECTION
    /// or COM_CHANGE_USER MySQL 9.7's `LOCK TABLES` no longer takes its implicit read locks on the
    /// tables related by foreign keys (a read of the child then fails with ERR 1100 where a new
    /// connection reads it): a reset session would not behave as a new one.
    async fn renew(&self, conn: &mut Pooled) -> Result<()> {
        match conn.flavor {
            super::Flavor::MariaDb => conn.reset(&self.spec).await,
            super::Flavor::MySql => {
                // The old session goes first (COM_QUIT: its locks and transaction end now, it does
                // not count as an aborted client, and its backend slot is the new one's).
                conn.quit().await;
                *conn = self.open().await?;
                Ok(())
            }
        }
    }

    /// The server's default session variables for this pool's connections (see [`Pool::open`]); `None`
    /// before the first connection.
    pub fn baseline(&self) -> Option<Arc<super::Vars>> {
        self.baseline.lock().ok()?.clone()
    }

    /// Lends a fresh connection, never an idle one (after a reused one turned out dead).
    pub async fn get_fresh(self: &Arc<Self>) -> Result<Guard> {
        // Idle connections opened before a backend restart are as dead as the one just found.
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
        self.get_in(None).await
    }

    fn take_idle(&self, schema: Option<Option<&[u8]>>) -> Option<(Pooled, OwnedSemaphorePermit)> {
        let mut idle = self.idle.lock().ok()?;
        // One clock read for both ages (a statement borrows a connection or two).
        let now = Instant::now();
        if let Some(want) = schema {
            // The newest idle one usually matches; else one of the few below it (bounded: the lock
            // is held), moved to the top so the loop below takes it.
            let n = idle.len();
            let matches = |(c, _, _): &Idle| c.schema.as_deref() == want;
            if n > 1
                && !idle.last().is_some_and(matches)
                && let Some(i) = idle[n.saturating_sub(PREFER_SCAN)..n - 1].iter().rposition(matches)
            {
                let at = n.saturating_sub(PREFER_SCAN) + i;
                let found = idle.remove(at);
                idle.push(found);
            }
        }
        while let Some((mut c, since, slot)) = idle.pop() {
            if now.duration_since(since) < self.limits.idle_timeout
                && now.duration_since(c.created) < self.limits.max_lifetime
                && !c.stream.peer_closed_or_spoke()
            {
                return Some((c, slot));
            }
        }
        None
    }

    /// Puts a connection back on the idle list (idle since `now`), then closes an idle one if a
    /// borrower of this backend waits for a slot.
    fn push_idle(&self, conn: Pooled, slot: OwnedSemaphorePermit, now: Instant) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push((conn, now, slot));
        }
        self.backend.make_room_for_waiters(std::ptr::from_ref(self) as usize);
    }

    /// Idle connections closed to make room for another pool of this backend.
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// The backend's connection slots (shared by all its pools).
    pub fn backend_slots(&self) -> &BackendSlots {
        &self.backend
    }

    /// Idle connections now.
    pub fn idle_count(&self) -> usize {
        self.idle.lock().map(|i| i.len()).unwrap_or(0)
    }

    /// Connections lent out now.
    pub fn in_use(&self) -> usize {
        self.limits.max - self.permits.available_permits()
    }

    /// Connections opened since start.
    pub fn opened(&self) -> u64 {
        self.opened.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The most connections this pool lends at once.
    pub fn max(&self) -> usize {
        self.limits.max
    }

    /// The connect spec (label, address, user).
    pub fn spec(&self) -> &ConnectSpec {
        &self.spec
    }

    /// Whether the pool was closed (its backend removed by a reload).
    pub fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Closes the pool: idle connections close now, lent ones when they come back.
    fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::Release);
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}

/// A lent connection. Dropping it returns the connection after a reset, unless marked broken.
pub struct Guard {
    conn: Option<Pooled>,
    pool: Arc<Pool>,
    permit: Option<OwnedSemaphorePermit>,
    /// The backend slot the connection holds while open.
    slot: Option<OwnedSemaphorePermit>,
    broken: bool,
    reused: bool,
    clean: bool,
}

impl Guard {
    /// The connection.
    pub fn conn(&mut self) -> &mut BackendConn {
        // The option is only emptied in drop.
        match self.conn.as_mut() {
            Some(c) => c,
            None => unreachable!("guard used after drop"),
        }
    }

    /// The server flavour of the connection.
    pub fn flavor(&self) -> super::Flavor {
        self.conn.as_ref().map_or(super::Flavor::MariaDb, |c| c.flavor)
    }

    /// The backend's label for messages.
    pub fn label(&self) -> &str {
        &self.pool.spec.label
    }

    /// The pool's connect spec.
    pub fn spec(&self) -> &ConnectSpec {
        &self.pool.spec
    }

    /// The pool the connection came from: a clone keeps its label at hand while the guard is borrowed
    /// mutably (one reference count instead of copying the label into a `String`).
    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// The pool's baseline variables (see [`Pool::baseline`]); the connection's own if none is known.
    pub fn baseline(&mut self) -> Arc<super::Vars> {
        match self.pool.baseline() {
            Some(b) => b,
            None => Arc::new(self.conn().vars.clone()),
        }
    }

    /// Whether the connection came from the idle list (it may have died while idle: the server
    /// restarted, or `wait_timeout` or the network closed it).
    pub fn reused(&self) -> bool {
        self.reused
    }

    /// Makes the connection a fresh session now ([`Pool::renew`]): no schema, the server's defaults.
    pub async fn renew(&mut self) -> Result<()> {
        let pool = self.pool.clone();
        match self.conn.as_mut() {
            Some(c) => pool.renew(c).await,
            None => unreachable!("guard used after drop"),
        }
    }

    /// Marks the connection unusable: it is closed instead of returned.
    pub fn mark_broken(&mut self) {
        self.broken = true;
    }

    /// Returns the connection to the pool as it is: its session holds nothing of its client's that
    /// sluice does not track (no transaction, temporary table, lock or user variable). Tracked
    /// variables, the schema and prepared statements stay; the next borrower syncs what differs.
    pub fn release_clean(mut self) {
        self.clean = true;
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let (Some(mut conn), Some(permit), Some(slot)) =
            (self.conn.take(), self.permit.take(), self.slot.take())
        else {
            return;
        };
        let now = Instant::now();
        if self.broken
            || conn.stream.has_unread()
            || now.duration_since(conn.created) >= self.pool.limits.max_lifetime
            || self.pool.is_closed()
        {
            return;
        }
        let reset = !self.clean
            || conn.hidden_state
            || conn.status & sluice_protocol::constants::status::IN_TRANS != 0;
        if !reset && !conn.diagnostics_pending {
            self.pool.push_idle(conn, slot, now);
            drop(permit);
            return;
        }
        let pool = self.pool.clone();
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
        // A reset (or clearing another client's warnings) costs a round trip: do it in the background,
        // holding the permit so the pool's size still counts this connection until it is back.
        rt.spawn(async move {
            let work = async {
                if reset {
                    pool.renew(&mut conn).await
                } else {
                    conn.clear_diagnostics(&pool.spec.label).await
                }
            };
            let ok = tokio::time::timeout(pool.spec.connect_timeout, work).await;
            if matches!(ok, Ok(Ok(()))) {
                pool.push_idle(conn, slot, Instant::now());
            }
            drop(permit);
        });
    }
}

/// All pools, created on first use.
pub struct Pools {
    limits: PoolLimits,
    pools: Mutex<HashMap<PoolKey, Arc<Pool>>>,
    /// Per backend address, shared by all its pools.
    backends: Mutex<HashMap<String, Arc<BackendSlots>>>,
}

impl Pools {
    /// No pools yet; each will have `limits`.
    pub fn new(limits: PoolLimits) -> Self {
        Self { limits, pools: Mutex::new(HashMap::new()), backends: Mutex::new(HashMap::new()) }
    }

    /// The pool for `key`, created with `spec` if new.
    pub fn pool(&self, key: PoolKey, spec: impl FnOnce() -> ConnectSpec) -> Arc<Pool> {
        let mut pools = match self.pools.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(p) = pools.get(&key) {
            return p.clone();
        }
        let backend = {
            let mut b = match self.backends.lock() {
                Ok(b) => b,
                Err(poisoned) => poisoned.into_inner(),
            };
            b.entry(key.address.clone())
                .or_insert_with(|| Arc::new(BackendSlots::new(self.limits.max_per_backend.max(1))))
                .clone()
        };
        pools
            .entry(key)
            .or_insert_with(|| {
                let pool = Arc::new(Pool {
                    spec: spec(),
                    limits: self.limits,
                    idle: Mutex::new(Vec::new()),
                    backend: backend.clone(),
                    evicted: std::sync::atomic::AtomicU64::new(0),
                    permits: Arc::new(Semaphore::new(self.limits.max)),
                    opened: std::sync::atomic::AtomicU64::new(0),
                    closed: std::sync::atomic::AtomicBool::new(false),
                    baseline: Mutex::new(None),
                });
                if let Ok(mut members) = backend.pools.lock() {
                    members.retain(|w| w.strong_count() > 0);
                    members.push(Arc::downgrade(&pool));
                }
                pool
            })
            .clone()
    }

    /// The connection slots of backend `address`, once one of its pools exists.
    pub fn backend_slots(&self, address: &str) -> Option<Arc<BackendSlots>> {
        self.backends.lock().ok()?.get(address).cloned()
    }

    /// Closes and forgets every pool toward `address` (a backend removed by a reload); returns how
    /// many. Sessions that still hold a connection there finish with it; it is closed on return.
    pub fn close_address(&self, address: &str) -> usize {
        let Ok(mut pools) = self.pools.lock() else { return 0 };
        let gone: Vec<PoolKey> = pools.keys().filter(|k| k.address == address).cloned().collect();
        for k in &gone {
            if let Some(p) = pools.remove(k) {
                p.close();
            }
        }
        // A backend that comes back starts with a new count; connections still lent here keep the
        // old one until they close.
        if let Ok(mut b) = self.backends.lock() {
            b.remove(address);
        }
        gone.len()
    }

    /// Every pool (for stats).
    pub fn all(&self) -> Vec<Arc<Pool>> {
        self.pools.lock().map(|p| p.values().cloned().collect()).unwrap_or_default()
    }
}
