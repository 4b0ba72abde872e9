//! Per-session loop detection: a handful of slots, one per recently repeated statement shape, so the
//! hot path costs a few comparisons and, for a repeated SELECT/INSERT, one hash of the statement text.
//! A shape run `repeat_threshold` times within `repeat_window_ms` with changing literals is reported
//! once (then again each time its count doubles) to the shared [`super::Advice`] table.

use std::hash::Hasher;
use std::time::Instant;

use super::{Advice, LoopKind};
use crate::features::stats::Event;

/// Shapes followed per session at once (the least recently seen slot is reused).
const SLOTS: usize = 8;

#[derive(Debug, Clone, Copy)]
struct Slot {
    digest: u64,
    kind: LoopKind,
    start: Instant,
    last: Instant,
    count: u32,
    /// Statements whose text differed from the one before (different literals).
    distinct: u32,
    last_hash: u64,
    rows: u64,
    /// The count last reported (0: not yet).
    reported: u32,
}

/// One session's loop detector.
#[derive(Debug, Default)]
pub struct SessionTrack {
    slots: [Option<Slot>; SLOTS],
}

impl SessionTrack {
    /// Looks at one statement of this session.
    pub fn observe(&mut self, e: &Event<'_>, advice: &Advice) {
        if e.error || !advice.enabled() {
            return;
        }
        // A point lookup in a loop: a SELECT with a WHERE (`SELECT ?` in a loop is no N+1).
        let kind = if e.text.starts_with("select ") && e.text.contains(" where ") {
            LoopKind::NPlusOne
        } else if (e.text.starts_with("insert ") || e.text.starts_with("replace ")) && e.rows_affected <= 1 {
            LoopKind::SingleRowInsert
        } else {
            return;
        };
        let now = Instant::now();
        let (threshold, window) = advice.repeat_limits();
        let hash = text_hash(e.sql);
        let found = self.slots.iter().position(|s| s.is_some_and(|s| s.digest == e.digest));
        let i = match found {
            Some(i) => i,
            None => {
                // A free slot, else the least recently seen.
                let i = self.slots.iter().position(Option::is_none).unwrap_or_else(|| {
                    self.slots.iter().enumerate().min_by_key(|(_, s)| s.map(|s| s.last)).map_or(0, |(i, _)| i)
                });
                self.slots[i] = None;
                i
            }
        };
        let slot = self.slots[i].get_or_insert(Slot {
            digest: e.digest,
            kind,
            start: now,
            last: now,
            count: 0,
            distinct: 0,
            last_hash: !hash,
            rows: 0,
            reported: 0,
        });
        if now.duration_since(slot.start) > window {
            *slot =
                Slot { start: now, count: 0, distinct: 0, rows: 0, reported: 0, last_hash: !hash, ..*slot };
        }
        slot.last = now;
        slot.count += 1;
        slot.rows += e.rows_sent.max(e.rows_affected);
        // A prepared EXECUTE has no text here: its parameters are what changes, count it as different.
        if hash != slot.last_hash || e.sql.is_empty() {
            slot.distinct += 1;
        }
        slot.last_hash = hash;
        let due = if slot.reported == 0 { threshold } else { slot.reported.saturating_mul(2) };
        if slot.count >= due && slot.distinct * 2 >= slot.count {
            slot.reported = slot.count;
            let span = now.duration_since(slot.start);
            advice.report_loop(slot.kind, e, slot.count, slot.distinct, slot.rows, span);
        }
    }
}

/// FNV-1a over the statement text (cheap; collisions only merge two "different literal" counts).
fn text_hash(sql: &[u8]) -> u64 {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    h.write(sql);
    h.finish()
}

struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}
