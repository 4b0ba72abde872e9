//! Networking below the session: a buffered packet stream over any byte stream, and streams that may
//! switch to TLS after the MySQL handshake began.

mod packet_stream;
mod tls_stream;

pub use packet_stream::PacketStream;
pub use tls_stream::{MaybeTls, Prefixed};
