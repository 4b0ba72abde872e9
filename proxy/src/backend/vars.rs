//! Tracked session variables: the server reports their new values in every OK packet
//! (`session_track_system_variables`), so sluice always knows a backend connection's values and a
//! client session's, and makes a borrowed connection match the session with one `SET` of only the
//! variables that differ. Anything else a statement changes in the session is reported as a bare
//! "state changed" and pins the session.

use bytes::Bytes;

/// Server flavour: some tracked variables have other names on MySQL 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// MariaDB (`tx_isolation`, `tx_read_only`, `max_statement_time`, `last_gtid`).
    MariaDb,
    /// MySQL 8 (`transaction_isolation`, `transaction_read_only`, `max_execution_time`).
    MySql,
}

impl Flavor {
    /// `mariadb` or `mysql` (SHOW BACKENDS, /status).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MariaDb => "mariadb",
            Self::MySql => "mysql",
        }
    }

    /// From the server's version string.
    pub fn from_version(v: &[u8]) -> Self {
        if v.windows(7).any(|w| w.eq_ignore_ascii_case(b"mariadb")) { Self::MariaDb } else { Self::MySql }
    }

    /// The server's name for tracked variable `i`.
    pub fn name(self, i: usize) -> &'static str {
        match (self, TRACKED[i]) {
            (Self::MySql, "tx_isolation") => "transaction_isolation",
            (Self::MySql, "tx_read_only") => "transaction_read_only",
            (Self::MySql, "max_statement_time") => "max_execution_time",
            (_, n) => n,
        }
    }

    /// The index of a variable the server reported, by its name on this flavour.
    pub fn index(self, name: &[u8]) -> Option<usize> {
        (0..TRACKED.len()).find(|&i| self.name(i).as_bytes().eq_ignore_ascii_case(name))
    }

    /// The variable that reports the session's last committed GTID (not synced: read-only).
    pub fn gtid_variable(self) -> Option<&'static str> {
        match self {
            Self::MariaDb => Some("last_gtid"),
            Self::MySql => None,
        }
    }

    /// The statement that turns tracking on for a new backend connection.
    pub fn tracking_statement(self) -> String {
        let mut names: Vec<&str> = (0..TRACKED.len()).map(|i| self.name(i)).collect();
        if let Some(g) = self.gtid_variable() {
            names.push(g);
        }
        let gtids = match self {
            Self::MariaDb => "",
            Self::MySql => ", session_track_gtids = OWN_GTID",
        };
        format!(
            "SET SESSION session_track_system_variables = '{}', session_track_state_change = ON, session_track_schema = ON{gtids}",
            names.join(",")
        )
    }

    /// The statement that reads every tracked variable's value (in the format tracking reports).
    pub fn show_statement(self) -> String {
        let names: Vec<String> = (0..TRACKED.len()).map(|i| format!("'{}'", self.name(i))).collect();
        format!("SHOW SESSION VARIABLES WHERE Variable_name IN ({})", names.join(","))
    }
}

/// The session variables sluice tracks and syncs, in the order a `SET` restores them (character sets
/// before the collation, which depends on them). Names are MariaDB's; [`Flavor::name`] maps them.
pub const TRACKED: &[&str] = &[
    "autocommit",
    "character_set_client",
    "character_set_connection",
    "character_set_results",
    "collation_connection",
    "time_zone",
    "sql_mode",
    "tx_isolation",
    "tx_read_only",
    "max_statement_time",
    "group_concat_max_len",
    "foreign_key_checks",
    "unique_checks",
    "sql_select_limit",
    "sql_auto_is_null",
    "sql_safe_updates",
    "div_precision_increment",
    "lc_time_names",
];

/// Index of `autocommit` in [`TRACKED`].
pub const AUTOCOMMIT: usize = 0;
/// Index of `character_set_client` in [`TRACKED`].
pub const CHARSET_CLIENT: usize = 1;
/// Index of `character_set_connection` in [`TRACKED`].
pub const CHARSET_CONNECTION: usize = 2;
/// Index of `character_set_results` in [`TRACKED`].
pub const CHARSET_RESULTS: usize = 3;
/// Index of `collation_connection` in [`TRACKED`].
pub const COLLATION_CONNECTION: usize = 4;
/// Index of `sql_mode` in [`TRACKED`].
pub const SQL_MODE: usize = 6;
/// The sql_mode flags with lower bits than IGNORE_SPACE (MariaDB and MySQL alike).
const SQL_MODES_BEFORE_IGNORE_SPACE: &[&str] = &["REAL_AS_FLOAT", "PIPES_AS_CONCAT", "ANSI_QUOTES"];
/// Index of `tx_isolation` (MySQL: `transaction_isolation`) in [`TRACKED`].
pub const TX_ISOLATION: usize = 7;
/// Index of `tx_read_only` (MySQL: `transaction_read_only`) in [`TRACKED`].
pub const TX_READ_ONLY: usize = 8;
/// Index of `sql_auto_is_null` in [`TRACKED`].
pub const SQL_AUTO_IS_NULL: usize = 14;

/// Values of the tracked variables (`None`: not known yet).
#[derive(Debug, Clone, Default)]
pub struct Vars(pub Vec<Option<Bytes>>);

/// Equal by content; two `Bytes` sharing one allocation are equal without reading them.
impl PartialEq for Vars {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self.0.iter().zip(&other.0).all(|(a, b)| match (a, b) {
                (Some(a), Some(b)) => same_value(a, b),
                (None, None) => true,
                _ => false,
            })
    }
}

impl Eq for Vars {}

fn same_value(a: &Bytes, b: &Bytes) -> bool {
    a.len() == b.len() && (a.as_ptr() == b.as_ptr() || a[..] == b[..])
}

impl Vars {
    /// All unknown.
    pub fn unknown() -> Self {
        Self(vec![None; TRACKED.len()])
    }

    /// Whether these values (a borrowed connection's) are `want`'s (a session's), as `==` says. A value
    /// equal by content but held in another allocation is replaced by `want`'s (the same bytes), so
    /// the next comparison of the two, on every statement that borrows this connection, compares a
    /// pointer per variable instead of the bytes (a connection's values are parsed from its own
    /// packets, a session's from another connection's).
    pub fn matches_adopting(&mut self, want: &Vars) -> bool {
        if self.0.len() != want.0.len() {
            return false;
        }
        for (have, want) in self.0.iter_mut().zip(&want.0) {
            match (have.as_ref(), want) {
                (Some(h), Some(w)) if h.len() == w.len() && h.as_ptr() == w.as_ptr() => {}
                (Some(h), Some(w)) if h[..] == w[..] => *have = Some(w.clone()),
                (None, None) => {}
                _ => return false,
            }
        }
        true
    }

    /// Sets variable `i`.
    pub fn set(&mut self, i: usize, value: Bytes) {
        if let Some(slot) = self.0.get_mut(i) {
            *slot = Some(value);
        }
    }

    /// Whether `autocommit` is on (`None`: the server did not report it).
    pub fn autocommit(&self) -> Option<bool> {
        let v = self.0.get(AUTOCOMMIT)?.as_deref()?;
        Some(v.eq_ignore_ascii_case(b"on") || v == b"1")
    }

    /// Whether `sql_auto_is_null` is on: `WHERE auto_increment_column IS NULL` then finds the row of
    /// the session's LAST_INSERT_ID().
    pub fn sql_auto_is_null(&self) -> bool {
        self.0
            .get(SQL_AUTO_IS_NULL)
            .and_then(|v| v.as_deref())
            .is_some_and(|v| v.eq_ignore_ascii_case(b"on") || v == b"1")
    }

    /// Whether the session's transactions are READ ONLY by default (`tx_read_only`).
    pub fn tx_read_only(&self) -> bool {
        self.0
            .get(TX_READ_ONLY)
            .and_then(|v| v.as_deref())
            .is_some_and(|v| v.eq_ignore_ascii_case(b"on") || v == b"1")
    }

    /// The session's isolation level as the server reports it (`REPEATABLE-READ`…).
    pub fn tx_isolation(&self) -> Option<&Bytes> {
        self.0.get(TX_ISOLATION)?.as_ref()
    }

    /// The session's `sql_mode`, as the server reported it.
    pub fn sql_mode(&self) -> Option<&[u8]> {
        self.0.get(SQL_MODE)?.as_deref()
    }

    /// Adds IGNORE_SPACE (what a client's CLIENT_IGNORE_SPACE does at login) to `sql_mode` where the
    /// server lists it, so the value compares equal to what the server reports after a `SET`.
    pub fn add_ignore_space(&mut self) {
        const IGNORE_SPACE: &str = "IGNORE_SPACE";
        let Some(have) = self.sql_mode() else { return };
        let have = String::from_utf8_lossy(have).into_owned();
        let mut parts: Vec<&str> = have.split(',').filter(|p| !p.is_empty()).collect();
        if parts.iter().any(|p| p.eq_ignore_ascii_case(IGNORE_SPACE)) {
            return;
        }
        // Servers list modes by bit: IGNORE_SPACE comes right after these three, before all others.
        let at = parts.iter().take_while(|p| SQL_MODES_BEFORE_IGNORE_SPACE.contains(p)).count();
        parts.insert(at, IGNORE_SPACE);
        self.set(SQL_MODE, Bytes::from(parts.join(",")));
    }

    /// The session's `character_set_client`.
    pub fn charset_client(&self) -> Option<&[u8]> {
        self.0.get(CHARSET_CLIENT)?.as_deref()
    }

    /// The `SET` that gives a connection with `have` this session's values; `None` when nothing differs.
    /// Variables this session does not know are left alone.
    pub fn sync_statement(&self, have: &Vars, flavor: Flavor) -> Option<String> {
        let mut out = String::new();
        for (i, want) in self.0.iter().enumerate() {
            let Some(want) = want else { continue };
            if have.0.get(i).and_then(|v| v.as_ref()) == Some(want) {
                continue;
            }
            out.push_str(if out.is_empty() { "SET SESSION " } else { ", " });
            out.push_str(flavor.name(i));
            out.push_str(" = ");
            push_value(&mut out, i, want);
        }
        (!out.is_empty()).then_some(out)
    }
}

/// A value as SQL: numbers bare, an empty character set as NULL, anything else quoted.
fn push_value(out: &mut String, i: usize, v: &[u8]) {
    let s = String::from_utf8_lossy(v);
    let numeric =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') && s.bytes().any(|b| b != b'.');
    if numeric {
        out.push_str(&s);
    } else if s.is_empty() && TRACKED[i].starts_with("character_set") {
        out.push_str("NULL");
    } else {
        out.push('\'');
        for c in s.chars() {
            match c {
                '\'' => out.push_str("''"),
                '\\' => out.push_str("\\\\"),
                c => out.push(c),
            }
        }
        out.push('\'');
    }
}

/// Whether `name` (as written in a client's SET, lower case, without `@@session.`) is tracked here.
pub fn is_tracked_name(name: &str, flavor: Flavor) -> bool {
    matches!(name, "names" | "character set" | "charset")
        || flavor.index(name.as_bytes()).is_some()
        || matches!(
            name,
            "transaction_isolation"
                | "transaction_read_only"
                | "max_execution_time"
                | "session_track_system_variables"
        ) && flavor == Flavor::MySql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_sets_only_what_differs_in_order_and_quoted() {
        let mut want = Vars::unknown();
        let mut have = Vars::unknown();
        for (i, v) in [(1, "utf8mb4"), (4, "utf8mb4_general_ci"), (5, "SYSTEM"), (13, "18446744073709551615")]
        {
            have.set(i, Bytes::from(v));
            want.set(i, Bytes::from(v));
        }
        assert_eq!(want.sync_statement(&have, Flavor::MariaDb), None);
        want.set(5, Bytes::from_static(b"+02:00"));
        want.set(6, Bytes::from_static(b"ANSI_QUOTES,O'NEIL"));
        want.set(9, Bytes::from_static(b"1.500000"));
        want.set(3, Bytes::new());
        assert_eq!(
            want.sync_statement(&have, Flavor::MariaDb).unwrap(),
            "SET SESSION character_set_results = NULL, time_zone = '+02:00', sql_mode = 'ANSI_QUOTES,O''NEIL', max_statement_time = 1.500000"
        );
        assert_eq!(
            want.sync_statement(&have, Flavor::MySql).unwrap(),
            "SET SESSION character_set_results = NULL, time_zone = '+02:00', sql_mode = 'ANSI_QUOTES,O''NEIL', max_execution_time = 1.500000"
        );
    }

    #[test]
    fn matching_adopts_equal_values_and_stops_at_a_difference() {
        let mut want = Vars::unknown();
        let mut have = Vars::unknown();
        want.set(1, Bytes::from("utf8mb4".to_owned()));
        have.set(1, Bytes::from("utf8mb4".to_owned()));
        assert_ne!(want.0[1].as_deref().map(<[u8]>::as_ptr), have.0[1].as_deref().map(<[u8]>::as_ptr));
        assert!(have.matches_adopting(&want));
        assert_eq!(want.0[1].as_deref().map(<[u8]>::as_ptr), have.0[1].as_deref().map(<[u8]>::as_ptr));
        assert_eq!(have, want);
        want.set(5, Bytes::from_static(b"+02:00"));
        assert!(!have.matches_adopting(&want), "a value the connection lacks");
        have.set(5, Bytes::from_static(b"SYSTEM"));
        assert!(!have.matches_adopting(&want), "a different value");
        assert_ne!(have, want);
        have.set(5, Bytes::from_static(b"+02:00"));
        assert!(have.matches_adopting(&want));
    }

    #[test]
    fn indices_name_their_variables() {
        assert_eq!(TRACKED[AUTOCOMMIT], "autocommit");
        assert_eq!(TRACKED[CHARSET_CLIENT], "character_set_client");
        assert_eq!(TRACKED[SQL_MODE], "sql_mode");
        assert_eq!(TRACKED[CHARSET_CONNECTION], "character_set_connection");
        assert_eq!(TRACKED[COLLATION_CONNECTION], "collation_connection");
        assert_eq!(TRACKED[SQL_AUTO_IS_NULL], "sql_auto_is_null");
        assert_eq!(TRACKED[TX_READ_ONLY], "tx_read_only");
    }

    #[test]
    fn ignore_space_goes_where_the_server_lists_it() {
        let mut v = Vars::unknown();
        v.add_ignore_space();
        assert_eq!(v.sql_mode(), None, "an unknown sql_mode stays unknown");
        for (have, want) in [
            (
                "STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION",
                "IGNORE_SPACE,STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION",
            ),
            ("", "IGNORE_SPACE"),
            (
                "PIPES_AS_CONCAT,ANSI_QUOTES,ONLY_FULL_GROUP_BY",
                "PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE,ONLY_FULL_GROUP_BY",
            ),
            (
                "REAL_AS_FLOAT,PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE,ANSI",
                "REAL_AS_FLOAT,PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE,ANSI",
            ),
        ] {
            v.set(SQL_MODE, Bytes::from(have));
            v.add_ignore_space();
            assert_eq!(v.sql_mode(), Some(want.as_bytes()), "{have}");
        }
    }

    #[test]
    fn flavours_and_names() {
        assert_eq!(Flavor::from_version(b"10.11.19-MariaDB-log"), Flavor::MariaDb);
        assert_eq!(Flavor::from_version(b"8.0.36"), Flavor::MySql);
        assert_eq!(Flavor::MySql.index(b"transaction_isolation"), Flavor::MariaDb.index(b"tx_isolation"));
        assert!(is_tracked_name("sql_mode", Flavor::MariaDb));
        assert!(is_tracked_name("names", Flavor::MariaDb));
        assert!(!is_tracked_name("innodb_lock_wait_timeout", Flavor::MariaDb));
        assert!(Flavor::MariaDb.tracking_statement().contains("last_gtid"));
    }
}
