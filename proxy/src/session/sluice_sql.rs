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
use crate::error::{Error, Result};

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

/// Parses a normalized `KILL` (`kill [hard|soft] [query|connection] ?`) with the id from the statement.
pub(crate) fn parse_kill(lexed: &Lexed, sql: &[u8]) -> std::result::Result<KillRequest, &'static str> {
    let mut words: Vec<&str> = lexed.text.split_whitespace().collect();
    words.retain(|w| !matches!(*w, "hard" | "soft"));
    let query_only = match words.as_slice() {
        ["kill", "?"] | ["kill", "connection", "?"] => false,
        ["kill", "query", "?"] => true,
        ["kill", "query", "id", ..] => {
            return Err(
                "KILL QUERY ID (by query id) is not supported by sluice; use KILL QUERY <connection id>",
            );
        }
        ["kill", "user", ..] | ["kill", _, "user", ..] => {
            return Err("KILL USER is not supported by sluice; kill connections by id");
        }
        _ => return Err("KILL takes a connection id: KILL [QUERY | CONNECTION] <id>"),
    };
    let lit = lexed.literals.first().ok_or("KILL takes a connection id")?;
    let text = sql.get(lit.span.clone()).ok_or("KILL takes a connection id")?;
    let id = std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
        .ok_or("KILL takes a numeric connection id")?;
    Ok(KillRequest { id, query_only })
}

/// `sql` with every `CONNECTION_ID()` outside string literals replaced by `id`; `None` when there is none.
pub(crate) fn replace_connection_id(sql: &[u8], lexed: &Lexed, id: u32) -> Option<Vec<u8>> {
    const NAME: &[u8] = b"connection_id";
    let in_literal = |at: usize| lexed.literals.iter().any(|l| l.span.contains(&at));
    let mut out = Vec::with_capacity(sql.len());
    let mut i = 0;
    let mut replaced = false;
    while i < sql.len() {
        let starts_word =
            i == 0 || !(sql[i - 1].is_ascii_alphanumeric() || sql[i - 1] == b'_' || sql[i - 1] == b'.');
        if starts_word
            && sql.len() - i >= NAME.len()
            && sql[i..i + NAME.len()].eq_ignore_ascii_case(NAME)
            && !in_literal(i)
        {
            let mut j = i + NAME.len();
            while j < sql.len() && sql[j].is_ascii_whitespace() {
                j += 1;
            }
            if sql.get(j) == Some(&b'(') {
                let mut k = j + 1;
                while k < sql.len() && sql[k].is_ascii_whitespace() {
                    k += 1;
                }
                if sql.get(k) == Some(&b')') {
                    out.extend_from_slice(id.to_string().as_bytes());
                    i = k + 1;
                    replaced = true;
                    continue;
                }
            }
        }
        out.push(sql[i]);
        i += 1;
    }
    replaced.then_some(out)
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
                let k = parse_kill(lexed, &p.payload[1..]).map_err(|m| Error::reply(errors::PARSE, m))?;
                self.kill(k.id, k.query_only, p.next_seq).await
            }
            _ => Ok(None),
        }
    }

    /// The statement with `CONNECTION_ID()` answered by sluice.
    pub(super) fn rewrite_connection_id(&self, payload: &[u8], lexed: &Lexed) -> Option<Bytes> {
        let sql = replace_connection_id(payload.get(1..)?, lexed, self.conn_id)?;
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
        if target.user != self.user.name {
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
    pub(super) fn note_route(&mut self, choice: &Choice, lexed: &Lexed, cache: &'static str) {
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
            text(reason),
            member.map(|_| Bytes::from(format!("{digest:016x}"))),
            text(digest_text),
            text(if pins.is_empty() { "no" } else { "yes" }),
            text(&pins),
            text(cache),
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap; the lint guards library code
mod tests {
    use super::*;
    use sluice_router::lexer::lex;

    #[test]
    fn kill_forms() {
        let k = |s: &str| parse_kill(&lex(s.as_bytes()), s.as_bytes());
        assert_eq!(k("KILL 42"), Ok(KillRequest { id: 42, query_only: false }));
        assert_eq!(k("kill connection 7"), Ok(KillRequest { id: 7, query_only: false }));
        assert_eq!(k("KILL QUERY 9"), Ok(KillRequest { id: 9, query_only: true }));
        assert_eq!(k("KILL HARD QUERY 9"), Ok(KillRequest { id: 9, query_only: true }));
        assert!(k("KILL USER bob").is_err());
        assert!(k("KILL 'x'").is_err());
    }

    #[test]
    fn connection_id_is_replaced_outside_literals() {
        let sql = b"SELECT CONNECTION_ID(), 'connection_id()', connection_id ( ) + 1, my_connection_id()";
        let out = replace_connection_id(sql, &lex(sql), 77).unwrap();
        assert_eq!(out, b"SELECT 77, 'connection_id()', 77 + 1, my_connection_id()");
        assert!(replace_connection_id(b"SELECT 1", &lex(b"SELECT 1"), 1).is_none());
    }
}
