//! The `sluice` binary: run the proxy, check a config, hash a password for `[[users]]`, or print the
//! DDL of a sharded table's physical tables.

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
    /// Config file (TOML) to run with; see deploy/sluice.example.toml.
    #[arg(long, short, value_name = "FILE", env = "SLUICE_CONFIG")]
    config: Option<PathBuf>,
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::CheckConfig { file }) => check_config(&file),
        Some(Command::HashPassword { password, stdin }) => hash_password(password, stdin),
        Some(Command::ShardDdl { config, template, template_file }) => {
            shard_ddl(&config, template, template_file)
        }
        None => match cli.config {
            Some(path) => run(&path),
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
fn run(path: &Path) -> Result<(), String> {
    let config = Config::load(path)?;
    sluice::logging::init(&config.log);
    sluice::server::run(config).map_err(|e| e.to_string())
}

fn check_config(file: &Path) -> Result<(), String> {
    Config::load(file)?;
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
