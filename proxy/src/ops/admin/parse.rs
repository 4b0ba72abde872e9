//! Admin statements, parsed: the text a client sends becomes an [`AdminCommand`], one variant per
//! command, without reading or changing any state; [`AdminCommand::apply`] executes it. Keywords are case-insensitive and words may be
//! separated by any whitespace; file names, addresses and table names keep their case. A statement
//! prints ([`std::fmt::Display`]) as text that parses to it again.

use std::fmt;

use sluice_protocol::constants::errors;

use crate::core::config::FirewallMode;
use crate::core::error::Error;

/// One admin statement.
#[derive(Debug, Clone, PartialEq)]
pub enum AdminCommand {
    /// `SHOW DIGESTS [ORDER BY key] [LIMIT n]`.
    ShowDigests {
        /// Sort key (descending).
        order: DigestOrder,
        /// Rows at most.
        limit: Option<usize>,
    },
    /// `SHOW BACKENDS`.
    ShowBackends,
    /// `SHOW POOLS`.
    ShowPools,
    /// `SHOW PINS`.
    ShowPins,
    /// `SHOW SESSIONS`.
    ShowSessions,
    /// `SHOW PLANS`.
    ShowPlans,
    /// `SHOW CONFIG`.
    ShowConfig,
    /// `SHOW ADVICE`.
    ShowAdvice,
    /// `SHOW CACHE`.
    ShowCache,
    /// `FLUSH CACHE [schema.table]` (quotes removed).
    FlushCache(Option<String>),
    /// `EXPLAIN DIGEST <id>`.
    ExplainDigest(u64),
    /// `RESET DIGESTS`.
    ResetDigests,
    /// `RELOAD`.
    Reload,
    /// `SWITCHOVER [TO '<host:port>']`.
    Switchover(Option<String>),
    /// `SET BACKEND '<host:port>' OFFLINE|ONLINE`.
    SetBackend {
        /// The member's address as written (quotes removed).
        addr: String,
        /// OFFLINE (true) or ONLINE.
        offline: bool,
    },
    /// `SHOW FIREWALL`.
    ShowFirewall,
    /// `FIREWALL MODE off|learn|enforce`.
    FirewallMode(FirewallMode),
    /// `FIREWALL ALLOW '<digest>'`.
    FirewallAllow(u64),
    /// `FIREWALL SAVE`.
    FirewallSave,
    /// `SHOW MIGRATIONS`.
    ShowMigrations,
    /// `SET MIGRATION '<table>' READ FROM old|new`.
    SetMigrationReads {
        /// The table, lower case, quotes removed.
        table: String,
        /// `new` (true) or `old`.
        new: bool,
    },
    /// `CAPTURE START '<file>' [DURATION seconds]`.
    CaptureStart {
        /// The file as written (quotes optional).
        file: String,
        /// Seconds (finite, positive; past any clock it is clamped when the capture starts).
        duration_s: Option<f64>,
    },
    /// `CAPTURE STOP`.
    CaptureStop,
    /// `SHOW CAPTURE`.
    ShowCapture,
    /// `SELECT @@a, @@b [LIMIT n]`: what connectors ask for on connect.
    Variables(Vec<SysVar>),
    /// `SELECT 1` (a connection check).
    SelectOne,
}

/// `SHOW DIGESTS` sort keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestOrder {
    /// Total time.
    Total,
    /// Executions.
    Count,
    /// Mean time.
    Avg,
    /// Longest time.
    Max,
    /// Median.
    P50,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
    /// Errors.
    Errors,
    /// Rows sent.
    Rows,
}

const ORDERS: [(&str, DigestOrder); 9] = [
    ("total", DigestOrder::Total),
    ("count", DigestOrder::Count),
    ("avg", DigestOrder::Avg),
    ("max", DigestOrder::Max),
    ("p50", DigestOrder::P50),
    ("p95", DigestOrder::P95),
    ("p99", DigestOrder::P99),
    ("errors", DigestOrder::Errors),
    ("rows", DigestOrder::Rows),
];

/// The system variables `SELECT @@…` answers (any other is NULL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysVar {
    /// `@@version_comment`.
    VersionComment,
    /// `@@max_allowed_packet`.
    MaxAllowedPacket,
    /// `@@wait_timeout`.
    WaitTimeout,
    /// `@@interactive_timeout`.
    InteractiveTimeout,
    /// `@@version`.
    Version,
    /// `@@autocommit`.
    Autocommit,
    /// Anything else.
    Other,
}

const SYS_VARS: [(&str, SysVar); 6] = [
    ("version_comment", SysVar::VersionComment),
    ("max_allowed_packet", SysVar::MaxAllowedPacket),
    ("wait_timeout", SysVar::WaitTimeout),
    ("interactive_timeout", SysVar::InteractiveTimeout),
    ("version", SysVar::Version),
    ("autocommit", SysVar::Autocommit),
];

impl SysVar {
    /// The column name it is answered under.
    pub fn column(self) -> &'static str {
        match self {
            SysVar::VersionComment => "@@version_comment",
            SysVar::MaxAllowedPacket => "@@max_allowed_packet",
            SysVar::WaitTimeout => "@@wait_timeout",
            SysVar::InteractiveTimeout => "@@interactive_timeout",
            SysVar::Version => "@@version",
            SysVar::Autocommit => "@@autocommit",
            SysVar::Other => "@@variable",
        }
    }

    fn named(name: &str) -> SysVar {
        let name = name.trim_start_matches("@@").trim_start_matches("session.").trim_start_matches("global.");
        SYS_VARS.iter().find(|(n, _)| name.eq_ignore_ascii_case(n)).map_or(SysVar::Other, |(_, v)| *v)
    }
}

/// What the generic parse error lists.
const KNOWN: &str = "SHOW DIGESTS [ORDER BY total|count|avg|max|p50|p95|p99|errors|rows] [LIMIT n], SHOW BACKENDS, SHOW POOLS, SHOW PINS, SHOW SESSIONS, SHOW PLANS, SHOW CONFIG, SHOW ADVICE, EXPLAIN DIGEST <id>, RESET DIGESTS, RELOAD, SET BACKEND '<host:port>' OFFLINE|ONLINE, SWITCHOVER [TO '<host:port>'], SHOW CACHE, FLUSH CACHE [schema.table], SHOW FIREWALL, FIREWALL MODE off|learn|enforce, FIREWALL ALLOW '<digest>', FIREWALL SAVE, SHOW MIGRATIONS, SET MIGRATION '<table>' READ FROM old|new, CAPTURE START '<file>' [DURATION n], CAPTURE STOP, SHOW CAPTURE";

fn parse_error(sql: &str) -> Error {
    Error::reply(errors::PARSE, format!("sluice admin does not understand {sql:?}; it knows {KNOWN}"))
}

fn capture_usage(sql: &str) -> Error {
    Error::reply(
        errors::PARSE,
        format!(
            "sluice admin does not understand {sql:?}; capture statements are CAPTURE START '/path/file' [DURATION seconds], CAPTURE STOP, SHOW CAPTURE"
        ),
    )
}

fn bad(message: &str) -> Error {
    Error::reply((1105, "HY000"), message.to_owned())
}

fn unquote(s: &str) -> &str {
    s.trim_matches(['\'', '"', '`'])
}

/// `text` after its first `n` words (whitespace-separated, as `split_whitespace` counts them).
fn after_words(text: &str, n: usize) -> &str {
    let mut s = text;
    for _ in 0..n {
        s = s.trim_start();
        s = &s[s.find(char::is_whitespace).unwrap_or(s.len())..];
    }
    s.trim_start()
}

/// Parses one admin statement (a trailing `;` is ignored).
pub fn parse(sql: &str) -> Result<AdminCommand, Error> {
    use AdminCommand as S;
    let trimmed = sql.trim().trim_end_matches(';').trim();
    let lower = trimmed.to_ascii_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    // A word as written (the lower-case one has the same byte offsets, but not the same case).
    let original = |i: usize| trimmed.split_whitespace().nth(i).unwrap_or_default();
    Ok(match words.as_slice() {
        ["show", "digests", rest @ ..] => show_digests(rest).ok_or_else(|| parse_error(trimmed))?,
        ["show", "backends"] => S::ShowBackends,
        ["show", "pools"] => S::ShowPools,
        ["show", "pins"] => S::ShowPins,
        ["show", "sessions"] => S::ShowSessions,
        ["show", "plans"] => S::ShowPlans,
        ["show", "config"] => S::ShowConfig,
        ["show", "advice"] => S::ShowAdvice,
        ["show", "cache"] => S::ShowCache,
        ["flush", "cache"] => S::FlushCache(None),
        ["flush", "cache", _] => S::FlushCache(Some(unquote(original(2)).to_owned())),
        ["show", "migrations"] => S::ShowMigrations,
        ["set", "migration", t, "read", "from", side @ ("old" | "new")] => {
            S::SetMigrationReads { table: unquote(t).to_owned(), new: *side == "new" }
        }
        ["show", "firewall"] => S::ShowFirewall,
        ["firewall", "mode", m] => S::FirewallMode(match *m {
            "off" => FirewallMode::Off,
            "learn" => FirewallMode::Learn,
            "enforce" => FirewallMode::Enforce,
            _ => return Err(bad("FIREWALL MODE takes off, learn or enforce")),
        }),
        ["firewall", "allow", d] => match u64::from_str_radix(d.trim_matches(['\'', '"']), 16) {
            Ok(v) => S::FirewallAllow(v),
            Err(_) => {
                return Err(bad("FIREWALL ALLOW takes a 16-hex-digit digest (SHOW DIGESTS lists them)"));
            }
        },
        ["firewall", "save"] => S::FirewallSave,
        ["explain", "digest", id] => {
            let id = unquote(id);
            S::ExplainDigest(u64::from_str_radix(id, 16).map_err(|_| {
                Error::reply(
                    errors::PARSE,
                    format!("{id:?} is not a digest id: 16 hex digits, as SHOW DIGESTS prints"),
                )
            })?)
        }
        ["explain", "digest", ..] => {
            return Err(Error::reply(
                errors::PARSE,
                "EXPLAIN DIGEST takes one digest id (16 hex digits, from SHOW DIGESTS or SHOW ADVICE)",
            ));
        }
        ["reset", "digests"] => S::ResetDigests,
        ["reload"] => S::Reload,
        ["switchover"] => S::Switchover(None),
        ["switchover", "to", _] => S::Switchover(Some(unquote(original(2)).to_owned())),
        ["set", "backend", _, state @ ("offline" | "online")] => {
            S::SetBackend { addr: unquote(original(2)).to_owned(), offline: *state == "offline" }
        }
        ["capture", "start", ..] => capture_start(trimmed)?,
        ["capture", "stop"] => S::CaptureStop,
        ["show", "capture"] => S::ShowCapture,
        ["capture", ..] => return Err(capture_usage(trimmed)),
        ["select", rest @ ..] if rest.first().is_some_and(|w| w.starts_with("@@")) => {
            // The list up to a LIMIT word.
            let list = after_words(trimmed, 1);
            let end = words.iter().skip(1).position(|w| *w == "limit").map_or(list.len(), |i| {
                // The `i`-th word of the list starts where the list after `i` words starts.
                list.len() - after_words(list, i).len()
            });
            S::Variables(list[..end].split(',').map(|v| SysVar::named(v.trim())).collect())
        }
        ["select", "1"] => S::SelectOne,
        _ => return Err(parse_error(trimmed)),
    })
}

fn show_digests(rest: &[&str]) -> Option<AdminCommand> {
    let mut order = DigestOrder::Total;
    let mut limit = None;
    let mut i = 0;
    while i < rest.len() {
        match (rest[i], rest.get(i + 1), rest.get(i + 2)) {
            ("order", Some(&"by"), Some(key)) => {
                order = ORDERS.iter().find(|(n, _)| n == key)?.1;
                i += 3;
            }
            ("limit", Some(n), _) => {
                limit = Some(n.parse().ok()?);
                i += 2;
            }
            _ => return None,
        }
    }
    Some(AdminCommand::ShowDigests { order, limit })
}

/// `CAPTURE START 'file' [DURATION n]`: the file as written (quotes optional), the duration in seconds.
fn capture_start(trimmed: &str) -> Result<AdminCommand, Error> {
    let usage = || capture_usage(trimmed);
    let rest = after_words(trimmed, 2);
    let (file, after) = match rest.chars().next() {
        Some(q @ ('\'' | '"')) => {
            let end = rest[1..].find(q).ok_or_else(usage)?;
            (&rest[1..=end], rest[end + 2..].trim())
        }
        _ => rest.split_once(char::is_whitespace).map_or((rest, ""), |(f, a)| (f, a.trim())),
    };
    if file.is_empty() {
        return Err(usage());
    }
    let duration_s = match after.split_whitespace().collect::<Vec<_>>().as_slice() {
        [] => None,
        [kw, n] if kw.eq_ignore_ascii_case("duration") => {
            Some(n.parse().ok().filter(|s: &f64| s.is_finite() && *s > 0.0).ok_or_else(usage)?)
        }
        _ => return Err(usage()),
    };
    Ok(AdminCommand::CaptureStart { file: file.to_owned(), duration_s })
}

/// `text` in single quotes, or double quotes when it holds a single quote, or bare when it holds both
/// (it was written bare then: it has no whitespace and does not start with a quote).
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0.contains('\''), self.0.contains('"')) {
            (false, _) => write!(f, "'{}'", self.0),
            (true, false) => write!(f, "\"{}\"", self.0),
            (true, true) => f.write_str(self.0),
        }
    }
}

impl fmt::Display for AdminCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use AdminCommand as S;
        match self {
            S::ShowDigests { order, limit } => {
                let key = ORDERS.iter().find(|(_, o)| o == order).map_or("total", |(n, _)| n);
                write!(f, "SHOW DIGESTS ORDER BY {key}")?;
                match limit {
                    Some(n) => write!(f, " LIMIT {n}"),
                    None => Ok(()),
                }
            }
            S::ShowBackends => f.write_str("SHOW BACKENDS"),
            S::ShowPools => f.write_str("SHOW POOLS"),
            S::ShowPins => f.write_str("SHOW PINS"),
            S::ShowSessions => f.write_str("SHOW SESSIONS"),
            S::ShowPlans => f.write_str("SHOW PLANS"),
            S::ShowConfig => f.write_str("SHOW CONFIG"),
            S::ShowAdvice => f.write_str("SHOW ADVICE"),
            S::ShowCache => f.write_str("SHOW CACHE"),
            S::FlushCache(None) => f.write_str("FLUSH CACHE"),
            S::FlushCache(Some(t)) => write!(f, "FLUSH CACHE '{t}'"),
            S::ExplainDigest(d) => write!(f, "EXPLAIN DIGEST {d:016x}"),
            S::ResetDigests => f.write_str("RESET DIGESTS"),
            S::Reload => f.write_str("RELOAD"),
            S::Switchover(None) => f.write_str("SWITCHOVER"),
            S::Switchover(Some(a)) => write!(f, "SWITCHOVER TO '{a}'"),
            S::SetBackend { addr, offline } => {
                write!(f, "SET BACKEND '{addr}' {}", if *offline { "OFFLINE" } else { "ONLINE" })
            }
            S::ShowFirewall => f.write_str("SHOW FIREWALL"),
            S::FirewallMode(m) => write!(
                f,
                "FIREWALL MODE {}",
                match m {
                    FirewallMode::Off => "off",
                    FirewallMode::Learn => "learn",
                    FirewallMode::Enforce => "enforce",
                }
            ),
            S::FirewallAllow(d) => write!(f, "FIREWALL ALLOW '{d:016x}'"),
            S::FirewallSave => f.write_str("FIREWALL SAVE"),
            S::ShowMigrations => f.write_str("SHOW MIGRATIONS"),
            S::SetMigrationReads { table, new } => {
                write!(f, "SET MIGRATION '{table}' READ FROM {}", if *new { "new" } else { "old" })
            }
            S::CaptureStart { file, duration_s } => {
                write!(f, "CAPTURE START {}", Quoted(file))?;
                match duration_s {
                    Some(s) => write!(f, " DURATION {s}"),
                    None => Ok(()),
                }
            }
            S::CaptureStop => f.write_str("CAPTURE STOP"),
            S::ShowCapture => f.write_str("SHOW CAPTURE"),
            S::Variables(vars) => {
                f.write_str("SELECT ")?;
                for (i, v) in vars.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(v.column())?;
                }
                Ok(())
            }
            S::SelectOne => f.write_str("SELECT 1"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap; the lint guards library code
mod tests {
    use super::*;

    fn ok(sql: &str) -> AdminCommand {
        parse(sql).unwrap_or_else(|e| panic!("{sql:?}: {e}"))
    }

    #[test]
    fn statements_parse_and_print_back() {
        for (sql, want) in [
            ("show digests", AdminCommand::ShowDigests { order: DigestOrder::Total, limit: None }),
            (
                "SHOW DIGESTS ORDER BY p99 LIMIT 5;",
                AdminCommand::ShowDigests { order: DigestOrder::P99, limit: Some(5) },
            ),
            ("flush cache `Shop`.`T`", AdminCommand::FlushCache(Some("Shop`.`T".into()))),
            ("EXPLAIN DIGEST '00000000000000aa'", AdminCommand::ExplainDigest(0xaa)),
            ("switchover to 'DB-2:3306'", AdminCommand::Switchover(Some("DB-2:3306".into()))),
            (
                "set backend \"db1:3306\" Offline",
                AdminCommand::SetBackend { addr: "db1:3306".into(), offline: true },
            ),
            ("firewall mode ENFORCE", AdminCommand::FirewallMode(FirewallMode::Enforce)),
            (
                "SET MIGRATION 'Orders' READ FROM new",
                AdminCommand::SetMigrationReads { table: "orders".into(), new: true },
            ),
            (
                "CAPTURE START '/tmp/a b.cap' DURATION 2.5",
                AdminCommand::CaptureStart { file: "/tmp/a b.cap".into(), duration_s: Some(2.5) },
            ),
            ("select @@version_comment limit 1", AdminCommand::Variables(vec![SysVar::VersionComment])),
            (
                "SELECT @@session.autocommit, @@x LIMIT 1",
                AdminCommand::Variables(vec![SysVar::Autocommit, SysVar::Other]),
            ),
        ] {
            assert_eq!(ok(sql), want, "{sql}");
            assert_eq!(ok(&want.to_string()), want, "{want}");
        }
        for bad in
            ["show digests order by nope", "firewall mode on", "explain digest xyz", "capture", "hello"]
        {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    /// The parser this replaced cut `CAPTURE  START` (two spaces) 13 bytes in, so the `t` of START
    /// became the file name, and a huge DURATION panicked in `Duration::from_secs_f64`.
    #[test]
    fn capture_start_counts_words_not_bytes_and_bounds_the_duration() {
        assert!(parse("CAPTURE  START").is_err());
        assert_eq!(
            ok("capture\t\tstart  f  duration 1"),
            AdminCommand::CaptureStart { file: "f".into(), duration_s: Some(1.0) }
        );
        for d in ["inf", "NaN", "0", "-1"] {
            assert!(parse(&format!("CAPTURE START 'f' DURATION {d}")).is_err(), "{d}");
        }
        // Past any clock: accepted, clamped when the capture starts (sluice::clock).
        assert!(parse("CAPTURE START 'f' DURATION 1e300").is_ok());
    }

    /// `LIMIT` in capitals ended the variable list only when written in lower case.
    #[test]
    fn variables_end_at_limit_in_any_case() {
        assert_eq!(ok("SELECT @@version LIMIT 1"), AdminCommand::Variables(vec![SysVar::Version]));
        assert_eq!(ok("SELECT @@version\tlimit 1"), AdminCommand::Variables(vec![SysVar::Version]));
    }
}
