//! Plan lints from a digest's text and last sample: `SELECT *` on a read-heavy digest, a function
//! around a column in WHERE, a leading-wildcard LIKE, a deep OFFSET, a large result without LIMIT.
//! Pure functions of the digest's aggregate (computed when advice is asked for, never per statement).

use std::sync::LazyLock;

use regex::Regex;

use super::Kind;
use crate::core::config::AdviceConfig;
use crate::features::stats::DigestStats;

/// One lint that fired: `(kind, evidence, suggestion)`.
pub type Lint = (Kind, String, String);

/// `where|and|or|on  fn (column` in normalized text: a function applied to a column in a condition.
static FUNCTION_ON_COLUMN: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"\b(?:where|and|or|on) (?:not )?([a-z_][a-z0-9_]*) \((?:distinct )?(`[^`]+`|[a-z_][a-z0-9_.]*)[,)]",
    )
    .ok()
});
/// `LIKE '%…'` in the statement as sent.
static LEADING_WILDCARD: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r#"(?i)\blike\s+(?:_[a-z0-9]+)?['"]%"#).ok());
/// `LIMIT offset, n` or `OFFSET n`.
static OFFSET: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?i)\blimit\s+(\d+)\s*,\s*\d+|\boffset\s+(\d+)").ok());

/// Words that look like a call but are syntax.
const NOT_FUNCTIONS: [&str; 8] = ["in", "exists", "not", "select", "values", "any", "all", "some"];

/// The lints that apply to `d`. The sample (the statement as sent) is read for its LIKE patterns and
/// OFFSETs either way; with `literals` false, evidence quotes only the normalized text (`like ?`).
pub fn lints(d: &DigestStats, cfg: &AdviceConfig, literals: bool) -> Vec<Lint> {
    let mut out = Vec::new();
    let text = &*d.text;
    let is_select = text.starts_with("select ");
    if is_select
        && (text.starts_with("select * ") || text.contains(".* from "))
        && d.count >= cfg.read_heavy_count
    {
        out.push((
            Kind::SelectStar,
            format!("SELECT * run {} times, {} rows sent", d.count, d.rows_sent),
            "name the columns the application uses: `SELECT id, name, … FROM …` (less I/O and network, and a covering index becomes possible)".to_owned(),
        ));
    }
    if let Some(re) = &*FUNCTION_ON_COLUMN
        && let Some(where_at) = text.find(" where ").or_else(|| text.find(" on "))
    {
        for c in re.captures_iter(&text[where_at..]) {
            let (Some(f), Some(col)) = (c.get(1), c.get(2)) else { continue };
            if NOT_FUNCTIONS.contains(&f.as_str()) {
                continue;
            }
            out.push((
                Kind::FunctionOnColumn,
                format!("`{} ({})` in a condition: no index on {} can be used", f.as_str(), col.as_str(), col.as_str()),
                format!(
                    "compare the bare column (move the function to the literal side, e.g. a range for dates), or index the expression (a generated column with an index on `{} ({})`)",
                    f.as_str(),
                    col.as_str()
                ),
            ));
            break;
        }
    }
    if let Some(re) = &*LEADING_WILDCARD
        && re.is_match(&d.sample)
    {
        out.push((
            Kind::LeadingWildcardLike,
            if literals {
                format!("LIKE with a leading % (sample: {})", short(&d.sample))
            } else {
                format!("LIKE with a leading % in the last sample ({})", short(&d.text))
            },
            "a leading wildcard scans every row: use a FULLTEXT index (MATCH … AGAINST), a reversed-column index for suffix searches, or anchor the pattern (`LIKE 'abc%'`)".to_owned(),
        ));
    }
    if let Some(re) = &*OFFSET
        && let Some(c) = re.captures(&d.sample)
    {
        let n: u64 = c.get(1).or_else(|| c.get(2)).and_then(|m| m.as_str().parse().ok()).unwrap_or(0);
        if n >= cfg.deep_offset {
            out.push((
                Kind::DeepOffset,
                if literals {
                    format!("OFFSET {n}: the server reads and throws away {n} rows first")
                } else {
                    format!(
                        "an OFFSET of at least {} in the last sample: the server reads and throws away that many rows first",
                        cfg.deep_offset
                    )
                },
                "paginate by key instead: `WHERE id > <last id seen> ORDER BY id LIMIT n`".to_owned(),
            ));
        }
    }
    let per_stmt = d.rows_sent.checked_div(d.count).unwrap_or(0);
    if is_select && !text.contains(" limit ") && per_stmt > cfg.large_result_rows {
        out.push((
            Kind::LargeResultWithoutLimit,
            format!("{per_stmt} rows per statement on average ({} statements), no LIMIT", d.count),
            "add a LIMIT (and paginate), or aggregate in SQL (COUNT/SUM/GROUP BY) instead of in the application".to_owned(),
        ));
    }
    out
}

/// The first 120 characters of a statement, for evidence columns.
pub fn short(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(120) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap; the lint guards library code
mod tests {
    use super::*;

    fn stats(sql: &str, count: u64, rows: u64) -> DigestStats {
        let lexed = sluice_router::lexer::lex(sql.as_bytes());
        let now = std::time::SystemTime::now();
        let mut d = DigestStats::new(lexed.digest, lexed.text.as_str().into(), "app".into(), "s".into(), now);
        d.count = count;
        d.min_us = 0;
        d.rows_sent = rows;
        d.sample = sql.to_owned();
        d
    }

    fn kinds(sql: &str, count: u64, rows: u64) -> Vec<&'static str> {
        lints(&stats(sql, count, rows), &AdviceConfig::default(), true)
            .into_iter()
            .map(|l| l.0.as_str())
            .collect()
    }

    #[test]
    fn evidence_quotes_literals_only_when_asked() {
        let cfg = AdviceConfig::default();
        for sql in ["SELECT id FROM t WHERE name LIKE '%secret-name'", "SELECT id FROM t LIMIT 73123, 10"] {
            let d = stats(sql, 1, 1);
            let shown = lints(&d, &cfg, true);
            let hidden = lints(&d, &cfg, false);
            assert_eq!(shown.len(), 1, "{sql}");
            assert_eq!(hidden.len(), 1, "{sql}: the lint fires without literals too");
            assert!(shown[0].1.contains("secret-name") || shown[0].1.contains("73123"), "{shown:?}");
            assert!(!hidden[0].1.contains("secret") && !hidden[0].1.contains("73123"), "{hidden:?}");
        }
    }

    #[test]
    fn each_lint_fires_on_its_pattern_only() {
        assert_eq!(kinds("SELECT * FROM t WHERE id = 1", 500, 500), ["select_star"]);
        assert!(kinds("SELECT * FROM t WHERE id = 1", 5, 5).is_empty(), "not read-heavy");
        assert_eq!(kinds("SELECT id FROM users WHERE LOWER(email) = 'a@b'", 1, 1), ["function_on_column"]);
        assert_eq!(
            kinds("SELECT id FROM t WHERE a = 1 AND DATE(created) = '2024-01-01'", 1, 1),
            ["function_on_column"]
        );
        assert!(kinds("SELECT id FROM t WHERE id IN (1, 2)", 1, 1).is_empty());
        assert!(kinds("SELECT COUNT(*) FROM t WHERE a = LOWER('X')", 1, 1).is_empty());
        assert_eq!(kinds("SELECT id FROM t WHERE name LIKE '%son'", 1, 1), ["leading_wildcard_like"]);
        assert!(kinds("SELECT id FROM t WHERE name LIKE 'son%'", 1, 1).is_empty());
        assert_eq!(kinds("SELECT id FROM t ORDER BY id LIMIT 5000, 10", 1, 10), ["deep_offset"]);
        assert_eq!(kinds("SELECT id FROM t ORDER BY id LIMIT 10 OFFSET 20000", 1, 10), ["deep_offset"]);
        assert!(kinds("SELECT id FROM t ORDER BY id LIMIT 10 OFFSET 20", 1, 10).is_empty());
        assert_eq!(kinds("SELECT id FROM t", 2, 10_000), ["large_result_without_limit"]);
        assert!(kinds("SELECT id FROM t LIMIT 5000", 2, 10_000).is_empty());
    }
}
