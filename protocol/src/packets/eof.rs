//! The classic EOF packet (0xFE, warnings, status) for clients without DEPRECATE_EOF.

use bytes::{BufMut, Bytes, BytesMut};

use crate::buf::Reader;
use crate::constants::header;
use crate::error::{ProtocolError, Result};

/// An EOF packet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EofPacket {
    /// Warning count.
    pub warnings: u16,
    /// Server status flags.
    pub status: u16,
}

impl EofPacket {
    /// Parses a classic EOF payload (5 bytes; a bare 0xFE from pre-4.1 servers gives zeros).
    pub fn parse(payload: &Bytes) -> Result<Self> {
        let mut r = Reader::new(payload, "EOF packet");
        if r.u8()? != header::EOF {
            return Err(ProtocolError::malformed("EOF packet", "bad header"));
        }
        if r.remaining() == 0 {
            return Ok(Self::default());
        }
        Ok(Self { warnings: r.u16()?, status: r.u16()? })
    }

    /// Appends the payload.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u8(header::EOF);
        out.put_u16_le(self.warnings);
        out.put_u16_le(self.status);
    }

    /// The payload as `Bytes`.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(5);
        self.encode(&mut out);
        out.freeze()
    }

    /// The payload on the stack: what [`EofPacket::encode`] appends, without an allocation (the relay
    /// writes one or two per result set for clients without DEPRECATE_EOF).
    pub fn to_array(&self) -> [u8; 5] {
        let [w0, w1] = self.warnings.to_le_bytes();
        let [s0, s1] = self.status.to_le_bytes();
        [header::EOF, w0, w1, s0, s1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_is_the_encoding() {
        let e = EofPacket { warnings: 0x0102, status: 0x4002 };
        assert_eq!(&e.to_array()[..], &e.to_bytes()[..]);
    }

    #[test]
    fn round_trips_mariadb_eof() {
        // EOF after a result set's rows, autocommit on, no warnings.
        let b = Bytes::from_static(&[0xFE, 0x00, 0x00, 0x02, 0x00]);
        let e = EofPacket::parse(&b).expect("eof");
        assert_eq!(e, EofPacket { warnings: 0, status: 2 });
        assert_eq!(e.to_bytes(), b);
        assert!(super::super::is_eof(&b));
        assert_eq!(super::super::status_of(&b), Some(2));
    }

    #[test]
    fn deprecate_eof_ok_status() {
        // OK with 0xFE header ending a result set under DEPRECATE_EOF: more results exist.
        let b = [0xFE, 0x00, 0x00, 0x0A, 0x00, 0x00, 0x00];
        assert_eq!(super::super::status_of(&b), Some(0x0A));
        assert!(super::super::is_result_terminator(&b));
    }
}
