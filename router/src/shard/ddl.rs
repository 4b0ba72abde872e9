//! `sluice shard-ddl`: the CREATE TABLE of every physical table of a sharded table, from a template
//! CREATE TABLE of the logical table (only the table name changes; a schema per shard gets its
//! CREATE DATABASE first).

use super::{DdlError, ShardTable};
use crate::lexer::{TokenKind, lex_tokens};

/// The statements creating every shard of `table` from `template` (`CREATE TABLE [IF NOT EXISTS]
/// [schema.]name (…) …`), in shard order, each ending with `;`.
pub fn shard_ddl(table: &ShardTable, template: &str) -> Result<Vec<String>, DdlError> {
    let sql = template.trim().trim_end_matches(';').trim_end();
    let (_, toks) = lex_tokens(sql.as_bytes());
    let words: Vec<(usize, &str)> = toks
        .iter()
        .enumerate()
        .filter(|(_, t)| matches!(t.kind, TokenKind::Word | TokenKind::Quoted))
        .map(|(i, t)| (i, sql.get(t.span.clone()).unwrap_or_default()))
        .collect();
    let lower: Vec<String> = words.iter().take(6).map(|(_, w)| w.to_ascii_lowercase()).collect();
    let mut at = match lower.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["create", "table", "if", "not", "exists", ..] => 5,
        ["create", "table", ..] => 2,
        _ => return Err(DdlError::NotCreateTable),
    };
    let Some(&(mut name_tok, _)) = words.get(at) else { return Err(DdlError::NoName) };
    let start = toks[name_tok].span.start;
    // `schema.name`: the name is the word after the dot.
    if toks.get(name_tok + 1).is_some_and(|t| sql.get(t.span.clone()) == Some(".")) {
        at += 1;
        name_tok = words.get(at).map(|w| w.0).ok_or(DdlError::NoName)?;
    }
    let name_start = toks[name_tok].span.start;
    let end = toks[name_tok].span.end;
    let name = sql.get(name_start..end).unwrap_or_default().trim_matches('`');
    if !name.eq_ignore_ascii_case(&table.name) {
        return Err(DdlError::OtherTable { found: name.to_owned(), table: table.name.clone() });
    }
    let mut out = Vec::new();
    let mut schemas: Vec<&str> = Vec::new();
    for p in &table.shards {
        let stmt = match &p.schema {
            Some(s) => {
                if !schemas.contains(&s.as_str()) {
                    schemas.push(s);
                    out.push(format!("CREATE DATABASE IF NOT EXISTS `{s}`;"));
                }
                format!("{}`{s}`.`{}`{};", &sql[..start], p.table, &sql[end..])
            }
            // The template's own schema qualifier, if any, stays.
            None => format!("{}`{}`{};", &sql[..name_start], p.table, &sql[end..]),
        };
        out.push(stmt);
    }
    Ok(out)
}
