//! Admin `SHOW …` statements over the digest table, backends, pools, pins, sessions and plans.

use bytes::Bytes;

use super::parse::DigestOrder;
use super::{Answer, text};
use crate::frontend::state::Shared;

pub(super) fn show_digests(shared: &Shared, order: DigestOrder, limit: Option<usize>) -> Answer {
    let mut all = shared.digests.snapshot();
    let key = |d: &crate::features::stats::DigestStats| -> u64 {
        match order {
            DigestOrder::Total => d.total_us,
            DigestOrder::Count => d.count,
            DigestOrder::Avg => d.avg_us(),
            DigestOrder::Max => d.max_us,
            DigestOrder::P50 => d.quantile_us(0.5),
            DigestOrder::P95 => d.quantile_us(0.95),
            DigestOrder::P99 => d.quantile_us(0.99),
            DigestOrder::Errors => d.errors,
            DigestOrder::Rows => d.rows_sent,
        }
    };
    all.sort_by_key(|d| std::cmp::Reverse(key(d)));
    let columns = vec![
        "digest",
        "digest_text",
        "user",
        "schema",
        "count",
        "first_seen",
        "last_seen",
        "total_us",
        "min_us",
        "avg_us",
        "max_us",
        "p50_us",
        "p95_us",
        "p99_us",
        "rows_sent",
        "rows_affected",
        "errors",
        "warnings",
        "no_index",
        "on_primary",
        "on_replica",
        "pinned",
        "pin_reasons",
        "cache_hits",
        "cache_misses",
    ];
    let secs = |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let rows = all
        .iter()
        .take(limit.unwrap_or(usize::MAX))
        .map(|d| {
            vec![
                text(format!("{:016x}", d.digest)),
                text(&d.text),
                text(&d.user),
                text(&d.schema),
                text(d.count),
                text(secs(d.first_seen)),
                text(secs(d.last_seen)),
                text(d.total_us),
                text(if d.count == 0 { 0 } else { d.min_us }),
                text(d.avg_us()),
                text(d.max_us),
                text(d.quantile_us(0.5)),
                text(d.quantile_us(0.95)),
                text(d.quantile_us(0.99)),
                text(d.rows_sent),
                text(d.rows_affected),
                text(d.errors),
                text(d.warnings),
                text(d.no_index),
                text(d.on_primary),
                text(d.on_replica),
                text(d.pinned),
                text(crate::frontend::pins::Pins::from_bits(d.pin_reasons).names()),
                text(d.cache_hits),
                text(d.cache_misses),
            ]
        })
        .collect();
    Answer::Rows(columns, rows)
}

pub(super) fn show_backends(shared: &Shared) -> Answer {
    let rows = crate::ops::backends::rows(shared)
        .into_iter()
        .map(|b| {
            vec![
                text(b.group),
                text(b.address),
                text(b.role),
                text(b.state),
                b.lag_ms.and_then(text),
                b.gtid.map(Bytes::from),
                text(b.weight),
                text(b.in_use),
                text(b.idle),
                b.error.map(Bytes::from),
                b.flavor.map(|f| f.as_str()).and_then(text),
                b.replication.map(|r| r.as_str()).and_then(text),
            ]
        })
        .collect();
    Answer::Rows(
        vec![
            "group",
            "address",
            "role",
            "state",
            "lag_ms",
            "gtid",
            "weight",
            "conns_in_use",
            "conns_idle",
            "last_error",
            "flavor",
            "replication",
        ],
        rows,
    )
}

pub(super) fn show_pools(shared: &Shared) -> Answer {
    let rows = shared
        .pools
        .all()
        .iter()
        .map(|p| {
            let s = p.spec();
            vec![
                text(&s.label),
                text(&s.user),
                text(s.found_rows),
                text(s.charset),
                text(p.in_use()),
                text(p.idle_count()),
                text(p.max()),
                text(p.opened()),
            ]
        })
        .collect();
    Answer::Rows(vec!["backend", "user", "found_rows", "collation", "in_use", "idle", "max", "opened"], rows)
}

pub(super) fn show_pins(shared: &Shared) -> Answer {
    let rows = shared.pins.snapshot().into_iter().map(|(name, n)| vec![text(name), text(n)]).collect();
    Answer::Rows(vec!["reason", "count"], rows)
}

pub(super) fn show_sessions(shared: &Shared) -> Answer {
    let rows = shared
        .sessions
        .list()
        .into_iter()
        .map(|(id, h)| {
            let running = h.running.try_lock().ok().and_then(|r| *r);
            vec![
                text(id),
                text(&*h.user()),
                running.and_then(|(m, _)| shared.member(m)).map(|a| Bytes::from(a.label)),
                running.map(|(_, t)| Bytes::from(t.to_string())),
                text(h.client),
            ]
        })
        .collect();
    Answer::Rows(vec!["id", "user", "running_on", "backend_thread", "client"], rows)
}

pub(super) fn show_plans(shared: &Shared) -> Answer {
    let s = shared.plans.stats();
    Answer::Rows(
        vec!["shapes", "hits", "misses", "evictions", "unparsed"],
        vec![vec![
            text(shared.plans.len()),
            text(s.hits),
            text(s.misses),
            text(s.evictions),
            text(s.unparsed),
        ]],
    )
}
