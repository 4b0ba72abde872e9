//! PROXY protocol v2 (the binary header a load balancer — HAProxy, AWS NLB, a Kubernetes Service with
//! proxy protocol — puts in front of a TCP stream to tell the real client address). See
//! <https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt>, section 2.2.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The 12-byte signature every v2 header starts with.
pub const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// Bytes of the fixed part (signature, version/command, family/protocol, length).
pub const FIXED_LEN: usize = 16;

/// What the fixed part says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fixed {
    /// `true` for PROXY (addresses follow), `false` for LOCAL (a health check by the balancer itself:
    /// keep the connection's own addresses).
    pub proxied: bool,
    /// Address family and transport: 0x11 TCP/IPv4, 0x21 TCP/IPv6 (others carry no usable address).
    pub family: u8,
    /// Bytes that follow the fixed part (addresses and TLVs).
    pub len: usize,
}

/// Why a header is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyHeaderError {
    /// The stream does not start with the v2 signature.
    #[error(
        "the connection did not start with a PROXY protocol v2 header (is the load balancer sending one?)"
    )]
    NoSignature,
    /// Version other than 2, or a command other than LOCAL/PROXY.
    #[error("unsupported PROXY header version/command byte 0x{0:02x}")]
    Version(u8),
    /// The address block is shorter than its family needs.
    #[error("PROXY header address block too short for family 0x{0:02x}")]
    Short(u8),
}

/// Parses the fixed 16 bytes.
pub fn parse_fixed(b: &[u8; FIXED_LEN]) -> Result<Fixed, ProxyHeaderError> {
    if b[..12] != SIGNATURE {
        return Err(ProxyHeaderError::NoSignature);
    }
    let proxied = match b[12] {
        0x20 => false,
        0x21 => true,
        other => return Err(ProxyHeaderError::Version(other)),
    };
    Ok(Fixed { proxied, family: b[13], len: usize::from(u16::from_be_bytes([b[14], b[15]])) })
}

/// The client's (source) address from the address block, `None` for LOCAL or a family without one
/// (UNSPEC, UNIX, UDP are kept as the connection's own address).
pub fn source(fixed: &Fixed, block: &[u8]) -> Result<Option<SocketAddr>, ProxyHeaderError> {
    if !fixed.proxied {
        return Ok(None);
    }
    match fixed.family {
        0x11 => {
            let a = block.get(..12).ok_or(ProxyHeaderError::Short(fixed.family))?;
            let ip = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
            Ok(Some(SocketAddr::new(IpAddr::V4(ip), u16::from_be_bytes([a[8], a[9]]))))
        }
        0x21 => {
            let a = block.get(..36).ok_or(ProxyHeaderError::Short(fixed.family))?;
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&a[..16]);
            Ok(Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), u16::from_be_bytes([a[32], a[33]]))))
        }
        _ => Ok(None),
    }
}

/// Encodes a v2 PROXY header for a TCP connection from `src` to `dst` (tests, and clients that speak it).
pub fn encode(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let mut out = SIGNATURE.to_vec();
    out.push(0x21);
    match (src, dst) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => {
            out.push(0x11);
            out.extend_from_slice(&12u16.to_be_bytes());
            out.extend_from_slice(&s.ip().octets());
            out.extend_from_slice(&d.ip().octets());
            out.extend_from_slice(&s.port().to_be_bytes());
            out.extend_from_slice(&d.port().to_be_bytes());
        }
        (s, d) => {
            let v6 = |a: SocketAddr| match a.ip() {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            out.push(0x21);
            out.extend_from_slice(&36u16.to_be_bytes());
            out.extend_from_slice(&v6(s).octets());
            out.extend_from_slice(&v6(d).octets());
            out.extend_from_slice(&s.port().to_be_bytes());
            out.extend_from_slice(&d.port().to_be_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(h: &[u8]) -> ([u8; FIXED_LEN], &[u8]) {
        let mut f = [0u8; FIXED_LEN];
        f.copy_from_slice(&h[..FIXED_LEN]);
        (f, &h[FIXED_LEN..])
    }

    #[test]
    fn ipv4_and_ipv6_round_trip() {
        for (src, dst) in
            [("203.0.113.7:51234", "10.0.0.1:6033"), ("[2001:db8::1]:40000", "[2001:db8::2]:6033")]
        {
            let (src, dst): (SocketAddr, SocketAddr) = (src.parse().unwrap(), dst.parse().unwrap());
            let h = encode(src, dst);
            let (f, rest) = split(&h);
            let fixed = parse_fixed(&f).unwrap();
            assert!(fixed.proxied);
            assert_eq!(fixed.len, rest.len());
            assert_eq!(source(&fixed, rest).unwrap(), Some(src));
        }
    }

    #[test]
    fn local_keeps_the_connection_address_and_junk_is_refused() {
        let mut h = encode("1.2.3.4:5".parse().unwrap(), "6.7.8.9:10".parse().unwrap());
        h[12] = 0x20;
        let (f, rest) = split(&h);
        let fixed = parse_fixed(&f).unwrap();
        assert_eq!(source(&fixed, rest).unwrap(), None);
        let mut bad = [0u8; FIXED_LEN];
        bad[..4].copy_from_slice(b"\x0a\x00\x00\x00");
        assert_eq!(parse_fixed(&bad), Err(ProxyHeaderError::NoSignature));
        let mut h2 = h.clone();
        h2[12] = 0x11;
        let (f2, _) = split(&h2);
        assert_eq!(parse_fixed(&f2), Err(ProxyHeaderError::Version(0x11)));
        let (f, _) = split(&encode("1.2.3.4:5".parse().unwrap(), "6.7.8.9:10".parse().unwrap()));
        let fixed = parse_fixed(&f).unwrap();
        assert_eq!(source(&fixed, &[0u8; 4]), Err(ProxyHeaderError::Short(0x11)));
    }
}
