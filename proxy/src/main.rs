//! The `sluice` binary: run the proxy, check a config, or hash a password for `[[users]]`.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sluice::config::Config;
use sluice_protocol::auth::{
    native_hash_to_string, native_password_hash, sha2_hash_to_string, sha2_password_hash,
};

/// sluice: an SQL-aware MySQL/MariaDB proxy.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Config file (TOML) to run with.
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a config file: prints `FILE: ok` or every problem with its line.
    CheckConfig {
        /// The file.
        file: PathBuf,
    },
    /// Print the hashes of a password as `[[users]]` lines (sluice stores hashes, never passwords).
    HashPassword {
        /// The password (or use --stdin).
        password: Option<String>,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        stdin: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = std::io::stdout().lock();
    match cli.command {
        Some(Command::CheckConfig { file }) => match Config::load(&file) {
            Ok(_) => {
                let _ = writeln!(out, "{}: ok", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Some(Command::HashPassword { password, stdin }) => {
            let pw = match (password, stdin) {
                (Some(p), false) => p,
                (None, true) => {
                    let mut line = String::new();
                    if std::io::stdin().lock().read_line(&mut line).is_err() {
                        eprintln!("sluice: cannot read stdin");
                        return ExitCode::FAILURE;
                    }
                    line.trim_end_matches(['\n', '\r']).to_owned()
                }
                _ => {
                    eprintln!("sluice: give a password or --stdin");
                    return ExitCode::FAILURE;
                }
            };
            let n = native_hash_to_string(&native_password_hash(pw.as_bytes()));
            let s = sha2_hash_to_string(&sha2_password_hash(pw.as_bytes()));
            let _ = writeln!(out, "mysql_native_password = \"{n}\"\ncaching_sha2_password = \"{s}\"");
            ExitCode::SUCCESS
        }
        None => {
            let Some(path) = cli.config else {
                eprintln!("sluice: --config FILE is required (see deploy/sluice.example.toml)");
                return ExitCode::FAILURE;
            };
            let config = match Config::load(&path) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            sluice::logging::init(&config.log);
            match sluice::server::run(config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("sluice: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
