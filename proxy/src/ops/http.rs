//! HTTP on `[http] listen` (9033): `/` (the status page: HTML + JS built into the binary),
//! `/metrics` (Prometheus text format, aggregate series only: [`crate::ops::metrics`]), `/status`,
//! `/digests` and `/advice` (JSON), `/health` (200 when writes have a primary, else 503: for load
//! balancers that need writes), `/ready` (200 unless draining or no member is healthy: Kubernetes
//! readiness) and `/live` (200 while the process answers: liveness).
//!
//! Served by hyper's HTTP/1.1 connection, bounded to be safe to expose: GET only (405 otherwise), a
//! request head of at most [`MAX_HEAD`] bytes (431 beyond) that must arrive within `[http]
//! request_timeout_ms` (else the connection is closed without an answer), a response that must be
//! taken within `write_timeout_ms` ([`WriteDeadline`]), at most `max_connections` open (more get
//! 503). Keep-alive is allowed: an idle connection keeps its slot only until `request_timeout_ms`
//! passes without a new request head, and a request with a body (or not a GET) closes it. `/metrics`
//! and the probes are open; the status endpoints ([`Settings`]) need the `[http]` token when one is
//! configured, and without one answer 403 unless the listener is loopback. `/digests` and `/advice`
//! return the top `?limit=` rows (default [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]), built from the
//! digest table in place.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body as _, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::CancellationToken;

use crate::core::config::HttpConfig;
use crate::frontend::state::Shared;

/// Longest request head (request line and headers), bytes; a longer one gets 431.
pub const MAX_HEAD: usize = 8 * 1024;
/// Rows `/digests` and `/advice` return without `?limit=`.
pub const DEFAULT_LIMIT: usize = 100;
/// Most rows `/digests` and `/advice` return (a larger `?limit=` is cut to this).
pub const MAX_LIMIT: usize = 1000;
/// How long a connection beyond `max_connections` may take to send its request and read its 503.
const REFUSE_TIMEOUT: Duration = Duration::from_secs(1);

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
    pub fn from_config(c: &HttpConfig) -> Result<Self, crate::core::config::ConfigError> {
        let token = if c.enabled { c.token()? } else { None };
        Ok(Self {
            token,
            user: c.user.clone(),
            loopback: crate::core::config::is_loopback(c.listen),
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

/// `?limit=` (default [`DEFAULT_LIMIT`], capped at [`MAX_LIMIT`]); `None` if it is not a number.
pub fn limit(query: &str) -> Option<usize> {
    match query.split('&').find_map(|kv| kv.strip_prefix("limit=")) {
        None => Some(DEFAULT_LIMIT),
        Some(n) => n.parse::<usize>().ok().map(|n| n.min(MAX_LIMIT)),
    }
}

/// An answer.
type Answer = Response<Full<Bytes>>;

fn answer(code: StatusCode, ctype: &'static str, body: impl Into<Bytes>) -> Answer {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = code;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

fn text(code: StatusCode, body: impl Into<Bytes>) -> Answer {
    answer(code, "text/plain; charset=utf-8", body)
}

/// `r` with one more header.
fn with(mut r: Answer, name: header::HeaderName, value: &'static str) -> Answer {
    r.headers_mut().append(name, HeaderValue::from_static(value));
    r
}

fn json(body: String) -> Answer {
    with(answer(StatusCode::OK, "application/json", body), header::CACHE_CONTROL, "no-store")
}

/// The connection's stream, its writes bounded: a response must be taken by the client within
/// `limit` of its first byte, or writing fails with `TimedOut` (and hyper drops the connection).
/// The clock starts at the first write after the last completed flush (one response), so an idle
/// keep-alive connection is not timed here (hyper's header read timeout does that).
struct WriteDeadline<S> {
    inner: S,
    limit: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
    armed: bool,
}

impl<S> WriteDeadline<S> {
    fn new(inner: S, limit: Duration) -> Self {
        Self { inner, limit, deadline: Box::pin(tokio::time::sleep(limit)), armed: false }
    }
}

impl<S: AsyncWrite + Unpin> WriteDeadline<S> {
    /// Runs one write operation under the deadline (armed now if it is not yet).
    fn bounded<T>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        if !self.armed {
            let at = tokio::time::Instant::now() + self.limit;
            self.deadline.as_mut().reset(at);
            self.armed = true;
        }
        let timed_out = || {
            let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "[http] write_timeout_ms");
            Poll::Ready(Err(e))
        };
        if self.deadline.is_elapsed() {
            return timed_out();
        }
        match op(Pin::new(&mut self.inner), cx) {
            Poll::Pending if self.deadline.as_mut().poll(cx).is_ready() => timed_out(),
            r => r,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteDeadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.bounded(cx, |s, cx| s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.bounded(cx, |s, cx| s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if !self.armed {
            return Pin::new(&mut self.inner).poll_flush(cx);
        }
        let r = self.bounded(cx, |s, cx| s.poll_flush(cx));
        if matches!(r, Poll::Ready(Ok(()))) {
            // Everything written so far is with the kernel: the response was taken.
            self.armed = false;
        }
        r
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.bounded(cx, |s, cx| s.poll_shutdown(cx))
    }
}

/// How one connection is served.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// Further requests on the connection after the first.
    keep_alive: bool,
    /// The request head (and, kept alive, the next one) must arrive within this.
    head: Duration,
    /// A response must be taken within this.
    write: Duration,
}

/// Serves HTTP/1.1 on `stream` with `limits`, answering each request with `handle`, until the client
/// closes, a limit is hit, or `stop` is cancelled (an answer being written is finished first).
async fn run<S, F>(stream: S, limits: Limits, stop: &CancellationToken, handle: F)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Fn(&Request<Incoming>) -> Answer,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .keep_alive(limits.keep_alive)
        .header_read_timeout(limits.head)
        .max_header_size(MAX_HEAD)
        .max_buf_size(MAX_HEAD.max(8192));
    let service = hyper::service::service_fn(|req: Request<Incoming>| {
        let mut r = handle(&req);
        // GET only, and nothing is read of a body: close rather than read past it for the next head.
        if req.method() != Method::GET || !req.body().is_end_stream() {
            r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        std::future::ready(Ok::<_, Infallible>(r))
    });
    let conn = http.serve_connection(TokioIo::new(WriteDeadline::new(stream, limits.write)), service);
    tokio::pin!(conn);
    let done = tokio::select! {
        r = conn.as_mut() => r,
        () = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = done {
        tracing::debug!(error = %e, "HTTP connection ended");
    }
}

/// One HTTP connection (requests until the client closes or a limit ends it).
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    shared: Arc<Shared>,
    settings: Arc<Settings>,
    stream: S,
) {
    let s = &*settings;
    let Some(_slot) = shared.http_slots.take(s.max_connections) else {
        shared.digests.totals.refuse(crate::features::stats::Refusal::HttpMaxConnections);
        tracing::debug!("refused HTTP connection: [http] max_connections reached");
        let body = format!("too many HTTP connections ([http] max_connections = {})\n", s.max_connections);
        let limits = Limits { keep_alive: false, head: REFUSE_TIMEOUT, write: REFUSE_TIMEOUT };
        let refuse = |_: &Request<Incoming>| {
            with(text(StatusCode::SERVICE_UNAVAILABLE, body.clone()), header::RETRY_AFTER, "1")
        };
        run(stream, limits, &shared.shutdown, refuse).await;
        return;
    };
    let limits = Limits { keep_alive: true, head: s.request_timeout, write: s.write_timeout };
    run(stream, limits, &shared.shutdown, |req| respond(&shared, s, req)).await;
}

/// The status endpoints' answer to a request without access.
fn denied(s: &Settings, access: Access) -> Answer {
    match access {
        Access::NotConfigured => text(
            StatusCode::FORBIDDEN,
            format!(
                "forbidden: /, /status, /digests and /advice need a token when [http] listen is not a loopback \
                 address, and none is configured. Set [http] token_env = \"SLUICE_HTTP_TOKEN\" (or token_file) \
                 and send `Authorization: Bearer <token>` (or HTTP basic auth as user {:?} with the token as \
                 password), or listen on 127.0.0.1. /metrics, /health, /ready and /live need none.\n",
                s.user
            ),
        ),
        _ => {
            let r = text(
                StatusCode::UNAUTHORIZED,
                "unauthorized: send `Authorization: Bearer <token>` or HTTP basic auth ([http] token_env / token_file)\n",
            );
            let r = with(r, header::WWW_AUTHENTICATE, "Basic realm=\"sluice\", charset=\"UTF-8\"");
            with(r, header::WWW_AUTHENTICATE, "Bearer realm=\"sluice\"")
        }
    }
}

/// The answer to a request.
fn respond(shared: &Arc<Shared>, settings: &Settings, req: &Request<Incoming>) -> Answer {
    let bad = || text(StatusCode::BAD_REQUEST, "Bad Request\n");
    let uri = req.uri();
    // Origin form only (`/path?query`): not `http://host/path`, not `*`.
    if uri.scheme().is_some() || uri.authority().is_some() || !uri.path().starts_with('/') {
        return bad();
    }
    let mut auth = req.headers().get_all(header::AUTHORIZATION).iter();
    let authorization = match (auth.next(), auth.next()) {
        (None, _) => None,
        (Some(v), None) => match std::str::from_utf8(v.as_bytes()) {
            Ok(v) => Some(v.trim()),
            Err(_) => return bad(),
        },
        (Some(_), Some(_)) => return bad(),
    };
    if req.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
    }
    let path = uri.path();
    if matches!(path, "/" | "/index.html" | "/status" | "/digests" | "/advice") {
        let access = settings.access(authorization);
        if access != Access::Granted {
            return denied(settings, access);
        }
    }
    let top = |rows: fn(&Shared, usize, bool) -> String| match limit(uri.query().unwrap_or("")) {
        Some(n) => json(rows(shared, n, settings.show_literals)),
        None => text(StatusCode::BAD_REQUEST, "limit must be a number\n"),
    };
    let ok = |body: &'static str| text(StatusCode::OK, body);
    let unavailable = |body: &'static str| text(StatusCode::SERVICE_UNAVAILABLE, body);
    match path {
        "/metrics" => {
            answer(StatusCode::OK, crate::ops::metrics::CONTENT_TYPE, crate::ops::metrics::render(shared))
        }
        "/status" => json(status(shared)),
        "/digests" => top(digests),
        "/advice" => top(advice),
        "/" | "/index.html" => with(
            answer(StatusCode::OK, "text/html; charset=utf-8", STATUS_PAGE),
            header::CACHE_CONTROL,
            "no-store",
        ),
        "/health" => {
            let snap = shared.group().routing();
            let health = shared.health.load();
            let members = health.groups.first().map(|(_, m)| m.as_slice()).unwrap_or_default();
            // A configured primary stays the primary while it is down: its checks decide.
            let primary_up = snap.primary.and_then(|p| members.get(p.index)).is_some_and(|h| h.healthy);
            if primary_up && !snap.split_brain { ok("ok\n") } else { unavailable("no usable primary\n") }
        }
        // Liveness: the process answers (a primary outage must not get sluice restarted).
        "/live" => ok("ok\n"),
        // Readiness: not draining, and some member of the default group can serve (reads still work
        // through replicas while the primary is down, so the pod stays in its Service).
        "/ready" => {
            let health = shared.health.load();
            let serving = health.groups.first().is_some_and(|(_, m)| m.iter().any(|h| h.healthy));
            if shared.shutdown.is_cancelled() {
                unavailable("draining\n")
            } else if serving {
                ok("ok\n")
            } else {
                unavailable("no healthy backend\n")
            }
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /, /metrics, /status, /digests, /advice, /health, /ready, /live\n",
        ),
    }
}

/// The status page: one HTML file with its script, no external assets.
const STATUS_PAGE: &str = include_str!("status.html");

/// The first `limit` findings (evidence without literals unless `[http] show_literals`).
fn advice(shared: &Shared, limit: usize, literals: bool) -> String {
    let findings = shared.advice.findings_top(&shared.digests, limit, literals);
    serde_json::to_string(&findings).unwrap_or_else(|_| "[]".to_owned())
}

fn status(shared: &Shared) -> String {
    let backends: Vec<serde_json::Value> = crate::ops::backends::rows(shared)
        .into_iter()
        .map(|b| {
            serde_json::json!({
                "group": b.group,
                "address": b.address,
                "role": b.role.as_str(),
                "offline": b.offline,
                "state": b.state.as_str(),
                "lag_ms": b.lag_ms,
                "weight": b.weight,
                "error": b.error,
                "flavor": b.flavor.map(|f| f.as_str()),
                "replication": b.replication.map(|r| r.as_str()),
                "pool": {"in_use": b.in_use, "idle": b.idle, "max": b.max},
            })
        })
        .collect();
    let t = &shared.digests.totals;
    serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "sessions": shared.sessions.len(),
        "group": shared.group().name,
        "split_brain": shared.group().routing.load().split_brain,
        "backends": backends,
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
fn digests(shared: &Shared, limit: usize, literals: bool) -> String {
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
                "pin_reasons": crate::frontend::pins::Pins::from_bits(d.pin_reasons).names(),
            })
        },
    );
    serde_json::Value::Array(rows).to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap; the lint guards library code
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

    /// Serves `run` on one end of a duplex pipe (buffer `cap`) answering every GET with `body`.
    fn served(
        limits: Limits,
        cap: usize,
        body: &'static str,
    ) -> (tokio::io::DuplexStream, tokio::task::JoinHandle<()>) {
        let (client, server) = tokio::io::duplex(cap);
        let task = tokio::spawn(async move {
            run(server, limits, &CancellationToken::new(), |_| text(StatusCode::OK, body)).await;
        });
        (client, task)
    }

    const SHORT: Limits =
        Limits { keep_alive: true, head: Duration::from_millis(150), write: Duration::from_millis(150) };

    /// Reads until `n` bytes or the end; what came.
    async fn read_some(c: &mut tokio::io::DuplexStream, n: usize) -> String {
        let mut got = vec![0u8; n];
        let mut at = 0;
        while at < n {
            match c.read(&mut got[at..]).await {
                Ok(0) | Err(_) => break,
                Ok(k) => at += k,
            }
        }
        String::from_utf8_lossy(&got[..at]).into_owned()
    }

    #[tokio::test]
    async fn a_head_that_never_ends_is_dropped_at_the_timeout_without_an_answer() {
        let (mut client, task) = served(SHORT, 64 * 1024, "x");
        client.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        let t = std::time::Instant::now();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_head_over_max_head_gets_431_and_one_at_it_passes() {
        for (extra, want) in [(0, "HTTP/1.1 200 OK\r\n"), (1, "HTTP/1.1 431 ")] {
            let (mut client, _task) = served(SHORT, 64 * 1024, "x");
            let pad = MAX_HEAD - "GET / HTTP/1.1\r\nX: \r\nConnection: close\r\n\r\n".len() + extra;
            let head = format!("GET / HTTP/1.1\r\nX: {}\r\nConnection: close\r\n\r\n", "a".repeat(pad));
            client.write_all(head.as_bytes()).await.unwrap();
            let mut got = String::new();
            client.read_to_string(&mut got).await.unwrap();
            assert!(got.starts_with(want), "{}: {got}", head.len());
        }
        // Split over many reads, then far too long.
        let (mut client, _task) = served(SHORT, 64 * 1024, "x");
        client
            .write_all(format!("GET / HTTP/1.1\r\nX-Pad: {}\r\n", "a".repeat(MAX_HEAD)).as_bytes())
            .await
            .unwrap();
        assert!(read_some(&mut client, 12).await.starts_with("HTTP/1.1 431"));
    }

    #[tokio::test]
    async fn keep_alive_serves_several_requests_then_closes_when_idle() {
        let (mut client, task) = served(SHORT, 64 * 1024, "hello");
        for _ in 0..3 {
            client.write_all(b"GET /live HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
            let mut got = String::new();
            while !got.ends_with("hello") {
                let more = read_some(&mut client, 1).await;
                assert!(!more.is_empty(), "closed after {got:?}");
                got += &more;
            }
            assert!(got.starts_with("HTTP/1.1 200 OK\r\n") && got.contains("content-length: 5"), "{got}");
            assert!(!got.contains("connection: close"), "{got}");
        }
        // Idle past the head timeout: closed, the task (and its slot) gone.
        let t = std::time::Instant::now();
        assert_eq!(read_some(&mut client, 1).await, "");
        assert!(
            t.elapsed() >= Duration::from_millis(100) && t.elapsed() < Duration::from_secs(2),
            "{:?}",
            t.elapsed()
        );
        task.await.unwrap();
        // A request that is not a GET closes the connection after its answer.
        let (mut client, task) = served(SHORT, 64 * 1024, "hello");
        client.write_all(b"POST /live HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc").await.unwrap();
        let t = std::time::Instant::now();
        let mut got = String::new();
        client.read_to_string(&mut got).await.unwrap();
        assert!(got.contains("connection: close") && t.elapsed() < Duration::from_millis(100), "{got}");
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_client_that_never_reads_is_dropped_at_the_write_timeout() {
        let big: &'static str = Box::leak("x".repeat(1 << 20).into_boxed_str());
        let (mut client, task) = served(SHORT, 1024, big);
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let t = std::time::Instant::now();
        task.await.unwrap();
        assert!(
            t.elapsed() >= Duration::from_millis(100) && t.elapsed() < Duration::from_secs(2),
            "{:?}",
            t.elapsed()
        );
        // One that reads gets all of it, even when that takes longer than a single write.
        let limits = Limits { write: Duration::from_secs(5), ..SHORT };
        let (client, server) = tokio::io::duplex(1 << 16);
        let task = tokio::spawn(async move {
            run(server, limits, &CancellationToken::new(), |_| text(StatusCode::OK, big)).await;
        });
        let mut client = client;
        client.write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut got = String::new();
        client.read_to_string(&mut got).await.unwrap();
        assert!(got.starts_with("HTTP/1.1 200 OK\r\n") && got.ends_with(&"x".repeat(100)), "{}", &got[..80]);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn malformed_and_foreign_requests_get_400_or_405() {
        for (req, want) in [
            (&b"GET /\r\n\r\n"[..], "HTTP/1.1 400"),
            (b"GET / SPDY/3\r\n\r\n", "HTTP/1.1 400"),
            (b"GET / HTTP/1.1\r\nno colon\r\n\r\n", "HTTP/1.1 400"),
            (b"GET /\xff HTTP/1.1\r\n\r\n", "HTTP/1.1 400"),
        ] {
            let (mut client, _task) = served(SHORT, 64 * 1024, "x");
            client.write_all(req).await.unwrap();
            let got = read_some(&mut client, 12).await;
            assert!(got.starts_with(want), "{:?}: {got}", String::from_utf8_lossy(req));
        }
    }
}
