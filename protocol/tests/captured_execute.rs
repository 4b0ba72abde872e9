//! Byte tests on COM_STMT_EXECUTE requests that MariaDB 10.11 accepted, and the rows it echoed back.

// Tests may unwrap; the workspace lint guards library code.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::{Bytes, BytesMut};
use common::{Fixture, mutations, prefixes};
use sluice_protocol::binary::{
    ParamType, StmtExecute, Value, decode_binary_row, encode_stmt_execute, parse_stmt_execute,
};
use sluice_protocol::column::ColumnDefinition;
use sluice_protocol::constants::ColumnType;

const NUM_PARAMS: usize = 14;

/// The parameter sent by COM_STMT_SEND_LONG_DATA in the `execute_long_data` capture.
const LONG_PARAM: usize = 7;

fn fixture() -> Fixture {
    Fixture::parse(include_str!("../testdata/execute.txt"))
}

fn expected_types() -> Vec<ParamType> {
    use ColumnType::*;
    vec![
        (MYSQL_TYPE_TINY, false),
        (MYSQL_TYPE_SHORT, true),
        (MYSQL_TYPE_LONG, false),
        (MYSQL_TYPE_LONGLONG, true),
        (MYSQL_TYPE_LONGLONG, false),
        (MYSQL_TYPE_DOUBLE, false),
        (MYSQL_TYPE_FLOAT, false),
        (MYSQL_TYPE_VAR_STRING, false),
        (MYSQL_TYPE_BLOB, false),
        (MYSQL_TYPE_DATETIME, false),
        (MYSQL_TYPE_DATE, false),
        (MYSQL_TYPE_TIME, false),
        (MYSQL_TYPE_NULL, false),
        (MYSQL_TYPE_NEWDECIMAL, false),
    ]
}

fn expected_params() -> Vec<Value> {
    vec![
        Value::Int(-5),
        Value::UInt(65535),
        Value::Int(-100_000),
        Value::UInt(u64::MAX),
        Value::Int(i64::MIN),
        Value::Double(0.1),
        Value::Float(2.5),
        Value::Bytes(Bytes::from_static("héllo'\\".as_bytes())),
        Value::Bytes(Bytes::from_static(b"\x00\xff\x80")),
        Value::Date { year: 2024, month: 2, day: 29, hour: 13, minute: 14, second: 15, micros: 123_456 },
        Value::Date { year: 1999, month: 12, day: 31, hour: 0, minute: 0, second: 0, micros: 0 },
        Value::Time { negative: true, days: 1, hours: 2, minutes: 3, seconds: 4, micros: 500_000 },
        Value::Null,
        Value::Bytes(Bytes::from_static(b"-12.50")),
    ]
}

fn encode(stmt: &StmtExecute) -> Bytes {
    let mut out = BytesMut::new();
    encode_stmt_execute(stmt, &mut out).unwrap();
    out.freeze()
}

fn response_columns(f: &Fixture) -> Vec<ColumnDefinition> {
    f.all("response_column").iter().map(|p| ColumnDefinition::parse(p).unwrap()).collect()
}

#[test]
fn parses_an_accepted_execute_with_bound_types() {
    let f = fixture();
    let payload = f.one("execute");
    let stmt = parse_stmt_execute(&payload, NUM_PARAMS, None, &[]).unwrap();
    assert_eq!((stmt.flags, stmt.iteration_count), (0, 1));
    assert!(stmt.new_params_bound);
    assert_eq!(stmt.types, expected_types());
    assert_eq!(stmt.params, expected_params());
    assert!(stmt.long_data.is_empty());
    assert_eq!(encode(&stmt), payload);
    // `SELECT ?, …` echoes the parameters: the server read them as we did.
    let echoed = decode_binary_row(&f.one("response_row"), &response_columns(&f)).unwrap();
    assert_eq!(echoed, stmt.params);
}

#[test]
fn renders_parameters_as_literals_for_replay() {
    let stmt = parse_stmt_execute(&fixture().one("execute"), NUM_PARAMS, None, &[]).unwrap();
    let literals: Vec<_> = stmt.params.iter().map(Value::to_sql_literal).collect();
    assert_eq!(
        literals.join(", "),
        r"-5, 65535, -100000, 18446744073709551615, -9223372036854775808, 0.1, 2.5, 'héllo\'\\', X'00FF80', '2024-02-29 13:14:15.123456', '1999-12-31', '-26:03:04.500000', NULL, '-12.50'"
    );
}

#[test]
fn parses_an_accepted_execute_that_reuses_types() {
    let f = fixture();
    let first = parse_stmt_execute(&f.one("execute"), NUM_PARAMS, None, &[]).unwrap();
    let payload = f.one("execute_rebound");
    assert_eq!(
        parse_stmt_execute(&payload, NUM_PARAMS, None, &[]).unwrap_err().to_string(),
        "COM_STMT_EXECUTE reuses parameter types, but none were bound before"
    );
    let stmt = parse_stmt_execute(&payload, NUM_PARAMS, Some(&first.types), &[]).unwrap();
    assert!(!stmt.new_params_bound);
    assert_eq!(stmt.statement_id, first.statement_id);
    assert_eq!(stmt.types, first.types);
    assert_eq!(stmt.params, first.params);
    assert_eq!(encode(&stmt), payload);
    assert_eq!(f.one("response_row_rebound"), f.one("response_row"));
}

#[test]
fn parses_an_accepted_execute_with_a_long_data_parameter() {
    let f = fixture();
    let payload = f.one("execute_long_data");
    let mut long_data = [false; NUM_PARAMS];
    long_data[LONG_PARAM] = true;
    // Without the long-data flags the packet is misread, and the decoder notices.
    assert!(parse_stmt_execute(&payload, NUM_PARAMS, None, &[]).is_err());
    let stmt = parse_stmt_execute(&payload, NUM_PARAMS, None, &long_data).unwrap();
    let mut expected = expected_params();
    expected[LONG_PARAM] = Value::Null;
    assert_eq!(stmt.params, expected);
    assert_eq!(stmt.long_data, long_data);
    assert_eq!(encode(&stmt), payload);
    // COM_STMT_SEND_LONG_DATA: 0x18, statement id, parameter id, data; this capture is its first chunk.
    let chunk = f.one("long_data");
    assert_eq!(chunk[0], 0x18);
    assert_eq!(chunk[1..5], stmt.statement_id.to_le_bytes());
    assert_eq!(chunk[5..7], (LONG_PARAM as u16).to_le_bytes());
    let echoed = decode_binary_row(&f.one("response_row_long_data"), &response_columns(&f)).unwrap();
    assert_eq!(echoed[LONG_PARAM], Value::Bytes(Bytes::from_static(b"long data")));
}

#[test]
fn truncated_or_mutated_executes_are_errors_not_panics() {
    let f = fixture();
    let types = expected_types();
    let mut long_data = [false; NUM_PARAMS];
    long_data[LONG_PARAM] = true;
    let cases: [(&str, &[bool]); 3] =
        [("execute", &[]), ("execute_rebound", &[]), ("execute_long_data", &long_data)];
    for (kind, ld) in cases {
        let payload = f.one(kind);
        for p in prefixes(&payload) {
            assert!(parse_stmt_execute(&p, NUM_PARAMS, Some(&types), ld).is_err(), "{kind} {}", p.len());
        }
        for m in mutations(&payload) {
            let _ = parse_stmt_execute(&m, NUM_PARAMS, Some(&types), ld);
            let _ = parse_stmt_execute(&m, NUM_PARAMS - 1, None, &[]);
        }
    }
}
