//! Every column type round-trips through sluice exactly as it does on a direct connection, in the text
//! protocol and the binary (prepared statement) protocol.

use mysql_async::prelude::*;
use mysql_async::{Conn, Row};
use sluice_tests::Flavor;

use super::{connect, proxy, setup};

/// The columns both flavours have (JSON is a type of its own on MySQL, an alias of LONGTEXT on MariaDB).
const COMMON_COLUMNS: &str = "id INT PRIMARY KEY,
    ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED,
    i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
    f FLOAT, d DOUBLE, dec1 DECIMAL(30,10), b1 BIT(1), b64 BIT(64), bool1 BOOLEAN,
    dt DATE, dtm DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME(6), y YEAR,
    c CHAR(10), vc VARCHAR(100), bin BINARY(4), vbin VARBINARY(10),
    tt TINYTEXT, t TEXT, mt MEDIUMTEXT, lt LONGTEXT, tb TINYBLOB, bl BLOB, mb MEDIUMBLOB, lb LONGBLOB,
    e ENUM('a','b','c'), st SET('x','y','z'), j JSON, g GEOMETRY";

/// The common columns' values in rows 1, 2 (all NULL) and 3.
const COMMON_ROWS: [&str; 3] = [
    "1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295, -9223372036854775808, 18446744073709551615,
  3.25, -2.5e-300, '-12345678901234567890.0123456789', b'1', b'1010101010101010101010101010101010101010101010101010101010101010', TRUE,
  '1000-01-01', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.123', '-838:59:59.000000', 1901,
  'char', 'välüe ☃ 😀', x'00FF10AB', x'', 'tiny', 'text', 'medium', 'long', x'01', x'0203', x'04', x'05',
  'b', 'x,z', '{\"k\": [1, 2.5, null]}', ST_GeomFromText('POINT(1 2)')",
    "2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL",
    "3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, b'0', b'0', FALSE,
  '2024-02-29', '2024-02-29 00:00:00', '2024-02-29 12:00:00', '00:00:00.000001', 2024,
  '', '', x'00000000', x'00', '', '', '', '', x'', x'', x'', x'', 'a', '', '[]', ST_GeomFromText('LINESTRING(0 0,1 1)')",
];

/// The flavour's own types: MariaDB's UUID and INET6; MySQL's VECTOR. Their columns, then their values
/// in rows 1, 2 and 3.
fn own_types(flavor: Flavor) -> (&'static str, [&'static str; 3]) {
    match flavor {
        Flavor::MariaDb => (
            "u UUID, inet INET6",
            [
                "'123e4567-e89b-12d3-a456-426614174000', '::1'",
                "NULL, NULL",
                "'00000000-0000-0000-0000-000000000000', '2001:db8::ff00:42:8329'",
            ],
        ),
        Flavor::MySql => {
            ("v VECTOR(3)", ["STRING_TO_VECTOR('[1, 2.5, -3e-7]')", "NULL", "STRING_TO_VECTOR('[0, 0, 0]')"])
        }
    }
}

/// `CREATE TABLE all_types` and the `INSERT` of its three rows for `flavor`.
fn table_and_rows(flavor: Flavor) -> (String, String) {
    let (columns, values) = own_types(flavor);
    let table = format!("CREATE TABLE all_types ({COMMON_COLUMNS}, {columns}) DEFAULT CHARSET=utf8mb4");
    let rows: Vec<String> =
        COMMON_ROWS.iter().zip(values).map(|(common, own)| format!("({common}, {own})")).collect();
    (table, format!("INSERT INTO all_types VALUES {}", rows.join(",\n ")))
}

/// Rows as (column name, value) pairs, so a mismatch names the column.
fn flatten(rows: Vec<Row>) -> Vec<Vec<(String, mysql_async::Value)>> {
    rows.into_iter()
        .map(|r| {
            let cols: Vec<String> = r.columns_ref().iter().map(|c| c.name_str().into_owned()).collect();
            cols.into_iter().zip(r.unwrap()).collect()
        })
        .collect()
}

#[tokio::test]
async fn every_column_type_round_trips_like_a_direct_connection() {
    let (topo, schema) = setup("types").await;
    let mut direct = Conn::new(topo.app_opts(&topo.primary).db_name(Some(&schema))).await.expect("direct");
    let (table, rows) = table_and_rows(topo.flavor);
    direct.query_drop(table).await.expect("create");
    direct.query_drop(rows).await.expect("insert");
    // Reads through sluice go to replicas: they must have the rows written directly to the primary.
    topo.wait_replicas_caught_up().await;
    let p = proxy(topo).await;
    let mut via = connect(&p, "app", "app", &schema).await;
    let q = "SELECT * FROM all_types ORDER BY id";
    let want_text = flatten(direct.query(q).await.expect("direct text"));
    let got_text = flatten(via.query(q).await.expect("sluice text"));
    assert_eq!(got_text.len(), 3);
    assert_eq!(got_text, want_text, "text protocol differs");
    let want_bin = flatten(direct.exec(q, ()).await.expect("direct binary"));
    let got_bin = flatten(via.exec(q, ()).await.expect("sluice binary"));
    assert_eq!(got_bin, want_bin, "binary protocol differs");
    // Parameters of every kind through the binary protocol, compared by reading them back.
    let params: Vec<mysql_async::Value> = vec![
        (-5i8).into(),
        200u8.into(),
        (-30000i16).into(),
        60000u16.into(),
        (-1i32).into(),
        4_000_000_000u32.into(),
        i64::MIN.into(),
        u64::MAX.into(),
        1.5f32.into(),
        (-0.1f64).into(),
        "x'y\"z\\".into(),
        vec![0u8, 255, 10].into(),
        mysql_async::Value::Date(2024, 2, 29, 13, 14, 15, 16),
        mysql_async::Value::Time(true, 1, 2, 3, 4, 5),
        mysql_async::Value::NULL,
    ];
    let sql = format!("SELECT {}", vec!["?"; params.len()].join(", "));
    let want = flatten(direct.exec(&sql, params.clone()).await.expect("direct params"));
    let got = flatten(via.exec(&sql, params).await.expect("sluice params"));
    assert_eq!(got, want);
}
