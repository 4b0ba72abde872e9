//! Admin `SHOW CACHE` and `FLUSH CACHE [schema.table]` over the result cache.

use std::sync::Arc;

use super::{Answer, text};
use crate::core::error::Error;
use crate::frontend::state::Shared;

fn cache(shared: &Shared) -> Result<&Arc<sluice_cache::Cache>, Error> {
    shared.cache.as_ref().ok_or_else(|| {
        Error::reply(
            (1105, "HY000"),
            "the result cache is off; set [cache] enabled = true and restart sluice",
        )
    })
}

/// `SHOW CACHE`: one row per counter (name, value).
pub(super) fn show(shared: &Shared) -> Result<Answer, Error> {
    let s = cache(shared)?.snapshot();
    let lookups = s.hits_l1 + s.hits_l2 + s.misses;
    let rate = if lookups == 0 { 0.0 } else { (s.hits_l1 + s.hits_l2) as f64 / lookups as f64 };
    let deps = if shared.cache_deps.load().is_some() { "loaded" } else { "loading (nothing cached)" };
    let l2 = if !s.l2_configured {
        "off"
    } else if s.l2_up {
        "up"
    } else {
        "down"
    };
    let rows: Vec<(&str, String)> = vec![
        ("hits_l1", s.hits_l1.to_string()),
        ("hits_l2", s.hits_l2.to_string()),
        ("misses", s.misses.to_string()),
        ("hit_rate", format!("{rate:.4}")),
        ("stores", s.stores.to_string()),
        ("stale_dropped", s.stale.to_string()),
        ("expired", s.expired.to_string()),
        ("not_stored_too_large", s.too_large.to_string()),
        ("not_stored_replica_behind", s.replica_behind.to_string()),
        ("single_flight_waits", s.flight_waits.to_string()),
        ("invalidations", s.invalidations.to_string()),
        ("l1_entries", s.l1_entries.to_string()),
        ("l1_bytes", s.l1_bytes.to_string()),
        ("l1_capacity_bytes", s.l1_capacity.to_string()),
        ("l1_evictions", s.l1_evictions.to_string()),
        ("l2", l2.to_string()),
        ("l2_errors", s.l2_errors.to_string()),
        ("dependencies", deps.to_string()),
    ];
    Ok(Answer::Rows(vec!["name", "value"], rows.into_iter().map(|(n, v)| vec![text(n), text(v)]).collect()))
}

/// `FLUSH CACHE` (everything, here and in Redis) or `FLUSH CACHE schema.table`.
pub(super) fn flush(shared: &Shared, table: Option<&str>) -> Result<Answer, Error> {
    let c = cache(shared)?.clone();
    match table {
        None => {
            let n = c.snapshot().l1_entries;
            c.gens.bump_all();
            tokio::spawn(async move { c.flush_all().await });
            Ok(Answer::Done(n))
        }
        Some(t) => {
            let t = t.trim_matches(['\'', '"', '`']);
            let Some(id) = sluice_cache::table_id(None, t) else {
                return Err(Error::reply(
                    (1105, "HY000"),
                    "FLUSH CACHE takes schema.table (or nothing for all)",
                ));
            };
            c.gens.bump(std::slice::from_ref(&id), None);
            tokio::spawn(async move { c.bump(&[id], None, None).await });
            Ok(Answer::Done(1))
        }
    }
}
