//! The client-facing account table, built once from the config: names to decoded password hashes and
//! the backend credentials each account uses.

use std::collections::HashMap;
use std::sync::Arc;

use sluice_protocol::auth::{parse_native_hash, parse_sha2_hash};

use crate::config::{Config, Credentials, UserConfig};

/// One client-facing account, ready for authentication.
#[derive(Debug)]
pub struct User {
    /// Login name.
    pub name: String,
    /// SHA1(SHA1(pw)) for mysql_native_password, if configured.
    pub native: Option<[u8; 20]>,
    /// SHA256(SHA256(pw)) for caching_sha2_password, if configured.
    pub sha2: Option<[u8; 32]>,
    /// Schema when the client names none.
    pub default_schema: Option<String>,
    /// Refuse without TLS.
    pub require_tls: bool,
    /// Connection limit (0 = none).
    pub max_connections: usize,
    /// Backend user name.
    pub backend_user: String,
    /// Backend password (resolved from env/file at start; never logged).
    pub backend_password: String,
}

/// All accounts by name.
#[derive(Debug, Default)]
pub struct Users {
    by_name: HashMap<String, Arc<User>>,
}

impl Users {
    /// Builds the table from `users`, resolving backend secrets (`default` when a user has none).
    pub fn build(users: &[UserConfig], default: &Credentials) -> Result<Self, String> {
        let mut by_name = HashMap::new();
        for u in users {
            let creds = u.backend.as_ref().unwrap_or(default);
            let backend_password = creds.password().map_err(|e| format!("user {}: {e}", u.name))?;
            let user = User {
                name: u.name.clone(),
                native: u.mysql_native_password.as_deref().and_then(parse_native_hash),
                sha2: u.caching_sha2_password.as_deref().and_then(parse_sha2_hash),
                default_schema: u.default_schema.clone(),
                require_tls: u.require_tls,
                max_connections: u.max_connections,
                backend_user: creds.user.clone(),
                backend_password,
            };
            by_name.insert(u.name.clone(), Arc::new(user));
        }
        Ok(Self { by_name })
    }

    /// Admin accounts (`[[admin.users]]`): they never reach a backend, so no backend secret is resolved.
    pub fn admins(config: &Config) -> Self {
        let mut by_name = HashMap::new();
        for u in &config.admin.users {
            let user = User {
                name: u.name.clone(),
                native: u.mysql_native_password.as_deref().and_then(parse_native_hash),
                sha2: u.caching_sha2_password.as_deref().and_then(parse_sha2_hash),
                default_schema: None,
                require_tls: u.require_tls,
                max_connections: 0,
                backend_user: String::new(),
                backend_password: String::new(),
            };
            by_name.insert(u.name.clone(), Arc::new(user));
        }
        Self { by_name }
    }

    /// The client-facing accounts of `config`.
    pub fn from_config(config: &Config) -> Result<Self, String> {
        Self::build(&config.users, &config.backend.credentials)
    }

    /// Looks an account up by the name a client sent.
    pub fn get(&self, name: &[u8]) -> Option<Arc<User>> {
        std::str::from_utf8(name).ok().and_then(|n| self.by_name.get(n)).cloned()
    }
}
