//! Packet framing: a 3-byte little-endian length and a sequence id before every payload; payloads of
//! 16 MiB − 1 bytes or more are split into chunks of exactly 0xFFFFFF bytes followed by a shorter one
//! (possibly empty). The decoder joins chunks into one logical [`Packet`]; [`write_packet`] splits them.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::error::ProtocolError;

/// Largest chunk payload; a chunk of exactly this size means "more chunks follow".
pub const MAX_CHUNK: usize = 0xFF_FFFF;

/// Most the decoder asks the buffer to grow by while waiting for the rest of a packet. A header may
/// announce up to 16 MiB that the peer never sends: the buffer grows as bytes arrive, not when the
/// header does, so a peer holds only as much memory as it has actually sent.
pub const READ_AHEAD: usize = 64 * 1024;

/// One logical packet: its payload with all chunks joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Sequence id of the first chunk.
    pub seq: u8,
    /// Sequence id the next packet of the exchange must carry.
    pub next_seq: u8,
    /// The payload.
    pub payload: Bytes,
}

impl Packet {
    /// First byte of the payload, if any (the packet "header": 0x00 OK, 0xFF ERR, 0xFE EOF, …).
    pub fn first(&self) -> Option<u8> {
        self.payload.first().copied()
    }
}

/// Decoder/encoder of MySQL packets, with a limit on the size of one logical packet.
#[derive(Debug)]
pub struct PacketCodec {
    limit: usize,
    /// Chunks of a packet larger than [`MAX_CHUNK`] gathered so far, with the first chunk's sequence id.
    partial: Option<(u8, BytesMut)>,
}

impl PacketCodec {
    /// A codec that refuses logical packets larger than `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self { limit, partial: None }
    }

    /// Changes the limit for the packets after the current one (a client's limit rises after login).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// The limit on one logical packet.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Whether a multi-chunk packet has been started but not finished.
    pub fn in_progress(&self) -> bool {
        self.partial.is_some()
    }
}

impl Default for PacketCodec {
    /// 1 GiB, MySQL's largest `max_allowed_packet`.
    fn default() -> Self {
        Self::new(1 << 30)
    }
}

impl Decoder for PacketCodec {
    type Item = Packet;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Packet>, ProtocolError> {
        loop {
            if src.len() < 4 {
                src.reserve(4);
                return Ok(None);
            }
            let len = usize::from(src[0]) | usize::from(src[1]) << 8 | usize::from(src[2]) << 16;
            let seq = src[3];
            let so_far = self.partial.as_ref().map_or(0, |(_, p)| p.len());
            if so_far + len > self.limit {
                return Err(ProtocolError::TooLarge { size: so_far + len, limit: self.limit });
            }
            if src.len() < 4 + len {
                // Room for the next bytes only, never for the whole announced length at once.
                src.reserve((4 + len - src.len()).min(READ_AHEAD));
                return Ok(None);
            }
            src.advance(4);
            let chunk = src.split_to(len);
            if len == MAX_CHUNK {
                match &mut self.partial {
                    Some((_, p)) => p.extend_from_slice(&chunk),
                    None => self.partial = Some((seq, chunk)),
                }
                continue;
            }
            let next_seq = seq.wrapping_add(1);
            return Ok(Some(match self.partial.take() {
                None => Packet { seq, next_seq, payload: chunk.freeze() },
                Some((first, mut p)) => {
                    p.extend_from_slice(&chunk);
                    Packet { seq: first, next_seq, payload: p.freeze() }
                }
            }));
        }
    }
}

/// Appends `payload` as one logical packet starting at sequence id `seq`; returns the next sequence id.
/// Splits payloads of [`MAX_CHUNK`] bytes or more, ending with a shorter (possibly empty) chunk.
pub fn write_packet(out: &mut BytesMut, mut seq: u8, payload: &[u8]) -> u8 {
    out.reserve(payload.len() + 4 * (payload.len() / MAX_CHUNK + 1));
    let mut rest = payload;
    loop {
        let n = rest.len().min(MAX_CHUNK);
        out.put_uint_le(n as u64, 3);
        out.put_u8(seq);
        out.put_slice(&rest[..n]);
        seq = seq.wrapping_add(1);
        rest = &rest[n..];
        if n < MAX_CHUNK {
            return seq;
        }
    }
}

/// Starts a packet whose payload is written in place: reserves the 4-byte header and returns its offset.
/// Finish with [`finish_packet`]. Saves building the payload in a second buffer for small packets.
pub fn begin_packet(out: &mut BytesMut) -> usize {
    let at = out.len();
    out.put_slice(&[0, 0, 0, 0]);
    at
}

/// Completes a packet begun at `at` with sequence id `seq`; returns the next sequence id. A payload of
/// [`MAX_CHUNK`] bytes or more is moved out and re-split (rare: only huge generated packets).
pub fn finish_packet(out: &mut BytesMut, at: usize, seq: u8) -> u8 {
    let len = out.len() - at - 4;
    if len >= MAX_CHUNK {
        let payload = out.split_off(at + 4);
        out.truncate(at);
        return write_packet(out, seq, &payload);
    }
    out[at] = len as u8;
    out[at + 1] = (len >> 8) as u8;
    out[at + 2] = (len >> 16) as u8;
    out[at + 3] = seq;
    seq.wrapping_add(1)
}

impl Encoder<Packet> for PacketCodec {
    type Error = ProtocolError;

    fn encode(&mut self, item: Packet, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        write_packet(dst, item.seq, &item.payload);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut PacketCodec, bytes: &[u8]) -> Vec<Packet> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(p) = codec.decode(&mut buf).expect("decodes") {
            out.push(p);
        }
        out
    }

    #[test]
    fn decodes_com_ping_and_ok() {
        // COM_PING as mysql_async sends it, then MariaDB's OK reply (autocommit set).
        let bytes = [0x01, 0, 0, 0, 0x0e, 0x07, 0, 0, 1, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00];
        let p = decode_all(&mut PacketCodec::default(), &bytes);
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].seq, &p[0].payload[..]), (0, &[0x0e][..]));
        assert_eq!((p[1].seq, p[1].next_seq), (1, 2));
        assert_eq!(&p[1].payload[..], &[0, 0, 0, 2, 0, 0, 0]);
    }

    #[test]
    fn partial_input_waits_for_more() {
        let mut c = PacketCodec::default();
        let mut buf = BytesMut::from(&[0x03, 0, 0, 0, b'a'][..]);
        assert_eq!(c.decode(&mut buf).expect("ok"), None);
        buf.extend_from_slice(b"bc");
        let p = c.decode(&mut buf).expect("ok").expect("packet");
        assert_eq!(&p.payload[..], b"abc");
    }

    #[test]
    fn payloads_at_and_over_16_mib_split_and_join() {
        for size in [MAX_CHUNK - 1, MAX_CHUNK, MAX_CHUNK + 1, 2 * MAX_CHUNK, 2 * MAX_CHUNK + 7] {
            let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let mut out = BytesMut::new();
            let next = write_packet(&mut out, 5, &payload);
            let chunks = size / MAX_CHUNK + 1;
            assert_eq!(next, 5 + chunks as u8, "size {size}");
            assert_eq!(out.len(), size + 4 * chunks);
            let p = decode_all(&mut PacketCodec::default(), &out);
            assert_eq!(p.len(), 1);
            assert_eq!((p[0].seq, p[0].next_seq), (5, next));
            assert!(p[0].payload[..] == payload[..], "size {size}");
        }
    }

    #[test]
    fn limit_applies_to_joined_packet() {
        let mut out = BytesMut::new();
        write_packet(&mut out, 0, &vec![0u8; MAX_CHUNK + 10]);
        let mut c = PacketCodec::new(MAX_CHUNK + 5);
        let mut buf = out;
        assert!(matches!(c.decode(&mut buf), Err(ProtocolError::TooLarge { .. })));
    }

    #[test]
    fn announced_length_is_not_reserved_before_it_arrives() {
        // A header announcing 16 MiB − 1 with 3 bytes behind it: the buffer may grow by READ_AHEAD,
        // not by 16 MiB.
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0x01, b'a', b'b', b'c'][..]);
        let mut c = PacketCodec::default();
        assert!(c.decode(&mut buf).expect("ok").is_none());
        assert!(buf.capacity() <= 2 * READ_AHEAD, "reserved {} bytes", buf.capacity());
        // A joined packet's later chunks are not reserved up front either: one full chunk, then the
        // header of a second that announces 16 MiB − 1 more.
        let mut out = BytesMut::with_capacity(MAX_CHUNK + 8);
        out.put_slice(&[0xff, 0xff, 0xff, 0x00]);
        out.put_bytes(1, MAX_CHUNK);
        out.put_slice(&[0xff, 0xff, 0xff, 0x01]);
        let mut c = PacketCodec::default();
        assert!(c.decode(&mut out).expect("ok").is_none());
        assert!(c.in_progress());
        assert!(out.capacity() <= 2 * READ_AHEAD, "reserved {} bytes", out.capacity());
    }

    #[test]
    fn header_over_the_limit_fails_at_once() {
        // 64 KiB + 1 announced against a 64 KiB limit: refused from the 4 header bytes alone.
        let mut buf = BytesMut::from(&[0x01, 0x00, 0x01, 0x01][..]);
        let mut c = PacketCodec::new(64 * 1024);
        match c.decode(&mut buf) {
            Err(ProtocolError::TooLarge { size, limit }) => assert_eq!((size, limit), (65_537, 65_536)),
            other => panic!("expected TooLarge, got {other:?}"),
        }
        let mut c = PacketCodec::new(64 * 1024);
        c.set_limit(1 << 20);
        let mut buf = BytesMut::from(&[0x01, 0x00, 0x01, 0x01][..]);
        assert_eq!(c.decode(&mut buf).expect("ok"), None);
        assert_eq!(c.limit(), 1 << 20);
    }

    #[test]
    fn sequence_wraps() {
        let mut out = BytesMut::new();
        assert_eq!(write_packet(&mut out, 255, b"x"), 0);
    }

    #[test]
    fn begin_finish_matches_write_packet() {
        let mut a = BytesMut::new();
        let at = begin_packet(&mut a);
        a.put_slice(b"hello");
        assert_eq!(finish_packet(&mut a, at, 3), 4);
        let mut b = BytesMut::new();
        write_packet(&mut b, 3, b"hello");
        assert_eq!(a, b);
    }

    #[test]
    fn begin_finish_splits_huge_payloads() {
        let mut a = BytesMut::from(&b"pre"[..]);
        let at = begin_packet(&mut a);
        a.put_slice(&vec![7u8; MAX_CHUNK + 3]);
        assert_eq!(finish_packet(&mut a, at, 0), 2);
        let mut b = BytesMut::from(&b"pre"[..]);
        write_packet(&mut b, 0, &vec![7u8; MAX_CHUNK + 3]);
        assert!(a == b);
    }
}
