//! The server's session-state tracking is how sluice knows each backend connection's state (see
//! `backend::vars`): `session_track_system_variables`, `session_track_schema`,
//! `session_track_state_change` and (MySQL) `session_track_gtids` stay as sluice set them. A client
//! `SET` of one of them would blind sluice to the session's later changes (its `sql_mode`, so its
//! lexer; its autocommit; its schema), so it is refused with a clear error rather than let through.

use crate::core::error::Error;

/// The tracking variables sluice relies on.
const RELIED_ON: &[&str] = &[
    "session_track_system_variables",
    "session_track_schema",
    "session_track_state_change",
    "session_track_gtids",
];

/// A session-scope `SET` of a tracking variable sluice relies on (`GLOBAL` is left to the server: it
/// only changes the defaults of new connections, and sluice sets its own). `normalized` is the lexer's
/// text.
pub(crate) fn check_set(normalized: &str) -> Result<(), Error> {
    if !normalized.starts_with("set ") || !normalized.contains("session_track_") {
        return Ok(());
    }
    let words: Vec<&str> = normalized.split(|c: char| c.is_whitespace() || c == ',' || c == '=').collect();
    for (i, w) in words.iter().enumerate() {
        let (scope_global, name) = match w.strip_prefix("@@global.") {
            Some(n) => (true, n),
            None => (
                false,
                w.strip_prefix("@@session.")
                    .or_else(|| w.strip_prefix("@@local."))
                    .or_else(|| w.strip_prefix("@@"))
                    .unwrap_or(w),
            ),
        };
        let global = scope_global || (i > 0 && words[i - 1] == "global");
        if !global && RELIED_ON.contains(&name) {
            return Err(Error::reply(
                sluice_protocol::constants::errors::NOT_SUPPORTED_YET,
                format!(
                    "sluice does not let clients change {name}: it keeps the server's session-state tracking on for its backend connections, which is how it knows each session's variables, schema and transaction state; leave {name} as the server sets it"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_set;

    fn refused(sql: &str) -> bool {
        check_set(&sluice_router::lexer::lex(sql.as_bytes()).text).is_err()
    }

    #[test]
    fn session_sets_of_relied_on_tracking_are_refused() {
        assert!(refused("SET session_track_system_variables = 'autocommit'"));
        assert!(refused("SET SESSION session_track_schema = OFF"));
        assert!(refused("set @@session_track_state_change=0"));
        assert!(refused("SET @@session.session_track_gtids = OWN_GTID"));
        assert!(refused("SET autocommit = 1, session_track_system_variables = ''"));
        assert!(!refused("SET GLOBAL session_track_system_variables = '*'"));
        assert!(!refused("SET @@global.session_track_schema = ON"));
        assert!(!refused("SET session_track_transaction_info = STATE"));
        assert!(!refused("SET @session_track_schema = 1"));
        assert!(!refused("SELECT @@session_track_schema"));
    }
}
