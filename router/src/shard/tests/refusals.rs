//! Refusals: each names the table and the key and says what to do.

use super::route;

#[test]
fn unroutable_statements_are_refused_with_a_reason() {
    let cases: &[(&str, &str)] = &[
        ("UPDATE documents SET title = 'x'", "without its shard key"),
        ("DELETE FROM documents WHERE title = 'x'", "add id = …"),
        ("UPDATE documents SET id = 5 WHERE id = 4", "UPDATE of shard key documents.id"),
        ("INSERT INTO documents (title) VALUES ('x')", "must name its shard key column id"),
        ("INSERT INTO documents (id, title) VALUES (NOW(), 'x')", "no literal value for shard key id"),
        ("INSERT INTO documents (id, title) SELECT id, title FROM other", "INSERT … SELECT"),
        ("SELECT * FROM documents d JOIN users u ON u.uid = d.owner WHERE d.id = 1", "cross-shard join"),
        ("SELECT * FROM documents a JOIN documents b ON a.id = b.id WHERE a.id = 1", "self-join"),
        (
            "SELECT * FROM other WHERE x IN (SELECT owner FROM documents)",
            "subquery over sharded table documents",
        ),
        ("SELECT * FROM documents WHERE owner IN (SELECT id FROM documents WHERE id = 1)", "subquery"),
        ("SELECT id FROM documents UNION SELECT id FROM other", "UNION"),
        ("SELECT d.title FROM documents d JOIN owners o ON o.id = d.owner", "add documents.id = …"),
        (
            "SELECT COUNT(*) FROM documents GROUP BY owner",
            "GROUP BY owner over all shards of documents needs that expression in the select list",
        ),
        ("SELECT owner, AVG(size) FROM documents GROUP BY owner", "AVG with GROUP BY"),
        ("SELECT COUNT(*) + 1 FROM documents", "expression over an aggregate"),
        ("SELECT DISTINCT owner FROM documents", "DISTINCT"),
        ("ALTER TABLE documents ADD COLUMN x INT", "shard-ddl"),
        ("SELECT * FROM events WHERE id = 250", "outside every"),
        (
            "INSERT INTO documents (id, title) VALUES (1, 'a') ON DUPLICATE KEY UPDATE id = 2",
            "ON DUPLICATE KEY UPDATE of shard key",
        ),
        ("SELECT * FROM documents WHERE id = 1 PROCEDURE ANALYSE()", "cannot parse it"),
        ("TABLE documents", "use SELECT * FROM documents"),
        ("TABLE documents ORDER BY id LIMIT 2", "use SELECT * FROM documents"),
        ("SELECT * FROM other UNION TABLE documents", "UNION"),
        ("SELECT * FROM documents WHERE id = 1 AND owner IN (TABLE other UNION TABLE documents)", "subquery"),
        ("WITH x AS (SELECT id FROM other) DELETE FROM documents WHERE id = 1", "WITH"),
    ];
    for (sql, want) in cases {
        match route(sql) {
            Err(e) => assert!(e.to_string().contains(want), "{sql}: {e:?} lacks {want:?}"),
            Ok(r) => panic!("{sql}: routed {r:?}"),
        }
    }
    // A keyless write to a table with broadcast_writes goes everywhere.
    assert_eq!(route("UPDATE users SET name = 'x'").map(|r| r.parts().len()), Ok(2));
}

proptest::proptest! {
    /// Whatever follows a sharded table's name, routing answers (a route or a refusal) and never panics.
    #[test]
    fn any_statement_over_a_sharded_table_routes_or_refuses(
        prefix in proptest::sample::select(vec![
            "SELECT * FROM documents ",
            "INSERT INTO documents (id, title) VALUES ",
            "UPDATE documents SET title = 'x' ",
            "DELETE FROM documents ",
            "SELECT COUNT(*), AVG(size), MIN(title) FROM documents ",
            "SELECT id, title FROM documents d ",
        ]),
        rest in "[ -~]{0,60}",
    ) {
        let sql = format!("{prefix}{rest}");
        let _ = route(&sql);
    }
}
