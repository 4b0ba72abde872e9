//! Table generations kept in this process: one counter per `schema.table`, one per schema (bumped by a
//! write sluice cannot attribute to tables) and one epoch for everything (bumped when invalidations may
//! have been missed, e.g. Redis pub/sub was down). A cached entry records the counters of the tables it
//! read, taken *before* its query was sent; it is current only while all of them are unchanged.
//!
//! Each table also remembers the GTID of its last write, so a result read on a replica can be stored
//! only when that replica had applied it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

/// A table name as the cache knows it: `schema.table`, lower case.
pub type TableId = Arc<str>;

/// Builds the [`TableId`] of `table` (which may be `schema.table` already) read with default `schema`.
/// `None` when there is no schema to qualify it with.
pub fn table_id(schema: Option<&str>, table: &str) -> Option<TableId> {
    let t = table.trim_matches('`');
    if let Some((s, name)) = t.split_once('.') {
        let s = s.trim_matches('`');
        let name = name.trim_matches('`');
        return Some(Arc::from(format!("{}.{}", s.to_ascii_lowercase(), name.to_ascii_lowercase())));
    }
    let s = schema?;
    Some(Arc::from(format!("{}.{}", s.to_ascii_lowercase(), t.to_ascii_lowercase())))
}

/// The schema part of a [`TableId`].
pub fn schema_of(id: &str) -> &str {
    id.split_once('.').map_or(id, |(s, _)| s)
}

#[derive(Debug, Default)]
struct Counter {
    value: AtomicU64,
    last_write: Mutex<Option<Arc<str>>>,
}

/// The counters an entry was filled under: the epoch, then (schema, table) per table read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stamp(pub Vec<u64>);

/// Local generations (see the module docs).
#[derive(Debug, Default)]
pub struct Generations {
    epoch: AtomicU64,
    /// By table id.
    counters: RwLock<HashMap<Arc<str>, Arc<Counter>>>,
    /// By schema name.
    schemas: RwLock<HashMap<Arc<str>, Arc<Counter>>>,
}

fn counter_in(map: &RwLock<HashMap<Arc<str>, Arc<Counter>>>, key: &str) -> Arc<Counter> {
    if let Some(c) = map.read().get(key) {
        return c.clone();
    }
    map.write().entry(Arc::from(key)).or_default().clone()
}

fn value_in(map: &HashMap<Arc<str>, Arc<Counter>>, key: &str) -> u64 {
    map.get(key).map_or(0, |c| c.value.load(Ordering::Acquire))
}

impl Generations {
    /// The stamp of `tables` now, and the last-write GTIDs of each (its own and its schema's; read after
    /// the counter, so a writer that records the GTID before bumping is never missed by a reader that
    /// sees the bump).
    pub fn stamp(&self, tables: &[TableId]) -> (Stamp, Vec<Option<Arc<str>>>) {
        let mut v = Vec::with_capacity(1 + 2 * tables.len());
        let mut gtids = Vec::with_capacity(tables.len());
        v.push(self.epoch.load(Ordering::Acquire));
        let schemas = self.schemas.read();
        let map = self.counters.read();
        for t in tables {
            match schemas.get(schema_of(t)) {
                Some(c) => {
                    v.push(c.value.load(Ordering::Acquire));
                    if let Some(g) = c.last_write.lock().clone() {
                        gtids.push(Some(g));
                    }
                }
                None => v.push(0),
            }
            match map.get(&**t) {
                Some(c) => {
                    v.push(c.value.load(Ordering::Acquire));
                    gtids.push(c.last_write.lock().clone());
                }
                None => {
                    v.push(0);
                    gtids.push(None);
                }
            }
        }
        (Stamp(v), gtids)
    }

    /// Whether `stamp` (of `tables`) is still current.
    pub fn is_current(&self, tables: &[TableId], stamp: &Stamp) -> bool {
        if stamp.0.len() != 1 + 2 * tables.len() || stamp.0[0] != self.epoch.load(Ordering::Acquire) {
            return false;
        }
        let schemas = self.schemas.read();
        let map = self.counters.read();
        tables.iter().enumerate().all(|(i, t)| {
            value_in(&schemas, schema_of(t)) == stamp.0[1 + 2 * i] && value_in(&map, t) == stamp.0[2 + 2 * i]
        })
    }

    /// A write to `tables`: records its GTID (when known) and bumps each counter.
    pub fn bump(&self, tables: &[TableId], gtid: Option<&str>) {
        for t in tables {
            let c = counter_in(&self.counters, t);
            if let Some(g) = gtid {
                *c.last_write.lock() = Some(Arc::from(g));
            }
            c.value.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// A write sluice cannot attribute: every table of `schema` is invalid (and has its GTID as a
    /// last write, when known).
    pub fn bump_schema(&self, schema: &str, gtid: Option<&str>) {
        let c = counter_in(&self.schemas, &schema.to_ascii_lowercase());
        if let Some(g) = gtid {
            *c.last_write.lock() = Some(Arc::from(g));
        }
        c.value.fetch_add(1, Ordering::AcqRel);
    }

    /// Everything is invalid (missed invalidations, FLUSH CACHE).
    pub fn bump_all(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// The last-write GTID recorded for `table`.
    pub fn last_write(&self, table: &str) -> Option<Arc<str>> {
        self.counters.read().get(table).and_then(|c| c.last_write.lock().clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<TableId> {
        names.iter().map(|n| table_id(Some("app"), n).unwrap()).collect()
    }

    #[test]
    fn names_are_qualified_and_folded() {
        assert_eq!(&*table_id(Some("App"), "T1").unwrap(), "app.t1");
        assert_eq!(&*table_id(None, "`Db`.`T`").unwrap(), "db.t");
        assert_eq!(table_id(None, "t"), None);
    }

    #[test]
    fn a_stamp_is_current_until_a_table_it_read_is_written() {
        let g = Generations::default();
        let t = ids(&["a", "b"]);
        let (s, _) = g.stamp(&t);
        assert!(g.is_current(&t, &s));
        g.bump(&ids(&["c"]), None);
        assert!(g.is_current(&t, &s), "another table's write changes nothing");
        g.bump(&ids(&["b"]), Some("0-1-5"));
        assert!(!g.is_current(&t, &s));
        let (s2, gtids) = g.stamp(&t);
        assert!(g.is_current(&t, &s2));
        assert_eq!(gtids[1].as_deref(), Some("0-1-5"));
        assert_eq!(gtids[0], None);
    }

    #[test]
    fn schema_and_epoch_bumps_invalidate_everything_below_them() {
        let g = Generations::default();
        let t = ids(&["a"]);
        let (s, _) = g.stamp(&t);
        g.bump_schema("other", None);
        assert!(g.is_current(&t, &s));
        g.bump_schema("APP", Some("0-1-9"));
        assert!(g.stamp(&t).1.contains(&Some(Arc::from("0-1-9"))));
        assert!(!g.is_current(&t, &s));
        let (s, _) = g.stamp(&t);
        g.bump_all();
        assert!(!g.is_current(&t, &s));
    }

    #[test]
    fn a_stamp_for_other_tables_is_never_current() {
        let g = Generations::default();
        let (s, _) = g.stamp(&ids(&["a"]));
        assert!(!g.is_current(&ids(&["a", "b"]), &s));
    }
}
