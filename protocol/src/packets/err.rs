//! The ERR packet: error code, SQLSTATE and message.

use bytes::{BufMut, Bytes, BytesMut};

use crate::buf::Reader;
use crate::constants::header;
use crate::error::{ProtocolError, Result};

/// An ERR packet (always in the 4.1 layout with a SQLSTATE: sluice requires PROTOCOL_41).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrPacket {
    /// MySQL error code, e.g. 1045.
    pub code: u16,
    /// Five-character SQLSTATE, e.g. `28000`.
    pub sql_state: [u8; 5],
    /// The message.
    pub message: Bytes,
}

impl ErrPacket {
    /// An error from a `(code, sqlstate)` pair in [`crate::constants::errors`] and a message.
    pub fn new((code, state): (u16, &str), message: impl Into<String>) -> Self {
        let mut sql_state = *b"HY000";
        if state.len() == 5 {
            sql_state.copy_from_slice(state.as_bytes());
        }
        Self { code, sql_state, message: Bytes::from(message.into()) }
    }

    /// Parses an ERR payload. A packet without the `#` SQLSTATE marker (pre-4.1 or during the
    /// handshake) gets `HY000`.
    pub fn parse(payload: &Bytes) -> Result<Self> {
        let mut r = Reader::new(payload, "ERR packet");
        if r.u8()? != header::ERR {
            return Err(ProtocolError::malformed("ERR packet", "bad header"));
        }
        let code = r.u16()?;
        let mut sql_state = *b"HY000";
        if r.peek() == Some(b'#') {
            r.skip(1)?;
            sql_state.copy_from_slice(&r.take(5)?);
        }
        Ok(Self { code, sql_state, message: r.rest() })
    }

    /// Appends the payload.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u8(header::ERR);
        out.put_u16_le(self.code);
        out.put_u8(b'#');
        out.put_slice(&self.sql_state);
        out.put_slice(&self.message);
    }

    /// The payload as `Bytes`.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(9 + self.message.len());
        self.encode(&mut out);
        out.freeze()
    }

    /// The message as text (lossy).
    pub fn message_str(&self) -> String {
        String::from_utf8_lossy(&self.message).into_owned()
    }
}

impl std::fmt::Display for ErrPacket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ERROR {} ({}): {}",
            self.code,
            String::from_utf8_lossy(&self.sql_state),
            String::from_utf8_lossy(&self.message)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mariadb_duplicate_key() {
        // MariaDB 10.11: INSERT of an existing primary key.
        let msg = b"Duplicate entry '1' for key 'PRIMARY'";
        let mut p = vec![0xFF, 0x26, 0x04, b'#', b'2', b'3', b'0', b'0', b'0'];
        p.extend_from_slice(msg);
        let b = Bytes::from(p);
        let e = ErrPacket::parse(&b).expect("err");
        assert_eq!(e.code, 1062);
        assert_eq!(&e.sql_state, b"23000");
        assert_eq!(&e.message[..], msg);
        assert_eq!(e.to_bytes(), b);
    }

    #[test]
    fn builds_access_denied() {
        let e = ErrPacket::new(crate::constants::errors::ACCESS_DENIED, "Access denied for user 'x'");
        let b = e.to_bytes();
        assert_eq!(&b[..9], &[0xFF, 0x15, 0x04, b'#', b'2', b'8', b'0', b'0', b'0']);
        assert_eq!(e.to_string(), "ERROR 1045 (28000): Access denied for user 'x'");
    }

    #[test]
    fn handshake_err_without_sqlstate() {
        let b = Bytes::from_static(&[0xFF, 0x10, 0x04, b'T', b'o', b'o']);
        let e = ErrPacket::parse(&b).expect("err");
        assert_eq!((e.code, &e.sql_state), (1040, b"HY000"));
        assert_eq!(&e.message[..], b"Too");
    }
}
