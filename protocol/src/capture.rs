//! The capture file format: a magic, then append-only blocks of length-prefixed records, each block
//! LZ4-compressed with its own lengths and checksum, so a file cut short loses at most its last block.
//!
//! ```text
//! file   = "SLUICECAP" 0x01  block*
//! block  = raw_len u32le  packed_len u32le  fnv1a32(packed) u32le  packed (lz4 block of records)
//! record = len varint  kind u8  fields…          (strings and bytes: len varint + bytes)
//!   1 header     unix_ms, sluice version
//!   2 position   the primary's GTID position at CAPTURE START
//!   3 statement  session, offset_us, user, schema, command (0 query, 1 execute), sql, [parameter
//!                count + the EXECUTE's bytes after its 10-byte header: NULL bitmap, 1, types, values],
//!                duration_us, rows_sent, rows_affected, insert_id, error, flags (1 in transaction
//!                after), gtid
//!   4 footer     records written, records dropped
//! ```
//!
//! The proxy's capture writer (`sluice::capture`) encodes it and `sluice-replay` decodes it: it lives
//! here, pure (no I/O, no runtime), so the two share it without either depending on the other.

use bytes::{BufMut, Bytes, BytesMut};

use crate::binary::{StmtExecute, Value, encode_stmt_execute, parse_stmt_execute};
use crate::constants::ColumnType;

/// The first bytes of every capture file.
pub const MAGIC: &[u8; 10] = b"SLUICECAP\x01";

/// Largest uncompressed block a reader accepts (a corrupt length must not allocate gigabytes).
pub const MAX_BLOCK: usize = 64 << 20;

/// `flags` bit: the session was inside a transaction after the statement.
pub const IN_TRANS_AFTER: u8 = 1;

/// How the client sent a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// COM_QUERY text.
    Query,
    /// COM_STMT_EXECUTE of a prepared statement: the text and its parameters.
    Execute,
}

/// One captured statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// sluice's connection id of the session.
    pub session: u32,
    /// Microseconds from CAPTURE START to the statement's arrival.
    pub offset_us: u64,
    /// Client user.
    pub user: String,
    /// Default schema when it ran (empty: none); the session's own bytes, shared, not copied.
    pub schema: bytes::Bytes,
    /// COM_QUERY or COM_STMT_EXECUTE.
    pub command: Command,
    /// The statement text (a prepared statement's text for EXECUTE).
    pub sql: Vec<u8>,
    /// EXECUTE parameters, decoded (what a reader gets; a writer may give `wire` instead).
    pub params: Vec<Value>,
    /// EXECUTE parameters as the client sent them (the capture side: copied, not decoded).
    pub wire: Option<WireParams>,
    /// Time to the last byte of the answer, µs.
    pub duration_us: u64,
    /// Rows sent.
    pub rows_sent: u64,
    /// Rows affected.
    pub rows_affected: u64,
    /// The AUTO_INCREMENT value the OK reported (0: none).
    pub insert_id: u64,
    /// Error code, 0 for success.
    pub error: u16,
    /// [`IN_TRANS_AFTER`].
    pub flags: u8,
    /// The commit GTID the server reported (empty: none).
    pub gtid: String,
}

/// An EXECUTE's parameters in wire form: the bytes after the packet's 10-byte header (NULL bitmap,
/// new-params-bound = 1, types, values).
#[derive(Debug, Clone, PartialEq)]
pub struct WireParams {
    /// Number of parameters.
    pub count: u16,
    /// The bytes.
    pub tail: Bytes,
}

impl WireParams {
    /// Decodes the values.
    pub fn decode(&self) -> Result<Vec<Value>, crate::binary::DecodeError> {
        let mut p = BytesMut::with_capacity(10 + self.tail.len());
        p.put_u8(crate::binary::COM_STMT_EXECUTE);
        p.put_u32_le(0);
        p.put_u8(0);
        p.put_u32_le(1);
        p.put_slice(&self.tail);
        parse_stmt_execute(&p.freeze(), self.count.into(), None, &[]).map(|e| e.params)
    }

    /// Encodes values, with wire types chosen from them.
    pub fn encode(values: &[Value]) -> Self {
        let types = values
            .iter()
            .map(|v| match v {
                Value::Null => (ColumnType::MYSQL_TYPE_NULL, false),
                Value::Int(_) => (ColumnType::MYSQL_TYPE_LONGLONG, false),
                Value::UInt(_) => (ColumnType::MYSQL_TYPE_LONGLONG, true),
                Value::Float(_) => (ColumnType::MYSQL_TYPE_FLOAT, false),
                Value::Double(_) => (ColumnType::MYSQL_TYPE_DOUBLE, false),
                Value::Bytes(_) => (ColumnType::MYSQL_TYPE_VAR_STRING, false),
                Value::Date { .. } => (ColumnType::MYSQL_TYPE_DATETIME, false),
                Value::Time { .. } => (ColumnType::MYSQL_TYPE_TIME, false),
            })
            .collect();
        let stmt = StmtExecute {
            statement_id: 0,
            flags: 0,
            iteration_count: 1,
            params: values.to_vec(),
            types,
            new_params_bound: true,
            long_data: Vec::new(),
        };
        let mut out = BytesMut::new();
        // The types were chosen to fit the values, so this cannot fail; an empty tail if it did.
        let tail = match encode_stmt_execute(&stmt, &mut out) {
            Ok(()) => out.freeze().slice(10..),
            Err(_) => Bytes::new(),
        };
        Self { count: u16::try_from(values.len()).unwrap_or(u16::MAX), tail }
    }
}

/// One record of a capture file.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// Written first: when and by which sluice.
    Header {
        /// Capture start, ms since the epoch.
        unix_ms: u64,
        /// sluice's version.
        version: String,
    },
    /// The primary's `gtid_binlog_pos` read right after capture was switched on (empty: unknown).
    Position(String),
    /// A statement.
    Statement(Statement),
    /// Written last by a clean stop.
    Footer {
        /// Records written.
        written: u64,
        /// Records dropped because the writer fell behind.
        dropped: u64,
    },
}

/// A file that is not a capture, or is damaged.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// Not a capture file.
    #[error("not a sluice capture file (bad magic; --format general or slow reads MariaDB logs)")]
    Magic,
    /// Cut short.
    #[error("truncated at byte {0} (the capture was not stopped cleanly, or the file was cut)")]
    Truncated(u64),
    /// A block or record that does not decode.
    #[error("corrupt at byte {at}: {what}")]
    Corrupt {
        /// Block offset in the file.
        at: u64,
        /// What is wrong.
        what: String,
    },
    /// Reading failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Appends one record (length prefix included).
pub fn encode(r: &Record, out: &mut Vec<u8>) {
    encode_with(r, out, &mut Vec::new());
}

/// [`encode`] with a scratch buffer the caller keeps between records (no allocation per record).
pub fn encode_with(r: &Record, out: &mut Vec<u8>, body: &mut Vec<u8>) {
    body.clear();
    match r {
        Record::Header { unix_ms, version } => {
            body.push(1);
            put_varint(body, *unix_ms);
            put_bytes(body, version.as_bytes());
        }
        Record::Position(gtid) => {
            body.push(2);
            put_bytes(body, gtid.as_bytes());
        }
        Record::Statement(s) => {
            body.push(3);
            put_varint(body, u64::from(s.session));
            put_varint(body, s.offset_us);
            put_bytes(body, s.user.as_bytes());
            put_bytes(body, &s.schema);
            body.push(match s.command {
                Command::Query => 0,
                Command::Execute => 1,
            });
            put_bytes(body, &s.sql);
            if s.command == Command::Execute {
                let encoded;
                let wire = match &s.wire {
                    Some(w) => w,
                    None => {
                        encoded = WireParams::encode(&s.params);
                        &encoded
                    }
                };
                put_varint(body, u64::from(wire.count));
                put_bytes(body, &wire.tail);
            }
            put_varint(body, s.duration_us);
            put_varint(body, s.rows_sent);
            put_varint(body, s.rows_affected);
            put_varint(body, s.insert_id);
            put_varint(body, u64::from(s.error));
            body.push(s.flags);
            put_bytes(body, s.gtid.as_bytes());
        }
        Record::Footer { written, dropped } => {
            body.push(4);
            put_varint(body, *written);
            put_varint(body, *dropped);
        }
    }
    put_varint(out, body.len() as u64);
    out.extend_from_slice(body);
}

/// FNV-1a, 32 bits: enough to tell a damaged block from a good one.
pub fn checksum(b: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &x in b {
        h ^= u32::from(x);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Compresses encoded records into one block (header included).
pub fn block(raw: &[u8]) -> Vec<u8> {
    let packed = lz4_flex::block::compress(raw);
    let mut out = Vec::with_capacity(12 + packed.len());
    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    out.extend_from_slice(&(packed.len() as u32).to_le_bytes());
    out.extend_from_slice(&checksum(&packed).to_le_bytes());
    out.extend_from_slice(&packed);
    out
}

/// A bounds-checked cursor over one block's records.
struct Cursor<'a> {
    b: &'a [u8],
    at: u64,
}

impl<'a> Cursor<'a> {
    fn bad(&self, what: &str) -> FormatError {
        FormatError::Corrupt { at: self.at, what: what.to_owned() }
    }

    fn u8(&mut self, what: &str) -> Result<u8, FormatError> {
        let (&x, rest) = self.b.split_first().ok_or_else(|| self.bad(what))?;
        self.b = rest;
        Ok(x)
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], FormatError> {
        if self.b.len() < n {
            return Err(self.bad(what));
        }
        let (x, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(x)
    }

    fn varint(&mut self, what: &str) -> Result<u64, FormatError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let x = self.u8(what)?;
            v |= u64::from(x & 0x7f) << shift;
            if x & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.bad(what))
    }

    fn bytes(&mut self, what: &str) -> Result<Vec<u8>, FormatError> {
        let n = usize::try_from(self.varint(what)?).map_err(|_| self.bad(what))?;
        Ok(self.take(n, what)?.to_vec())
    }

    fn string(&mut self, what: &str) -> Result<String, FormatError> {
        String::from_utf8(self.bytes(what)?).map_err(|_| self.bad(what))
    }

    fn record(&mut self) -> Result<Record, FormatError> {
        let len = usize::try_from(self.varint("record length")?).map_err(|_| self.bad("record length"))?;
        let at = self.at;
        let body = self.take(len, "record body")?;
        let mut c = Cursor { b: body, at };
        let r = match c.u8("record kind")? {
            1 => Record::Header { unix_ms: c.varint("header time")?, version: c.string("header version")? },
            2 => Record::Position(c.string("gtid position")?),
            3 => {
                let session = u32::try_from(c.varint("session")?).map_err(|_| c.bad("session id"))?;
                let offset_us = c.varint("offset")?;
                let user = c.string("user")?;
                let schema = c.bytes("schema")?.into();
                let command = match c.u8("command")? {
                    0 => Command::Query,
                    1 => Command::Execute,
                    x => return Err(c.bad(&format!("unknown command {x}"))),
                };
                let sql = c.bytes("statement text")?;
                let mut params = Vec::new();
                if command == Command::Execute {
                    let count =
                        u16::try_from(c.varint("parameter count")?).map_err(|_| c.bad("parameter count"))?;
                    let wire = WireParams { count, tail: c.bytes("parameters")?.into() };
                    params = wire.decode().map_err(|e| c.bad(&format!("parameters: {e}")))?;
                }
                Record::Statement(Statement {
                    session,
                    offset_us,
                    user,
                    schema,
                    command,
                    sql,
                    params,
                    wire: None,
                    duration_us: c.varint("duration")?,
                    rows_sent: c.varint("rows sent")?,
                    rows_affected: c.varint("rows affected")?,
                    insert_id: c.varint("insert id")?,
                    error: u16::try_from(c.varint("error")?).map_err(|_| c.bad("error code"))?,
                    flags: c.u8("flags")?,
                    gtid: c.string("gtid")?,
                })
            }
            4 => Record::Footer { written: c.varint("footer")?, dropped: c.varint("footer")? },
            k => return Err(c.bad(&format!("unknown record kind {k}"))),
        };
        Ok(r)
    }
}

/// Decodes a whole capture file held in memory.
pub fn decode_file(data: &[u8]) -> Result<Vec<Record>, FormatError> {
    if data.len() < MAGIC.len() {
        return Err(if MAGIC.starts_with(data) {
            FormatError::Truncated(data.len() as u64)
        } else {
            FormatError::Magic
        });
    }
    if &data[..MAGIC.len()] != MAGIC {
        return Err(FormatError::Magic);
    }
    let mut at = MAGIC.len();
    let mut out = Vec::new();
    while at < data.len() {
        let head = data.get(at..at + 12).ok_or(FormatError::Truncated(at as u64))?;
        let word = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]) as usize;
        let (raw_len, packed_len, sum) = (word(0), word(4), word(8) as u32);
        if raw_len > MAX_BLOCK || packed_len > MAX_BLOCK {
            return Err(FormatError::Corrupt {
                at: at as u64,
                what: format!("block length {raw_len}/{packed_len}"),
            });
        }
        let packed = data.get(at + 12..at + 12 + packed_len).ok_or(FormatError::Truncated(at as u64))?;
        if checksum(packed) != sum {
            return Err(FormatError::Corrupt { at: at as u64, what: "block checksum mismatch".into() });
        }
        let raw = lz4_flex::block::decompress(packed, raw_len)
            .map_err(|e| FormatError::Corrupt { at: at as u64, what: format!("lz4: {e}") })?;
        let mut c = Cursor { b: &raw, at: at as u64 };
        while !c.b.is_empty() {
            out.push(c.record()?);
        }
        at += 12 + packed_len;
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap; the lint guards library code
mod tests {
    use super::*;

    fn sample() -> Vec<Record> {
        vec![
            Record::Header { unix_ms: 1_700_000_000_000, version: "0.1.0".into() },
            Record::Position("0-1-42".into()),
            Record::Statement(Statement {
                session: 7,
                offset_us: 1234,
                user: "app".into(),
                schema: "s".into(),
                command: Command::Execute,
                sql: b"UPDATE t SET v = ? WHERE id = ?".to_vec(),
                params: vec![
                    Value::Bytes("x'y".into()),
                    Value::Int(-3),
                    Value::UInt(u64::MAX),
                    Value::Null,
                    Value::Double(1.5),
                    Value::Float(2.5),
                    Value::Date { year: 2024, month: 2, day: 29, hour: 1, minute: 2, second: 3, micros: 4 },
                    Value::Time { negative: true, days: 1, hours: 2, minutes: 3, seconds: 4, micros: 5 },
                ],
                wire: None,
                duration_us: 99,
                rows_sent: 0,
                rows_affected: 1,
                insert_id: 17,
                error: 1062,
                flags: IN_TRANS_AFTER,
                gtid: "0-1-43".into(),
            }),
            Record::Footer { written: 3, dropped: 1 },
        ]
    }

    /// The header in one block, the rest in another (records never span blocks).
    fn file(records: &[Record]) -> Vec<u8> {
        let mut f = MAGIC.to_vec();
        let mut first = Vec::new();
        encode(&records[0], &mut first);
        f.extend(block(&first));
        let mut rest = Vec::new();
        for r in &records[1..] {
            encode(r, &mut rest);
        }
        f.extend(block(&rest));
        f
    }

    #[test]
    fn records_round_trip_across_blocks() {
        let recs = sample();
        assert_eq!(decode_file(&file(&recs)).unwrap(), recs);
    }

    #[test]
    fn damage_is_an_error_never_a_panic() {
        let f = file(&sample());
        assert!(matches!(decode_file(b"hello world, not a capture"), Err(FormatError::Magic)));
        assert!(matches!(decode_file(&f[..5]), Err(FormatError::Truncated(5))));
        for cut in MAGIC.len() + 1..f.len() {
            // Only a cut at the block boundary reads back: the first block alone.
            if let Ok(r) = decode_file(&f[..cut]) {
                assert_eq!(r, sample()[..1], "cut at {cut}");
            }
        }
        for i in MAGIC.len()..f.len() {
            let mut g = f.clone();
            g[i] ^= 0x55;
            // Either detected, or (in a length field that still fits) decoded to something: no panic.
            let _ = decode_file(&g);
        }
        let mut g = f.clone();
        let last = g.len() - 1;
        g[last] ^= 1;
        let e = decode_file(&g).unwrap_err().to_string();
        assert!(e.contains("checksum"), "{e}");
    }
}
