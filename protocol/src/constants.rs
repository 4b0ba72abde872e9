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
    /// `ER_UNKNOWN_ERROR`: an internal error.
    pub const INTERNAL: (u16, &str) = (1105, "HY000");
}

pub use mysql_common::constants::{ColumnFlags, ColumnType};
