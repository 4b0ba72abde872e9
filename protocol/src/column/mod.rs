//! Column definitions (Protocol::ColumnDefinition41), the crate's `DecodeError`, and length-encoded helpers.

mod error;
mod lenenc;

pub use error::DecodeError;
pub use lenenc::{
    LENENC_NULL, expect_end, put_lenenc_bytes, put_lenenc_int, read_bytes, read_lenenc_bytes,
    read_lenenc_int, read_u8, read_u16_le, read_u24_le, read_u32_le, read_u64_le,
};

use bytes::{BufMut, Bytes, BytesMut};

use crate::constants::{ColumnFlags, ColumnType};

/// The length of the fixed-width block at the end of a column definition, always sent as `0x0c`.
const FIXED_FIELDS_LEN: u8 = 0x0c;

/// The smallest fixed block that holds charset, length, type, flags and decimals (the 2-byte filler
/// after them is not needed to read the column).
const FIXED_FIELDS_MIN: u64 = 10;

/// utf8mb4_general_ci, the collation MariaDB reports for string results of a utf8mb4 connection.
const CHARSET_UTF8MB4_GENERAL_CI: u16 = 45;

/// The `binary` pseudo-collation, which MariaDB reports for numbers and temporal values.
const CHARSET_BINARY: u16 = 63;

/// One column of a result set or one parameter of a prepared statement, as the server describes it.
///
/// The name fields are slices of the packet they were parsed from (no copy). This is the format without
/// MariaDB's extended metadata (`MARIADB_CLIENT_EXTENDED_METADATA`), which sluice does not negotiate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDefinition {
    /// Always `def`.
    pub catalog: Bytes,
    /// Database of the table, empty for expressions.
    pub schema: Bytes,
    /// Table alias, empty for expressions.
    pub table: Bytes,
    /// Table name before aliasing.
    pub org_table: Bytes,
    /// Column alias (what the client sees as the name).
    pub name: Bytes,
    /// Column name before aliasing.
    pub org_name: Bytes,
    /// Collation id of the value (63 = binary).
    pub character_set: u16,
    /// Maximum display length of the column.
    pub column_length: u32,
    /// Wire type, which decides the binary-protocol encoding of the column's values.
    pub column_type: ColumnType,
    /// Column flags; unknown bits are kept so that encoding gives back the same bytes.
    pub flags: ColumnFlags,
    /// Digits after the decimal point (fractional-second digits for temporal types; 0x1f = not fixed).
    pub decimals: u8,
}

impl ColumnDefinition {
    /// A column of an expression (no schema or table) named `name`, with the collation MariaDB reports
    /// for that type: utf8mb4_general_ci for strings, binary otherwise. For synthesized result sets and
    /// tests.
    pub fn new(name: impl Into<Bytes>, column_type: ColumnType, flags: ColumnFlags) -> Self {
        let name = name.into();
        let character_set = if is_string_type(column_type) && !flags.contains(ColumnFlags::BINARY_FLAG) {
            CHARSET_UTF8MB4_GENERAL_CI
        } else {
            CHARSET_BINARY
        };
        Self {
            catalog: Bytes::from_static(b"def"),
            schema: Bytes::new(),
            table: Bytes::new(),
            org_table: Bytes::new(),
            org_name: name.clone(),
            name,
            character_set,
            column_length: 0,
            column_type,
            flags,
            decimals: 0,
        }
    }

    /// Whether values of this column are unsigned (decides `Int` vs `UInt` in the binary protocol).
    pub fn is_unsigned(&self) -> bool {
        self.flags.contains(ColumnFlags::UNSIGNED_FLAG)
    }

    /// Parses a column-definition packet payload. Bytes after the fixed block (COM_FIELD_LIST's default
    /// value) are rejected: nothing sluice relays carries them.
    pub fn parse(payload: &Bytes) -> Result<Self, DecodeError> {
        // Cloning `Bytes` bumps a reference count; every field below is a slice of `payload`.
        let mut buf = payload.clone();
        let catalog = read_lenenc_bytes(&mut buf, "column catalog")?;
        let schema = read_lenenc_bytes(&mut buf, "column schema")?;
        let table = read_lenenc_bytes(&mut buf, "column table")?;
        let org_table = read_lenenc_bytes(&mut buf, "column org_table")?;
        let name = read_lenenc_bytes(&mut buf, "column name")?;
        let org_name = read_lenenc_bytes(&mut buf, "column org_name")?;
        let fixed_len = read_lenenc_int(&mut buf, "column fixed-fields length")?;
        if fixed_len < FIXED_FIELDS_MIN {
            return Err(DecodeError::InvalidValue { what: "column fixed-fields length", value: fixed_len });
        }
        let fixed_len = usize::try_from(fixed_len).map_err(|_| DecodeError::Truncated {
            what: "column fixed fields",
            needed: fixed_len,
            available: buf.len(),
        })?;
        let mut fixed = read_bytes(&mut buf, fixed_len, "column fixed fields")?;
        expect_end(&buf, "column definition")?;
        let character_set = read_u16_le(&mut fixed, "column character set")?;
        let column_length = read_u32_le(&mut fixed, "column length")?;
        let type_byte = read_u8(&mut fixed, "column type")?;
        let column_type = column_type_from_u8(type_byte)?;
        let flags = ColumnFlags::from_bits_retain(read_u16_le(&mut fixed, "column flags")?);
        let decimals = read_u8(&mut fixed, "column decimals")?;
        Ok(Self {
            catalog,
            schema,
            table,
            org_table,
            name,
            org_name,
            character_set,
            column_length,
            column_type,
            flags,
            decimals,
        })
    }

    /// Appends the column-definition payload (without the packet header).
    pub fn encode(&self, out: &mut BytesMut) {
        for field in [&self.catalog, &self.schema, &self.table, &self.org_table, &self.name, &self.org_name] {
            put_lenenc_bytes(out, field);
        }
        out.put_u8(FIXED_FIELDS_LEN);
        out.put_u16_le(self.character_set);
        out.put_u32_le(self.column_length);
        out.put_u8(self.column_type as u8);
        out.put_u16_le(self.flags.bits());
        out.put_u8(self.decimals);
        out.put_u16_le(0); // filler
    }
}

/// Maps a type byte from the wire to a [`ColumnType`].
pub fn column_type_from_u8(b: u8) -> Result<ColumnType, DecodeError> {
    ColumnType::try_from(b).map_err(|_| DecodeError::UnknownColumnType(b))
}

/// Types whose values are character strings unless the column is binary.
fn is_string_type(t: ColumnType) -> bool {
    use ColumnType::*;
    matches!(
        t,
        MYSQL_TYPE_VARCHAR
            | MYSQL_TYPE_VAR_STRING
            | MYSQL_TYPE_STRING
            | MYSQL_TYPE_ENUM
            | MYSQL_TYPE_SET
            | MYSQL_TYPE_JSON
            | MYSQL_TYPE_TINY_BLOB
            | MYSQL_TYPE_MEDIUM_BLOB
            | MYSQL_TYPE_LONG_BLOB
            | MYSQL_TYPE_BLOB
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap; the lint guards library code
mod tests;
