//! HTTP on `[http] listen` (9033): `/` (the status page: HTML + JS built into the binary),
//! `/metrics` (Prometheus text format, aggregate series only), `/status`, `/digests` and `/advice`
//! (JSON), `/health` (200 when writes have a primary, else 503: for load balancers that need writes),
//! `/ready` (200 unless draining or no member is healthy: Kubernetes readiness) and `/live` (200 while
//! the process answers: liveness).
//!
//! A deliberately small HTTP/1.1 server, safe to expose: GET only, one request per connection, a
//! request head of at most [`MAX_HEAD`] bytes that must arrive within `[http] request_timeout_ms`, a
//! response that must be taken within `write_timeout_ms`, at most `max_connections` open (more get
//! 503). `/metrics` and the probes are open; the status endpoints ([`Settings`]) need the `[http]`
//! token when one is configured, and without one answer 403 unless the listener is loopback.
//! `/digests` and `/advice` return the top `?limit=` rows (default [`DEFAULT_LIMIT`], at most
//! [`MAX_LIMIT`]), built from the digest table in place.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::config::HttpConfig;
use crate::state::Shared;
use crate::stats::{LATENCY_BUCKETS, TARGETS};

/// Longest request head (request line and headers), bytes; a longer one gets 431.
pub const MAX_HEAD: usize = 8 * 1024;
/// Rows `/digests` and `/advice` return without `?limit=`.
pub const DEFAULT_LIMIT: usize = 100;
/// Most rows `/digests` and `/advice` return (a larger `?limit=` is cut to this).
pub const MAX_LIMIT: usize = 1000;

/// `[http]` as resolved at start: the token read from its secret, the limits.
pub struct Settings {
    /// The token, when `token_env` / `token_file` names one.
    token: Option<String>,
    /// Basic auth's user name.
    user: String,
    /// The listener is on loopback: without a token the status endpoints are open.
    loopback: bool,
    /// `[http] show_literals`.
    pub show_literals: bool,
    /// `[http] max_connections` (0 = no limit).
    pub max_connections: usize,
    /// `[http] request_timeout_ms`.
    pub request_timeout: Duration,
    /// `[http] write_timeout_ms`.
    pub write_timeout: Duration,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .field("user", &self.user)
            .field("loopback", &self.loopback)
            .field("show_literals", &self.show_literals)
            .field("max_connections", &self.max_connections)
            .field("request_timeout", &self.request_timeout)
            .field("write_timeout", &self.write_timeout)
            .finish()
    }
}

/// Whether a request may see a status endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Yes (a valid token, or open on loopback without one).
    Granted,
    /// No credentials, or wrong ones: 401.
    Unauthorized,
    /// Beyond loopback with no token configured: 403.
    NotConfigured,
}

impl Settings {
    /// From `[http]`, reading the token's secret (an error names the variable or file, not the token).
    /// A disabled listener reads nothing.
    pub fn from_config(c: &HttpConfig) -> Result<Self, String> {
        let token = if c.enabled { c.token()? } else { None };
        Ok(Self {
            token,
            user: c.user.clone(),
            loopback: crate::config::is_loopback(c.listen),
            show_literals: c.show_literals,
            max_connections: c.max_connections,
            request_timeout: Duration::from_millis(c.request_timeout_ms.max(1)),
            write_timeout: Duration::from_millis(c.write_timeout_ms.max(1)),
        })
    }

    /// Checks a request's `Authorization` header: `Bearer <token>`, or `Basic` with `user:token`.
    pub fn access(&self, authorization: Option<&str>) -> Access {
        let Some(token) = &self.token else {
            return if self.loopback { Access::Granted } else { Access::NotConfigured };
        };
        let Some((scheme, cred)) = authorization.map(str::trim).and_then(|a| a.split_once(' ')) else {
            return Access::Unauthorized;
        };
        let cred = cred.trim();
        let ok = if scheme.eq_ignore_ascii_case("bearer") {
            same(cred.as_bytes(), token.as_bytes())
        } else if scheme.eq_ignore_ascii_case("basic") {
            base64_decode(cred).is_some_and(|pair| {
                let (user, pw) = match pair.iter().position(|b| *b == b':') {
                    Some(at) => (&pair[..at], &pair[at + 1..]),
                    None => (&pair[..], &b""[..]),
                };
                // Both compared in full (no early exit on a wrong user name).
                same(user, self.user.as_bytes()) & same(pw, token.as_bytes())
            })
        } else {
            false
        };
        if ok { Access::Granted } else { Access::Unauthorized }
    }
}

/// Equal, in time that depends on neither secret's content (their SHA-256 are compared in full).
fn same(a: &[u8], b: &[u8]) -> bool {
    let (x, y) = (Sha256::digest(a), Sha256::digest(b));
    x.iter().zip(y.iter()).fold(0u8, |acc, (p, q)| acc | (p ^ q)) == 0
}

/// Standard base64 (RFC 4648, `=` padding optional), as HTTP basic auth sends it.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A single leftover character carries 6 bits: not a whole byte, so not base64.
    if bits >= 6 {
        return None;
    }
    Some(out)
}

/// A parsed request head.
#[derive(Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// `GET`, …
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// What follows `?` (empty if nothing).
    pub query: &'a str,
    /// The `Authorization` header's value.
    pub authorization: Option<&'a str>,
}

/// Where the request head ends in `buf` (just past its blank line), if it is all there.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|at| at + 4)
}

/// Parses a request head (`head_end` bytes). An error is the status to answer with.
pub fn parse_head(head: &[u8]) -> Result<Request<'_>, u16> {
    let text = std::str::from_utf8(head).map_err(|_| 400u16)?;
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    if method.is_empty() || !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Err(400);
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut authorization = None;
    for h in lines.take_while(|l| !l.is_empty()) {
        let Some((name, value)) = h.split_once(':') else { return Err(400) };
        if name.eq_ignore_ascii_case("authorization") {
            if authorization.is_some() {
                return Err(400);
            }
            authorization = Some(value.trim());
        }
    }
    Ok(Request { method, path, query, authorization })
}

/// `?limit=` (default [`DEFAULT_LIMIT`], capped at [`MAX_LIMIT`]); `None` if it is not a number.
pub fn limit(query: &str) -> Option<usize> {
    match query.split('&').find_map(|kv| kv.strip_prefix("limit=")) {
        None => Some(DEFAULT_LIMIT),
        Some(n) => n.parse::<usize>().ok().map(|n| n.min(MAX_LIMIT)),
    }
}

/// An answer.
struct Response {
    code: u16,
    ctype: &'static str,
    body: String,
    /// Extra header lines, each ending in `\r\n`.
    headers: &'static str,
}

fn text(code: u16, body: impl Into<String>) -> Response {
    Response { code, ctype: "text/plain; charset=utf-8", body: body.into(), headers: "" }
}

fn json(body: String) -> Response {
    Response { code: 200, ctype: "application/json", body, headers: "Cache-Control: no-store\r\n" }
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    }
}

/// Writes `r` and closes; `false` if the client did not take it within `timeout` (dropped then).
async fn respond<S: AsyncWrite + Unpin>(stream: &mut S, r: &Response, timeout: Duration) -> bool {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nX-Content-Type-Options: nosniff\r\n{}Connection: close\r\n\r\n",
        r.code,
        reason(r.code),
        r.ctype,
        r.body.len(),
        r.headers,
    );
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(r.body.as_bytes()).await?;
        stream.shutdown().await
    };
    matches!(tokio::time::timeout(timeout, write).await, Ok(Ok(())))
}

/// Reads the request head within `timeout`: `Ok(bytes)` with the head at the front, `Err(Some(code))`
/// to answer with, `Err(None)` to just close (the client went away or was too slow).
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S, timeout: Duration) -> Result<Vec<u8>, Option<u16>> {
    let mut buf = Vec::with_capacity(1024);
    let read = async {
        let mut chunk = [0u8; 1024];
        loop {
            let n = stream.read(&mut chunk).await.map_err(|_| None)?;
            if n == 0 {
                return Err(None);
            }
            // Only the new bytes (and the 3 before them) can complete the blank line.
            let from = buf.len().saturating_sub(3);
            buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = head_end(&buf[from..]) {
                buf.truncate(from + end);
                return Ok(());
            }
            if buf.len() >= MAX_HEAD {
                return Err(Some(431));
            }
        }
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(())) if buf.len() <= MAX_HEAD => Ok(buf),
        Ok(Ok(())) => Err(Some(431)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(None),
    }
}

/// The status endpoints' answer to a request without access.
fn denied(s: &Settings, access: Access) -> Response {
    match access {
        Access::NotConfigured => text(
            403,
            format!(
                "forbidden: /, /status, /digests and /advice need a token when [http] listen is not a loopback \
                 address, and none is configured. Set [http] token_env = \"SLUICE_HTTP_TOKEN\" (or token_file) \
                 and send `Authorization: Bearer <token>` (or HTTP basic auth as user {:?} with the token as \
                 password), or listen on 127.0.0.1. /metrics, /health, /ready and /live need none.\n",
                s.user
            ),
        ),
        _ => Response {
            headers: "WWW-Authenticate: Basic realm=\"sluice\", charset=\"UTF-8\"\r\nWWW-Authenticate: Bearer realm=\"sluice\"\r\n",
            ..text(
                401,
                "unauthorized: send `Authorization: Bearer <token>` or HTTP basic auth ([http] token_env / token_file)\n",
            )
        },
    }
}

/// One HTTP connection: one GET, one answer.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(shared: Arc<Shared>, mut stream: S) {
    let s = &shared.http;
    let Some(_slot) = shared.http_slots.take(s.max_connections) else {
        shared.digests.totals.refuse("http_max_connections");
        tracing::debug!("refused HTTP connection: [http] max_connections reached");
        let r = Response {
            headers: "Retry-After: 1\r\n",
            ..text(
                503,
                format!("too many HTTP connections ([http] max_connections = {})\n", s.max_connections),
            )
        };
        if respond(&mut stream, &r, Duration::from_secs(1)).await {
            // Take what the client sent (briefly) so closing does not reset the connection under
            // its unread 503.
            let mut sink = [0u8; 1024];
            let _ = tokio::time::timeout(Duration::from_millis(200), async {
                let mut left: usize = 16 * 1024;
                while left > 0 {
                    match stream.read(&mut sink).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => left = left.saturating_sub(n),
                    }
                }
            })
            .await;
        }
        return;
    };
    let buf = match read_head(&mut stream, s.request_timeout).await {
        Ok(buf) => buf,
        Err(Some(code)) => {
            respond(&mut stream, &text(code, format!("{}\n", reason(code))), s.write_timeout).await;
            return;
        }
        Err(None) => return,
    };
    let r = match parse_head(&buf) {
        Ok(req) => answer(&shared, &req),
        Err(code) => text(code, format!("{}\n", reason(code))),
    };
    if !respond(&mut stream, &r, s.write_timeout).await {
        tracing::debug!("HTTP response not taken within [http] write_timeout_ms: connection dropped");
    }
}

/// The answer to a parsed request.
fn answer(shared: &Shared, req: &Request<'_>) -> Response {
    let protected = matches!(req.path, "/" | "/index.html" | "/status" | "/digests" | "/advice");
    if req.method != "GET" {
        return text(405, "only GET\n");
    }
    if protected {
        let access = shared.http.access(req.authorization);
        if access != Access::Granted {
            return denied(&shared.http, access);
        }
    }
    let limit = || limit(req.query).ok_or_else(|| text(400, "limit must be a number\n"));
    match req.path {
        "/metrics" => Response { ctype: "text/plain; version=0.0.4", ..text(200, metrics(shared)) },
        "/status" => json(status(shared)),
        "/digests" => match limit() {
            Ok(n) => json(digests(shared, n)),
            Err(r) => r,
        },
        "/advice" => match limit() {
            Ok(n) => json(advice(shared, n)),
            Err(r) => r,
        },
        "/" | "/index.html" => Response {
            ctype: "text/html; charset=utf-8",
            headers: "Cache-Control: no-store\r\n",
            ..text(200, STATUS_PAGE)
        },
        "/health" => {
            let snap = shared.routing.load();
            let health = shared.health.load();
            let members = health.groups.first().map(|(_, m)| m.as_slice()).unwrap_or_default();
            // A configured primary stays the primary while it is down: its checks decide.
            let primary_up = snap.primary.and_then(|i| members.get(i)).is_some_and(|h| h.healthy);
            if primary_up && !snap.split_brain { text(200, "ok\n") } else { text(503, "no usable primary\n") }
        }
        // Liveness: the process answers (a primary outage must not get sluice restarted).
        "/live" => text(200, "ok\n"),
        // Readiness: not draining, and some member of the default group can serve (reads still work
        // through replicas while the primary is down, so the pod stays in its Service).
        "/ready" => {
            let health = shared.health.load();
            let serving = health.groups.first().is_some_and(|(_, m)| m.iter().any(|h| h.healthy));
            if shared.shutdown.is_cancelled() {
                text(503, "draining\n")
            } else if serving {
                text(200, "ok\n")
            } else {
                text(503, "no healthy backend\n")
            }
        }
        _ => text(404, "not found: try /, /metrics, /status, /digests, /advice, /health, /ready, /live\n"),
    }
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

/// The first `limit` findings (evidence without literals unless `[http] show_literals`).
fn advice(shared: &Shared, limit: usize) -> String {
    let findings = shared.advice.findings_top(&shared.digests, limit, shared.http.show_literals);
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

/// The `limit` digests with the most total time; `sample` is the last statement as sent only with
/// `[http] show_literals` (else the normalized text again).
fn digests(shared: &Shared, limit: usize) -> String {
    let literals = shared.http.show_literals;
    let rows = shared.digests.top(
        limit,
        |d| d.total_us,
        |d| {
            serde_json::json!({
                "digest": format!("{:016x}", d.digest),
                "digest_text": &*d.text,
                "sample": if literals && !d.sample.is_empty() { d.sample.as_str() } else { &*d.text },
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
                "pinned": d.pinned,
                "pin_reasons": crate::session::Pins::from_bits(d.pin_reasons).names(),
            })
        },
    );
    serde_json::Value::Array(rows).to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap; the lint guards library code
mod tests {
    use super::*;

    fn settings(token: Option<&str>, loopback: bool) -> Settings {
        Settings {
            token: token.map(Into::into),
            user: "sluice".into(),
            loopback,
            show_literals: false,
            max_connections: 64,
            request_timeout: Duration::from_millis(200),
            write_timeout: Duration::from_millis(200),
        }
    }

    fn b64(s: &str) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for c in s.as_bytes().chunks(3) {
            let n = c.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..4 {
                if i <= c.len() {
                    out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn parses_request_line_query_and_authorization() {
        let head = b"GET /digests?limit=5&x=1 HTTP/1.1\r\nHost: x\r\nauthorization:  Bearer abc \r\n\r\n";
        let r = parse_head(head).unwrap();
        assert_eq!(
            r,
            Request {
                method: "GET",
                path: "/digests",
                query: "limit=5&x=1",
                authorization: Some("Bearer abc")
            }
        );
        assert_eq!(parse_head(b"GET / HTTP/1.0\r\n\r\n").unwrap().authorization, None);
        for bad in [
            &b"GET /\r\n\r\n"[..],
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1 x\r\n\r\n",
            b"GET http://h/ HTTP/1.1\r\n\r\n",
            b"GET / SPDY/3\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"GET / HTTP/1.1\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(parse_head(bad), Err(400), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn limit_defaults_and_is_capped() {
        assert_eq!(limit(""), Some(DEFAULT_LIMIT));
        assert_eq!(limit("x=1"), Some(DEFAULT_LIMIT));
        assert_eq!(limit("limit=7"), Some(7));
        assert_eq!(limit("a=b&limit=0"), Some(0));
        assert_eq!(limit("limit=99999999999"), Some(MAX_LIMIT));
        assert_eq!(limit("limit=-1"), None);
        assert_eq!(limit("limit="), None);
    }

    #[test]
    fn base64_decodes_what_browsers_send() {
        for s in ["", "a", "ab", "abc", "sluice:t0ken/with+odd=chars", "ümlaut:ß"] {
            assert_eq!(base64_decode(&b64(s)).unwrap(), s.as_bytes(), "{s}");
            assert_eq!(base64_decode(b64(s).trim_end_matches('=')).unwrap(), s.as_bytes(), "{s} unpadded");
        }
        assert_eq!(base64_decode("a"), None, "6 bits are no byte");
        assert_eq!(base64_decode("ab!c"), None);
    }

    #[test]
    fn access_needs_the_token_once_configured_or_beyond_loopback() {
        let open = settings(None, true);
        assert_eq!(open.access(None), Access::Granted);
        assert_eq!(open.access(Some("Bearer whatever")), Access::Granted);
        let unconfigured = settings(None, false);
        assert_eq!(unconfigured.access(None), Access::NotConfigured);
        assert_eq!(unconfigured.access(Some("Bearer x")), Access::NotConfigured);
        for s in [settings(Some("s3cret-token"), true), settings(Some("s3cret-token"), false)] {
            assert_eq!(s.access(None), Access::Unauthorized);
            assert_eq!(s.access(Some("Bearer s3cret-token")), Access::Granted);
            assert_eq!(s.access(Some("bearer  s3cret-token")), Access::Granted);
            assert_eq!(s.access(Some("Bearer s3cret-toke")), Access::Unauthorized);
            assert_eq!(s.access(Some("Bearer s3cret-token2")), Access::Unauthorized);
            assert_eq!(s.access(Some("Bearer")), Access::Unauthorized);
            assert_eq!(s.access(Some("s3cret-token")), Access::Unauthorized);
            assert_eq!(s.access(Some(&format!("Basic {}", b64("sluice:s3cret-token")))), Access::Granted);
            assert_eq!(s.access(Some(&format!("Basic {}", b64("admin:s3cret-token")))), Access::Unauthorized);
            assert_eq!(s.access(Some(&format!("Basic {}", b64("sluice:wrong")))), Access::Unauthorized);
            assert_eq!(s.access(Some(&format!("Basic {}", b64("s3cret-token")))), Access::Unauthorized);
            assert_eq!(s.access(Some("Basic !!!")), Access::Unauthorized);
            assert_eq!(s.access(Some("Digest s3cret-token")), Access::Unauthorized);
        }
    }

    #[tokio::test]
    async fn a_head_that_never_ends_is_dropped_at_the_timeout() {
        let (mut client, mut server) = tokio::io::duplex(64 * 1024);
        client.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        let t = std::time::Instant::now();
        let r = read_head(&mut server, Duration::from_millis(150)).await;
        assert_eq!(r, Err(None));
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }

    #[tokio::test]
    async fn a_head_split_over_reads_is_found_and_a_huge_one_refused() {
        let (mut client, mut server) = tokio::io::duplex(64 * 1024);
        let task = tokio::spawn(async move {
            for part in [&b"GET / HTTP/1.1\r"[..], b"\nHost: x\r", b"\n\r", b"\nleftover"] {
                client.write_all(part).await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            client
        });
        let head = read_head(&mut server, Duration::from_secs(2)).await.unwrap();
        assert_eq!(head, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        drop(task.await.unwrap());

        let (mut client, mut server) = tokio::io::duplex(64 * 1024);
        let big = format!("GET / HTTP/1.1\r\nX-Pad: {}\r\n", "a".repeat(MAX_HEAD));
        client.write_all(big.as_bytes()).await.unwrap();
        assert_eq!(read_head(&mut server, Duration::from_secs(2)).await, Err(Some(431)));
        // Exactly at the limit still passes; one byte more does not.
        for (extra, want) in [(0, true), (1, false)] {
            let (mut client, mut server) = tokio::io::duplex(64 * 1024);
            let pad = MAX_HEAD - "GET / HTTP/1.1\r\nX: \r\n\r\n".len() + extra;
            let head = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(pad));
            client.write_all(head.as_bytes()).await.unwrap();
            assert_eq!(read_head(&mut server, Duration::from_secs(2)).await.is_ok(), want, "{}", head.len());
        }
    }

    #[tokio::test]
    async fn a_client_that_never_reads_is_dropped_at_the_write_timeout() {
        let (_client, mut server) = tokio::io::duplex(1024);
        let r = text(200, "x".repeat(1 << 20));
        let t = std::time::Instant::now();
        assert!(!respond(&mut server, &r, Duration::from_millis(150)).await);
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        let (mut client, mut server) = tokio::io::duplex(1 << 21);
        assert!(respond(&mut server, &r, Duration::from_secs(2)).await);
        let mut got = String::new();
        client.read_to_string(&mut got).await.unwrap();
        assert!(got.starts_with("HTTP/1.1 200 OK\r\n") && got.ends_with(&"x".repeat(100)), "{}", &got[..80]);
    }
}
