//! Building a sluice config for a topology, and running sluice in-process in front of it.

use std::net::SocketAddr;

use anyhow::Context as _;
use mysql_async::OptsBuilder;
use sluice::config::{
    BackendTls, Config, Credentials, GroupConfig, MemberConfig, Role, TlsServerConfig, UserConfig,
};
use sluice::server::Running;
use sluice_protocol::auth::{
    native_hash_to_string, native_password_hash, sha2_hash_to_string, sha2_password_hash,
};

use crate::accounts::{APP_PASSWORD, APP_USER, MONITOR_USER};
use crate::topology::{Topology, direct_opts};

/// Client-facing users in [`Topology::sluice_config`]: `(name, password)`.
pub const PROXY_USERS: [(&str, &str); 4] =
    [(APP_USER, APP_PASSWORD), ("native_only", "native"), ("sha2_only", "sha2"), ("tls_only", "tls")];

fn local0() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn user(name: &str, password: &str, native: bool, sha2: bool, require_tls: bool) -> UserConfig {
    let pw = password.as_bytes();
    UserConfig {
        name: name.to_string(),
        mysql_native_password: native.then(|| native_hash_to_string(&native_password_hash(pw))),
        caching_sha2_password: sha2.then(|| sha2_hash_to_string(&sha2_password_hash(pw))),
        default_schema: None,
        require_tls,
        max_connections: 0,
        backend: None,
        password_env: None,
        password_file: None,
    }
}

impl Topology {
    /// A sluice config in front of this topology:
    /// - server, admin and http listen on `127.0.0.1:0`; client TLS uses [`Topology::proxy_tls_files`];
    /// - users `app`/`app` (both hashes), `native_only`/`native` (mysql_native_password hash only),
    ///   `sha2_only`/`sha2` (caching_sha2_password hash only), `tls_only`/`tls` (both, `require_tls`);
    /// - backend credentials `app` and monitor credentials `monitor`, passwords from files in the
    ///   topology dir (not env vars: tests share a process);
    /// - `[backend.tls]` off but with `ca` = [`Topology::tls_ca`], so a test turns it on with
    ///   `enabled = true` (only the primary offers TLS: set member `tls` accordingly);
    /// - group `main`: the primary (role primary) and both replicas (role replica);
    /// - `[cache] redis_url` points at this topology's Redis (the cache itself stays off);
    /// - admin account `admin`/`admin` on the admin interface.
    ///
    /// Everything else is sluice's default (parsed from an empty file, so new fields need no change here).
    pub fn sluice_config(&self) -> Config {
        self.try_sluice_config().expect("building the test sluice config")
    }

    /// [`Topology::sluice_config`], returning errors.
    pub fn try_sluice_config(&self) -> anyhow::Result<Config> {
        let mut config: Config = toml::from_str("").context("parsing an empty sluice config")?;
        let (cert, key, _ca) = self.proxy_tls_files();
        config.server.listen = local0();
        config.server.tls = Some(TlsServerConfig { cert, key });
        config.admin.listen = local0();
        config.http.listen = local0();
        config.users = vec![
            user(APP_USER, APP_PASSWORD, true, true, false),
            user("native_only", "native", true, false, false),
            user("sha2_only", "sha2", false, true, false),
            user("tls_only", "tls", true, true, true),
        ];
        config.backend.credentials = Credentials {
            user: APP_USER.to_string(),
            password_env: None,
            password_file: Some(self.app_password_file()),
        };
        config.backend.tls = BackendTls { enabled: false, verify: true, ca: Some(self.tls_ca.clone()) };
        config.monitor.credentials = Credentials {
            user: MONITOR_USER.to_string(),
            password_env: None,
            password_file: Some(self.monitor_password_file()),
        };
        let member =
            |addr: SocketAddr, role| MemberConfig { address: addr.to_string(), role, weight: 1, tls: None };
        config.groups = vec![GroupConfig {
            name: "main".to_string(),
            members: vec![
                member(self.primary.addr, Role::Primary),
                member(self.replicas[0].addr, Role::Replica),
                member(self.replicas[1].addr, Role::Replica),
            ],
        }];
        config.cache.redis_url = self.redis_url();
        config.admin.users = vec![user("admin", "admin", true, true, false)];
        Ok(config)
    }
}

/// sluice running in this process. Prefer [`Proxy::shutdown`]; dropping it spawns the shutdown on the
/// current tokio runtime if there is one (at the end of a test the runtime is dropped right after, which
/// also ends sluice's tasks).
pub struct Proxy {
    addr: SocketAddr,
    running: Option<Running>,
}

/// Starts sluice in-process with `config` (see [`Topology::sluice_config`]); returns once it accepts.
/// Panics with the cause if sluice does not start; [`try_start_proxy`] returns it instead.
pub async fn start_proxy(config: Config) -> Proxy {
    try_start_proxy(config).await.expect("starting sluice in-process")
}

/// [`start_proxy`], returning errors.
pub async fn try_start_proxy(config: Config) -> anyhow::Result<Proxy> {
    // Logs from sluice show up in a failing test's output (`RUST_LOG=sluice=debug` for more).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("sluice=info")),
        )
        .with_test_writer()
        .try_init();
    let running = sluice::server::start(config).await.context("starting sluice in-process")?;
    Ok(Proxy { addr: running.addr, running: Some(running) })
}

impl Proxy {
    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin interface's address (when `[admin] enabled`).
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.running.as_ref().and_then(|r| r.admin_addr)
    }

    /// The HTTP listener's address (when `[http] enabled`).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.running.as_ref().and_then(|r| r.http_addr)
    }

    /// The in-process sluice's shared state.
    pub fn shared(&self) -> Option<&std::sync::Arc<sluice::state::Shared>> {
        self.running.as_ref().map(|r| r.shared())
    }

    /// Connection options for a client of the proxy (TCP only; no unix-socket upgrade).
    pub fn opts(&self, user: &str, password: &str) -> OptsBuilder {
        direct_opts(self.addr, user, password)
    }

    /// Stops sluice: stop accepting, drain, close.
    pub async fn shutdown(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(running) = self.running.take()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            handle.spawn(running.shutdown());
        }
    }
}
