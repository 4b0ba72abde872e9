//! Statements sluice answers itself on the client port: `SHOW LAST ROUTE`, `KILL [QUERY|CONNECTION] n`
//! (mapped to the backend thread serving client `n`; a raw id is never forwarded, it would name some
//! other client's backend thread) and `CONNECTION_ID()` (the client's id in sluice's handshake).

use bytes::{Bytes, BytesMut};
use sluice_protocol::Packet;
use sluice_protocol::constants::errors;
use sluice_protocol::packets::text_result_set;
use sluice_router::lexer::Lexed;
use tokio::io::{AsyncRead, AsyncWrite};

use super::borrow::Choice;
use super::commands::Next;
use super::{LastRoute, Session};
use crate::core::error::{Error, Result};

/// ER_NO_SUCH_THREAD.
const NO_SUCH_THREAD: (u16, &str) = (1094, "HY000");
/// ER_KILL_DENIED_ERROR.
const KILL_DENIED: (u16, &str) = (1095, "HY000");
/// ER_CONNECTION_KILLED.
const CONNECTION_KILLED: (u16, &str) = (1927, "70100");

/// What a `KILL` statement asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KillRequest {
    /// The client connection id (sluice's).
    pub id: u64,
    /// `KILL QUERY`: stop the running statement, keep the connection.
    pub query_only: bool,
}

/// A `KILL` sluice does not answer: ER_PARSE_ERROR saying which form to use.
fn bad_kill(why: &'static str) -> Error {
    Error::reply(errors::PARSE, why)
}

/// Whether a normalized `KILL` (`kill [hard|soft] [query|connection] ?`) is `KILL QUERY`; an error for
/// the forms sluice does not answer.
fn kill_form(lexed: &Lexed) -> Result<bool> {
    let mut words: Vec<&str> = lexed.text.split_whitespace().collect();
    words.retain(|w| !matches!(*w, "hard" | "soft"));
    match words.as_slice() {
        ["kill", "?"] | ["kill", "connection", "?"] => Ok(false),
        ["kill", "query", "?"] => Ok(true),
        ["kill", "query", "id", ..] => Err(bad_kill(
            "KILL QUERY ID (by query id) is not supported by sluice; use KILL QUERY <connection id>",
        )),
        ["kill", "user", ..] | ["kill", _, "user", ..] => {
            Err(bad_kill("KILL USER is not supported by sluice; kill connections by id"))
        }
        _ => Err(bad_kill("KILL takes a connection id: KILL [QUERY | CONNECTION] <id>")),
    }
}

/// Parses a normalized `KILL` (`kill [hard|soft] [query|connection] ?`) with the id from the statement.
pub(crate) fn parse_kill(lexed: &Lexed, sql: &[u8]) -> Result<KillRequest> {
    let query_only = kill_form(lexed)?;
    let lit = lexed.literals.first().ok_or_else(|| bad_kill("KILL takes a connection id"))?;
    let text = sql.get(lit.span.clone()).ok_or_else(|| bad_kill("KILL takes a connection id"))?;
    let id = std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
        .ok_or_else(|| bad_kill("KILL takes a numeric connection id"))?;
    Ok(KillRequest { id, query_only })
}

/// A prepared `KILL`: the id is the statement's literal, or else its one parameter as the EXECUTE binds
/// it. `Err` holds the error to answer (the server's ER_NO_SUCH_THREAD for an id that is no number).
pub(crate) fn prepared_kill(
    lexed: &Lexed,
    sql: &[u8],
    param: Option<&sluice_protocol::binary::Value>,
) -> std::result::Result<KillRequest, Error> {
    use sluice_protocol::binary::Value;
    if !lexed.literals.is_empty() {
        return parse_kill(lexed, sql);
    }
    let query_only = kill_form(lexed)?;
    let unknown = |shown: String| Error::reply(NO_SUCH_THREAD, format!("Unknown thread id: {shown}"));
    let id = match param {
        Some(Value::UInt(u)) => *u,
        Some(Value::Int(i)) => u64::try_from(*i).map_err(|_| unknown(i.to_string()))?,
        Some(Value::Bytes(b)) => {
            let text = String::from_utf8_lossy(b);
            text.trim().parse::<u64>().map_err(|_| unknown(text.trim().to_owned()))?
        }
        Some(Value::Double(d)) if d.fract() == 0.0 && *d >= 0.0 && *d < u64::MAX as f64 => *d as u64,
        Some(v) => return Err(unknown(v.to_sql_literal())),
        None => return Err(unknown("NULL".into())),
    };
    Ok(KillRequest { id, query_only })
}

/// Words that end a select list at its own parenthesis depth.
const LIST_END: &[&str] = &[
    "from",
    "into",
    "where",
    "group",
    "having",
    "order",
    "limit",
    "window",
    "union",
    "except",
    "intersect",
    "for",
    "lock",
    "procedure",
    "offset",
    "fetch",
    "returning",
];
/// Modifiers between SELECT and its first item: not part of any item's name.
const SELECT_MODIFIERS: &[&str] = &[
    "all",
    "distinct",
    "distinctrow",
    "high_priority",
    "straight_join",
    "sql_small_result",
    "sql_big_result",
    "sql_buffer_result",
    "sql_cache",
    "sql_no_cache",
    "sql_calc_found_rows",
];
/// Words that can end an expression or join two, so a select item ending in one has no alias.
const NOT_ALIAS: &[&str] = &[
    "end", "null", "true", "false", "unknown", "and", "or", "not", "is", "in", "like", "between", "then",
    "else", "when", "case", "div", "mod", "xor", "regexp", "rlike", "interval", "binary", "collate", "as",
    "escape", "sounds", "exists", "distinct", "all", "any", "some",
];
/// MariaDB names a column by at most this many characters of its text.
const MAX_NAME_CHARS: usize = 255;

/// `sql` with every `CONNECTION_ID()` call replaced by `id` (typed as the server types the call); `None`
/// when there is none.
///
/// The server names an unaliased select item by its text as typed (`CONNECTION_ID()`,
/// `connection_id( ) + 0`), so every such item that held a call gets that text as an explicit alias:
/// the client sees the column names a direct connection gives. Linear in the statement's length (one
/// lexer pass, one walk over its tokens).
pub(crate) fn replace_connection_id(sql: &[u8], id: u32) -> Option<Vec<u8>> {
    // Typed as CONNECTION_ID() is (INT UNSIGNED NOT NULL, display width 10): a bare literal would be a
    // signed INT as wide as its digits, and clients see the column definition.
    replace_calls(sql, &[("connection_id", format!("CAST({id:010} AS UNSIGNED)"))])
}

/// `sql` with every call `name()` (no arguments, not qualified by a schema) of each `(name,
/// replacement)` replaced by its replacement, and every unaliased select item that held one given
/// its text as typed as an alias (see [`replace_connection_id`]); `None` when there is no call.
pub(crate) fn replace_calls(sql: &[u8], with: &[(&str, String)]) -> Option<Vec<u8>> {
    use sluice_router::lexer::TokenKind;
    let (_, toks) = sluice_router::lexer::lex_tokens(sql);
    let word = |i: usize, w: &str| {
        toks.get(i).is_some_and(|t| {
            t.kind == TokenKind::Word && sql[t.span.clone()].eq_ignore_ascii_case(w.as_bytes())
        })
    };
    let is_word_in = |i: usize, list: &[&str]| {
        toks.get(i).is_some_and(|t| {
            t.kind == TokenKind::Word
                && std::str::from_utf8(&sql[t.span.clone()])
                    .is_ok_and(|w| list.iter().any(|l| l.eq_ignore_ascii_case(w)))
        })
    };
    // Calls by token index of the name; `db.connection_id()` is a stored function, not the built-in.
    let mut calls = Vec::new();
    let mut which = Vec::new();
    for i in 0..toks.len() {
        let qualified =
            i > 0 && toks[i - 1].kind == TokenKind::Operator && sql[toks[i - 1].span.clone()] == *b".";
        if qualified
            || !toks.get(i + 1).is_some_and(|t| t.kind == TokenKind::Open)
            || !toks.get(i + 2).is_some_and(|t| t.kind == TokenKind::Close)
        {
            continue;
        }
        if let Some(k) = with.iter().position(|(name, _)| word(i, name)) {
            calls.push(i);
            which.push(k);
        }
    }
    if calls.is_empty() {
        return None;
    }
    // Select items holding a call and no alias: (token index of the item's last token, its text).
    let mut aliases: Vec<(usize, usize)> = Vec::new();
    let unaliased = |first: usize, last: usize| {
        if last > first && word(last - 1, "as") {
            return false;
        }
        let t = &toks[last];
        let alias_like = match t.kind {
            TokenKind::Quoted | TokenKind::Literal(sluice_router::lexer::LiteralKind::String) => true,
            TokenKind::Word => !is_word_in(last, NOT_ALIAS) && sql[t.span.start] != b'@',
            _ => false,
        };
        let after_expression = last > first
            && match toks[last - 1].kind {
                TokenKind::Close | TokenKind::Quoted | TokenKind::Literal(_) | TokenKind::Param => true,
                TokenKind::Word => !is_word_in(last - 1, NOT_ALIAS),
                _ => false,
            };
        !(alias_like && after_expression)
    };
    // Open select lists: (parenthesis depth, first token of the current item, still before the first item).
    let mut lists: Vec<(usize, Option<usize>, bool)> = Vec::new();
    let mut depth = 0usize;
    // An item holds a call when the first call at or after its start is before its end (items of a
    // subquery end before the item around them, so this is a search, not a cursor).
    let finish = |first: Option<usize>, end: usize, aliases: &mut Vec<(usize, usize)>| {
        let Some(first) = first else { return };
        if end <= first {
            return;
        }
        let at = calls.partition_point(|&c| c < first);
        if calls.get(at).is_some_and(|&c| c < end) && unaliased(first, end - 1) {
            aliases.push((first, end - 1));
        }
    };
    for (i, t) in toks.iter().enumerate() {
        let at_list = lists.last().is_some_and(|l| l.0 == depth);
        match t.kind {
            TokenKind::Open => {
                if at_list
                    && let Some(l) = lists.last_mut()
                    && l.1.is_none()
                {
                    l.1 = Some(i);
                    l.2 = false;
                }
                depth += 1;
                continue;
            }
            TokenKind::Close => {
                while let Some(l) = lists.last().copied().filter(|l| l.0 == depth) {
                    finish(l.1, i, &mut aliases);
                    lists.pop();
                }
                depth = depth.saturating_sub(1);
                continue;
            }
            TokenKind::Semicolon => {
                while let Some(l) = lists.pop() {
                    finish(l.1, i, &mut aliases);
                }
                depth = 0;
                continue;
            }
            _ => {}
        }
        if word(i, "select") {
            if at_list && let Some(l) = lists.pop() {
                finish(l.1, i, &mut aliases);
            }
            lists.push((depth, None, true));
            continue;
        }
        if !at_list {
            continue;
        }
        if is_word_in(i, LIST_END) {
            if let Some(l) = lists.pop() {
                finish(l.1, i, &mut aliases);
            }
            continue;
        }
        let Some(l) = lists.last_mut() else { continue };
        if t.kind == TokenKind::Comma {
            let first = l.1.take();
            finish(first, i, &mut aliases);
            continue;
        }
        if l.1.is_none() {
            if l.2 && is_word_in(i, SELECT_MODIFIERS) {
                continue;
            }
            l.1 = Some(i);
            l.2 = false;
        }
    }
    while let Some(l) = lists.pop() {
        finish(l.1, toks.len(), &mut aliases);
    }
    // In text order of where each alias goes (an item's end).
    aliases.sort_unstable_by_key(|&(_, last)| last);
    let mut out = Vec::with_capacity(sql.len() + 16 * calls.len() + 32 * aliases.len());
    let mut copied = 0;
    let mut alias_at = aliases.iter().peekable();
    let mut call_at = calls.iter().zip(&which).peekable();
    // Every call and every item end in text order: replace calls, append aliases after items.
    loop {
        let c = call_at.peek().map(|&(&c, _)| toks[c].span.start);
        let a = alias_at.peek().map(|&&(_, last)| toks[last].span.end);
        match (c, a) {
            (None, None) => break,
            (Some(cs), a) if a.is_none_or(|ae| cs < ae) => {
                let (&c, &k) = call_at.next().unwrap_or((&0, &0));
                out.extend_from_slice(&sql[copied..cs]);
                out.extend_from_slice(with.get(k).map_or(&b""[..], |w| w.1.as_bytes()));
                copied = toks[c + 2].span.end;
            }
            (_, a) => {
                let ae = a.unwrap_or_default();
                let &(first, _) = alias_at.next().unwrap_or(&(0, 0));
                out.extend_from_slice(&sql[copied..ae]);
                copied = ae;
                out.extend_from_slice(b" AS `");
                let name = &sql[toks[first].span.start..ae];
                // The server keeps 255 characters of a name; a text that is not UTF-8 is left whole.
                let cut = std::str::from_utf8(name)
                    .ok()
                    .and_then(|s| s.char_indices().nth(MAX_NAME_CHARS).map(|(at, _)| at))
                    .unwrap_or(name.len());
                for &b in &name[..cut] {
                    if b == b'`' {
                        out.push(b'`');
                    }
                    out.push(b);
                }
                out.push(b'`');
            }
        }
    }
    out.extend_from_slice(&sql[copied..]);
    Some(out)
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// Answers a sluice statement; `None` when `lexed` is not one.
    pub(super) async fn sluice_statement(&mut self, lexed: &Lexed, p: &Packet) -> Result<Option<Next>> {
        match lexed.first_keyword.as_str() {
            "show" if lexed.text == "show last route" => {
                self.show_last_route(p.next_seq).await?;
                Ok(Some(Next::Continue))
            }
            "kill" if lexed.statements.len() == 1 => {
                let k = parse_kill(lexed, &p.payload[1..])?;
                self.kill(k.id, k.query_only, p.next_seq).await
            }
            _ => Ok(None),
        }
    }

    /// The statement with `CONNECTION_ID()` answered by sluice.
    pub(super) fn rewrite_connection_id(&self, payload: &[u8], lexed: &Lexed) -> Option<Bytes> {
        // The normalized text holds `connection_id (` for every call: no second pass over the rest.
        if !lexed.text.contains("connection_id (") {
            return None;
        }
        let sql = replace_connection_id(payload.get(1..)?, self.conn_id)?;
        let mut out = BytesMut::with_capacity(1 + sql.len());
        out.extend_from_slice(&payload[..1]);
        out.extend_from_slice(&sql);
        Some(out.freeze())
    }

    /// The statement with `FOUND_ROWS()` and `ROW_COUNT()` answered from what the session's previous
    /// statement returned, for a statement that does not run on the connection that ran it (the
    /// values live on that connection). `None` when there is nothing to replace or the values are
    /// not known (after `SQL_CALC_FOUND_ROWS`, `CALL`, `EXPLAIN`… the connection is kept instead).
    pub(super) fn rewrite_last_values(&self, payload: &[u8], lexed: &Lexed) -> Option<Bytes> {
        // MySQL warns (1287, deprecated) at every FOUND_ROWS() it parses; the written-in value keeps
        // a call whose value is multiplied away, so the warning is the server's own.
        let deprecated = self.shared.server_flavor == crate::backend::Flavor::MySql;
        let sql =
            last_values_sql(self.counts.found, self.counts.row_count, payload.get(1..)?, lexed, deprecated)?;
        let mut out = BytesMut::with_capacity(1 + sql.len());
        out.extend_from_slice(&payload[..1]);
        out.extend_from_slice(&sql);
        Some(out.freeze())
    }

    /// KILL / COM_PROCESS_KILL: stops client `id`'s running statement on its backend (`KILL QUERY`
    /// there, by its thread id) and, unless `query_only`, closes that client's session.
    pub(super) async fn kill(&mut self, id: u64, query_only: bool, seq: u8) -> Result<Option<Next>> {
        if id == u64::from(self.conn_id) {
            if query_only {
                self.reply_ok(seq).await?;
                return Ok(Some(Next::Continue));
            }
            return Err(Error::reply(CONNECTION_KILLED, "Connection was killed"));
        }
        let target = u32::try_from(id).ok().and_then(|id| self.shared.sessions.get(id));
        let Some(target) = target else {
            return Err(Error::reply(NO_SUCH_THREAD, format!("Unknown thread id: {id}")));
        };
        if *target.user() != *self.user.name {
            return Err(Error::reply(KILL_DENIED, format!("You are not owner of thread {id}")));
        }
        {
            // Held while killing: the target cannot finish, return its connection and have it lent to
            // another session in between.
            let running = target.running.lock().await;
            if let Some((member, thread)) = *running {
                let mut held = self.borrow(member).await?;
                let label = held.guard.label().to_owned();
                let r = held.guard.conn().query(&label, &format!("KILL QUERY {thread}")).await;
                held.guard.release_clean();
                match r {
                    // The statement may have finished meanwhile: nothing to kill is fine.
                    Ok(_) | Err(Error::BackendRefused { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if !query_only {
            target.kill.cancel();
        }
        self.reply_ok(seq).await?;
        Ok(Some(Next::Continue))
    }

    /// Records where the statement about to run goes (SHOW LAST ROUTE).
    pub(super) fn note_route(
        &mut self,
        choice: &Choice,
        lexed: &Lexed,
        cache: crate::features::stats::CacheStatus,
    ) {
        let r = &mut self.last_route;
        r.member = Some(choice.member);
        r.reason = choice.reason;
        r.digest = lexed.digest;
        r.digest_text.clear();
        r.digest_text.push_str(&lexed.text);
        r.cache = cache;
    }

    /// `SHOW LAST ROUTE`: one row about the previous statement of this session.
    async fn show_last_route(&mut self, seq: u8) -> Result<()> {
        let LastRoute { member, reason, digest, digest_text, cache, shards } = &self.last_route;
        let (backend, role) = match member.and_then(|m| self.shared.member(m).map(|a| (m, a))) {
            Some((m, addr)) => {
                let primary = self.shared.is_primary(m);
                (addr.label.clone(), if primary { "primary" } else { "replica" })
            }
            None => (String::new(), ""),
        };
        let pins = self.pins.names();
        let text = |s: &str| Some(Bytes::copy_from_slice(s.as_bytes()));
        let row = vec![
            text(&backend),
            text(role),
            text(reason.as_str()),
            member.map(|_| Bytes::from(format!("{digest:016x}"))),
            text(digest_text),
            text(if pins.is_empty() { "no" } else { "yes" }),
            text(&pins),
            text(cache.name()),
            text(&self.conn_id.to_string()),
        ];
        // One row per shard touched (the same first columns), with the shard and its rewritten SQL.
        let rows: Vec<Vec<Option<Bytes>>> = if shards.is_empty() {
            let mut r = row;
            r.extend([None, None, None]);
            vec![r]
        } else {
            shards
                .iter()
                .map(|(n, label, sql)| {
                    let mut r = row.clone();
                    r.extend([text(&n.to_string()), text(label), text(sql)]);
                    r
                })
                .collect()
        };
        let columns = [
            "backend",
            "role",
            "reason",
            "digest",
            "digest_text",
            "pinned",
            "pin_reasons",
            "cache",
            "connection_id",
            "shard",
            "shard_backend",
            "shard_sql",
        ];
        let mut seq = seq;
        for p in text_result_set(&columns, &rows, self.caps, self.status) {
            seq = self.client.write(seq, &p);
        }
        self.client.flush().await.map_err(|_| Error::ClientGone)
    }
}

/// [`Session::rewrite_last_values`] on statement text (a prepared statement's too, for its EXECUTE),
/// with the session's `FOUND_ROWS()` and `ROW_COUNT()` (`None`: not known).
pub(super) fn last_values_sql(
    last_found: Option<u64>,
    last_row_count: Option<i64>,
    sql: &[u8],
    lexed: &Lexed,
    found_rows_warns: bool,
) -> Option<Vec<u8>> {
    let t = &lexed.text;
    let (found, rows) = (t.contains("found_rows ("), t.contains("row_count ("));
    if !(found || rows) {
        return None;
    }
    // Known after every statement but SQL_CALC_FOUND_ROWS (kept connection answers), or when the
    // kept connection could not be read back.
    // Through DECIMAL(20), the cast has the functions' column type (BIGINT, length 21, NOT NULL):
    // `CAST(1 AS SIGNED)` alone is an INT of length 2, which drivers hand out as another type.
    let mut with = Vec::with_capacity(2);
    if found && let Some(n) = last_found {
        let warn = if found_rows_warns { " + 0 * FOUND_ROWS()" } else { "" };
        with.push(("found_rows", format!("CAST(CAST({n}{warn} AS DECIMAL(20)) AS SIGNED)")));
    }
    if rows && let Some(n) = last_row_count {
        with.push(("row_count", format!("CAST(CAST({n} AS DECIMAL(20)) AS SIGNED)")));
    }
    if with.is_empty() {
        return None;
    }
    replace_calls(sql, &with)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap; the lint guards library code
mod tests {
    use super::*;
    use sluice_router::lexer::lex;

    #[test]
    fn kill_forms() {
        let k = |s: &str| parse_kill(&lex(s.as_bytes()), s.as_bytes());
        assert_eq!(k("KILL 42").ok(), Some(KillRequest { id: 42, query_only: false }));
        assert_eq!(k("kill connection 7").ok(), Some(KillRequest { id: 7, query_only: false }));
        assert_eq!(k("KILL QUERY 9").ok(), Some(KillRequest { id: 9, query_only: true }));
        assert_eq!(k("KILL HARD QUERY 9").ok(), Some(KillRequest { id: 9, query_only: true }));
        let refused = |s: &str| k(s).err().map(|e| e.to_err_packet());
        let p = refused("KILL USER bob").unwrap();
        assert_eq!(
            (p.code, &p.message[..]),
            (1064, &b"KILL USER is not supported by sluice; kill connections by id"[..])
        );
        assert_eq!(refused("KILL 'x'").map(|p| p.code), Some(1064));
    }

    #[test]
    fn connection_id_is_replaced_outside_literals() {
        let sql = b"SELECT CONNECTION_ID(), 'connection_id()', connection_id ( ) + 1, my_connection_id(), db.connection_id()";
        let out = replace_connection_id(sql, 77).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "SELECT CAST(0000000077 AS UNSIGNED) AS `CONNECTION_ID()`, 'connection_id()', CAST(0000000077 AS UNSIGNED) + 1 AS `connection_id ( ) + 1`, my_connection_id(), db.connection_id()"
        );
        assert!(replace_connection_id(b"SELECT 1", 1).is_none());
        assert!(replace_connection_id(b"SELECT 'connection_id()'", 1).is_none());
    }

    #[test]
    fn select_items_keep_the_name_the_server_gives_them() {
        // `5` stands for the typed id, to keep the expectations readable.
        let r = |s: &str| {
            String::from_utf8(replace_connection_id(s.as_bytes(), 5).unwrap())
                .unwrap()
                .replace("CAST(0000000005 AS UNSIGNED)", "5")
        };
        // Aliases the user wrote stay; only unaliased select items get their text as the name.
        assert_eq!(r("select connection_id() as id"), "select 5 as id");
        assert_eq!(r("select connection_id() id, 1"), "select 5 id, 1");
        assert_eq!(r("SELECT CONNECTION_ID() 'x'"), "SELECT 5 'x'");
        assert_eq!(r("SELECT DISTINCT CONNECTION_ID()"), "SELECT DISTINCT 5 AS `CONNECTION_ID()`");
        // Not a select item: no alias.
        assert_eq!(r("SELECT 1 FROM t WHERE CONNECTION_ID() > 0"), "SELECT 1 FROM t WHERE 5 > 0");
        assert_eq!(
            r("SELECT CONNECTION_ID() IS NULL, CASE WHEN CONNECTION_ID() THEN 1 END FROM t"),
            "SELECT 5 IS NULL AS `CONNECTION_ID() IS NULL`, CASE WHEN 5 THEN 1 END AS `CASE WHEN CONNECTION_ID() THEN 1 END` FROM t"
        );
        // Subqueries: the inner item (a derived table's column) and the outer one both keep their names.
        assert_eq!(
            r("SELECT (SELECT CONNECTION_ID()) , x FROM (SELECT CONNECTION_ID() /* c */) t"),
            "SELECT (SELECT 5 AS `CONNECTION_ID()`) AS `(SELECT CONNECTION_ID())` , x FROM (SELECT 5 AS `CONNECTION_ID()` /* c */) t"
        );
        assert_eq!(
            r("SELECT CONNECTION_ID() + (SELECT 1 FROM t) INTO @x"),
            "SELECT 5 + (SELECT 1 FROM t) AS `CONNECTION_ID() + (SELECT 1 FROM t)` INTO @x"
        );
        assert_eq!(
            r("SELECT CONNECTION_ID() + `a``b` FROM t"),
            "SELECT 5 + `a``b` AS `CONNECTION_ID() + ``a````b``` FROM t"
        );
        assert_eq!(
            r("SELECT 1 UNION SELECT connection_id()"),
            "SELECT 1 UNION SELECT 5 AS `connection_id()`"
        );
        assert_eq!(r("DO CONNECTION_ID()"), "DO 5");
    }

    #[test]
    fn many_calls_and_literals_are_rewritten_in_one_pass() {
        // 20k calls among 20k literals: a rescan per call would take minutes.
        let mut sql = String::from("SELECT ");
        for i in 0..20_000 {
            sql.push_str(&format!("'{i}', CONNECTION_ID(), "));
        }
        sql.push_str("1 FROM t WHERE CONNECTION_ID() IN (");
        for i in 0..20_000 {
            sql.push_str(&format!("{i}, CONNECTION_ID(), "));
        }
        sql.push_str("0)");
        let out = String::from_utf8(replace_connection_id(sql.as_bytes(), 9).unwrap()).unwrap();
        assert_eq!(out.matches("CAST(0000000009 AS UNSIGNED) AS `CONNECTION_ID()`").count(), 20_000);
        assert_eq!(out.matches("CAST(0000000009 AS UNSIGNED)").count(), 40_001);
        assert_eq!(out.matches("CONNECTION_ID()").count(), 20_000, "only the aliases name it");
    }
}
