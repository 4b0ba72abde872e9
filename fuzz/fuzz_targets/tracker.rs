//! The response tracker and the edge translations: any sequence of backend packets after any command
//! is classified or refused with an error, never a panic; once a response is done nothing more is
//! accepted; every OK/EOF/ERR parser and translator returns a value or an error.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sluice_protocol::packets::{EofPacket, ErrPacket, OkPacket, session_changes};
use sluice_protocol::tracker::{Expect, ResponseTracker, end_to_eof, eof_to_end, ok_for_client};

fuzz_target!(|data: &[u8]| {
    let Some((&[cmd, flags], mut rest)) = data.split_first_chunk::<2>() else { return };
    let deprecate_eof = flags & 1 != 0;
    let caps = u32::from(flags).wrapping_mul(0x0101_0101);
    let mut tracker = ResponseTracker::new(Expect::for_command(cmd), deprecate_eof);
    // Each packet: one length byte, then that many bytes.
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let payload = Bytes::copy_from_slice(&tail[..n]);
        rest = &tail[n..];
        let was_done = tracker.is_done();
        match tracker.feed(&payload) {
            Ok(step) => {
                assert!(!was_done, "a packet was accepted after the end of the response");
                assert_eq!(step.done, tracker.is_done());
            }
            Err(_) => {
                let _ = tracker.is_done();
            }
        }
        let _ = OkPacket::parse(&payload, caps);
        let _ = ErrPacket::parse(&payload);
        let _ = EofPacket::parse(&payload);
        let _ = session_changes(&payload, caps);
        let _ = end_to_eof(&payload);
        let _ = eof_to_end(&payload);
        let _ = ok_for_client(&payload, caps, caps ^ 0x0080_0000);
        let _ = ok_for_client(&payload, caps ^ 0x0080_0000, caps);
    }
});
