//! The `/metrics` body: aggregate series only (never per digest), in the Prometheus text format
//! (0.0.4) as `prometheus-client` encodes it. The values live where sluice keeps them (atomics in
//! the digest totals, pools, the health snapshot), so they are read at scrape time by one
//! [`Collector`] rather than mirrored into registered metrics.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::features::stats::{LATENCY_BUCKETS, Refusal, Target};
use crate::frontend::state::Shared;

/// The `Content-Type` of the body.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The `/metrics` body.
pub fn render(shared: &Arc<Shared>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Sluice(shared.clone())));
    let mut out = String::with_capacity(8192);
    // Writing into a String cannot fail, and the collector's own encoding does not either.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
    out
}

/// Reads sluice's state at scrape time.
struct Sluice(Arc<Shared>);

impl fmt::Debug for Sluice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sluice")
    }
}

/// A counter without labels (`name` without `_total`: the encoder adds it).
pub fn counter(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: u64) -> fmt::Result {
    ConstCounter::new(v).encode(e.encode_descriptor(name, help, None, MetricType::Counter)?)
}

/// A gauge without labels.
pub fn gauge(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: impl EncodeGaugeValue) -> fmt::Result {
    ConstGauge::new(v).encode(e.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

/// A counter family, one sample per label set.
pub fn counters<L: EncodeLabelSet>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, u64)>,
) -> fmt::Result {
    let mut family = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in samples {
        ConstCounter::new(v).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A gauge family, one sample per label set.
pub fn gauges<L: EncodeLabelSet, V: EncodeGaugeValue>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, V)>,
) -> fmt::Result {
    let mut family = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in samples {
        ConstGauge::new(v).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Per `(backend, user)`: pools differing only in FOUND_ROWS or collation are summed (one series per
/// label set).
#[derive(Default)]
struct PoolTotals {
    in_use: usize,
    idle: usize,
    opened: u64,
    max: usize,
}

impl Collector for Sluice {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> fmt::Result {
        let shared = &*self.0;
        let e = &mut e;
        let t = &shared.digests.totals;
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        counters(
            e,
            "sluice_statements",
            "Statements by where they ran.",
            Target::ALL.iter().zip(&t.by_target).map(|(target, n)| ([("target", target.name())], load(n))),
        )?;
        counter(e, "sluice_statement_errors", "Statements that failed.", load(&t.errors))?;
        counter(
            e,
            "sluice_statement_time_limit_kills",
            "Statements stopped by a [[rules]] timeout_ms (KILL QUERY).",
            load(&t.limit_kills),
        )?;
        counters(
            e,
            "sluice_client_connections_refused",
            "Client connections refused, by reason.",
            Refusal::ALL.iter().zip(&t.refused).map(|(reason, n)| ([("reason", reason.as_str())], load(n))),
        )?;
        let fw = &shared.firewall;
        counter(
            e,
            "sluice_firewall_blocked",
            "Statements the digest firewall refused (ERR 1148).",
            load(&fw.blocked),
        )?;
        gauge(e, "sluice_firewall_allowed_digests", "Digests on the firewall's allowlist.", fw.len() as u64)?;
        counter(e, "sluice_rows_sent", "Rows sent to clients.", load(&t.rows_sent))?;
        let buckets: Vec<(f64, u64)> =
            LATENCY_BUCKETS.iter().copied().zip(t.latency_buckets.iter().map(load)).collect();
        let count = t.latency_buckets.iter().map(load).sum();
        e.encode_descriptor(
            "sluice_statement_duration_seconds",
            "Statement latency through sluice.",
            None,
            MetricType::Histogram,
        )?
        .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            load(&t.latency_sum_us) as f64 / 1e6,
            count,
            &buckets,
            None,
        )?;

        cache(shared, e)?;
        gauge(e, "sluice_client_sessions", "Client sessions open now.", shared.sessions.len() as u64)?;
        counters(
            e,
            "sluice_pins",
            "Sessions pinned to a backend connection, by reason.",
            shared.pins.snapshot().into_iter().map(|(reason, n)| ([("reason", reason)], n)),
        )?;
        let mut pools: Vec<((String, String), PoolTotals)> = Vec::new();
        for p in shared.pools.all() {
            let key = (p.spec().address.clone(), p.spec().user.clone());
            let at = match pools.iter().position(|(k, _)| *k == key) {
                Some(at) => at,
                None => {
                    pools.push((key, PoolTotals::default()));
                    pools.len() - 1
                }
            };
            let s = &mut pools[at].1;
            s.in_use += p.in_use();
            s.idle += p.idle_count();
            s.opened += p.opened();
            s.max += p.max();
        }
        let labels = |(b, u): &(String, String)| [("backend", b.clone()), ("user", u.clone())];
        gauges(
            e,
            "sluice_pool_connections",
            "Backend connections in sluice's pools, by state.",
            pools.iter().flat_map(|(k, s)| {
                let [b, u] = labels(k);
                [
                    ([b.clone(), u.clone(), ("state", "in_use".to_owned())], s.in_use as u64),
                    ([b, u, ("state", "idle".to_owned())], s.idle as u64),
                ]
            }),
        )?;
        counters(
            e,
            "sluice_pool_connections_opened",
            "Backend connections a pool has opened.",
            pools.iter().map(|(k, s)| (labels(k), s.opened)),
        )?;
        let backends = crate::ops::backends::rows(shared);
        gauges(
            e,
            "sluice_backend_up",
            "1 while the backend answers its health checks (a series once it has been checked).",
            backends.iter().filter_map(|b| {
                let up = u64::from(b.healthy?);
                Some(([("group", b.group.as_str()), ("backend", &b.address), ("role", b.role.as_str())], up))
            }),
        )?;
        gauges(
            e,
            "sluice_backend_lag_seconds",
            "Replication lag the last health check saw.",
            backends.iter().filter_map(|b| {
                let lag = b.lag_ms? as f64 / 1000.0;
                Some(([("group", b.group.as_str()), ("backend", &b.address)], lag))
            }),
        )?;
        let s = shared.plans.stats();
        counters(
            e,
            "sluice_plan_cache_lookups",
            "Statement plan cache lookups, by result.",
            [([("result", "hit")], s.hits), ([("result", "miss")], s.misses)],
        )?;
        counter(
            e,
            "sluice_plan_cache_unparsed",
            "Statement shapes the SQL parser could not read (planned from the lexer alone).",
            s.unparsed,
        )?;
        counter(
            e,
            "sluice_digests_evicted",
            "Digest entries evicted to stay within [stats] max_digests.",
            shared.digests.evicted(),
        )?;
        gauges(
            e,
            "sluice_pool_max_connections",
            "Connections a pool lends at most ([pool] max_per_backend).",
            pools.iter().map(|(k, s)| (labels(k), s.max as u64)),
        )?;
        gauge(
            e,
            "sluice_replica_max_lag_seconds",
            "Lag past which a replica gets no reads ([monitor] max_replica_lag_ms).",
            shared.config().monitor.max_replica_lag_ms as f64 / 1000.0,
        )?;
        let sl = &shared.slow_log;
        counter(e, "sluice_slow_log_entries", "Statements queued for the slow log.", sl.queued())?;
        counter(
            e,
            "sluice_slow_log_dropped",
            "Slow log entries dropped (writer behind or failing).",
            sl.dropped() + sl.failed(),
        )
    }
}

/// The cache's Prometheus series (nothing when the cache is off).
fn cache(shared: &Shared, e: &mut prometheus_client::encoding::DescriptorEncoder<'_>) -> std::fmt::Result {
    let Some(c) = &shared.cache else { return Ok(()) };
    let s = c.snapshot();
    let l1 = [("level", "l1")];
    counters(
        e,
        "sluice_cache_hits",
        "Result-cache hits by level.",
        [(l1, s.hits_l1), ([("level", "l2")], s.hits_l2)],
    )?;
    counter(e, "sluice_cache_misses", "Result-cache misses.", s.misses)?;
    counters(
        e,
        "sluice_cache_not_stored",
        "Results not stored, by reason.",
        [([("reason", "too_large")], s.too_large), ([("reason", "replica_behind")], s.replica_behind)],
    )?;
    counter(
        e,
        "sluice_cache_invalidations",
        "Result-cache invalidations (writes to a cached table).",
        s.invalidations,
    )?;
    counters(e, "sluice_cache_evictions", "Result-cache entries evicted, by level.", [(l1, s.l1_evictions)])?;
    gauges(e, "sluice_cache_bytes", "Bytes the result cache holds, by level.", [(l1, s.l1_bytes)])?;
    gauges(e, "sluice_cache_entries", "Entries the result cache holds, by level.", [(l1, s.l1_entries)])?;
    gauge(e, "sluice_cache_l2_up", "1 while the Redis level is in use.", u64::from(s.l2_up))?;
    counter(e, "sluice_cache_l2_errors", "Errors talking to the Redis level.", s.l2_errors)
}
