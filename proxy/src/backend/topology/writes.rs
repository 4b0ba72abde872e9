//! Read-your-writes cells: the last write each scope (one user, or every session) must see on a replica.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use super::GtidPos;

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
