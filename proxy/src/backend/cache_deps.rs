//! What the result cache must know about tables that SQL text alone does not tell: triggers (a write
//! to their table writes others), foreign keys with cascades (a write to a parent changes children) and
//! views (reading one reads its base tables). Loaded from information_schema on the primary at start and
//! after DDL; until loaded, nothing is cached.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sluice_cache::TableId;

/// The dependencies, as loaded.
#[derive(Debug, Default)]
pub struct Deps {
    /// Tables with triggers: a write to one bumps every table of its schema.
    pub triggers: HashSet<TableId>,
    /// Parent → child tables of its foreign keys: a write to the parent bumps them.
    pub children: HashMap<TableId, Vec<TableId>>,
    /// Views: never cached (their base tables are not tracked).
    pub views: HashSet<TableId>,
}

fn id(schema: &[u8], table: &[u8]) -> TableId {
    Arc::from(format!(
        "{}.{}",
        String::from_utf8_lossy(schema).to_ascii_lowercase(),
        String::from_utf8_lossy(table).to_ascii_lowercase()
    ))
}

impl Deps {
    /// Reads them from the primary.
    pub async fn load(
        conn: &mut crate::backend::BackendConn,
        label: &str,
    ) -> crate::core::error::Result<Deps> {
        let mut d = Deps::default();
        let r = conn
            .query(label, "SELECT EVENT_OBJECT_SCHEMA, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS")
            .await?;
        for row in &r.rows {
            if let [Some(s), Some(t), ..] = row.as_slice() {
                d.triggers.insert(id(s, t));
            }
        }
        let r = conn
            .query(
                label,
                "SELECT UNIQUE_CONSTRAINT_SCHEMA, REFERENCED_TABLE_NAME, CONSTRAINT_SCHEMA, TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS",
            )
            .await?;
        for row in &r.rows {
            if let [Some(ps), Some(pt), Some(cs), Some(ct), ..] = row.as_slice() {
                d.children.entry(id(ps, pt)).or_default().push(id(cs, ct));
            }
        }
        let r = conn.query(label, "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.VIEWS").await?;
        for row in &r.rows {
            if let [Some(s), Some(t), ..] = row.as_slice() {
                d.views.insert(id(s, t));
            }
        }
        Ok(d)
    }

    /// The tables a write to `written` changes (foreign-key children, transitively), and whether it
    /// fires a trigger (then its schema is bumped whole).
    pub fn expand(&self, written: &mut Vec<TableId>) -> bool {
        let mut trigger = false;
        let mut i = 0;
        while i < written.len() {
            let t = written[i].clone();
            trigger |= self.triggers.contains(&t);
            if let Some(cs) = self.children.get(&t) {
                for c in cs {
                    if !written.contains(c) {
                        written.push(c.clone());
                    }
                }
            }
            i += 1;
        }
        trigger
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cascades_follow_foreign_keys_transitively() {
        let mut d = Deps::default();
        d.children.insert(Arc::from("a.p"), vec![Arc::from("a.c")]);
        d.children.insert(Arc::from("a.c"), vec![Arc::from("a.g"), Arc::from("a.p")]);
        d.triggers.insert(Arc::from("a.g"));
        let mut w: Vec<TableId> = vec![Arc::from("a.p")];
        assert!(d.expand(&mut w));
        assert_eq!(w.iter().map(|t| &**t).collect::<Vec<_>>(), vec!["a.p", "a.c", "a.g"]);
        let mut w: Vec<TableId> = vec![Arc::from("a.x")];
        assert!(!d.expand(&mut w));
        assert_eq!(w.len(), 1);
    }
}
