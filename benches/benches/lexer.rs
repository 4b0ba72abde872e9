//! The digest lexer on typical statements: it runs once per statement on the hot path. Then what a
//! session pays per statement for its plan (lexer + plan-cache hit) against what a proxy that parsed
//! every statement would pay (a full sqlparser parse, which sluice runs once per shape).

use criterion::{Criterion, criterion_group, criterion_main};
use sluice_router::lexer::{lex, mask_secrets, statement_count};
use sluice_router::plan_cache::PlanCache;

const POINT_SELECT: &[u8] = b"SELECT c FROM sbtest1 WHERE id=4711";
const RANGE: &[u8] = b"SELECT c FROM sbtest1 WHERE id BETWEEN 4711 AND 4810 ORDER BY c";
const INSERT: &[u8] = b"INSERT INTO orders (user_id, status, total, note) VALUES (42, 'new', 19.99, 'it''s a gift'), (43, 'paid', 5.00, NULL)";
const IN_LIST: &[u8] = b"SELECT id, name FROM users WHERE id IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16) AND deleted = 0";

fn lexer(c: &mut Criterion) {
    let mut g = c.benchmark_group("lex");
    for (name, sql) in
        [("point_select", POINT_SELECT), ("range", RANGE), ("insert_2_rows", INSERT), ("in_list_16", IN_LIST)]
    {
        g.bench_function(name, |b| b.iter(|| lex(std::hint::black_box(sql)).digest));
    }
    g.bench_function("statement_count_point_select", |b| {
        b.iter(|| statement_count(std::hint::black_box(POINT_SELECT)))
    });
    g.finish();
}

/// The password masking on the record path of every statement: for a statement without a password it
/// is two substring searches over the digest text; a `CREATE USER … IDENTIFIED BY` is lexed again.
fn secrets(c: &mut Criterion) {
    let mut g = c.benchmark_group("mask_secrets");
    for (name, sql) in [
        ("point_select", POINT_SELECT),
        ("insert_2_rows", INSERT),
        ("in_list_16", IN_LIST),
        ("create_user", &b"CREATE USER 'bob'@'%' IDENTIFIED BY 'S3cret!'"[..]),
    ] {
        let lexed = lex(sql);
        g.bench_function(name, |b| {
            b.iter(|| mask_secrets(std::hint::black_box(sql), std::hint::black_box(&lexed)).map(|m| m.len()))
        });
    }
    g.finish();
}

fn plan(c: &mut Criterion) {
    let cases = [
        ("point_select", POINT_SELECT),
        ("range", RANGE),
        ("insert_2_rows", INSERT),
        ("in_list_16", IN_LIST),
    ];
    let mut g = c.benchmark_group("plan");
    let cache = PlanCache::new(10_000, 10_000 * 256);
    for (name, sql) in cases {
        cache.plan(&lex(sql), sql);
        g.bench_function(format!("lex_and_cache_hit/{name}"), |b| {
            b.iter(|| {
                let sql = std::hint::black_box(sql);
                cache.plan(&lex(sql), sql).target
            })
        });
        let text = std::str::from_utf8(sql).unwrap_or_default();
        g.bench_function(format!("sqlparser_parse/{name}"), |b| {
            b.iter(|| sluice_router::analyze::analyze(std::hint::black_box(text)).parsed)
        });
    }
    g.finish();
}

criterion_group!(benches, lexer, secrets, plan);
criterion_main!(benches);
