//! The capture writer: one thread that takes records from the bounded queue, packs them into
//! compressed blocks and appends them to the file. Sessions never wait for it: a full queue drops.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_protocol::capture::{self as format, Record};

/// Pending records are written at least this often, so a capture file is never far behind.
const FLUSH_EVERY: Duration = Duration::from_millis(200);

/// The writer polls the queue this often when it is empty. Polling instead of blocking means a
/// session's `try_send` never has to wake the writer (a futex call and a contended waker lock per
/// statement, measured); the queue holds `queue_records`, far more than arrive in 5 ms.
const POLL: Duration = Duration::from_millis(5);

/// What a capture has done so far (shared by the sessions, the writer and the admin interface).
#[derive(Debug, Default)]
pub struct Counters {
    /// Statements accepted into the queue.
    pub queued: AtomicU64,
    /// Statements dropped: the queue was full (the writer fell behind) or the writer had failed.
    pub dropped: AtomicU64,
    /// Records written to the file.
    pub written: AtomicU64,
    /// Bytes written to the file.
    pub bytes: AtomicU64,
    /// The writer has finished (file closed).
    pub done: AtomicBool,
    /// Why the writer stopped early, if it did.
    pub error: Mutex<Option<String>>,
}

impl Counters {
    fn fail(&self, e: &std::io::Error, path: &str) {
        tracing::error!(file = path, error = %e, "capture writer failed; capture records are dropped from now on");
        if let Ok(mut slot) = self.error.lock() {
            *slot = Some(e.to_string());
        }
    }
}

/// Starts the writer thread: magic first, then blocks of at most about `block_bytes` of records,
/// a footer when the queue's senders are gone, then fsync.
pub fn spawn(
    mut file: std::fs::File,
    path: String,
    rx: Receiver<Record>,
    counters: Arc<Counters>,
    block_bytes: usize,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("sluice-capture".into()).spawn(move || {
        let mut w = Writer {
            raw: Vec::with_capacity(block_bytes + 4096),
            scratch: Vec::with_capacity(1024),
            pending: 0,
            counters: &counters,
        };
        if let Err(e) = w.run(&mut file, &rx, block_bytes) {
            counters.fail(&e, &path);
        }
        drop(rx); // senders now fail at once: counted as dropped
        counters.done.store(true, Ordering::Release);
    })
}

struct Writer<'a> {
    raw: Vec<u8>,
    scratch: Vec<u8>,
    pending: u64,
    counters: &'a Counters,
}

impl Writer<'_> {
    fn run(
        &mut self,
        file: &mut std::fs::File,
        rx: &Receiver<Record>,
        block_bytes: usize,
    ) -> std::io::Result<()> {
        file.write_all(format::MAGIC)?;
        self.counters.bytes.fetch_add(format::MAGIC.len() as u64, Ordering::Relaxed);
        let mut last_flush = Instant::now();
        loop {
            match rx.try_recv() {
                Ok(r) => {
                    format::encode_with(&r, &mut self.raw, &mut self.scratch);
                    self.pending += 1;
                    if self.raw.len() >= block_bytes {
                        self.flush(file)?;
                        last_flush = Instant::now();
                    }
                    continue;
                }
                Err(TryRecvError::Empty) => std::thread::sleep(POLL),
                Err(TryRecvError::Disconnected) => break,
            }
            if self.pending > 0 && last_flush.elapsed() >= FLUSH_EVERY {
                self.flush(file)?;
                last_flush = Instant::now();
            }
        }
        let footer = Record::Footer {
            written: self.counters.written.load(Ordering::Relaxed) + self.pending,
            dropped: self.counters.dropped.load(Ordering::Relaxed),
        };
        format::encode(&footer, &mut self.raw);
        self.flush(file)?; // the footer is not counted as written: `pending` did not include it
        file.sync_all().or_else(|e| {
            // A pipe or a character device cannot be synced; that is not a failure of the capture.
            if e.kind() == std::io::ErrorKind::InvalidInput { Ok(()) } else { Err(e) }
        })
    }

    fn flush(&mut self, file: &mut std::fs::File) -> std::io::Result<()> {
        if self.raw.is_empty() {
            return Ok(());
        }
        let b = format::block(&self.raw);
        file.write_all(&b)?;
        self.counters.bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
        self.counters.written.fetch_add(self.pending, Ordering::Relaxed);
        self.raw.clear();
        self.pending = 0;
        Ok(())
    }
}
