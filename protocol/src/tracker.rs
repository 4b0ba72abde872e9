//! Response boundary tracking: classifies each packet of a backend's response to one command and says
//! when the response is complete, without decoding rows. Handles text and binary result sets, several
//! result sets (SERVER_MORE_RESULTS_EXISTS), LOCAL INFILE requests, COM_STMT_PREPARE responses, cursors,
//! and DEPRECATE_EOF on and off (the backend connection's setting, not the client's).

use bytes::{BufMut, Bytes, BytesMut};

use crate::buf::lenenc_at;
use crate::constants::{command, header, status};
use crate::error::{ProtocolError, Result};
use crate::packets::{EofPacket, OkPacket, is_eof, is_result_terminator, status_of};

/// The shape of the response a command gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// COM_QUERY, COM_STMT_EXECUTE: OK, ERR, a LOCAL INFILE request or result sets, possibly several.
    ResultSets,
    /// COM_STMT_PREPARE: a prepare-OK with parameter and column definitions, or ERR.
    Prepare,
    /// COM_FIELD_LIST: column definitions then a terminator, or ERR.
    FieldList,
    /// COM_STMT_FETCH: rows then a terminator, or ERR.
    Rows,
    /// One OK, EOF or ERR (COM_PING, COM_INIT_DB, COM_RESET_CONNECTION, COM_STMT_RESET, COM_SET_OPTION…).
    Ok,
    /// One packet of any content (COM_STATISTICS's string).
    Single,
    /// No response at all (COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA, COM_QUIT).
    Nothing,
}

impl Expect {
    /// The response shape of a command byte.
    pub fn for_command(cmd: u8) -> Self {
        match cmd {
            command::QUERY | command::STMT_EXECUTE => Self::ResultSets,
            command::STMT_PREPARE => Self::Prepare,
            command::FIELD_LIST => Self::FieldList,
            command::STMT_FETCH => Self::Rows,
            command::STATISTICS => Self::Single,
            command::STMT_CLOSE | command::STMT_SEND_LONG_DATA | command::QUIT => Self::Nothing,
            _ => Self::Ok,
        }
    }
}

/// What one response packet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An OK packet (header 0x00) ending a statement that returned no rows.
    Ok,
    /// An ERR packet; always ends the response.
    Err,
    /// A LOCAL INFILE request: the client must now send the file, then an empty packet.
    LocalInfile,
    /// The column count starting a result set.
    ColumnCount(u64),
    /// A column definition (result set or COM_FIELD_LIST).
    ColumnDef,
    /// A classic EOF after column (or parameter) definitions. Only from backends without DEPRECATE_EOF.
    MetaEnd,
    /// A row (text or binary).
    Row,
    /// The terminator after rows (or after COM_FIELD_LIST's columns): EOF, or OK with the 0xFE header.
    End,
    /// The first packet of a COM_STMT_PREPARE response.
    PrepareOk {
        /// Statement id.
        statement_id: u32,
        /// Result columns.
        columns: u16,
        /// Parameters.
        params: u16,
    },
    /// A parameter definition in a COM_STMT_PREPARE response.
    ParamDef,
    /// COM_STATISTICS's string.
    Other,
}

/// The tracker's verdict on one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// What the packet is.
    pub kind: Kind,
    /// Server status flags, for OK/EOF/End packets.
    pub status: Option<u16>,
    /// The response is complete after this packet.
    pub done: bool,
    /// This packet is the last column (or parameter) definition of a block: a client without
    /// DEPRECATE_EOF expects an EOF after it when the backend sent none.
    pub ends_defs: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    Columns { left: u64 },
    MetaEof,
    Rows,
    PrepParams { left: u16, columns: u16 },
    PrepParamsEof { columns: u16 },
    PrepColumns { left: u16 },
    PrepColumnsEof,
    FieldList,
    Done,
}

/// Follows one response. Create one per command with [`ResponseTracker::new`], feed it every packet.
#[derive(Debug, Clone)]
pub struct ResponseTracker {
    expect: Expect,
    deprecate_eof: bool,
    state: State,
}

impl ResponseTracker {
    /// A tracker for the response to a command of shape `expect`, from a backend connection that
    /// negotiated DEPRECATE_EOF (`deprecate_eof`) or not.
    pub fn new(expect: Expect, deprecate_eof: bool) -> Self {
        let state = match expect {
            Expect::Rows => State::Rows,
            Expect::FieldList => State::FieldList,
            Expect::Nothing => State::Done,
            _ => State::Start,
        };
        Self { expect, deprecate_eof, state }
    }

    /// Whether the response is complete.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Classifies the next packet of the response.
    pub fn feed(&mut self, payload: &[u8]) -> Result<Step> {
        let first = *payload.first().ok_or(ProtocolError::Unexpected("empty response packet"))?;
        if first == header::ERR && self.state != State::Done {
            // ERR can end any state (a row never starts with 0xFF: text rows start with a lenenc
            // length, and 0xFF is not one; binary rows start with 0x00).
            self.state = State::Done;
            return Ok(Step { kind: Kind::Err, status: None, done: true, ends_defs: false });
        }
        let step = match self.state {
            State::Done => return Err(ProtocolError::Unexpected("packet after the end of a response")),
            State::Start => self.start(first, payload)?,
            State::Columns { left } => {
                self.state = match (left - 1, self.deprecate_eof) {
                    (0, true) => State::Rows,
                    (0, false) => State::MetaEof,
                    (n, _) => State::Columns { left: n },
                };
                Step { ends_defs: left == 1, ..step(Kind::ColumnDef, None) }
            }
            State::MetaEof => {
                if !is_eof(payload) {
                    return Err(ProtocolError::malformed("result set", "expected EOF after columns"));
                }
                let st = status_of(payload);
                // A cursor (COM_STMT_EXECUTE with CURSOR_TYPE_READ_ONLY) ends the response here: rows
                // come later, by COM_STMT_FETCH.
                self.state = if st.is_some_and(|s| s & status::CURSOR_EXISTS != 0) {
                    State::Done
                } else {
                    State::Rows
                };
                step(Kind::MetaEnd, st)
            }
            State::Rows => {
                if is_result_terminator(payload) {
                    let st = status_of(payload);
                    self.after_end(st);
                    step(Kind::End, st)
                } else {
                    step(Kind::Row, None)
                }
            }
            State::FieldList => {
                if is_result_terminator(payload) {
                    self.state = State::Done;
                    step(Kind::End, status_of(payload))
                } else {
                    step(Kind::ColumnDef, None)
                }
            }
            State::PrepParams { left, columns } => {
                self.state = if left > 1 {
                    State::PrepParams { left: left - 1, columns }
                } else if !self.deprecate_eof {
                    State::PrepParamsEof { columns }
                } else {
                    prep_columns(columns, self.deprecate_eof)
                };
                Step { ends_defs: left == 1, ..step(Kind::ParamDef, None) }
            }
            State::PrepParamsEof { columns } => {
                self.state = prep_columns(columns, self.deprecate_eof);
                step(Kind::MetaEnd, status_of(payload))
            }
            State::PrepColumns { left } => {
                self.state = if left > 1 {
                    State::PrepColumns { left: left - 1 }
                } else if !self.deprecate_eof {
                    State::PrepColumnsEof
                } else {
                    State::Done
                };
                Step { ends_defs: left == 1, ..step(Kind::ColumnDef, None) }
            }
            State::PrepColumnsEof => {
                self.state = State::Done;
                step(Kind::MetaEnd, status_of(payload))
            }
        };
        Ok(Step { done: self.state == State::Done, ..step })
    }

    fn start(&mut self, first: u8, payload: &[u8]) -> Result<Step> {
        match self.expect {
            Expect::Single => {
                self.state = State::Done;
                return Ok(step(Kind::Other, None));
            }
            Expect::Ok => {
                self.state = State::Done;
                let st = status_of(payload);
                return Ok(step(if first == header::EOF { Kind::End } else { Kind::Ok }, st));
            }
            Expect::Prepare => {
                let b = payload.get(1..9).ok_or(ProtocolError::malformed("prepare OK", "truncated"))?;
                let statement_id = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                let columns = u16::from_le_bytes([b[4], b[5]]);
                let params = u16::from_le_bytes([b[6], b[7]]);
                self.state = if params > 0 {
                    State::PrepParams { left: params, columns }
                } else {
                    prep_columns(columns, self.deprecate_eof)
                };
                return Ok(step(Kind::PrepareOk { statement_id, columns, params }, None));
            }
            _ => {}
        }
        match first {
            header::OK => {
                let st = status_of(payload);
                self.after_end(st);
                Ok(step(Kind::Ok, st))
            }
            // The backend waits for the file; after it, the next packet is OK or ERR: stay in Start.
            header::LOCAL_INFILE => Ok(step(Kind::LocalInfile, None)),
            _ => {
                let (n, _) =
                    lenenc_at(payload).ok_or(ProtocolError::malformed("result set", "bad column count"))?;
                if n == 0 {
                    return Err(ProtocolError::malformed("result set", "zero columns"));
                }
                self.state = State::Columns { left: n };
                Ok(step(Kind::ColumnCount(n), None))
            }
        }
    }

    fn after_end(&mut self, st: Option<u16>) {
        let more = st.is_some_and(|s| s & status::MORE_RESULTS_EXISTS != 0);
        self.state = if more { State::Start } else { State::Done };
    }
}

fn prep_columns(columns: u16, _deprecate_eof: bool) -> State {
    if columns > 0 { State::PrepColumns { left: columns } } else { State::Done }
}

fn step(kind: Kind, status: Option<u16>) -> Step {
    Step { kind, status, done: false, ends_defs: false }
}

/// Turns a DEPRECATE_EOF terminator (OK with header 0xFE) into a classic EOF for a client that did not
/// negotiate DEPRECATE_EOF. A classic EOF given as input is returned as is.
pub fn end_to_eof(payload: &Bytes) -> Result<Bytes> {
    if is_eof(payload) {
        return Ok(payload.clone());
    }
    Ok(Bytes::copy_from_slice(&ok_end_to_eof(payload)?))
}

/// [`end_to_eof`] of a terminator that is not a classic EOF already ([`is_eof`] false), on the stack.
pub fn ok_end_to_eof(payload: &[u8]) -> Result<[u8; 5]> {
    let st = status_of(payload).ok_or(ProtocolError::malformed("OK packet", "truncated"))?;
    let warnings = ok_warnings(payload).unwrap_or(0);
    Ok(EofPacket { warnings, status: st & !status::SESSION_STATE_CHANGED }.to_array())
}

/// Turns a classic EOF terminator into the OK-with-0xFE a DEPRECATE_EOF client expects.
pub fn eof_to_end(payload: &Bytes) -> Result<Bytes> {
    let e = EofPacket::parse(payload)?;
    let mut out = BytesMut::with_capacity(7);
    out.put_u8(header::EOF);
    out.put_u8(0);
    out.put_u8(0);
    out.put_u16_le(e.status);
    out.put_u16_le(e.warnings);
    Ok(out.freeze())
}

/// An intermediate EOF (after column definitions) to insert for a classic client, with `status`.
pub fn meta_eof(status: u16) -> Bytes {
    Bytes::copy_from_slice(&meta_eof_array(status))
}

/// [`meta_eof`] on the stack.
pub fn meta_eof_array(status: u16) -> [u8; 5] {
    EofPacket { warnings: 0, status: status & !status::SESSION_STATE_CHANGED }.to_array()
}

/// Re-encodes an OK packet (either header) for a client with `client_caps`: drops session-state data for
/// clients without SESSION_TRACK (whose info field is the rest of the packet, not a lenenc string).
pub fn ok_for_client(payload: &Bytes, backend_caps: u32, client_caps: u32) -> Result<Bytes> {
    Ok(OkPacket::parse(payload, backend_caps)?.to_bytes(client_caps))
}

fn ok_warnings(payload: &[u8]) -> Option<u16> {
    let rest = payload.get(1..)?;
    let (_, a) = lenenc_at(rest)?;
    let (_, b) = lenenc_at(rest.get(a..)?)?;
    let w = rest.get(a + b + 2..a + b + 4)?;
    Some(u16::from_le_bytes([w[0], w[1]]))
}

#[cfg(test)]
mod tests;
