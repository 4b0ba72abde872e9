//! Secrets: read at start from the environment variable or file the config names (backend and monitor
//! passwords, admin and client passwords given as `password_env`/`password_file` instead of hashes,
//! the HTTP token). A secret itself is never stored in the config, logged, or put in an error message.

use std::sync::Arc;

use sluice_protocol::auth::ServerPublicKey;

use super::{BackendConfig, CacheConfig, ConfigError, Credentials, HttpConfig, UserConfig};

impl BackendConfig {
    /// The RSA public key `server_public_key_file` names, read and parsed now; `None` when unset.
    /// Not a secret, but read like one: once at start, with the file named in the error.
    pub fn server_public_key(&self) -> Result<Option<Arc<ServerPublicKey>>, ConfigError> {
        let Some(path) = &self.server_public_key_file else { return Ok(None) };
        let key = "backend.server_public_key_file";
        let pem = std::fs::read(path)
            .map_err(|e| ConfigError::one("", key, None, format!("cannot read {}: {e}", path.display())))?;
        ServerPublicKey::from_pem(&pem).map(|k| Some(Arc::new(k))).map_err(|e| {
            ConfigError::one(
                "",
                key,
                None,
                format!("{}: {e}; give the server's public_key.pem (SELECT @@caching_sha2_password_public_key_path)", path.display()),
            )
        })
    }
}

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
        let what = format!("the password of backend user {user:?}");
        let source = (self.password_env.as_deref(), self.password_file.as_deref());
        read(source, &what, env)?.ok_or_else(|| {
            ConfigError::one(
                "",
                "",
                None,
                format!("backend user {user:?} has neither password_env nor password_file"),
            )
        })
    }
}

impl UserConfig {
    /// The password given by `password_env` or `password_file` (hashed at start, then dropped);
    /// `None` when the account gives hashes instead.
    pub fn password_from(&self, env: impl Fn(&str) -> Option<String>) -> Result<Option<String>, ConfigError> {
        let what = format!("the password of account {:?}", self.name);
        read((self.password_env.as_deref(), self.password_file.as_deref()), &what, env)
    }
}

impl HttpConfig {
    /// The token `[http] token_env` or `token_file` names; `None` when neither is set. Never empty.
    pub fn token_from(&self, env: impl Fn(&str) -> Option<String>) -> Result<Option<String>, ConfigError> {
        let token = read((self.token_env.as_deref(), self.token_file.as_deref()), "the [http] token", env)?;
        match token {
            Some(t) if t.is_empty() => {
                let from = self.token_env.clone().unwrap_or_default();
                Err(ConfigError::one("", from, None, "the [http] token is empty"))
            }
            t => Ok(t),
        }
    }

    /// [`HttpConfig::token_from`] with the process environment.
    pub fn token(&self) -> Result<Option<String>, ConfigError> {
        self.token_from(|k| std::env::var(k).ok())
    }
}

/// A secret from `(environment variable, file)`: `None` when neither is named. `what` names the
/// secret in errors ("the password of backend user \"app\"").
fn read(
    source: (Option<&str>, Option<&std::path::Path>),
    what: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, ConfigError> {
    match source {
        (Some(var), None) => env(var).map(trim_newline).map(Some).ok_or_else(|| {
            ConfigError::one(
                "",
                var,
                None,
                format!("environment variable is not set (or not UTF-8); it holds {what}"),
            )
        }),
        (None, Some(path)) => std::fs::read_to_string(path).map(trim_newline).map(Some).map_err(|e| {
            ConfigError::one(&path.display().to_string(), "", None, format!("cannot read {what}: {e}"))
        }),
        (Some(_), Some(_)) => Err(ConfigError::one(
            "",
            "",
            None,
            format!("{what} has both an environment variable and a file; give one"),
        )),
        (None, None) => Ok(None),
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
            password_env,
            password_file,
        } = self;
        f.debug_struct("UserConfig")
            .field("name", name)
            .field("mysql_native_password", &hidden(mysql_native_password))
            .field("caching_sha2_password", &hidden(caching_sha2_password))
            .field("default_schema", default_schema)
            .field("require_tls", require_tls)
            .field("max_connections", max_connections)
            .field("backend", backend)
            .field("password_env", password_env)
            .field("password_file", password_file)
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
