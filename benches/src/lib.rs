//! Criterion micro-benchmarks and load scripts for sluice; the benches live in `benches/`, the load scripts beside this crate.
