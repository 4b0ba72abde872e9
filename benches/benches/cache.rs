//! The result cache's L1 hit path: a lookup of a point select's key (full-key compare) and the
//! generation check of the table it read, as a session pays it on every hit; and a miss + fill.

use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use sluice_cache::{Cache, Collector, Lookup, Settings, table_id};

fn key(i: u32) -> Bytes {
    // kind, EOF style, charset, user, schema, 12 variables, the statement: about what a session builds.
    let mut k = b"\x03\x01\x2d\x03\x00\x00\x00app\x06\x00\x00\x00sbtest".to_vec();
    for _ in 0..12 {
        k.extend_from_slice(b"\x08\x00\x00\x00utf8mb4_");
    }
    k.extend_from_slice(format!("SELECT c FROM sbtest1 WHERE id={i}").as_bytes());
    Bytes::from(k)
}

fn l1(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let cache = Cache::new(Settings {
        l1_bytes: 64 << 20,
        max_entry_bytes: 1 << 20,
        flight_wait: Duration::from_secs(1),
        refresh_ahead: Duration::ZERO,
    });
    let tables: std::sync::Arc<[sluice_cache::TableId]> =
        vec![table_id(Some("sbtest"), "sbtest1").expect("table")].into();
    // A point select's response: column count, one column definition, one row, the terminator.
    let packets: [&[u8]; 4] = [b"\x01", &[3u8; 60], &[0x78u8; 121], b"\xfe\x00\x00\x02\x00\x00\x00"];
    rt.block_on(async {
        for i in 0..10_000 {
            if let Lookup::Miss(m) = cache.lookup(key(i), tables.clone()).await {
                let mut col = Collector::new(1 << 20);
                packets.iter().for_each(|p| col.push(p));
                cache.fill(m, col, 1, Duration::from_secs(3600)).await;
            }
        }
    });
    let k = key(4711);
    c.bench_function("cache/l1_hit_point_select", |b| {
        b.iter(|| {
            rt.block_on(async {
                match cache.lookup(k.clone(), tables.clone()).await {
                    Lookup::Hit(e, _) => e.rows,
                    Lookup::Miss(_) => 0,
                }
            })
        })
    });
    let mut n = 100_000u32;
    c.bench_function("cache/miss_and_fill", |b| {
        b.iter(|| {
            n += 1;
            rt.block_on(async {
                if let Lookup::Miss(m) = cache.lookup(key(n), tables.clone()).await {
                    let mut col = Collector::new(1 << 20);
                    packets.iter().for_each(|p| col.push(p));
                    cache.fill(m, col, 1, Duration::from_secs(3600)).await;
                }
            })
        })
    });
}

criterion_group!(benches, l1);
criterion_main!(benches);
