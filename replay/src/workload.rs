//! What a replay runs: sessions of timed statements read from a capture or a MariaDB log, classified
//! once (reads, writes, transaction control), with the order in which writes must run.
//!
//! Write order: every statement that writes or locks (and every COMMIT/ROLLBACK) gets a rank; a
//! session waits for all lower ranks before running a ranked statement. Ranks follow the captured
//! completion times (so lock waits come out as they did; a COMMIT/ROLLBACK counts at its start, since
//! it releases its locks before its answer reaches the proxy, and a statement that waited for them may
//! be answered first), then within each run of adjacent commits that reported a GTID the GTID order
//! (write transactions commit in the captured commit order), then among statements of one shape that reported an
//! AUTO_INCREMENT value, that value's order (so each row gets the id it got).

use std::collections::BTreeMap;

use crate::{Error, WorkloadError};
use sluice_protocol::binary::Value;
use sluice_protocol::capture::{self as format, Command, IN_TRANS_AFTER, Record};
use sluice_router::classify::{Tx, classify};

/// One statement to replay.
#[derive(Debug, Clone)]
pub struct Event {
    /// µs from the start of the workload.
    pub offset_us: u64,
    /// Order in the source (breaks ties between equal offsets).
    pub seq: u64,
    /// Default schema when it ran (empty: none).
    pub schema: String,
    /// The statement text.
    pub sql: String,
    /// A prepared statement's parameters (`None`: a plain query).
    pub params: Option<Vec<Value>>,
    /// Captured latency, µs, when the source has it.
    pub captured_us: Option<u64>,
    /// Captured error code (0: success), when the source has it.
    pub error: Option<u16>,
    /// The session was in a transaction after it.
    pub in_trans_after: bool,
    /// Commit GTID reported for it (empty: none).
    pub gtid: String,
    /// AUTO_INCREMENT value its OK reported (0: none or unknown).
    pub insert_id: u64,
    /// COMMIT or ROLLBACK.
    pub tx_end: bool,
    /// Writes data or schema (not SET/USE/BEGIN/COMMIT).
    pub write: bool,
    /// Takes part in the write order (writes, locking reads, COMMIT, ROLLBACK).
    pub ordered: bool,
    /// Digest id and normalized text.
    pub digest: u64,
    /// Normalized text.
    pub digest_text: String,
    /// Its slot in the write order.
    pub rank: Option<usize>,
    /// Not replayed (already covered by the capture's start position, or outside `--duration`, or a
    /// write under `--read-only`).
    pub skip: bool,
}

/// One client session.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// Its id in the source (connection or thread id).
    pub id: u64,
    /// The client user.
    pub user: String,
    /// Its statements in order.
    pub events: Vec<Event>,
}

/// A whole workload.
#[derive(Debug, Clone, Default)]
pub struct Workload {
    /// `capture`, `general` or `slow`.
    pub format: &'static str,
    /// The primary's GTID position at CAPTURE START (empty: unknown).
    pub start_gtid: String,
    /// Records the capture dropped (from its footer), if known.
    pub dropped_in_capture: Option<u64>,
    /// Sessions, in order of first statement.
    pub sessions: Vec<Script>,
    /// Number of ranks.
    pub ranks: usize,
}

impl Event {
    /// A statement read from a source, classified.
    pub fn new(offset_us: u64, seq: u64, schema: String, sql: String, params: Option<Vec<Value>>) -> Self {
        let lexed = sluice_router::lexer::lex(sql.as_bytes());
        let class = classify(&lexed);
        let tx_end = matches!(class.tx, Some(Tx::Commit | Tx::Rollback));
        let write = !class.read_only && !class.session_state && class.tx.is_none();
        Self {
            offset_us,
            seq,
            schema,
            sql,
            params,
            captured_us: None,
            error: None,
            in_trans_after: false,
            gtid: String::new(),
            insert_id: 0,
            tx_end,
            write,
            ordered: write || class.locks || tx_end,
            digest: lexed.digest,
            digest_text: lexed.text,
            rank: None,
            skip: false,
        }
    }
}

/// A GTID's (domain, sequence) pairs.
fn gtid_parts(s: &str) -> Vec<(u32, u64)> {
    s.split(',')
        .filter_map(|p| {
            let mut it = p.trim().split('-');
            let d = it.next()?.parse().ok()?;
            let _server = it.next()?;
            Some((d, it.next()?.parse().ok()?))
        })
        .collect()
}

/// Whether position `pos` already contains `gtid`.
fn covers(pos: &[(u32, u64)], gtid: &str) -> bool {
    let g = gtid_parts(gtid);
    !g.is_empty() && g.iter().all(|(d, s)| pos.iter().any(|(d2, s2)| d2 == d && s2 >= s))
}

impl Workload {
    /// Reads a capture file's records.
    pub fn from_capture(records: Vec<Record>) -> Result<Self, WorkloadError> {
        let mut w = Workload { format: "capture", ..Workload::default() };
        let mut by_session: BTreeMap<u32, usize> = BTreeMap::new();
        let mut header = false;
        for (seq, r) in records.into_iter().enumerate() {
            match r {
                Record::Header { .. } => header = true,
                Record::Position(g) => w.start_gtid = g,
                Record::Footer { dropped, .. } => w.dropped_in_capture = Some(dropped),
                Record::Statement(s) => {
                    let i = *by_session.entry(s.session).or_insert_with(|| {
                        w.sessions.push(Script {
                            id: u64::from(s.session),
                            user: s.user.clone(),
                            events: Vec::new(),
                        });
                        w.sessions.len() - 1
                    });
                    let sql = String::from_utf8_lossy(&s.sql).into_owned();
                    let params = (s.command == Command::Execute).then_some(s.params);
                    let schema = String::from_utf8_lossy(&s.schema).into_owned();
                    let mut e = Event::new(s.offset_us, seq as u64, schema, sql, params);
                    e.captured_us = Some(s.duration_us);
                    e.error = Some(s.error);
                    e.in_trans_after = s.flags & IN_TRANS_AFTER != 0;
                    e.gtid = s.gtid;
                    e.insert_id = s.insert_id;
                    w.sessions[i].events.push(e);
                }
            }
        }
        if !header {
            return Err(WorkloadError::NoHeader);
        }
        Ok(w)
    }

    /// Reads a capture file.
    pub fn read_capture(path: &std::path::Path) -> Result<Self, Error> {
        let data = std::fs::read(path).map_err(|source| Error::Read { path: path.to_owned(), source })?;
        let w = format::decode_file(&data).map_err(WorkloadError::from).and_then(Self::from_capture);
        w.map_err(|source| Error::Workload { path: path.to_owned(), source })
    }

    /// All statements.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.sessions.iter().flat_map(|s| s.events.iter())
    }

    /// Marks what is not replayed and assigns the write order. `duration_us`: only statements due
    /// within that much replay time (already scaled by the speed); `read_only`: writes are skipped.
    /// `ordered`: assign the write order (false with `--concurrency N`, where a session waiting for a
    /// slot cannot be waited for).
    pub fn plan(&mut self, read_only: bool, ordered: bool, duration_us: Option<u64>, speed: f64) {
        let start = gtid_parts(&self.start_gtid);
        for s in &mut self.sessions {
            // Transaction units: a statement begins one when the session was not in a transaction
            // before it; the unit is covered when its last statement's commit GTID is in the start
            // position (it committed before the capture's position was read).
            let mut unit_start = 0;
            for i in 0..s.events.len() {
                if s.events[i].in_trans_after {
                    continue;
                }
                if !start.is_empty() && covers(&start, &s.events[i].gtid) {
                    for e in &mut s.events[unit_start..=i] {
                        e.skip = true;
                    }
                }
                unit_start = i + 1;
            }
            for e in &mut s.events {
                let due = if speed > 0.0 { (e.offset_us as f64 / speed) as u64 } else { 0 };
                if duration_us.is_some_and(|d| due > d) || (read_only && e.write) {
                    e.skip = true;
                }
            }
        }
        for e in self.sessions.iter_mut().flat_map(|s| s.events.iter_mut()) {
            e.rank = None;
        }
        if read_only || !ordered {
            self.ranks = 0;
            return;
        }
        // Ordered statements by captured completion, then commits re-sorted among their own slots by GTID.
        let mut order: Vec<(u64, u64, usize, usize)> = Vec::new();
        for (si, s) in self.sessions.iter().enumerate() {
            for (ei, e) in s.events.iter().enumerate() {
                if e.ordered && !e.skip {
                    // Both come from the source file: a damaged or hostile one can hold any value.
                    let took = if e.tx_end { 0 } else { e.captured_us.unwrap_or(0) };
                    let done = e.offset_us.saturating_add(took);
                    order.push((done, e.seq, si, ei));
                }
            }
        }
        order.sort_unstable();
        let gtid_of = |w: &Workload, (_, _, si, ei): (u64, u64, usize, usize)| {
            let g = gtid_parts(&w.sessions[si].events[ei].gtid);
            (!g.is_empty()).then_some(g)
        };
        // Only runs of adjacent commits are re-sorted: a statement between two commits may have waited
        // for the first one's locks, and moving that commit after it would make it wait forever. (A
        // commit that waited for another's locks has the later GTID, so a run's GTID order is safe.)
        let mut i = 0;
        while i < order.len() {
            let run = order[i..].iter().take_while(|&&k| gtid_of(self, k).is_some()).count();
            if run > 1 {
                let mut commits = order[i..i + run].to_vec();
                commits.sort_by_key(|&k| gtid_of(self, k));
                order[i..i + run].copy_from_slice(&commits);
            }
            i += run.max(1);
        }
        let mut by_shape: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (i, &(_, _, si, ei)) in order.iter().enumerate() {
            let e = &self.sessions[si].events[ei];
            if e.insert_id != 0 {
                by_shape.entry(e.digest).or_default().push(i);
            }
        }
        for slots in by_shape.into_values() {
            let mut inserts: Vec<_> = slots.iter().map(|&i| order[i]).collect();
            inserts.sort_by_key(|&(_, _, si, ei)| self.sessions[si].events[ei].insert_id);
            for (slot, x) in slots.into_iter().zip(inserts) {
                order[slot] = x;
            }
        }
        // The re-sorts may put a session's statement ahead of its own earlier one, which would wait for
        // itself: merge the sessions' statements in program order, taking the earliest wanted first.
        let mut queues: Vec<std::collections::VecDeque<(usize, usize)>> =
            vec![Default::default(); self.sessions.len()];
        let mut wanted = vec![Vec::new(); self.sessions.len()];
        for (pos, &(_, _, si, ei)) in order.iter().enumerate() {
            wanted[si].push((ei, pos));
        }
        for (si, mut w) in wanted.into_iter().enumerate() {
            w.sort_unstable();
            queues[si] = w.into_iter().collect();
        }
        let mut heads: std::collections::BinaryHeap<std::cmp::Reverse<(usize, usize)>> = queues
            .iter()
            .enumerate()
            .filter_map(|(si, q)| q.front().map(|&(_, pos)| std::cmp::Reverse((pos, si))))
            .collect();
        let mut rank = 0;
        while let Some(std::cmp::Reverse((_, si))) = heads.pop() {
            let Some((ei, _)) = queues[si].pop_front() else { continue };
            self.sessions[si].events[ei].rank = Some(rank);
            rank += 1;
            if let Some(&(_, pos)) = queues[si].front() {
                heads.push(std::cmp::Reverse((pos, si)));
            }
        }
        self.ranks = rank;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap; the lint guards library code
mod tests {
    use super::*;

    fn ev(offset: u64, took: u64, sql: &str, in_trans: bool, gtid: &str) -> Event {
        let mut e = Event::new(offset, offset, String::new(), sql.into(), None);
        e.captured_us = Some(took);
        e.in_trans_after = in_trans;
        e.gtid = gtid.into();
        e
    }

    #[test]
    fn writes_ranked_by_completion_and_commits_by_gtid() {
        let mut w = Workload {
            format: "capture",
            start_gtid: "0-1-10".into(),
            sessions: vec![
                Script {
                    id: 1,
                    user: "app".into(),
                    events: vec![
                        ev(0, 5, "BEGIN", true, ""),
                        ev(10, 5, "UPDATE t SET v = v + 1 WHERE id = 1", true, ""),
                        ev(20, 15, "COMMIT", false, "0-1-12"),
                        ev(30, 1, "SELECT v FROM t", false, ""),
                    ],
                },
                Script {
                    id: 2,
                    user: "app".into(),
                    events: vec![
                        ev(1, 1, "INSERT INTO t (v) VALUES (1)", false, "0-1-10"),
                        ev(40, 1, "INSERT INTO t (v) VALUES (2)", false, "0-1-11"),
                        ev(50, 1, "SET @a = 1", false, ""),
                    ],
                },
            ],
            ..Workload::default()
        };
        w.plan(false, true, None, 1.0);
        let s1 = &w.sessions[0].events;
        let s2 = &w.sessions[1].events;
        assert!(s2[0].skip, "covered by the start position");
        assert!(!s1[0].ordered && s1[1].write && s1[2].ordered && !s1[3].ordered && !s2[2].write);
        // UPDATE (done at 15), then the commits by GTID: 0-1-11 (done at 41) before 0-1-12 (done at 35).
        assert_eq!((s1[1].rank, s2[1].rank, s1[2].rank), (Some(0), Some(1), Some(2)));
        assert_eq!(w.ranks, 3);
        // Inserts of one shape take their captured AUTO_INCREMENT order.
        w.sessions[1].events[0].skip = false;
        w.start_gtid.clear();
        w.sessions[0].events[1] = ev(10, 5, "INSERT INTO t (v) VALUES (9)", true, "");
        w.sessions[0].events[1].insert_id = 8;
        w.sessions[1].events[1].insert_id = 7;
        w.sessions[1].events[1].sql = "INSERT INTO t (v) VALUES (3)".into();
        for s in &mut w.sessions {
            for e in &mut s.events {
                e.skip = false;
            }
        }
        w.plan(false, true, None, 1.0);
        let (a, b) = (&w.sessions[0].events[1], &w.sessions[1].events[1]);
        assert_eq!(a.digest, b.digest);
        assert!(b.rank < a.rank, "id 7 before id 8: {:?} {:?}", b.rank, a.rank);
        // Commits with a write between them keep their places whatever their GTIDs say (the write may
        // have waited for the first commit's locks).
        let mut w2 = Workload {
            sessions: vec![
                Script {
                    events: vec![ev(0, 1, "BEGIN", true, ""), ev(10, 1, "COMMIT", false, "0-1-2")],
                    ..Script::default()
                },
                Script {
                    events: vec![
                        ev(1, 1, "BEGIN", true, ""),
                        ev(12, 1, "DELETE FROM t WHERE id = 1", true, ""),
                        ev(14, 1, "COMMIT", false, "0-1-1"),
                    ],
                    ..Script::default()
                },
            ],
            ..Workload::default()
        };
        w2.plan(false, true, None, 1.0);
        let r = |s: usize, e: usize| w2.sessions[s].events[e].rank;
        assert_eq!((r(0, 1), r(1, 1), r(1, 2)), (Some(0), Some(1), Some(2)));
        w.plan(true, true, Some(25), 1.0);
        assert!(
            w.sessions[0].events[1].skip && w.sessions[0].events[3].skip && !w.sessions[0].events[0].skip
        );
    }

    /// Found by the logs fuzz target: a statement far into the log (a huge `SET timestamp`) with a
    /// huge `Query_time` overflowed its completion time (a panic in debug builds, a wrapped rank order
    /// in release).
    #[test]
    fn completion_times_saturate() {
        let mut w = Workload {
            sessions: vec![Script {
                id: 1,
                user: "app".into(),
                events: vec![
                    ev(5, 1, "DELETE FROM t", false, ""),
                    ev(u64::MAX - 1, u64::MAX, "DELETE FROM t", false, ""),
                ],
            }],
            ..Workload::default()
        };
        w.plan(false, true, None, 1.0);
        assert_eq!((w.sessions[0].events[0].rank, w.sessions[0].events[1].rank), (Some(0), Some(1)));
    }
}
