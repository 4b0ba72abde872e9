//! The `sluice` binary: run the proxy, check a config, hash a password for `[[users]]`, print the DDL of
//! a sharded table's physical tables, or replay a captured workload (by running `sluice-replay`).

use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sluice::config::{Config, ConfigError};
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
    ///
    /// Runs the `sluice-replay` binary (next to this one, else on PATH) with these arguments; see
    /// `sluice replay --help`.
    #[command(disable_help_flag = true)]
    Replay {
        /// The arguments of `sluice-replay`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<OsString>,
    },
}

/// Why a command failed (exit code 1). Printed one `sluice: ` line per line of its text: a config error
/// lists every issue on its own line.
#[derive(Debug, thiserror::Error)]
enum CliError {
    /// Running the proxy without `--config`.
    #[error("--config FILE is required (see deploy/sluice.example.toml and --help)")]
    NoConfig,
    /// The config cannot be read or is invalid.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The proxy could not start or stopped on an error.
    #[error("{0}")]
    Server(#[source] std::io::Error),
    /// Reading stdin or writing stdout/stderr failed.
    #[error("{doing}: {source}")]
    Io {
        /// `reading stdin`, `writing to stdout`, `writing to stderr`.
        doing: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// `shard-ddl` without a template.
    #[error("--template or --template-file is required")]
    NoTemplate,
    /// `--template-file` cannot be read.
    #[error("reading {}: {source}", path.display())]
    TemplateFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `shard-ddl` with a config that shards nothing.
    #[error("the config shards no table ([sharding] enabled = true and [[sharding.tables]])")]
    NothingSharded,
    /// The template fits no sharded table: the router's reason for the last one tried.
    #[error("{0}")]
    Template(#[source] sluice_router::shard::DdlError),
}

/// An I/O error while `doing` something on the standard streams.
fn io(doing: &'static str) -> impl FnOnce(std::io::Error) -> CliError {
    move |source| CliError::Io { doing, source }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::CheckConfig { file }) => check_config(&file),
        Some(Command::HashPassword { password, stdin }) => hash_password(password, stdin),
        Some(Command::Replay { args }) => return replay(args),
        Some(Command::ShardDdl { config, template, template_file }) => {
            shard_ddl(&config, template, template_file)
        }
        None => match cli.config {
            Some(path) => run(&path, cli.upgrade),
            None => Err(CliError::NoConfig),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One `sluice:` prefix per line: a config error lists every issue on its own line.
            for line in e.to_string().lines() {
                eprintln!("sluice: {line}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Loads the config, starts logging and runs the proxy until it shuts down.
fn run(path: &Path, upgrade: bool) -> Result<(), CliError> {
    let config = Config::load(path)?;
    sluice::logging::init(&config.log);
    for w in config.warnings() {
        let at = w.line.map_or_else(|| path.display().to_string(), |l| format!("{}:{l}", path.display()));
        tracing::warn!(config = %at, key = %w.path, "{}", w.message);
    }
    sluice::server::run(config, path, upgrade).map_err(CliError::Server)
}

/// Loads and validates `file`; prints `FILE: ok` and, on stderr, every warning (`sluice: FILE:LINE:
/// key: warning: …`), which do not fail the check.
fn check_config(file: &Path) -> Result<(), CliError> {
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
                .map_err(io("writing to stderr"))?;
        }
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}: ok", file.display()).map_err(io("writing to stdout"))
}

fn hash_password(password: Option<String>, stdin: bool) -> Result<(), CliError> {
    let pw = match password {
        Some(p) if !stdin => p,
        _ => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).map_err(io("reading stdin"))?;
            // Only the line ending goes: spaces may be part of the password.
            line.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(&line).to_owned()
        }
    };
    let native = native_hash_to_string(&native_password_hash(pw.as_bytes()));
    let sha2 = sha2_hash_to_string(&sha2_password_hash(pw.as_bytes()));
    let mut out = std::io::stdout().lock();
    writeln!(out, "mysql_native_password = \"{native}\"\ncaching_sha2_password = \"{sha2}\"")
        .map_err(io("writing to stdout"))
}

/// The binary `sluice replay` runs: replay lives in its own binary so the proxy does not link a MySQL
/// client driver.
const REPLAY_BIN: &str = "sluice-replay";

/// `sluice replay ARGS…`: runs `sluice-replay ARGS…` in this process's place (exec, as git runs
/// `git-<command>`), so its exit code, output and signals are the replay's own. It is looked for next to
/// this executable first (installed together; a build's target directory), then on PATH. Missing: one
/// error line and exit code 127 (a shell's "command not found").
fn replay(args: Vec<OsString>) -> ExitCode {
    use std::os::unix::process::CommandExt;
    let here = std::env::current_exe().ok().and_then(|exe| exe.parent().map(|d| d.join(REPLAY_BIN)));
    let on_path = || {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths).map(|d| d.join(REPLAY_BIN)).find(|p| is_executable(p))
        })
    };
    let Some(bin) = here.filter(|p| is_executable(p)).or_else(on_path) else {
        eprintln!(
            "sluice: `sluice replay` needs the {REPLAY_BIN} binary, found neither next to sluice nor on PATH: \
             install it beside sluice (it is built by `cargo build --release -p sluice-replay`)"
        );
        return ExitCode::from(127);
    };
    // argv[0] "sluice replay": its usage and help then name the command the user typed.
    let err = std::process::Command::new(&bin).arg0("sluice replay").args(args).exec();
    eprintln!("sluice: running {}: {err}", bin.display());
    ExitCode::from(127)
}

/// A file this user may execute.
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `sluice shard-ddl`: the CREATE statements of every physical table of a sharded table.
fn shard_ddl(config: &Path, template: Option<String>, file: Option<PathBuf>) -> Result<(), CliError> {
    let config = Config::load(config)?;
    let template = match (template, file) {
        (Some(t), _) => t,
        (None, Some(path)) => {
            std::fs::read_to_string(&path).map_err(|source| CliError::TemplateFile { path, source })?
        }
        (None, None) => return Err(CliError::NoTemplate),
    };
    let map = config.sharding.shard_map(&config.groups);
    if map.is_empty() {
        return Err(CliError::NothingSharded);
    }
    let mut last = None;
    for t in &map.tables {
        match sluice_router::shard::ddl::shard_ddl(t, &template) {
            Ok(stmts) => {
                let mut out = std::io::stdout().lock();
                for s in stmts {
                    writeln!(out, "{s}").map_err(io("writing to stdout"))?;
                }
                return Ok(());
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.map_or(CliError::NothingSharded, CliError::Template))
}
