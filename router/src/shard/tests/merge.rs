//! Merge plans and the merge: aggregates folded, ORDER BY k-way merged, LIMIT/OFFSET after the merge.

use super::super::merge::{Agg, ColumnInfo, MergeShape, OrderKey, Row, merge};
use super::super::route::ShardRoute;
use super::route;

fn shape(sql: &str) -> (MergeShape, Option<(u64, u64)>) {
    match route(sql) {
        Ok(ShardRoute::Scatter { merge, limit, .. }) => (merge, limit),
        other => panic!("{sql}: {other:?}"),
    }
}

fn col(name: &str, numeric: bool) -> ColumnInfo {
    ColumnInfo { name: name.into(), org_name: name.into(), numeric }
}

fn rows(v: &[&[Option<&str>]]) -> Vec<Row> {
    v.iter().map(|r| r.iter().map(|c| c.map(|s| s.as_bytes().to_vec())).collect()).collect()
}

#[test]
fn merge_shapes_from_select_lists() {
    let (m, l) = shape("SELECT COUNT(*), SUM(size), MIN(title), MAX(size) FROM documents");
    assert_eq!(m.columns, [Some(Agg::Count), Some(Agg::Sum), Some(Agg::Min), Some(Agg::Max)]);
    assert_eq!(l, None);
    let (m, l) = shape("SELECT id, title AS t FROM documents ORDER BY t DESC, 1 LIMIT 3, 2");
    assert_eq!(m.order, [(OrderKey::Name("t".into()), true), (OrderKey::Position(1), false)]);
    assert_eq!(l, Some((3, 2)));
}

#[test]
fn aggregates_fold() {
    let (m, _) = shape("SELECT COUNT(*), SUM(size), MIN(title), MAX(size) FROM documents");
    assert_eq!(m.min_max.len(), 2);
    let parts = super::parts("SELECT COUNT(*), SUM(size), MIN(title), MAX(size) FROM documents");
    assert_eq!(
        parts[1].1,
        "SELECT COUNT(*), SUM(size), MIN(title), MAX(size) , WEIGHT_STRING(MIN(title)), WEIGHT_STRING(MAX(size)) FROM `documents_1`"
    );
    let cols = [
        col("count(*)", true),
        col("sum(size)", true),
        col("min(title)", false),
        col("max(size)", true),
        col("w1", false),
        col("w2", false),
    ];
    // MIN(title) by weight (a case-insensitive collation): 'b' (B) is below 'C' (C), though not in bytes.
    let shards = vec![
        rows(&[&[Some("2"), Some("10.5"), Some("b"), Some("9"), Some("B"), Some("x")]]),
        rows(&[&[Some("0"), None, None, None, None, None]]),
        rows(&[&[Some("3"), Some("1.25"), Some("C"), Some("10"), Some("C"), Some("y")]]),
    ];
    let got = merge(&m, &cols, shards, None).expect("merges");
    assert_eq!(got, rows(&[&[Some("5"), Some("11.75"), Some("b"), Some("10")]]));
}

#[test]
fn ordered_rows_merge_numerically_and_limit_after() {
    let (m, l) = shape("SELECT id, title FROM documents ORDER BY id DESC LIMIT 1, 3");
    assert_eq!(m.weights, [Some("id".to_string())]);
    // The hidden WEIGHT_STRING(id) column is ignored for a numeric key, and not returned.
    let cols = [col("id", true), col("title", false), col("weight_string(`id`)", false)];
    let shards = vec![
        rows(&[&[Some("100"), Some("x"), Some("1")], &[Some("9"), Some("y"), Some("9")]]),
        rows(&[&[Some("20"), Some("z"), Some("2")], &[Some("3"), None, Some("3")]]),
        rows(&[]),
        rows(&[&[Some("11"), Some("w"), Some("1")], &[None, Some("n"), None]]),
    ];
    let got = merge(&m, &cols, shards, l).expect("merges");
    assert_eq!(got, rows(&[&[Some("20"), Some("z")], &[Some("11"), Some("w")], &[Some("9"), Some("y")]]));
    // An ORDER BY column that is not selected cannot be merged.
    let (m, _) = shape("SELECT title FROM documents ORDER BY size");
    assert!(merge(&m, &[col("title", false)], vec![], None).is_err());
}

#[test]
fn groups_fold_across_shards_and_sort() {
    let (m, l) = shape("SELECT owner, COUNT(*), SUM(size), MAX(title) FROM documents GROUP BY owner");
    assert_eq!(m.group, [0]);
    let cols = [
        col("owner", true),
        col("count(*)", true),
        col("sum(size)", true),
        col("max(title)", false),
        col("weight_string(max(title))", false),
    ];
    let shards = vec![
        rows(&[
            &[Some("1"), Some("2"), Some("3.5"), Some("b"), Some("B")],
            &[Some("10"), Some("1"), Some("1"), Some("z"), Some("Z")],
        ]),
        rows(&[
            &[Some("2"), Some("4"), None, Some("a"), Some("A")],
            &[Some("1"), Some("1"), Some("0.5"), Some("c"), Some("C")],
        ]),
    ];
    let got = merge(&m, &cols, shards.clone(), l).expect("merges");
    assert_eq!(
        got,
        rows(&[
            &[Some("1"), Some("3"), Some("4.0"), Some("c")],
            &[Some("2"), Some("4"), None, Some("a")],
            &[Some("10"), Some("1"), Some("1"), Some("z")],
        ])
    );
    // ORDER BY an aggregate and LIMIT apply after the fold; each shard returns all its groups.
    let (m, l) = shape("SELECT owner AS o, COUNT(*) AS n FROM documents GROUP BY o ORDER BY n DESC LIMIT 1");
    assert_eq!((m.group.as_slice(), l), (&[0][..], Some((0, 1))));
    let two = [col("o", true), col("n", true)];
    let shards =
        vec![rows(&[&[Some("1"), Some("2")], &[Some("2"), Some("2")]]), rows(&[&[Some("1"), Some("2")]])];
    assert_eq!(merge(&m, &two, shards, l).expect("merges"), rows(&[&[Some("1"), Some("4")]]));
}

#[test]
fn avg_is_sum_over_count() {
    let sql = "SELECT COUNT(*), AVG(size), Avg( owner ) AS a FROM documents";
    let parts = super::parts(sql);
    assert_eq!(
        parts[0].1,
        "SELECT COUNT(*), SUM(size), COUNT(size), SUM( owner ), COUNT( owner ) AS a FROM `documents_0`"
    );
    let names = match route(sql) {
        Ok(ShardRoute::Scatter { avg_names, .. }) => avg_names,
        other => panic!("{other:?}"),
    };
    assert_eq!(names, [Some("AVG(size)".to_string()), None]);
    let (m, _) = shape(sql);
    assert_eq!(m.avg_positions(), [1, 3]);
    let cols: Vec<ColumnInfo> = ["c", "s", "n", "s2", "a"].iter().map(|n| col(n, true)).collect();
    let shards = vec![
        rows(&[&[Some("2"), Some("3.00"), Some("2"), Some("1"), Some("2")]]),
        rows(&[&[Some("1"), Some("0.33"), Some("1"), Some("2"), Some("1")]]),
        rows(&[&[Some("0"), None, Some("0"), None, Some("0")]]),
    ];
    let got = merge(&m, &cols, shards, None).expect("merges");
    // (3.00 + 0.33) / 3 = 1.110000; (1 + 2) / 3 = 1.0000
    assert_eq!(got, rows(&[&[Some("3"), Some("1.110000"), Some("1.0000")]]));
    let empty = vec![rows(&[&[Some("0"), None, Some("0"), None, Some("0")]])];
    assert_eq!(merge(&m, &cols, empty, None).expect("merges"), rows(&[&[Some("0"), None, None]]));
}

#[test]
fn string_keys_compare_by_their_weight() {
    let (m, l) = shape("SELECT id, title AS t FROM documents ORDER BY t, 1 DESC");
    assert_eq!(m.weights, [Some("title".to_string()), Some("id".to_string())]);
    let cols = [col("id", true), col("t", false), col("w1", false), col("w2", false)];
    // Weights as a case-insensitive collation gives them: 'B' sorts after 'a'.
    let shards = vec![
        rows(&[&[Some("1"), Some("a"), Some("A"), Some("1")], &[Some("2"), Some("B"), Some("B"), Some("2")]]),
        rows(&[&[Some("3"), Some("A"), Some("A"), Some("3")], &[Some("4"), Some("c"), Some("C"), Some("4")]]),
    ];
    let got = merge(&m, &cols, shards, l).expect("merges");
    let ids: Vec<&str> =
        got.iter().map(|r| std::str::from_utf8(r[0].as_deref().unwrap_or_default()).unwrap_or("")).collect();
    assert_eq!(ids, ["3", "1", "2", "4"]);
    assert!(got.iter().all(|r| r.len() == 2));
}
