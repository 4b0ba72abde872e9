//! A MySQL packet stream: one read buffer and one write buffer reused for the connection's life, so a
//! statement costs one read and one write syscall in the common case and no allocation per packet.

use bytes::BytesMut;
use sluice_protocol::{Packet, PacketCodec, ProtocolError, write_packet};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::Decoder;

/// Initial and minimum free space of the read buffer.
const READ_CHUNK: usize = 16 * 1024;

/// Packets over a byte stream `S`.
pub struct PacketStream<S> {
    io: S,
    rbuf: BytesMut,
    wbuf: BytesMut,
    codec: PacketCodec,
    /// Sequence id after the last packet read: what a reply to it carries.
    next_seq: u8,
    /// How much the read buffer grows by when less than a quarter of it is free before a read.
    grow: usize,
}

/// Buffer size of a connection that has not logged in ([`PacketStream::preauth`]): its packets are a
/// few hundred bytes, and thousands may sit idle in the handshake.
const PREAUTH_CHUNK: usize = 1024;

impl<S: AsyncRead + AsyncWrite + Unpin> PacketStream<S> {
    /// Wraps `io`; logical packets larger than `limit` bytes are refused.
    pub fn new(io: S, limit: usize) -> Self {
        Self::with_buffer(io, limit, BytesMut::with_capacity(READ_CHUNK))
    }

    /// Wraps `io` with bytes already read from it (after a TLS switch or a peek).
    pub fn with_buffer(io: S, limit: usize, rbuf: BytesMut) -> Self {
        Self {
            io,
            rbuf,
            wbuf: BytesMut::with_capacity(READ_CHUNK),
            codec: PacketCodec::new(limit),
            next_seq: 0,
            grow: READ_CHUNK,
        }
    }

    /// A client stream before login: 1 KiB buffers (16 KiB ones cost an idle handshake ~16 KB of
    /// RSS); [`Self::logged_in`] gives it the full-size ones.
    pub fn preauth(io: S, limit: usize) -> Self {
        Self {
            io,
            rbuf: BytesMut::with_capacity(PREAUTH_CHUNK),
            wbuf: BytesMut::with_capacity(PREAUTH_CHUNK),
            codec: PacketCodec::new(limit),
            next_seq: 0,
            grow: PREAUTH_CHUNK,
        }
    }

    /// The client has logged in: packets up to `limit` bytes, and the read buffer of [`Self::new`].
    pub fn logged_in(&mut self, limit: usize) {
        self.set_limit(limit);
        self.grow = READ_CHUNK;
        self.rbuf.reserve(READ_CHUNK);
    }

    /// Changes the largest logical packet accepted from now on (a client's rises after login).
    pub fn set_limit(&mut self, limit: usize) {
        self.codec.set_limit(limit);
    }

    /// The next packet, reading as needed; `None` when the peer closed cleanly between packets.
    /// The buffer grows as bytes arrive (the codec asks for at most `READ_AHEAD` more at a time), so
    /// a header announcing 16 MiB costs nothing until the 16 MiB are sent.
    pub async fn read(&mut self) -> Result<Option<Packet>, ProtocolError> {
        loop {
            if let Some(p) = self.decode()? {
                return Ok(Some(p));
            }
            if self.rbuf.capacity() - self.rbuf.len() < self.grow / 4 {
                self.rbuf.reserve(self.grow);
            }
            let n = match self.io.read_buf(&mut self.rbuf).await {
                Ok(n) => n,
                // A TLS peer that closes without close_notify between packets has simply gone.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
                Err(e) => return Err(e.into()),
            };
            if n == 0 {
                if self.rbuf.is_empty() && !self.codec.in_progress() {
                    return Ok(None);
                }
                return Err(ProtocolError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }

    /// A packet already in the read buffer, without I/O.
    pub fn buffered(&mut self) -> Result<Option<Packet>, ProtocolError> {
        self.decode()
    }

    fn decode(&mut self) -> Result<Option<Packet>, ProtocolError> {
        match self.codec.decode(&mut self.rbuf) {
            Ok(p) => {
                if let Some(p) = &p {
                    self.next_seq = p.next_seq;
                }
                Ok(p)
            }
            Err(e) => {
                // A packet refused from its header (too large): the ERR that answers it follows its
                // sequence id, so the client reads it as the reply rather than as out of order.
                if matches!(e, ProtocolError::TooLarge { .. }) && self.rbuf.len() >= 4 {
                    self.next_seq = self.rbuf[3].wrapping_add(1);
                }
                Err(e)
            }
        }
    }

    /// The sequence id a reply to the last packet read carries.
    pub fn next_seq(&self) -> u8 {
        self.next_seq
    }

    /// Whether unread bytes are buffered (a pipelining client, or a half-read packet).
    pub fn has_unread(&self) -> bool {
        !self.rbuf.is_empty()
    }

    /// Whether the peer has closed the connection or sent something unasked, checked without waiting
    /// (one non-blocking read). An idle backend connection whose server restarted, or that hit
    /// `wait_timeout`, has its EOF already queued in the kernel: this finds it before a statement is
    /// sent into it.
    pub fn peer_closed_or_spoke(&mut self) -> bool {
        if !self.rbuf.is_empty() {
            return true;
        }
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut probe = [0u8; 64];
        let mut buf = tokio::io::ReadBuf::new(&mut probe);
        match std::pin::Pin::new(&mut self.io).poll_read(&mut cx, &mut buf) {
            std::task::Poll::Pending => false,
            std::task::Poll::Ready(Ok(())) => {
                // EOF (nothing read) or unexpected bytes (an error packet about a timeout): either way
                // the connection is not fit for a statement.
                self.rbuf.extend_from_slice(buf.filled());
                true
            }
            std::task::Poll::Ready(Err(_)) => true,
        }
    }

    /// Queues a packet; returns the next sequence id. Nothing is sent until [`Self::flush`].
    pub fn write(&mut self, seq: u8, payload: &[u8]) -> u8 {
        write_packet(&mut self.wbuf, seq, payload)
    }

    /// The write buffer, to build packets in place with `sluice_protocol::codec::{begin_packet, finish_packet}`.
    pub fn write_buf(&mut self) -> &mut BytesMut {
        &mut self.wbuf
    }

    /// Bytes queued and not yet sent.
    pub fn pending(&self) -> usize {
        self.wbuf.len()
    }

    /// Sends everything queued.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if !self.wbuf.is_empty() {
            self.io.write_all(&self.wbuf).await?;
            self.wbuf.clear();
        }
        self.io.flush().await
    }

    /// Drops queued bytes (the peer is gone or the response is being replaced by an error).
    pub fn discard_pending(&mut self) {
        self.wbuf.clear();
    }

    /// Unwraps the stream and any bytes read but not yet decoded.
    pub fn into_parts(self) -> (S, BytesMut) {
        (self.io, self.rbuf)
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// Closes the write side.
    pub async fn shutdown(&mut self) {
        let _ = self.io.shutdown().await;
    }
}
