//! Packet framing: any byte stream, cut into reads anywhere, decodes to the same packets as in one
//! read; every decoded packet re-encodes to bytes that decode to it again; nothing panics.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sluice_protocol::{Packet, PacketCodec, ProtocolError, write_packet};
use tokio_util::codec::Decoder;

/// Decodes `input` delivered in reads of `step` bytes; stops at the first error.
fn decode_all(input: &[u8], limit: usize, step: usize) -> (Vec<Packet>, Option<String>) {
    let mut codec = PacketCodec::new(limit);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in input.chunks(step.max(1)) {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(p)) => {
                    assert!(p.payload.len() <= limit, "packet over the limit");
                    out.push(p);
                }
                Ok(None) => break,
                Err(ProtocolError::TooLarge { size, limit: l }) => {
                    assert!(size > l);
                    return (out, Some(format!("too large {size}")));
                }
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&[limit_lo, step], input)) = data.split_first_chunk::<2>() else { return };
    let limit = usize::from(limit_lo) * 64;
    let (whole, whole_err) = decode_all(input, limit, input.len());
    let (pieces, pieces_err) = decode_all(input, limit, usize::from(step));
    assert_eq!(whole, pieces, "the packets depend on how the bytes were read");
    assert_eq!(whole_err, pieces_err);
    // Re-encoding gives bytes that decode to the same packets.
    let mut again = BytesMut::new();
    for p in &whole {
        let next = write_packet(&mut again, p.seq, &p.payload);
        assert_eq!(next, p.next_seq);
    }
    let (round, err) = decode_all(&again, limit, again.len());
    assert!(err.is_none());
    assert_eq!(round, whole);
});
