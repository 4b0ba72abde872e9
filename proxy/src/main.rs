//! The `sluice` binary: run the proxy, check a config, hash a password for `[[users]]`, replay a captured
//! workload, or print the DDL of a sharded table's physical tables.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sluice::config::Config;
use sluice_protocol::auth::{
    native_hash_to_string, native_password_hash, sha2_hash_to_string, sha2_password_hash,
};

/// sluice: an SQL-aware MySQL/MariaDB proxy.
///
/// Environment overrides (applied after the file): SLUICE_LISTEN, SLUICE_WORKERS, SLUICE_POOL_SIZE,
/// SLUICE_CACHE, SLUICE_L1_SIZE, SLUICE_REDIS, SLUICE_REDIS_URL, SLUICE_LOG_LEVEL.
#[derive(Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    /// Config file (TOML) to run with; see deploy/sluice.example.toml. SIGHUP (or the admin interface's
    /// RELOAD) reads it again and applies what can change without dropping connections.
    #[arg(long, short, value_name = "FILE", env = "SLUICE_CONFIG")]
    config: Option<PathBuf>,
    /// Zero-downtime upgrade: take the listening socket over from the running sluice (fd handoff on
    /// `[server] upgrade_sock`). With `[server] pid_file` set, the old process is sent SIGQUIT
    /// automatically; otherwise send it yourself within 5 s. SIGUSR2 to a running sluice starts this
    /// itself (under systemd: `systemctl kill -s USR2 --kill-whom=main sluice`). The old process
    /// finishes its statements and transactions, closes its sessions as they go idle, and exits.
    #[arg(long)]
    upgrade: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a config file (with the SLUICE_* overrides): prints `FILE: ok`, or every problem with
    /// its line and exits 1.
    CheckConfig {
        /// The file.
        file: PathBuf,
    },
    /// Print the hashes of a password as `[[users]]` lines (sluice stores hashes, never passwords).
    HashPassword {
        /// The password. It shows in `ps` and shell history: prefer --stdin.
        #[arg(required_unless_present = "stdin")]
        password: Option<String>,
        /// Read the password from the first line of stdin.
        #[arg(long, conflicts_with = "password")]
        stdin: bool,
    },
    /// Print the CREATE statements of every physical table of a sharded table, from a template CREATE
    /// TABLE of the logical table (only the table name changes; a schema per shard gets a CREATE
    /// DATABASE). Run the output on each shard's primary (every group in database mode).
    ShardDdl {
        /// The config file naming the table in [[sharding.tables]].
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// The logical table's CREATE TABLE, e.g. the output of SHOW CREATE TABLE on an unsharded copy.
        #[arg(long, required_unless_present = "template_file")]
        template: Option<String>,
        /// Read the template from this file instead.
        #[arg(long, conflicts_with = "template")]
        template_file: Option<PathBuf>,
    },
    /// Replay a capture (or a MariaDB general/slow log) against a server and compare latencies.
    Replay(Box<ReplayArgs>),
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// The capture file (or log, with --format).
    file: PathBuf,
    /// Where to replay: HOST:PORT. Nothing else is ever connected to.
    #[arg(long)]
    target: String,
    /// User for every session (default: each session's captured user).
    #[arg(long)]
    user: Option<String>,
    /// Password (also env SLUICE_REPLAY_PASSWORD).
    #[arg(long, env = "SLUICE_REPLAY_PASSWORD", default_value = "", hide_env_values = true)]
    password: String,
    /// Pace relative to the capture: 2.0 = twice as fast; 0 = as fast as possible.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// `preserve` (one connection per captured session, all at once) or N (at most N sessions at once).
    #[arg(long, default_value = "preserve")]
    concurrency: String,
    /// Replay only what is due within S seconds of replay time.
    #[arg(long, value_name = "S")]
    duration: Option<f64>,
    /// Skip writes (replay reads only).
    #[arg(long)]
    read_only: bool,
    /// Read and analyze the file; connect nowhere.
    #[arg(long)]
    dry_run: bool,
    /// Replay writes too (they change data on the target: use a copy).
    #[arg(long)]
    allow_writes: bool,
    /// The summary as one JSON document on stdout (instead of the table).
    #[arg(long)]
    json: bool,
    /// Also write a self-contained HTML report with latency plots.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// capture, general (general query log) or slow (slow query log).
    #[arg(long, default_value = "capture")]
    format: String,
    /// Captured schema FROM replays in schema TO (repeatable).
    #[arg(long, value_name = "FROM=TO")]
    map_schema: Vec<String>,
    /// Longest wait (s) for the captured write order before a statement runs anyway.
    #[arg(long, default_value_t = 10.0)]
    order_timeout: f64,
    /// No progress line on stderr.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::CheckConfig { file }) => check_config(&file),
        Some(Command::HashPassword { password, stdin }) => hash_password(password, stdin),
        Some(Command::Replay(args)) => replay(*args),
        Some(Command::ShardDdl { config, template, template_file }) => {
            shard_ddl(&config, template, template_file)
        }
        None => match cli.config {
            Some(path) => run(&path, cli.upgrade),
            None => Err("--config FILE is required (see deploy/sluice.example.toml and --help)".into()),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One `sluice:` prefix per line: a config error lists every issue on its own line.
            for line in e.lines() {
                eprintln!("sluice: {line}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Loads the config, starts logging and runs the proxy until it shuts down.
fn run(path: &Path, upgrade: bool) -> Result<(), String> {
    let config = Config::load(path)?;
    sluice::logging::init(&config.log);
    for w in config.warnings() {
        let at = w.line.map_or_else(|| path.display().to_string(), |l| format!("{}:{l}", path.display()));
        tracing::warn!(config = %at, key = %w.path, "{}", w.message);
    }
    sluice::server::run(config, path, upgrade).map_err(|e| e.to_string())
}

/// Loads and validates `file`; prints `FILE: ok` and, on stderr, every warning (`sluice: FILE:LINE:
/// key: warning: …`), which do not fail the check.
fn check_config(file: &Path) -> Result<(), String> {
    let config = Config::load(file)?;
    let warnings = config.warnings();
    if !warnings.is_empty() {
        let mut err = std::io::stderr().lock();
        for w in warnings {
            let at = w
                .line
                .map(|l| format!("{}:{l}", file.display()))
                .unwrap_or_else(|| file.display().to_string());
            writeln!(err, "sluice: {at}: {}: warning: {}", w.path, w.message)
                .map_err(|e| format!("writing to stderr: {e}"))?;
        }
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}: ok", file.display()).map_err(|e| format!("writing to stdout: {e}"))
}

fn hash_password(password: Option<String>, stdin: bool) -> Result<(), String> {
    let pw = match password {
        Some(p) if !stdin => p,
        _ => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).map_err(|e| format!("reading stdin: {e}"))?;
            // Only the line ending goes: spaces may be part of the password.
            line.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(&line).to_owned()
        }
    };
    let native = native_hash_to_string(&native_password_hash(pw.as_bytes()));
    let sha2 = sha2_hash_to_string(&sha2_password_hash(pw.as_bytes()));
    let mut out = std::io::stdout().lock();
    writeln!(out, "mysql_native_password = \"{native}\"\ncaching_sha2_password = \"{sha2}\"")
        .map_err(|e| format!("writing to stdout: {e}"))
}

/// `sluice replay`: builds the options, runs the replay on a tokio runtime, prints the summary.
fn replay(a: ReplayArgs) -> Result<(), String> {
    use sluice::replay::{self, Options};
    let (host, port) = replay::parse_target(&a.target)?;
    if !(a.speed.is_finite() && a.speed >= 0.0) {
        return Err(format!("--speed {}: a number of 0 or more (0 = as fast as possible)", a.speed));
    }
    let duration = match a.duration {
        Some(d) if d.is_finite() && d > 0.0 => Some(sluice::clock::secs_f64(d)),
        Some(d) => return Err(format!("--duration {d}: seconds above 0")),
        None => None,
    };
    if !(a.order_timeout.is_finite() && a.order_timeout > 0.0) {
        return Err(format!("--order-timeout {}: seconds above 0", a.order_timeout));
    }
    let mut schema_map = Vec::new();
    for m in &a.map_schema {
        let (from, to) = m.split_once('=').ok_or_else(|| format!("--map-schema {m:?} is not FROM=TO"))?;
        schema_map.push((from.to_owned(), to.to_owned()));
    }
    let opts = Options {
        file: a.file,
        format: a.format.parse()?,
        host,
        port,
        user: a.user,
        password: a.password,
        speed: a.speed,
        concurrency: replay::parse_concurrency(&a.concurrency)?,
        duration,
        read_only: a.read_only,
        dry_run: a.dry_run,
        allow_writes: a.allow_writes,
        schema_map,
        order_timeout: sluice::clock::secs_f64(a.order_timeout),
        progress: !a.quiet,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    let summary = rt.block_on(replay::replay(opts))?;
    if let Some(path) = &a.html {
        // 0600: the report quotes captured statements.
        sluice::private_fs::write_new(path, replay::html::render(&summary).as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    if a.json {
        let doc = serde_json::to_string_pretty(&summary).map_err(|e| format!("encoding the summary: {e}"))?;
        writeln!(out, "{doc}").map_err(|e| format!("writing to stdout: {e}"))
    } else {
        replay::report::write_text(&summary, &mut out).map_err(|e| format!("writing to stdout: {e}"))
    }
}

/// `sluice shard-ddl`: the CREATE statements of every physical table of a sharded table.
fn shard_ddl(config: &Path, template: Option<String>, file: Option<PathBuf>) -> Result<(), String> {
    let config = Config::load(config)?;
    let template = match (template, file) {
        (Some(t), _) => t,
        (None, Some(f)) => {
            std::fs::read_to_string(&f).map_err(|e| format!("reading {}: {e}", f.display()))?
        }
        (None, None) => return Err("--template or --template-file is required".into()),
    };
    let map = config.sharding.shard_map(&config.groups);
    if map.is_empty() {
        return Err("the config shards no table ([sharding] enabled = true and [[sharding.tables]])".into());
    }
    let mut last = String::new();
    for t in &map.tables {
        match sluice_router::shard::ddl::shard_ddl(t, &template) {
            Ok(stmts) => {
                let mut out = std::io::stdout().lock();
                for s in stmts {
                    writeln!(out, "{s}").map_err(|e| format!("writing to stdout: {e}"))?;
                }
                return Ok(());
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}
