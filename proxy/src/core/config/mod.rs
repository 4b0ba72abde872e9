//! sluice's configuration: one TOML file, deserialized with `deny_unknown_fields`, validated at start.
//!
//! Every field has a documented default so a minimal file is short. Secrets (backend passwords) are never
//! in the file itself: they come from an environment variable or a file the config names.
//! [`Config::load`] = read + [`Config::parse`] + [`Config::apply_env`] + [`Config::validate`]; every
//! problem is reported with its key path and line (`sluice.toml:12: groups[0].members[1].address: …`).

mod advice;
mod capture;
mod env;
mod error;
mod firewall;
mod load;
mod secret;
mod sharding;
mod size;
mod source;
mod validate;
mod warn;

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use advice::AdviceConfig;
pub use capture::{CaptureConfig, Mask};
pub use error::{ConfigError, ConfigIssue};
pub use firewall::{FirewallConfig, FirewallMode};
pub use secret::redact_url;
pub use sharding::{
    ListValue, MigrationConfig, RangeConfig, ReadFrom, ShardFunctionConfig, ShardMode, ShardedTableConfig,
    ShardingConfig,
};
pub use size::parse_size;
pub use warn::is_loopback;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The client-facing listener.
    #[serde(default)]
    pub server: ServerConfig,
    /// The admin interface (MySQL protocol) listener.
    #[serde(default)]
    pub admin: AdminConfig,
    /// The HTTP listener for `/metrics`, `/status`, `/health`.
    #[serde(default)]
    pub http: HttpConfig,
    /// Client-facing accounts (hashes only).
    #[serde(default)]
    pub users: Vec<UserConfig>,
    /// Credentials and timeouts sluice uses toward backends.
    #[serde(default)]
    pub backend: BackendConfig,
    /// The account the health monitor uses.
    #[serde(default)]
    pub monitor: MonitorConfig,
    /// Backend groups: a primary and its replicas. The first group is the default.
    #[serde(default)]
    pub groups: Vec<GroupConfig>,
    /// Backend connection pools.
    #[serde(default)]
    pub pool: PoolConfig,
    /// Read/write split, balancing and read-your-writes.
    #[serde(default)]
    pub routing: RoutingConfig,
    /// Ordered rules: the first whose `match` fits a statement applies its action.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// The result cache.
    #[serde(default)]
    pub cache: CacheConfig,
    /// Sharded tables.
    #[serde(default)]
    pub sharding: ShardingConfig,
    /// Logging and the slow log.
    #[serde(default)]
    pub log: LogConfig,
    /// Per-digest statistics.
    #[serde(default)]
    pub stats: StatsConfig,
    /// Advice from what sessions run (N+1 loops, missing indexes, plan lints).
    #[serde(default)]
    pub advice: AdviceConfig,
    /// Traffic capture for `sluice replay`.
    #[serde(default)]
    pub capture: CaptureConfig,
    /// The digest allowlist.
    #[serde(default)]
    pub firewall: FirewallConfig,
    /// The text this config was parsed from, so [`Config::validate`] can name lines; `None` when the
    /// config was built in code.
    #[serde(skip)]
    source: Option<source::Source>,
}

/// `[server]`: the client-facing listener.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address clients connect to. Default `127.0.0.1:6033`; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Client connections beyond this get ERR 1040. Default 10000.
    pub max_client_connections: usize,
    /// Worker threads; 0 = one per core. Default 0. Env `SLUICE_WORKERS`.
    pub workers: usize,
    /// Server version sluice announces; empty = the primary's version, learned at start. Default empty.
    pub server_version: String,
    /// Auth plugin announced in the handshake: `mysql_native_password` or `caching_sha2_password` (default).
    pub default_auth_plugin: AuthPlugin,
    /// A client must finish its handshake within this many milliseconds (the admin port too). Default 10000.
    pub handshake_timeout_ms: u64,
    /// Connections from one source address (an IPv6 /64) that may be in the handshake at once, i.e.
    /// connected but not yet logged in; more get ERR 1040. Stops one address from filling every
    /// `max_client_connections` slot with connections that never log in. 0 = no limit. Default 1024 (an
    /// application pool warming up from one host opens hundreds of connections at once).
    pub max_handshakes_per_ip: usize,
    /// Listen backlog of the client, admin and HTTP sockets (capped by the kernel's somaxconn). A burst
    /// of connections larger than the backlog loses some silently: the client waits for a greeting that
    /// never comes. Default 4096.
    pub listen_backlog: u32,
    /// Every client connection starts with a PROXY protocol v2 header (from HAProxy, an NLB, a
    /// Kubernetes Service…): its source address is the client's in logs, digests and SHOW SESSIONS.
    /// A connection without one is closed. Default false.
    pub proxy_protocol: bool,
    /// Oldest TLS version clients may use (`[server.tls]`): `"1.2"` or `"1.3"`. Default "1.2".
    pub tls_min_version: TlsVersion,
    /// On SIGTERM (or the old process of an upgrade), statements in flight and open transactions get
    /// this long to finish. Default 30000.
    pub shutdown_grace_ms: u64,
    /// While draining, a session outside a transaction is closed once it has been idle this long (a
    /// pool's idle connection: the pool sees it closed and reconnects, to the new process in an
    /// upgrade). COM_PING, COM_RESET_CONNECTION and COM_CHANGE_USER (a pool validating it or giving it
    /// back) get ERR 1053 and close it, so the pool takes a new connection. Default 250.
    pub drain_idle_ms: u64,
    /// Unix socket the listening sockets are handed over on in a zero-downtime upgrade (`sluice
    /// --upgrade`). Its directory must be private to sluice's user: created 0700 when missing, made
    /// 0700 when others may read it, and sluice refuses to start when it is someone else's or others
    /// may write to it (pingora binds the socket 0666 and takes the first connection without checking
    /// the peer, so the directory is the access control). Default `/run/sluice/upgrade.sock` when
    /// `/run/sluice` is ours or `/run` is writable (root), else `/tmp/sluice-<uid>/upgrade.sock`.
    pub upgrade_sock: Option<PathBuf>,
    /// File sluice writes its process id to once it listens; `sluice --upgrade` sends SIGQUIT to the
    /// process it names (the old one) to start the handover. Default none.
    pub pid_file: Option<PathBuf>,
    /// Largest packet (payload) a client may send, bytes (or a size such as `"64MiB"`). Default 64 MiB.
    #[serde(deserialize_with = "size::size_usize")]
    pub max_packet_bytes: usize,
    /// Prepared statements one client session may hold open (COM_STMT_PREPARE without CLOSE); past it
    /// the PREPARE gets the server's ERR 1461 (42000), as `max_prepared_stmt_count` does. Default 4096.
    pub max_prepared_statements: usize,
    /// TLS toward clients; absent = no TLS offered.
    pub tls: Option<TlsServerConfig>,
}

/// Auth plugins sluice speaks toward clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthPlugin {
    /// SHA1-based scramble; MariaDB's default.
    MysqlNativePassword,
    /// SHA256-based scramble; MySQL 8's default.
    CachingSha2Password,
}

/// `[server.tls]`: certificate and key (PEM files).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// `[admin]`: the admin interface.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Admin listener; default `127.0.0.1:6032`. Absent from the file = still this default.
    pub listen: SocketAddr,
    /// Whether the admin interface runs. Default true.
    pub enabled: bool,
    /// Admin accounts (same hash fields as `[[users]]`).
    pub users: Vec<UserConfig>,
    /// Admin connections open at once (logged in or not); more get ERR 1040. The admin port has no
    /// business with many connections, and each one not yet logged in is an anonymous peer's.
    /// 0 = no limit. Default 64.
    pub max_connections: usize,
}

/// `[http]`: metrics and health over HTTP.
///
/// `/metrics`, `/live`, `/ready` and `/health` are always open (Prometheus, Kubernetes probes). The
/// status page `/` and `/status`, `/digests`, `/advice` (backends, errors, users, schemas, statement
/// shapes) need the token once one is configured; without one they are open only when `listen` is a
/// loopback address, and answer 403 otherwise.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// HTTP listener; default `127.0.0.1:9033`.
    pub listen: SocketAddr,
    /// Whether the HTTP listener runs. Default true.
    pub enabled: bool,
    /// Environment variable holding the token the status endpoints require (`Authorization: Bearer
    /// <token>`, or HTTP basic auth as `user` with the token as password). At most one of this and
    /// `token_file`. Default none.
    pub token_env: Option<String>,
    /// File holding the token (one trailing newline ignored). Default none.
    pub token_file: Option<PathBuf>,
    /// User name HTTP basic auth expects (with the token as its password). Default `sluice`.
    pub user: String,
    /// `/digests` and `/advice` show statements as sent, literals included (a digest's last sample);
    /// false shows only normalized text (`where id = ?`). Default false.
    pub show_literals: bool,
    /// HTTP connections open at once; more get 503 and are closed. 0 = no limit. Default 64.
    pub max_connections: usize,
    /// A client must send its whole request head within this, ms, or is dropped; a kept-alive
    /// connection idle this long is closed. Default 5000.
    pub request_timeout_ms: u64,
    /// A response must be written (read by the client) within this, ms, or the connection is
    /// dropped. Default 10000.
    pub write_timeout_ms: u64,
}

/// `[[users]]`: one client-facing account (and `[[admin.users]]`: one admin account). At least one hash
/// must be given, or instead `password_env` / `password_file`. Its `Debug` hides the hashes.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// User name clients log in with.
    pub name: String,
    /// `mysql_native_password` hash: `*` + 40 hex digits of SHA1(SHA1(password)), as `PASSWORD()` prints;
    /// `""` for an empty password (what MySQL stores for one).
    #[serde(default)]
    pub mysql_native_password: Option<String>,
    /// `caching_sha2_password` hash: 64 hex digits of SHA256(SHA256(password)) (`sluice hash-password`);
    /// `""` for an empty password.
    #[serde(default)]
    pub caching_sha2_password: Option<String>,
    /// Schema used when the client names none. Default none.
    #[serde(default)]
    pub default_schema: Option<String>,
    /// Refuse this user unless the connection uses TLS. Default false.
    #[serde(default)]
    pub require_tls: bool,
    /// Connections this user may hold at once; 0 = no limit. Default 0.
    #[serde(default)]
    pub max_connections: usize,
    /// Backend credentials for this user; absent = `[backend]`'s.
    #[serde(default)]
    pub backend: Option<Credentials>,
    /// Instead of the hashes: an environment variable holding the password (a Kubernetes Secret, a
    /// Docker env var); sluice hashes it at start and keeps only the hashes. Default none.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Instead of the hashes: a file holding the password (one trailing newline ignored). Default none.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

/// A user name and where its password comes from (never the password itself).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// Backend user name.
    pub user: String,
    /// Environment variable holding the password. Exactly one of this and `password_file` is given.
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding the password (one trailing newline ignored).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

/// `[backend]`: how sluice connects to backends.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackendConfig {
    /// Default backend credentials. Default user `app`, password from env `SLUICE_BACKEND_PASSWORD`.
    pub credentials: Credentials,
    /// TCP connect + handshake timeout toward a backend, ms. Default 3000.
    pub connect_timeout_ms: u64,
    /// Longest wait for a backend's next packet while a statement runs, ms; 0 = none. Default 0.
    pub read_timeout_ms: u64,
    /// TLS toward backends.
    pub tls: BackendTls,
    /// Oldest TLS version offered to backends: `"1.2"` or `"1.3"`. Default "1.2".
    pub tls_min_version: TlsVersion,
    /// PEM file with the backends' RSA public key (MySQL's `public_key.pem`) for caching_sha2_password
    /// full authentication without TLS: the password is encrypted with it. Default none: sluice asks
    /// the server for its key when it needs it (like `--get-server-public-key`), which a man in the
    /// middle could answer with his own; pin the key here, or use TLS, where that matters. One key for
    /// every member: they must share the key pair (`caching_sha2_password_public_key_path`).
    pub server_public_key_file: Option<PathBuf>,
}

/// A TLS protocol version floor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3.
    #[default]
    #[serde(rename = "1.2")]
    V12,
    /// TLS 1.3 only.
    #[serde(rename = "1.3")]
    V13,
}

/// `[backend.tls]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackendTls {
    /// Use TLS toward backends (members may override). Default false.
    pub enabled: bool,
    /// Verify the backend certificate. Default true.
    pub verify: bool,
    /// CA bundle (PEM) the backends' certificates must chain to; required when `enabled` and `verify`.
    pub ca: Option<PathBuf>,
}

/// `[monitor]`: the health monitor's account and cadence.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    /// Monitor credentials. Default user `monitor`, password from env `SLUICE_MONITOR_PASSWORD`.
    pub credentials: Credentials,
    /// Health check interval, ms. Default 1000.
    pub interval_ms: u64,
    /// A replica lagging more than this is not used for reads, ms. Default 5000.
    pub max_replica_lag_ms: u64,
    /// Optional heartbeat table `schema.table` for lag to the millisecond (instead of
    /// `Seconds_Behind_Master`'s whole seconds): the monitor creates it and writes `UTC_TIMESTAMP(6)`
    /// into it on the primary every check and reads its age on replicas. The monitor account needs
    /// CREATE, INSERT, UPDATE, SELECT on that schema. Default none.
    pub heartbeat_table: Option<String>,
    /// The account replicas log in to their primary with: admin `SWITCHOVER` points the old primary at
    /// the new one with it. Default none (SWITCHOVER refuses until it is set). The monitor account
    /// itself then needs READ_ONLY ADMIN, REPLICATION SLAVE ADMIN and RELOAD (RESET SLAVE ALL).
    pub replication_credentials: Option<Credentials>,
    /// How long SWITCHOVER waits for the primary's running statements and transactions to finish, and
    /// then for the new primary to catch up, before it gives up and changes nothing, ms. New writes
    /// are held meanwhile. Default 5000.
    pub switchover_timeout_ms: u64,
}

/// `[[groups]]`: a primary and its replicas (a shard is a group too).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// Group name, unique.
    pub name: String,
    /// The servers.
    pub members: Vec<MemberConfig>,
}

/// One backend server.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MemberConfig {
    /// `host:port`.
    pub address: String,
    /// `primary`, `replica` or `auto` (read_only decides). Default `auto`.
    #[serde(default)]
    pub role: Role,
    /// Relative share of reads. Default 1.
    #[serde(default = "one")]
    pub weight: u32,
    /// Override `[backend.tls] enabled` for this member.
    #[serde(default)]
    pub tls: Option<bool>,
}

/// A member's role.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Takes writes.
    Primary,
    /// Takes reads.
    Replica,
    /// Decided by the monitor from `read_only`.
    #[default]
    Auto,
}

/// `[pool]`: backend connection pools.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolConfig {
    /// Connections per backend per backend user. Default 64. Env `SLUICE_POOL_SIZE`.
    pub max_per_backend: usize,
    /// Connections per backend across all its pools (a pool per backend user, FOUND_ROWS flag and
    /// client collation: clients choose the last two, so without this cap one client could make sluice
    /// open `max_per_backend` connections per collation). When a backend has this many, a new
    /// connection closes an idle one of another pool, or waits `checkout_timeout_ms` for one to close.
    /// Default 256.
    pub max_connections_per_backend: usize,
    /// Idle connections kept open per backend. Default 0.
    pub min_idle: usize,
    /// Longest wait for a free connection, ms. Default 3000.
    pub checkout_timeout_ms: u64,
    /// Idle connections are closed after this, ms. Default 60000.
    pub idle_timeout_ms: u64,
    /// Connections are closed after this age, ms. Default 3600000.
    pub max_lifetime_ms: u64,
    /// Statements kept prepared per backend connection (least recently used closed first). Keep
    /// `connections × this` under the server's `max_prepared_stmt_count`. Default 128.
    pub max_prepared_per_connection: usize,
    /// A connection kept after a statement for the session's next one (after a write, for
    /// `ROW_COUNT()`; after warnings or an error, for `SHOW WARNINGS`) goes back to the pool once the
    /// session has been idle this long, ms, so idle clients hold no backend connection. Default 50.
    pub hold_idle_ms: u64,
    /// The same for a connection kept because the session's last statement left warnings or an
    /// error, which only that connection can show (SHOW WARNINGS, @@warning_count): a client usually
    /// asks at once, but may think first. Default 2000.
    pub hold_diagnostics_ms: u64,
}

/// `[routing]`: where statements go.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// Send reads to replicas at all. Default true.
    pub read_write_split: bool,
    /// How reads spread over replicas: `round_robin` (default), `weighted`, `least_connections`.
    pub balance: BalanceConfig,
    /// No replica qualifies for a read: `primary` (default) sends it there, `error` refuses it.
    pub fallback: FallbackConfig,
    /// Reads after a write in the same session: `gtid` (default: a replica serves them once it has
    /// applied the write, waiting up to `gtid_wait_timeout_ms`, else the primary does), `primary_window`
    /// (the primary serves them for `primary_window_ms`), or `off`.
    pub read_your_writes: ReadYourWrites,
    /// Whose writes a read must see: `user` (default: every earlier write of any session of the same
    /// user — an application's connection pool spreads one request over several connections),
    /// `global` (every session's writes; MaxScale's causal_reads = global), or `session` (its own only).
    pub read_your_writes_scope: WriteScope,
    /// For `primary_window`, ms. Default 1000.
    pub primary_window_ms: u64,
    /// For `gtid`: longest wait for a replica to apply a session's last write, ms. Default 100.
    pub gtid_wait_timeout_ms: u64,
    /// With autocommit off, every statement opens a transaction: keep the session on the primary from
    /// its first statement until COMMIT/ROLLBACK (ProxySQL's autocommit_false_is_transaction). With
    /// false, such sessions' reads may go to replicas while no transaction is open. Default true.
    pub autocommit_false_is_transaction: bool,
    /// Query shapes whose plan is kept. Default 10000.
    pub plan_cache_entries: usize,
}

/// Replica balancing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BalanceConfig {
    /// In turn.
    #[default]
    RoundRobin,
    /// By `weight`.
    Weighted,
    /// Fewest connections in use.
    LeastConnections,
}

/// When no replica qualifies for a read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackConfig {
    /// Read from the primary.
    #[default]
    Primary,
    /// Refuse the read.
    Error,
}

/// Whose writes read-your-writes covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteScope {
    /// The session's own writes.
    Session,
    /// The writes of every session of the same user.
    #[default]
    User,
    /// Every session's writes.
    Global,
}

/// Read-your-writes mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadYourWrites {
    /// Replicas that have applied the session's last write (by GTID).
    #[default]
    Gtid,
    /// The primary for a while after a write.
    PrimaryWindow,
    /// No guarantee.
    Off,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            read_write_split: true,
            balance: BalanceConfig::RoundRobin,
            fallback: FallbackConfig::Primary,
            read_your_writes: ReadYourWrites::Gtid,
            read_your_writes_scope: WriteScope::User,
            primary_window_ms: 1_000,
            gtid_wait_timeout_ms: 100,
            autocommit_false_is_transaction: true,
            plan_cache_entries: 10_000,
        }
    }
}

/// `[[rules]]`: one ordered rule: match → action.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Name shown in stats. Default `rule<N>`.
    #[serde(default)]
    pub name: Option<String>,
    /// What the rule matches; all given conditions must hold.
    #[serde(rename = "match", default)]
    pub matches: RuleMatch,
    /// What it does.
    pub action: RuleAction,
    /// For `route`: `primary`, `replica` or a group name.
    #[serde(default)]
    pub target: Option<String>,
    /// For `cache`: entry time-to-live, ms.
    #[serde(default)]
    pub ttl_ms: Option<u64>,
    /// For `block`: the message the client gets.
    #[serde(default)]
    pub message: Option<String>,
    /// Statement time limit, ms (with `timeout`, `route`, `cache` or `nocache`): past it sluice sends
    /// `KILL QUERY` for the statement's backend thread on another connection, and the client gets
    /// ERR 1969 (70100) naming the rule; the session carries on.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// The conditions of a rule.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleMatch {
    /// Client user name.
    pub user: Option<String>,
    /// Current schema.
    pub schema: Option<String>,
    /// Digest id (16 hex digits).
    pub digest: Option<String>,
    /// Substring of the normalized statement text (`select c from sbtest1 where id = ?`).
    pub pattern: Option<String>,
    /// Regular expression over the normalized statement text (case-insensitive).
    pub regex: Option<String>,
    /// Any of these tables (`table` or `schema.table`).
    pub tables: Vec<String>,
}

/// A rule's action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    /// Send to `target`.
    Route,
    /// Cache results for `ttl_ms`.
    Cache,
    /// Never cache.
    Nocache,
    /// Refuse with `message`.
    Block,
    /// Only limit the statement's time to `timeout_ms` (routing and caching as without the rule).
    Timeout,
}

/// `[cache]`: the result cache. Its `Debug` masks the Redis URL's password.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Cache on/off. Default false. Env `SLUICE_CACHE`.
    pub enabled: bool,
    /// L1 size in bytes, or a size such as `"64MiB"`. Default 64 MiB. Env `SLUICE_L1_SIZE`.
    #[serde(deserialize_with = "size::size_u64")]
    pub l1_size: u64,
    /// L2 Redis URL; empty = no L2. Default empty.
    pub redis_url: String,
    /// L2 on/off (with a URL). Default true. Env `SLUICE_REDIS`.
    pub redis_enabled: bool,
    /// TTL when a rule gives none, ms. Default 60000.
    pub default_ttl_ms: u64,
    /// Larger results are not stored: bytes, or a size such as `"1MiB"`. Default 1 MiB.
    #[serde(deserialize_with = "size::size_u64")]
    pub max_entry_bytes: u64,
    /// Every Redis call gives up after this many ms (L2 is then marked down and sessions carry on with
    /// L1 and the backend). Default 50.
    pub redis_timeout_ms: u64,
    /// Cache every cacheable SELECT (with `default_ttl_ms`), not only those a `cache` rule, a
    /// `/* sluice: cache */` hint or `SQL_CACHE` selects. Default false.
    pub cache_all: bool,
    /// Refresh ahead, ms: when less than this is left of an entry's TTL, one session runs the query
    /// again and refills it while the others are still served the entry. Default 0 (off).
    pub refresh_ahead_ms: u64,
}

/// `[stats]`: per-digest statistics.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatsConfig {
    /// Record statements at all (digest table, slow log, advice; `/metrics` totals stay). Off only to
    /// measure what recording costs. Default true.
    pub enabled: bool,
    /// Most (digest, user, schema) entries kept; the least recently seen is evicted past it. Each holds
    /// a latency sketch of at most ~4 KiB. Default 10000.
    pub max_digests: usize,
}

impl Default for StatsConfig {
    fn default() -> Self {
        Self { enabled: true, max_digests: 10_000 }
    }
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// tracing filter, e.g. `info` or `sluice=debug`. Default `info`. Env `SLUICE_LOG_LEVEL`.
    pub level: String,
    /// `text` or `json`. Default `text`.
    pub format: LogFormat,
    /// Statements slower than this go to the slow log, ms. Default 1000.
    pub slow_query_ms: u64,
    /// Slow log file (MySQL's slow-query-log format, which `pt-query-digest` reads); absent = no slow
    /// log. Written by a background thread: sessions never wait on it (entries past a full queue are
    /// dropped and counted in `sluice_slow_log_dropped_total`). A change needs a restart.
    pub slow_log: Option<PathBuf>,
    /// The slow log is rotated when it would grow past this many bytes (or a size such as `"100MiB"`):
    /// `slow.log` → `slow.log.1` → … ; 0 = never rotated. Default 100 MiB.
    #[serde(deserialize_with = "size::size_u64")]
    pub slow_log_max_bytes: u64,
    /// Rotated slow log files kept (`slow.log.1` … `slow.log.N`). Default 5.
    pub slow_log_keep: usize,
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

fn one() -> u32 {
    1
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)))
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: addr("127.0.0.1:6033"),
            max_client_connections: 10_000,
            workers: 0,
            server_version: String::new(),
            default_auth_plugin: AuthPlugin::CachingSha2Password,
            handshake_timeout_ms: 10_000,
            max_handshakes_per_ip: 1024,
            listen_backlog: 4096,
            proxy_protocol: false,
            tls_min_version: TlsVersion::V12,
            shutdown_grace_ms: 30_000,
            drain_idle_ms: 250,
            upgrade_sock: None,
            pid_file: None,
            max_packet_bytes: 64 << 20,
            max_prepared_statements: 4096,
            tls: None,
        }
    }
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self { listen: addr("127.0.0.1:6032"), enabled: true, users: Vec::new(), max_connections: 64 }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: addr("127.0.0.1:9033"),
            enabled: true,
            token_env: None,
            token_file: None,
            user: "sluice".into(),
            show_literals: false,
            max_connections: 64,
            request_timeout_ms: 5_000,
            write_timeout_ms: 10_000,
        }
    }
}

impl Default for BackendConfig {
    fn default() -> Self {
        Self {
            credentials: Credentials {
                user: "app".into(),
                password_env: Some("SLUICE_BACKEND_PASSWORD".into()),
                password_file: None,
            },
            connect_timeout_ms: 3_000,
            read_timeout_ms: 0,
            tls: BackendTls::default(),
            tls_min_version: TlsVersion::V12,
            server_public_key_file: None,
        }
    }
}

// By hand, not derived: a derived default would make `verify` false whenever a `[backend.tls]` table
// is present without it, contradicting the documented default (and silently skipping verification).
impl Default for BackendTls {
    fn default() -> Self {
        Self { enabled: false, verify: true, ca: None }
    }
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            credentials: Credentials {
                user: "monitor".into(),
                password_env: Some("SLUICE_MONITOR_PASSWORD".into()),
                password_file: None,
            },
            interval_ms: 1_000,
            max_replica_lag_ms: 5_000,
            heartbeat_table: None,
            replication_credentials: None,
            switchover_timeout_ms: 5_000,
        }
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_per_backend: 64,
            max_connections_per_backend: 256,
            min_idle: 0,
            checkout_timeout_ms: 3_000,
            idle_timeout_ms: 60_000,
            max_lifetime_ms: 3_600_000,
            max_prepared_per_connection: 128,
            hold_idle_ms: 50,
            hold_diagnostics_ms: 2_000,
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            l1_size: 64 << 20,
            redis_url: String::new(),
            redis_enabled: true,
            default_ttl_ms: 60_000,
            max_entry_bytes: 1 << 20,
            redis_timeout_ms: 50,
            cache_all: false,
            refresh_ahead_ms: 0,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
            slow_query_ms: 1_000,
            slow_log: None,
            slow_log_max_bytes: 100 << 20,
            slow_log_keep: 5,
        }
    }
}
#[cfg(test)]
mod tests;
