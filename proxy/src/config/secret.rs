//! Backend passwords: read at start from the environment variable or file a `Credentials` block names.
//! The password itself is never stored in the config, logged, or put in an error message.

use super::{CacheConfig, ConfigError, Credentials, UserConfig};

impl Credentials {
    /// The password, from `password_env` (the process environment) or `password_file`; a trailing
    /// `\n` or `\r\n` is dropped (files written by `echo` or editors end with one). The error names the
    /// variable or file and the user, never any part of the password.
    pub fn password(&self) -> Result<String, ConfigError> {
        self.password_from(|k| std::env::var(k).ok())
    }

    /// [`Credentials::password`] with environment lookups through `env` (tests pass a map: changing the
    /// real environment is unsafe while other test threads run).
    pub fn password_from(&self, env: impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
        let user = &self.user;
        match (&self.password_env, &self.password_file) {
            (Some(var), None) => env(var).map(trim_newline).ok_or_else(|| {
                ConfigError::one(
                    "",
                    var.as_str(),
                    None,
                    format!("environment variable is not set (or not UTF-8); it holds the password of backend user {user:?}"),
                )
            }),
            (None, Some(path)) => std::fs::read_to_string(path).map(trim_newline).map_err(|e| {
                ConfigError::one(
                    &path.display().to_string(),
                    "",
                    None,
                    format!("cannot read the password of backend user {user:?}: {e}"),
                )
            }),
            (Some(_), Some(_)) => Err(ConfigError::one(
                "",
                "",
                None,
                format!("backend user {user:?} has both password_env and password_file; give one"),
            )),
            (None, None) => Err(ConfigError::one(
                "",
                "",
                None,
                format!("backend user {user:?} has neither password_env nor password_file"),
            )),
        }
    }
}

fn trim_newline(mut s: String) -> String {
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    s
}

/// `url` with the password of its userinfo (`redis://user:pw@host`, `redis://pw@host`) replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((auth, host)) = rest.rsplit_once('@') else { return url.to_owned() };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => format!("{scheme}://***@{host}"),
    }
}

/// `<hidden>` for a configured hash (`""`, the empty password's, included), `None` for none.
fn hidden(h: &Option<String>) -> Option<&'static str> {
    h.as_ref().map(|_| "<hidden>")
}

impl std::fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            name,
            mysql_native_password,
            caching_sha2_password,
            default_schema,
            require_tls,
            max_connections,
            backend,
        } = self;
        f.debug_struct("UserConfig")
            .field("name", name)
            .field("mysql_native_password", &hidden(mysql_native_password))
            .field("caching_sha2_password", &hidden(caching_sha2_password))
            .field("default_schema", default_schema)
            .field("require_tls", require_tls)
            .field("max_connections", max_connections)
            .field("backend", backend)
            .finish()
    }
}

impl std::fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            enabled,
            l1_size,
            redis_url,
            redis_enabled,
            default_ttl_ms,
            max_entry_bytes,
            redis_timeout_ms,
            cache_all,
            refresh_ahead_ms,
        } = self;
        f.debug_struct("CacheConfig")
            .field("enabled", enabled)
            .field("l1_size", l1_size)
            .field("redis_url", &redact_url(redis_url))
            .field("redis_enabled", redis_enabled)
            .field("default_ttl_ms", default_ttl_ms)
            .field("max_entry_bytes", max_entry_bytes)
            .field("redis_timeout_ms", redis_timeout_ms)
            .field("cache_all", cache_all)
            .field("refresh_ahead_ms", refresh_ahead_ms)
            .finish()
    }
}
