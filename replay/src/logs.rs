//! MariaDB/MySQL logs as replay sources: the general query log (`--format general`) and the slow log
//! (`--format slow`, also what `long_query_time=0` gives for a full workload).
//!
//! ```text
//! general:  241201 16:23:04\t    31 Connect\tapp@localhost on db using TCP/IP     (MariaDB)
//!           \t\t    31 Query\tSELECT 1                                            (same second)
//!           2024-12-01T16:23:04.123456Z\t   31 Query\tSELECT 1                     (MySQL)
//! slow:     # Time: … / # User@Host: app[app] @ localhost [] / # Thread_id: 31  Schema: db …
//!           # Query_time: 0.000123 … / SET timestamp=1733070185; / statement;
//! ```
//! A general log's `Execute` lines carry the statement with its parameters in place: they replay as
//! plain queries. Times in a general log have one-second resolution (MariaDB), so statements within a
//! second keep their log order but not their spacing.

use std::collections::HashMap;

use super::workload::{Event, Script, Workload};
use crate::WorkloadError;

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// µs since the epoch of a civil date and time; `None` unless month, day, hour, minute and second are
/// in range (a line with another number there is not a log line's time; it also keeps the arithmetic
/// far from overflowing, which text such as `2024-99999999999999999-01T…` did).
fn epoch_us(y: i64, mo: i64, da: i64, hh: i64, mi: i64, ss: i64, micros: i64) -> Option<i64> {
    let ok = (1..=12).contains(&mo)
        && (1..=31).contains(&da)
        && (0..=23).contains(&hh)
        && (0..=59).contains(&mi)
        && (0..=60).contains(&ss)
        && (-9999..=9999).contains(&y);
    ok.then(|| (days_from_civil(y, mo, da) * 86_400 + hh * 3600 + mi * 60 + ss) * 1_000_000 + micros)
}

/// `YYMMDD HH:MM:SS` / `YYMMDD  H:MM:SS` (MariaDB) or `YYYY-MM-DDTHH:MM:SS[.ffffff][Z]` (MySQL) at
/// the start of `s`: µs since the epoch and the rest of the line.
fn parse_time(s: &str) -> Option<(i64, &str)> {
    let num = |t: &str| t.trim().parse::<i64>().ok();
    if s.len() >= 19 && s.as_bytes().get(4) == Some(&b'-') && s.as_bytes().get(10) == Some(&b'T') {
        let end = s.find(|c: char| c.is_whitespace()).unwrap_or(s.len());
        let t = s[..end].trim_end_matches('Z');
        let (date, time) = t.split_once('T')?;
        let mut d = date.split('-');
        let (y, mo, da) = (num(d.next()?)?, num(d.next()?)?, num(d.next()?)?);
        let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
        let mut h = hms.split(':');
        let (hh, mi, ss) = (num(h.next()?)?, num(h.next()?)?, num(h.next()?)?);
        let digits: String = frac.chars().take_while(char::is_ascii_digit).take(6).collect();
        let micros = num(&format!("{digits:0<6}"))?;
        return Some((epoch_us(y, mo, da, hh, mi, ss, micros)?, &s[end..]));
    }
    let b = s.as_bytes();
    if s.len() < 15 || !b[..6].iter().all(u8::is_ascii_digit) || b[6] != b' ' {
        return None;
    }
    let (y, mo, da) = (2000 + num(&s[0..2])?, num(&s[2..4])?, num(&s[4..6])?);
    let rest = &s[7..];
    let end = rest.find('\t').unwrap_or(rest.len());
    let mut h = rest[..end].trim().split(':');
    let (hh, mi, ss) = (num(h.next()?)?, num(h.next()?)?, num(h.next()?)?);
    Some((epoch_us(y, mo, da, hh, mi, ss, 0)?, &rest[end..]))
}

/// Reads a session's current state while parsing a log.
#[derive(Default)]
struct Sessions {
    index: HashMap<u64, usize>,
    scripts: Vec<Script>,
    schema: HashMap<u64, String>,
    seq: u64,
    t0: Option<i64>,
}

impl Sessions {
    fn script(&mut self, id: u64, user: &str) -> &mut Script {
        let i = *self.index.entry(id).or_insert_with(|| {
            self.scripts.push(Script { id, user: user.to_owned(), events: Vec::new() });
            self.scripts.len() - 1
        });
        &mut self.scripts[i]
    }

    fn push(&mut self, id: u64, user: &str, at_us: i64, sql: String, took_us: Option<u64>) {
        let t0 = *self.t0.get_or_insert(at_us);
        let offset = u64::try_from(at_us.saturating_sub(t0)).unwrap_or(0);
        let schema = self.schema.get(&id).cloned().unwrap_or_default();
        if let Some(db) = use_target(&sql) {
            self.schema.insert(id, db);
        }
        self.seq += 1;
        let mut e = Event::new(offset, self.seq, schema, sql, None);
        e.captured_us = took_us;
        self.script(id, user).events.push(e);
    }

    fn finish(self, format: &'static str) -> Result<Workload, WorkloadError> {
        let mut scripts = self.scripts;
        scripts.retain(|s| !s.events.is_empty());
        if scripts.is_empty() {
            return Err(WorkloadError::NoStatements(format));
        }
        Ok(Workload { format, sessions: scripts, ..Workload::default() })
    }
}

/// The schema of a `USE db` statement.
fn use_target(sql: &str) -> Option<String> {
    let t = sql.trim().trim_end_matches(';').trim();
    let (kw, db) = t.split_once(char::is_whitespace)?;
    kw.eq_ignore_ascii_case("use").then(|| db.trim().trim_matches('`').to_owned())
}

/// Parses a general query log.
pub fn parse_general(text: &str) -> Result<Workload, WorkloadError> {
    let mut s = Sessions::default();
    let mut now: Option<i64> = None;
    // The statement being read (continuation lines are appended): (session, time, text).
    let mut open: Option<(u64, i64, String)> = None;
    let mut users: HashMap<u64, String> = HashMap::new();
    let flush = |s: &mut Sessions, open: &mut Option<(u64, i64, String)>, users: &HashMap<u64, String>| {
        if let Some((id, at, sql)) = open.take() {
            let user = users.get(&id).cloned().unwrap_or_default();
            s.push(id, &user, at, sql, None);
        }
    };
    for line in text.lines() {
        let (time, rest) = match parse_time(line) {
            Some((t, rest)) => (Some(t), rest.strip_prefix('\t').unwrap_or(rest)),
            None => match line.strip_prefix("\t\t") {
                Some(rest) => (None, rest),
                None => {
                    let header = line.contains(", Version: ")
                        || line.starts_with("Tcp port:")
                        || line.starts_with("Time\t");
                    if !header && let Some((_, _, sql)) = open.as_mut() {
                        sql.push('\n');
                        sql.push_str(line);
                    }
                    continue;
                }
            },
        };
        let body = rest.trim_start();
        let digits = body.find(|c: char| !c.is_ascii_digit()).unwrap_or(body.len());
        let Ok(id) = body[..digits].parse::<u64>() else { continue };
        let (command, arg) =
            body[digits..].trim_start().split_once('\t').unwrap_or((body[digits..].trim(), ""));
        flush(&mut s, &mut open, &users);
        if let Some(t) = time {
            now = Some(t);
        }
        let at = now.unwrap_or(0);
        match command.trim() {
            "Connect" => {
                // `user@host on schema using TCP/IP` (schema may be empty).
                let user = arg.split('@').next().unwrap_or_default().to_owned();
                let db = arg.split(" on ").nth(1).and_then(|r| r.split(" using").next()).unwrap_or_default();
                users.insert(id, user.clone());
                s.schema.insert(id, db.trim().to_owned());
                s.script(id, &user);
            }
            "Init DB" => {
                s.schema.insert(id, arg.trim().to_owned());
            }
            "Query" | "Execute" => open = Some((id, at, arg.to_owned())),
            _ => {} // Prepare, Close stmt, Quit, Ping, Field List…: nothing to replay
        }
    }
    flush(&mut s, &mut open, &users);
    s.finish("general")
}

/// Parses a slow query log.
pub fn parse_slow(text: &str) -> Result<Workload, WorkloadError> {
    let mut s = Sessions::default();
    let mut entry = SlowEntry::default();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("# ") {
            if !entry.sql.is_empty() {
                entry.finish(&mut s);
            }
            entry.header(h);
            continue;
        }
        let t = line.trim();
        // A timestamp too far out for µs in an i64 is not one a server wrote: read as text.
        if let Some(at) = t
            .strip_prefix("SET timestamp=")
            .and_then(|v| v.trim_end_matches(';').parse::<i64>().ok())
            .and_then(|ts| ts.checked_mul(1_000_000))
        {
            entry.at = Some(at);
            continue;
        }
        if line.contains(", Version: ") || line.starts_with("Tcp port:") || line.starts_with("Time\t") {
            continue;
        }
        if let Some(db) = use_target(t).filter(|_| entry.sql.is_empty() && t.ends_with(';')) {
            entry.schema = Some(db);
            continue;
        }
        if !entry.sql.is_empty() {
            entry.sql.push('\n');
        }
        entry.sql.push_str(line);
    }
    if !entry.sql.is_empty() {
        entry.finish(&mut s);
    }
    s.finish("slow")
}

#[derive(Default)]
struct SlowEntry {
    thread: u64,
    user: String,
    schema: Option<String>,
    took_us: Option<u64>,
    at: Option<i64>,
    sql: String,
}

impl SlowEntry {
    fn header(&mut self, h: &str) {
        let field = |name: &str| h.split_whitespace().skip_while(|w| *w != name).nth(1).map(str::to_owned);
        if let Some(u) = h.strip_prefix("User@Host: ") {
            self.user = u.split('[').next().unwrap_or_default().trim().to_owned();
            if let Some(id) = field("Id:").and_then(|v| v.parse().ok()) {
                self.thread = id; // MySQL puts the thread id here
            }
        }
        if let Some(id) = field("Thread_id:").and_then(|v| v.parse().ok()) {
            self.thread = id;
        }
        if let Some(db) = field("Schema:") {
            self.schema = Some(db);
        }
        if let Some(q) = field("Query_time:").and_then(|v| v.parse::<f64>().ok()) {
            self.took_us = Some((q * 1e6) as u64);
        }
    }

    fn finish(&mut self, s: &mut Sessions) {
        let sql = self.sql.trim().trim_end_matches(';').to_owned();
        self.sql.clear();
        if let Some(db) = self.schema.clone() {
            s.schema.insert(self.thread, db);
        }
        let at = self.at.or(s.t0).unwrap_or(0);
        s.push(self.thread, &self.user.clone(), at, sql, self.took_us.take());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap; the lint guards library code
mod tests {
    use super::*;

    #[test]
    fn general_log_sessions_times_and_multiline_statements() {
        let log = "/usr/sbin/mariadbd, Version: 10.11.6-MariaDB-log (Debian). started with:\n\
                   Tcp port: 3306  Unix socket: /run/mysqld/mysqld.sock\n\
                   Time\t\t    Id Command\tArgument\n\
                   241201 16:23:04\t    31 Connect\tapp@localhost on shop using TCP/IP\n\
                   \t\t    31 Query\tSELECT 1\n\
                   \t\t    32 Connect\tapp@localhost on  using TCP/IP\n\
                   241201 16:23:06\t    31 Query\tUPDATE t\nSET v = 2\n\
                   \t\t    32 Init DB\tother\n\
                   \t\t    32 Prepare\tSELECT ?\n\
                   \t\t    32 Execute\tSELECT 5\n\
                   \t\t    31 Quit\t\n";
        let w = parse_general(log).unwrap();
        assert_eq!(w.sessions.len(), 2);
        let a = &w.sessions[0];
        assert_eq!((a.id, a.user.as_str()), (31, "app"));
        assert_eq!(
            a.events.iter().map(|e| e.sql.as_str()).collect::<Vec<_>>(),
            ["SELECT 1", "UPDATE t\nSET v = 2"]
        );
        assert_eq!((a.events[0].offset_us, a.events[1].offset_us), (0, 2_000_000));
        assert_eq!(a.events[0].schema, "shop");
        assert!(a.events[1].write);
        let b = &w.sessions[1];
        assert_eq!((b.events[0].sql.as_str(), b.events[0].schema.as_str()), ("SELECT 5", "other"));
        let iso = "2024-12-01T16:23:04.500000Z\t   7 Query\tSELECT 2\n2024-12-01T16:23:05.000000Z\t   7 Query\tSELECT 3\n";
        let w = parse_general(iso).unwrap();
        assert_eq!(w.sessions[0].events[1].offset_us, 500_000);
        assert!(matches!(parse_general("just some text\n"), Err(WorkloadError::NoStatements("general"))));
        // Odd bytes where numbers belong: an error or a skipped line, never a panic.
        for junk in [
            "2024-12-01T16:23:04.a€€€€€\t 7 Query\tx",
            "241201 1€:2:3\t 7 Query\tx",
            "\t\t€ Query\tx",
            "2024-1€-01T",
        ] {
            let _ = parse_general(junk);
            let _ = parse_slow(junk);
        }
    }

    /// Found by the logs fuzz target: times and timestamps whose µs overflow an i64 panicked (debug
    /// builds) or wrapped into nonsense offsets (release).
    #[test]
    fn out_of_range_times_are_not_times() {
        let w = parse_slow("SET timestamp=9223372036854775807;\nSELECT 1;\n").unwrap();
        assert_eq!(w.sessions[0].events[0].offset_us, 0);
        let w = parse_slow(
            "SET timestamp=-9223372036854775;\nSELECT 1;\n# Query_time: 1\nSET timestamp=9223372036854;\nSELECT 2;\n",
        )
        .unwrap();
        assert_eq!(w.sessions[0].events.len(), 2);
        for junk in [
            "2024-01-01T99999999999999:00:00Z\t 7 Query\tSELECT 1\n",
            "2024-99999999999999999-01T00:00:00Z\t 7 Query\tSELECT 1\n",
            "241301 16:23:04\t 7 Query\tSELECT 1\n",
            "241201 99999999999999:00:00\t 7 Query\tSELECT 1\n",
        ] {
            assert!(parse_general(junk).is_err(), "{junk:?} has no statement line");
        }
        let w = parse_general(
            "0001-01-01T00:00:00Z\t 7 Query\tSELECT 1\n9999-12-31T23:59:60.999999Z\t 7 Query\tSELECT 2\n",
        )
        .unwrap();
        assert!(w.sessions[0].events[1].offset_us > 0);
    }

    #[test]
    fn slow_log_entries() {
        let log = "# Time: 241201 16:23:05\n\
                   # User@Host: app[app] @ localhost [127.0.0.1]\n\
                   # Thread_id: 31  Schema: shop  QC_hit: No\n\
                   # Query_time: 0.250000  Lock_time: 0.000010  Rows_sent: 1  Rows_examined: 1\n\
                   use shop;\n\
                   SET timestamp=1733070185;\n\
                   SELECT *\nFROM t;\n\
                   # User@Host: app[app] @ localhost [127.0.0.1]\n\
                   # Thread_id: 31  Schema: shop  QC_hit: No\n\
                   # Query_time: 0.001  Lock_time: 0  Rows_sent: 0  Rows_examined: 0\n\
                   SET timestamp=1733070187;\n\
                   DELETE FROM t WHERE id = 3;\n";
        let w = parse_slow(log).unwrap();
        let e = &w.sessions[0].events;
        assert_eq!(e.len(), 2);
        assert_eq!(
            (e[0].sql.as_str(), e[0].schema.as_str(), e[0].captured_us),
            ("SELECT *\nFROM t", "shop", Some(250_000))
        );
        assert_eq!(e[1].offset_us, 2_000_000);
        assert!(e[1].write);
    }
}
