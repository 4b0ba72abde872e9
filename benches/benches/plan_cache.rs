//! The plan cache itself: a hit (the statement already lexed, as the session does), a miss (a fresh
//! cache: lookup, lexer classification, the sqlparser parse and walk, the shard shape when the
//! statement names a sharded table, insert), and a churn of more shapes than the cache holds (every
//! lookup a miss that also evicts). Then CRC-32 of shard keys as `hash` sharding sees them.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use sluice_router::lexer::{Lexed, lex, lex_tokens};
use sluice_router::plan_cache::PlanCache;
use sluice_router::shard::crc32;

const UNSHARDED: &[u8] = b"SELECT c FROM sbtest1 WHERE id=4711";
const SHARDED: &[u8] = b"SELECT c FROM documents WHERE id=4711";
const SCATTER: &[u8] = b"SELECT owner, COUNT(*), SUM(size) FROM documents WHERE size > 10 GROUP BY owner ORDER BY owner LIMIT 10";
const INSERT: &[u8] = b"INSERT INTO documents (id, owner, size) VALUES (1, 'a', 10), (2, 'b', 20)";

fn cache() -> PlanCache {
    PlanCache::new(10_000, 10_000 * 256).with_shards(sluice_benches::documents_map())
}

fn plan_cache(c: &mut Criterion) {
    let mut g = c.benchmark_group("plan_cache");
    let warm = cache();
    for (name, sql) in [("unsharded_point_select", UNSHARDED), ("sharded_point_select", SHARDED)] {
        let l = lex(sql);
        warm.plan(&l, sql);
        g.bench_function(format!("hit/{name}"), |b| {
            b.iter(|| warm.plan(std::hint::black_box(&l), std::hint::black_box(sql)).target)
        });
    }
    for (name, sql) in [
        ("unsharded_point_select", UNSHARDED),
        ("sharded_point_select", SHARDED),
        ("sharded_scatter_group_by", SCATTER),
        ("sharded_insert_2_rows", INSERT),
    ] {
        let (l, toks) = lex_tokens(sql);
        // The cache is built outside the measurement and dropped after it: only the miss is timed.
        g.bench_function(format!("miss/{name}"), |b| {
            b.iter_batched(
                cache,
                |c| {
                    let p = c.plan(std::hint::black_box(&l), std::hint::black_box(sql));
                    (c, p, toks.len())
                },
                BatchSize::SmallInput,
            )
        });
    }
    let (l, toks) = lex_tokens(SHARDED);
    g.bench_function("miss_session_tokens/sharded_point_select", |b| {
        b.iter_batched(
            cache,
            |c| {
                let p =
                    c.plan_with_tokens(std::hint::black_box(&l), Some(&toks), std::hint::black_box(SHARDED));
                (c, p)
            },
            BatchSize::SmallInput,
        )
    });
    // 4096 shapes through a cache of 1024: misses that evict (unsharded: the parse is the cheap one).
    let shapes: Vec<(Lexed, Vec<u8>)> = (0..4096)
        .map(|n| {
            let sql = format!("SELECT c{n} FROM t WHERE id = 1").into_bytes();
            (lex(&sql), sql)
        })
        .collect();
    let small = PlanCache::new(1024, 1024 * 256);
    let mut i = 0;
    g.bench_function("churn_4096_shapes_in_1024", |b| {
        b.iter(|| {
            let (l, sql) = &shapes[i % shapes.len()];
            i += 1;
            small.plan(l, sql).target
        })
    });
    let s = small.stats();
    eprintln!("churn: hits {} misses {} evictions {} len {}", s.hits, s.misses, s.evictions, small.len());
    g.finish();
}

/// The hand-written byte-at-a-time table CRC-32 sluice had before crc32fast, to compare in one run.
fn crc32_bytewise(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    let mut c = !0u32;
    for &b in bytes {
        c = TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

fn crc(c: &mut Criterion) {
    let mut g = c.benchmark_group("crc32");
    for (name, key) in [
        ("int_4711", &b"4711"[..]),
        ("int_7_digits", b"1234567"),
        ("int_10_digits", b"1234567890"),
        ("bigint_19_digits", b"1234567890123456789"),
        ("uuid_36", b"123e4567-e89b-12d3-a456-426614174000"),
        ("string_256", &[b'x'; 256][..]),
    ] {
        assert_eq!(crc32(key), crc32_bytewise(key));
        g.bench_function(name, |b| b.iter(|| crc32(std::hint::black_box(key))));
        g.bench_function(format!("{name}/bytewise_table"), |b| {
            b.iter(|| crc32_bytewise(std::hint::black_box(key)))
        });
    }
    g.finish();
}

criterion_group!(benches, plan_cache, crc);
criterion_main!(benches);
