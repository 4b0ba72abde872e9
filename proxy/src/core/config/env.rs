//! `SLUICE_*` environment overrides: the few settings a container or a test run changes without
//! editing the file.

use super::validate::{check_log_filter, check_redis_url};
use super::{Config, ConfigError, ConfigIssue, parse_size};

impl Config {
    /// Applies the overrides `get` returns (`|k| std::env::var(k).ok()` in production; a closure over a
    /// map in tests, since changing the real environment is unsafe in a multi-threaded test binary):
    ///
    /// | variable | sets | accepts |
    /// |---|---|---|
    /// | `SLUICE_LISTEN` | `server.listen` | `ip:port` |
    /// | `SLUICE_WORKERS` | `server.workers` | a number, 0 = one per core |
    /// | `SLUICE_POOL_SIZE` | `pool.max_per_backend` | a number ≥ 1 |
    /// | `SLUICE_CACHE` | `cache.enabled` | `on`/`off`/`true`/`false`/`1`/`0` |
    /// | `SLUICE_L1_SIZE` | `cache.l1_size` | bytes, optionally with a unit: `64MiB`, `512K` |
    /// | `SLUICE_REDIS` | `cache.redis_enabled` | like `SLUICE_CACHE` |
    /// | `SLUICE_REDIS_URL` | `cache.redis_url` | `redis://host:port[/db]` or empty |
    /// | `SLUICE_LOG_LEVEL` | `log.level` | a tracing filter such as `info` or `sluice=debug` |
    ///
    /// Every bad value is reported (naming its variable), and then nothing is changed.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let mut next = self.clone();
        let mut issues = Vec::new();
        let mut var = |name: &str, apply: &mut dyn FnMut(&str) -> Result<(), Why>| {
            if let Some(v) = get(name)
                && let Err(why) = apply(v.trim())
            {
                issues.push(ConfigIssue::new(name, format!("{v:?} {why}")));
            }
        };
        var("SLUICE_LISTEN", &mut |v| {
            next.server.listen = v.parse().map_err(|_| "is not an ip:port address")?;
            Ok(())
        });
        var("SLUICE_WORKERS", &mut |v| {
            next.server.workers = v.parse().map_err(|_| "is not a number of threads (0 = one per core)")?;
            Ok(())
        });
        var("SLUICE_POOL_SIZE", &mut |v| match v.parse() {
            Ok(n) if n > 0 => {
                next.pool.max_per_backend = n;
                Ok(())
            }
            _ => Err("is not a pool size (a number, at least 1)".into()),
        });
        var("SLUICE_CACHE", &mut |v| {
            next.cache.enabled = parse_switch(v)?;
            Ok(())
        });
        var("SLUICE_L1_SIZE", &mut |v| {
            next.cache.l1_size = parse_size(v).ok_or("is not a size such as 64MiB, 512K or 1048576")?;
            Ok(())
        });
        var("SLUICE_REDIS", &mut |v| {
            next.cache.redis_enabled = parse_switch(v)?;
            Ok(())
        });
        var("SLUICE_REDIS_URL", &mut |v| {
            check_redis_url(v)?;
            next.cache.redis_url = v.to_owned();
            Ok(())
        });
        var("SLUICE_LOG_LEVEL", &mut |v| {
            check_log_filter(v)?;
            next.log.level = v.to_owned();
            Ok(())
        });
        if issues.is_empty() {
            *self = next;
            Ok(())
        } else {
            Err(ConfigError { origin: String::new(), issues })
        }
    }
}

/// Why a variable's value is refused: the text that follows the value in its [`ConfigIssue`].
type Why = Box<dyn std::error::Error + Send + Sync>;

/// A value that is not a switch.
#[derive(Debug, thiserror::Error)]
#[error("is not on, off, true, false, 1 or 0")]
struct NotASwitch;

/// `on`/`off` and the usual spellings of a boolean, case-insensitive.
fn parse_switch(v: &str) -> Result<bool, NotASwitch> {
    match v.to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" => Ok(false),
        _ => Err(NotASwitch),
    }
}
