//! `sluice-replay` (also run as `sluice replay`): runs a captured workload (or a MariaDB general/slow
//! log) against a target server, session by session on their own connections, at the captured pace
//! scaled by `--speed`, writes in the captured order, and reports per-digest latency now vs then.
//!
//! Its own crate and binary, so the proxy does not link a MySQL client driver (mysql_async) it never
//! uses: the `sluice` binary runs this one for `sluice replay` (see the proxy's `main.rs`). It reads
//! capture files with `sluice_protocol::capture`, the format the proxy's capture writer encodes.
//!
//! ```text
//! read (capture / general / slow) → Workload → plan (skip covered, --duration, --read-only; ranks)
//!   → refuse writes without --allow-writes → run sessions (exec.rs) + progress line → summary
//! ```
//! Safety: it connects only to `--target`, and a workload with writes is refused unless
//! `--allow-writes` (or `--read-only` skips them, or `--dry-run` connects nowhere).

pub use sluice_protocol::clock;
mod error;
pub mod exec;
pub mod html;
pub mod logs;
pub mod report;
pub mod workload;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub use error::{Error, WorkloadError};
pub use report::Summary;
pub use workload::Workload;

/// What the file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A sluice capture file.
    Capture,
    /// A MariaDB/MySQL general query log.
    General,
    /// A MariaDB/MySQL slow query log.
    Slow,
}

impl std::str::FromStr for Format {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "capture" => Ok(Self::Capture),
            "general" => Ok(Self::General),
            "slow" => Ok(Self::Slow),
            _ => Err(Error::UnknownFormat(s.to_owned())),
        }
    }
}

/// Replay settings (the CLI's flags).
/// Replay settings; `Debug` hides the password.
#[derive(Clone)]
pub struct Options {
    /// The capture or log.
    pub file: PathBuf,
    /// Its format.
    pub format: Format,
    /// Target host.
    pub host: String,
    /// Target port.
    pub port: u16,
    /// User for every session (default: each session's captured user).
    pub user: Option<String>,
    /// Password.
    pub password: String,
    /// Pace: 2.0 = twice as fast as captured; 0 = as fast as possible.
    pub speed: f64,
    /// At most this many sessions at once, in order of their first statement (`None`: as captured,
    /// with the captured write order; with a limit there is no write order).
    pub concurrency: Option<usize>,
    /// Only statements due within this much replay time.
    pub duration: Option<Duration>,
    /// Skip writes.
    pub read_only: bool,
    /// Analyze only; connect nowhere.
    pub dry_run: bool,
    /// Replay writes.
    pub allow_writes: bool,
    /// Captured schema → target schema.
    pub schema_map: Vec<(String, String)>,
    /// Longest wait for the write order before a statement runs anyway.
    pub order_timeout: Duration,
    /// Print the progress line on stderr.
    pub progress: bool,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            file,
            format,
            host,
            port,
            user,
            password,
            speed,
            concurrency,
            duration,
            read_only,
            dry_run,
            allow_writes,
            schema_map,
            order_timeout,
            progress,
        } = self;
        f.debug_struct("Options")
            .field("file", file)
            .field("format", format)
            .field("host", host)
            .field("port", port)
            .field("user", user)
            .field("password", &if password.is_empty() { "<none>" } else { "<hidden>" })
            .field("speed", speed)
            .field("concurrency", concurrency)
            .field("duration", duration)
            .field("read_only", read_only)
            .field("dry_run", dry_run)
            .field("allow_writes", allow_writes)
            .field("schema_map", schema_map)
            .field("order_timeout", order_timeout)
            .field("progress", progress)
            .finish()
    }
}

impl Options {
    /// The target schema for a captured one.
    pub fn map_schema(&self, s: &str) -> String {
        self.schema_map.iter().find(|(from, _)| from == s).map_or_else(|| s.to_owned(), |(_, to)| to.clone())
    }
}

/// `HOST:PORT` (`[v6]:PORT` too).
pub fn parse_target(s: &str) -> Result<(String, u16), Error> {
    let bad = |why| Error::flag("target", s, why);
    let (host, port) = s.rsplit_once(':').ok_or_else(|| bad("is not HOST:PORT"))?;
    let port = port.parse().map_err(|_| bad("is not HOST:PORT (the port is not a number 0-65535)"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    Ok((host.to_owned(), port))
}

/// `--concurrency preserve|N`.
pub fn parse_concurrency(s: &str) -> Result<Option<usize>, Error> {
    if s == "preserve" {
        return Ok(None);
    }
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(Error::flag("concurrency", s, "takes preserve or a number above 0")),
    }
}

/// Reads the workload and plans it.
pub fn load(opts: &Options) -> Result<Workload, Error> {
    let mut w = match opts.format {
        Format::Capture => Workload::read_capture(&opts.file)?,
        Format::General | Format::Slow => {
            let bytes = std::fs::read(&opts.file)
                .map_err(|source| Error::Read { path: opts.file.clone(), source })?;
            let text = String::from_utf8_lossy(&bytes);
            let parsed = if opts.format == Format::General {
                logs::parse_general(&text)
            } else {
                logs::parse_slow(&text)
            };
            parsed.map_err(|source| Error::Workload { path: opts.file.clone(), source })?
        }
    };
    let duration_us = opts.duration.map(|d| d.as_micros() as u64);
    w.plan(opts.read_only, opts.concurrency.is_none(), duration_us, opts.speed);
    Ok(w)
}

/// The refusal for a workload with writes and no `--allow-writes`.
pub fn check_writes(w: &Workload, opts: &Options) -> Result<(), Error> {
    if opts.allow_writes || opts.read_only || opts.dry_run {
        return Ok(());
    }
    let mut writes = w.events().filter(|e| e.write && !e.skip);
    let Some(first) = writes.next() else { return Ok(()) };
    Err(Error::Writes {
        writes: 1 + writes.count(),
        first: first.sql.chars().take(80).collect(),
        target: format!("{}:{}", opts.host, opts.port),
    })
}

/// Runs a replay and returns its summary.
pub async fn replay(opts: Options) -> Result<Summary, Error> {
    replay_outcomes(opts).await.map(|(s, _)| s)
}

/// [`replay`], with every statement's outcome too.
pub async fn replay_outcomes(opts: Options) -> Result<(Summary, Vec<exec::Outcome>), Error> {
    let w = load(&opts)?;
    check_writes(&w, &opts)?;
    let target = format!("{}:{}", opts.host, opts.port);
    if opts.dry_run {
        return Ok((report::summarize(&w, &[], "dry-run".into(), opts.speed, 0.0, (0, 0)), Vec::new()));
    }
    let total = w.events().filter(|e| !e.skip).count() as u64;
    let (w, opts) = (Arc::new(w), Arc::new(opts));
    let progress = Arc::new(exec::Progress::default());
    let started = Instant::now();
    let ticker = opts.progress.then(|| tokio::spawn(progress_line(progress.clone(), total, started)));
    let outcomes = exec::run(&w, &opts, &progress).await;
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(t) = ticker {
        t.abort();
        print_progress(&progress, total, started, true);
    }
    let counters =
        (progress.order_timeouts.load(Ordering::Relaxed), progress.connect_failures.load(Ordering::Relaxed));
    Ok((report::summarize(&w, &outcomes, target, opts.speed, elapsed, counters), outcomes))
}

async fn progress_line(p: Arc<exec::Progress>, total: u64, started: Instant) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        print_progress(&p, total, started, false);
    }
}

fn print_progress(p: &exec::Progress, total: u64, started: Instant, last: bool) {
    let done = p.done.load(Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64().max(1e-3);
    let line = format!(
        "replay: {done}/{total} statements, {:.0} qps, {} errors, {:.1}s",
        done as f64 / secs,
        p.errors.load(Ordering::Relaxed),
        secs
    );
    if std::io::stderr().is_terminal() {
        eprint!("\r{line}{}", if last { "\n" } else { "" });
    } else {
        eprintln!("{line}");
    }
}

#[cfg(test)]
mod debug_tests {
    use super::*;

    #[test]
    fn options_debug_hides_the_password() {
        let o = Options {
            file: "f.cap".into(),
            format: Format::Capture,
            host: "db".into(),
            port: 3306,
            user: Some("app".into()),
            password: "R3playPw".into(),
            speed: 1.0,
            concurrency: None,
            duration: None,
            read_only: false,
            dry_run: false,
            allow_writes: false,
            schema_map: Vec::new(),
            order_timeout: Duration::from_secs(1),
            progress: false,
        };
        let shown = format!("{o:?}");
        assert!(!shown.contains("R3playPw") && shown.contains("<hidden>"), "{shown}");
    }
}
