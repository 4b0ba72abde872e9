//! Bounds-checked reading and writing of the protocol's integer and string encodings.
//!
//! Every read returns an error instead of panicking: these functions see untrusted bytes.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{ProtocolError, Result};

/// A cursor over one packet's payload. Slices it hands out share the payload's buffer (no copy).
pub struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// Reads `buf` from the start; `what` names the packet in errors.
    pub fn new(buf: &'a Bytes, what: &'static str) -> Self {
        Self { buf, pos: 0, what }
    }

    fn short(&self) -> ProtocolError {
        ProtocolError::malformed(self.what, "truncated")
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Current offset into the payload.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8> {
        let b = *self.buf.get(self.pos).ok_or_else(|| self.short())?;
        self.pos += 1;
        Ok(b)
    }

    /// Little-endian u16.
    pub fn u16(&mut self) -> Result<u16> {
        let s = self.take(2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }

    /// Little-endian u24.
    pub fn u24(&mut self) -> Result<u32> {
        let s = self.take(3)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], 0]))
    }

    /// Little-endian u32.
    pub fn u32(&mut self) -> Result<u32> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    /// Little-endian u64.
    pub fn u64(&mut self) -> Result<u64> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(&s);
        Ok(u64::from_le_bytes(a))
    }

    /// Length-encoded integer. `0xFB` (NULL) and `0xFF` are errors here; callers that allow NULL peek first.
    pub fn lenenc(&mut self) -> Result<u64> {
        match self.u8()? {
            b @ 0..=0xFA => Ok(u64::from(b)),
            0xFC => Ok(u64::from(self.u16()?)),
            0xFD => Ok(u64::from(self.u24()?)),
            0xFE => self.u64(),
            _ => Err(ProtocolError::malformed(self.what, "bad length-encoded integer")),
        }
    }

    /// Length-encoded string.
    pub fn lenenc_bytes(&mut self) -> Result<Bytes> {
        let n = self.lenenc()?;
        let n = usize::try_from(n).map_err(|_| self.short())?;
        self.take(n)
    }

    /// NUL-terminated string (the NUL is consumed, not returned). A missing NUL takes the rest.
    pub fn null_terminated(&mut self) -> Bytes {
        let rest = &self.buf[self.pos.min(self.buf.len())..];
        match rest.iter().position(|&b| b == 0) {
            Some(i) => {
                let s = self.buf.slice(self.pos..self.pos + i);
                self.pos += i + 1;
                s
            }
            None => self.rest(),
        }
    }

    /// Exactly `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<Bytes> {
        let end = self.pos.checked_add(n).ok_or_else(|| self.short())?;
        if end > self.buf.len() {
            return Err(self.short());
        }
        let s = self.buf.slice(self.pos..end);
        self.pos = end;
        Ok(s)
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> Result<()> {
        self.take(n).map(drop)
    }

    /// Everything left.
    pub fn rest(&mut self) -> Bytes {
        let start = self.pos.min(self.buf.len());
        self.pos = self.buf.len();
        self.buf.slice(start..)
    }

    /// The next byte without consuming it.
    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }
}

/// Appends a length-encoded integer.
pub fn put_lenenc(out: &mut BytesMut, n: u64) {
    match n {
        0..=0xFA => out.put_u8(n as u8),
        0xFB..=0xFFFF => {
            out.put_u8(0xFC);
            out.put_u16_le(n as u16);
        }
        0x1_0000..=0xFF_FFFF => {
            out.put_u8(0xFD);
            out.put_uint_le(n, 3);
        }
        _ => {
            out.put_u8(0xFE);
            out.put_u64_le(n);
        }
    }
}

/// Appends a length-encoded string.
pub fn put_lenenc_bytes(out: &mut BytesMut, s: &[u8]) {
    put_lenenc(out, s.len() as u64);
    out.put_slice(s);
}

/// Reads a length-encoded integer from the front of a slice: `(value, bytes used)`, or `None` if truncated
/// or not an integer. For hot paths that peek at a packet without a [`Reader`].
pub fn lenenc_at(s: &[u8]) -> Option<(u64, usize)> {
    match *s.first()? {
        b @ 0..=0xFA => Some((u64::from(b), 1)),
        0xFC => Some((u64::from(u16::from_le_bytes([*s.get(1)?, *s.get(2)?])), 3)),
        0xFD => Some((u64::from(u32::from_le_bytes([*s.get(1)?, *s.get(2)?, *s.get(3)?, 0])), 4)),
        0xFE => {
            let b: [u8; 8] = s.get(1..9)?.try_into().ok()?;
            Some((u64::from_le_bytes(b), 9))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenenc_round_trips_each_width() {
        for n in [0u64, 250, 251, 0xFFFF, 0x1_0000, 0xFF_FFFF, 0x100_0000, u64::MAX] {
            let mut out = BytesMut::new();
            put_lenenc(&mut out, n);
            let b = out.freeze();
            assert_eq!(Reader::new(&b, "t").lenenc().ok(), Some(n));
            assert_eq!(lenenc_at(&b), Some((n, b.len())));
        }
    }

    #[test]
    fn truncated_reads_are_errors() {
        let b = Bytes::from_static(&[0xFC, 0x01]);
        assert!(Reader::new(&b, "t").lenenc().is_err());
        assert_eq!(lenenc_at(&b), None);
        let b = Bytes::from_static(&[0x05, b'a']);
        assert!(Reader::new(&b, "t").lenenc_bytes().is_err());
        let b = Bytes::from_static(&[0xFB]);
        assert!(Reader::new(&b, "t").lenenc().is_err());
    }

    #[test]
    fn null_terminated_without_nul_takes_rest() {
        let b = Bytes::from_static(b"abc\0def");
        let mut r = Reader::new(&b, "t");
        assert_eq!(&r.null_terminated()[..], b"abc");
        assert_eq!(&r.null_terminated()[..], b"def");
        assert_eq!(r.remaining(), 0);
    }
}
