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
pub use session_state::{StateChange, parse_state, session_changes};

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

/// Server status flags of an OK (either header) or EOF payload, without building the packet.
/// A classic EOF is exactly 5 bytes; an OK is at least 7. Hot path: called on every terminator.
pub fn status_of(payload: &[u8]) -> Option<u16> {
    if payload.len() == 5 && payload[0] == header::EOF {
        return Some(u16::from_le_bytes([payload[3], payload[4]]));
    }
    let rest = payload.get(1..)?;
    let (_, a) = crate::buf::lenenc_at(rest)?;
    let (_, b) = crate::buf::lenenc_at(rest.get(a..)?)?;
    let s = rest.get(a + b..a + b + 2)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}
