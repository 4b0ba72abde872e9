//! Function lists for classification and the stored-function detector: a call that is not a known
//! built-in may write, so the statement goes to the primary.

use std::borrow::Cow;

/// Functions whose result changes from call to call or between sessions: never cached.
pub(super) const NONDETERMINISTIC: &[&str] = &[
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
pub(super) const PRIMARY_FUNCTIONS: &[&str] = &[
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
pub(super) const LAST_FUNCTIONS: &[&str] = &["last_insert_id", "row_count", "found_rows"];

/// Built-in functions and keywords that take parentheses: anything else followed by `(` in a SELECT is a
/// stored function, which may write, so the SELECT goes to the primary.
pub(super) const BUILTINS: &[&str] = &[
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
    "insert",
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
    // Reserved words followed by a list, never a function call: `PARTITION (p0)`, `JSON_TABLE(…)`,
    // `LATERAL (…)`.
    "partition",
    "json_table",
    "lateral",
];

/// Whether the normalized text calls something that is not a built-in: a stored function, which may
/// write. Optimizer hints (`/*+ MAX_EXECUTION_TIME(1000) */`) and index hints (`FORCE INDEX (…)`) look
/// like calls but run nothing.
pub(super) fn calls_stored_function(text: &str) -> bool {
    let code = strip_optimizer_hints(text);
    let code = code.as_ref();
    code.match_indices(" (").any(|(at, _)| {
        let name = code[..at].rsplit([' ', '(', ',']).next().unwrap_or("");
        // Backticks count as name bytes: `` `db`.`f`(x) `` is a call as much as `db.f(x)` is.
        !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'`' | b'$'))
            && !name.bytes().all(|b| b.is_ascii_digit())
            && !BUILTINS.contains(&name)
            && !NONDETERMINISTIC.contains(&name)
            && !is_table_context(code, at)
            && !is_index_hint(code, at)
            && !is_cte_columns(code, at)
    })
}

/// Whether `f` is called as the built-in: `f (` not preceded by a name byte (`db.get_lock (` and
/// `my_get_lock (` are stored functions).
pub(super) fn calls_builtin(text: &str, f: &str) -> bool {
    let call = format!("{f} (");
    text.match_indices(&call).any(|(at, _)| {
        !text[..at]
            .bytes()
            .next_back()
            .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'`' | b'$'))
    })
}

/// The text without `/*+ … */` optimizer hints, which the lexer keeps as code. An unclosed hint is
/// left alone (the server rejects the statement or reads it as a comment: either way nothing runs, and
/// keeping it only makes the detector more careful).
fn strip_optimizer_hints(text: &str) -> Cow<'_, str> {
    if !text.contains("/*+") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("/*+") {
        let Some(len) = rest[start..].find("*/") else { break };
        out.push_str(&rest[..start]);
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// `(` right after a table name or keyword that introduces a list (`FROM t (…)` never happens in a
/// SELECT, but `IN (`, `USING (`, `VALUES (` and CTE column lists do): callers exclude those.
fn is_table_context(text: &str, at: usize) -> bool {
    let before = text[..at].trim_end();
    let mut it = before.rsplit(' ');
    let _name = it.next();
    matches!(it.next(), Some("with" | "recursive" | "as" | "join" | "from" | "into" | "table"))
}

/// `USE|FORCE|IGNORE INDEX|KEY (…)`: an index list (`INDEX` and `KEY` are reserved words, and the forms
/// with `FOR JOIN|ORDER BY|GROUP BY` end in the built-ins `join` and `by`).
fn is_index_hint(text: &str, at: usize) -> bool {
    let mut it = text[..at].rsplit(' ');
    matches!(it.next(), Some("index" | "key")) && matches!(it.next(), Some("use" | "force" | "ignore"))
}

/// A CTE's column list, `name (a, b) AS (…)`: the list is followed by `AS (`, which never follows a call.
fn is_cte_columns(text: &str, at: usize) -> bool {
    // `at` is the space before `(`.
    let mut depth = 0usize;
    for (i, b) in text.bytes().enumerate().skip(at + 1) {
        match b {
            b'(' => depth += 1,
            b')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return text[i + 1..].trim_start().starts_with("as (");
                }
            }
            _ => {}
        }
    }
    false
}
