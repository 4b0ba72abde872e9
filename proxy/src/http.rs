//! HTTP on `[http] listen` (9033): `/metrics` (Prometheus text format, aggregate series only),
//! `/status` and `/digests` (JSON), `/health` (200 when writes have a primary, else 503: for load
//! balancers). A deliberately small HTTP/1.1 server: GET only, one request per connection.

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
        ("GET", "/health") => {
            let snap = shared.routing.load();
            if snap.primary.is_some() && !snap.split_brain {
                (200, "text/plain", "ok\n".to_owned())
            } else {
                (503, "text/plain", "no usable primary\n".to_owned())
            }
        }
        ("GET", _) => (404, "text/plain", "not found: try /metrics, /status, /digests, /health\n".to_owned()),
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
            let role = match shared.group.members.iter().position(|x| x.addr.address == h.address) {
                Some(i) if snap.primary == Some(i) && *g == shared.group.name => "primary",
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
    m
}

fn status(shared: &Shared) -> String {
    let snap = shared.routing.load();
    let members: Vec<serde_json::Value> = shared
        .group
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            serde_json::json!({
                "address": m.addr.address,
                "role": if snap.primary == Some(i) { "primary" } else { "replica" },
                "offline": m.offline.load(Ordering::Relaxed),
            })
        })
        .collect();
    serde_json::json!({
        "sessions": shared.sessions.len(),
        "group": shared.group.name,
        "split_brain": snap.split_brain,
        "backends": members,
        "statements": shared.digests.totals.by_target.iter().map(|c| c.load(Ordering::Relaxed)).sum::<u64>(),
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
