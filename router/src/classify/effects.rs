//! What a statement does to its connection beyond its result: user variables it reads or assigns,
//! diagnostics of the previous statement it reads, session-bound locks and handlers it opens or closes,
//! and whether a `WITH …` statement is a write. All from the lexer's normalized text.

use super::functions::calls_builtin;
use super::{FoundRows, SessionLock};

/// The normalized text as tokens: words (keywords, names, `?`, `@a`, `@@x`, operators), a name with
/// backtick-quoted parts as one token (spaces inside kept), and `(`, `)`, `,`, `;` on their own.
pub(super) fn tokens(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'`' => {
                start.get_or_insert(i);
                // To the closing backtick; a doubled one is an escaped backtick inside the name.
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == b'`' {
                        if bytes.get(i + 1) == Some(&b'`') {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
            }
            b'(' | b')' | b',' | b';' => {
                if let Some(s) = start.take() {
                    out.push(&text[s..i]);
                }
                out.push(&text[i..i + 1]);
            }
            _ if b.is_ascii_whitespace() => {
                if let Some(s) = start.take() {
                    out.push(&text[s..i]);
                }
            }
            _ => {
                start.get_or_insert(i);
            }
        }
        i += 1;
    }
    if let Some(s) = start {
        out.push(&text[s.min(text.len())..]);
    }
    out
}

/// The statements of a multi-statement text, split at `;` tokens (never inside a backtick name; the
/// lexer has turned every literal into `?`).
pub(super) fn split_statements(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut parts = Vec::new();
    let mut from = 0;
    let mut quoted = false;
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'`' => quoted = !quoted,
            b';' if !quoted => {
                parts.push(text[from..i].trim());
                from = i + 1;
            }
            _ => {}
        }
    }
    parts.push(text[from..].trim());
    parts.retain(|p| !p.is_empty());
    parts
}

/// User variables a statement reads and assigns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct UserVars {
    /// A user variable is read (`SELECT @a`, `WHERE v = @a`, `@a := @a + 1`).
    pub reads: bool,
    /// A user variable is assigned (`@a := …`, `SET @a = …`, `INTO @a, @b`, `GET DIAGNOSTICS @n = …`).
    pub assigns: bool,
}

/// The user variable starting at token `i`, as the index of its last token: `@a`, or `@` followed by a
/// quoted name (`` @`a b` ``, `@'x'`, which the lexer writes as `@ ?`). `@@x` is a system variable, and
/// `'u'@'h'` / `` `u`@`h` `` is an account.
fn user_var_at(toks: &[&str], i: usize) -> Option<usize> {
    let t = toks.get(i)?;
    if t.starts_with("@@") || !t.starts_with('@') {
        return None;
    }
    // Nothing valid puts a variable right after a literal or a quoted name: that is `user@host`.
    let prev = i.checked_sub(1).and_then(|p| toks.get(p)).copied().unwrap_or("");
    if prev == "?" || prev.starts_with('`') {
        return None;
    }
    if *t != "@" {
        return Some(i);
    }
    let next = toks.get(i + 1)?;
    let name =
        *next == "?" || next.starts_with('`') || next.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    name.then_some(i + 1)
}

/// The user variables of one statement; `first` is its first keyword.
pub(super) fn user_vars(toks: &[&str], first: &str) -> UserVars {
    let mut out = UserVars::default();
    let mut i = 0;
    while i < toks.len() {
        if toks[i] == "into" {
            // `INTO @a, @b`: every variable of the list is assigned.
            let mut j = i + 1;
            while let Some(end) = user_var_at(toks, j) {
                out.assigns = true;
                j = end + 1;
                if toks.get(j) == Some(&",") {
                    j += 1;
                }
            }
            i = j.max(i + 1);
            continue;
        }
        let Some(end) = user_var_at(toks, i) else {
            i += 1;
            continue;
        };
        let prev = i.checked_sub(1).and_then(|p| toks.get(p)).copied().unwrap_or("");
        let next = toks.get(end + 1).copied().unwrap_or("");
        let target = next == ":="
            || (first == "set" && next == "=" && matches!(prev, "set" | ","))
            || (first == "get" && next == "=");
        if target {
            out.assigns = true;
        } else {
            out.reads = true;
        }
        i = end + 1;
    }
    out
}

/// Whether a word is `@@warning_count` / `@@error_count` (optionally `session.` or `local.`): the
/// previous statement's diagnostics.
pub fn is_diagnostics_var(word: &str) -> bool {
    let Some(name) = word.strip_prefix("@@") else { return false };
    let name = name.strip_prefix("session.").or_else(|| name.strip_prefix("local.")).unwrap_or(name);
    matches!(name, "warning_count" | "error_count")
}

/// `SHOW WARNINGS|ERRORS …`, `SHOW COUNT(*) WARNINGS|ERRORS`, `GET [CURRENT|STACKED] DIAGNOSTICS …`.
pub(super) fn is_diagnostics_statement(toks: &[&str]) -> bool {
    matches!(
        toks,
        ["show", "warnings" | "errors", ..]
            | ["show", "count", "(", "*", ")", "warnings" | "errors", ..]
            | ["get", "diagnostics", ..]
            | ["get", "current" | "stacked", "diagnostics", ..]
    )
}

/// What a statement does to `FOUND_ROWS()`, from its words (see [`FoundRows`]).
pub(super) fn found_rows(toks: &[&str]) -> FoundRows {
    let (first, rest) = match toks {
        [first, rest @ ..] => (*first, rest),
        [] => return FoundRows::Keeps,
    };
    let from = || toks.contains(&"from");
    match first {
        // The rows without the LIMIT: counted by the server only.
        "select" | "with" | "(" if toks.contains(&"sql_calc_found_rows") => FoundRows::Unknown,
        "select" | "with" | "(" if toks.contains(&"into") => {
            if from() {
                FoundRows::Affected
            } else {
                FoundRows::Zero
            }
        }
        // MySQL 8's `TABLE t` and `VALUES ROW(…)` (measured on MySQL 9.7: the rows sent, and with INTO
        // the rows selected, as the OK packet's affected rows say). MariaDB's `VALUES (…)` (without
        // ROW, which MySQL refuses) keeps it.
        "table" | "values" if first == "table" || rest.first() == Some(&"row") => {
            if toks.contains(&"into") {
                FoundRows::Affected
            } else {
                FoundRows::Sets
            }
        }
        "select" | "with" | "(" => FoundRows::Sets,
        "show" => show_found_rows(rest),
        "describe" | "desc" | "explain" => match rest.first() {
            Some(
                &("select" | "insert" | "update" | "delete" | "replace" | "with" | "format" | "extended"),
            )
            | Some(&("partitions" | "(")) => {
                // Only a SELECT without tables runs (and finds nothing).
                let writes = toks.iter().any(|w| matches!(*w, "insert" | "update" | "delete" | "replace"));
                if from() || writes { FoundRows::Keeps } else { FoundRows::Zero }
            }
            // `DESCRIBE t` is SHOW COLUMNS.
            Some(&w) if !matches!(w, "analyze" | "for") => FoundRows::Sets,
            _ => FoundRows::Unknown,
        },
        "call" | "analyze" | "execute" => FoundRows::Unknown,
        // `INSERT … SELECT` sets it to the rows its SELECT found (MariaDB 10.11 and MySQL 9.7 alike,
        // measured); only the connection that ran it knows the number (duplicates and IGNORE make the
        // OK packet's count another one).
        "insert" | "replace" if toks.contains(&"select") => FoundRows::Unknown,
        // A subquery that reads a table, inside DO, SET, INSERT … VALUES, UPDATE or DELETE: MariaDB
        // 10.11 sets FOUND_ROWS() to the rows it found (`DO (SELECT v FROM u WHERE v = 2)`: 1,
        // `SET @y = 1 IN (SELECT v FROM u)`: 1), MySQL 9.7 in some of them; one without a table
        // (`DO 1 + (SELECT 2)`) leaves it on MariaDB. Only the connection knows.
        _ if reads_in_subquery(toks) => FoundRows::Unknown,
        _ => FoundRows::Keeps,
    }
}

/// Whether a parenthesised `SELECT` (or `WITH`) with a `FROM` after it is in the statement.
fn reads_in_subquery(toks: &[&str]) -> bool {
    toks.windows(2)
        .position(|w| w[0] == "(" && matches!(w[1], "select" | "with"))
        .is_some_and(|i| toks[i..].contains(&"from"))
}

/// SHOW …: the forms MariaDB runs as a SELECT on information_schema set `FOUND_ROWS()`.
fn show_found_rows(rest: &[&str]) -> FoundRows {
    let rest = match rest {
        ["full" | "global" | "session" | "local", more @ ..] => more,
        _ => rest,
    };
    match rest {
        ["tables" | "databases" | "schemas" | "columns" | "fields" | "index" | "indexes" | "keys", ..]
        | ["variables" | "status" | "triggers" | "events" | "plugins" | "engines" | "charset", ..]
        | ["collation" | "count" | "user_statistics" | "client_statistics", ..]
        | ["index_statistics" | "table_statistics", ..]
        | ["table", "status", ..]
        | ["open", "tables", ..]
        | ["storage", "engines", ..]
        | ["character", "set", ..]
        | ["procedure" | "function" | "package", "status", ..]
        | ["package", "body", "status", ..] => FoundRows::Sets,
        ["warnings" | "errors" | "create" | "processlist" | "grants" | "privileges" | "master", ..]
        | ["slave" | "replica" | "all" | "binlog" | "binary" | "engine" | "profiles" | "profile", ..]
        | ["authors" | "contributors" | "explain" | "analyze", ..] => FoundRows::Keeps,
        _ => FoundRows::Unknown,
    }
}

/// The session-bound lock or handler a statement opens or closes, from its leading words.
pub(super) fn session_lock(toks: &[&str], text: &str) -> Option<SessionLock> {
    match toks {
        ["lock", "table" | "tables", ..] => Some(SessionLock::OpenTables),
        ["unlock", "table" | "tables", ..] => Some(SessionLock::CloseTables),
        ["lock", "instance", "for", "backup", ..] => Some(SessionLock::OpenBackup),
        ["unlock", "instance", ..] => Some(SessionLock::CloseBackup),
        ["flush", ..] if text.contains(" with read lock") || text.ends_with(" for export") => {
            Some(SessionLock::OpenTables)
        }
        ["handler", _, "open", ..] => Some(SessionLock::OpenHandler),
        ["handler", _, "close", ..] => Some(SessionLock::CloseHandler),
        ["handler", _, "read", ..] => Some(SessionLock::UseHandler),
        ["backup", "stage", "end", ..] => Some(SessionLock::CloseBackup),
        ["backup", "stage", ..] | ["backup", "lock", ..] => Some(SessionLock::OpenBackup),
        ["backup", "unlock", ..] => Some(SessionLock::CloseBackup),
        _ if ["get_lock", "release_lock", "release_all_locks"].iter().any(|f| calls_builtin(text, f)) => {
            Some(SessionLock::NamedLocks)
        }
        _ => None,
    }
}

/// Whether a statement that starts with `WITH` (after any opening parentheses) is a write: its main
/// statement, the first keyword at the depth of `WITH` after the CTEs, is DELETE, UPDATE, INSERT or
/// REPLACE (MySQL 8 allows a CTE before DML). `REPLACE (`/`INSERT (` are the string functions, and
/// `FOR UPDATE` a locking read.
pub(super) fn with_is_write(toks: &[&str]) -> bool {
    let Some(at) = toks.iter().position(|t| *t == "with") else { return false };
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate().skip(at + 1) {
        match *t {
            "(" => depth += 1,
            ")" => {
                // Closing the parenthesis that held the whole statement: it has ended.
                if depth == 0 {
                    return false;
                }
                depth -= 1;
            }
            "select" | "table" | "values" if depth == 0 => return false,
            "delete" | "update" | "insert" | "replace" if depth == 0 => {
                let call = toks.get(i + 1) == Some(&"(");
                let locking = i > 0 && toks[i - 1] == "for";
                if !call && !locking {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}
