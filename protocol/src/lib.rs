//! MySQL wire protocol for sluice: framing, handshake and auth, commands, OK/ERR/EOF, result-set tracking
//! and row codecs. No sockets, no policy: everything here works on `bytes` buffers.

pub mod auth;
pub mod binary;
pub mod buf;
pub mod capture;
pub mod clock;
pub mod codec;
pub mod column;
pub mod constants;
pub mod error;
pub mod handshake;
pub mod packets;
pub mod proxy_header;
pub mod tracker;

pub use codec::{Packet, PacketCodec, write_packet};
pub use error::{ProtocolError, Result};
