//! Statements prepared on one backend connection, by SQL text. Client sessions share backend
//! connections, so a client's prepared statement is prepared again on whichever connection runs it,
//! once: later executions there find it here. Bounded: the least recently used statement is closed
//! first, so the server's `max_prepared_stmt_count` is never reached.

use std::collections::HashMap;
use std::sync::Arc;

/// A statement prepared on the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendStmt {
    /// The backend's statement id.
    pub id: u32,
    /// Parameter count.
    pub params: u16,
    /// Column count of its result.
    pub columns: u16,
    last_used: u64,
}

impl BackendStmt {
    /// A statement the backend just prepared.
    pub fn new(id: u32, params: u16, columns: u16) -> Self {
        Self { id, params, columns, last_used: 0 }
    }
}

/// SQL text → statement on this connection.
#[derive(Debug, Default)]
pub struct StmtCache {
    map: HashMap<Arc<[u8]>, BackendStmt>,
    tick: u64,
}

impl StmtCache {
    /// The statement prepared for `sql`, marking it used.
    pub fn get(&mut self, sql: &[u8]) -> Option<BackendStmt> {
        self.tick += 1;
        let tick = self.tick;
        self.map.get_mut(sql).map(|s| {
            s.last_used = tick;
            *s
        })
    }

    /// Records a statement; returns the ids of statements to close to stay within `max`.
    pub fn insert(&mut self, sql: Arc<[u8]>, mut stmt: BackendStmt, max: usize) -> Vec<u32> {
        self.tick += 1;
        stmt.last_used = self.tick;
        let mut evicted = Vec::new();
        if let Some(old) = self.map.insert(sql, stmt) {
            evicted.push(old.id);
        }
        self.evict_down_to(max.max(1), &mut evicted);
        evicted
    }

    /// Closes the least recently used statements until at most `keep` remain (their ids into `out`).
    fn evict_down_to(&mut self, keep: usize, out: &mut Vec<u32>) {
        while self.map.len() > keep {
            let Some(oldest) = self.map.iter().min_by_key(|(_, s)| s.last_used).map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(s) = self.map.remove(&oldest) {
                out.push(s.id);
            }
        }
    }

    /// Makes room for one more statement within `max` before preparing it: returns the ids of the
    /// least recently used statements to close first (closing after preparing would exceed the server's
    /// `max_prepared_stmt_count` for a moment).
    pub fn make_room(&mut self, max: usize) -> Vec<u32> {
        let mut evicted = Vec::new();
        self.evict_down_to(max.max(1) - 1, &mut evicted);
        evicted
    }

    /// Forgets `sql` (its statement failed or was closed).
    pub fn remove(&mut self, sql: &[u8]) -> Option<BackendStmt> {
        self.map.remove(sql)
    }

    /// Forgets everything (after a reset, the server has closed them all).
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Statements prepared now.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_recently_used_is_closed_first() {
        let mut c = StmtCache::default();
        let k = |s: &str| -> Arc<[u8]> { Arc::from(s.as_bytes()) };
        assert!(c.insert(k("a"), BackendStmt::new(1, 0, 1), 2).is_empty());
        assert!(c.insert(k("b"), BackendStmt::new(2, 0, 1), 2).is_empty());
        assert_eq!(c.get(b"a").map(|s| s.id), Some(1));
        assert_eq!(c.insert(k("c"), BackendStmt::new(3, 0, 1), 2), vec![2]);
        assert_eq!(c.len(), 2);
        assert!(c.get(b"b").is_none());
        assert_eq!(c.insert(k("c"), BackendStmt::new(4, 0, 1), 2), vec![3]);
        assert_eq!(c.make_room(2), vec![1]);
        assert_eq!(c.len(), 1);
        assert!(c.make_room(2).is_empty());
    }
}
