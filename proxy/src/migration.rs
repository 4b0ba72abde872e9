//! Tables being moved to a new placement (dual writes, `[[sharding.migrations]]`): what sessions need
//! to find one, the flag that moves its reads, and the counters the admin interface shows.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::config::{Config, ReadFrom};

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

    /// Admin `SHOW MIGRATIONS` and `SET MIGRATION '<table>' READ FROM old|new`.
    pub fn admin(
        &self,
        shared: &crate::state::Shared,
        cmd: &crate::admin::parse::MigrationCmd,
    ) -> Result<crate::admin::Answer, crate::error::Error> {
        use crate::admin::Answer;
        use crate::admin::parse::MigrationCmd;
        let text = |s: String| Some(bytes::Bytes::from(s));
        match cmd {
            MigrationCmd::Show => {
                let name = |g: usize| shared.group_at(g).0.name.clone();
                let rows = self
                    .0
                    .iter()
                    .map(|m| {
                        vec![
                            text(m.table.clone()),
                            text(name(m.from_group)),
                            text(format!(
                                "{}{}",
                                name(m.to_group),
                                m.to_schema.as_ref().map(|s| format!(" schema {s}")).unwrap_or_default()
                            )),
                            text(if m.read_new.load(Ordering::Relaxed) { "new" } else { "old" }.into()),
                            text(m.mirrored.load(Ordering::Relaxed).to_string()),
                            text(m.divergences.load(Ordering::Relaxed).to_string()),
                            text(m.last_divergence.lock().clone()),
                        ]
                    })
                    .collect();
                Ok(Answer::Rows(
                    vec![
                        "table",
                        "old",
                        "new",
                        "reads_from",
                        "mirrored_writes",
                        "divergences",
                        "last_divergence",
                    ],
                    rows,
                ))
            }
            MigrationCmd::ReadFrom { table: t, new } => match self.0.iter().find(|m| m.table == *t) {
                Some(m) => {
                    m.read_new.store(*new, Ordering::Relaxed);
                    let side = if *new { "new" } else { "old" };
                    tracing::warn!(table = t, reads = side, "migration reads switched by admin");
                    Ok(Answer::Done(1))
                }
                None => Err(crate::error::Error::reply(
                    (1105, "HY000"),
                    format!("no migrating table {t:?}; SHOW MIGRATIONS lists them"),
                )),
            },
        }
    }
}
