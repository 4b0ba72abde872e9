//! Unit tests for column definitions: byte literals from MariaDB 10.11, round trips, malformed input.

use super::*;
use proptest::prelude::*;

fn hex(s: &str) -> Bytes {
    Bytes::from(::hex::decode(s).unwrap())
}

/// `c_utiny TINYINT UNSIGNED` of table `sluice_capture_tmp.t`, captured by testdata/capture.py.
const UTINY: &str = "0364656612736c756963655f636170747572655f746d700174017407635f7574696e7907635f7574696e790c3f0003000000012000000000";

#[test]
fn parses_a_captured_table_column() {
    let payload = hex(UTINY);
    let c = ColumnDefinition::parse(&payload).unwrap();
    assert_eq!(&c.catalog[..], b"def");
    assert_eq!(&c.schema[..], b"sluice_capture_tmp");
    assert_eq!((&c.table[..], &c.org_table[..]), (&b"t"[..], &b"t"[..]));
    assert_eq!((&c.name[..], &c.org_name[..]), (&b"c_utiny"[..], &b"c_utiny"[..]));
    assert_eq!(c.character_set, 63);
    assert_eq!(c.column_length, 3);
    assert_eq!(c.column_type, ColumnType::MYSQL_TYPE_TINY);
    assert_eq!(c.flags, ColumnFlags::UNSIGNED_FLAG);
    assert!(c.is_unsigned());
    assert_eq!(c.decimals, 0);
    // Zero-copy: the name points into the payload.
    assert_eq!(c.name.as_ptr(), payload[payload.len() - 28..].as_ptr());
    let mut out = BytesMut::new();
    c.encode(&mut out);
    assert_eq!(out.freeze(), payload);
}

#[test]
fn parses_a_captured_expression_column() {
    // `SELECT 'str'`: no schema or table, utf8mb4_general_ci, VAR_STRING, NOT_NULL, decimals 0x27.
    let payload = hex("0364656600000003737472000c2d000c000000fd0100270000");
    let c = ColumnDefinition::parse(&payload).unwrap();
    assert!(c.schema.is_empty() && c.table.is_empty() && c.org_name.is_empty());
    assert_eq!(&c.name[..], b"str");
    assert_eq!(c.character_set, 45);
    assert_eq!(c.column_type, ColumnType::MYSQL_TYPE_VAR_STRING);
    assert_eq!(c.flags, ColumnFlags::NOT_NULL_FLAG);
    assert_eq!(c.decimals, 0x27);
}

#[test]
fn new_picks_the_collation_mariadb_reports() {
    let s = ColumnDefinition::new("s", ColumnType::MYSQL_TYPE_VAR_STRING, ColumnFlags::empty());
    let n = ColumnDefinition::new("n", ColumnType::MYSQL_TYPE_LONG, ColumnFlags::UNSIGNED_FLAG);
    let b = ColumnDefinition::new("b", ColumnType::MYSQL_TYPE_BLOB, ColumnFlags::BINARY_FLAG);
    assert_eq!((s.character_set, n.character_set, b.character_set), (45, 63, 63));
    assert!(n.is_unsigned() && !s.is_unsigned());
}

#[test]
fn malformed_definitions_are_errors() {
    let good = hex(UTINY);
    // Every strict prefix is truncated somewhere.
    for n in 0..good.len() {
        assert!(ColumnDefinition::parse(&good.slice(..n)).is_err(), "prefix {n}");
    }
    let mut extra = good.to_vec();
    extra.push(0);
    assert!(matches!(
        ColumnDefinition::parse(&Bytes::from(extra)),
        Err(DecodeError::TrailingBytes { count: 1, .. })
    ));
    let mut bad_type = good.to_vec();
    let type_at = bad_type.len() - 6;
    bad_type[type_at] = 0x20; // between TYPED_ARRAY (0x14) and VECTOR (0xf2): no such type
    assert_eq!(ColumnDefinition::parse(&Bytes::from(bad_type)), Err(DecodeError::UnknownColumnType(0x20)));
    let mut short_fixed = good.to_vec();
    let len_at = short_fixed.len() - 13;
    short_fixed[len_at] = 9;
    short_fixed.truncate(short_fixed.len() - 3);
    assert!(matches!(
        ColumnDefinition::parse(&Bytes::from(short_fixed)),
        Err(DecodeError::InvalidValue { value: 9, .. })
    ));
}

#[test]
fn a_longer_fixed_block_is_skipped() {
    // Servers always send 0x0c, but the length is on the wire: honour it rather than assume it.
    let mut v = hex(UTINY).to_vec();
    let len_at = v.len() - 13;
    v[len_at] = 0x0e;
    v.extend_from_slice(&[0, 0]);
    let c = ColumnDefinition::parse(&Bytes::from(v)).unwrap();
    assert_eq!(c.column_type, ColumnType::MYSQL_TYPE_TINY);
}

fn any_column_type() -> impl Strategy<Value = ColumnType> {
    any::<u8>().prop_filter_map("not a column type", |b| ColumnType::try_from(b).ok())
}

fn any_bytes(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

prop_compose! {
    fn any_column()(
        names in proptest::collection::vec(any_bytes(300), 6),
        character_set: u16, column_length: u32, column_type in any_column_type(),
        flags: u16, decimals: u8,
    ) -> ColumnDefinition {
        ColumnDefinition {
            catalog: names[0].clone(), schema: names[1].clone(), table: names[2].clone(),
            org_table: names[3].clone(), name: names[4].clone(), org_name: names[5].clone(),
            character_set, column_length, column_type,
            flags: ColumnFlags::from_bits_retain(flags), decimals,
        }
    }
}

proptest! {
    #[test]
    fn round_trips(c in any_column()) {
        let mut out = BytesMut::new();
        c.encode(&mut out);
        let bytes = out.freeze();
        let back = ColumnDefinition::parse(&bytes).unwrap();
        prop_assert_eq!(&back, &c);
        let mut again = BytesMut::new();
        back.encode(&mut again);
        prop_assert_eq!(again.freeze(), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in any_bytes(80)) {
        let _ = ColumnDefinition::parse(&bytes);
    }

    #[test]
    fn mutated_definitions_never_panic(c in any_column(), at: prop::sample::Index, byte: u8) {
        let mut out = BytesMut::new();
        c.encode(&mut out);
        let i = at.index(out.len());
        out[i] = byte;
        let _ = ColumnDefinition::parse(&out.freeze());
    }
}
