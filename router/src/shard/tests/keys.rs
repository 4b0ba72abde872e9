//! Key extraction: WHERE key = v (either side, qualified), IN lists, INSERT rows, parameters, and the
//! same shape with other literals (a plan-cache hit).

use super::super::KeyValue;
use super::super::route::ShardRoute;
use super::{cache, parts, route, route_with};

fn shards(sql: &str) -> Vec<usize> {
    parts(sql).into_iter().map(|(s, _)| s).collect()
}

#[test]
fn keys_in_where_clauses() {
    let cases: &[(&str, &[usize])] = &[
        ("SELECT * FROM documents WHERE id = 1", &[3]),
        ("SELECT * FROM documents WHERE 1 = id", &[3]),
        ("SELECT * FROM documents WHERE id = '4'", &[0]),
        ("SELECT * FROM documents d WHERE d.id = 2 AND title = 'x'", &[1]),
        ("SELECT * FROM documents WHERE title = 'x' AND documents.id = 4", &[0]),
        ("SELECT * FROM documents WHERE (id = 1) AND owner = 5", &[3]),
        ("SELECT * FROM documents WHERE id IN (1, 3)", &[3]),
        ("SELECT * FROM documents WHERE id IN (1, 2, 4)", &[0, 1, 3]),
        ("select title from documents where id=-5", &[3]),
        // Not a usable key: every shard.
        ("SELECT * FROM documents WHERE id = 1 OR id = 2", &[0, 1, 2, 3]),
        ("SELECT * FROM documents WHERE id > 1", &[0, 1, 2, 3]),
        ("SELECT * FROM documents WHERE id = 1.0", &[0, 1, 2, 3]),
        ("SELECT * FROM documents WHERE id = '1.0'", &[0, 1, 2, 3]),
        ("SELECT * FROM documents WHERE owner = 1", &[0, 1, 2, 3]),
        ("SELECT * FROM documents d WHERE documents.id = 1", &[0, 1, 2, 3]),
        ("UPDATE documents SET title = 'y' WHERE id = 2", &[1]),
        ("DELETE FROM documents WHERE id IN (1, 4)", &[0, 3]),
        ("UPDATE users SET name = 'n' WHERE uid = 7", &[1]),
        ("SELECT * FROM regions WHERE code = 'de'", &[1]),
        ("SELECT * FROM events WHERE id = 150", &[1]),
    ];
    for (sql, want) in cases {
        assert_eq!(shards(sql), *want, "{sql}");
    }
}

#[test]
fn insert_rows_route_by_their_key() {
    let cases: &[(&str, &[usize])] = &[
        ("INSERT INTO documents (id, title) VALUES (1, 'a')", &[3]),
        ("INSERT INTO documents (title, id) VALUES ('a', 4), ('b', 42)", &[0]),
        ("INSERT INTO documents (id, title) VALUES (1, 'a'), (2, 'b'), (4, 'c'), (3, 'd')", &[0, 1, 3]),
        ("REPLACE INTO documents (id, title) VALUES ('2', 'a')", &[1]),
        ("INSERT INTO documents (id, title) VALUES (1, CONCAT('a', 'b'))", &[3]),
    ];
    for (sql, want) in cases {
        assert_eq!(shards(sql), *want, "{sql}");
    }
}

#[test]
fn the_same_shape_with_other_literals_uses_the_cached_plan() {
    let c = cache();
    for (id, want) in [(1, 3), (2, 1), (4, 0), (10, 1), (11, 3), (42, 0)] {
        let sql = format!("SELECT title FROM documents WHERE id = {id}");
        match route_with(&c, &sql, &[]) {
            Ok(ShardRoute::One(p)) => assert_eq!(p.shard, want, "{sql}"),
            other => panic!("{sql}: {other:?}"),
        }
    }
    let sql = "INSERT INTO documents (id, title) VALUES (1, 'a'), (4, 'b'), (2, 'c')";
    assert!(matches!(route_with(&c, sql, &[]), Ok(ShardRoute::Split(p)) if p.len() == 3));
    assert_eq!(c.stats().misses, 2);
}

#[test]
fn prepared_parameters_are_keys() {
    let c = cache();
    let one = |sql: &str, params: &[Option<KeyValue>]| match route_with(&c, sql, params) {
        Ok(r) => r.parts().iter().map(|p| p.shard).collect::<Vec<_>>(),
        Err(e) => panic!("{sql}: {e}"),
    };
    let sql = "SELECT title FROM documents WHERE title = ? AND id = ?";
    assert_eq!(one(sql, &[Some(KeyValue::Str(b"t".to_vec())), Some(KeyValue::Int(2))]), [1]);
    assert_eq!(one(sql, &[None, Some(KeyValue::Int(4))]), [0]);
    // An unusable parameter (e.g. a float): every shard for a read.
    assert_eq!(one(sql, &[None, None]), [0, 1, 2, 3]);
    let ins = "INSERT INTO documents (id, title) VALUES (?, ?), (?, ?)";
    let p = [Some(KeyValue::Int(1)), None, Some(KeyValue::Int(4)), None];
    assert_eq!(one(ins, &p), [0, 3]);
    assert!(route("SELECT 1").is_err(), "unsharded statements have no shard shape");
}

#[test]
fn prepared_text_for_one_shard() {
    use super::super::route::render_for_shard;
    let c = cache();
    let sql = b"SELECT title FROM documents WHERE id = ?";
    let class = c.plan(&crate::lexer::lex(sql), sql);
    let shape = class.tables.shard.as_ref().expect("sharded");
    let (_, toks) = crate::lexer::lex_tokens(sql);
    assert_eq!(
        render_for_shard(shape, c.shards(), sql, &toks, 3).as_deref(),
        Some("SELECT title FROM `documents_3` WHERE id = ?")
    );
    assert_eq!(render_for_shard(shape, c.shards(), sql, &toks, 9), None);
}
