//! Unit and property tests of the row and parameter codecs on hand-made bytes (captured ones are in tests/).

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::cell::{Layout, layout};
use super::*;
use crate::column::ColumnDefinition;
use crate::constants::{ColumnFlags, ColumnType};

fn col(t: ColumnType, unsigned: bool) -> ColumnDefinition {
    let flags = if unsigned { ColumnFlags::UNSIGNED_FLAG } else { ColumnFlags::empty() };
    ColumnDefinition::new("c", t, flags)
}

fn row_bytes(values: &[Value], cols: &[ColumnDefinition]) -> Bytes {
    let mut out = BytesMut::new();
    encode_binary_row(values, cols, &mut out).unwrap();
    out.freeze()
}

/// Equality that treats floats as bit patterns, so NaN round trips compare equal.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        (Value::Double(x), Value::Double(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

#[test]
fn one_value_per_type_has_the_documented_bytes() {
    use ColumnType::*;
    let d = |len: u8| Value::Date {
        year: 2024,
        month: 2,
        day: 29,
        hour: if len >= 7 { 13 } else { 0 },
        minute: if len >= 7 { 14 } else { 0 },
        second: if len >= 7 { 15 } else { 0 },
        micros: if len == 11 { 123_456 } else { 0 },
    };
    let zero_date = Value::Date { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, micros: 0 };
    let t = |micros| Value::Time { negative: true, days: 1, hours: 2, minutes: 3, seconds: 4, micros };
    let zero_time = Value::Time { negative: false, days: 0, hours: 0, minutes: 0, seconds: 0, micros: 0 };
    let cases: Vec<(ColumnType, bool, Value, &[u8])> = vec![
        (MYSQL_TYPE_TINY, false, Value::Int(-1), &[0xff]),
        (MYSQL_TYPE_TINY, true, Value::UInt(255), &[0xff]),
        (MYSQL_TYPE_SHORT, false, Value::Int(-2), &[0xfe, 0xff]),
        (MYSQL_TYPE_YEAR, true, Value::UInt(2155), &[0x6b, 0x08]),
        (MYSQL_TYPE_INT24, false, Value::Int(-8_388_608), &[0x00, 0x00, 0x80, 0xff]),
        (MYSQL_TYPE_LONG, true, Value::UInt(4_294_967_295), &[0xff; 4]),
        (MYSQL_TYPE_LONGLONG, false, Value::Int(i64::MIN), &[0, 0, 0, 0, 0, 0, 0, 0x80]),
        (MYSQL_TYPE_LONGLONG, true, Value::UInt(u64::MAX), &[0xff; 8]),
        (MYSQL_TYPE_FLOAT, false, Value::Float(2.5), &[0, 0, 0x20, 0x40]),
        (MYSQL_TYPE_DOUBLE, false, Value::Double(0.1), &[0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xb9, 0x3f]),
        (MYSQL_TYPE_DATE, false, zero_date.clone(), &[0]),
        (MYSQL_TYPE_DATE, false, d(4), &[4, 0xe8, 0x07, 2, 29]),
        (MYSQL_TYPE_DATETIME, false, d(7), &[7, 0xe8, 0x07, 2, 29, 13, 14, 15]),
        (MYSQL_TYPE_TIMESTAMP, false, d(11), &[11, 0xe8, 0x07, 2, 29, 13, 14, 15, 0x40, 0xe2, 0x01, 0]),
        (MYSQL_TYPE_TIME, false, zero_time, &[0]),
        (MYSQL_TYPE_TIME, false, t(0), &[8, 1, 1, 0, 0, 0, 2, 3, 4]),
        (MYSQL_TYPE_TIME, false, t(500_000), &[12, 1, 1, 0, 0, 0, 2, 3, 4, 0x20, 0xa1, 0x07, 0]),
        (MYSQL_TYPE_NEWDECIMAL, false, Value::Bytes(Bytes::from_static(b"-1.5")), b"\x04-1.5"),
        (MYSQL_TYPE_VAR_STRING, false, Value::Bytes(Bytes::new()), &[0]),
        (MYSQL_TYPE_BIT, true, Value::Bytes(Bytes::from_static(&[0x0f, 0xff])), &[2, 0x0f, 0xff]),
        // MySQL's JSON and VECTOR (here [1.0, -2.0]) are length-encoded bytes.
        (MYSQL_TYPE_JSON, false, Value::Bytes(Bytes::from_static(b"{}")), b"\x02{}"),
        (
            MYSQL_TYPE_VECTOR,
            false,
            Value::Bytes(Bytes::from_static(&[0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0])),
            &[8, 0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0],
        ),
    ];
    for (ty, unsigned, value, bytes) in cases {
        let cols = [col(ty, unsigned)];
        // A non-NULL value in a one-column row: header, bitmap byte 0, then the value.
        let mut expected = vec![0x00, 0x00];
        expected.extend_from_slice(bytes);
        let encoded = row_bytes(std::slice::from_ref(&value), &cols);
        assert_eq!(&encoded[..], &expected[..], "{ty:?} {value:?}");
        assert_eq!(decode_binary_row(&encoded, &cols).unwrap(), vec![value], "{ty:?}");
    }
}

#[test]
fn nulls_are_in_the_bitmap_only() {
    let cols: Vec<_> = (0..9).map(|_| col(ColumnType::MYSQL_TYPE_LONG, false)).collect();
    let mut values = vec![Value::Null; 9];
    values[3] = Value::Int(7);
    let bytes = row_bytes(&values, &cols);
    // Bits 2.. of the bitmap: columns 0-2 and 4-8 NULL (bits 2,3,4,6,7 of byte 0; bits 0-2 of byte 1).
    assert_eq!(&bytes[..], &[0x00, 0b1101_1100, 0b0000_0111, 7, 0, 0, 0]);
    assert_eq!(decode_binary_row(&bytes, &cols).unwrap(), values);
}

#[test]
fn integers_cross_signedness_only_when_they_fit() {
    let mut out = BytesMut::new();
    let u8col = [col(ColumnType::MYSQL_TYPE_TINY, true)];
    assert!(encode_binary_row(&[Value::Int(255)], &u8col, &mut out).is_ok());
    assert!(encode_binary_row(&[Value::Int(-1)], &u8col, &mut out).is_err());
    assert!(encode_binary_row(&[Value::Int(256)], &u8col, &mut out).is_err());
    let i64col = [col(ColumnType::MYSQL_TYPE_LONGLONG, false)];
    assert!(encode_binary_row(&[Value::UInt(i64::MAX as u64)], &i64col, &mut out).is_ok());
    assert!(encode_binary_row(&[Value::UInt(u64::MAX)], &i64col, &mut out).is_err());
    let floatcol = [col(ColumnType::MYSQL_TYPE_FLOAT, false)];
    assert!(encode_binary_row(&[Value::Double(1.0)], &floatcol, &mut out).is_err());
    let doublecol = [col(ColumnType::MYSQL_TYPE_DOUBLE, false)];
    assert!(encode_binary_row(&[Value::Float(1.5)], &doublecol, &mut out).is_ok());
    let nullcol = [col(ColumnType::MYSQL_TYPE_NULL, false)];
    assert!(encode_binary_row(&[Value::Int(1)], &nullcol, &mut out).is_err());
    let strcol = [col(ColumnType::MYSQL_TYPE_STRING, false)];
    assert!(encode_binary_row(&[Value::Int(1)], &strcol, &mut out).is_err());
}

#[test]
fn bad_temporal_encodings_are_errors() {
    let cases: [(ColumnType, &[u8]); 5] = [
        (ColumnType::MYSQL_TYPE_DATETIME, &[0, 0, 5, 1, 2, 3, 4, 5]),
        (ColumnType::MYSQL_TYPE_DATETIME, &[0, 0, 11, 1, 2, 3, 4, 5, 6, 7]),
        (ColumnType::MYSQL_TYPE_TIME, &[0, 0, 7, 0, 0, 0, 0, 0, 0, 0]),
        (ColumnType::MYSQL_TYPE_TIME, &[0, 0, 8, 2, 0, 0, 0, 0, 0, 0, 0]),
        (ColumnType::MYSQL_TYPE_TIME, &[0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0]),
    ];
    for (ty, bytes) in cases {
        assert!(decode_binary_row(&Bytes::from_static(bytes), &[col(ty, false)]).is_err(), "{bytes:?}");
    }
}

#[test]
fn stmt_execute_without_params_has_no_bitmap() {
    let stmt = StmtExecute {
        statement_id: 7,
        flags: 1,
        iteration_count: 1,
        params: vec![],
        types: vec![],
        new_params_bound: false,
        long_data: vec![],
    };
    let mut out = BytesMut::new();
    encode_stmt_execute(&stmt, &mut out).unwrap();
    let bytes = out.freeze();
    assert_eq!(&bytes[..], &[0x17, 7, 0, 0, 0, 1, 1, 0, 0, 0]);
    assert_eq!(parse_stmt_execute(&bytes, 0, None, &[]).unwrap(), stmt);
    let mut extra = bytes.to_vec();
    extra.push(0);
    assert!(parse_stmt_execute(&Bytes::from(extra), 0, None, &[]).is_err());
}

#[test]
fn stmt_execute_needs_types_from_somewhere() {
    // One parameter, not NULL, types not bound: a TINY 5 if the previous types say so.
    let bytes = Bytes::from_static(&[0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0x00, 0x00, 5]);
    assert_eq!(parse_stmt_execute(&bytes, 1, None, &[]), Err(DecodeError::MissingParamTypes));
    let prev = [(ColumnType::MYSQL_TYPE_TINY, false)];
    let stmt = parse_stmt_execute(&bytes, 1, Some(&prev), &[]).unwrap();
    assert_eq!(stmt.params, vec![Value::Int(5)]);
    assert!(!stmt.new_params_bound);
    assert!(matches!(parse_stmt_execute(&bytes, 1, Some(&[]), &[]), Err(DecodeError::CountMismatch { .. })));
    assert!(matches!(
        parse_stmt_execute(&bytes, 1, Some(&prev), &[true, false]),
        Err(DecodeError::CountMismatch { .. })
    ));
    // 0x16 is COM_STMT_PREPARE.
    let mut wrong = bytes.to_vec();
    wrong[0] = 0x16;
    assert!(parse_stmt_execute(&Bytes::from(wrong), 1, Some(&prev), &[]).is_err());
    // A huge parameter count fails on the bitmap instead of allocating.
    assert!(parse_stmt_execute(&bytes, usize::MAX, Some(&prev), &[]).is_err());
    assert!(parse_stmt_execute(&bytes, 1 << 40, None, &[]).is_err());
}

/// Up to about 40 strict prefix lengths of a `len`-byte encoding, always including the longest.
fn prefixes(len: usize) -> impl Iterator<Item = usize> {
    (0..len).step_by((len / 40).max(1)).chain(len.checked_sub(1))
}

/// Every valid column type byte.
fn all_types() -> Vec<ColumnType> {
    (0..=255u8).filter_map(|b| ColumnType::try_from(b).ok()).collect()
}

#[test]
fn every_type_has_a_layout_and_round_trips_null() {
    for t in all_types() {
        let cols = [col(t, false), col(t, true)];
        let bytes = row_bytes(&[Value::Null, Value::Null], &cols);
        assert_eq!(&bytes[..], &[0x00, 0b0000_1100], "{t:?}");
        assert_eq!(decode_binary_row(&bytes, &cols).unwrap(), vec![Value::Null, Value::Null]);
    }
}

/// A value that column type `t` can hold.
fn value_for(t: ColumnType, unsigned: bool) -> BoxedStrategy<Value> {
    match layout(t) {
        Layout::Null => Just(Value::Null).boxed(),
        Layout::Int(w) if unsigned => {
            let max = if w == 8 { u64::MAX } else { (1u64 << (8 * w)) - 1 };
            (0..=max).prop_map(Value::UInt).boxed()
        }
        Layout::Int(w) => {
            let max = if w == 8 { i64::MAX } else { (1i64 << (8 * w - 1)) - 1 };
            (-max - 1..=max).prop_map(Value::Int).boxed()
        }
        Layout::Float => any::<u32>().prop_map(|b| Value::Float(f32::from_bits(b))).boxed(),
        Layout::Double => any::<u64>().prop_map(|b| Value::Double(f64::from_bits(b))).boxed(),
        Layout::DateTime => (any::<u16>(), any::<[u8; 5]>(), prop_oneof![Just(0u32), any::<u32>()])
            .prop_map(|(year, [month, day, hour, minute, second], micros)| Value::Date {
                year,
                month,
                day,
                hour,
                minute,
                second,
                micros,
            })
            .boxed(),
        Layout::Time => (
            any::<bool>(),
            prop_oneof![Just(0u32), any::<u32>()],
            any::<[u8; 3]>(),
            prop_oneof![Just(0u32), any::<u32>()],
        )
            .prop_map(|(negative, days, [hours, minutes, seconds], micros)| Value::Time {
                negative,
                days,
                hours,
                minutes,
                seconds,
                micros,
            })
            .boxed(),
        Layout::Lenenc => {
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(|v| Value::Bytes(v.into())).boxed()
        }
    }
}

fn any_param_type() -> impl Strategy<Value = ParamType> {
    (proptest::sample::select(all_types()), any::<bool>())
}

/// A type and a value of it, NULL one time in five.
fn typed_value() -> impl Strategy<Value = (ParamType, Value)> {
    any_param_type()
        .prop_flat_map(|(t, u)| (Just((t, u)), prop_oneof![1 => Just(Value::Null), 4 => value_for(t, u)]))
}

proptest! {
    #[test]
    fn binary_rows_round_trip(cells in proptest::collection::vec(typed_value(), 0..20)) {
        let cols: Vec<_> = cells.iter().map(|((t, u), _)| col(*t, *u)).collect();
        let values: Vec<_> = cells.into_iter().map(|(_, v)| v).collect();
        let bytes = row_bytes(&values, &cols);
        let back = decode_binary_row(&bytes, &cols).unwrap();
        prop_assert_eq!(back.len(), values.len());
        for (a, b) in back.iter().zip(&values) {
            prop_assert!(same(a, b), "{:?} != {:?}", a, b);
        }
        prop_assert_eq!(row_bytes(&back, &cols), bytes.clone());
        // Every strict prefix of a row is missing a field.
        for n in prefixes(bytes.len()) {
            prop_assert!(decode_binary_row(&bytes.slice(..n), &cols).is_err());
        }
    }

    #[test]
    fn text_rows_round_trip(values in proptest::collection::vec(
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300).prop_map(Bytes::from)), 0..20)
    ) {
        let mut out = BytesMut::new();
        encode_text_row(&values, &mut out);
        let bytes = out.freeze();
        prop_assert_eq!(decode_text_row(&bytes, values.len()).unwrap(), values);
    }

    #[test]
    fn stmt_execute_round_trips(
        cells in proptest::collection::vec((typed_value(), any::<bool>()), 0..20),
        statement_id: u32, flags: u8, iteration_count: u32, bound: bool, with_long_data: bool,
    ) {
        let n = cells.len();
        let long_data: Vec<bool> = if with_long_data { cells.iter().map(|(_, l)| *l).collect() } else { vec![] };
        let stmt = StmtExecute {
            statement_id, flags, iteration_count,
            types: cells.iter().map(|((t, _), _)| *t).collect(),
            params: cells.iter().enumerate()
                .map(|(i, ((_, v), _))| if long_data.get(i) == Some(&true) { Value::Null } else { v.clone() })
                .collect(),
            // With no parameters there is no flag on the wire.
            new_params_bound: bound && n > 0,
            long_data: long_data.clone(),
        };
        let mut out = BytesMut::new();
        encode_stmt_execute(&stmt, &mut out).unwrap();
        let bytes = out.freeze();
        let prev = if bound { None } else { Some(&stmt.types[..]) };
        let back = parse_stmt_execute(&bytes, n, prev, &long_data).unwrap();
        prop_assert_eq!(back.types.clone(), stmt.types.clone());
        prop_assert_eq!(back.new_params_bound, stmt.new_params_bound);
        prop_assert_eq!((back.statement_id, back.flags, back.iteration_count), (statement_id, flags, iteration_count));
        for (a, b) in back.params.iter().zip(&stmt.params) {
            prop_assert!(same(a, b), "{:?} != {:?}", a, b);
        }
        for k in prefixes(bytes.len()) {
            prop_assert!(parse_stmt_execute(&bytes.slice(..k), n, prev, &long_data).is_err());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
        types in proptest::collection::vec(any_param_type(), 0..12),
        long_data: [bool; 12], with_long_data: bool, ncols in 0usize..40,
    ) {
        let bytes = Bytes::from(bytes);
        let cols: Vec<_> = types.iter().map(|(t, u)| col(*t, *u)).collect();
        let _ = decode_binary_row(&bytes, &cols);
        let _ = decode_text_row(&bytes, ncols);
        let ld = if with_long_data { &long_data[..types.len()] } else { &[] };
        let _ = parse_stmt_execute(&bytes, types.len(), Some(&types), ld);
        let _ = parse_stmt_execute(&bytes, types.len(), None, ld);
        // The same bytes as the tail of a well-formed COM_STMT_EXECUTE header.
        let mut exec = vec![0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0];
        exec.extend_from_slice(&bytes);
        let _ = parse_stmt_execute(&Bytes::from(exec), types.len(), Some(&types), ld);
        // And behind a binary row header.
        let mut row = vec![0x00];
        row.extend_from_slice(&bytes);
        let _ = decode_binary_row(&Bytes::from(row), &cols);
    }

    #[test]
    fn literals_never_panic(((_, v), _) in (typed_value(), any::<bool>())) {
        let lit = v.to_sql_literal();
        prop_assert!(!lit.is_empty());
    }
}
