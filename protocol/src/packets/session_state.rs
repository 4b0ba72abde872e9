//! Session-state changes carried by an OK packet when SESSION_TRACK is on (`session_track_*` server
//! variables): system variables, the schema, "state changed", GTIDs, transaction state. sluice reads
//! them to learn what a statement did to its backend session instead of guessing from the SQL.

use bytes::{BufMut, Bytes, BytesMut};

use super::OkPacket;
use crate::buf::{Reader, put_lenenc_bytes};
use crate::error::Result;

/// SESSION_TRACK_SYSTEM_VARIABLES.
const SYSTEM_VARIABLES: u8 = 0;
/// SESSION_TRACK_SCHEMA.
const SCHEMA: u8 = 1;
/// SESSION_TRACK_STATE_CHANGE.
const STATE_CHANGE: u8 = 2;
/// SESSION_TRACK_GTIDS.
const GTIDS: u8 = 3;

/// One tracked change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateChange {
    /// A tracked system variable now has this value.
    Variable {
        /// Variable name as the server reports it (lower case).
        name: Bytes,
        /// Its value, as text.
        value: Bytes,
    },
    /// The default schema changed.
    Schema(Bytes),
    /// Something in the session changed (`session_track_state_change`): user variables, temporary
    /// tables, prepared statements, any system variable — tracked or not.
    StateChanged,
    /// GTIDs (MySQL 8 `session_track_gtids`), raw.
    Gtids(Bytes),
    /// Another kind (transaction characteristics/state), raw.
    Other(u8, Bytes),
}

/// The session-state changes in an OK packet's payload (empty when there are none).
pub fn session_changes(ok_payload: &Bytes, capabilities: u32) -> Result<Vec<StateChange>> {
    let ok = OkPacket::parse(ok_payload, capabilities)?;
    match ok.session_state {
        Some(s) => parse_state(&s),
        None => Ok(Vec::new()),
    }
}

/// Parses the session-state block (without its outer length).
pub fn parse_state(block: &Bytes) -> Result<Vec<StateChange>> {
    let mut out = Vec::new();
    let mut r = Reader::new(block, "session state");
    while r.remaining() > 0 {
        let kind = r.u8()?;
        let data = r.lenenc_bytes()?;
        let mut d = Reader::new(&data, "session state entry");
        out.push(match kind {
            SYSTEM_VARIABLES => {
                let name = d.lenenc_bytes()?;
                let value = d.lenenc_bytes()?;
                StateChange::Variable { name, value }
            }
            SCHEMA => StateChange::Schema(d.lenenc_bytes()?),
            STATE_CHANGE => StateChange::StateChanged,
            GTIDS => StateChange::Gtids(data.clone()),
            k => StateChange::Other(k, data.clone()),
        });
    }
    Ok(out)
}

/// The OK payload as a client sees it when the server tracks for it only what a new session
/// tracks by default — the schema and these system variables (MariaDB's and MySQL's default
/// `session_track_system_variables`); no state-change, GTID or transaction entries, and no
/// SESSION_STATE_CHANGED flag when nothing is left. `None` when the payload already is that (or
/// is no OK packet). A proxy whose backend connections track more must not pass the rest on: a
/// driver that never asked for them may misread them (the Node mariadb connector reads the entry
/// after an unknown one as the schema).
pub fn ok_with_default_tracking(payload: &Bytes, capabilities: u32) -> Option<Bytes> {
    const DEFAULT_VARIABLES: [&[u8]; 5] = [
        b"autocommit",
        b"character_set_client",
        b"character_set_connection",
        b"character_set_results",
        b"time_zone",
    ];
    let mut ok = OkPacket::parse(payload, capabilities).ok()?;
    let block = ok.session_state.as_ref()?;
    let mut kept = BytesMut::new();
    let mut dropped = false;
    let mut r = Reader::new(block, "session state");
    while r.remaining() > 0 {
        let kind = r.u8().ok()?;
        let data = r.lenenc_bytes().ok()?;
        let keep = match kind {
            SCHEMA => true,
            SYSTEM_VARIABLES => Reader::new(&data, "session state entry")
                .lenenc_bytes()
                .is_ok_and(|name| DEFAULT_VARIABLES.iter().any(|v| name.eq_ignore_ascii_case(v))),
            _ => false,
        };
        if keep {
            kept.put_u8(kind);
            put_lenenc_bytes(&mut kept, &data);
        } else {
            dropped = true;
        }
    }
    if !dropped {
        return None;
    }
    ok.session_state = (!kept.is_empty()).then(|| kept.freeze());
    Some(ok.to_bytes(capabilities))
}

#[cfg(test)]
mod tests {
    use bytes::{BufMut, BytesMut};

    use super::*;
    use crate::buf::put_lenenc_bytes;
    use crate::constants::{caps, status};

    fn entry(out: &mut BytesMut, kind: u8, data: &[u8]) {
        out.put_u8(kind);
        put_lenenc_bytes(out, data);
    }

    #[test]
    fn variables_schema_and_state_change() {
        let mut var = BytesMut::new();
        put_lenenc_bytes(&mut var, b"time_zone");
        put_lenenc_bytes(&mut var, b"+02:00");
        let mut schema = BytesMut::new();
        put_lenenc_bytes(&mut schema, b"shop");
        let mut block = BytesMut::new();
        entry(&mut block, SYSTEM_VARIABLES, &var);
        entry(&mut block, SCHEMA, &schema);
        entry(&mut block, STATE_CHANGE, b"\x011");
        let ok = OkPacket {
            status: status::AUTOCOMMIT | status::SESSION_STATE_CHANGED,
            session_state: Some(block.freeze()),
            ..OkPacket::default()
        };
        let payload = ok.to_bytes(caps::SESSION_TRACK);
        let changes = session_changes(&payload, caps::SESSION_TRACK).unwrap();
        assert_eq!(
            changes,
            vec![
                StateChange::Variable {
                    name: Bytes::from_static(b"time_zone"),
                    value: Bytes::from_static(b"+02:00")
                },
                StateChange::Schema(Bytes::from_static(b"shop")),
                StateChange::StateChanged,
            ]
        );
    }

    #[test]
    fn no_state_and_truncated_state() {
        let ok = OkPacket { status: status::AUTOCOMMIT, ..OkPacket::default() };
        assert!(session_changes(&ok.to_bytes(caps::SESSION_TRACK), caps::SESSION_TRACK).unwrap().is_empty());
        // An entry whose length runs past the block is an error, not a panic.
        assert!(parse_state(&Bytes::from_static(b"\x00\x09ab")).is_err());
    }

    #[test]
    fn clients_see_only_the_default_trackers() {
        let caps = caps::SESSION_TRACK | caps::PROTOCOL_41;
        let var = |name: &[u8], value: &[u8]| {
            let mut d = BytesMut::new();
            put_lenenc_bytes(&mut d, name);
            put_lenenc_bytes(&mut d, value);
            d
        };
        let mut schema = BytesMut::new();
        put_lenenc_bytes(&mut schema, b"nb");
        let mut block = BytesMut::new();
        entry(&mut block, SCHEMA, &schema);
        entry(&mut block, STATE_CHANGE, b"1");
        entry(&mut block, SYSTEM_VARIABLES, &var(b"last_gtid", b"0-1-9"));
        entry(&mut block, SYSTEM_VARIABLES, &var(b"autocommit", b"OFF"));
        let ok = |state: Option<Bytes>| OkPacket {
            status: status::AUTOCOMMIT | if state.is_some() { status::SESSION_STATE_CHANGED } else { 0 },
            session_state: state,
            ..OkPacket::default()
        };
        let sent = ok(Some(block.freeze())).to_bytes(caps);
        let seen = ok_with_default_tracking(&sent, caps).expect("rewritten");
        let changes = session_changes(&seen, caps).expect("parses");
        assert_eq!(
            changes,
            vec![
                StateChange::Schema(Bytes::from_static(b"nb")),
                StateChange::Variable {
                    name: Bytes::from_static(b"autocommit"),
                    value: Bytes::from_static(b"OFF")
                },
            ]
        );
        assert_eq!(ok_with_default_tracking(&seen, caps), None, "already what a client sees");
        // Only entries a client never asked for: no state block, no SESSION_STATE_CHANGED.
        let mut gtid_only = BytesMut::new();
        entry(&mut gtid_only, SYSTEM_VARIABLES, &var(b"last_gtid", b"0-1-10"));
        let sent = ok(Some(gtid_only.freeze())).to_bytes(caps);
        let seen = ok_with_default_tracking(&sent, caps).expect("rewritten");
        assert_eq!(seen, ok(None).to_bytes(caps));
        assert_eq!(OkPacket::parse(&seen, caps).expect("ok").status & status::SESSION_STATE_CHANGED, 0);
    }
}
