//! Backend connection pools. A pool holds idle connections to one backend for one backend user and
//! capability variant; a [`Guard`] lends one out and, when dropped, resets it off the hot path and puts
//! it back — or closes it if it broke or is too old.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::conn::{BackendConn, ConnectSpec};
use crate::error::{Error, Result};

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
    /// Longest wait for a connection.
    pub checkout_timeout: Duration,
    /// Idle connections older than this (since last use) are closed.
    pub idle_timeout: Duration,
    /// Connections older than this are closed.
    pub max_lifetime: Duration,
}

/// One pool.
pub struct Pool {
    spec: ConnectSpec,
    limits: PoolLimits,
    idle: Mutex<Vec<(BackendConn, Instant)>>,
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
        if self.is_closed() {
            return Err(Error::Backend {
                backend: self.spec.label.clone(),
                message: "this backend was removed from the config (reload); its pool is closed".into(),
            });
        }
        let permit = match tokio::time::timeout(
            self.limits.checkout_timeout,
            self.permits.clone().acquire_owned(),
        )
        .await
        {
            Ok(Ok(p)) => p,
            _ => {
                return Err(Error::Backend {
                    backend: self.spec.label.clone(),
                    message: format!(
                        "all {} connections are busy and none came free within {} ms; raise [pool] max_per_backend or checkout_timeout_ms",
                        self.limits.max,
                        self.limits.checkout_timeout.as_millis()
                    ),
                });
            }
        };
        let (conn, reused) = match self.take_idle() {
            Some(c) => (c, true),
            None => (self.open().await?, false),
        };
        Ok(Guard {
            conn: Some(conn),
            pool: self.clone(),
            permit: Some(permit),
            broken: false,
            reused,
            clean: false,
        })
    }

    /// Opens a new connection with session tracking on.
    async fn open(&self) -> Result<BackendConn> {
        let mut c = BackendConn::connect(&self.spec).await?;
        match tokio::time::timeout(self.spec.connect_timeout, c.prepare_session(&self.spec.label)).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(Error::Backend {
                    backend: self.spec.label.clone(),
                    message: format!(
                        "session setup took over {} ms (backend.connect_timeout_ms)",
                        self.spec.connect_timeout.as_millis()
                    ),
                });
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
        self.get().await
    }

    fn take_idle(&self) -> Option<BackendConn> {
        let mut idle = self.idle.lock().ok()?;
        while let Some((mut c, since)) = idle.pop() {
            if since.elapsed() < self.limits.idle_timeout
                && c.created.elapsed() < self.limits.max_lifetime
                && !c.stream.peer_closed_or_spoke()
            {
                return Some(c);
            }
        }
        None
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
    conn: Option<BackendConn>,
    pool: Arc<Pool>,
    permit: Option<OwnedSemaphorePermit>,
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

    /// The backend's label for messages.
    pub fn label(&self) -> &str {
        &self.pool.spec.label
    }

    /// The pool's connect spec.
    pub fn spec(&self) -> &ConnectSpec {
        &self.pool.spec
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
        let (Some(mut conn), Some(permit)) = (self.conn.take(), self.permit.take()) else { return };
        if self.broken
            || conn.stream.has_unread()
            || conn.created.elapsed() >= self.pool.limits.max_lifetime
            || self.pool.is_closed()
        {
            return;
        }
        let reset = !self.clean || conn.status & sluice_protocol::constants::status::IN_TRANS != 0;
        if !reset && !conn.diagnostics_pending {
            if let Ok(mut idle) = self.pool.idle.lock() {
                idle.push((conn, Instant::now()));
            }
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
                    conn.reset(&pool.spec).await
                } else {
                    conn.clear_diagnostics(&pool.spec.label).await
                }
            };
            let ok = tokio::time::timeout(pool.spec.connect_timeout, work).await;
            if matches!(ok, Ok(Ok(())))
                && let Ok(mut idle) = pool.idle.lock()
            {
                idle.push((conn, Instant::now()));
            }
            drop(permit);
        });
    }
}

/// All pools, created on first use.
pub struct Pools {
    limits: PoolLimits,
    pools: Mutex<HashMap<PoolKey, Arc<Pool>>>,
}

impl Pools {
    /// No pools yet; each will have `limits`.
    pub fn new(limits: PoolLimits) -> Self {
        Self { limits, pools: Mutex::new(HashMap::new()) }
    }

    /// The pool for `key`, created with `spec` if new.
    pub fn pool(&self, key: PoolKey, spec: impl FnOnce() -> ConnectSpec) -> Arc<Pool> {
        let mut pools = match self.pools.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        pools
            .entry(key)
            .or_insert_with(|| {
                Arc::new(Pool {
                    spec: spec(),
                    limits: self.limits,
                    idle: Mutex::new(Vec::new()),
                    permits: Arc::new(Semaphore::new(self.limits.max)),
                    opened: std::sync::atomic::AtomicU64::new(0),
                    closed: std::sync::atomic::AtomicBool::new(false),
                    baseline: Mutex::new(None),
                })
            })
            .clone()
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
        gone.len()
    }

    /// Every pool (for stats).
    pub fn all(&self) -> Vec<Arc<Pool>> {
        self.pools.lock().map(|p| p.values().cloned().collect()).unwrap_or_default()
    }
}
