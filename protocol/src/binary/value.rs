//! `Value`: one owned binary-protocol value (row cell or statement parameter) and its SQL literal form.

use std::fmt::Write as _;

use bytes::Bytes;

/// One value of a binary-protocol row or COM_STMT_EXECUTE parameter.
///
/// Temporal fields are kept exactly as sent and not range-checked: the server is the judge of what they
/// mean (zero dates, `ALLOW_INVALID_DATES`, clients that send TIME hours ≥ 24), and a proxy must pass
/// them through unchanged.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL (set in the NULL bitmap; no bytes on the wire).
    Null,
    /// A signed integer column or parameter (TINY, SHORT, YEAR, INT24, LONG, LONGLONG).
    Int(i64),
    /// An integer whose column or parameter has the UNSIGNED flag.
    UInt(u64),
    /// FLOAT.
    Float(f32),
    /// DOUBLE.
    Double(f64),
    /// Everything sent as a length-encoded string: CHAR/VARCHAR/TEXT/BLOB, DECIMAL (as text), JSON,
    /// BIT, ENUM, SET, GEOMETRY (SRID + WKB).
    Bytes(Bytes),
    /// DATE, DATETIME and TIMESTAMP. A DATE has zero time fields.
    Date {
        /// Year, 0 for a zero date.
        year: u16,
        /// Month 1–12, 0 for a zero date.
        month: u8,
        /// Day 1–31, 0 for a zero date.
        day: u8,
        /// Hour 0–23.
        hour: u8,
        /// Minute 0–59.
        minute: u8,
        /// Second 0–59.
        second: u8,
        /// Microseconds 0–999999.
        micros: u32,
    },
    /// TIME: a signed duration, split by the protocol into days and a time of day.
    Time {
        /// Whether the duration is negative.
        negative: bool,
        /// Whole days (MariaDB's range ±838:59:59 gives at most 34).
        days: u32,
        /// Hours 0–23 beyond the days.
        hours: u8,
        /// Minutes 0–59.
        minutes: u8,
        /// Seconds 0–59.
        seconds: u8,
        /// Microseconds 0–999999.
        micros: u32,
    },
}

impl Value {
    /// The variant's name, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "Null",
            Value::Int(_) => "Int",
            Value::UInt(_) => "UInt",
            Value::Float(_) => "Float",
            Value::Double(_) => "Double",
            Value::Bytes(_) => "Bytes",
            Value::Date { .. } => "Date",
            Value::Time { .. } => "Time",
        }
    }

    /// Renders the value as a MySQL literal, for logs and replay.
    ///
    /// - UTF-8 bytes become a quoted string escaped as `mysql_real_escape_string` does (`\0 \n \r \\ \'
    ///   \" \Z`), which assumes the session does not use `NO_BACKSLASH_ESCAPES`; other bytes become
    ///   `X'…'`.
    /// - Dates and times become quoted strings (`'2024-02-29 13:14:15.123456'`, `'-838:59:59'`), with
    ///   the time or the fraction left out when zero, as MySQL prints them.
    /// - Floats use the shortest form that reads back to the same value. NaN and infinities, which
    ///   MySQL cannot store, render as `NULL`.
    pub fn to_sql_literal(&self) -> String {
        match self {
            Value::Null => "NULL".to_owned(),
            Value::Int(i) => i.to_string(),
            Value::UInt(u) => u.to_string(),
            Value::Float(f) if f.is_finite() => format!("{f:?}"),
            Value::Double(d) if d.is_finite() => format!("{d:?}"),
            Value::Float(_) | Value::Double(_) => "NULL".to_owned(),
            Value::Bytes(b) => bytes_literal(b),
            Value::Date { year, month, day, hour, minute, second, micros } => {
                let mut s = format!("'{year:04}-{month:02}-{day:02}");
                if (*hour, *minute, *second, *micros) != (0, 0, 0, 0) {
                    // Writing to a String cannot fail.
                    let _ = write!(s, " {hour:02}:{minute:02}:{second:02}");
                    push_micros(&mut s, *micros);
                }
                s.push('\'');
                s
            }
            Value::Time { negative, days, hours, minutes, seconds, micros } => {
                let total_hours = u64::from(*days) * 24 + u64::from(*hours);
                let sign = if *negative { "-" } else { "" };
                let mut s = format!("'{sign}{total_hours:02}:{minutes:02}:{seconds:02}");
                push_micros(&mut s, *micros);
                s.push('\'');
                s
            }
        }
    }
}

/// Appends `.ffffff` unless the fraction is zero.
fn push_micros(s: &mut String, micros: u32) {
    if micros != 0 {
        let _ = write!(s, ".{micros:06}");
    }
}

/// A string literal if the bytes are UTF-8, else a hex literal.
fn bytes_literal(b: &[u8]) -> String {
    let Ok(text) = std::str::from_utf8(b) else {
        let mut s = String::with_capacity(3 + 2 * b.len());
        s.push_str("X'");
        for byte in b {
            let _ = write!(s, "{byte:02X}");
        }
        s.push('\'');
        return s;
    };
    let mut s = String::with_capacity(text.len() + 2);
    s.push('\'');
    for c in text.chars() {
        match c {
            '\0' => s.push_str("\\0"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\\' => s.push_str("\\\\"),
            '\'' => s.push_str("\\'"),
            '"' => s.push_str("\\\""),
            '\x1a' => s.push_str("\\Z"),
            c => s.push(c),
        }
    }
    s.push('\'');
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap; the lint guards library code
mod tests {
    use super::*;

    fn date(year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8, micros: u32) -> Value {
        Value::Date { year, month, day, hour, minute, second, micros }
    }

    fn time(negative: bool, days: u32, hours: u8, minutes: u8, seconds: u8, micros: u32) -> Value {
        Value::Time { negative, days, hours, minutes, seconds, micros }
    }

    #[test]
    fn literals_of_every_variant() {
        let cases = [
            (Value::Null, "NULL"),
            (Value::Int(i64::MIN), "-9223372036854775808"),
            (Value::UInt(u64::MAX), "18446744073709551615"),
            (Value::Float(2.5), "2.5"),
            (Value::Float(0.1), "0.1"),
            (Value::Double(0.1), "0.1"),
            (Value::Double(-2.25e-300), "-2.25e-300"),
            (Value::Double(1.0), "1.0"),
            (Value::Double(f64::NAN), "NULL"),
            (Value::Float(f32::INFINITY), "NULL"),
            (Value::Bytes(Bytes::from_static(b"")), "''"),
            (Value::Bytes(Bytes::from_static("héllo".as_bytes())), "'héllo'"),
            (Value::Bytes(Bytes::from_static(b"it's \\ \"q\"\n\r\0\x1a")), r#"'it\'s \\ \"q\"\n\r\0\Z'"#),
            (Value::Bytes(Bytes::from_static(b"\x00\xff\x80")), "X'00FF80'"),
            (date(0, 0, 0, 0, 0, 0, 0), "'0000-00-00'"),
            (date(1999, 12, 31, 0, 0, 0, 0), "'1999-12-31'"),
            (date(2024, 2, 29, 13, 14, 15, 0), "'2024-02-29 13:14:15'"),
            (date(2024, 2, 29, 0, 0, 0, 123), "'2024-02-29 00:00:00.000123'"),
            (time(false, 0, 0, 0, 0, 0), "'00:00:00'"),
            (time(true, 34, 22, 59, 59, 0), "'-838:59:59'"),
            (time(true, 1, 2, 3, 4, 500_000), "'-26:03:04.500000'"),
        ];
        for (v, lit) in cases {
            assert_eq!(v.to_sql_literal(), lit, "{v:?}");
        }
    }

    #[test]
    fn float_literals_read_back_exactly() {
        for d in [0.1, 1e300, -1.7976931348623157e308, 5e-324, 123456.789] {
            let lit = Value::Double(d).to_sql_literal();
            assert_eq!(lit.parse::<f64>().unwrap().to_bits(), d.to_bits(), "{lit}");
        }
        let lit = Value::Float(3.4e38).to_sql_literal();
        assert_eq!(lit.parse::<f32>().unwrap(), 3.4e38);
    }
}
