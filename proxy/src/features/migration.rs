//! Tables being moved to a new placement (dual writes, `[[sharding.migrations]]`): what sessions need
//! to find one, the flag that moves its reads, and the counters the admin interface shows.

use std::sync::atomic::{AtomicBool, AtomicU64};

use parking_lot::Mutex;

use crate::core::config::{Config, ReadFrom};

/// One migrating table.
#[derive(Debug)]
pub struct Migration {
    /// Table name, lower case.
    pub table: String,
    /// Old placement: group (config order).
    pub from_group: usize,
    /// New placement: group (config order).
    pub to_group: usize,
    /// New placement: schema (`None`: the session's).
    pub to_schema: Option<String>,
    /// Reads go to the new placement.
    pub read_new: AtomicBool,
    /// Writes run on both.
    pub mirrored: AtomicU64,
    /// Writes whose outcome differed (error vs OK, affected rows).
    pub divergences: AtomicU64,
    /// What the last divergence was.
    pub last_divergence: Mutex<String>,
}

/// Every migrating table.
#[derive(Debug, Default)]
pub struct Migrations(pub Vec<Migration>);

impl Migrations {
    /// From the config (group names were validated).
    pub fn from_config(c: &Config) -> Migrations {
        let group = |name: &Option<String>, default: usize| {
            name.as_ref().and_then(|n| c.groups.iter().position(|g| &g.name == n)).unwrap_or(default)
        };
        Migrations(
            c.sharding
                .migrations
                .iter()
                .map(|m| {
                    let from_group = group(&m.from_group, 0);
                    Migration {
                        table: m.table.to_ascii_lowercase(),
                        from_group,
                        to_group: group(&m.to_group, from_group),
                        to_schema: m.to_schema.clone(),
                        read_new: AtomicBool::new(m.read_from == ReadFrom::New),
                        mirrored: AtomicU64::new(0),
                        divergences: AtomicU64::new(0),
                        last_divergence: Mutex::new(String::new()),
                    }
                })
                .collect(),
        )
    }

    /// Whether no table is migrating (sessions skip the lookup).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The migration of a table a statement names (`schema.table` or `table`), if any.
    pub fn find<'a>(&self, tables: impl IntoIterator<Item = &'a String>) -> Option<&Migration> {
        tables.into_iter().find_map(|t| {
            let bare = t.rsplit('.').next().unwrap_or(t).trim_matches('`');
            self.0.iter().find(|m| m.table.eq_ignore_ascii_case(bare))
        })
    }
}
