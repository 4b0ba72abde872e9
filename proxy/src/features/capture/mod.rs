//! Traffic capture: every client statement as it arrived (session, time offset, user, schema, text or
//! prepared text + parameters, duration, rows, error, transaction state, commit GTID) into a compact
//! append-only file that `sluice replay` reads.
//!
//! ```text
//! session ─► is_on()? (one atomic load) ─► submit: try_send into a bounded queue ─► writer thread
//!                                              │ full: dropped += 1 (never waits)      blocks → file
//! ```
//!
//! Started by `[capture] enabled` at startup or `CAPTURE START 'file' [DURATION n]` on the admin
//! interface; stopped by `CAPTURE STOP`, the duration, or shutdown (the queue's senders go away).

pub mod mask;
mod writer;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use tokio_util::sync::CancellationToken;

pub use crate::core::config::Mask;
pub use sluice_protocol::capture::{Command, Record, Statement};
pub use writer::Counters;

/// One capture, running or finished.
#[derive(Debug)]
pub struct Status {
    /// The capture file.
    pub file: PathBuf,
    /// When it started, ms since the epoch.
    pub started_unix_ms: u64,
    /// The primary's GTID position read at start (empty until read, or unknown).
    pub start_gtid: Mutex<String>,
    /// Stops by itself after this long.
    pub duration: Option<Duration>,
    /// Its counters.
    pub counters: Arc<Counters>,
    generation: u64,
}

impl Status {
    /// `on`, `stopping` (the writer is finishing), `failed: …` or `off`.
    pub fn state(&self, running: bool) -> String {
        let failed = self.counters.error.lock().ok().and_then(|e| e.clone());
        match (running, self.counters.done.load(Ordering::Acquire), failed) {
            (_, _, Some(e)) => format!("failed: {e}"),
            (true, _, None) => "on".into(),
            (false, false, None) => "stopping".into(),
            (false, true, None) => "off".into(),
        }
    }
}

struct Live {
    tx: SyncSender<Record>,
    started: Instant,
    status: Arc<Status>,
}

/// The capture switch, shared by all sessions.
pub struct Capture {
    on: AtomicBool,
    live: ArcSwapOption<Live>,
    last: Mutex<Option<Arc<Status>>>,
    generation: AtomicU64,
    mask: Mask,
    queue: usize,
    block_bytes: usize,
}

impl Capture {
    /// An idle capture with the `[capture]` settings.
    pub fn new(c: &crate::core::config::CaptureConfig) -> Self {
        Self {
            on: AtomicBool::new(false),
            live: ArcSwapOption::empty(),
            last: Mutex::new(None),
            generation: AtomicU64::new(0),
            mask: c.mask,
            queue: c.queue_records.max(1),
            block_bytes: c.block_bytes.max(1024),
        }
    }

    /// Whether statements are being captured: the only cost a session pays when capture is off.
    #[inline]
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// The masking in effect.
    pub fn mask(&self) -> Mask {
        self.mask
    }

    /// Queues one statement that arrived at `at`; `build` gets its offset from the capture start in µs.
    /// Never waits: a full queue counts a drop.
    pub fn submit(&self, at: Instant, build: impl FnOnce(u64) -> Statement) {
        let guard = self.live.load();
        let Some(live) = guard.as_ref() else { return };
        let offset = at.saturating_duration_since(live.started).as_micros() as u64;
        let c = &live.status.counters;
        match live.tx.try_send(Record::Statement(build(offset))) {
            Ok(()) => c.queued.fetch_add(1, Ordering::Relaxed),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                c.dropped.fetch_add(1, Ordering::Relaxed)
            }
        };
    }

    /// Starts capturing into `file` (which must not exist, be empty, or not be a regular file: a FIFO
    /// or a device). Returns the capture's status; [`Capture::set_position`] adds the start GTID.
    pub fn start(&self, file: PathBuf, duration: Option<Duration>) -> Result<Arc<Status>, CaptureError> {
        let mut last = self.last.lock().map_err(|_| CaptureError::Poisoned)?;
        if let Some(live) = self.live.load().as_ref() {
            return Err(CaptureError::Running(live.status.file.clone()));
        }
        if let Ok(m) = std::fs::metadata(&file)
            && m.is_file()
            && m.len() > 0
        {
            return Err(CaptureError::NotEmpty(file));
        }
        // 0600 when created: a capture holds statements as sent (the application's values).
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .mode(0o600)
            .create(true)
            .truncate(false) // an empty file or a FIFO: nothing to keep or cut
            .open(&file)
            .map_err(|source| CaptureError::Open { file: file.clone(), source })?;
        let (tx, rx) = std::sync::mpsc::sync_channel(self.queue);
        let counters = Arc::new(Counters::default());
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let header = Record::Header { unix_ms: now, version: env!("CARGO_PKG_VERSION").into() };
        // The queue is empty: the header always fits and is the first record.
        let _ = tx.try_send(header);
        writer::spawn(f, file.display().to_string(), rx, counters.clone(), self.block_bytes)
            .map_err(CaptureError::Writer)?;
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let status = Arc::new(Status {
            file,
            started_unix_ms: now,
            start_gtid: Mutex::new(String::new()),
            duration,
            counters,
            generation,
        });
        self.live.store(Some(Arc::new(Live { tx, started: Instant::now(), status: status.clone() })));
        self.on.store(true, Ordering::Release);
        *last = Some(status.clone());
        tracing::info!(file = %status.file.display(), ?duration, "capture started");
        Ok(status)
    }

    /// Records the primary's GTID position for the running capture `status` (read after capture was
    /// switched on: replay skips captured transactions the position already covers).
    pub fn set_position(&self, status: &Status, gtid: String) {
        if let Some(live) = self.live.load().as_ref()
            && live.status.generation == status.generation
            && live.tx.try_send(Record::Position(gtid.clone())).is_err()
        {
            status.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(mut g) = status.start_gtid.lock() {
            *g = gtid;
        }
    }

    /// Stops the running capture; the writer finishes the file in the background (state `stopping`
    /// until it has).
    pub fn stop(&self) -> Result<Arc<Status>, CaptureError> {
        self.stop_if(None)
    }

    /// Stops capture `generation` only (a DURATION timer must not stop a later capture).
    fn stop_if(&self, generation: Option<u64>) -> Result<Arc<Status>, CaptureError> {
        let _last = self.last.lock().map_err(|_| CaptureError::Poisoned)?;
        let current = self.live.load_full().ok_or(CaptureError::NotRunning)?;
        if generation.is_some_and(|g| g != current.status.generation) {
            return Err(CaptureError::AlreadyStopped);
        }
        self.on.store(false, Ordering::Release);
        self.live.store(None);
        let status = current.status.clone();
        tracing::info!(
            file = %status.file.display(),
            queued = status.counters.queued.load(Ordering::Relaxed),
            dropped = status.counters.dropped.load(Ordering::Relaxed),
            "capture stopped"
        );
        Ok(status)
    }

    /// Stops a running capture and waits up to `wait` for its writer to close the file (shutdown: the
    /// process must not exit with the last block unwritten).
    pub async fn finish(&self, wait: Duration) {
        let _ = self.stop();
        let Some((status, _)) = self.status() else { return };
        let deadline = crate::core::clock::after(Instant::now(), wait);
        while !status.counters.done.load(Ordering::Acquire) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The running or last capture, and whether it is running.
    pub fn status(&self) -> Option<(Arc<Status>, bool)> {
        let last = self.last.lock().ok()?.clone()?;
        Some((last, self.is_on()))
    }
}

/// Why a capture did not start or stop (the admin statement's ERR says it).
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// A capture runs already (into this file).
    #[error("a capture is already running into {}; CAPTURE STOP it first", .0.display())]
    Running(PathBuf),
    /// The file holds data.
    #[error("capture file {} exists and is not empty; name a new file", .0.display())]
    NotEmpty(PathBuf),
    /// The file cannot be opened.
    #[error("cannot open capture file {}: {source}", file.display())]
    Open {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The writer thread did not start.
    #[error("cannot start the capture writer: {0}")]
    Writer(#[source] std::io::Error),
    /// No capture runs.
    #[error("no capture is running")]
    NotRunning,
    /// A DURATION timer found its capture already stopped.
    #[error("that capture has already stopped")]
    AlreadyStopped,
    /// A thread panicked while holding the capture state.
    #[error("capture state poisoned")]
    Poisoned,
}

/// Starts a capture, reads the primary's GTID position into it (`gtid`, awaited once the file is
/// open) and arms the DURATION timer (which `shutdown` ends early).
pub async fn start<E: std::fmt::Display>(
    capture: &Arc<Capture>,
    file: PathBuf,
    duration: Option<Duration>,
    gtid: impl Future<Output = Result<String, E>>,
    shutdown: &CancellationToken,
) -> Result<Arc<Status>, CaptureError> {
    let status = capture.start(file, duration)?;
    let gtid = gtid.await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "capture: the primary's GTID position could not be read");
        String::new()
    });
    capture.set_position(&status, gtid);
    if let Some(d) = duration {
        let (me, shutdown) = (capture.clone(), shutdown.clone());
        let generation = status.generation;
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(d) => { let _ = me.stop_if(Some(generation)); }
                () = shutdown.cancelled() => {}
            }
        });
    }
    Ok(status)
}

/// `[capture] enabled`: starts capturing at startup, and stops on shutdown so the file is complete.
pub async fn start_from_config<E: std::fmt::Display>(
    capture: &Arc<Capture>,
    c: &crate::core::config::CaptureConfig,
    gtid: impl Future<Output = Result<String, E>>,
    shutdown: &CancellationToken,
) {
    if c.enabled
        && let Err(e) = start(capture, c.file.clone(), None, gtid, shutdown).await
    {
        tracing::error!(error = %e, "[capture] enabled, but capture did not start");
    }
    let (me, shutdown) = (capture.clone(), shutdown.clone());
    tokio::spawn(async move {
        shutdown.cancelled().await;
        let _ = me.stop();
    });
}
