//! Criterion micro-benchmarks and load scripts for sluice; the benches live in `benches/`, the load scripts beside this crate.

use sluice_router::shard::{PhysicalShard, ShardFunction, ShardMap, ShardTable};

/// The sharded table the router benches use: `documents`, hash-sharded on `id` over 4 tables.
pub fn documents_map() -> ShardMap {
    ShardMap {
        tables: vec![ShardTable {
            name: "documents".into(),
            key: "id".into(),
            function: ShardFunction::Hash,
            shards: (0..4)
                .map(|n| PhysicalShard { group: 0, schema: None, table: format!("documents_{n}") })
                .collect(),
            broadcast_writes: false,
            generate_key: false,
        }],
    }
}
