//! A cached result: the response packets exactly as the client was sent them (sequence ids are written
//! fresh on every hit), the generations it was filled under, and its deadline. The same bytes go to
//! Redis, so an L2 hit and an L1 hit replay the same thing.

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};

use crate::gens::Stamp;

/// Format version of an encoded entry (L2); another version is a miss.
const VERSION: u8 = 1;

/// One cached result.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The full key it was stored under (compared on every L2 hit: Redis keys are hashes).
    pub key: Bytes,
    /// Response payloads, each `u32 LE length ‖ payload`.
    pub packets: Bytes,
    /// Number of packets.
    pub count: u32,
    /// Rows in the result.
    pub rows: u64,
    /// Generations it was filled under (local ones in L1, Redis ones in L2).
    pub stamp: Stamp,
    /// When it stops being served.
    pub expires: Instant,
    /// From then on, one session refreshes it while the others are still served this one (refresh
    /// ahead; equal to `expires` when off).
    pub refresh_at: Instant,
}

impl Entry {
    /// Bytes this entry holds, for the L1 weight.
    pub fn weight(&self) -> u64 {
        (self.key.len() + self.packets.len() + 8 * self.stamp.0.len() + 96) as u64
    }

    /// The payloads, in order.
    pub fn payloads(&self) -> Payloads<'_> {
        Payloads { rest: &self.packets }
    }

    /// Time to live left (zero once expired).
    pub fn ttl_left(&self) -> Duration {
        self.expires.saturating_duration_since(Instant::now())
    }

    /// The L2 encoding: version, key, stamp, rows, packets.
    pub fn encode(&self) -> Vec<u8> {
        let mut b =
            BytesMut::with_capacity(32 + self.key.len() + self.packets.len() + 8 * self.stamp.0.len());
        b.put_u8(VERSION);
        b.put_u32_le(self.key.len() as u32);
        b.put_slice(&self.key);
        b.put_u16_le(self.stamp.0.len() as u16);
        for g in &self.stamp.0 {
            b.put_u64_le(*g);
        }
        b.put_u64_le(self.rows);
        b.put_u64_le(unix_ms().saturating_add(self.ttl_left().as_millis().try_into().unwrap_or(u64::MAX)));
        b.put_u32_le(self.count);
        b.put_slice(&self.packets);
        b.to_vec()
    }

    /// Decodes an L2 value; `None` for anything malformed or of another version (a miss, never an error
    /// and never a panic: the bytes come from Redis, which anyone with access to it can write). Every
    /// length is checked against what is there before anything is allocated; a deadline further than
    /// [`crate::MAX_TTL`] away is cut to it.
    pub fn decode(raw: &[u8]) -> Option<Entry> {
        let mut b = Cursor(raw);
        if b.u8()? != VERSION {
            return None;
        }
        let klen = usize::try_from(b.u32()?).ok()?;
        let key = Bytes::copy_from_slice(b.take(klen)?);
        let n = usize::from(b.u16()?);
        let stamp = b.take(n.checked_mul(8)?)?;
        let stamp = Stamp(
            stamp.chunks_exact(8).map(|g| u64::from_le_bytes(g.try_into().unwrap_or_default())).collect(),
        );
        let rows = b.u64()?;
        let deadline = b.u64()?;
        let count = b.u32()?;
        let ttl = Duration::from_millis(deadline.checked_sub(unix_ms())?).min(crate::MAX_TTL);
        let packets = Bytes::copy_from_slice(b.0);
        // Check the framing once here, so a hit can trust it.
        let mut seen = 0u32;
        let mut p = Payloads { rest: &packets };
        for _ in p.by_ref() {
            seen = seen.checked_add(1)?;
        }
        if seen != count || !p.rest.is_empty() {
            return None;
        }
        let expires = Instant::now().checked_add(ttl)?;
        Some(Entry { key, packets, count, rows, stamp, expires, refresh_at: expires })
    }
}

/// A bounds-checked reader over an L2 value: every read is `None` past the end.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }
}

/// Milliseconds since the Unix epoch (deadlines in Redis are shared between processes).
fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Iterator over an entry's payloads.
pub struct Payloads<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Payloads<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(u32::from_le_bytes(self.rest.get(..4)?.try_into().ok()?)).ok()?;
        let end = len.checked_add(4)?;
        let p = self.rest.get(4..end)?;
        self.rest = self.rest.get(end..)?;
        Some(p)
    }
}

/// Collects a response's payloads into an [`Entry`]'s packet buffer, up to a byte limit.
#[derive(Debug)]
pub struct Collector {
    buf: BytesMut,
    count: u32,
    limit: usize,
    over: bool,
}

impl Collector {
    /// A collector that gives up past `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Collector { buf: BytesMut::new(), count: 0, limit, over: false }
    }

    /// Adds one payload (as sent to the client).
    pub fn push(&mut self, payload: &[u8]) {
        if self.over {
            return;
        }
        if self.buf.len() + 4 + payload.len() > self.limit {
            self.over = true;
            self.buf = BytesMut::new();
            return;
        }
        self.buf.put_u32_le(payload.len() as u32);
        self.buf.put_slice(payload);
        self.count += 1;
    }

    /// Whether the response outgrew the limit.
    pub fn over_limit(&self) -> bool {
        self.over
    }

    /// The packets and their count, unless the limit was passed.
    pub fn finish(self) -> Option<(Bytes, u32)> {
        (!self.over).then(|| (self.buf.freeze(), self.count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        let mut c = Collector::new(1 << 20);
        for p in [&b"\x01"[..], b"\x03def", b"\xfe\x00\x00\x02\x00"] {
            c.push(p);
        }
        let (packets, count) = c.finish().unwrap();
        Entry {
            key: Bytes::from_static(b"k"),
            packets,
            count,
            rows: 1,
            stamp: Stamp(vec![1, 2, 3]),
            expires: Instant::now() + Duration::from_secs(5),
            refresh_at: Instant::now() + Duration::from_secs(5),
        }
    }

    #[test]
    fn encode_decode_round_trips() {
        let e = entry();
        let d = Entry::decode(&e.encode()).unwrap();
        assert_eq!(d.key, e.key);
        assert_eq!(d.stamp, e.stamp);
        assert_eq!(d.rows, 1);
        assert!(d.ttl_left() > Duration::from_secs(3) && d.ttl_left() <= Duration::from_secs(5));
        let ps: Vec<_> = d.payloads().collect();
        assert_eq!(ps, vec![&b"\x01"[..], b"\x03def", b"\xfe\x00\x00\x02\x00"]);
    }

    #[test]
    fn malformed_values_are_misses() {
        let raw = entry().encode();
        for cut in 0..raw.len() {
            assert!(Entry::decode(&raw[..cut]).is_none(), "cut at {cut}");
        }
        let mut bad = raw.clone();
        bad[0] = 9;
        assert!(Entry::decode(&bad).is_none());
    }

    #[test]
    fn hostile_values_are_misses_not_panics() {
        let good = entry().encode();
        // Where the deadline sits: version, key length, key, stamp count, stamp, rows.
        let at = 1 + 4 + 1 + 2 + 3 * 8 + 8;
        // A deadline of u64::MAX ms (`Instant + ttl` overflowed before): served, TTL cut to MAX_TTL.
        let mut far = good.clone();
        far[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        let d = Entry::decode(&far).expect("a far deadline is still an entry");
        assert!(d.ttl_left() <= crate::MAX_TTL);
        // Lengths announcing more than is there: key, stamp count, a packet's length.
        let mut key = good.clone();
        key[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Entry::decode(&key).is_none());
        let mut stamps = good.clone();
        stamps[6..8].copy_from_slice(&u16::MAX.to_le_bytes());
        assert!(Entry::decode(&stamps).is_none());
        let mut packet = good.clone();
        let first = at + 8 + 4;
        packet[first..first + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Entry::decode(&packet).is_none());
        // A count that does not match the packets, a trailing partial packet.
        let mut count = good.clone();
        count[at + 8..at + 12].copy_from_slice(&9u32.to_le_bytes());
        assert!(Entry::decode(&count).is_none());
        let mut trailing = good.clone();
        trailing.extend_from_slice(&[5, 0, 0]);
        assert!(Entry::decode(&trailing).is_none());
        // Garbage: a deterministic byte soup of many lengths, every one a miss or an entry, never a panic.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..2000 {
            let soup: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let _ = Entry::decode(&soup);
            let mut v1 = soup.clone();
            v1.insert(0, VERSION);
            let _ = Entry::decode(&v1);
        }
    }

    #[test]
    fn collector_gives_up_past_the_limit() {
        let mut c = Collector::new(10);
        c.push(b"12345");
        c.push(b"67890");
        assert!(c.over_limit());
        assert!(c.finish().is_none());
    }
}
