//! Semantic checks serde cannot make: references between sections, uniqueness, formats, files.
//! Every issue is collected (not just the first) and named by its key path.

use std::collections::HashSet;
use std::net::Ipv6Addr;

use sluice_protocol::auth::{parse_native_hash, parse_sha2_hash};

use super::{Config, ConfigIssue, Credentials, GroupConfig, Role, RuleAction, RuleConfig, UserConfig};

/// Collects issues.
struct Issues(Vec<ConfigIssue>);

impl Issues {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigIssue::new(path, message));
    }
}

impl Config {
    /// Checks everything serde cannot: at least one group, unique names, `host:port` addresses, one
    /// primary per group, weights, password hashes, credential sources, rules, pool sizes, TLS files,
    /// the Redis URL and the log filter. Returns every problem; each has the line of its key when the
    /// config came from [`Config::parse`].
    pub fn validate(&self) -> Result<(), Vec<ConfigIssue>> {
        let mut v = Issues(Vec::new());
        self.check_server(&mut v);
        check_users(&mut v, "users", &self.users);
        check_users(&mut v, "admin.users", &self.admin.users);
        check_creds(&mut v, "backend.credentials", &self.backend.credentials);
        check_creds(&mut v, "monitor.credentials", &self.monitor.credentials);
        if let Some(c) = &self.monitor.replication_credentials {
            check_creds(&mut v, "monitor.replication_credentials", c);
        }
        if self.monitor.switchover_timeout_ms == 0 {
            v.add("monitor.switchover_timeout_ms", "must be at least 1");
        }
        check_groups(&mut v, &self.groups);
        if let Some(t) = &self.monitor.heartbeat_table {
            let ok = t.split_once('.').is_some_and(|(s, n)| {
                [s, n]
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
            });
            if !ok {
                v.add("monitor.heartbeat_table", format!("{t:?} is not schema.table (letters, digits, _)"));
            }
        }
        for (i, r) in self.rules.iter().enumerate() {
            check_rule(&mut v, &format!("rules[{i}]"), r, &self.groups);
        }
        self.check_pool_cache_log(&mut v);
        for (path, message) in self.sharding.issues(&self.groups) {
            v.add(path, message);
        }
        let mut issues = v.0;
        if issues.is_empty() {
            return Ok(());
        }
        self.locate(&mut issues);
        Err(issues)
    }

    fn check_server(&self, v: &mut Issues) {
        let s = &self.server;
        if s.max_client_connections == 0 {
            v.add("server.max_client_connections", "must be at least 1");
        }
        if s.max_packet_bytes < 1024 {
            v.add("server.max_packet_bytes", "must be at least 1024 bytes (1KiB)");
        }
        if let Some(t) = &s.tls {
            for (k, p) in [("server.tls.cert", &t.cert), ("server.tls.key", &t.key)] {
                if !p.is_file() {
                    v.add(k, format!("file {} does not exist", p.display()));
                }
            }
        }
        // Two listeners on one fixed port would fail at bind time with a less helpful message.
        let mut listeners = vec![("server.listen", s.listen)];
        if self.admin.enabled {
            listeners.push(("admin.listen", self.admin.listen));
        }
        if self.http.enabled {
            listeners.push(("http.listen", self.http.listen));
        }
        for (i, (key, addr)) in listeners.iter().enumerate() {
            if addr.port() != 0
                && let Some((other, _)) = listeners[..i].iter().find(|(_, a)| a == addr)
            {
                v.add(*key, format!("{addr} is already used by {other}"));
            }
        }
        let h = &self.http;
        match (&h.token_env, &h.token_file) {
            (Some(_), Some(_)) => v.add("http", "give token_env or token_file, not both"),
            (Some(var), None) if !env_name(var) => {
                v.add("http.token_env", format!("{var:?} is not an environment variable name"))
            }
            _ => {}
        }
        if h.user.is_empty() || h.user.contains(':') {
            v.add("http.user", "must not be empty or contain ':' (HTTP basic auth's separator)");
        }
        if h.request_timeout_ms == 0 {
            v.add("http.request_timeout_ms", "must be at least 1");
        }
        if h.write_timeout_ms == 0 {
            v.add("http.write_timeout_ms", "must be at least 1");
        }
        if let Some(ca) = &self.backend.tls.ca
            && !ca.is_file()
        {
            v.add("backend.tls.ca", format!("file {} does not exist", ca.display()));
        }
        if self.backend.tls.verify && self.backend.tls.ca.is_none() && self.backend.tls.enabled {
            v.add(
                "backend.tls.ca",
                "verify = true needs ca (the PEM bundle that signed the backends' certificates)",
            );
        }
        if let Err(e) = self.backend.server_public_key()
            && let Some(issue) = e.issues.into_iter().next()
        {
            v.add("backend.server_public_key_file", issue.message);
        }
        if self.monitor.interval_ms == 0 {
            v.add("monitor.interval_ms", "must be at least 1");
        }
    }

    fn check_pool_cache_log(&self, v: &mut Issues) {
        let p = &self.pool;
        if p.max_per_backend == 0 {
            v.add("pool.max_per_backend", "must be at least 1");
        }
        if p.max_connections_per_backend == 0 {
            v.add("pool.max_connections_per_backend", "must be at least 1");
        }
        if p.min_idle > p.max_per_backend {
            v.add("pool.min_idle", format!("{} exceeds max_per_backend ({})", p.min_idle, p.max_per_backend));
        }
        if p.checkout_timeout_ms == 0 {
            v.add("pool.checkout_timeout_ms", "must be at least 1");
        }
        let c = &self.cache;
        if c.enabled && c.l1_size == 0 {
            v.add("cache.l1_size", "must be more than 0 when the cache is enabled");
        }
        if c.max_entry_bytes == 0 {
            v.add("cache.max_entry_bytes", "must be more than 0");
        }
        if let Err(why) = check_redis_url(&c.redis_url) {
            v.add("cache.redis_url", format!("{:?} {why}", c.redis_url));
        }
        for (key, message) in self.capture.issues() {
            v.add(key, message);
        }
        if let Err(why) = check_log_filter(&self.log.level) {
            v.add("log.level", format!("{:?} {why}", self.log.level));
        }
        if self.log.slow_log_max_bytes > 0 && self.log.slow_log_max_bytes < 4096 {
            v.add("log.slow_log_max_bytes", "must be 0 (never rotate) or at least 4096 bytes");
        }
        let a = &self.advice;
        if a.repeat_threshold < 2 {
            v.add("advice.repeat_threshold", "must be at least 2 (one statement is not a loop)");
        }
        if a.repeat_window_ms == 0 || a.p99_interval_ms == 0 {
            v.add("advice", "repeat_window_ms and p99_interval_ms must be at least 1");
        }
        if a.p99_rise_factor.is_nan() || a.p99_rise_factor <= 1.0 {
            v.add("advice.p99_rise_factor", "must be greater than 1.0 (e.g. 2.0: p99 doubled)");
        }
    }
}

fn check_groups(v: &mut Issues, groups: &[GroupConfig]) {
    if groups.is_empty() {
        v.add("groups", "at least one [[groups]] with members is needed");
    }
    for (gi, g) in groups.iter().enumerate() {
        let at = format!("groups[{gi}]");
        if g.name.is_empty() {
            v.add(format!("{at}.name"), "must not be empty");
        } else if groups[..gi].iter().any(|o| o.name == g.name) {
            v.add(format!("{at}.name"), format!("group {:?} is defined twice", g.name));
        }
        if g.members.is_empty() {
            v.add(format!("{at}.members"), "a group needs at least one member");
        }
        let primaries = g.members.iter().filter(|m| m.role == Role::Primary).count();
        let autos = g.members.iter().filter(|m| m.role == Role::Auto).count();
        if primaries > 1 {
            v.add(format!("{at}.members"), format!("{primaries} members have role = \"primary\"; one may"));
        } else if primaries == 0 && autos == 0 && !g.members.is_empty() {
            // With only replicas, writes would have nowhere to go; `auto` lets the monitor find one.
            v.add(format!("{at}.members"), "no member has role = \"primary\" (or \"auto\")");
        }
        let mut seen = HashSet::new();
        for (mi, m) in g.members.iter().enumerate() {
            let at = format!("{at}.members[{mi}]");
            if let Err(why) = check_host_port(&m.address) {
                v.add(format!("{at}.address"), format!("{:?} {why}", m.address));
            } else if !seen.insert(m.address.as_str()) {
                v.add(format!("{at}.address"), format!("{} is listed twice in this group", m.address));
            }
            if m.weight == 0 {
                v.add(format!("{at}.weight"), "must be at least 1");
            }
        }
    }
}

fn check_users(v: &mut Issues, section: &str, users: &[UserConfig]) {
    for (i, u) in users.iter().enumerate() {
        let at = format!("{section}[{i}]");
        if u.name.is_empty() {
            v.add(format!("{at}.name"), "must not be empty");
        } else if users[..i].iter().any(|o| o.name == u.name) {
            v.add(format!("{at}.name"), format!("user {:?} is defined twice", u.name));
        }
        let hashes = u.mysql_native_password.is_some() || u.caching_sha2_password.is_some();
        match (&u.password_env, &u.password_file) {
            (None, None) if !hashes => v.add(
                at.as_str(),
                "needs mysql_native_password and/or caching_sha2_password (`sluice hash-password` prints both), or password_env / password_file",
            ),
            (None, None) => {}
            _ if hashes => v.add(
                at.as_str(),
                "give the hashes or password_env / password_file, not both",
            ),
            (Some(_), Some(_)) => v.add(at.as_str(), "give password_env or password_file, not both"),
            (Some(var), None) if !env_name(var) => {
                v.add(format!("{at}.password_env"), format!("{var:?} is not an environment variable name"))
            }
            _ => {}
        }
        // "" is an empty password, as MySQL's authentication_string stores it.
        if let Some(h) = &u.mysql_native_password
            && !h.is_empty()
            && parse_native_hash(h).is_none()
        {
            v.add(
                format!("{at}.mysql_native_password"),
                "must be * followed by 40 hex digits, or \"\" for an empty password (`sluice hash-password` prints it)",
            );
        }
        if let Some(h) = &u.caching_sha2_password
            && !h.is_empty()
            && parse_sha2_hash(h).is_none()
        {
            v.add(
                format!("{at}.caching_sha2_password"),
                "must be 64 hex digits, or \"\" for an empty password (`sluice hash-password` prints it)",
            );
        }
        if let (Some(n), Some(s)) = (&u.mysql_native_password, &u.caching_sha2_password)
            && n.is_empty() != s.is_empty()
        {
            v.add(
                at.as_str(),
                "one hash is \"\" (empty password) and the other is not: both must be of the same password",
            );
        }
        if let Some(c) = &u.backend {
            check_creds(v, &format!("{at}.backend"), c);
        }
    }
}

fn check_creds(v: &mut Issues, path: &str, c: &Credentials) {
    if c.user.is_empty() {
        v.add(format!("{path}.user"), "must not be empty");
    }
    match (&c.password_env, &c.password_file) {
        (Some(_), Some(_)) => v.add(path, "give password_env or password_file, not both"),
        (None, None) => {
            v.add(path, "needs password_env or password_file (passwords are never in the config)")
        }
        (Some(var), None) if !env_name(var) => {
            v.add(format!("{path}.password_env"), format!("{var:?} is not an environment variable name"))
        }
        _ => {}
    }
}

/// A name an environment variable can have (not empty, no `=` or NUL).
fn env_name(var: &str) -> bool {
    !var.is_empty() && !var.contains(['=', '\0'])
}

fn check_rule(v: &mut Issues, at: &str, r: &RuleConfig, groups: &[GroupConfig]) {
    let action = match r.action {
        RuleAction::Route => "route",
        RuleAction::Cache => "cache",
        RuleAction::Nocache => "nocache",
        RuleAction::Block => "block",
        RuleAction::Timeout => "timeout",
    };
    match (r.action, r.target.as_deref()) {
        (RuleAction::Route, Some("primary" | "replica")) => {}
        (RuleAction::Route, Some(t)) if groups.iter().any(|g| g.name == t) => {}
        (RuleAction::Route, Some(t)) => {
            v.add(format!("{at}.target"), format!("{t:?} is not primary, replica or a group name"))
        }
        (RuleAction::Route, None) => v.add(format!("{at}.target"), "action = \"route\" needs a target"),
        (_, Some(_)) => {
            v.add(format!("{at}.target"), format!("only action = \"route\" takes a target, not {action:?}"))
        }
        (_, None) => {}
    }
    match (r.action, r.ttl_ms) {
        (RuleAction::Cache, Some(0)) => v.add(format!("{at}.ttl_ms"), "must be at least 1"),
        (RuleAction::Cache, _) | (_, None) => {}
        (_, Some(_)) => {
            v.add(format!("{at}.ttl_ms"), format!("only action = \"cache\" takes ttl_ms, not {action:?}"))
        }
    }
    match (r.action, r.timeout_ms) {
        (RuleAction::Timeout, None) => v.add(
            format!("{at}.timeout_ms"),
            "action = \"timeout\" needs timeout_ms (the statement time limit)",
        ),
        (_, Some(0)) => v.add(format!("{at}.timeout_ms"), "must be at least 1"),
        (RuleAction::Block, Some(_)) => {
            v.add(format!("{at}.timeout_ms"), "a blocked statement never runs: remove timeout_ms")
        }
        _ => {}
    }
    if r.message.is_some() && r.action != RuleAction::Block {
        v.add(format!("{at}.message"), format!("only action = \"block\" takes a message, not {action:?}"));
    }
    if let Some(d) = &r.matches.digest
        && (d.len() != 16 || !d.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        v.add(format!("{at}.match.digest"), format!("{d:?} is not 16 hex digits"));
    }
    if let Some(re) = &r.matches.regex
        && let Err(e) = regex::RegexBuilder::new(re).case_insensitive(true).build()
    {
        v.add(format!("{at}.match.regex"), format!("is not a regular expression: {e}"));
    }
    if r.action == RuleAction::Route
        && let Some(t) = r.target.as_deref()
        && !matches!(t, "primary" | "replica")
        && groups.first().is_some_and(|g| g.name != t)
        && groups.iter().any(|g| g.name == t)
    {
        v.add(
            format!("{at}.target"),
            format!("{t:?}: sluice routes to the first group only (other groups serve sharded tables); use primary, replica or {:?}", groups.first().map(|g| g.name.as_str()).unwrap_or_default()),
        );
    }
    for (ti, t) in r.matches.tables.iter().enumerate() {
        if t.is_empty() || t.split('.').count() > 2 || t.split('.').any(str::is_empty) {
            v.add(format!("{at}.match.tables[{ti}]"), format!("{t:?} is not `table` or `schema.table`"));
        }
    }
}

/// Why an address is not `host:port`; the text follows the value in a [`super::ConfigIssue`].
#[derive(Debug, thiserror::Error)]
pub(super) enum BadAddress {
    #[error("is not host:port")]
    NoPort,
    #[error("is not host:port ({0:?} is not a port 1-65535)")]
    Port(String),
    #[error("is not host:port ({0})")]
    Host(#[source] BadHost),
}

/// Why a host is not a name or an address.
#[derive(Debug, thiserror::Error)]
pub(super) enum BadHost {
    #[error("{0:?} is not an IPv6 address")]
    Ipv6(String),
    #[error("{0:?} is not a host name or address (IPv6 goes in [brackets])")]
    Name(String),
}

/// Why a `redis_url` is refused.
#[derive(Debug, thiserror::Error)]
pub(super) enum BadRedisUrl {
    #[error("is not a URL (redis://host:port)")]
    NotUrl,
    #[error("has scheme {0:?}; use redis://host:port[/db] (TLS and Redis Cluster are not supported yet)")]
    Scheme(String),
    #[error("names no host")]
    NoHost,
    #[error("names several hosts; give one (Redis Cluster is not supported yet)")]
    SeveralHosts,
    #[error("has a bad host: {0}")]
    Host(#[source] BadHost),
    #[error("has a bad host: {host:?} {why}")]
    Address {
        host: String,
        #[source]
        why: BadAddress,
    },
    #[error("has path /{0}; only a database number (/0) may follow the host")]
    Path(String),
}

/// Why a log filter is refused.
#[derive(Debug, thiserror::Error)]
pub(super) enum BadLogFilter {
    #[error("is empty; use a level such as info")]
    Empty,
    #[error(
        "is not a log filter: {0:?} is not a level (off, error, warn, info, debug, trace); a target is written target=level"
    )]
    NotALevel(String),
    #[error("is not a log filter such as info or sluice=debug ({0})")]
    Parse(#[source] tracing_subscriber::filter::ParseError),
}

/// `host:port` with a non-zero port; the host a name, an IPv4 address or a bracketed IPv6 address.
fn check_host_port(s: &str) -> Result<(), BadAddress> {
    let Some((host, port)) = s.rsplit_once(':') else { return Err(BadAddress::NoPort) };
    if !port.parse::<u16>().is_ok_and(|p| p > 0) {
        return Err(BadAddress::Port(port.to_owned()));
    }
    check_host(host).map_err(BadAddress::Host)
}

fn check_host(host: &str) -> Result<(), BadHost> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().map(|_| ()).map_err(|_| BadHost::Ipv6(inner.to_owned()));
    }
    let ok = !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if ok { Ok(()) } else { Err(BadHost::Name(host.to_owned())) }
}

/// An empty URL (no L2), or `redis://` with one host,
/// with an optional `user:password@` and an optional `/db`.
pub(super) fn check_redis_url(url: &str) -> Result<(), BadRedisUrl> {
    if url.is_empty() {
        return Ok(());
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(BadRedisUrl::NotUrl);
    };
    if scheme != "redis" {
        return Err(BadRedisUrl::Scheme(scheme.to_owned()));
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    if host.is_empty() {
        return Err(BadRedisUrl::NoHost);
    }
    if host.contains(',') {
        return Err(BadRedisUrl::SeveralHosts);
    }
    // The port is optional (Redis' default 6379), so a bare host or [v6] is fine too.
    if host.starts_with('[') && host.ends_with(']') || !host.contains(':') {
        check_host(host).map_err(BadRedisUrl::Host)?;
    } else {
        check_host_port(host).map_err(|why| BadRedisUrl::Address { host: host.to_owned(), why })?;
    }
    if !path.is_empty() && path.parse::<u32>().is_err() {
        return Err(BadRedisUrl::Path(path.to_owned()));
    }
    Ok(())
}

/// A filter `tracing_subscriber::EnvFilter` accepts, where a directive without `=` must be a level.
///
/// EnvFilter reads a bare word as a target name enabled at every level, so a typo such as `infoo` or
/// `warning` would silently turn on trace logging of nothing; a target is written `target=level` here.
pub(super) fn check_log_filter(level: &str) -> Result<(), BadLogFilter> {
    if level.trim().is_empty() {
        return Err(BadLogFilter::Empty);
    }
    for d in level.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if !d.contains(['=', '[']) && d.parse::<tracing::level_filters::LevelFilter>().is_err() {
            return Err(BadLogFilter::NotALevel(d.to_owned()));
        }
    }
    tracing_subscriber::EnvFilter::builder().parse(level).map(|_| ()).map_err(BadLogFilter::Parse)
}
