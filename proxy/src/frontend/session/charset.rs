//! Client character sets sluice refuses: multibyte encodings whose second byte can be 0x5C (`\`) or a
//! quote (big5, gbk, sjis, cp932, gb18030), where sluice's lexer could split a statement differently
//! from the server. Refused at login and in `SET NAMES` / `SET CHARACTER SET` / `SET character_set_client`
//! with a clear error rather than guessed.

use crate::core::error::Error;

/// The refused character sets.
const UNSAFE: &[&str] = &["big5", "gbk", "sjis", "cp932", "gb18030"];

/// Collation ids (as a handshake carries them) of the refused character sets: big5 1, 84; sjis 13, 88;
/// gbk 28, 87; cp932 95, 96; gb18030 248–250 (MySQL).
const UNSAFE_COLLATIONS: &[u8] = &[1, 84, 13, 88, 28, 87, 95, 96, 248, 249, 250];

/// The error for a client that asks for `charset`.
fn refuse(charset: &str) -> Error {
    Error::reply(
        sluice_protocol::constants::errors::NOT_SUPPORTED_YET,
        format!(
            "sluice does not support the client character set '{charset}': its multibyte characters can hide a quote or backslash from sluice's statement parser; use utf8mb4 (or latin1) as the connection character set"
        ),
    )
}

/// A handshake or COM_CHANGE_USER collation id sluice refuses.
pub(crate) fn check_collation(id: u8) -> Result<(), Error> {
    if UNSAFE_COLLATIONS.contains(&id) {
        let name = match id {
            1 | 84 => "big5",
            13 | 88 => "sjis",
            28 | 87 => "gbk",
            95 | 96 => "cp932",
            _ => "gb18030",
        };
        return Err(refuse(name));
    }
    Ok(())
}

/// A `SET` that would make the client character set one sluice refuses (`SET NAMES gbk`,
/// `SET CHARACTER SET 'big5'`, `SET character_set_client = sjis`, `SET @@session.character_set_client…`).
/// `normalized` is the lexer's text (literals as `?`), `sql` the statement as sent.
pub(crate) fn check_set(normalized: &str, sql: &[u8]) -> Result<(), Error> {
    if !normalized.starts_with("set ")
        || !(normalized.contains("names")
            || normalized.contains("character set")
            || normalized.contains("charset")
            || normalized.contains("character_set_client"))
    {
        return Ok(());
    }
    let lower = String::from_utf8_lossy(sql).to_ascii_lowercase();
    for cs in UNSAFE {
        let named = lower.match_indices(cs).any(|(at, _)| {
            let before = lower[..at].chars().next_back();
            let after = lower[at + cs.len()..].chars().next();
            let boundary = |c: Option<char>| !c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            boundary(before) && boundary(after)
        });
        if named {
            return Err(refuse(cs));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_multibyte_client_charsets_only() {
        for sql in [
            "SET NAMES gbk",
            "set names 'big5'",
            "SET CHARACTER SET sjis",
            "SET character_set_client = cp932",
            "SET @@session.character_set_client='gb18030', sql_mode=''",
            "SET NAMES `gbk` COLLATE gbk_bin",
        ] {
            let l = sluice_router::lexer::lex(sql.as_bytes());
            assert!(check_set(&l.text, sql.as_bytes()).is_err(), "{sql}");
        }
        for sql in [
            "SET NAMES utf8mb4",
            "SET @note = 'gbk'",
            "SET character_set_results = utf8mb4",
            "SELECT 'gbk'",
            "SET NAMES gbkx",
        ] {
            let l = sluice_router::lexer::lex(sql.as_bytes());
            assert!(check_set(&l.text, sql.as_bytes()).is_ok(), "{sql}");
        }
        assert!(check_collation(28).is_err());
        assert!(check_collation(45).is_ok()); // utf8mb4_general_ci
        assert!(check_collation(8).is_ok()); // latin1
    }
}
