//! Statement classification from the lexer's normalized text: where a statement may run (primary,
//! replica, the session's last backend, or sluice itself), whether its result may be cached, and what it
//! does to the session (transactions, locks, session state). Conservative: anything unknown goes to the
//! primary uncached, because a write sent to a replica is worse than a read sent to the primary.

use crate::lexer::Lexed;

/// Where a statement runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The primary (writes, locking reads, anything not provably read-only).
    Primary,
    /// A healthy replica (falling back to the primary).
    Replica,
    /// The backend connection that ran the session's previous statement (LAST_INSERT_ID(), ROW_COUNT()…).
    Last,
    /// Answered or rewritten by sluice itself (CONNECTION_ID(), KILL).
    Sluice,
}

/// Transaction control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tx {
    /// BEGIN, START TRANSACTION, XA START.
    Begin,
    /// COMMIT, XA COMMIT.
    Commit,
    /// ROLLBACK (not TO SAVEPOINT), XA ROLLBACK.
    Rollback,
    /// SAVEPOINT, ROLLBACK TO, RELEASE SAVEPOINT: inside a transaction, no change of state.
    Savepoint,
}

/// What sluice knows about a statement before running it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    /// Where it runs.
    pub target: Target,
    /// Whether its result may be stored by the cache (when a rule makes its tables cacheable).
    pub cacheable: bool,
    /// A read: SELECT, SHOW, DESCRIBE, EXPLAIN… (false for anything that may write).
    pub read_only: bool,
    /// Takes row or table locks (FOR UPDATE, LOCK IN SHARE MODE, LOCK TABLES, GET_LOCK…).
    pub locks: bool,
    /// Transaction control, if any.
    pub tx: Option<Tx>,
    /// Changes session state (SET, USE, temporary tables, user variables, PREPARE…): pins the session.
    pub session_state: bool,
    /// Tables, from the full parse (empty from the lexer alone: [`crate::plan_cache::PlanCache`] fills them).
    pub tables: Tables,
}

/// The tables of a statement, from [`crate::analyze`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tables {
    /// Whether sqlparser read the statement (false: the lists are empty because nothing is known).
    pub parsed: bool,
    /// Read and not written.
    pub read: std::sync::Arc<[String]>,
    /// Written.
    pub written: std::sync::Arc<[String]>,
    /// The shape over sharded tables, when the statement names one (see [`crate::shard`]).
    pub shard: Option<std::sync::Arc<crate::shard::shape::ShardShape>>,
}

/// Functions whose result changes from call to call or between sessions: never cached.
const NONDETERMINISTIC: &[&str] = &[
    "now",
    "current_timestamp",
    "current_date",
    "current_time",
    "curdate",
    "curtime",
    "sysdate",
    "localtime",
    "localtimestamp",
    "utc_date",
    "utc_time",
    "utc_timestamp",
    "unix_timestamp",
    "rand",
    "uuid",
    "uuid_short",
    "sys_guid",
    "connection_id",
    "current_user",
    "user",
    "session_user",
    "system_user",
    "database",
    "schema",
    "version",
    "benchmark",
    "sleep",
    "random_bytes",
    "last_insert_id",
    "row_count",
    "found_rows",
];

/// Functions that lock or use sequences: primary, uncached.
const PRIMARY_FUNCTIONS: &[&str] = &[
    "get_lock",
    "release_lock",
    "release_all_locks",
    "is_free_lock",
    "is_used_lock",
    "nextval",
    "lastval",
    "setval",
    "master_pos_wait",
    "master_gtid_wait",
    "source_pos_wait",
];

/// Functions answered by the previous backend connection.
const LAST_FUNCTIONS: &[&str] = &["last_insert_id", "row_count", "found_rows"];

/// Built-in functions and keywords that take parentheses: anything else followed by `(` in a SELECT is a
/// stored function, which may write, so the SELECT goes to the primary.
const BUILTINS: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "group_concat",
    "json_arrayagg",
    "json_objectagg",
    "std",
    "stddev",
    "variance",
    "bit_and",
    "bit_or",
    "bit_xor",
    "abs",
    "ceil",
    "ceiling",
    "floor",
    "round",
    "truncate",
    "mod",
    "pow",
    "power",
    "sqrt",
    "exp",
    "ln",
    "log",
    "log2",
    "log10",
    "sign",
    "greatest",
    "least",
    "coalesce",
    "ifnull",
    "nullif",
    "if",
    "isnull",
    "concat",
    "concat_ws",
    "substring",
    "substr",
    "left",
    "right",
    "length",
    "char_length",
    "character_length",
    "lower",
    "upper",
    "lcase",
    "ucase",
    "trim",
    "ltrim",
    "rtrim",
    "replace",
    "reverse",
    "repeat",
    "lpad",
    "rpad",
    "instr",
    "locate",
    "position",
    "format",
    "hex",
    "unhex",
    "md5",
    "sha1",
    "sha2",
    "crc32",
    "to_base64",
    "from_base64",
    "cast",
    "convert",
    "date",
    "time",
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "second",
    "dayofweek",
    "dayofmonth",
    "dayofyear",
    "week",
    "weekday",
    "date_add",
    "date_sub",
    "adddate",
    "subdate",
    "datediff",
    "timediff",
    "timestampdiff",
    "timestampadd",
    "date_format",
    "str_to_date",
    "from_unixtime",
    "extract",
    "last_day",
    "makedate",
    "maketime",
    "json_extract",
    "json_unquote",
    "json_object",
    "json_array",
    "json_contains",
    "json_length",
    "json_value",
    "json_keys",
    "json_set",
    "json_insert",
    "json_remove",
    "json_valid",
    "json_type",
    "field",
    "find_in_set",
    "elt",
    "ascii",
    "ord",
    "char",
    "bin",
    "oct",
    "conv",
    "inet_aton",
    "inet_ntoa",
    "inet6_aton",
    "inet6_ntoa",
    "regexp_replace",
    "regexp_substr",
    "regexp_instr",
    "weight_string",
    "collation",
    "charset",
    "in",
    "exists",
    "values",
    "value",
    "over",
    "row_number",
    "rank",
    "dense_rank",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "ntile",
    "interval",
    "match",
    "against",
    "any",
    "all",
    "some",
    "row",
    "using",
    "on",
    "as",
    "from",
    "where",
    "and",
    "or",
    "not",
    "select",
    "with",
    "union",
    "join",
    "by",
    "having",
    "distinct",
    "case",
    "when",
    "then",
    "else",
    "end",
    "st_geomfromtext",
    "st_astext",
    "st_distance",
    "point",
    "uuid_to_bin",
    "bin_to_uuid",
];

/// Classifies a lexed statement (the first statement of a multi-statement text; the proxy sends
/// multi-statements to the primary as a whole).
pub fn classify(l: &Lexed) -> Class {
    let mut c = classify_unhinted(l);
    apply_hints(&mut c, &l.hints);
    c
}

/// [`classify`] without the hints: what the plan cache keeps per digest.
pub fn classify_unhinted(l: &Lexed) -> Class {
    let words: Vec<&str> = l
        .text
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let first = words.first().copied().unwrap_or("");
    let mut c = primary(false);
    if l.statements.len() > 1 {
        return c;
    }
    match first {
        "select" | "with" | "table" => c = classify_select(l, &words),
        "show" => {
            let server_specific = words.iter().skip(1).take(2).any(|w| {
                matches!(
                    *w,
                    "processlist"
                        | "master"
                        | "slave"
                        | "replica"
                        | "binary"
                        | "binlog"
                        | "engine"
                        | "status"
                )
            });
            // The diagnostics of the previous statement live on the connection that ran it.
            let diagnostics = match words.get(1).copied() {
                Some("warnings" | "errors") => true,
                Some("count") => words.iter().any(|w| matches!(*w, "warnings" | "errors")),
                _ => false,
            };
            c = if diagnostics {
                read(Target::Last, false)
            } else if server_specific {
                read(Target::Primary, false)
            } else {
                read(Target::Replica, false)
            };
        }
        "describe" | "desc" | "explain" => {
            // EXPLAIN ANALYZE / ANALYZE run the statement; plain EXPLAIN does not.
            c = if words.get(1) == Some(&"analyze") { primary(false) } else { read(Target::Replica, false) };
        }
        "begin" | "start" if first == "begin" || words.get(1) == Some(&"transaction") => {
            c = Class { tx: Some(Tx::Begin), ..primary(false) };
        }
        "commit" => c = Class { tx: Some(Tx::Commit), ..primary(false) },
        "rollback" => {
            let to = words.get(1).is_some_and(|w| *w == "to") || words.get(2).is_some_and(|w| *w == "to");
            c = Class { tx: Some(if to { Tx::Savepoint } else { Tx::Rollback }), ..primary(false) };
        }
        "savepoint" | "release" => c = Class { tx: Some(Tx::Savepoint), ..primary(false) },
        "xa" => {
            let tx = match words.get(1).copied() {
                Some("start" | "begin") => Some(Tx::Begin),
                Some("commit") => Some(Tx::Commit),
                Some("rollback") => Some(Tx::Rollback),
                _ => None,
            };
            c = Class { tx, ..primary(false) };
        }
        "kill" => c = Class { target: Target::Sluice, ..primary(false) },
        "lock" | "unlock" => c = primary(true),
        "set" => {
            // SET PASSWORD and SET STATEMENT … FOR <write> are statements on the primary; other SETs
            // change the session.
            let password = words.get(1) == Some(&"password");
            let statement_for = words.get(1) == Some(&"statement");
            c = Class { session_state: !password && !statement_for, ..primary(false) };
        }
        "use" | "prepare" | "execute" | "deallocate" => c = Class { session_state: true, ..primary(false) },
        "create" => {
            let temporary = words.get(1) == Some(&"temporary");
            c = Class { session_state: temporary, ..primary(false) };
        }
        _ => {}
    }
    c
}

/// What `/* sluice: … */` hints change in a class. Hints are not part of the digest, so the plan cache
/// applies them after a hit too.
pub fn apply_hints(c: &mut Class, hints: &crate::lexer::Hints) {
    if hints.has("primary") {
        c.target = Target::Primary;
        c.cacheable = false;
    } else if hints.has("replica") && c.read_only && !c.locks && c.target == Target::Replica {
        c.target = Target::Replica;
    }
    if hints.has("nocache") {
        c.cacheable = false;
    }
}

fn primary(locks: bool) -> Class {
    Class {
        target: Target::Primary,
        cacheable: false,
        read_only: false,
        locks,
        tx: None,
        session_state: false,
        tables: Tables::default(),
    }
}

fn read(target: Target, cacheable: bool) -> Class {
    Class {
        target,
        cacheable,
        read_only: true,
        locks: false,
        tx: None,
        session_state: false,
        tables: Tables::default(),
    }
}

fn classify_select(l: &Lexed, words: &[&str]) -> Class {
    let text = l.text.as_str();
    let has = |w: &str| words.contains(&w);
    let call = |f: &str| text.contains(&format!("{f} ("));
    if text.contains(" for update") || text.contains(" lock in share mode") || text.contains(" for share") {
        return read_locking();
    }
    if words
        .windows(2)
        .any(|w| w[0] == "into" && (w[1].starts_with('@') || w[1] == "outfile" || w[1] == "dumpfile"))
    {
        return Class { session_state: true, ..primary(false) };
    }
    if PRIMARY_FUNCTIONS.iter().any(|f| call(f))
        || text.contains("next value for")
        || text.contains("previous value for")
    {
        return Class { locks: PRIMARY_FUNCTIONS[..5].iter().any(|f| call(f)), ..primary(false) };
    }
    if call("connection_id") {
        return Class { target: Target::Sluice, ..read(Target::Sluice, false) };
    }
    if LAST_FUNCTIONS.iter().any(|f| call(f))
        || has("@@identity")
        || has("@@last_insert_id")
        || (text.contains("@@") && (text.contains("warning_count") || text.contains("error_count")))
    {
        return read(Target::Last, false);
    }
    if text.contains("information_schema.processlist") || text.contains("performance_schema.") {
        return read(Target::Primary, false);
    }
    // A call to anything that is not a built-in is a stored function: it may write.
    let stored_function = text.match_indices(" (").any(|(at, _)| {
        let name = text[..at].rsplit([' ', '(', ',']).next().unwrap_or("");
        !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
            && !name.bytes().all(|b| b.is_ascii_digit())
            && !BUILTINS.contains(&name)
            && !NONDETERMINISTIC.contains(&name)
            && !is_table_context(text, at)
    });
    if stored_function {
        return primary(false);
    }
    let no_table = !has("from") || text.contains("from dual");
    let nondeterministic = NONDETERMINISTIC.iter().any(|f| call(f) || has(f))
        || words.iter().any(|w| w.starts_with('@'))
        || text.contains("information_schema.")
        || has("sql_no_cache");
    read(Target::Replica, !(no_table || nondeterministic))
}

/// `(` right after a table name or keyword that introduces a list (`FROM t (…)` never happens in a
/// SELECT, but `IN (`, `USING (`, `VALUES (` and CTE column lists do): callers exclude those.
fn is_table_context(text: &str, at: usize) -> bool {
    let before = text[..at].trim_end();
    let mut it = before.rsplit(' ');
    let _name = it.next();
    matches!(it.next(), Some("with" | "as" | "join" | "from" | "into" | "table"))
}

fn read_locking() -> Class {
    Class {
        target: Target::Primary,
        cacheable: false,
        read_only: true,
        locks: true,
        tx: None,
        session_state: false,
        tables: Tables::default(),
    }
}

#[cfg(test)]
mod tests;
