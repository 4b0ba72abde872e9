//! Shard routing tests, one file per topic, all against the same small shard map.

mod ddl;
mod functions;
mod ids;
mod keys;
mod merge;
mod refusals;
mod rewrite;

use super::ShardError;
use super::route::{ShardRoute, route_statement};
use super::{KeyValue, PhysicalShard, ShardFunction, ShardMap, ShardTable};
use crate::lexer::{lex, lex_tokens};
use crate::plan_cache::PlanCache;

/// `documents` (hash on id, 4 tables on group 0), `users` (mod on uid, 2 schemas), `events` (range on
/// id), `regions` (list on code).
pub(super) fn map() -> ShardMap {
    let tables = |name: &str, n: usize, schema: bool| -> Vec<PhysicalShard> {
        (0..n)
            .map(|i| PhysicalShard {
                group: 0,
                schema: schema.then(|| format!("shop_{i}")),
                table: if schema { name.to_owned() } else { format!("{name}_{i}") },
            })
            .collect()
    };
    ShardMap {
        tables: vec![
            ShardTable {
                name: "documents".into(),
                key: "id".into(),
                function: ShardFunction::Hash,
                shards: tables("documents", 4, false),
                broadcast_writes: false,
                generate_key: false,
            },
            ShardTable {
                name: "users".into(),
                key: "uid".into(),
                function: ShardFunction::Mod,
                shards: tables("users", 2, true),
                broadcast_writes: true,
                generate_key: true,
            },
            ShardTable {
                name: "events".into(),
                key: "id".into(),
                function: ShardFunction::Range(vec![
                    (None, Some(100)),
                    (Some(100), Some(200)),
                    (Some(300), None),
                ]),
                shards: tables("events", 3, false),
                broadcast_writes: false,
                generate_key: false,
            },
            ShardTable {
                name: "regions".into(),
                key: "code".into(),
                function: ShardFunction::List(vec![
                    vec!["us".into(), "ca".into()],
                    vec!["de".into(), "7".into()],
                ]),
                shards: tables("regions", 2, false),
                broadcast_writes: false,
                generate_key: false,
            },
        ],
    }
}

/// Routes `sql` through a plan cache (so the shape comes from the cache as in the proxy).
pub(super) fn route_with(
    cache: &PlanCache,
    sql: &str,
    params: &[Option<KeyValue>],
) -> Result<ShardRoute, ShardError> {
    // Lexed once with its tokens, as the session does; the shape is the same without them.
    let (l, toks) = lex_tokens(sql.as_bytes());
    let (class, _) = cache.plan_with_tokens(&l, Some(&toks), sql.as_bytes());
    let fresh = PlanCache::new(10, 1 << 20).with_shards(cache.shards().clone());
    assert_eq!(fresh.plan(&lex(sql.as_bytes()), sql.as_bytes()), class, "{sql}");
    let Some(shape) = class.tables.shard.as_ref() else {
        return Err(ShardError::NotRouted("not sharded".into()));
    };
    let next = std::cell::Cell::new(1000);
    let ids = || {
        next.set(next.get() + 1);
        next.get()
    };
    route_statement(shape, cache.shards(), sql.as_bytes(), &toks, params, &ids)
}

pub(super) fn cache() -> PlanCache {
    PlanCache::new(1000, 1 << 20).with_shards(map())
}

pub(super) fn route(sql: &str) -> Result<ShardRoute, ShardError> {
    route_with(&cache(), sql, &[])
}

/// (shard, text) of every part.
pub(super) fn parts(sql: &str) -> Vec<(usize, String)> {
    match route(sql) {
        Ok(r) => r.parts().iter().map(|p| (p.shard, p.sql.clone())).collect(),
        Err(e) => panic!("{sql}: refused: {e}"),
    }
}
