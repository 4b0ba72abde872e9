//! Cache entry decoding (L2 values from Redis, which anyone with access to it can write): any bytes
//! give an entry or a miss, never a panic; an entry's packets are framed as its count says, its TTL is
//! at most `MAX_TTL`; it re-encodes to the same bytes except the deadline (re-derived from the time
//! left), and that encoding decodes to the same entry.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sluice_cache::{Entry, MAX_TTL};

fuzz_target!(|data: &[u8]| {
    let Some(e) = Entry::decode(data) else { return };
    assert!(e.ttl_left() <= MAX_TTL);
    assert_eq!(e.payloads().count(), e.count as usize, "the count does not match the packets");
    let framed: usize = e.payloads().map(|p| 4 + p.len()).sum();
    assert_eq!(framed, e.packets.len(), "bytes outside the packets' framing");
    let again = e.encode();
    assert_eq!(again.len(), data.len());
    // Version, key length, key, stamp count, stamp, rows; then the deadline.
    let at = 1 + 4 + e.key.len() + 2 + 8 * e.stamp.0.len() + 8;
    assert_eq!(again[..at], data[..at]);
    assert_eq!(again[at + 8..], data[at + 8..]);
    // A deadline a moment away may pass before it is decoded again.
    if e.ttl_left() > Duration::from_secs(1) {
        let d = Entry::decode(&again).expect("an encoded entry decodes");
        assert_eq!(
            (&d.key, &d.packets, d.count, d.rows, &d.stamp),
            (&e.key, &e.packets, e.count, e.rows, &e.stamp)
        );
    }
});
