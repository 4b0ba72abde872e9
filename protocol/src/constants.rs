//! Protocol constants: capability flags, server status flags, command bytes, packet headers, error codes.

/// Capability flags (`CLIENT_*`), as plain `u32` masks so they combine cheaply.
pub mod caps {
    /// New more secure passwords (set by every modern client and server).
    pub const LONG_PASSWORD: u32 = 1;
    /// Affected rows = rows found (matched) instead of rows changed. Changes results: part of the pool key.
    pub const FOUND_ROWS: u32 = 1 << 1;
    /// Get all column flags.
    pub const LONG_FLAG: u32 = 1 << 2;
    /// A database name can be given in the handshake response.
    pub const CONNECT_WITH_DB: u32 = 1 << 3;
    /// Don't allow `database.table.column`.
    pub const NO_SCHEMA: u32 = 1 << 4;
    /// Compression protocol (not offered by sluice).
    pub const COMPRESS: u32 = 1 << 5;
    /// ODBC client.
    pub const ODBC: u32 = 1 << 6;
    /// LOAD DATA LOCAL allowed.
    pub const LOCAL_FILES: u32 = 1 << 7;
    /// Ignore spaces before `(` (changes parsing; not offered).
    pub const IGNORE_SPACE: u32 = 1 << 8;
    /// The 4.1 protocol.
    pub const PROTOCOL_41: u32 = 1 << 9;
    /// wait_timeout = interactive_timeout.
    pub const INTERACTIVE: u32 = 1 << 10;
    /// Switch to TLS after the handshake.
    pub const SSL: u32 = 1 << 11;
    /// Don't issue SIGPIPE (client-side only).
    pub const IGNORE_SIGPIPE: u32 = 1 << 12;
    /// Status flags in EOF/OK.
    pub const TRANSACTIONS: u32 = 1 << 13;
    /// Old flag for 4.1 protocol.
    pub const RESERVED: u32 = 1 << 14;
    /// 4.1 authentication (scramble of 20 bytes).
    pub const SECURE_CONNECTION: u32 = 1 << 15;
    /// Several statements in one COM_QUERY.
    pub const MULTI_STATEMENTS: u32 = 1 << 16;
    /// Several result sets for one COM_QUERY.
    pub const MULTI_RESULTS: u32 = 1 << 17;
    /// Several result sets for COM_STMT_EXECUTE.
    pub const PS_MULTI_RESULTS: u32 = 1 << 18;
    /// Auth plugin names in the handshake.
    pub const PLUGIN_AUTH: u32 = 1 << 19;
    /// Connection attributes in the handshake response.
    pub const CONNECT_ATTRS: u32 = 1 << 20;
    /// Length-encoded auth response.
    pub const PLUGIN_AUTH_LENENC_CLIENT_DATA: u32 = 1 << 21;
    /// The client can handle expired passwords.
    pub const CAN_HANDLE_EXPIRED_PASSWORDS: u32 = 1 << 22;
    /// Session state changes in OK packets.
    pub const SESSION_TRACK: u32 = 1 << 23;
    /// OK packets replace EOF packets at the end of result sets.
    pub const DEPRECATE_EOF: u32 = 1 << 24;
    /// MySQL 8: result set metadata may be omitted (not offered).
    pub const OPTIONAL_RESULTSET_METADATA: u32 = 1 << 25;
    /// MySQL 8.0.23: query attributes (not offered: they change COM_QUERY's layout).
    pub const QUERY_ATTRIBUTES: u32 = 1 << 27;
}

/// Server status flags (`SERVER_*`) in OK and EOF packets.
pub mod status {
    /// A transaction is open.
    pub const IN_TRANS: u16 = 1;
    /// Autocommit is on.
    pub const AUTOCOMMIT: u16 = 1 << 1;
    /// Another result set follows.
    pub const MORE_RESULTS_EXISTS: u16 = 1 << 3;
    /// The query used no good index.
    pub const NO_GOOD_INDEX_USED: u16 = 1 << 4;
    /// The query used no index.
    pub const NO_INDEX_USED: u16 = 1 << 5;
    /// A read-only cursor is open for COM_STMT_FETCH.
    pub const CURSOR_EXISTS: u16 = 1 << 6;
    /// The cursor has sent its last row.
    pub const LAST_ROW_SENT: u16 = 1 << 7;
    /// A database was dropped.
    pub const DB_DROPPED: u16 = 1 << 8;
    /// NO_BACKSLASH_ESCAPES sql_mode is on.
    pub const NO_BACKSLASH_ESCAPES: u16 = 1 << 9;
    /// Metadata changed (prepared statement re-prepared).
    pub const METADATA_CHANGED: u16 = 1 << 10;
    /// The query was logged as slow.
    pub const QUERY_WAS_SLOW: u16 = 1 << 11;
    /// The statement produced output parameters (CALL).
    pub const PS_OUT_PARAMS: u16 = 1 << 12;
    /// The open transaction is read-only.
    pub const IN_TRANS_READONLY: u16 = 1 << 13;
    /// Session state information follows in the OK packet.
    pub const SESSION_STATE_CHANGED: u16 = 1 << 14;
}

/// Command bytes (`COM_*`), the first byte of a client's command packet.
pub mod command {
    /// Close the connection.
    pub const QUIT: u8 = 0x01;
    /// Change the default schema.
    pub const INIT_DB: u8 = 0x02;
    /// A text query.
    pub const QUERY: u8 = 0x03;
    /// List a table's columns (deprecated).
    pub const FIELD_LIST: u8 = 0x04;
    /// Create a database (deprecated; refused).
    pub const CREATE_DB: u8 = 0x05;
    /// Drop a database (deprecated; refused).
    pub const DROP_DB: u8 = 0x06;
    /// Flush (deprecated).
    pub const REFRESH: u8 = 0x07;
    /// Server statistics string.
    pub const STATISTICS: u8 = 0x09;
    /// Process list (deprecated).
    pub const PROCESS_INFO: u8 = 0x0a;
    /// Kill a connection.
    pub const PROCESS_KILL: u8 = 0x0c;
    /// Debug output to the server log.
    pub const DEBUG: u8 = 0x0d;
    /// Liveness check.
    pub const PING: u8 = 0x0e;
    /// Re-authenticate as another user.
    pub const CHANGE_USER: u8 = 0x11;
    /// Binlog dump (replication; refused).
    pub const BINLOG_DUMP: u8 = 0x12;
    /// Prepare a statement.
    pub const STMT_PREPARE: u8 = 0x16;
    /// Execute a prepared statement.
    pub const STMT_EXECUTE: u8 = 0x17;
    /// Send a parameter's data in pieces.
    pub const STMT_SEND_LONG_DATA: u8 = 0x18;
    /// Deallocate a prepared statement.
    pub const STMT_CLOSE: u8 = 0x19;
    /// Reset a prepared statement's long data and cursor.
    pub const STMT_RESET: u8 = 0x1a;
    /// Turn multi-statements on or off.
    pub const SET_OPTION: u8 = 0x1b;
    /// Fetch rows from a cursor.
    pub const STMT_FETCH: u8 = 0x1c;
    /// Reset the session state.
    pub const RESET_CONNECTION: u8 = 0x1f;
}

/// First bytes of response packets.
pub mod header {
    /// OK packet.
    pub const OK: u8 = 0x00;
    /// LOCAL INFILE request.
    pub const LOCAL_INFILE: u8 = 0xFB;
    /// EOF packet, or OK packet ending a result set with DEPRECATE_EOF, or an auth switch request.
    pub const EOF: u8 = 0xFE;
    /// ERR packet.
    pub const ERR: u8 = 0xFF;
    /// More auth data (caching_sha2 status, RSA key).
    pub const AUTH_MORE_DATA: u8 = 0x01;
}

/// MySQL error codes sluice sends itself, with their SQLSTATE.
pub mod errors {
    /// `ER_CON_COUNT_ERROR`: too many connections.
    pub const TOO_MANY_CONNECTIONS: (u16, &str) = (1040, "08004");
    /// `ER_HANDSHAKE_ERROR`: bad handshake.
    pub const HANDSHAKE: (u16, &str) = (1043, "08S01");
    /// `ER_ACCESS_DENIED_ERROR`: wrong user or password.
    pub const ACCESS_DENIED: (u16, &str) = (1045, "28000");
    /// `ER_BAD_DB_ERROR`: unknown database.
    pub const BAD_DB: (u16, &str) = (1049, "42000");
    /// `ER_UNKNOWN_COM_ERROR`: unknown command.
    pub const UNKNOWN_COMMAND: (u16, &str) = (1047, "08S01");
    /// `ER_PARSE_ERROR`: syntax error (multi-statements without CLIENT_MULTI_STATEMENTS).
    pub const PARSE: (u16, &str) = (1064, "42000");
    /// `ER_NET_PACKET_TOO_LARGE`: packet larger than max_allowed_packet.
    pub const PACKET_TOO_LARGE: (u16, &str) = (1153, "08S01");
    /// `ER_NET_READ_ERROR`: malformed or out-of-order packet.
    pub const NET_READ: (u16, &str) = (1158, "08S01");
    /// `ER_NET_PACKETS_OUT_OF_ORDER`.
    pub const PACKETS_OUT_OF_ORDER: (u16, &str) = (1156, "08S01");
    /// `ER_NOT_ALLOWED_COMMAND`: LOAD DATA LOCAL without CLIENT_LOCAL_FILES.
    pub const NOT_ALLOWED_COMMAND: (u16, &str) = (1148, "42000");
    /// `ER_SECURE_TRANSPORT_REQUIRED`: the account requires TLS.
    pub const SECURE_TRANSPORT_REQUIRED: (u16, &str) = (3159, "HY000");
    /// `CR_CONN_HOST_ERROR`-like: sluice cannot reach a backend (ER_CONNECT_TO_FOREIGN_DATA_SOURCE).
    pub const BACKEND_UNREACHABLE: (u16, &str) = (1429, "HY000");
    /// `ER_QUERY_INTERRUPTED`: statement interrupted (shutdown, timeout).
    pub const QUERY_INTERRUPTED: (u16, &str) = (1317, "70100");
    /// `ER_SERVER_SHUTDOWN`.
    pub const SERVER_SHUTDOWN: (u16, &str) = (1053, "08S01");
    /// `ER_NET_READ_INTERRUPTED`: a backend did not answer in time.
    pub const NET_READ_INTERRUPTED: (u16, &str) = (1159, "08S01");
    /// `ER_NOT_SUPPORTED_AUTH_MODE`: client's auth method unsupported.
    pub const NOT_SUPPORTED_AUTH_MODE: (u16, &str) = (1251, "08004");
    /// `ER_NOT_SUPPORTED_YET`: something sluice does not do (what to do instead is in the message).
    pub const NOT_SUPPORTED_YET: (u16, &str) = (1235, "42000");
    /// `ER_NO_PARTITION_FOR_GIVEN_VALUE`: the closest MySQL has to "no shard holds this key".
    pub const NO_PARTITION_FOR_GIVEN_VALUE: (u16, &str) = (1526, "HY000");
    /// `ER_UNKNOWN_ERROR`: an internal error.
    pub const INTERNAL: (u16, &str) = (1105, "HY000");
}

/// Column types (`MYSQL_TYPE_*`, the type byte of a column definition and of a binary parameter), with
/// the server's names and values.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Eq, PartialEq, Debug, Hash)]
#[repr(u8)]
pub enum ColumnType {
    MYSQL_TYPE_DECIMAL = 0x00,
    MYSQL_TYPE_TINY = 0x01,
    MYSQL_TYPE_SHORT = 0x02,
    MYSQL_TYPE_LONG = 0x03,
    MYSQL_TYPE_FLOAT = 0x04,
    MYSQL_TYPE_DOUBLE = 0x05,
    MYSQL_TYPE_NULL = 0x06,
    MYSQL_TYPE_TIMESTAMP = 0x07,
    MYSQL_TYPE_LONGLONG = 0x08,
    MYSQL_TYPE_INT24 = 0x09,
    MYSQL_TYPE_DATE = 0x0a,
    MYSQL_TYPE_TIME = 0x0b,
    MYSQL_TYPE_DATETIME = 0x0c,
    MYSQL_TYPE_YEAR = 0x0d,
    /// Internal to the server.
    MYSQL_TYPE_NEWDATE = 0x0e,
    MYSQL_TYPE_VARCHAR = 0x0f,
    MYSQL_TYPE_BIT = 0x10,
    MYSQL_TYPE_TIMESTAMP2 = 0x11,
    MYSQL_TYPE_DATETIME2 = 0x12,
    MYSQL_TYPE_TIME2 = 0x13,
    /// Replication only.
    MYSQL_TYPE_TYPED_ARRAY = 0x14,
    /// MySQL 9: FLOAT32 dimensions, little-endian, as length-encoded bytes in binary and text rows
    /// alike (`protocol/testdata/mysql_types.txt`). MariaDB has no such type.
    MYSQL_TYPE_VECTOR = 0xf2,
    MYSQL_TYPE_UNKNOWN = 0xf3,
    /// MySQL's JSON: the document as length-encoded text (a table column is flagged BLOB | BINARY in
    /// the binary collation). MariaDB sends JSON columns as LONGTEXT (`MYSQL_TYPE_BLOB`) instead.
    MYSQL_TYPE_JSON = 0xf5,
    MYSQL_TYPE_NEWDECIMAL = 0xf6,
    MYSQL_TYPE_ENUM = 0xf7,
    MYSQL_TYPE_SET = 0xf8,
    MYSQL_TYPE_TINY_BLOB = 0xf9,
    MYSQL_TYPE_MEDIUM_BLOB = 0xfa,
    MYSQL_TYPE_LONG_BLOB = 0xfb,
    MYSQL_TYPE_BLOB = 0xfc,
    MYSQL_TYPE_VAR_STRING = 0xfd,
    MYSQL_TYPE_STRING = 0xfe,
    MYSQL_TYPE_GEOMETRY = 0xff,
}

/// A type byte that names no [`ColumnType`].
#[derive(Clone, Copy, Eq, PartialEq, Debug)]
pub struct UnknownColumnType(pub u8);

impl std::fmt::Display for UnknownColumnType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown column type 0x{:02x}", self.0)
    }
}

impl std::error::Error for UnknownColumnType {}

impl TryFrom<u8> for ColumnType {
    type Error = UnknownColumnType;

    fn try_from(b: u8) -> Result<Self, UnknownColumnType> {
        use ColumnType::*;
        Ok(match b {
            0x00 => MYSQL_TYPE_DECIMAL,
            0x01 => MYSQL_TYPE_TINY,
            0x02 => MYSQL_TYPE_SHORT,
            0x03 => MYSQL_TYPE_LONG,
            0x04 => MYSQL_TYPE_FLOAT,
            0x05 => MYSQL_TYPE_DOUBLE,
            0x06 => MYSQL_TYPE_NULL,
            0x07 => MYSQL_TYPE_TIMESTAMP,
            0x08 => MYSQL_TYPE_LONGLONG,
            0x09 => MYSQL_TYPE_INT24,
            0x0a => MYSQL_TYPE_DATE,
            0x0b => MYSQL_TYPE_TIME,
            0x0c => MYSQL_TYPE_DATETIME,
            0x0d => MYSQL_TYPE_YEAR,
            0x0e => MYSQL_TYPE_NEWDATE,
            0x0f => MYSQL_TYPE_VARCHAR,
            0x10 => MYSQL_TYPE_BIT,
            0x11 => MYSQL_TYPE_TIMESTAMP2,
            0x12 => MYSQL_TYPE_DATETIME2,
            0x13 => MYSQL_TYPE_TIME2,
            0x14 => MYSQL_TYPE_TYPED_ARRAY,
            0xf2 => MYSQL_TYPE_VECTOR,
            0xf3 => MYSQL_TYPE_UNKNOWN,
            0xf5 => MYSQL_TYPE_JSON,
            0xf6 => MYSQL_TYPE_NEWDECIMAL,
            0xf7 => MYSQL_TYPE_ENUM,
            0xf8 => MYSQL_TYPE_SET,
            0xf9 => MYSQL_TYPE_TINY_BLOB,
            0xfa => MYSQL_TYPE_MEDIUM_BLOB,
            0xfb => MYSQL_TYPE_LONG_BLOB,
            0xfc => MYSQL_TYPE_BLOB,
            0xfd => MYSQL_TYPE_VAR_STRING,
            0xfe => MYSQL_TYPE_STRING,
            0xff => MYSQL_TYPE_GEOMETRY,
            b => return Err(UnknownColumnType(b)),
        })
    }
}

impl From<ColumnType> for u8 {
    fn from(t: ColumnType) -> u8 {
        t as u8
    }
}

/// Column definition flags (`*_FLAG`): a `u16` mask; bits sluice does not name are kept as they are.
#[derive(Clone, Copy, Eq, PartialEq, Hash, Default)]
pub struct ColumnFlags(u16);

impl ColumnFlags {
    /// Can't be NULL.
    pub const NOT_NULL_FLAG: Self = Self(1);
    /// Part of a primary key.
    pub const PRI_KEY_FLAG: Self = Self(1 << 1);
    /// Part of a unique key.
    pub const UNIQUE_KEY_FLAG: Self = Self(1 << 2);
    /// Part of a key.
    pub const MULTIPLE_KEY_FLAG: Self = Self(1 << 3);
    /// A blob.
    pub const BLOB_FLAG: Self = Self(1 << 4);
    /// Unsigned.
    pub const UNSIGNED_FLAG: Self = Self(1 << 5);
    /// Zerofill.
    pub const ZEROFILL_FLAG: Self = Self(1 << 6);
    /// Binary (no character set).
    pub const BINARY_FLAG: Self = Self(1 << 7);
    /// An ENUM.
    pub const ENUM_FLAG: Self = Self(1 << 8);
    /// AUTO_INCREMENT.
    pub const AUTO_INCREMENT_FLAG: Self = Self(1 << 9);
    /// A TIMESTAMP.
    pub const TIMESTAMP_FLAG: Self = Self(1 << 10);
    /// A SET.
    pub const SET_FLAG: Self = Self(1 << 11);
    /// No default value.
    pub const NO_DEFAULT_VALUE_FLAG: Self = Self(1 << 12);
    /// Set to NOW on UPDATE.
    pub const ON_UPDATE_NOW_FLAG: Self = Self(1 << 13);
    /// Part of some key (internal).
    pub const PART_KEY_FLAG: Self = Self(1 << 14);
    /// Numeric (for clients).
    pub const NUM_FLAG: Self = Self(1 << 15);

    const NAMES: [(&'static str, Self); 16] = [
        ("NOT_NULL_FLAG", Self::NOT_NULL_FLAG),
        ("PRI_KEY_FLAG", Self::PRI_KEY_FLAG),
        ("UNIQUE_KEY_FLAG", Self::UNIQUE_KEY_FLAG),
        ("MULTIPLE_KEY_FLAG", Self::MULTIPLE_KEY_FLAG),
        ("BLOB_FLAG", Self::BLOB_FLAG),
        ("UNSIGNED_FLAG", Self::UNSIGNED_FLAG),
        ("ZEROFILL_FLAG", Self::ZEROFILL_FLAG),
        ("BINARY_FLAG", Self::BINARY_FLAG),
        ("ENUM_FLAG", Self::ENUM_FLAG),
        ("AUTO_INCREMENT_FLAG", Self::AUTO_INCREMENT_FLAG),
        ("TIMESTAMP_FLAG", Self::TIMESTAMP_FLAG),
        ("SET_FLAG", Self::SET_FLAG),
        ("NO_DEFAULT_VALUE_FLAG", Self::NO_DEFAULT_VALUE_FLAG),
        ("ON_UPDATE_NOW_FLAG", Self::ON_UPDATE_NOW_FLAG),
        ("PART_KEY_FLAG", Self::PART_KEY_FLAG),
        ("NUM_FLAG", Self::NUM_FLAG),
    ];

    /// No flag.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// The flags of a wire value, every bit kept.
    pub const fn from_bits_retain(bits: u16) -> Self {
        Self(bits)
    }

    /// The wire value.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl std::ops::BitOr for ColumnFlags {
    type Output = Self;

    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for ColumnFlags {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

/// `ColumnFlags(UNSIGNED_FLAG | BINARY_FLAG)`, as bitflags prints them.
impl std::fmt::Debug for ColumnFlags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ColumnFlags(")?;
        if self.is_empty() {
            f.write_str("0x0")?;
        }
        let mut first = true;
        for (name, flag) in Self::NAMES {
            if self.contains(flag) {
                f.write_str(if first { "" } else { " | " })?;
                f.write_str(name)?;
                first = false;
            }
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod column_tests {
    use super::*;

    #[test]
    fn every_type_byte_round_trips() {
        let known: Vec<u8> = (0..=255u8).filter(|b| ColumnType::try_from(*b).is_ok()).collect();
        assert_eq!(known.len(), 34);
        for b in known {
            assert_eq!(ColumnType::try_from(b).map(u8::from), Ok(b));
        }
        assert_eq!(ColumnType::try_from(0x20), Err(UnknownColumnType(0x20)));
        assert_eq!(ColumnType::try_from(0xf4), Err(UnknownColumnType(0xf4)));
    }

    #[test]
    fn flags_keep_every_bit() {
        let f = ColumnFlags::from_bits_retain(0xffff);
        assert!(f.contains(ColumnFlags::UNSIGNED_FLAG | ColumnFlags::NUM_FLAG));
        assert_eq!(f.bits(), 0xffff);
        assert!(!ColumnFlags::empty().contains(ColumnFlags::BINARY_FLAG));
        let d = format!("{:?}", ColumnFlags::UNSIGNED_FLAG | ColumnFlags::BINARY_FLAG);
        assert_eq!(d, "ColumnFlags(UNSIGNED_FLAG | BINARY_FLAG)");
    }
}
