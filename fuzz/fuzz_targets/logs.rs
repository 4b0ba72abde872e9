//! The general and slow log readers (`sluice-replay --format general|slow`), on any text (read as
//! lossy UTF-8, as replay does): a workload or an error, never a panic. The first byte picks the
//! reader. Every statement comes from its own line on, so there are no more statements than lines
//! and no more statement bytes than input bytes; sessions have distinct ids, none is empty, and a
//! session's statements keep the log's order; the replay plan ranks each ordered statement once, in
//! program order within its session.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use sluice_replay::logs::{parse_general, parse_slow};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let parsed = if pick & 1 == 0 { parse_general(&text) } else { parse_slow(&text) };
    let Ok(mut w) = parsed else { return };
    let events: Vec<_> = w.events().collect();
    assert!(!events.is_empty());
    assert!(
        events.len() <= text.lines().count(),
        "{} statements from {} lines",
        events.len(),
        text.lines().count()
    );
    let bytes: usize = events.iter().map(|e| e.sql.len()).sum();
    assert!(bytes <= text.len(), "{bytes} statement bytes from {} input bytes", text.len());
    let ids: HashSet<u64> = w.sessions.iter().map(|s| s.id).collect();
    assert_eq!(ids.len(), w.sessions.len(), "two sessions with one id");
    for s in &w.sessions {
        assert!(!s.events.is_empty());
        assert!(s.events.windows(2).all(|e| e[0].seq < e[1].seq), "statements out of log order");
    }
    w.plan(false, true, None, 1.0);
    let ordered = w.events().filter(|e| e.ordered && !e.skip).count();
    assert_eq!(w.ranks, ordered);
    for s in &w.sessions {
        let ranks: Vec<usize> = s.events.iter().filter_map(|e| e.rank).collect();
        assert!(ranks.windows(2).all(|r| r[0] < r[1]), "a session's ranks are out of program order");
    }
});
