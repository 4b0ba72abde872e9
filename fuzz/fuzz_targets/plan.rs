//! The plan-cache miss (the sqlparser path): lex in the session's mode (first byte), plan through a
//! `PlanCache` over sharded tables, route the shape, on statements up to 1 MiB. Never a panic; the
//! tables agree with `analyze_with`, are sorted and unique, and none is both read and written; an
//! unparsed statement has no tables, and one too complex to parse never goes to a replica; a cache hit
//! gives the same plan; a routed statement's parts name existing shards, each once, in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_router::analyze::{Unparsed, analyze_with};
use sluice_router::classify::Target;
use sluice_router::lexer::{LexMode, lex_tokens_with};
use sluice_router::plan_cache::PlanCache;
use sluice_router::shard::route::route_statement;
use sluice_router::shard::{PhysicalShard, ShardFunction, ShardMap, ShardTable};

fn table(
    name: &str,
    key: &str,
    function: ShardFunction,
    n: usize,
    broadcast: bool,
    generate: bool,
) -> ShardTable {
    ShardTable {
        name: name.into(),
        key: key.into(),
        function,
        shards: (0..n)
            .map(|i| PhysicalShard {
                group: i % 2,
                schema: (i % 2 == 1).then(|| format!("s{i}")),
                table: format!("{name}_{i}"),
            })
            .collect(),
        broadcast_writes: broadcast,
        generate_key: generate,
    }
}

fn map() -> ShardMap {
    ShardMap {
        tables: vec![
            table("orders", "customer_id", ShardFunction::Hash, 4, false, false),
            table(
                "users",
                "id",
                ShardFunction::Range(vec![(None, Some(100)), (Some(100), Some(1000)), (Some(1000), None)]),
                3,
                true,
                false,
            ),
            table(
                "events",
                "tenant",
                ShardFunction::List(vec![vec!["a".into(), "b".into()], vec!["c".into()]]),
                2,
                false,
                false,
            ),
            table("items", "id", ShardFunction::Mod, 3, false, true),
        ],
    }
}

fn sorted_unique(v: &[String]) -> bool {
    v.windows(2).all(|w| w[0] < w[1])
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, sql)) = data.split_first() else { return };
    let mode = LexMode { no_backslash_escapes: pick & 1 != 0, ansi_quotes: pick & 2 != 0 };
    let (lexed, toks) = lex_tokens_with(sql, mode);
    let cache = PlanCache::new(64, 1 << 20).with_shards(map());
    let (class, unparsed) = cache.plan_with_reason(&lexed, sql);
    let t = &class.tables;
    assert_eq!(unparsed.is_none(), t.parsed);
    if !t.parsed {
        assert!(t.read.is_empty() && t.written.is_empty());
    }
    assert!(sorted_unique(&t.read) && sorted_unique(&t.written), "tables not sorted and unique: {t:?}");
    assert!(!t.read.iter().any(|r| t.written.contains(r)), "a table both read and written: {t:?}");
    let a = analyze_with(&String::from_utf8_lossy(sql), mode);
    assert_eq!((a.parsed, &*a.tables_read, &*a.tables_written), (t.parsed, &*t.read, &*t.written));
    if lexed.hints.is_empty() && unparsed == Some(Unparsed::TooComplex) {
        assert_ne!(class.target, Target::Replica, "a statement too complex to parse went to a replica");
    }
    let (again, unparsed_again) = cache.plan_with_reason(&lexed, sql);
    assert_eq!((&*again, unparsed_again), (&*class, unparsed), "a cache hit planned differently");
    let Some(shape) = &t.shard else { return };
    let Ok(route) = route_statement(shape, cache.shards(), sql, &toks, &[], &|| 4242) else { return };
    let parts = route.parts();
    assert!(!parts.is_empty());
    assert!(parts.windows(2).all(|p| p[0].shard < p[1].shard), "parts out of shard order: {route:?}");
    let most = cache.shards().tables.iter().map(|t| t.shards.len()).max().unwrap_or(0);
    assert!(parts.iter().all(|p| p.shard < most), "a part for a shard that does not exist: {route:?}");
});
