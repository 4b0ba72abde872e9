//! Byte tests on result sets captured from MySQL 9.7 (`testdata/capture_mysql.py`): the column types
//! MariaDB lacks — JSON as MySQL sends it (MYSQL_TYPE_JSON, binary collation on a table column) and
//! VECTOR (MYSQL_TYPE_VECTOR, little-endian FLOAT32s as length-encoded bytes in both protocols) —
//! parse, decode, and re-encode byte for byte, binary and text rows alike.

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

fn fixture() -> Fixture {
    Fixture::parse(include_str!("../testdata/mysql_types.txt"))
}

fn columns(f: &Fixture, kind: &str) -> Vec<ColumnDefinition> {
    f.all(kind).iter().map(|p| ColumnDefinition::parse(p).unwrap()).collect()
}

fn s(b: &[u8]) -> Value {
    Value::Bytes(Bytes::copy_from_slice(b))
}

/// A VECTOR value as MySQL stores and sends it: each dimension a little-endian FLOAT32.
fn vector(dims: &[f32]) -> Value {
    Value::Bytes(dims.iter().flat_map(|d| d.to_le_bytes()).collect::<Vec<u8>>().into())
}

#[test]
fn mysql_json_and_vector_columns_parse_and_re_encode_byte_for_byte() {
    use ColumnType::*;
    let f = fixture();
    let payloads = f.all("column");
    let cols = columns(&f, "column");
    let names: Vec<_> = cols.iter().map(|c| std::str::from_utf8(&c.name).unwrap()).collect();
    assert_eq!(names, ["id", "c_json", "c_vec", "c_vec100"]);
    let types: Vec<_> = cols.iter().map(|c| c.column_type).collect();
    assert_eq!(types, [MYSQL_TYPE_LONG, MYSQL_TYPE_JSON, MYSQL_TYPE_VECTOR, MYSQL_TYPE_VECTOR]);
    assert_eq!((MYSQL_TYPE_JSON as u8, MYSQL_TYPE_VECTOR as u8), (0xf5, 0xf2));
    // A table's JSON column is BLOB | BINARY in the binary collation (63), unlike MariaDB's LONGTEXT;
    // a VECTOR's length is 4 bytes per dimension.
    assert_eq!(cols[1].character_set, 63);
    assert!(cols[1].flags.contains(ColumnFlags::BLOB_FLAG | ColumnFlags::BINARY_FLAG));
    assert_eq!((cols[2].column_length, cols[3].column_length), (12, 400));
    for (c, p) in cols.iter().zip(&payloads) {
        let mut out = BytesMut::new();
        c.encode(&mut out);
        assert_eq!(&out[..], &p[..], "{:?}", c.name);
    }
    assert_eq!(columns(&f, "text_column"), cols);
}

fn expected_rows() -> Vec<Vec<Value>> {
    let mut big = vec![0.25f32; 99];
    big.push(1.0);
    vec![
        vec![
            Value::Int(1),
            s(br#"{"k": [1, null, true], "s": "x"}"#),
            vector(&[1.5, -2.0, 3e-5]),
            vector(&[0.0]),
        ],
        vec![Value::Int(2), s(r#"["héllo", "a\\b", {}, []]"#.as_bytes()), vector(&[0.0; 3]), vector(&big)],
        vec![Value::Int(3), Value::Null, Value::Null, Value::Null],
    ]
}

#[test]
fn mysql_binary_rows_decode_to_the_inserted_values_and_re_encode_exactly() {
    let f = fixture();
    let cols = columns(&f, "column");
    let rows = f.all("binary_row");
    let expected = expected_rows();
    assert_eq!(rows.len(), expected.len());
    for (payload, want) in rows.iter().zip(&expected) {
        assert_eq!(&decode_binary_row(payload, &cols).unwrap(), want);
        let mut out = BytesMut::new();
        encode_binary_row(want, &cols, &mut out).unwrap();
        assert_eq!(&out[..], &payload[..]);
    }
    // The 400-byte vector travels with a 3-byte length (0xfc 0x90 0x01).
    let long = &rows[1];
    let at = long.windows(3).position(|w| w == [0xfc, 0x90, 0x01]).unwrap();
    assert_eq!(long.len() - at, 3 + 400);
}

#[test]
fn mysql_text_rows_carry_the_same_bytes_and_re_encode_exactly() {
    let f = fixture();
    let cols = columns(&f, "column");
    let expected = expected_rows();
    for (text, want) in f.all("text_row").iter().zip(&expected) {
        let got = decode_text_row(text, cols.len()).unwrap();
        // The text protocol sends JSON as text and a VECTOR as its raw bytes, as the binary one does.
        for (i, (cell, value)) in got.iter().zip(want).enumerate().skip(1) {
            match value {
                Value::Null => assert_eq!(cell, &None, "column {i}"),
                Value::Bytes(b) => assert_eq!(cell.as_ref(), Some(b), "column {i}"),
                other => panic!("unexpected {other:?}"),
            }
        }
        let mut out = BytesMut::new();
        encode_text_row(&got, &mut out);
        assert_eq!(&out[..], &text[..]);
    }
}

#[test]
fn mysql_json_and_vector_expressions() {
    use ColumnType::*;
    let f = fixture();
    let cols = columns(&f, "literal_column");
    let types: Vec<_> = cols.iter().map(|c| c.column_type).collect();
    // VECTOR_TO_STRING is a MEDIUM_BLOB of text; CAST(NULL AS JSON) is still JSON.
    assert_eq!(
        types,
        [MYSQL_TYPE_JSON, MYSQL_TYPE_JSON, MYSQL_TYPE_VECTOR, MYSQL_TYPE_MEDIUM_BLOB, MYSQL_TYPE_JSON]
    );
    // An expression's JSON is utf8mb4 text, not binary.
    assert_eq!(cols[0].character_set, 45);
    let row = f.one("literal_binary_row");
    let values = decode_binary_row(&row, &cols).unwrap();
    assert_eq!(
        values,
        [
            s(br#"{"a": 1}"#),
            s(br#"[1, "x"]"#),
            vector(&[1.0, 2.0]),
            s(b"[1.00000e+00,2.00000e+00]"),
            Value::Null,
        ]
    );
    let mut out = BytesMut::new();
    encode_binary_row(&values, &cols, &mut out).unwrap();
    assert_eq!(out.freeze(), row);
    let text = f.one("literal_text_row");
    let cells = decode_text_row(&text, cols.len()).unwrap();
    let mut out = BytesMut::new();
    encode_text_row(&cells, &mut out);
    assert_eq!(out.freeze(), text);
    assert_eq!(columns(&f, "literal_text_column"), cols);
}

#[test]
fn truncated_or_mutated_mysql_rows_are_errors_not_panics() {
    let f = fixture();
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
    }
}
