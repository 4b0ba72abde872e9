//! Admin `SHOW MIGRATIONS` and `SET MIGRATION '<table>' READ FROM old|new` over
//! [`crate::features::migration::Migrations`].

use std::sync::atomic::Ordering;

use super::{Answer, text};
use crate::core::error::Error;
use crate::frontend::state::Shared;

/// `SHOW MIGRATIONS`: one row per migrating table.
pub(super) fn show(shared: &Shared) -> Answer {
    let name = |g: usize| shared.group_at(g).name.clone();
    let rows = shared
        .migrations
        .0
        .iter()
        .map(|m| {
            vec![
                text(&m.table),
                text(name(m.from_group)),
                text(format!(
                    "{}{}",
                    name(m.to_group),
                    m.to_schema.as_ref().map(|s| format!(" schema {s}")).unwrap_or_default()
                )),
                text(if m.read_new.load(Ordering::Relaxed) { "new" } else { "old" }),
                text(m.mirrored.load(Ordering::Relaxed)),
                text(m.divergences.load(Ordering::Relaxed)),
                text(m.last_divergence.lock().clone()),
            ]
        })
        .collect();
    Answer::Rows(
        vec!["table", "old", "new", "reads_from", "mirrored_writes", "divergences", "last_divergence"],
        rows,
    )
}

/// `SET MIGRATION '<table>' READ FROM old|new` (`new`: true).
pub(super) fn set_reads(shared: &Shared, table: &str, new: bool) -> Result<Answer, Error> {
    let Some(m) = shared.migrations.0.iter().find(|m| m.table == table) else {
        return Err(Error::reply(
            (1105, "HY000"),
            format!("no migrating table {table:?}; SHOW MIGRATIONS lists them"),
        ));
    };
    m.read_new.store(new, Ordering::Relaxed);
    let side = if new { "new" } else { "old" };
    tracing::warn!(table, reads = side, "migration reads switched by admin");
    Ok(Answer::Done(1))
}
