//! The client-facing account table, built once from the config: names to decoded password hashes and
//! the backend credentials each account uses.

use std::collections::HashMap;
use std::sync::Arc;

use sluice_protocol::auth::{native_password_hash, parse_native_hash, parse_sha2_hash, sha2_password_hash};

use crate::core::config::{Config, ConfigError, Credentials, UserConfig};

/// An account whose secrets could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// Its own password (`password_env` / `password_file`).
    #[error("account {user}: {source}")]
    Password {
        /// The account.
        user: String,
        /// What the config said.
        #[source]
        source: ConfigError,
    },
    /// The backend account's password it logs in with.
    #[error("user {user}: {source}")]
    BackendPassword {
        /// The account.
        user: String,
        /// What the config said.
        #[source]
        source: ConfigError,
    },
}

/// One client-facing account, ready for authentication. Its `Debug` leaves out the backend password and
/// the hashes (logs and panics must not carry them).
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

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |set: bool| if set { "<hidden>" } else { "<none>" };
        f.debug_struct("User")
            .field("name", &self.name)
            .field("native", &hidden(self.native.is_some()))
            .field("sha2", &hidden(self.sha2.is_some()))
            .field("default_schema", &self.default_schema)
            .field("require_tls", &self.require_tls)
            .field("max_connections", &self.max_connections)
            .field("backend_user", &self.backend_user)
            .field("backend_password", &hidden(!self.backend_password.is_empty()))
            .finish()
    }
}

/// A configured `mysql_native_password` hash; `""` is the empty password's (the config's way to say it).
fn native_hash(configured: Option<&str>) -> Option<[u8; 20]> {
    match configured? {
        "" => Some(native_password_hash(b"")),
        h => parse_native_hash(h),
    }
}

/// A configured `caching_sha2_password` hash; `""` is the empty password's.
fn sha2_hash(configured: Option<&str>) -> Option<[u8; 32]> {
    match configured? {
        "" => Some(sha2_password_hash(b"")),
        h => parse_sha2_hash(h),
    }
}

/// `(mysql_native_password, caching_sha2_password)` hashes.
type Hashes = (Option<[u8; 20]>, Option<[u8; 32]>);

/// An account's hashes: those configured, or both computed from the password its `password_env` /
/// `password_file` holds (which is dropped right after).
fn hashes(u: &UserConfig) -> Result<Hashes, UsersError> {
    let own = u.password_from(|k| std::env::var(k).ok());
    match own.map_err(|source| UsersError::Password { user: u.name.clone(), source })? {
        Some(pw) => Ok((Some(native_password_hash(pw.as_bytes())), Some(sha2_password_hash(pw.as_bytes())))),
        None => Ok((
            native_hash(u.mysql_native_password.as_deref()),
            sha2_hash(u.caching_sha2_password.as_deref()),
        )),
    }
}

/// All accounts by name.
#[derive(Debug, Default)]
pub struct Users {
    by_name: HashMap<String, Arc<User>>,
}

impl Users {
    /// Builds the table from `users`, resolving backend secrets (`default` when a user has none).
    pub fn build(users: &[UserConfig], default: &Credentials) -> Result<Self, UsersError> {
        let mut by_name = HashMap::new();
        for u in users {
            let creds = u.backend.as_ref().unwrap_or(default);
            let backend_password = creds
                .password()
                .map_err(|source| UsersError::BackendPassword { user: u.name.clone(), source })?;
            let (native, sha2) = hashes(u)?;
            let user = User {
                name: u.name.clone(),
                native,
                sha2,
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

    /// Admin accounts (`[[admin.users]]`): they never reach a backend, so no backend secret is resolved
    /// (only an account's own password, when it gives `password_env` / `password_file`).
    pub fn admins(config: &Config) -> Result<Self, UsersError> {
        let mut by_name = HashMap::new();
        for u in &config.admin.users {
            let (native, sha2) = hashes(u)?;
            let user = User {
                name: u.name.clone(),
                native,
                sha2,
                default_schema: None,
                require_tls: u.require_tls,
                max_connections: 0,
                backend_user: String::new(),
                backend_password: String::new(),
            };
            by_name.insert(u.name.clone(), Arc::new(user));
        }
        Ok(Self { by_name })
    }

    /// The client-facing accounts of `config`.
    pub fn from_config(config: &Config) -> Result<Self, UsersError> {
        Self::build(&config.users, &config.backend.credentials)
    }

    /// Looks an account up by the name a client sent.
    pub fn get(&self, name: &[u8]) -> Option<Arc<User>> {
        std::str::from_utf8(name).ok().and_then(|n| self.by_name.get(n)).cloned()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap; the lint guards library code
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_backend_password_and_hashes() {
        let u = User {
            name: "app".into(),
            native: Some(native_password_hash(b"pw")),
            sha2: None,
            default_schema: None,
            require_tls: false,
            max_connections: 0,
            backend_user: "backend".into(),
            backend_password: "s3cr3t-backend".into(),
        };
        let one = format!("{u:?}");
        let shown = format!("{one} {:#?}", Users { by_name: HashMap::from([("app".into(), Arc::new(u))]) });
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("\"app\"") && shown.contains("backend_password: \"<hidden>\""), "{shown}");
        // Nor the hash bytes (SHA1(SHA1(pw)) is what mysql_native_password logins are checked against).
        assert!(!shown.contains('['), "{shown}");
    }

    #[test]
    fn a_password_from_a_secret_becomes_both_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("admin-pw");
        std::fs::write(&f, "s3cret\n").unwrap();
        let text = format!(
            "[[admin.users]]\nname = \"ops\"\npassword_file = {:?}\n[[groups]]\nname = \"m\"\n[[groups.members]]\naddress = \"h:1\"\n",
            f.display().to_string()
        );
        let config = Config::parse(&text, "t.toml").unwrap();
        let ops = Users::admins(&config).unwrap().get(b"ops").unwrap();
        assert_eq!(ops.native, Some(native_password_hash(b"s3cret")));
        assert_eq!(ops.sha2, Some(sha2_password_hash(b"s3cret")));
        std::fs::remove_file(&f).unwrap();
        let e = Users::admins(&config).unwrap_err().to_string();
        assert!(e.contains("account ops") && e.contains("admin-pw"), "{e}");
    }

    #[test]
    fn empty_hash_is_the_empty_password() {
        assert_eq!(native_hash(Some("")), Some(native_password_hash(b"")));
        assert_eq!(sha2_hash(Some("")), Some(sha2_password_hash(b"")));
        assert_eq!(native_hash(None), None);
        assert_eq!(sha2_hash(Some("zz")), None);
    }

    /// Moved from the config's tests: users sit above the config, so the test that loads both lives here.
    #[test]
    fn debug_output_of_the_loaded_config_and_users_holds_no_secret() {
        use sluice_protocol::auth::{
            native_hash_to_string, native_password_hash, sha2_hash_to_string, sha2_password_hash,
        };
        let dir = tempfile::tempdir().expect("tmp");
        let pw = dir.path().join("backend.pw");
        std::fs::write(&pw, "B4ckendPw\n").expect("write");
        let native = native_hash_to_string(&native_password_hash(b"client"));
        let sha2 = sha2_hash_to_string(&sha2_password_hash(b"client"));
        let text = format!(
            r#"
[[groups]]
name = "main"
[[groups.members]]
address = "127.0.0.1:3306"
role = "primary"
[backend.credentials]
user = "app"
password_file = "{pw}"
[cache]
redis_url = "redis://cacheuser:R3disPw@127.0.0.1:6379/0"
[[users]]
name = "app"
mysql_native_password = "{native}"
caching_sha2_password = "{sha2}"
[[admin.users]]
name = "admin"
mysql_native_password = "{native}"
"#,
            pw = pw.display(),
        );
        let path = dir.path().join("sluice.toml");
        std::fs::write(&path, text).expect("write");
        let config = crate::core::config::Config::load(&path).expect("loads");
        let users = Users::build(&config.users, &config.backend.credentials).expect("users resolve");
        let user = users.get(b"app").expect("app");
        assert_eq!(user.backend_password, "B4ckendPw", "the secret is loaded");
        let shown = format!("{config:?}\n{config:#?}\n{users:?}\n{user:?}");
        // The hashes' hex without the `*` too, in either case.
        let secrets = ["B4ckendPw", "R3disPw", native.trim_start_matches('*'), &sha2];
        for s in secrets {
            assert!(!shown.to_lowercase().contains(&s.to_lowercase()), "{s} in Debug output:\n{shown}");
        }
        assert!(shown.contains("redis://cacheuser:***@127.0.0.1:6379/0"), "{shown}");
        assert!(shown.contains("<hidden>"), "{shown}");
    }
}
