//! Shard functions: CRC-32 compatible with MySQL's CRC32(), canonical values, mod, range, list.

use super::super::{KeyValue, crc32};
use super::map;

#[test]
fn crc32_is_mysqls() {
    // The check value of CRC-32/ISO-HDLC, and what `SELECT CRC32('1')` returns.
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32(b"1"), 2_212_294_583);
}

#[test]
fn functions_pick_shards() {
    let m = map();
    let docs = &m.tables[0];
    let users = &m.tables[1];
    let events = &m.tables[2];
    let regions = &m.tables[3];
    let s = |v: &str| KeyValue::Str(v.as_bytes().to_vec());
    let cases: &[(&super::super::ShardTable, KeyValue, Result<usize, ()>)] = &[
        (docs, KeyValue::Int(1), Ok(3)),
        (docs, KeyValue::Int(2), Ok(1)),
        (docs, KeyValue::Int(4), Ok(0)),
        (docs, s("4"), Ok(0)),
        (docs, s("004"), Ok(0)),
        (docs, KeyValue::Int(-5), Ok(3)),
        (docs, s("abc"), Ok(2)),
        (users, KeyValue::Int(7), Ok(1)),
        (users, KeyValue::Int(-1), Ok(1)),
        (users, s("x"), Err(())),
        (events, KeyValue::Int(-3), Ok(0)),
        (events, KeyValue::Int(100), Ok(1)),
        (events, KeyValue::Int(250), Err(())),
        (events, KeyValue::Int(300), Ok(2)),
        (regions, s("ca"), Ok(0)),
        (regions, KeyValue::Int(7), Ok(1)),
        (regions, s("fr"), Err(())),
    ];
    for (t, v, want) in cases {
        assert_eq!(t.shard_of(v).map_err(|_| ()), *want, "{}: {v}", t.name);
    }
}
