//! Backend passwords: read at start from the environment variable or file a `Credentials` block names.
//! The password itself is never stored in the config, logged, or put in an error message.

use super::{ConfigError, Credentials};

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
