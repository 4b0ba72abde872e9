//! LAST_INSERT_ID() across multiplexing. An OK packet's insert id is the session's new
//! `LAST_INSERT_ID()` only when the server generated it: an INSERT that gives the AUTO_INCREMENT
//! column a value of its own reports that value, and `LAST_INSERT_ID()` stays what it was. sluice
//! knows each table's AUTO_INCREMENT column (read once from information_schema): an INSERT whose
//! column list leaves it out generated the id; for one that names it, or has no column list, its
//! connection is asked (`SELECT LAST_INSERT_ID()`, one round trip): the id was generated if that
//! connection now holds it.

use sluice_router::classify::Class;
use sluice_router::lexer::Lexed;
use tokio::io::{AsyncRead, AsyncWrite};

use super::Session;
use super::borrow::Effects;
use crate::core::error::Result;

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// After a statement whose OK packet carried insert id `id`: the session's LAST_INSERT_ID(), and
    /// whether the connection's own value is the session's.
    pub(super) async fn follow_insert_id(
        &mut self,
        (sql, lexed): (&[u8], &Lexed),
        class: &Class,
        fx: &Effects,
    ) -> Result<()> {
        let id = fx.insert_id;
        let kw = lexed.first_keyword.as_str();
        let generated = if !matches!(kw, "insert" | "replace") || lexed.statements.len() > 1 {
            // UPDATE … SET c = LAST_INSERT_ID(c + 1) and the like report what they set.
            Some(true)
        } else {
            let columns = column_list(&lexed.text);
            let table = match (class.tables.written.first(), class.tables.written.len()) {
                (Some(t), 1) => Some(self.qualified(t)),
                _ => None,
            };
            // Reading information_schema on this connection would clear the warnings the client may
            // still ask for, and replace a FOUND_ROWS() only the connection knows: then only the
            // table-less read-back.
            // MySQL: information_schema is its InnoDB data dictionary, whose read would open a
            // transaction with autocommit off: always a connection of its own there.
            let mysql = self.held_is_mysql();
            // Nor after a statement whose FOUND_ROWS() only the connection knows (INSERT … SELECT),
            // which the counts' read-back takes after this.
            let counts_pending = class.found_rows == sluice_router::classify::FoundRows::Unknown;
            let may_read = fx.warnings == 0 && !self.found_rows_on_connection() && !counts_pending && !mysql;
            match (&columns, &table) {
                (Some(cols), Some(table)) => match self.auto_increment_column(table, may_read).await? {
                    Some(auto) => match cols.iter().position(|c| c.eq_ignore_ascii_case(&auto)) {
                        None => Some(true),
                        // Named in the list: the value decides (NULL or 0 generate one). Literal
                        // ids in every row generate none; anything else is asked.
                        Some(at) if explicit_ids(sql, lexed.mode, at) => Some(false),
                        Some(_) => None,
                    },
                    None => None,
                },
                _ => None,
            }
        };
        match generated {
            Some(generated) => {
                self.adopt_insert_id(id, generated);
                Ok(())
            }
            // MySQL empties the diagnostics area at every statement: with the client's warnings on
            // the connection the question waits for its next statement (`Session::deferred`) —
            // unless FOUND_ROWS() waits there too (INSERT … SELECT): a FOUND_ROWS() or
            // LAST_INSERT_ID() asked next would run on that connection before the question.
            None if fx.warnings > 0
                && self.held_is_mysql()
                && class.found_rows != sluice_router::classify::FoundRows::Unknown =>
            {
                self.deferred.insert_id = Some(id);
                Ok(())
            }
            None => self.decide_insert_id(id, true).await,
        }
    }

    /// Asks the held connection whether insert id `id` was generated: after a generated id the
    /// connection's LAST_INSERT_ID() is that id; after an explicit value it is what it was before the
    /// statement, another value (unless, by chance, the connection's earlier value equals the
    /// explicit one). `clear`: MySQL, empty the diagnostics area after (the read-back's FOUND_ROWS()
    /// warns there) — not needed before a client statement that empties it anyway.
    pub(super) async fn decide_insert_id(&mut self, id: u64, clear: bool) -> Result<()> {
        let generated = self.read_back_last_insert_id().await? == Some(id);
        if clear && self.held_is_mysql() {
            // Leaves FOUND_ROWS() at 2, like the read-back.
            self.query_held("SELECT NULL UNION ALL SELECT NULL").await?;
        }
        self.adopt_insert_id(id, generated);
        Ok(())
    }

    /// A generated `id` becomes the session's LAST_INSERT_ID(), which the held connection holds.
    fn adopt_insert_id(&mut self, id: u64, generated: bool) {
        let Some(h) = self.held.as_mut() else { return };
        if generated {
            self.last_insert_id = id;
            h.last_id_synced = true;
            h.guard.conn().insert_id_of = Some(self.conn_id);
        }
    }

    /// Before `SELECT … WHERE auto_col IS NULL` with sql_auto_is_null on: a connection whose last
    /// generated id is another session's would return that row (the server substitutes it once);
    /// `DO LAST_INSERT_ID(0)` makes it substitute nothing, as a new connection would.
    pub(super) async fn forget_foreign_insert_id(&mut self) -> Result<()> {
        let me = self.conn_id;
        let Some(h) = self.held.as_mut() else { return Ok(()) };
        if h.guard.conn().insert_id_of.is_none_or(|s| s == me) {
            return Ok(());
        }
        h.guard.conn().insert_id_of = None;
        h.last_id_synced = false;
        self.query_held("DO LAST_INSERT_ID(0)").await?;
        Ok(())
    }

    /// Whether the session's FOUND_ROWS() is the held connection's own (after SQL_CALC_FOUND_ROWS or
    /// a statement only the server knows the value of): a SELECT of sluice's there would replace it.
    fn found_rows_on_connection(&self) -> bool {
        self.counts.found.is_none()
    }

    /// `SELECT LAST_INSERT_ID()` on the connection that ran the INSERT (a table-less SELECT: it keeps
    /// the diagnostics area; ROW_COUNT() is the session's as sluice tracks it, and a FOUND_ROWS() only
    /// the connection knows is read in the same SELECT, before it replaces it; two rows, like
    /// [`super::commands::READ_BACK_COUNTS`]).
    async fn read_back_last_insert_id(&mut self) -> Result<Option<u64>> {
        let found_here = self.found_rows_on_connection();
        let Some(r) =
            self.query_held("SELECT LAST_INSERT_ID(), FOUND_ROWS() UNION ALL SELECT NULL, NULL").await?
        else {
            return Ok(None);
        };
        if found_here {
            self.counts.found = r.int_cell(1);
        } else {
            // The statement's own FOUND_ROWS(), which this SELECT just replaced on the connection:
            // the counts' read-back after it takes this one (INSERT … SELECT naming the id column).
            self.stmt.found_before_own_read = Some(r.int_cell(1));
        }
        Ok(r.int_cell(0))
    }

    /// `schema.table` for a table as the statement named it (unqualified: the session's schema).
    fn qualified(&self, table: &str) -> String {
        if table.contains('.') {
            return table.to_ascii_lowercase();
        }
        let schema = self.schema.as_deref().map(String::from_utf8_lossy).unwrap_or_default();
        format!("{}.{}", schema.to_ascii_lowercase(), table.to_ascii_lowercase())
    }

    /// The AUTO_INCREMENT column of `schema.table`, read once per process from information_schema on
    /// the held connection (`may_read`) or on a connection of its own.
    async fn auto_increment_column(&mut self, table: &str, may_read: bool) -> Result<Option<String>> {
        if let Some(known) = self.shared.auto_increment.lock().unwrap_or_else(|e| e.into_inner()).get(table) {
            return Ok(known.clone());
        }
        let Some((schema, name)) = table.split_once('.') else { return Ok(None) };
        let sql = format!(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME = '{}' AND EXTRA LIKE '%auto_increment%'",
            escape(schema),
            escape(name)
        );
        let r = if may_read {
            let Some(r) = self.query_held(&sql).await? else { return Ok(None) };
            r
        } else {
            // The held connection's diagnostics or FOUND_ROWS() are the session's: asked on a
            // connection of its own (the session's account sees what the session sees), once per
            // table per process.
            let primary = self.shared.current_primary();
            let spec = self.shared.connect_spec(
                &primary,
                &self.user.backend_user,
                &self.user.backend_password,
                false,
                45,
            );
            let mut conn = crate::backend::BackendConn::connect(&spec).await?;
            // Dropped afterwards, like sluice's other one-off connections.
            conn.query(&spec.label, &sql).await?
        };
        let column = r.cell(0).map(|v| String::from_utf8_lossy(v).into_owned());
        let mut known = self.shared.auto_increment.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded: a table count past this is unusual; forgetting only costs a lookup.
        if known.len() >= 100_000 {
            known.clear();
        }
        known.insert(table.to_owned(), column.clone());
        Ok(column)
    }
}

/// After DDL: what sluice knows of AUTO_INCREMENT columns may be stale; forgotten (read again when
/// needed).
pub(super) fn forget_auto_increment(shared: &crate::frontend::state::Shared) {
    shared.auto_increment.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

/// A string for a single-quoted SQL literal.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "''")
}

/// The column list of `INSERT [IGNORE] [INTO] t (a, b) …` / `REPLACE …` in the lexer's normalized
/// text (`insert into t (a, b) values (...)`), names unquoted; `None` without one (every column, in
/// table order) or for `INSERT … SET` / `INSERT … SELECT`.
fn column_list(text: &str) -> Option<Vec<String>> {
    let mut rest = text;
    let word = |rest: &mut &str| -> Option<String> {
        let t = rest.trim_start();
        let end = t.find(|c: char| c.is_whitespace() || c == '(').unwrap_or(t.len());
        let (w, r) = t.split_at(end);
        *rest = r;
        (!w.is_empty()).then(|| w.to_owned())
    };
    if !matches!(word(&mut rest)?.as_str(), "insert" | "replace") {
        return None;
    }
    let mut w = word(&mut rest)?;
    while matches!(w.as_str(), "low_priority" | "delayed" | "high_priority" | "ignore" | "into") {
        w = word(&mut rest)?;
    }
    // `w` is the table; its column list follows at once.
    let inner = rest.trim_start().strip_prefix('(')?;
    let body = &inner[..inner.find(')')?];
    let first = body.trim_start().split(|c: char| c.is_whitespace() || c == '(').next().unwrap_or("");
    if matches!(first, "select" | "with" | "values") {
        return None;
    }
    Some(body.split(',').map(|c| c.trim().trim_matches('`').to_owned()).filter(|c| !c.is_empty()).collect())
}

/// Whether every row of `INSERT … (cols) VALUES (…), (…)` gives the column at `at` a non-zero number
/// literal: an id of its own, so the server generated none (NULL, 0 and expressions are left to the
/// connection to tell).
fn explicit_ids(sql: &[u8], mode: sluice_router::lexer::LexMode, at: usize) -> bool {
    use sluice_router::lexer::{LiteralKind, TokenKind};
    let (_, toks) = sluice_router::lexer::lex_tokens_with(sql, mode);
    let text = |i: usize| toks.get(i).and_then(|t| sql.get(t.span.clone())).unwrap_or_default();
    let Some(values) = toks.iter().enumerate().position(|(i, t)| {
        t.kind == TokenKind::Word && matches!(text(i).to_ascii_lowercase().as_slice(), b"values" | b"value")
    }) else {
        return false;
    };
    let mut i = values + 1;
    let mut rows = 0;
    while toks.get(i).map(|t| t.kind) == Some(TokenKind::Open) {
        i += 1;
        let (mut depth, mut column, mut item) = (0usize, 0usize, Vec::new());
        loop {
            let Some(t) = toks.get(i) else { return false };
            match t.kind {
                TokenKind::Open => depth += 1,
                TokenKind::Close if depth == 0 => break,
                TokenKind::Close => depth -= 1,
                TokenKind::Comma if depth == 0 => column += 1,
                _ => {}
            }
            if column == at && !(t.kind == TokenKind::Comma && depth == 0) {
                item.push(i);
            }
            i += 1;
        }
        let explicit = match item.as_slice() {
            [one] if toks[*one].kind == TokenKind::Literal(LiteralKind::Number) => {
                std::str::from_utf8(text(*one))
                    .ok()
                    .and_then(|n| n.parse::<f64>().ok())
                    .is_some_and(|n| n != 0.0)
            }
            _ => false,
        };
        if !explicit {
            return false;
        }
        rows += 1;
        i += 1;
        if toks.get(i).map(|t| t.kind) != Some(TokenKind::Comma) {
            break;
        }
        i += 1;
    }
    rows > 0
}

#[cfg(test)]
mod tests {
    use super::{column_list, explicit_ids};

    #[test]
    fn literal_ids_in_every_row_are_explicit() {
        let m = sluice_router::lexer::LexMode::DEFAULT;
        let e = |sql: &str, at| explicit_ids(sql.as_bytes(), m, at);
        assert!(e("INSERT INTO t (id, v, s) VALUES (5, 5, 'dup')", 0));
        assert!(e("insert into t (v, id) values (1, -3), (2, 7) on duplicate key update v = 1", 1));
        assert!(e("INSERT INTO t (id) VALUE (5.0)", 0));
        assert!(!e("INSERT INTO t (id, v) VALUES (NULL, 1)", 0));
        assert!(!e("INSERT INTO t (id, v) VALUES (0, 1)", 0));
        assert!(!e("INSERT INTO t (id, v) VALUES (5, 1), (NULL, 2)", 0));
        assert!(!e("INSERT INTO t (id, v) VALUES (5 + 1, 1)", 0));
        assert!(!e("INSERT INTO t (id, v) VALUES ('5', 1)", 0));
        assert!(!e("INSERT INTO t (id, v) VALUES (?, 1)", 0));
        assert!(!e("INSERT INTO t (v, id) VALUES (1, f(2, 3))", 1));
        assert!(!e("INSERT INTO t (id) SELECT 5", 0));
        assert!(!e("INSERT INTO t (id, v) VALUES (5)", 1));
    }

    fn cols(sql: &str) -> Option<Vec<String>> {
        column_list(&sluice_router::lexer::lex(sql.as_bytes()).text)
    }

    #[test]
    fn column_lists_from_normalized_text() {
        let v = |c: &[&str]| Some(c.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(cols("INSERT INTO t (v, s) VALUES (1, 'a')"), v(&["v", "s"]));
        assert_eq!(cols("insert ignore into db.t (`id`, v) values (1, 2), (3, 4)"), v(&["id", "v"]));
        assert_eq!(cols("REPLACE INTO t (id, v) VALUES (1, 2)"), v(&["id", "v"]));
        assert_eq!(cols("INSERT t (a) VALUES (1)"), v(&["a"]));
        assert_eq!(cols("INSERT INTO t VALUES (1, 2)"), None);
        assert_eq!(cols("INSERT INTO t SET id = 5"), None);
        assert_eq!(cols("INSERT INTO t SELECT * FROM u"), None);
        assert_eq!(cols("INSERT INTO t (SELECT * FROM u)"), None);
    }
}
