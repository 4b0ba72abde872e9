//! Warnings: a config that is valid but unsafe to expose. `sluice check-config` prints them and a
//! starting sluice logs them; neither refuses the config.

use std::net::{IpAddr, SocketAddr};

use sluice_protocol::auth::{native_password_hash, parse_native_hash, parse_sha2_hash, sha2_password_hash};

use super::{Config, ConfigIssue, UserConfig};

/// Shortest `[http]` token not warned about.
const MIN_TOKEN_LEN: usize = 16;

/// Whether `addr` only accepts connections from this host (127.0.0.0/8, ::1, ::ffff:127.x).
pub fn is_loopback(addr: SocketAddr) -> bool {
    match addr.ip() {
        IpAddr::V4(ip) => ip.is_loopback(),
        IpAddr::V6(ip) => ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

impl Config {
    /// What is unsafe about this config with the process environment ([`Config::warnings_from`]).
    pub fn warnings(&self) -> Vec<ConfigIssue> {
        self.warnings_from(|k| std::env::var(k).ok())
    }

    /// What is unsafe about this config: an admin listener beyond loopback with an account whose
    /// password is empty, `admin` or its own name (the hashes are compared; a password from the
    /// environment or a file is checked when it can be read), and an HTTP listener beyond loopback
    /// without a token (its status endpoints answer 403) or with a short one. Each issue has its line
    /// when the config came from a file.
    pub fn warnings_from(&self, env: impl Fn(&str) -> Option<String>) -> Vec<ConfigIssue> {
        let mut out = Vec::new();
        let a = &self.admin;
        if a.enabled && !is_loopback(a.listen) {
            for (i, u) in a.users.iter().enumerate() {
                if let Some(why) = weak_account(u, &env) {
                    out.push(ConfigIssue::new(
                        format!("admin.users[{i}]"),
                        format!(
                            "the admin interface listens on {} (beyond loopback) and admin account {:?} {why}: \
                             give it a strong password from a secret (password_env / password_file) or listen on 127.0.0.1",
                            a.listen, u.name
                        ),
                    ));
                }
            }
        }
        let h = &self.http;
        if h.enabled && !is_loopback(h.listen) {
            match h.token_from(&env) {
                Ok(None) => out.push(ConfigIssue::new(
                    "http.listen",
                    format!(
                        "{} is beyond loopback and [http] has no token: /, /status, /digests and /advice answer 403 \
                         (set token_env or token_file; /metrics, /health, /ready and /live stay open)",
                        h.listen
                    ),
                )),
                Ok(Some(t)) if t.chars().count() < MIN_TOKEN_LEN => out.push(ConfigIssue::new(
                    "http",
                    format!(
                        "the token is shorter than {MIN_TOKEN_LEN} characters and {} is beyond loopback: use a long random one (e.g. `openssl rand -hex 32`)",
                        h.listen
                    ),
                )),
                // Not readable here (check-config without the secret): the start reports it.
                Ok(Some(_)) | Err(_) => {}
            }
        }
        self.locate(&mut out);
        out
    }
}

/// Why `u`'s password is a default one, if it is: empty, `admin`, or the account's own name.
fn weak_account(u: &UserConfig, env: &impl Fn(&str) -> Option<String>) -> Option<&'static str> {
    let weak: [(&[u8], &'static str); 3] = [
        (b"", "has an empty password"),
        (b"admin", "has the password \"admin\""),
        (u.name.as_bytes(), "has its own name as password"),
    ];
    if let Ok(Some(pw)) = u.password_from(env) {
        return weak.iter().find(|(w, _)| *w == pw.as_bytes()).map(|(_, why)| *why);
    }
    for (pw, why) in weak {
        let native = u.mysql_native_password.as_deref().map(|h| match h {
            "" => pw.is_empty(),
            h => parse_native_hash(h) == Some(native_password_hash(pw)),
        });
        let sha2 = u.caching_sha2_password.as_deref().map(|h| match h {
            "" => pw.is_empty(),
            h => parse_sha2_hash(h) == Some(sha2_password_hash(pw)),
        });
        if native == Some(true) || sha2 == Some(true) {
            return Some(why);
        }
    }
    None
}
