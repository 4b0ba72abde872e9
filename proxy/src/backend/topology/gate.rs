//! The write gate: how SWITCHOVER holds new writes toward a group's primary and waits for the running
//! ones.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
