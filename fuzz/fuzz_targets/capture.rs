//! The capture reader (`sluice-replay --format capture`): decode, then build and plan the workload.
//! The first byte picks the input's form: a whole file (magic, checksummed LZ4 blocks), or one block's
//! records, which the target packs into a valid file so the record decoder is reached. Any bytes give
//! records or an error, never a panic; every record takes at least two bytes of a block; records
//! re-encode to a file that decodes to records that encode to the same bytes; the replay plan ranks
//! each ordered statement once, in program order within its session.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_protocol::capture::{MAGIC, Record, block, decode_file, encode};
use sluice_replay::Workload;

fn encoded(records: &[Record]) -> Vec<u8> {
    let mut raw = Vec::new();
    for r in records {
        encode(r, &mut raw);
    }
    raw
}

/// The blocks' uncompressed lengths, as their headers announce them.
fn raw_lengths(file: &[u8]) -> usize {
    let mut at = MAGIC.len();
    let mut total = 0usize;
    while let Some(head) = file.get(at..at + 12) {
        let word = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]) as usize;
        total += word(0);
        at += 12 + word(4);
    }
    total
}

fuzz_target!(|data: &[u8]| {
    let Some((&form, rest)) = data.split_first() else { return };
    let file = if form & 1 == 0 {
        rest.to_vec()
    } else {
        // One or two blocks, cut where the rest of the first byte says (a record may be cut in half).
        let mut f = MAGIC.to_vec();
        let cut = if form & 2 == 0 { rest.len() } else { usize::from(form >> 2) * rest.len() / 63 };
        let (a, b) = rest.split_at(cut.min(rest.len()));
        f.extend(block(a));
        if !b.is_empty() {
            f.extend(block(b));
        }
        f
    };
    let Ok(records) = decode_file(&file) else { return };
    assert!(records.len() * 2 <= raw_lengths(&file), "{} records from fewer bytes", records.len());
    let raw = encoded(&records);
    let mut again_file = MAGIC.to_vec();
    again_file.extend(block(&raw));
    let again = decode_file(&again_file).expect("re-encoded records decode");
    assert_eq!(again.len(), records.len());
    assert_eq!(encoded(&again), raw, "records do not re-encode to the same bytes");
    let Ok(mut w) = Workload::from_capture(records) else { return };
    w.plan(false, true, None, 1.0);
    let ordered: Vec<_> = w.events().filter(|e| e.ordered && !e.skip).collect();
    assert_eq!(w.ranks, ordered.len());
    for s in &w.sessions {
        let ranks: Vec<usize> = s.events.iter().filter_map(|e| e.rank).collect();
        assert!(ranks.windows(2).all(|r| r[0] < r[1]), "a session's ranks are out of program order");
        assert!(ranks.iter().all(|&r| r < w.ranks));
    }
});
