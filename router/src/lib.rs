//! Pure statement routing for sluice: digest lexer, statement classification, plan cache and the
//! routing decision. No I/O: the proxy feeds statements and state in, and executes what comes out.
//!
//! Per statement: [`lexer::lex`] (one pass: digest id, normalized text, literal spans, hints) →
//! [`plan_cache::PlanCache::plan`] (classification once per shape) → [`route::route`] with the session's
//! view and the topology snapshot → a [`route::Route`].

pub mod classify;
pub mod lexer;
pub mod plan_cache;
pub mod route;
