//! HTTP on `[http] listen` (9033): `/` (the status page: HTML + JS built into the binary),
//! `/metrics` (Prometheus text format, aggregate series only), `/status`, `/digests` and `/advice`
//! (JSON), `/health` (200 when writes have a primary, else 503: for load balancers that need writes),
//! `/ready` (200 unless draining or no member is healthy: Kubernetes readiness) and `/live` (200 while
//! the process answers: liveness). A deliberately
//! small HTTP/1.1 server: GET only, one request per connection.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::state::Shared;
use crate::stats::{LATENCY_BUCKETS, TARGETS};

/// One HTTP connection: one GET, one answer.
pub async fn serve(shared: Arc<Shared>, mut stream: TcpStream) {
    let mut buf = Vec::with_capacity(1024);
    let head = async {
        loop {
            let mut chunk = [0u8; 1024];
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.len() > 16 * 1024 {
                return Some(());
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(5), head).await.ok().flatten().is_none() {
        return;
    }
    let line = String::from_utf8_lossy(buf.split(|b| *b == b'\n').next().unwrap_or_default()).into_owned();
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (code, ctype, body) = match (method, path) {
        ("GET", "/metrics") => (200, "text/plain; version=0.0.4", metrics(&shared)),
        ("GET", "/status") => (200, "application/json", status(&shared)),
        ("GET", "/digests") => (200, "application/json", digests(&shared)),
        ("GET", "/advice") => (200, "application/json", advice(&shared)),
        ("GET", "/" | "/index.html") => (200, "text/html; charset=utf-8", STATUS_PAGE.to_owned()),
        ("GET", "/health") => {
            let snap = shared.routing.load();
            let health = shared.health.load();
            let members = health.groups.first().map(|(_, m)| m.as_slice()).unwrap_or_default();
            // A configured primary stays the primary while it is down: its checks decide.
            let primary_up = snap.primary.and_then(|i| members.get(i)).is_some_and(|h| h.healthy);
            if primary_up && !snap.split_brain {
                (200, "text/plain", "ok\n".to_owned())
            } else {
                (503, "text/plain", "no usable primary\n".to_owned())
            }
        }
        // Liveness: the process answers (a primary outage must not get sluice restarted).
        ("GET", "/live") => (200, "text/plain", "ok\n".to_owned()),
        // Readiness: not draining, and some member of the default group can serve (reads still work
        // through replicas while the primary is down, so the pod stays in its Service).
        ("GET", "/ready") => {
            let health = shared.health.load();
            let serving = health.groups.first().is_some_and(|(_, m)| m.iter().any(|h| h.healthy));
            if shared.shutdown.is_cancelled() {
                (503, "text/plain", "draining\n".to_owned())
            } else if serving {
                (200, "text/plain", "ok\n".to_owned())
            } else {
                (503, "text/plain", "no healthy backend\n".to_owned())
            }
        }
        ("GET", _) => (
            404,
            "text/plain",
            "not found: try /, /metrics, /status, /digests, /advice, /health, /ready, /live\n".to_owned(),
        ),
        _ => (405, "text/plain", "only GET\n".to_owned()),
    };
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// A Prometheus label value, escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The `/metrics` body.
pub fn metrics(shared: &Shared) -> String {
    let mut m = String::with_capacity(4096);
    let t = &shared.digests.totals;
    let _ = writeln!(m, "# HELP sluice_statements_total Statements by where they ran.");
    let _ = writeln!(m, "# TYPE sluice_statements_total counter");
    for (i, name) in TARGETS.iter().enumerate() {
        let _ = writeln!(
            m,
            "sluice_statements_total{{target=\"{name}\"}} {}",
            t.by_target[i].load(Ordering::Relaxed)
        );
    }
    let _ = writeln!(m, "# TYPE sluice_statement_errors_total counter");
    let _ = writeln!(m, "sluice_statement_errors_total {}", t.errors.load(Ordering::Relaxed));
    let _ = writeln!(
        m,
        "# HELP sluice_statement_time_limit_kills_total Statements stopped by a [[rules]] timeout_ms (KILL QUERY)."
    );
    let _ = writeln!(m, "# TYPE sluice_statement_time_limit_kills_total counter");
    let _ = writeln!(m, "sluice_statement_time_limit_kills_total {}", t.limit_kills.load(Ordering::Relaxed));
    let _ =
        writeln!(m, "# HELP sluice_client_connections_refused_total Client connections refused, by reason.");
    let _ = writeln!(m, "# TYPE sluice_client_connections_refused_total counter");
    for (i, reason) in crate::stats::REFUSALS.iter().enumerate() {
        let _ = writeln!(
            m,
            "sluice_client_connections_refused_total{{reason=\"{reason}\"}} {}",
            t.refused[i].load(Ordering::Relaxed)
        );
    }
    let fw = &shared.firewall;
    let _ = writeln!(
        m,
        "# HELP sluice_firewall_blocked_total Statements the digest firewall refused (ERR 1148)."
    );
    let _ = writeln!(m, "# TYPE sluice_firewall_blocked_total counter");
    let _ = writeln!(m, "sluice_firewall_blocked_total {}", fw.blocked.load(Ordering::Relaxed));
    let _ = writeln!(m, "# HELP sluice_firewall_allowed_digests Digests on the firewall's allowlist.");
    let _ = writeln!(m, "# TYPE sluice_firewall_allowed_digests gauge");
    let _ = writeln!(m, "sluice_firewall_allowed_digests {}", fw.len());
    let _ = writeln!(m, "# TYPE sluice_rows_sent_total counter");
    let _ = writeln!(m, "sluice_rows_sent_total {}", t.rows_sent.load(Ordering::Relaxed));
    let _ = writeln!(m, "# HELP sluice_statement_duration_seconds Statement latency through sluice.");
    let _ = writeln!(m, "# TYPE sluice_statement_duration_seconds histogram");
    let mut cumulative = 0u64;
    for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
        cumulative += t.latency_buckets[i].load(Ordering::Relaxed);
        let _ = writeln!(m, "sluice_statement_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}");
    }
    cumulative += t.latency_buckets[LATENCY_BUCKETS.len()].load(Ordering::Relaxed);
    let _ = writeln!(m, "sluice_statement_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}");
    let sum = t.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6;
    let _ = writeln!(m, "sluice_statement_duration_seconds_sum {sum}");
    let _ = writeln!(m, "sluice_statement_duration_seconds_count {cumulative}");

    crate::cache_admin::metrics(shared, &mut m);
    let _ = writeln!(m, "# TYPE sluice_client_sessions gauge");
    let _ = writeln!(m, "sluice_client_sessions {}", shared.sessions.len());
    let _ = writeln!(m, "# HELP sluice_pins_total Sessions pinned to a backend connection, by reason.");
    let _ = writeln!(m, "# TYPE sluice_pins_total counter");
    for (reason, n) in shared.pins.snapshot() {
        let _ = writeln!(m, "sluice_pins_total{{reason=\"{reason}\"}} {n}");
    }
    let _ = writeln!(m, "# TYPE sluice_pool_connections gauge");
    let _ = writeln!(m, "# TYPE sluice_pool_connections_opened_total counter");
    for p in shared.pools.all() {
        let b = label(&p.spec().address);
        let u = label(&p.spec().user);
        let _ = writeln!(
            m,
            "sluice_pool_connections{{backend=\"{b}\",user=\"{u}\",state=\"in_use\"}} {}",
            p.in_use()
        );
        let _ = writeln!(
            m,
            "sluice_pool_connections{{backend=\"{b}\",user=\"{u}\",state=\"idle\"}} {}",
            p.idle_count()
        );
        let _ = writeln!(
            m,
            "sluice_pool_connections_opened_total{{backend=\"{b}\",user=\"{u}\"}} {}",
            p.opened()
        );
    }
    let health = shared.health.load();
    let snap = shared.routing.load();
    let _ = writeln!(m, "# TYPE sluice_backend_up gauge");
    let _ = writeln!(m, "# TYPE sluice_backend_lag_seconds gauge");
    for (g, members) in &health.groups {
        for h in members {
            let slot = if *g == shared.group.name { shared.group.position(&h.address) } else { None };
            if *g == shared.group.name && slot.is_none() {
                continue; // removed by a reload: not a backend any more, so not "down"
            }
            let role = match slot {
                Some(i) if snap.primary == Some(i) => "primary",
                _ => "replica",
            };
            let (g, a) = (label(g), label(&h.address));
            let _ = writeln!(
                m,
                "sluice_backend_up{{group=\"{g}\",backend=\"{a}\",role=\"{role}\"}} {}",
                u8::from(h.healthy)
            );
            if let Some(l) = h.lag_ms {
                let _ = writeln!(
                    m,
                    "sluice_backend_lag_seconds{{group=\"{g}\",backend=\"{a}\"}} {}",
                    l as f64 / 1000.0
                );
            }
        }
    }
    let s = shared.plans.stats();
    let _ = writeln!(m, "# TYPE sluice_plan_cache_lookups_total counter");
    let _ = writeln!(m, "sluice_plan_cache_lookups_total{{result=\"hit\"}} {}", s.hits);
    let _ = writeln!(m, "sluice_plan_cache_lookups_total{{result=\"miss\"}} {}", s.misses);
    let _ = writeln!(m, "# TYPE sluice_plan_cache_unparsed_total counter");
    let _ = writeln!(m, "sluice_plan_cache_unparsed_total {}", s.unparsed);
    let _ = writeln!(m, "# TYPE sluice_digests_evicted_total counter");
    let _ = writeln!(m, "sluice_digests_evicted_total {}", shared.digests.evicted());
    let _ = writeln!(
        m,
        "# HELP sluice_pool_max_connections Connections a pool lends at most ([pool] max_per_backend)."
    );
    let _ = writeln!(m, "# TYPE sluice_pool_max_connections gauge");
    for p in shared.pools.all() {
        let (b, u) = (label(&p.spec().address), label(&p.spec().user));
        let _ = writeln!(m, "sluice_pool_max_connections{{backend=\"{b}\",user=\"{u}\"}} {}", p.max());
    }
    let _ = writeln!(
        m,
        "# HELP sluice_replica_max_lag_seconds Lag past which a replica gets no reads ([monitor] max_replica_lag_ms)."
    );
    let _ = writeln!(m, "# TYPE sluice_replica_max_lag_seconds gauge");
    let _ = writeln!(
        m,
        "sluice_replica_max_lag_seconds {}",
        shared.config().monitor.max_replica_lag_ms as f64 / 1000.0
    );
    let sl = &shared.slow_log;
    let _ = writeln!(m, "# HELP sluice_slow_log_entries_total Statements queued for the slow log.");
    let _ = writeln!(m, "# TYPE sluice_slow_log_entries_total counter");
    let _ = writeln!(m, "sluice_slow_log_entries_total {}", sl.queued());
    let _ = writeln!(
        m,
        "# HELP sluice_slow_log_dropped_total Slow log entries dropped (writer behind or failing)."
    );
    let _ = writeln!(m, "# TYPE sluice_slow_log_dropped_total counter");
    let _ = writeln!(m, "sluice_slow_log_dropped_total {}", sl.dropped() + sl.failed());
    m
}

/// The status page: one HTML file with its script, no external assets.
const STATUS_PAGE: &str = include_str!("status.html");

fn advice(shared: &Shared) -> String {
    let findings = shared.advice.findings(&shared.digests.snapshot());
    serde_json::to_string(&findings).unwrap_or_else(|_| "[]".to_owned())
}

fn status(shared: &Shared) -> String {
    let snap = shared.routing.load();
    let health = shared.health.load();
    let checks: Vec<_> = health
        .groups
        .iter()
        .find(|(g, _)| *g == shared.group.name)
        .map(|(_, m)| m.clone())
        .unwrap_or_default();
    let pools = shared.pools.all();
    let members: Vec<serde_json::Value> = shared
        .group
        .members()
        .iter()
        .enumerate()
        .filter(|(_, m)| !m.is_removed())
        .map(|(i, m)| {
            let h = checks.iter().find(|h| h.address == m.addr.address);
            let offline = m.offline.load(Ordering::Relaxed);
            let state = match h {
                _ if offline => "offline",
                Some(h) if h.healthy => "online",
                Some(_) => "unhealthy",
                None => "unknown",
            };
            let (in_use, idle, max) = pools
                .iter()
                .filter(|p| p.spec().address == m.addr.address)
                .fold((0, 0, 0), |(u, i, x), p| (u + p.in_use(), i + p.idle_count(), x + p.max()));
            serde_json::json!({
                "address": m.addr.address,
                "role": if snap.primary == Some(i) { "primary" } else { "replica" },
                "offline": offline,
                "state": state,
                "lag_ms": h.and_then(|h| h.lag_ms),
                "weight": m.weight(),
                "error": h.and_then(|h| h.error.clone()),
                "pool": {"in_use": in_use, "idle": idle, "max": max},
            })
        })
        .collect();
    let t = &shared.digests.totals;
    serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "sessions": shared.sessions.len(),
        "group": shared.group.name,
        "split_brain": snap.split_brain,
        "backends": members,
        "statements": t.by_target.iter().map(|c| c.load(Ordering::Relaxed)).sum::<u64>(),
        "errors": t.errors.load(Ordering::Relaxed),
        "slow_log": {
            "file": shared.slow_log.path().map(|p| p.display().to_string()),
            "entries": shared.slow_log.queued(),
            "dropped": shared.slow_log.dropped(),
        },
    })
    .to_string()
}

fn digests(shared: &Shared) -> String {
    let mut all = shared.digests.snapshot();
    all.sort_by_key(|d| std::cmp::Reverse(d.total_us));
    let rows: Vec<serde_json::Value> = all
        .iter()
        .take(1000)
        .map(|d| {
            serde_json::json!({
                "digest": format!("{:016x}", d.digest),
                "digest_text": &*d.text,
                "user": &*d.user,
                "schema": &*d.schema,
                "count": d.count,
                "total_us": d.total_us,
                "avg_us": d.avg_us(),
                "max_us": d.max_us,
                "p50_us": d.quantile_us(0.5),
                "p95_us": d.quantile_us(0.95),
                "p99_us": d.quantile_us(0.99),
                "rows_sent": d.rows_sent,
                "errors": d.errors,
                "on_primary": d.on_primary,
                "on_replica": d.on_replica,
            })
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}
