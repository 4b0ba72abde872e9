//! Pure statement routing for sluice: digest lexer, statement classification, plan cache and the routing decision (no I/O).

pub mod classify;
pub mod lexer;
