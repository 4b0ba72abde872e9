//! The slow log: statements slower than `[log] slow_query_ms`, in MySQL's slow-query-log format (what
//! `pt-query-digest` and `mysqldumpslow` read), written by one background thread so a session never
//! waits on the disk. Sessions hand entries over a bounded channel; when it is full the entry is
//! dropped and counted. The file is rotated by size (`slow.log` → `slow.log.1` …, `slow_log_keep` kept).

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::core::config::LogConfig;

/// Entries waiting for the writer at most; past it they are dropped (counted).
const QUEUE: usize = 4096;

/// One slow statement, owned (it crosses to the writer thread).
#[derive(Debug, Clone)]
pub struct SlowEntry {
    /// When it finished.
    pub at: SystemTime,
    /// Client user.
    pub user: String,
    /// Client address.
    pub peer: IpAddr,
    /// Client connection id.
    pub session: u32,
    /// Schema, if any.
    pub schema: String,
    /// How long it took.
    pub latency: Duration,
    /// Rows sent to the client.
    pub rows_sent: u64,
    /// Rows affected.
    pub rows_affected: u64,
    /// The statement text.
    pub sql: String,
}

/// The slow log's sending side (shared by all sessions).
#[derive(Debug)]
pub struct SlowLog {
    tx: Option<SyncSender<SlowEntry>>,
    threshold_us: AtomicU64,
    queued: AtomicU64,
    dropped: AtomicU64,
    /// Entries the writer could not write (disk full, permissions); shared with the writer thread.
    failed: std::sync::Arc<AtomicU64>,
    path: Option<PathBuf>,
}

/// Why the slow log could not start.
#[derive(Debug, thiserror::Error)]
pub enum SlowLogError {
    /// `[log] slow_log` cannot be opened for appending.
    #[error("log.slow_log: cannot open {} for appending: {source}", path.display())]
    Open {
        /// The file.
        path: std::path::PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The writer thread did not start.
    #[error("cannot start the slow log thread: {0}")]
    Thread(#[source] std::io::Error),
}

impl SlowLog {
    /// Starts the writer thread when `cfg.slow_log` names a file; otherwise a slow log that discards.
    /// The file is opened (created) now, so a bad path is reported at start.
    pub fn start(cfg: &LogConfig) -> Result<Self, SlowLogError> {
        Self::start_with_queue(cfg, QUEUE)
    }

    /// [`SlowLog::start`] with a queue of `queue` entries.
    fn start_with_queue(cfg: &LogConfig, queue: usize) -> Result<Self, SlowLogError> {
        let threshold_us = AtomicU64::new(cfg.slow_query_ms.saturating_mul(1000));
        let failed = std::sync::Arc::new(AtomicU64::new(0));
        let Some(path) = cfg.slow_log.clone() else {
            return Ok(Self {
                tx: None,
                threshold_us,
                queued: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                failed,
                path: None,
            });
        };
        let file = open_append(&path).map_err(|source| SlowLogError::Open { path: path.clone(), source })?;
        let (tx, rx) = std::sync::mpsc::sync_channel(queue);
        let writer = Writer {
            size: file.metadata().map_or(0, |m| m.len()),
            file: Some(file),
            path: path.clone(),
            max_bytes: cfg.slow_log_max_bytes,
            keep: cfg.slow_log_keep,
            failed: failed.clone(),
        };
        std::thread::Builder::new()
            .name("sluice-slow-log".into())
            .spawn(move || writer.run(rx))
            .map_err(SlowLogError::Thread)?;
        Ok(Self {
            tx: Some(tx),
            threshold_us,
            queued: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            failed,
            path: Some(path),
        })
    }

    /// Whether a statement of this latency goes to the slow log (cheap: one atomic load).
    pub fn wants(&self, latency: Duration) -> bool {
        self.tx.is_some() && latency.as_micros() >= u128::from(self.threshold_us.load(Ordering::Relaxed))
    }

    /// Queues an entry without ever blocking; a full queue drops it (counted).
    pub fn submit(&self, entry: SlowEntry) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(entry) {
            Ok(()) => {
                self.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// A new `slow_query_ms` (config reload).
    pub fn set_threshold_ms(&self, ms: u64) {
        self.threshold_us.store(ms.saturating_mul(1000), Ordering::Relaxed);
    }

    /// The file written, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Entries handed to the writer.
    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::Relaxed)
    }

    /// Entries dropped because the writer was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Entries the writer failed to write.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

/// Opens the log for appending; a file it creates is 0600 (statements carry the application's values).
fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new().create(true).append(true).mode(0o600).open(path)
}

/// The writer thread's state.
struct Writer {
    file: Option<File>,
    path: PathBuf,
    size: u64,
    max_bytes: u64,
    keep: usize,
    failed: std::sync::Arc<AtomicU64>,
}

impl Writer {
    /// Writes entries until every sender is gone (the process's shared state dropped).
    fn run(mut self, rx: Receiver<SlowEntry>) {
        let mut buf = String::with_capacity(1024);
        while let Ok(e) = rx.recv() {
            buf.clear();
            format_entry(&e, &mut buf);
            if self.write(buf.as_bytes()).is_err() {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(f) = &mut self.file {
            let _ = f.flush();
        }
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let len = bytes.len() as u64;
        if self.max_bytes > 0 && self.size > 0 && self.size + len > self.max_bytes {
            self.rotate()?;
        }
        if self.file.is_none() {
            let f = open_append(&self.path)?;
            self.size = f.metadata().map_or(0, |m| m.len());
            self.file = Some(f);
        }
        let Some(f) = &mut self.file else { return Ok(()) };
        f.write_all(bytes)?;
        self.size += len;
        Ok(())
    }

    /// `slow.log.(N-1)` → `slow.log.N` … `slow.log` → `slow.log.1`; the oldest beyond `keep` goes.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        let numbered = |n: usize| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            let _ = std::fs::remove_file(numbered(self.keep));
            for n in (1..self.keep).rev() {
                let from = numbered(n);
                if from.exists() {
                    std::fs::rename(&from, numbered(n + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(1))?;
        }
        self.size = 0;
        Ok(())
    }
}

/// One entry as MySQL writes it:
///
/// ```text
/// # Time: 2026-12-01T16:30:00.123456Z
/// # User@Host: app[app] @ localhost [127.0.0.1]  Id:    12
/// # Query_time: 1.234567  Lock_time: 0.000000 Rows_sent: 1  Rows_examined: 0
/// use app;
/// SET timestamp=1764606600;
/// SELECT …;
/// ```
pub fn format_entry(e: &SlowEntry, out: &mut String) {
    let since = e.at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let _ = writeln!(out, "# Time: {}", utc_timestamp(since));
    let host = if e.peer.is_loopback() { "localhost".to_owned() } else { String::new() };
    let _ = writeln!(
        out,
        "# User@Host: {u}[{u}] @ {host} [{ip}]  Id: {id:>5}",
        u = e.user,
        ip = e.peer,
        id = e.session
    );
    let _ = writeln!(
        out,
        "# Query_time: {:.6}  Lock_time: 0.000000 Rows_sent: {}  Rows_examined: 0  Rows_affected: {}",
        e.latency.as_secs_f64(),
        e.rows_sent,
        e.rows_affected
    );
    if !e.schema.is_empty() {
        let _ = writeln!(out, "use {};", e.schema);
    }
    let _ = writeln!(out, "SET timestamp={};", since.as_secs());
    let sql = e.sql.trim_end();
    out.push_str(sql);
    if !sql.ends_with(';') {
        out.push(';');
    }
    out.push('\n');
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` for a time since the epoch (UTC; civil date from days, no tz data).
pub fn utc_timestamp(since: Duration) -> String {
    let secs = since.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-from-civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_micros()
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap; the lint guards library code
mod tests {
    use super::*;

    fn entry(sql: &str) -> SlowEntry {
        SlowEntry {
            at: UNIX_EPOCH + Duration::from_micros(1_764_606_600_123_456),
            user: "app".into(),
            peer: IpAddr::from([127, 0, 0, 1]),
            session: 12,
            schema: "shop".into(),
            latency: Duration::from_micros(1_234_567),
            rows_sent: 3,
            rows_affected: 0,
            sql: sql.into(),
        }
    }

    #[test]
    fn formats_like_mysql() {
        let mut s = String::new();
        format_entry(&entry("SELECT SLEEP(1)"), &mut s);
        assert_eq!(
            s,
            "# Time: 2025-12-01T16:30:00.123456Z\n# User@Host: app[app] @ localhost [127.0.0.1]  Id:    12\n# Query_time: 1.234567  Lock_time: 0.000000 Rows_sent: 3  Rows_examined: 0  Rows_affected: 0\nuse shop;\nSET timestamp=1764606600;\nSELECT SLEEP(1);\n"
        );
        assert_eq!(utc_timestamp(Duration::from_secs(951_782_400)), "2000-02-29T00:00:00.000000Z");
        assert_eq!(utc_timestamp(Duration::ZERO), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig { slow_log: Some(dir.path().join("slow.log")), ..LogConfig::default() };
        let log = SlowLog::start_with_queue(&cfg, 1).unwrap();
        assert!(!log.wants(Duration::from_millis(999)) && log.wants(Duration::from_millis(1000)));
        let started = std::time::Instant::now();
        for i in 0..10_000 {
            log.submit(entry(&format!("SELECT {i}")));
        }
        // Never waited for the writer: 10,000 hand-overs to a one-entry queue take far less than writes.
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        assert_eq!(log.queued() + log.dropped(), 10_000);
        assert!(log.dropped() > 0 && log.queued() > 0, "queued {} dropped {}", log.queued(), log.dropped());
        let off = SlowLog::start(&LogConfig::default()).unwrap();
        assert!(!off.wants(Duration::from_secs(60)), "no file, no slow log");
    }

    #[test]
    fn rotates_by_size_and_keeps_n() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let path = dir.join("slow.log");
        let cfg = LogConfig {
            slow_query_ms: 0,
            slow_log: Some(path.clone()),
            slow_log_max_bytes: 4096,
            slow_log_keep: 2,
            ..LogConfig::default()
        };
        let log = SlowLog::start(&cfg).unwrap();
        assert!(log.wants(Duration::ZERO));
        for i in 0..200 {
            log.submit(entry(&format!("SELECT {i} /* {} */", "x".repeat(100))));
        }
        drop(log); // the writer drains the queue and exits
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let last = "SELECT 199";
        while !std::fs::read_to_string(&path).unwrap_or_default().contains(last) {
            assert!(std::time::Instant::now() < deadline, "writer did not finish");
            std::thread::sleep(Duration::from_millis(10));
        }
        let names: Vec<String> = {
            let mut v: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names, ["slow.log", "slow.log.1", "slow.log.2"]);
        for n in &names {
            let len = std::fs::metadata(dir.join(n)).unwrap().len();
            assert!(len <= 4096, "{n}: {len}");
        }
    }
}
