//! One binary-protocol value: how each column type is laid out, read and written.

use bytes::{BufMut, Bytes, BytesMut};

use super::Value;
use crate::column::{
    DecodeError, put_lenenc_bytes, read_bytes, read_lenenc_bytes, read_u8, read_u16_le, read_u32_le,
};
use crate::constants::ColumnType;

/// The wire layout of a column type's non-NULL values in the binary protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// MYSQL_TYPE_NULL: no bytes (the value is NULL whatever the bitmap says).
    Null,
    /// A little-endian integer of this many bytes.
    Int(usize),
    /// 4-byte IEEE float.
    Float,
    /// 8-byte IEEE double.
    Double,
    /// Length byte (0, 4, 7 or 11) then year, month, day, hour, minute, second, micros.
    DateTime,
    /// Length byte (0, 8 or 12) then sign, days, hours, minutes, seconds, micros.
    Time,
    /// A length-encoded string.
    Lenenc,
}

/// The layout of `t`. The internal types (NEWDATE, TIMESTAMP2, DATETIME2, TIME2) never reach a client,
/// but are mapped to the layout of their public type rather than rejected.
pub(super) fn layout(t: ColumnType) -> Layout {
    use ColumnType::*;
    match t {
        MYSQL_TYPE_NULL => Layout::Null,
        MYSQL_TYPE_TINY => Layout::Int(1),
        MYSQL_TYPE_SHORT | MYSQL_TYPE_YEAR => Layout::Int(2),
        MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG => Layout::Int(4),
        MYSQL_TYPE_LONGLONG => Layout::Int(8),
        MYSQL_TYPE_FLOAT => Layout::Float,
        MYSQL_TYPE_DOUBLE => Layout::Double,
        MYSQL_TYPE_DATE
        | MYSQL_TYPE_NEWDATE
        | MYSQL_TYPE_DATETIME
        | MYSQL_TYPE_DATETIME2
        | MYSQL_TYPE_TIMESTAMP
        | MYSQL_TYPE_TIMESTAMP2 => Layout::DateTime,
        MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => Layout::Time,
        _ => Layout::Lenenc,
    }
}

/// Reads one non-NULL value of type `t` from the front of `buf`.
pub(super) fn decode_value(buf: &mut Bytes, t: ColumnType, unsigned: bool) -> Result<Value, DecodeError> {
    Ok(match layout(t) {
        Layout::Null => Value::Null,
        Layout::Int(width) => {
            let raw = read_bytes(buf, width, "binary integer")?;
            let mut le = [0u8; 8];
            // `raw` has exactly `width` (≤ 8) bytes, so the zip never runs past either side.
            for (dst, src) in le.iter_mut().zip(raw.iter()) {
                *dst = *src;
            }
            let bits = u64::from_le_bytes(le);
            if unsigned {
                Value::UInt(bits)
            } else {
                // Shift the sign bit of the `width`-byte integer to bit 63 and back to sign-extend.
                let shift = 64 - 8 * width as u32;
                Value::Int(((bits << shift) as i64) >> shift)
            }
        }
        Layout::Float => Value::Float(f32::from_bits(read_u32_le(buf, "FLOAT")?)),
        Layout::Double => Value::Double(f64::from_bits(crate::column::read_u64_le(buf, "DOUBLE")?)),
        Layout::DateTime => decode_datetime(buf)?,
        Layout::Time => decode_time(buf)?,
        Layout::Lenenc => Value::Bytes(read_lenenc_bytes(buf, "binary string value")?),
    })
}

fn decode_datetime(buf: &mut Bytes) -> Result<Value, DecodeError> {
    let len = read_u8(buf, "DATETIME length")?;
    if !matches!(len, 0 | 4 | 7 | 11) {
        return Err(DecodeError::InvalidValue { what: "DATETIME length", value: u64::from(len) });
    }
    let mut body = read_bytes(buf, usize::from(len), "DATETIME")?;
    let mut v = [0u8; 5];
    let mut year = 0;
    let mut micros = 0;
    if len >= 4 {
        year = read_u16_le(&mut body, "DATETIME year")?;
        v[0] = read_u8(&mut body, "DATETIME month")?;
        v[1] = read_u8(&mut body, "DATETIME day")?;
    }
    if len >= 7 {
        for field in &mut v[2..] {
            *field = read_u8(&mut body, "DATETIME time")?;
        }
    }
    if len == 11 {
        micros = read_u32_le(&mut body, "DATETIME microseconds")?;
    }
    let [month, day, hour, minute, second] = v;
    Ok(Value::Date { year, month, day, hour, minute, second, micros })
}

fn decode_time(buf: &mut Bytes) -> Result<Value, DecodeError> {
    let len = read_u8(buf, "TIME length")?;
    if !matches!(len, 0 | 8 | 12) {
        return Err(DecodeError::InvalidValue { what: "TIME length", value: u64::from(len) });
    }
    let mut body = read_bytes(buf, usize::from(len), "TIME")?;
    if len == 0 {
        return Ok(Value::Time { negative: false, days: 0, hours: 0, minutes: 0, seconds: 0, micros: 0 });
    }
    let negative = match read_u8(&mut body, "TIME sign")? {
        0 => false,
        1 => true,
        b => return Err(DecodeError::InvalidValue { what: "TIME sign", value: u64::from(b) }),
    };
    let days = read_u32_le(&mut body, "TIME days")?;
    let hours = read_u8(&mut body, "TIME hours")?;
    let minutes = read_u8(&mut body, "TIME minutes")?;
    let seconds = read_u8(&mut body, "TIME seconds")?;
    let micros = if len == 12 { read_u32_le(&mut body, "TIME microseconds")? } else { 0 };
    Ok(Value::Time { negative, days, hours, minutes, seconds, micros })
}

/// Why a value cannot be written as a column type: the caller adds the position.
#[derive(Debug)]
pub(super) struct Mismatch;

/// Appends the non-NULL value `v` as type `t`. Integers are accepted across `Int`/`UInt` when they fit
/// the column's width and signedness, so that `Int(5)` can fill an unsigned column; anything that would
/// change the value on the way back (a negative number in an unsigned column, a DOUBLE in a FLOAT
/// column) is a [`Mismatch`].
pub(super) fn encode_value(
    v: &Value,
    t: ColumnType,
    unsigned: bool,
    out: &mut BytesMut,
) -> Result<(), Mismatch> {
    match (layout(t), v) {
        (Layout::Null, Value::Null) => {}
        (Layout::Int(width), Value::Int(_) | Value::UInt(_)) => {
            let bits = int_bits(v, width, unsigned).ok_or(Mismatch)?;
            out.put_uint_le(bits, width);
        }
        (Layout::Float, Value::Float(f)) => out.put_f32_le(*f),
        (Layout::Double, Value::Double(d)) => out.put_f64_le(*d),
        (Layout::Double, Value::Float(f)) => out.put_f64_le(f64::from(*f)),
        (Layout::DateTime, Value::Date { year, month, day, hour, minute, second, micros }) => {
            // The shortest form, as the server writes it: 11 with a fraction, 7 with a time, 4 with a date.
            let len: u8 = if *micros != 0 {
                11
            } else if (*hour, *minute, *second) != (0, 0, 0) {
                7
            } else if (*year, *month, *day) != (0, 0, 0) {
                4
            } else {
                0
            };
            out.put_u8(len);
            if len >= 4 {
                out.put_u16_le(*year);
                out.put_slice(&[*month, *day]);
            }
            if len >= 7 {
                out.put_slice(&[*hour, *minute, *second]);
            }
            if len == 11 {
                out.put_u32_le(*micros);
            }
        }
        (Layout::Time, Value::Time { negative, days, hours, minutes, seconds, micros }) => {
            // As the server does, except that a negative zero keeps its sign (8 bytes rather than 0).
            let len: u8 = if *micros != 0 {
                12
            } else if *negative || *days != 0 || (*hours, *minutes, *seconds) != (0, 0, 0) {
                8
            } else {
                0
            };
            out.put_u8(len);
            if len >= 8 {
                out.put_u8(u8::from(*negative));
                out.put_u32_le(*days);
                out.put_slice(&[*hours, *minutes, *seconds]);
            }
            if len == 12 {
                out.put_u32_le(*micros);
            }
        }
        (Layout::Lenenc, Value::Bytes(b)) => put_lenenc_bytes(out, b),
        _ => return Err(Mismatch),
    }
    Ok(())
}

/// The low `width` bytes of an integer value, if it fits a `width`-byte integer of that signedness.
fn int_bits(v: &Value, width: usize, unsigned: bool) -> Option<u64> {
    let n: i128 = match v {
        Value::Int(i) => i128::from(*i),
        Value::UInt(u) => i128::from(*u),
        _ => return None,
    };
    let bits = 8 * u32::try_from(width).ok()?;
    let (min, max) =
        if unsigned { (0, (1i128 << bits) - 1) } else { (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1) };
    if n < min || n > max {
        return None;
    }
    // Two's complement of a value in range; `put_uint_le` keeps only the low `width` bytes.
    Some(n as u64)
}
