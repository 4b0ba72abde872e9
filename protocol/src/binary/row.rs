//! Result-set rows: the binary protocol (COM_STMT_EXECUTE) and the text protocol (COM_QUERY).

use bytes::{BufMut, Bytes, BytesMut};

use super::cell::{decode_value, encode_value};
use super::{EncodeError, Value};
use crate::column::{
    ColumnDefinition, DecodeError, LENENC_NULL, expect_end, put_lenenc_bytes, read_bytes, read_lenenc_bytes,
    read_u8,
};
use crate::constants::ColumnType;

/// First byte of every binary row (it is also what tells a row from an EOF or ERR packet).
pub const BINARY_ROW_HEADER: u8 = 0x00;

/// A binary row's NULL bitmap starts at bit 2: bits 0 and 1 are reserved (once for OK/EOF markers).
const ROW_NULL_BITMAP_OFFSET: usize = 2;

/// The NULL bitmap of a binary row or of COM_STMT_EXECUTE parameters.
pub(super) struct NullBitmap {
    bytes: Bytes,
    offset: usize,
}

impl NullBitmap {
    /// Bytes needed for `n` values with the first bit at `offset`; `None` if that overflows.
    pub(super) fn len(n: usize, offset: usize) -> Option<usize> {
        Some(n.checked_add(offset)?.checked_add(7)? / 8)
    }

    /// Reads the bitmap for `n` values from the front of `buf`.
    pub(super) fn read(buf: &mut Bytes, n: usize, offset: usize) -> Result<Self, DecodeError> {
        let len = Self::len(n, offset)
            .ok_or(DecodeError::InvalidValue { what: "NULL bitmap size", value: n as u64 })?;
        Ok(Self { bytes: read_bytes(buf, len, "NULL bitmap")?, offset })
    }

    /// Whether value `i` is NULL. Positions past the bitmap read as not NULL.
    pub(super) fn is_null(&self, i: usize) -> bool {
        let Some(bit) = i.checked_add(self.offset) else { return false };
        self.bytes.get(bit / 8).is_some_and(|b| b >> (bit % 8) & 1 == 1)
    }

    /// Appends a bitmap with a bit set for each `true` in `nulls`.
    pub(super) fn write(nulls: impl ExactSizeIterator<Item = bool>, offset: usize, out: &mut BytesMut) {
        let n = nulls.len();
        let start = out.len();
        // `n` counts items already in memory, so this cannot overflow in practice; saturate regardless.
        out.put_bytes(0, Self::len(n, offset).unwrap_or(0));
        for (i, null) in nulls.enumerate() {
            let bit = i + offset;
            if null && let Some(b) = out.get_mut(start + bit / 8) {
                *b |= 1 << (bit % 8);
            }
        }
    }
}

/// Decodes a binary-protocol row (a row of a COM_STMT_EXECUTE result set) against its columns.
///
/// Integers are [`Value::Int`] or [`Value::UInt`] by the column's UNSIGNED flag. String-like values are
/// slices of `payload`. Bytes left after the last column are an error.
pub fn decode_binary_row(payload: &Bytes, columns: &[ColumnDefinition]) -> Result<Vec<Value>, DecodeError> {
    let mut buf = payload.clone();
    let header = read_u8(&mut buf, "binary row header")?;
    if header != BINARY_ROW_HEADER {
        return Err(DecodeError::InvalidValue { what: "binary row header", value: u64::from(header) });
    }
    let nulls = NullBitmap::read(&mut buf, columns.len(), ROW_NULL_BITMAP_OFFSET)?;
    let mut values = Vec::with_capacity(columns.len());
    for (i, c) in columns.iter().enumerate() {
        values.push(if nulls.is_null(i) {
            Value::Null
        } else {
            decode_value(&mut buf, c.column_type, c.is_unsigned())?
        });
    }
    expect_end(&buf, "binary row")?;
    Ok(values)
}

/// Appends a binary-protocol row of `values` for `columns`.
pub fn encode_binary_row(
    values: &[Value],
    columns: &[ColumnDefinition],
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    if values.len() != columns.len() {
        return Err(EncodeError::CountMismatch {
            what: "row values",
            expected: columns.len(),
            got: values.len(),
        });
    }
    let mut body = BytesMut::new();
    for (index, (v, c)) in values.iter().zip(columns).enumerate() {
        if *v != Value::Null {
            encode_checked(v, index, c.column_type, c.is_unsigned(), &mut body)?;
        }
    }
    // Values are encoded before anything is appended so that an error leaves `out` untouched.
    out.put_u8(BINARY_ROW_HEADER);
    NullBitmap::write(values.iter().map(|v| *v == Value::Null), ROW_NULL_BITMAP_OFFSET, out);
    out.put_slice(&body);
    Ok(())
}

/// [`encode_value`] with the value's position and type in the error.
pub(super) fn encode_checked(
    v: &Value,
    index: usize,
    column_type: ColumnType,
    unsigned: bool,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    encode_value(v, column_type, unsigned, out).map_err(|_| EncodeError::ValueMismatch {
        index,
        value: v.kind(),
        column_type,
        unsigned,
    })
}

/// Decodes a text-protocol row (COM_QUERY result) of `ncols` columns: each a length-encoded string,
/// `None` for SQL NULL (`0xFB`). Values are slices of `payload`.
pub fn decode_text_row(payload: &Bytes, ncols: usize) -> Result<Vec<Option<Bytes>>, DecodeError> {
    let mut buf = payload.clone();
    // Every column takes at least one byte, so a bogus `ncols` cannot make this allocate more than the
    // payload's size.
    let mut values = Vec::with_capacity(ncols.min(buf.len()));
    for _ in 0..ncols {
        if buf.first() == Some(&LENENC_NULL) {
            read_u8(&mut buf, "text row NULL")?;
            values.push(None);
        } else {
            values.push(Some(read_lenenc_bytes(&mut buf, "text row value")?));
        }
    }
    expect_end(&buf, "text row")?;
    Ok(values)
}

/// Appends a text-protocol row.
pub fn encode_text_row(values: &[Option<Bytes>], out: &mut BytesMut) {
    for v in values {
        match v {
            Some(b) => put_lenenc_bytes(out, b),
            None => out.put_u8(LENENC_NULL),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap; the lint guards library code
mod tests {
    use super::*;

    #[test]
    fn null_bitmap_offsets() {
        let mut out = BytesMut::new();
        NullBitmap::write([true, false, false, false, false, false, true].into_iter(), 2, &mut out);
        assert_eq!(&out[..], &[0b0000_0100, 0b0000_0001]);
        let mut b = out.freeze();
        let bm = NullBitmap::read(&mut b, 7, 2).unwrap();
        assert!(
            bm.is_null(0) && bm.is_null(6) && !bm.is_null(1) && !bm.is_null(7) && !bm.is_null(usize::MAX)
        );
        assert_eq!(NullBitmap::len(0, 2), Some(1));
        assert_eq!(NullBitmap::len(6, 2), Some(1));
        assert_eq!(NullBitmap::len(7, 2), Some(2));
        assert_eq!(NullBitmap::len(0, 0), Some(0));
        assert_eq!(NullBitmap::len(usize::MAX, 2), None);
    }

    #[test]
    fn text_row_with_null_and_empty() {
        let payload = Bytes::from_static(b"\xfb\x00\x03abc");
        let row = decode_text_row(&payload, 3).unwrap();
        assert_eq!(row, vec![None, Some(Bytes::new()), Some(Bytes::from_static(b"abc"))]);
        let mut out = BytesMut::new();
        encode_text_row(&row, &mut out);
        assert_eq!(out.freeze(), payload);
        assert!(matches!(decode_text_row(&payload, 2), Err(DecodeError::TrailingBytes { count: 4, .. })));
        assert!(matches!(decode_text_row(&payload, 4), Err(DecodeError::Truncated { .. })));
        assert!(decode_text_row(&payload, usize::MAX).is_err());
    }

    #[test]
    fn binary_row_header_must_be_zero() {
        let cols = [ColumnDefinition::new("a", ColumnType::MYSQL_TYPE_TINY, Default::default())];
        let payload = Bytes::from_static(&[0xFE, 0x00, 0x05]);
        assert!(matches!(
            decode_binary_row(&payload, &cols),
            Err(DecodeError::InvalidValue { what: "binary row header", value: 0xFE })
        ));
    }

    #[test]
    fn encode_errors_leave_out_untouched() {
        let cols = [
            ColumnDefinition::new("a", ColumnType::MYSQL_TYPE_TINY, Default::default()),
            ColumnDefinition::new("b", ColumnType::MYSQL_TYPE_TINY, Default::default()),
        ];
        let mut out = BytesMut::from(&b"keep"[..]);
        let err = encode_binary_row(&[Value::Int(1), Value::Int(300)], &cols, &mut out).unwrap_err();
        assert_eq!(
            err,
            EncodeError::ValueMismatch {
                index: 1,
                value: "Int",
                column_type: ColumnType::MYSQL_TYPE_TINY,
                unsigned: false
            }
        );
        assert_eq!(&out[..], b"keep");
        let err = encode_binary_row(&[Value::Int(1)], &cols, &mut out).unwrap_err();
        assert!(matches!(err, EncodeError::CountMismatch { expected: 2, got: 1, .. }));
    }
}
