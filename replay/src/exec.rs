//! Running a workload: one connection per session (mysql_async), statements at their captured times
//! scaled by the speed, prepared statements re-prepared (once per connection, the driver's statement
//! cache), ranked statements in the write order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use tokio::sync::{Semaphore, watch};

use super::Options;
use super::workload::{Event, Script, Workload};

/// CR_SERVER_LOST: the connection failed (not a server error).
const SERVER_LOST: u16 = 2013;

/// What one replayed statement did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Session index in the workload.
    pub session: usize,
    /// Event index in its session.
    pub event: usize,
    /// µs from the replay's start to the statement's start.
    pub at_us: u64,
    /// Latency, µs.
    pub latency_us: u64,
    /// Error code, 0 for success.
    pub error: u16,
}

/// Live counters for the progress line.
#[derive(Debug, Default)]
pub struct Progress {
    /// Statements done.
    pub done: AtomicU64,
    /// Of which failed.
    pub errors: AtomicU64,
    /// Waits for the write order that timed out.
    pub order_timeouts: AtomicU64,
    /// Sessions that could not connect.
    pub connect_failures: AtomicU64,
}

/// The write order: rank `r` may run once every rank below it is done.
struct Sequencer {
    done: Mutex<(usize, Vec<bool>)>,
    next: watch::Sender<usize>,
}

impl Sequencer {
    fn new(ranks: usize) -> Self {
        Self { done: Mutex::new((0, vec![false; ranks])), next: watch::Sender::new(0) }
    }

    /// Waits until every rank below `rank` is done, at most `timeout`. False when it timed out.
    async fn wait(&self, rank: usize, timeout: Duration) -> bool {
        let mut rx = self.next.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|n| *n >= rank)).await.is_ok_and(|r| r.is_ok())
    }

    fn finish(&self, rank: usize) {
        let Ok(mut g) = self.done.lock() else { return };
        let (next, done) = &mut *g;
        if let Some(d) = done.get_mut(rank) {
            *d = true;
        }
        while *next < done.len() && done[*next] {
            *next += 1;
        }
        let n = *next;
        drop(g);
        self.next.send_replace(n);
    }
}

/// Runs every session; returns the outcomes in no particular order.
pub async fn run(w: &Arc<Workload>, opts: &Arc<Options>, progress: &Arc<Progress>) -> Vec<Outcome> {
    let seq = Arc::new(Sequencer::new(w.ranks));
    // `--concurrency N`: sessions take N slots in order (the plan has no write order then: a session
    // waiting for a slot cannot be waited for).
    let limit = Arc::new(Semaphore::new(opts.concurrency.unwrap_or(w.sessions.len()).max(1)));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut out = Vec::new();
    for si in 0..w.sessions.len() {
        // Sessions take slots in order; a later one starts when an earlier one has finished.
        let slot = loop {
            tokio::select! {
                p = limit.clone().acquire_owned() => break p,
                Some(r) = tasks.join_next(), if !tasks.is_empty() => collect(&mut out, r),
            }
        };
        let Ok(slot) = slot else { break };
        let (w, opts, progress, seq) = (w.clone(), opts.clone(), progress.clone(), seq.clone());
        tasks.spawn(async move {
            let _slot = slot;
            let mut s =
                Runner { opts: &opts, progress: &progress, seq: &seq, start, conn: None, schema: None };
            s.session(si, &w.sessions[si]).await
        });
    }
    while let Some(r) = tasks.join_next().await {
        collect(&mut out, r);
    }
    out
}

fn collect(out: &mut Vec<Outcome>, r: Result<Vec<Outcome>, tokio::task::JoinError>) {
    match r {
        Ok(v) => out.extend(v),
        Err(e) => tracing::error!(error = %e, "a replay session task failed"),
    }
}

struct Runner<'a> {
    opts: &'a Options,
    progress: &'a Progress,
    seq: &'a Sequencer,
    start: Instant,
    conn: Option<mysql_async::Conn>,
    /// The schema the connection is in, when known.
    schema: Option<String>,
}

impl Runner<'_> {
    async fn session(&mut self, si: usize, script: &Script) -> Vec<Outcome> {
        let mut out = Vec::with_capacity(script.events.len());
        for (ei, e) in script.events.iter().enumerate() {
            if e.skip {
                continue;
            }
            if self.opts.speed > 0.0 {
                let due = crate::clock::after(
                    self.start,
                    crate::clock::secs_f64(e.offset_us as f64 / 1e6 / self.opts.speed),
                );
                tokio::time::sleep_until(due.into()).await;
            }
            if let Some(rank) = e.rank
                && !self.seq.wait(rank, self.opts.order_timeout).await
            {
                self.progress.order_timeouts.fetch_add(1, Ordering::Relaxed);
                let next = *self.seq.next.borrow();
                tracing::warn!(session = script.id, rank, next, sql = %e.sql, "replay: the write order did not come in time; running anyway");
            }
            let at = self.start.elapsed();
            let r = self.one(script, e).await;
            let latency = self.start.elapsed().saturating_sub(at);
            if let Some(rank) = e.rank {
                self.seq.finish(rank);
            }
            let error = match r {
                Ok(()) => 0,
                Err(code) => {
                    self.progress.errors.fetch_add(1, Ordering::Relaxed);
                    code
                }
            };
            self.progress.done.fetch_add(1, Ordering::Relaxed);
            out.push(Outcome {
                session: si,
                event: ei,
                at_us: at.as_micros() as u64,
                latency_us: latency.as_micros() as u64,
                error,
            });
        }
        if let Some(c) = self.conn.take() {
            let _ = c.disconnect().await;
        }
        out
    }

    /// Connects when needed, moves to the statement's schema, runs it. Err: the error code.
    async fn one(&mut self, script: &Script, e: &Event) -> Result<(), u16> {
        let schema = self.opts.map_schema(&e.schema);
        if self.conn.is_none() {
            let user = self.opts.user.clone().unwrap_or_else(|| script.user.clone());
            let opts = mysql_async::OptsBuilder::default()
                .ip_or_hostname(self.opts.host.clone())
                .tcp_port(self.opts.port)
                .user(Some(user))
                .pass(Some(self.opts.password.clone()))
                .db_name((!schema.is_empty()).then(|| schema.clone()))
                .prefer_socket(false)
                .stmt_cache_size(256);
            match mysql_async::Conn::new(opts).await {
                Ok(c) => {
                    self.conn = Some(c);
                    self.schema = Some(schema.clone());
                }
                Err(err) => {
                    self.progress.connect_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(session = script.id, error = %err, "replay: connect failed");
                    return Err(code_of(&err));
                }
            }
        }
        let Some(conn) = self.conn.as_mut() else { return Err(SERVER_LOST) };
        if !schema.is_empty() && self.schema.as_deref() != Some(schema.as_str()) {
            conn.query_drop(format!("USE `{}`", schema.replace('`', "``"))).await.map_err(|e| code_of(&e))?;
            self.schema = Some(schema);
        }
        let r = match &e.params {
            None => match conn.query_iter(e.sql.as_str()).await {
                Ok(q) => q.drop_result().await,
                Err(err) => Err(err),
            },
            Some(params) => {
                let params: Vec<mysql_async::Value> = params.iter().map(to_driver).collect();
                let params = if params.is_empty() { mysql_async::Params::Empty } else { params.into() };
                match conn.exec_iter(e.sql.as_str(), params).await {
                    Ok(q) => q.drop_result().await,
                    Err(err) => Err(err),
                }
            }
        };
        if e.digest_text.starts_with("use ") {
            self.schema = None; // the statement moved the connection
        }
        match r {
            Ok(()) => Ok(()),
            Err(err) => {
                let code = code_of(&err);
                if !matches!(err, mysql_async::Error::Server(_)) {
                    self.conn = None; // reconnect for the next statement
                }
                Err(code)
            }
        }
    }
}

fn code_of(e: &mysql_async::Error) -> u16 {
    match e {
        mysql_async::Error::Server(s) => s.code,
        _ => SERVER_LOST,
    }
}

/// A captured parameter as the driver sends it.
fn to_driver(v: &sluice_protocol::binary::Value) -> mysql_async::Value {
    use sluice_protocol::binary::Value as V;
    match v {
        V::Null => mysql_async::Value::NULL,
        V::Int(i) => mysql_async::Value::Int(*i),
        V::UInt(u) => mysql_async::Value::UInt(*u),
        V::Float(f) => mysql_async::Value::Float(*f),
        V::Double(d) => mysql_async::Value::Double(*d),
        V::Bytes(b) => mysql_async::Value::Bytes(b.to_vec()),
        V::Date { year, month, day, hour, minute, second, micros } => {
            mysql_async::Value::Date(*year, *month, *day, *hour, *minute, *second, *micros)
        }
        V::Time { negative, days, hours, minutes, seconds, micros } => {
            mysql_async::Value::Time(*negative, *days, *hours, *minutes, *seconds, *micros)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap; the lint guards library code
mod tests {
    use super::*;

    #[tokio::test]
    async fn sequencer_releases_ranks_in_order_even_out_of_order_finishes() {
        let s = Sequencer::new(3);
        assert!(s.wait(0, Duration::from_millis(10)).await);
        assert!(!s.wait(1, Duration::from_millis(10)).await);
        s.finish(2);
        assert!(!s.wait(1, Duration::from_millis(10)).await);
        s.finish(0);
        assert!(s.wait(1, Duration::from_millis(10)).await);
        s.finish(1);
        assert_eq!(*s.next.borrow(), 3);
    }
}
