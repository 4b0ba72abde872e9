//! COM_STMT_EXECUTE requests: statement id, cursor flags, parameter types and binary parameter values.

use bytes::{BufMut, Bytes, BytesMut};

use super::cell::decode_value;
use super::row::{NullBitmap, encode_checked};
use super::{EncodeError, Value};
use crate::column::{DecodeError, column_type_from_u8, expect_end, read_u8, read_u32_le};
use crate::constants::ColumnType;

/// The command byte of COM_STMT_EXECUTE.
pub const COM_STMT_EXECUTE: u8 = 0x17;

/// The bit of a parameter's flag byte that marks it unsigned.
const PARAM_UNSIGNED: u8 = 0x80;

/// A parameter's type as the client binds it: wire type and whether it is unsigned.
pub type ParamType = (ColumnType, bool);

/// A parsed COM_STMT_EXECUTE.
///
/// This is the request without `CLIENT_QUERY_ATTRIBUTES` (MySQL 8's parameter count and names), which
/// MariaDB does not have and sluice does not negotiate.
#[derive(Debug, Clone, PartialEq)]
pub struct StmtExecute {
    /// The statement id from COM_STMT_PREPARE_OK (MariaDB: `0xFFFFFFFF` = the last prepared statement).
    pub statement_id: u32,
    /// Cursor flags (`CURSOR_TYPE_*`).
    pub flags: u8,
    /// Always 1 in practice.
    pub iteration_count: u32,
    /// One value per parameter. A parameter sent by COM_STMT_SEND_LONG_DATA has no value here: it is
    /// [`Value::Null`] with `long_data[i]` set, and its data is in the earlier long-data packets.
    pub params: Vec<Value>,
    /// One type per parameter: those the packet binds if `new_params_bound`, else those bound before.
    pub types: Vec<ParamType>,
    /// Whether the packet carries parameter types (otherwise the server reuses the last ones).
    pub new_params_bound: bool,
    /// Which parameters were sent as long data, as the caller said; empty means none.
    pub long_data: Vec<bool>,
}

/// Parses a COM_STMT_EXECUTE payload (starting with the `0x17` command byte).
///
/// The packet does not say how many parameters there are, so the caller passes `num_params` from the
/// statement's COM_STMT_PREPARE_OK, the types bound by the previous execute of this statement (used when
/// the packet binds none), and which parameters received COM_STMT_SEND_LONG_DATA since then (`&[]` for
/// none, else one flag per parameter): the server skips those parameters' values and NULL bits, so the
/// packet cannot be read without knowing them.
pub fn parse_stmt_execute(
    payload: &Bytes,
    num_params: usize,
    previous_types: Option<&[ParamType]>,
    long_data: &[bool],
) -> Result<StmtExecute, DecodeError> {
    if !long_data.is_empty() && long_data.len() != num_params {
        return Err(DecodeError::CountMismatch {
            what: "long-data flags per parameter",
            expected: num_params,
            got: long_data.len(),
        });
    }
    let mut buf = payload.clone();
    let command = read_u8(&mut buf, "COM_STMT_EXECUTE command")?;
    if command != COM_STMT_EXECUTE {
        return Err(DecodeError::InvalidValue {
            what: "COM_STMT_EXECUTE command",
            value: u64::from(command),
        });
    }
    let statement_id = read_u32_le(&mut buf, "COM_STMT_EXECUTE statement id")?;
    let flags = read_u8(&mut buf, "COM_STMT_EXECUTE flags")?;
    let iteration_count = read_u32_le(&mut buf, "COM_STMT_EXECUTE iteration count")?;
    let mut stmt = StmtExecute {
        statement_id,
        flags,
        iteration_count,
        params: Vec::new(),
        types: Vec::new(),
        new_params_bound: false,
        long_data: long_data.to_vec(),
    };
    if num_params == 0 {
        // Nothing follows when there are no parameters, not even an empty bitmap.
        expect_end(&buf, "COM_STMT_EXECUTE")?;
        return Ok(stmt);
    }
    // Reading the bitmap first bounds `num_params` by the payload size before anything is allocated.
    let nulls = NullBitmap::read(&mut buf, num_params, 0)?;
    stmt.new_params_bound = match read_u8(&mut buf, "COM_STMT_EXECUTE new-params-bound flag")? {
        0 => false,
        1 => true,
        b => return Err(DecodeError::InvalidValue { what: "new-params-bound flag", value: u64::from(b) }),
    };
    stmt.types = if stmt.new_params_bound {
        let mut types = Vec::with_capacity(num_params);
        for _ in 0..num_params {
            let t = column_type_from_u8(read_u8(&mut buf, "parameter type")?)?;
            // The server reads only the unsigned bit of the flag byte; so do we.
            let unsigned = read_u8(&mut buf, "parameter flags")? & PARAM_UNSIGNED != 0;
            types.push((t, unsigned));
        }
        types
    } else {
        let previous = previous_types.ok_or(DecodeError::MissingParamTypes)?;
        if previous.len() != num_params {
            return Err(DecodeError::CountMismatch {
                what: "previously bound parameter types",
                expected: num_params,
                got: previous.len(),
            });
        }
        previous.to_vec()
    };
    stmt.params.reserve(num_params);
    for (i, &(t, unsigned)) in stmt.types.iter().enumerate() {
        let is_long = long_data.get(i).copied().unwrap_or(false);
        stmt.params.push(if is_long || nulls.is_null(i) {
            Value::Null
        } else {
            decode_value(&mut buf, t, unsigned)?
        });
    }
    expect_end(&buf, "COM_STMT_EXECUTE")?;
    Ok(stmt)
}

/// Appends a COM_STMT_EXECUTE payload (command byte first). Parameters flagged in `long_data` are left
/// out, as the client library does; their data goes in COM_STMT_SEND_LONG_DATA packets before this one.
pub fn encode_stmt_execute(stmt: &StmtExecute, out: &mut BytesMut) -> Result<(), EncodeError> {
    let n = stmt.params.len();
    if stmt.types.len() != n {
        return Err(EncodeError::CountMismatch {
            what: "parameter types",
            expected: n,
            got: stmt.types.len(),
        });
    }
    if !stmt.long_data.is_empty() && stmt.long_data.len() != n {
        return Err(EncodeError::CountMismatch {
            what: "long-data flags per parameter",
            expected: n,
            got: stmt.long_data.len(),
        });
    }
    let is_long = |i: usize| stmt.long_data.get(i).copied().unwrap_or(false);
    let mut values = BytesMut::new();
    for (i, (v, &(t, unsigned))) in stmt.params.iter().zip(&stmt.types).enumerate() {
        if !is_long(i) && *v != Value::Null {
            encode_checked(v, i, t, unsigned, &mut values)?;
        }
    }
    // Values are encoded before anything is appended so that an error leaves `out` untouched.
    out.put_u8(COM_STMT_EXECUTE);
    out.put_u32_le(stmt.statement_id);
    out.put_u8(stmt.flags);
    out.put_u32_le(stmt.iteration_count);
    if n == 0 {
        return Ok(());
    }
    let nulls = stmt.params.iter().enumerate().map(|(i, v)| !is_long(i) && *v == Value::Null);
    NullBitmap::write(nulls, 0, out);
    out.put_u8(u8::from(stmt.new_params_bound));
    if stmt.new_params_bound {
        for &(t, unsigned) in &stmt.types {
            out.put_u8(t as u8);
            out.put_u8(if unsigned { PARAM_UNSIGNED } else { 0 });
        }
    }
    out.put_slice(&values);
    Ok(())
}
