//! Typed response packets, one file each: OK, ERR and EOF, with encode/decode by capability flags.

mod eof;
mod err;
mod ok;
mod result_set;
mod session_state;

pub use eof::EofPacket;
pub use err::ErrPacket;
pub use ok::OkPacket;
pub use result_set::text_result_set;
pub use session_state::{StateChange, ok_with_default_tracking, parse_state, session_changes};

use crate::constants::header;

/// Whether `payload` is a classic EOF packet: 0xFE and at most 5 bytes (4.1 layout: warnings, status).
/// An OK with the 0xFE header (DEPRECATE_EOF) is at least 7 bytes; a row starting with 0xFE is huge.
pub fn is_eof(payload: &[u8]) -> bool {
    payload.first() == Some(&header::EOF) && payload.len() <= 5
}

/// Whether `payload` ends a result set: a classic EOF, or (DEPRECATE_EOF) an OK packet with the 0xFE
/// header. Both are 0xFE and shorter than a maximal chunk; a row starting with 0xFE is at least 2^24 bytes.
pub fn is_result_terminator(payload: &[u8]) -> bool {
    payload.first() == Some(&header::EOF) && payload.len() < crate::codec::MAX_CHUNK
}

/// Whether `payload` is an ERR packet.
pub fn is_err(payload: &[u8]) -> bool {
    payload.first() == Some(&header::ERR)
}

/// Where the server status flags sit in `payload`, which the caller knows to be an OK (either
/// header) or EOF packet: a classic EOF is exactly 5 bytes, an OK has two length-encoded integers
/// (affected rows, insert id) first. `None` when the payload is too short for its own fields.
pub fn status_offset(payload: &[u8]) -> Option<usize> {
    if payload.len() == 5 && payload[0] == header::EOF {
        return Some(3);
    }
    let (_, a) = crate::buf::lenenc_at(payload.get(1..)?)?;
    let (_, b) = crate::buf::lenenc_at(payload.get(1 + a..)?)?;
    let at = 1 + a + b;
    (payload.len() >= at + 2).then_some(at)
}

/// Server status flags of an OK (either header) or EOF payload, without building the packet.
/// A classic EOF is exactly 5 bytes; an OK is at least 7. Hot path: called on every terminator.
pub fn status_of(payload: &[u8]) -> Option<u16> {
    let at = status_offset(payload)?;
    Some(u16::from_le_bytes([payload[at], payload[at + 1]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_offsets() {
        // Classic EOF; OK-style terminator; OK with 2-byte lenenc affected rows and insert id 0x22.
        assert_eq!(status_offset(b"\xfe\x00\x00\x02\x00"), Some(3));
        assert_eq!(status_offset(b"\xfe\x00\x00\x02\x00\x00\x00"), Some(3));
        assert_eq!(status_offset(b"\x00\xfc\x10\x00\x22\x02\x40\x00\x00"), Some(5));
        assert_eq!(status_of(b"\x00\xfc\x10\x00\x22\x02\x40\x00\x00"), Some(0x4002));
        assert_eq!(status_offset(b"\x00\x01"), None);
        assert_eq!(status_of(b"\xfe"), None);
    }
}
