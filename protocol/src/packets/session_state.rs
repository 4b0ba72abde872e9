//! Session-state changes carried by an OK packet when SESSION_TRACK is on (`session_track_*` server
//! variables): system variables, the schema, "state changed", GTIDs, transaction state. sluice reads
//! them to learn what a statement did to its backend session instead of guessing from the SQL.

use bytes::Bytes;

use super::OkPacket;
use crate::buf::Reader;
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
}
