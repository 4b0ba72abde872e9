//! Byte tests on result sets captured from MariaDB 10.11: one column of every type, binary and text rows.

// Tests may unwrap; the workspace lint guards library code.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::{Bytes, BytesMut};
use common::{Fixture, mutations, prefixes};
use sluice_protocol::binary::{
    Value, decode_binary_row, decode_text_row, encode_binary_row, encode_text_row,
};
use sluice_protocol::column::ColumnDefinition;
use sluice_protocol::constants::{ColumnFlags, ColumnType};

fn all_types() -> Fixture {
    Fixture::parse(include_str!("../testdata/all_types.txt"))
}

fn literals() -> Fixture {
    Fixture::parse(include_str!("../testdata/literals.txt"))
}

fn columns(f: &Fixture, kind: &str) -> Vec<ColumnDefinition> {
    f.all(kind).iter().map(|p| ColumnDefinition::parse(p).unwrap()).collect()
}

fn s(b: &[u8]) -> Value {
    Value::Bytes(Bytes::copy_from_slice(b))
}

fn date(year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8, micros: u32) -> Value {
    Value::Date { year, month, day, hour, minute, second, micros }
}

fn time(negative: bool, days: u32, hours: u8, minutes: u8, seconds: u8, micros: u32) -> Value {
    Value::Time { negative, days, hours, minutes, seconds, micros }
}

/// MariaDB's GEOMETRY value: a 4-byte SRID, then WKB (byte order 1 = little endian, type, coordinates).
fn geometry(wkb_type: u32, header: &[u32], coords: &[f64]) -> Value {
    let mut b = vec![0, 0, 0, 0, 1];
    b.extend_from_slice(&wkb_type.to_le_bytes());
    for h in header {
        b.extend_from_slice(&h.to_le_bytes());
    }
    for c in coords {
        b.extend_from_slice(&c.to_le_bytes());
    }
    Value::Bytes(b.into())
}

const NAMES: [&str; 29] = [
    "id",
    "c_tiny",
    "c_utiny",
    "c_small",
    "c_usmall",
    "c_med",
    "c_umed",
    "c_int",
    "c_uint",
    "c_big",
    "c_ubig",
    "c_float",
    "c_double",
    "c_dec",
    "c_date",
    "c_dt",
    "c_ts",
    "c_time",
    "c_year",
    "c_char",
    "c_varchar",
    "c_text",
    "c_blob",
    "c_varbin",
    "c_bit",
    "c_enum",
    "c_set",
    "c_json",
    "c_geom",
];

#[test]
fn captured_columns_parse_and_re_encode_byte_for_byte() {
    use ColumnType::*;
    let f = all_types();
    let payloads = f.all("column");
    let cols = columns(&f, "column");
    assert_eq!(cols.iter().map(|c| std::str::from_utf8(&c.name).unwrap()).collect::<Vec<_>>(), NAMES);
    let types: Vec<_> = cols.iter().map(|c| (c.column_type, c.is_unsigned())).collect();
    #[rustfmt::skip]
    let expected = [
        (MYSQL_TYPE_LONG, false), (MYSQL_TYPE_TINY, false), (MYSQL_TYPE_TINY, true),
        (MYSQL_TYPE_SHORT, false), (MYSQL_TYPE_SHORT, true), (MYSQL_TYPE_INT24, false),
        (MYSQL_TYPE_INT24, true), (MYSQL_TYPE_LONG, false), (MYSQL_TYPE_LONG, true),
        (MYSQL_TYPE_LONGLONG, false), (MYSQL_TYPE_LONGLONG, true), (MYSQL_TYPE_FLOAT, false),
        (MYSQL_TYPE_DOUBLE, false), (MYSQL_TYPE_NEWDECIMAL, false), (MYSQL_TYPE_DATE, false),
        // TIMESTAMP comes UNSIGNED | BINARY: the flag only matters for integers.
        (MYSQL_TYPE_DATETIME, false), (MYSQL_TYPE_TIMESTAMP, true), (MYSQL_TYPE_TIME, false),
        // YEAR is UNSIGNED | ZEROFILL; ENUM and SET travel as STRING with a flag; MariaDB's JSON is a
        // LONGTEXT, so a BLOB with a text collation.
        (MYSQL_TYPE_YEAR, true), (MYSQL_TYPE_STRING, false), (MYSQL_TYPE_VAR_STRING, false),
        (MYSQL_TYPE_BLOB, false), (MYSQL_TYPE_BLOB, false), (MYSQL_TYPE_VAR_STRING, false),
        (MYSQL_TYPE_BIT, true), (MYSQL_TYPE_STRING, false), (MYSQL_TYPE_STRING, false),
        (MYSQL_TYPE_BLOB, false), (MYSQL_TYPE_GEOMETRY, false),
    ];
    assert_eq!(types, expected);
    assert!(cols[25].flags.contains(ColumnFlags::ENUM_FLAG));
    assert!(cols[26].flags.contains(ColumnFlags::SET_FLAG));
    assert_eq!((cols[15].decimals, cols[17].decimals), (6, 6));
    assert_eq!((cols[27].character_set, cols[22].character_set), (45, 63));
    for (c, p) in cols.iter().zip(&payloads) {
        let mut out = BytesMut::new();
        c.encode(&mut out);
        assert_eq!(&out[..], &p[..], "{:?}", c.name);
    }
    // The text result set describes the same columns.
    assert_eq!(columns(&f, "text_column"), cols);
}

fn expected_rows() -> Vec<Vec<Value>> {
    use Value::{Double, Float, Int, Null, UInt};
    let point = |x, y| geometry(1, &[], &[x, y]);
    vec![
        vec![
            Int(1),
            Int(-128),
            UInt(0),
            Int(-32768),
            UInt(0),
            Int(-8_388_608),
            UInt(0),
            Int(-2_147_483_648),
            UInt(0),
            Int(i64::MIN),
            UInt(0),
            Float(-1.5),
            Double(-2.25e-300),
            s(b"-12345678901234.123456"),
            date(1000, 1, 1, 0, 0, 0, 0),
            date(1000, 1, 1, 0, 0, 0, 1),
            date(1970, 1, 2, 0, 0, 0, 500_000),
            time(true, 34, 22, 59, 59, 0),
            UInt(1901),
            s(b"a"),
            s(br#"it's \ "q""#),
            s("héllo \n".as_bytes()),
            s(b"\x00\xff\x10"),
            s(b"\xde\xad\xbe\xef"),
            s(&[0x00, 0x05]),
            s(b"b"),
            s(b"x,z"),
            s(br#"{"k": [1, null]}"#),
            point(1.0, 2.0),
        ],
        vec![
            Int(2),
            Int(127),
            UInt(255),
            Int(32767),
            UInt(65535),
            Int(8_388_607),
            UInt(16_777_215),
            Int(2_147_483_647),
            UInt(4_294_967_295),
            Int(i64::MAX),
            UInt(u64::MAX),
            Float(3.4e38),
            Double(f64::MAX),
            s(b"99999999999999.999999"),
            date(9999, 12, 31, 0, 0, 0, 0),
            date(9999, 12, 31, 23, 59, 59, 999_999),
            date(2038, 1, 19, 3, 14, 7, 999_999),
            time(false, 34, 22, 59, 59, 0),
            UInt(2155),
            s(b"zzzzzzzzzz"),
            s(&[b'v'; 50]),
            s(&[b't'; 300]),
            s(&[0xab; 300]),
            s(&[0xff; 16]),
            s(&[0x0f, 0xff]),
            s(b"c"),
            s(b"x,y,z"),
            s(b"[]"),
            geometry(2, &[3], &[0.0, 0.0, 1.0, 1.0, 2.0, 2.0]),
        ],
        std::iter::once(Int(3)).chain(std::iter::repeat_n(Null, 28)).collect(),
        vec![
            Int(4),
            Int(0),
            UInt(0),
            Int(0),
            UInt(0),
            Int(0),
            UInt(0),
            Int(0),
            UInt(0),
            Int(0),
            UInt(0),
            Float(0.0),
            Double(0.0),
            s(b"0.000000"),
            date(0, 0, 0, 0, 0, 0, 0),
            date(0, 0, 0, 0, 0, 0, 0),
            date(1970, 1, 1, 0, 0, 1, 0),
            time(true, 0, 0, 0, 0, 500_000),
            UInt(0),
            s(b""),
            s(b""),
            s(b""),
            s(b""),
            s(b""),
            s(&[0, 0]),
            s(b""),
            s(b""),
            s(b"\"\""),
            point(0.0, 0.0),
        ],
    ]
}

#[test]
fn captured_binary_rows_decode_to_the_inserted_values_and_re_encode_exactly() {
    let f = all_types();
    let cols = columns(&f, "column");
    let rows = f.all("binary_row");
    let expected = expected_rows();
    assert_eq!(rows.len(), expected.len());
    for (payload, want) in rows.iter().zip(&expected) {
        let got = decode_binary_row(payload, &cols).unwrap();
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(g, w, "row {:?} column {}", want[0], NAMES[i]);
        }
        // The server writes the shortest temporal forms, as encode does: the bytes come back unchanged.
        let mut out = BytesMut::new();
        encode_binary_row(&got, &cols, &mut out).unwrap();
        assert_eq!(&out[..], &payload[..]);
    }
}

/// The text protocol's rendering of a binary value of column `c`, to cross-check the two protocols.
fn text_of(v: &Value, c: &ColumnDefinition) -> Option<Vec<u8>> {
    let frac = |micros: u32| {
        let digits = usize::from(c.decimals.min(6));
        if digits == 0 { String::new() } else { format!(".{:06}", micros)[..=digits].to_owned() }
    };
    Some(match v {
        Value::Null => return None,
        Value::Int(i) => i.to_string().into_bytes(),
        // YEAR is ZEROFILL: 0 prints as 0000.
        Value::UInt(u) if c.column_type == ColumnType::MYSQL_TYPE_YEAR => format!("{u:04}").into_bytes(),
        Value::UInt(u) => u.to_string().into_bytes(),
        Value::Float(_) | Value::Double(_) => unreachable!("compared numerically"),
        Value::Bytes(b) => b.to_vec(),
        Value::Date { year, month, day, hour, minute, second, micros } => {
            let d = format!("{year:04}-{month:02}-{day:02}");
            if c.column_type == ColumnType::MYSQL_TYPE_DATE {
                d.into_bytes()
            } else {
                format!("{d} {hour:02}:{minute:02}:{second:02}{}", frac(*micros)).into_bytes()
            }
        }
        Value::Time { negative, days, hours, minutes, seconds, micros } => {
            let sign = if *negative { "-" } else { "" };
            let h = days * 24 + u32::from(*hours);
            format!("{sign}{h:02}:{minutes:02}:{seconds:02}{}", frac(*micros)).into_bytes()
        }
    })
}

fn assert_text_matches_binary(text: &[Option<Bytes>], binary: &[Value], cols: &[ColumnDefinition]) {
    for ((t, b), c) in text.iter().zip(binary).zip(cols) {
        match (b, t) {
            (Value::Float(x), Some(t)) => {
                assert_eq!(std::str::from_utf8(t).unwrap().parse::<f32>().unwrap(), *x)
            }
            (Value::Double(x), Some(t)) => {
                assert_eq!(std::str::from_utf8(t).unwrap().parse::<f64>().unwrap(), *x)
            }
            _ => assert_eq!(t.as_deref(), text_of(b, c).as_deref(), "column {:?}", c.name),
        }
    }
}

#[test]
fn captured_text_rows_agree_with_the_binary_rows() {
    let f = all_types();
    let cols = columns(&f, "column");
    for (text, binary) in f.all("text_row").iter().zip(f.all("binary_row")) {
        let t = decode_text_row(text, cols.len()).unwrap();
        assert_text_matches_binary(&t, &decode_binary_row(&binary, &cols).unwrap(), &cols);
        let mut out = BytesMut::new();
        encode_text_row(&t, &mut out);
        assert_eq!(&out[..], &text[..]);
    }
}

#[test]
fn captured_literals_have_expression_types() {
    use ColumnType::*;
    let f = literals();
    let cols = columns(&f, "column");
    let types: Vec<_> = cols.iter().map(|c| (c.column_type, c.is_unsigned())).collect();
    #[rustfmt::skip]
    assert_eq!(types, [
        (MYSQL_TYPE_NULL, false), (MYSQL_TYPE_LONG, false), (MYSQL_TYPE_LONG, false),
        (MYSQL_TYPE_LONGLONG, true), (MYSQL_TYPE_NEWDECIMAL, false), (MYSQL_TYPE_DOUBLE, false),
        // X'FF' is a binary VAR_STRING that MariaDB flags UNSIGNED.
        (MYSQL_TYPE_LONG, true), (MYSQL_TYPE_VAR_STRING, false), (MYSQL_TYPE_VAR_STRING, true),
        (MYSQL_TYPE_DATETIME, false), (MYSQL_TYPE_DATE, false), (MYSQL_TYPE_TIME, false),
        (MYSQL_TYPE_FLOAT, false), (MYSQL_TYPE_LONG, true),
    ]);
    let row = decode_binary_row(&f.one("binary_row"), &cols).unwrap();
    let expected = vec![
        Value::Null,
        Value::Int(1),
        Value::Int(-1),
        Value::UInt(u64::MAX),
        s(b"1.5"),
        Value::Double(1.5),
        Value::UInt(2),
        s(b"str"),
        s(b"\xff"),
        date(2024, 2, 29, 12, 34, 56, 789_000),
        date(2024, 2, 29, 0, 0, 0, 0),
        time(true, 1, 2, 3, 4, 0),
        Value::Float(1.0),
        Value::UInt(1),
    ];
    assert_eq!(row, expected);
    let literals: Vec<_> = row.iter().map(Value::to_sql_literal).collect();
    assert_eq!(
        literals.join(", "),
        "NULL, 1, -1, 18446744073709551615, '1.5', 1.5, 2, 'str', X'FF', '2024-02-29 12:34:56.789000', \
         '2024-02-29', '-26:03:04', 1.0, 1"
    );
    let text = decode_text_row(&f.one("text_row"), cols.len()).unwrap();
    assert_text_matches_binary(&text, &row, &cols);
    let mut out = BytesMut::new();
    encode_binary_row(&row, &cols, &mut out).unwrap();
    assert_eq!(out.freeze(), f.one("binary_row"));
}

#[test]
fn captured_row_literals_escape_and_hex() {
    let f = all_types();
    let cols = columns(&f, "column");
    let row = decode_binary_row(&f.all("binary_row")[0], &cols).unwrap();
    let lit = |name: &str| row[NAMES.iter().position(|n| *n == name).unwrap()].to_sql_literal();
    assert_eq!(lit("c_varchar"), r#"'it\'s \\ \"q\"'"#);
    assert_eq!(lit("c_text"), r"'héllo \n'");
    assert_eq!(lit("c_blob"), "X'00FF10'");
    assert_eq!(lit("c_dt"), "'1000-01-01 00:00:00.000001'");
    assert_eq!(lit("c_time"), "'-838:59:59'");
    assert_eq!(lit("c_double"), "-2.25e-300");
    assert_eq!(lit("c_ubig"), "0");
}

#[test]
fn truncated_or_mutated_captured_rows_are_errors_not_panics() {
    for f in [all_types(), literals()] {
        let cols = columns(&f, "column");
        for row in f.all("binary_row") {
            for p in prefixes(&row) {
                assert!(decode_binary_row(&p, &cols).is_err(), "prefix of {} bytes", p.len());
            }
            for m in mutations(&row) {
                let _ = decode_binary_row(&m, &cols);
            }
        }
        for row in f.all("text_row") {
            for p in prefixes(&row) {
                assert!(decode_text_row(&p, cols.len()).is_err());
            }
            for m in mutations(&row) {
                let _ = decode_text_row(&m, cols.len());
            }
        }
        for c in f.all("column") {
            for p in prefixes(&c) {
                assert!(ColumnDefinition::parse(&p).is_err());
            }
            for m in mutations(&c) {
                let _ = ColumnDefinition::parse(&m);
            }
        }
    }
}
