//! What a statement over a sharded table costs the router per statement, next to an unsharded one:
//! lex + plan-cache hit (both), then for the sharded one the token pass, key extraction, shard
//! function and rewritten text. Also a 3-shard multi-row INSERT split and a scatter COUNT(*) merge plan.

use criterion::{Criterion, criterion_group, criterion_main};
use sluice_router::lexer::{lex, lex_tokens};
use sluice_router::plan_cache::PlanCache;
use sluice_router::shard::route::route_statement;

const UNSHARDED: &[u8] = b"SELECT c FROM sbtest1 WHERE id=4711";
const SHARDED: &[u8] = b"SELECT c FROM documents WHERE id=4711";
const SPLIT: &[u8] = b"INSERT INTO documents (id, c) VALUES (1, 'a'), (2, 'b'), (4, 'c'), (3, 'd')";
const SCATTER: &[u8] = b"SELECT id, c FROM documents ORDER BY id LIMIT 10";

fn shard(c: &mut Criterion) {
    let cache = PlanCache::new(10_000, 10_000 * 256).with_shards(sluice_benches::documents_map());
    let ids = || 0;
    let mut g = c.benchmark_group("shard");
    g.bench_function("lex/point_select", |b| b.iter(|| lex(std::hint::black_box(SHARDED)).digest));
    g.bench_function("lex_tokens/point_select", |b| {
        b.iter(|| lex_tokens(std::hint::black_box(SHARDED)).1.len())
    });
    cache.plan(&lex(UNSHARDED), UNSHARDED);
    g.bench_function("unsharded_point_select/lex_and_plan", |b| {
        b.iter(|| {
            let sql = std::hint::black_box(UNSHARDED);
            cache.plan(&lex(sql), sql).target
        })
    });
    cache.plan(&lex(SHARDED), SHARDED);
    // What the session does: one lex that keeps the tokens (sharding on), plan hit, route + rewrite.
    g.bench_function("sharded_point_select/one_lex_with_tokens", |b| {
        b.iter(|| {
            let sql = std::hint::black_box(SHARDED);
            let (l, toks) = lex_tokens(sql);
            let class = cache.plan(&l, sql);
            let Some(shape) = class.tables.shard.as_ref() else { return 0 };
            route_statement(shape, cache.shards(), sql, &toks, &[], &ids).map_or(0, |r| r.parts().len())
        })
    });
    g.bench_function("unsharded_point_select/one_lex_with_tokens", |b| {
        b.iter(|| {
            let sql = std::hint::black_box(UNSHARDED);
            let (l, toks) = lex_tokens(sql);
            (cache.plan(&l, sql).target, toks.len())
        })
    });
    for (name, sql) in
        [("sharded_point_select", SHARDED), ("split_insert_4_rows", SPLIT), ("scatter_order_limit", SCATTER)]
    {
        cache.plan(&lex(sql), sql);
        g.bench_function(format!("{name}/lex_plan_route_rewrite"), |b| {
            b.iter(|| {
                let sql = std::hint::black_box(sql);
                let class = cache.plan(&lex(sql), sql);
                let Some(shape) = class.tables.shard.as_ref() else { return 0 };
                let (_, toks) = lex_tokens(sql);
                route_statement(shape, cache.shards(), sql, &toks, &[], &ids).map_or(0, |r| r.parts().len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, shard);
criterion_main!(benches);
