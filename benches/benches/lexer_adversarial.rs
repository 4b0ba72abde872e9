//! The lexer on hostile inputs at 1 KiB, 64 KiB, 1 MiB and 16 MiB: the time per byte must stay flat as
//! the input grows (a client must not be able to make sluice spend quadratic time on one statement).
//! Criterion's throughput column is bytes per second; ns per byte = 1e9 / that.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sluice_router::lexer::{LexMode, lex, lex_with};

const SIZES: &[(&str, usize)] =
    &[("1KiB", 1 << 10), ("64KiB", 64 << 10), ("1MiB", 1 << 20), ("16MiB", 16 << 20)];

/// `head`, then `unit` repeated, cut to `len` bytes.
fn build(head: &str, unit: &str, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + unit.len());
    v.extend_from_slice(head.as_bytes());
    while v.len() < len {
        v.extend_from_slice(unit.as_bytes());
    }
    v.truncate(len);
    v
}

/// (name, input of `len` bytes).
fn inputs(len: usize) -> Vec<(&'static str, Vec<u8>)> {
    let half = len / 2;
    let mut parens = vec![b'('; half];
    parens.resize(len, b')');
    vec![
        ("unclosed_exec_comment", build("SELECT /*! ", "a + b ", len)),
        ("many_exec_openers", build("SELECT ", "/*!", len)),
        ("many_hint_openers", build("SELECT ", "/*+ ", len)),
        ("literals", build("SELECT ", "'abc', 12, ", len)),
        ("deep_parens", parens),
        ("in_list", build("SELECT * FROM t WHERE id IN (", "12345, ", len)),
        ("values_rows", build("INSERT INTO t VALUES ", "(1, 'x'), ", len)),
        ("semicolons", build("SELECT 1", ";", len)),
        ("statements", build("", "SELECT 1;", len)),
        ("or_chain", build("SELECT 1 FROM t WHERE 1=0", " OR 1=1", len)),
    ]
}

fn adversarial(c: &mut Criterion) {
    let mut g = c.benchmark_group("lex_adversarial");
    g.sample_size(10);
    for &(size_name, len) in SIZES {
        for (name, sql) in inputs(len) {
            g.throughput(Throughput::Bytes(sql.len() as u64));
            g.bench_with_input(BenchmarkId::new(name, size_name), &sql, |b, sql| {
                b.iter(|| lex(std::hint::black_box(sql)).digest)
            });
        }
    }
    g.finish();
}

/// The same inputs lexed without backslash escapes and with ANSI quotes (other string rules, same pass).
fn modes(c: &mut Criterion) {
    let mode = LexMode { no_backslash_escapes: true, ansi_quotes: true };
    let mut g = c.benchmark_group("lex_adversarial_modes");
    g.sample_size(10);
    let len = 1 << 20;
    for (name, sql) in inputs(len) {
        g.throughput(Throughput::Bytes(sql.len() as u64));
        g.bench_with_input(BenchmarkId::new(name, "1MiB"), &sql, |b, sql| {
            b.iter(|| lex_with(std::hint::black_box(sql), mode).digest)
        });
    }
    g.finish();
}

criterion_group!(benches, adversarial, modes);
criterion_main!(benches);
