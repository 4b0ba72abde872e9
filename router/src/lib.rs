//! Pure statement routing for sluice: digest lexer, statement classification, plan cache and the
//! routing decision. No I/O: the proxy feeds statements and state in, and executes what comes out.
//!
//! Per statement: [`lexer::lex`] (one pass: digest id, normalized text, literal spans, hints) →
//! [`plan_cache::PlanCache::plan`] (classification once per shape) → [`route::route`] with the session's
//! view and the topology snapshot → a [`route::Route`].

pub mod analyze;
pub mod classify;
pub mod lexer;
pub mod plan_cache;
pub mod route;
pub mod shard;

/// The shared routing cases: `../shared/cases/routing.tsv` beside the repository when it is there (the
/// maintained copy), else the copy vendored in `router/testdata/` (a clone on its own, e.g. in CI).
#[cfg(test)]
pub(crate) fn routing_cases() -> String {
    let shared = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/cases/routing.tsv");
    let vendored = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/routing.tsv");
    std::fs::read_to_string(shared)
        .or_else(|_| std::fs::read_to_string(vendored))
        .unwrap_or_else(|e| panic!("routing cases: neither {shared} nor {vendored} is readable: {e}"))
}
