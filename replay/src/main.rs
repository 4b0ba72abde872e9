//! The `sluice-replay` binary, also run as `sluice replay` (the `sluice` binary runs this one with the
//! same arguments): replay a capture (or a MariaDB general/slow log) against a server and compare
//! latencies.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use sluice_replay::{self as replay, Options};

/// Replay a capture (or a MariaDB general/slow log) against a server and compare latencies.
#[derive(Parser)]
#[command(version, about)]
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
    match run(ReplayArgs::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            for line in e.to_string().lines() {
                eprintln!("sluice replay: {line}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Builds the options, runs the replay on a tokio runtime, prints the summary.
fn run(a: ReplayArgs) -> Result<(), replay::Error> {
    let (host, port) = replay::parse_target(&a.target)?;
    if !(a.speed.is_finite() && a.speed >= 0.0) {
        return Err(replay::Error::flag(
            "speed",
            a.speed,
            "takes a number of 0 or more (0 = as fast as possible)",
        ));
    }
    let duration = match a.duration {
        Some(d) if d.is_finite() && d > 0.0 => Some(replay::clock::secs_f64(d)),
        Some(d) => return Err(replay::Error::flag("duration", d, "takes seconds above 0")),
        None => None,
    };
    if !(a.order_timeout.is_finite() && a.order_timeout > 0.0) {
        return Err(replay::Error::flag("order-timeout", a.order_timeout, "takes seconds above 0"));
    }
    let mut schema_map = Vec::new();
    for m in &a.map_schema {
        let (from, to) =
            m.split_once('=').ok_or_else(|| replay::Error::flag("map-schema", m, "is not FROM=TO"))?;
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
        order_timeout: replay::clock::secs_f64(a.order_timeout),
        progress: !a.quiet,
    };
    let rt =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(replay::Error::Runtime)?;
    let summary = rt.block_on(replay::replay(opts))?;
    if let Some(path) = &a.html {
        // 0600: the report quotes captured statements.
        write_private(path, replay::html::render(&summary).as_bytes())
            .map_err(|source| replay::Error::Report { path: path.clone(), source })?;
    }
    let mut out = std::io::stdout().lock();
    if a.json {
        let doc = serde_json::to_string_pretty(&summary)?;
        writeln!(out, "{doc}").map_err(replay::Error::Stdout)
    } else {
        replay::report::write_text(&summary, &mut out).map_err(replay::Error::Stdout)
    }
}

/// Writes `bytes` to a new file at `path` with mode 0600, as the proxy's `private_fs::write_new` does:
/// a stale file there is removed first, so neither an older file's mode nor a symlink planted there
/// (O_EXCL does not follow it) is used.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
