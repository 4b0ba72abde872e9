//! Command dispatch: which commands sluice answers itself (COM_PING, COM_SET_OPTION, COM_CHANGE_USER,
//! COM_QUIT), which it forwards, and which it refuses with ERR 1047.

use bytes::{BufMut, BytesMut};
use sluice_protocol::Packet;
use sluice_protocol::constants::{caps, command, errors};
use sluice_protocol::handshake::ChangeUser;
use sluice_protocol::packets::{EofPacket, OkPacket};
use tokio::io::{AsyncRead, AsyncWrite};

use super::Session;
use super::auth::{Attempt, access_denied, authenticate};
use crate::error::{Error, Result};

/// What the statement loop does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Read the next command.
    Continue,
    /// Close the session.
    Close,
}

/// MYSQL_OPTION_MULTI_STATEMENTS_ON / _OFF for COM_SET_OPTION.
const OPTION_MULTI_STATEMENTS_ON: u16 = 0;
const OPTION_MULTI_STATEMENTS_OFF: u16 = 1;

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// Handles one command packet (sequence id 0).
    pub(super) async fn command(&mut self, p: Packet) -> Result<Next> {
        let Some(&cmd) = p.payload.first() else {
            return Err(Error::Client(sluice_protocol::ProtocolError::malformed("command", "empty packet")));
        };
        match cmd {
            command::QUIT => Ok(Next::Close),
            command::PING => {
                self.reply_ok(1).await?;
                Ok(Next::Continue)
            }
            command::QUERY => {
                let sql = &p.payload[1..];
                if !self.multi_statements && sluice_router::lexer::statement_count(sql) > 1 {
                    return Err(Error::reply(
                        errors::PARSE,
                        "You have an error in your SQL syntax: several statements in one query, but multi-statements are not enabled on this connection (enable CLIENT_MULTI_STATEMENTS in the driver)",
                    ));
                }
                self.forward(p).await
            }
            command::SET_OPTION => self.set_option(&p).await,
            command::CHANGE_USER => self.change_user(&p).await,
            command::INIT_DB
            | command::FIELD_LIST
            | command::STATISTICS
            | command::RESET_CONNECTION
            | command::STMT_PREPARE
            | command::STMT_EXECUTE
            | command::STMT_FETCH
            | command::STMT_RESET
            | command::STMT_CLOSE
            | command::STMT_SEND_LONG_DATA => self.forward(p).await,
            _ => Err(Error::reply(
                errors::UNKNOWN_COMMAND,
                format!("Unknown command 0x{cmd:02x} ({}): sluice does not support it", command_name(cmd)),
            )),
        }
    }

    /// Sends an OK with the session's status.
    async fn reply_ok(&mut self, seq: u8) -> Result<()> {
        let mut out = BytesMut::with_capacity(16);
        OkPacket { status: self.status, ..OkPacket::default() }.encode(self.caps, &mut out);
        self.client.write(seq, &out);
        self.client.flush().await.map_err(|_| Error::ClientGone)
    }

    /// COM_SET_OPTION: multi-statements are enforced by sluice (backend connections always allow them),
    /// so the option is the session's, answered with EOF (or OK-as-EOF for DEPRECATE_EOF clients).
    async fn set_option(&mut self, p: &Packet) -> Result<Next> {
        let option = p.payload.get(1..3).map(|b| u16::from_le_bytes([b[0], b[1]]));
        match option {
            Some(OPTION_MULTI_STATEMENTS_ON) => self.multi_statements = true,
            Some(OPTION_MULTI_STATEMENTS_OFF) => self.multi_statements = false,
            _ => return Err(Error::reply(errors::UNKNOWN_COMMAND, "Unknown COM_SET_OPTION option")),
        }
        let mut out = BytesMut::with_capacity(8);
        if self.caps & caps::DEPRECATE_EOF != 0 {
            OkPacket { header: 0xFE, status: self.status, ..OkPacket::default() }.encode(self.caps, &mut out);
        } else {
            EofPacket { warnings: 0, status: self.status }.encode(&mut out);
        }
        self.client.write(1, &out);
        self.client.flush().await.map_err(|_| Error::ClientGone)?;
        Ok(Next::Continue)
    }

    /// COM_CHANGE_USER: sluice re-authenticates the client itself, then gives the session a clean backend
    /// connection for the new user (the old one is reset and returned to its pool). A failed attempt
    /// closes the session, as MySQL does.
    async fn change_user(&mut self, p: &Packet) -> Result<Next> {
        let cu = ChangeUser::parse(&p.payload, self.caps).map_err(Error::Client)?;
        let user = self.shared.users.get(&cu.user);
        let plugin = cu.auth_plugin.as_deref().unwrap_or(b"mysql_native_password");
        let tls = self.client.get_ref().is_tls();
        let attempt = Attempt {
            user: user.as_deref(),
            plugin,
            data: cu.auth_response.clone(),
            nonce: self.nonce.clone(),
        };
        let (ok, _plugin, seq) = authenticate(&mut self.client, attempt, p.next_seq, tls).await?;
        let name = String::from_utf8_lossy(&cu.user).into_owned();
        let user = match (ok, user) {
            (true, Some(u)) if !u.require_tls || tls => u,
            _ => {
                let e = access_denied(&name, self.peer, !cu.auth_response.is_empty());
                self.client.write(seq, &e.to_err_packet().to_bytes());
                let _ = self.client.flush().await;
                return Ok(Next::Close);
            }
        };
        self.backend = None;
        self.user = user;
        if let Some(c) = cu.charset {
            self.charset = c as u8;
        }
        self.schema = (!cu.database.is_empty()).then(|| String::from_utf8_lossy(&cu.database).into_owned());
        self.status = sluice_protocol::constants::status::AUTOCOMMIT;
        if let Err(e) = self.attach_backend().await {
            self.client.write(seq, &e.to_err_packet().to_bytes());
            let _ = self.client.flush().await;
            return Ok(if e.is_fatal_for_session() { Next::Close } else { Next::Continue });
        }
        self.reply_ok(seq).await?;
        Ok(Next::Continue)
    }
}

/// A command byte's name for messages.
fn command_name(cmd: u8) -> &'static str {
    match cmd {
        0x00 => "COM_SLEEP",
        command::CREATE_DB => "COM_CREATE_DB",
        command::DROP_DB => "COM_DROP_DB",
        command::REFRESH => "COM_REFRESH",
        0x08 => "COM_SHUTDOWN",
        command::PROCESS_INFO => "COM_PROCESS_INFO",
        0x0b => "COM_CONNECT",
        command::PROCESS_KILL => "COM_PROCESS_KILL",
        command::DEBUG => "COM_DEBUG",
        0x0f => "COM_TIME",
        0x10 => "COM_DELAYED_INSERT",
        command::BINLOG_DUMP => "COM_BINLOG_DUMP",
        0x13 => "COM_TABLE_DUMP",
        0x14 => "COM_CONNECT_OUT",
        0x15 => "COM_REGISTER_SLAVE",
        0x1d => "COM_DAEMON",
        0x1e => "COM_BINLOG_DUMP_GTID",
        _ => "unknown",
    }
}

/// Appends a COM_INIT_DB payload.
pub fn init_db(schema: &str) -> BytesMut {
    let mut p = BytesMut::with_capacity(1 + schema.len());
    p.put_u8(command::INIT_DB);
    p.put_slice(schema.as_bytes());
    p
}
