//! PyMySQL (no DEPRECATE_EOF, no SESSION_TRACK) and mysql_async (both) through the same sluice at the
//! same time: the Python suite in tests/python must pass while the Rust driver keeps querying. And
//! mysql-connector-python against sluice's capabilities (query attributes not offered).

use mysql_async::prelude::*;

use super::{connect, proxy, setup};

#[tokio::test]
async fn pymysql_suite_passes_alongside_mysql_async() {
    let (topo, schema) = setup("pymysql").await;
    let p = proxy(topo).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/test_pymysql.py");
    let python = tokio::process::Command::new("python3")
        .arg(script)
        .env("SLUICE_PORT", p.addr().port().to_string())
        .env("DIRECT_PORT", topo.primary.addr.port().to_string())
        .env("SCHEMA", &schema)
        .output();
    let rust = async {
        let mut c = connect(&p, "app", "app", &schema).await;
        let mut n = 0u32;
        for i in 0..300 {
            let v: Option<i64> = c.exec_first("SELECT ? + 1", (i,)).await.expect("mysql_async query");
            assert_eq!(v, Some(i64::from(i) + 1));
            n += 1;
        }
        n
    };
    let (out, n) = tokio::join!(python, rust);
    let out = out.expect("python3 runs (scripts/test.sh installs PyMySQL)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "PyMySQL suite failed:\n{stderr}");
    assert!(stderr.contains("OK"), "{stderr}");
    assert_eq!(n, 300);
}

/// mysql-connector-python: no query-attributes warning unless the application sets attributes, and a
/// client that forces CLIENT_QUERY_ATTRIBUTES gets the server's ERR 1064, never a statement run.
#[tokio::test]
async fn connector_python_without_query_attributes() {
    let (topo, schema) = setup("connector_attrs").await;
    let p = proxy(topo).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/test_connector_query_attributes.py");
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .env("SLUICE_PORT", p.addr().port().to_string())
        .env("SCHEMA", &schema)
        .output()
        .await
        .expect("python3 runs (scripts/test.sh installs mysql-connector-python)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "mysql-connector-python suite failed:\n{stderr}");
    assert!(stderr.contains("Ran 3 tests") && stderr.contains("OK"), "{stderr}");
}
