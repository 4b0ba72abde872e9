//! Limits on what a peer that has not logged in can hold: connections still in the handshake per
//! source address (`[server] max_handshakes_per_ip`) and admin connections (`[admin] max_connections`).
//!
//! Without the first, one address opening connections faster than `handshake_timeout_ms` expires them
//! (~1,000/s idle in the handshake for 10 s) fills every `max_client_connections` slot and locks
//! everyone else out. A connection counts only until its login is decided: a logged-in client is
//! bounded by `max_client_connections` and its user's `max_connections` instead.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use sluice_protocol::constants::errors;
use sluice_protocol::packets::ErrPacket;
use tokio::io::{AsyncRead, AsyncWrite};

/// Connections in the handshake, per source address. An IPv6 address counts by its /64: one host
/// usually holds a whole /64, so counting single addresses would not limit it at all.
#[derive(Debug, Default)]
pub struct Handshakes {
    per_source: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection counted in [`Handshakes`]; uncounted on drop (login decided, or the connection gone).
#[derive(Debug)]
pub struct HandshakeGuard {
    counted: Option<(Arc<Handshakes>, IpAddr)>,
}

impl Handshakes {
    /// Counts a connection from `ip`, or `None` when `limit` connections from it are already in the
    /// handshake. `limit` 0 = no limit (nothing is counted).
    pub fn enter(self: &Arc<Self>, ip: IpAddr, limit: usize) -> Option<HandshakeGuard> {
        if limit == 0 {
            return Some(HandshakeGuard { counted: None });
        }
        let key = source_key(ip);
        let mut map = self.per_source.lock();
        let n = map.entry(key).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(HandshakeGuard { counted: Some((self.clone(), key)) })
    }

    /// Connections from `ip` (its /64 for IPv6) in the handshake now.
    pub fn count(&self, ip: IpAddr) -> usize {
        self.per_source.lock().get(&source_key(ip)).copied().unwrap_or(0)
    }

    /// Source addresses with a connection in the handshake now (the map never outgrows them).
    pub fn sources(&self) -> usize {
        self.per_source.lock().len()
    }
}

impl Drop for HandshakeGuard {
    fn drop(&mut self) {
        if let Some((h, key)) = self.counted.take() {
            let mut map = h.per_source.lock();
            if let Some(n) = map.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&key);
                }
            }
        }
    }
}

/// What an address is counted under: IPv4 (and IPv4-mapped IPv6) as is, other IPv6 by its /64.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

/// A count of open connections checked against a limit read at each connection (so a reload that
/// changes the limit applies to the next connection).
#[derive(Debug, Default)]
pub struct Slots {
    open: AtomicUsize,
}

/// One taken slot of [`Slots`]; given back on drop.
#[derive(Debug)]
pub struct SlotGuard(Arc<Slots>);

impl Slots {
    /// Takes a slot, or `None` when `limit` are taken. `limit` 0 = no limit.
    pub fn take(self: &Arc<Self>, limit: usize) -> Option<SlotGuard> {
        let n = self.open.fetch_add(1, Ordering::AcqRel);
        if limit > 0 && n >= limit {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(SlotGuard(self.clone()))
    }

    /// Slots taken now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Sends ERR 1040 (Too many connections, 08004) as the first packet (instead of a greeting, as MySQL
/// does when it is full) and closes. Nothing is read from the peer.
pub async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(stream: S, message: String) {
    let mut c = crate::core::net::PacketStream::new(stream, 1024);
    c.write(0, &ErrPacket::new(errors::TOO_MANY_CONNECTIONS, message).to_bytes());
    // A peer that does not read cannot hold this task: the ERR is small and the flush bounded.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), c.flush()).await;
    c.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_source_until_dropped() {
        let h = Arc::new(Handshakes::default());
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        let g1 = h.enter(a, 2).expect("first");
        let g2 = h.enter(a, 2).expect("second");
        assert!(h.enter(a, 2).is_none(), "third from the same address is over the limit");
        let gb = h.enter(b, 2).expect("another address is not affected");
        drop(g1);
        let g3 = h.enter(a, 2).expect("a slot came back");
        drop((g2, g3, gb));
        assert_eq!(h.sources(), 0, "no entry is left behind");
        // 0 = off: nothing counted.
        let _g: Vec<_> = (0..100).map(|_| h.enter(a, 0).expect("no limit")).collect();
        assert_eq!(h.count(a), 0);
    }

    #[test]
    fn ipv6_counts_by_slash_64_and_mapped_v4_as_v4() {
        let h = Arc::new(Handshakes::default());
        let _x = h.enter("2001:db8::1".parse().expect("ip"), 1).expect("first");
        assert!(h.enter("2001:db8::ffff:1".parse().expect("ip"), 1).is_none(), "same /64");
        assert!(h.enter("2001:db8:0:1::1".parse().expect("ip"), 1).is_some(), "another /64");
        let _y = h.enter("10.1.1.1".parse().expect("ip"), 1).expect("v4");
        assert!(h.enter("::ffff:10.1.1.1".parse().expect("ip"), 1).is_none(), "mapped = same v4");
    }

    #[test]
    fn slots_refuse_past_the_limit_and_give_back() {
        let s = Arc::new(Slots::default());
        let a = s.take(2).expect("1");
        let _b = s.take(2).expect("2");
        assert!(s.take(2).is_none());
        assert_eq!(s.open(), 2);
        drop(a);
        assert!(s.take(2).is_some());
        assert!(s.take(0).is_some(), "0 = no limit");
    }
}
