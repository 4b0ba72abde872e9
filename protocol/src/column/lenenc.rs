//! Bounds-checked readers and writers for the protocol's fixed-width and length-encoded fields.
//!
//! Readers take the unread rest of a payload as `&mut Bytes` and advance it: slices they return share
//! the payload's buffer (no copy), and a short buffer is a [`DecodeError::Truncated`], never a panic.

use bytes::Bytes;

use super::DecodeError;

/// Marks SQL NULL where a length-encoded string is expected (text rows).
pub const LENENC_NULL: u8 = 0xFB;

/// Takes exactly `n` bytes from the front of `buf`.
pub fn read_bytes(buf: &mut Bytes, n: usize, what: &'static str) -> Result<Bytes, DecodeError> {
    if buf.len() < n {
        return Err(DecodeError::Truncated { what, needed: n as u64, available: buf.len() });
    }
    Ok(buf.split_to(n))
}

/// Takes `N` bytes as an array, for the fixed-width integers below.
fn read_array<const N: usize>(buf: &mut Bytes, what: &'static str) -> Result<[u8; N], DecodeError> {
    let mut out = [0u8; N];
    out.copy_from_slice(&read_bytes(buf, N, what)?);
    Ok(out)
}

/// Reads one byte.
pub fn read_u8(buf: &mut Bytes, what: &'static str) -> Result<u8, DecodeError> {
    Ok(read_array::<1>(buf, what)?[0])
}

/// Reads a little-endian u16.
pub fn read_u16_le(buf: &mut Bytes, what: &'static str) -> Result<u16, DecodeError> {
    Ok(u16::from_le_bytes(read_array(buf, what)?))
}

/// Reads a little-endian u24 (3 bytes).
pub fn read_u24_le(buf: &mut Bytes, what: &'static str) -> Result<u32, DecodeError> {
    let [a, b, c] = read_array(buf, what)?;
    Ok(u32::from_le_bytes([a, b, c, 0]))
}

/// Reads a little-endian u32.
pub fn read_u32_le(buf: &mut Bytes, what: &'static str) -> Result<u32, DecodeError> {
    Ok(u32::from_le_bytes(read_array(buf, what)?))
}

/// Reads a little-endian u64.
pub fn read_u64_le(buf: &mut Bytes, what: &'static str) -> Result<u64, DecodeError> {
    Ok(u64::from_le_bytes(read_array(buf, what)?))
}

/// Reads a length-encoded integer. `0xFB` (NULL in text rows) and `0xFF` (ERR) are not integers and
/// give [`DecodeError::InvalidValue`]; callers that allow NULL check for [`LENENC_NULL`] first.
/// Non-minimal encodings (`0xFC 0x05 0x00`) are accepted, as the server accepts them.
pub fn read_lenenc_int(buf: &mut Bytes, what: &'static str) -> Result<u64, DecodeError> {
    match read_u8(buf, what)? {
        b @ 0..=0xFA => Ok(u64::from(b)),
        0xFC => Ok(u64::from(read_u16_le(buf, what)?)),
        0xFD => Ok(u64::from(read_u24_le(buf, what)?)),
        0xFE => read_u64_le(buf, what),
        b => Err(DecodeError::InvalidValue { what: "length-encoded integer prefix", value: u64::from(b) }),
    }
}

/// Reads a length-encoded string as a slice of the payload.
pub fn read_lenenc_bytes(buf: &mut Bytes, what: &'static str) -> Result<Bytes, DecodeError> {
    let n = read_lenenc_int(buf, what)?;
    // A length beyond usize cannot fit in the buffer either: report it as truncation.
    let n_usize =
        usize::try_from(n).map_err(|_| DecodeError::Truncated { what, needed: n, available: buf.len() })?;
    read_bytes(buf, n_usize, what)
}

// The writers are the crate's one implementation in `buf`, under the names this module's callers use.
pub use crate::buf::{put_lenenc as put_lenenc_int, put_lenenc_bytes};

/// Fails with [`DecodeError::TrailingBytes`] unless `buf` is fully consumed.
pub fn expect_end(buf: &Bytes, what: &'static str) -> Result<(), DecodeError> {
    if buf.is_empty() { Ok(()) } else { Err(DecodeError::TrailingBytes { what, count: buf.len() }) }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap; the lint guards library code
mod tests {
    use super::*;
    use bytes::BytesMut;
    use proptest::prelude::*;

    fn encoded(v: u64) -> Bytes {
        let mut out = BytesMut::new();
        put_lenenc_int(&mut out, v);
        out.freeze()
    }

    #[test]
    fn lenenc_int_uses_each_width_at_its_boundaries() {
        let cases: [(u64, &[u8]); 8] = [
            (0, &[0x00]),
            (250, &[0xFA]),
            (251, &[0xFC, 0xFB, 0x00]),
            (0xFFFF, &[0xFC, 0xFF, 0xFF]),
            (0x1_0000, &[0xFD, 0x00, 0x00, 0x01]),
            (0xFF_FFFF, &[0xFD, 0xFF, 0xFF, 0xFF]),
            (0x100_0000, &[0xFE, 0, 0, 0, 1, 0, 0, 0, 0]),
            (u64::MAX, &[0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
        ];
        for (v, bytes) in cases {
            assert_eq!(&encoded(v)[..], bytes, "{v}");
            let mut b = Bytes::copy_from_slice(bytes);
            assert_eq!(read_lenenc_int(&mut b, "t"), Ok(v));
            assert!(b.is_empty());
        }
    }

    #[test]
    fn lenenc_int_rejects_null_and_err_prefixes() {
        for p in [0xFB, 0xFF] {
            let mut b = Bytes::from(vec![p, 0, 0, 0, 0, 0, 0, 0, 0]);
            assert!(matches!(read_lenenc_int(&mut b, "t"), Err(DecodeError::InvalidValue { .. })));
        }
    }

    #[test]
    fn lenenc_bytes_slices_without_copying() {
        let payload = Bytes::from_static(b"\x03abcrest");
        let mut b = payload.clone();
        let s = read_lenenc_bytes(&mut b, "t").unwrap();
        assert_eq!(&s[..], b"abc");
        assert_eq!(s.as_ptr(), payload[1..].as_ptr());
        assert_eq!(&b[..], b"rest");
    }

    #[test]
    fn truncated_fields_are_errors() {
        for bytes in [&b""[..], b"\xFC\x01", b"\xFD\x01\x02", b"\xFE\x01", b"\x05ab"] {
            let mut b = Bytes::copy_from_slice(bytes);
            assert!(matches!(read_lenenc_bytes(&mut b, "t"), Err(DecodeError::Truncated { .. })));
        }
        let mut huge = Bytes::from_static(&[0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert!(matches!(read_lenenc_bytes(&mut huge, "t"), Err(DecodeError::Truncated { .. })));
    }

    proptest! {
        #[test]
        fn lenenc_int_round_trips(v: u64) {
            let mut b = encoded(v);
            prop_assert_eq!(read_lenenc_int(&mut b, "t"), Ok(v));
            prop_assert!(b.is_empty());
        }

        #[test]
        fn lenenc_bytes_round_trips(s in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut out = BytesMut::new();
            put_lenenc_bytes(&mut out, &s);
            let mut b = out.freeze();
            prop_assert_eq!(&read_lenenc_bytes(&mut b, "t").unwrap()[..], &s[..]);
            prop_assert!(b.is_empty());
        }

        #[test]
        fn readers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..20)) {
            let mut b = Bytes::from(bytes.clone());
            let _ = read_lenenc_bytes(&mut b, "t");
            let mut b = Bytes::from(bytes);
            let _ = read_u64_le(&mut b, "t");
        }
    }
}
