//! Loading a config: TOML parse (serde, `deny_unknown_fields`), environment overrides (`SLUICE_*`),
//! and validation. Every problem is reported with its key path and its line in the file, all at once.

use std::fmt;
use std::path::Path;

use toml::de::{DeTable, DeValue};

use super::{Config, Credentials};

/// One problem in a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Key path, e.g. `groups[0].members[1].address` (or the environment variable).
    pub path: String,
    /// 1-based line in the file, when the key is in it.
    pub line: Option<usize>,
    /// What is wrong and what to do.
    pub message: String,
}

/// A config that cannot be used: where it came from and every problem found.
#[derive(Debug, Clone)]
pub struct ConfigError {
    /// File name (or `<env>`).
    pub origin: String,
    /// The problems.
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match issue.line {
                Some(l) => write!(f, "{}:{l}: {}: {}", self.origin, issue.path, issue.message)?,
                None => write!(f, "{}: {}: {}", self.origin, issue.path, issue.message)?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    fn one(origin: &str, path: impl Into<String>, line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            origin: origin.to_owned(),
            issues: vec![ConfigIssue { path: path.into(), line, message: message.into() }],
        }
    }
}

impl Config {
    /// Reads, parses, applies `SLUICE_*` environment overrides and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::one(&origin, "(file)", None, format!("cannot read: {e}")))?;
        let mut cfg = Self::parse_unchecked(&text, &origin)?;
        cfg.apply_env(|k| std::env::var(k).ok())?;
        cfg.check(&text, &origin)?;
        Ok(cfg)
    }

    /// Parses and validates TOML text (no environment overrides); `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let cfg = Self::parse_unchecked(text, origin)?;
        cfg.check(text, origin)?;
        Ok(cfg)
    }

    fn parse_unchecked(text: &str, origin: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_at(text, s.start));
            ConfigError::one(origin, "(syntax)", line, e.message().trim().to_owned())
        })
    }

    fn check(&self, text: &str, origin: &str) -> Result<(), ConfigError> {
        let mut issues = self.validate();
        if issues.is_empty() {
            return Ok(());
        }
        let doc = DeTable::parse(text).ok();
        for i in &mut issues {
            i.line = doc.as_ref().and_then(|d| line_of(d.get_ref(), text, &i.path));
        }
        Err(ConfigError { origin: origin.to_owned(), issues })
    }

    /// Applies the `SLUICE_*` overrides `get` returns (std::env::var in production).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let mut issues = Vec::new();
        let mut bad = |var: &str, v: &str, want: &str| {
            issues.push(ConfigIssue {
                path: var.to_owned(),
                line: None,
                message: format!("{v:?} is not {want}"),
            });
        };
        if let Some(v) = get("SLUICE_LISTEN") {
            match v.parse() {
                Ok(a) => self.server.listen = a,
                Err(_) => bad("SLUICE_LISTEN", &v, "an ip:port address"),
            }
        }
        if let Some(v) = get("SLUICE_WORKERS") {
            match v.parse() {
                Ok(n) => self.server.workers = n,
                Err(_) => bad("SLUICE_WORKERS", &v, "a number"),
            }
        }
        if let Some(v) = get("SLUICE_POOL_SIZE") {
            match v.parse() {
                Ok(n) => self.pool.max_per_backend = n,
                Err(_) => bad("SLUICE_POOL_SIZE", &v, "a number"),
            }
        }
        if let Some(v) = get("SLUICE_CACHE") {
            match parse_switch(&v) {
                Some(b) => self.cache.enabled = b,
                None => bad("SLUICE_CACHE", &v, "on or off"),
            }
        }
        if let Some(v) = get("SLUICE_L1_SIZE") {
            match parse_size(&v) {
                Some(n) => self.cache.l1_size = n,
                None => bad("SLUICE_L1_SIZE", &v, "a size such as 64MiB"),
            }
        }
        if let Some(v) = get("SLUICE_REDIS") {
            match parse_switch(&v) {
                Some(b) => self.cache.redis_enabled = b,
                None => bad("SLUICE_REDIS", &v, "on or off"),
            }
        }
        if let Some(v) = get("SLUICE_REDIS_URL") {
            self.cache.redis_url = v;
        }
        if let Some(v) = get("SLUICE_LOG_LEVEL") {
            self.log.level = v;
        }
        if issues.is_empty() { Ok(()) } else { Err(ConfigError { origin: "<env>".into(), issues }) }
    }

    /// Checks what serde cannot: references, uniqueness, formats, files. Lines are filled in by callers.
    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut v = Issues(Vec::new());
        if self.groups.is_empty() {
            v.add("groups", "at least one [[groups]] with members is needed");
        }
        for (gi, g) in self.groups.iter().enumerate() {
            if g.name.is_empty() {
                v.add(format!("groups[{gi}].name"), "must not be empty");
            }
            if self.groups[..gi].iter().any(|o| o.name == g.name) {
                v.add(format!("groups[{gi}].name"), format!("group {:?} is defined twice", g.name));
            }
            if g.members.is_empty() {
                v.add(format!("groups[{gi}].members"), "a group needs at least one member");
            }
            let primaries = g.members.iter().filter(|m| m.role == super::Role::Primary).count();
            if primaries > 1 {
                v.add(format!("groups[{gi}].members"), "more than one member has role = \"primary\"");
            }
            for (mi, m) in g.members.iter().enumerate() {
                if !is_host_port(&m.address) {
                    v.add(
                        format!("groups[{gi}].members[{mi}].address"),
                        format!("{:?} is not host:port", m.address),
                    );
                }
                if m.weight == 0 {
                    v.add(format!("groups[{gi}].members[{mi}].weight"), "must be at least 1");
                }
            }
        }
        check_users(&mut v, "users", &self.users);
        check_users(&mut v, "admin.users", &self.admin.users);
        check_creds(&mut v, "backend.credentials", &self.backend.credentials);
        check_creds(&mut v, "monitor.credentials", &self.monitor.credentials);
        if self.backend.tls.verify && self.backend.tls.ca.is_none() && self.backend.tls.enabled {
            v.add(
                "backend.tls.ca",
                "verify = true needs ca (the PEM bundle that signed the backends' certificates)",
            );
        }
        if self.pool.max_per_backend == 0 {
            v.add("pool.max_per_backend", "must be at least 1");
        }
        if self.pool.min_idle > self.pool.max_per_backend {
            v.add("pool.min_idle", "must not exceed max_per_backend");
        }
        if self.server.max_client_connections == 0 {
            v.add("server.max_client_connections", "must be at least 1");
        }
        if let Some(t) = &self.server.tls {
            for (k, p) in [("server.tls.cert", &t.cert), ("server.tls.key", &t.key)] {
                if !p.exists() {
                    v.add(k, format!("file {} does not exist", p.display()));
                }
            }
        }
        for (ri, r) in self.rules.iter().enumerate() {
            use super::RuleAction;
            if r.action == RuleAction::Route {
                match r.target.as_deref() {
                    Some("primary" | "replica") => {}
                    Some(t) if self.groups.iter().any(|g| g.name == t) => {}
                    Some(t) => v.add(
                        format!("rules[{ri}].target"),
                        format!("{t:?} is not primary, replica or a group name"),
                    ),
                    None => v.add(format!("rules[{ri}].target"), "action = \"route\" needs a target"),
                }
            }
            if let Some(d) = &r.matches.digest
                && (d.len() != 16 || !d.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                v.add(format!("rules[{ri}].match.digest"), format!("{d:?} is not 16 hex digits"));
            }
        }
        let url = &self.cache.redis_url;
        if !url.is_empty()
            && !["redis://", "rediss://", "redis+cluster://"].iter().any(|s| url.starts_with(s))
        {
            v.add(
                "cache.redis_url",
                format!("{url:?} must start with redis://, rediss:// or redis+cluster://"),
            );
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            v.add("log.level", format!("{:?} is not a log filter (e.g. info, sluice=debug)", self.log.level));
        }
        v.0
    }
}

struct Issues(Vec<ConfigIssue>);

impl Issues {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigIssue { path: path.into(), line: None, message: message.into() });
    }
}

fn check_users(v: &mut Issues, section: &str, users: &[super::UserConfig]) {
    use sluice_protocol::auth::{parse_native_hash, parse_sha2_hash};
    for (i, u) in users.iter().enumerate() {
        if u.name.is_empty() {
            v.add(format!("{section}[{i}].name"), "must not be empty");
        }
        if users[..i].iter().any(|o| o.name == u.name) {
            v.add(format!("{section}[{i}].name"), format!("user {:?} is defined twice", u.name));
        }
        if u.mysql_native_password.is_none() && u.caching_sha2_password.is_none() {
            v.add(
                format!("{section}[{i}]"),
                "needs mysql_native_password and/or caching_sha2_password (`sluice hash-password` prints both)",
            );
        }
        if let Some(h) = &u.mysql_native_password
            && parse_native_hash(h).is_none()
        {
            v.add(format!("{section}[{i}].mysql_native_password"), "must be * followed by 40 hex digits");
        }
        if let Some(h) = &u.caching_sha2_password
            && parse_sha2_hash(h).is_none()
        {
            v.add(format!("{section}[{i}].caching_sha2_password"), "must be 64 hex digits");
        }
        if let Some(c) = &u.backend {
            check_creds(v, &format!("{section}[{i}].backend"), c);
        }
    }
}

fn check_creds(v: &mut Issues, path: &str, c: &Credentials) {
    if c.user.is_empty() {
        v.add(format!("{path}.user"), "must not be empty");
    }
    if c.password_env.is_some() && c.password_file.is_some() {
        v.add(path, "give password_env or password_file, not both");
    }
}

impl Credentials {
    /// The password: from the named environment variable or file (trailing newline dropped); empty if
    /// neither is given. Never logged.
    pub fn password(&self) -> Result<String, String> {
        if let Some(var) = &self.password_env {
            return std::env::var(var).map_err(|_| {
                format!("environment variable {var} (password of backend user {}) is not set", self.user)
            });
        }
        if let Some(path) = &self.password_file {
            let s = std::fs::read_to_string(path)
                .map_err(|e| format!("password file {}: {e}", path.display()))?;
            return Ok(s.trim_end_matches(['\n', '\r']).to_owned());
        }
        Ok(String::new())
    }
}

fn is_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0),
        None => false,
    }
}

fn parse_switch(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Some(true),
        "off" | "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// `65536`, `64KiB`, `64MiB`, `1GiB`, `64K`, `64M`, `1G`.
pub fn parse_size(v: &str) -> Option<u64> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// 1-based line of byte offset `at`.
fn line_at(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// The line of a key path such as `groups[0].members[1].address` (or of its deepest existing parent).
fn line_of(doc: &DeTable<'_>, text: &str, path: &str) -> Option<usize> {
    let mut table = doc;
    let mut best = None;
    let mut segments = path.split('.').peekable();
    while let Some(seg) = segments.next() {
        let (key, indexes) = match seg.find('[') {
            Some(i) => (&seg[..i], &seg[i..]),
            None => (seg, ""),
        };
        let (k, value) = table.iter().find(|(k, _)| k.get_ref().as_ref() == key)?;
        best = Some(line_at(text, k.span().start));
        let mut value = value;
        for idx in indexes.split(['[', ']']).filter(|s| !s.is_empty()) {
            let i: usize = idx.parse().ok()?;
            let DeValue::Array(items) = value.get_ref() else { return best };
            value = items.get(i)?;
            best = Some(line_at(text, value.span().start));
        }
        match value.get_ref() {
            DeValue::Table(t) => table = t,
            _ => {
                if segments.peek().is_some() {
                    return best;
                }
            }
        }
    }
    best
}

#[cfg(test)]
mod tests;
