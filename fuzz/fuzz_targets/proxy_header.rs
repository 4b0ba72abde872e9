//! PROXY protocol v2 header, read as the session reads it (the fixed 16 bytes, then exactly the length
//! they announce): any bytes give an address, none, or an error, never a panic; an address that is
//! given re-encodes, with the block's destination, to the same family byte and address bytes; and any
//! pair of addresses built from the input encodes to a header that parses back to its source.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use sluice_protocol::proxy_header::{FIXED_LEN, ProxyHeaderError, SIGNATURE, encode, parse_fixed, source};

fn v4(b: &[u8], port: &[u8]) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])), u16::from_be_bytes([port[0], port[1]]))
}

fn v6(b: &[u8], port: &[u8]) -> SocketAddr {
    let mut ip = [0u8; 16];
    ip.copy_from_slice(&b[..16]);
    SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), u16::from_be_bytes([port[0], port[1]]))
}

/// Encodes `src`→`dst`, parses it back as the session does: the source, and the encoded address bytes.
fn round_trip(src: SocketAddr, dst: SocketAddr) {
    let h = encode(src, dst);
    let (fixed, block) = h.split_first_chunk::<FIXED_LEN>().expect("a header has its fixed part");
    let f = parse_fixed(fixed).expect("an encoded header parses");
    assert_eq!(f.len, block.len(), "the length field does not match the address block");
    let got = source(&f, block).expect("an encoded block parses").expect("a PROXY header has a source");
    let want = match (src, dst) {
        (SocketAddr::V4(_), SocketAddr::V4(_)) => src,
        // A mixed pair is sent as IPv6 (IPv4 mapped).
        _ => match src.ip() {
            IpAddr::V4(ip) => SocketAddr::new(IpAddr::V6(ip.to_ipv6_mapped()), src.port()),
            IpAddr::V6(_) => src,
        },
    };
    assert_eq!(got, want);
}

fuzz_target!(|data: &[u8]| {
    // Addresses from the input's bytes, whatever the header says.
    if data.len() >= 36 {
        round_trip(v4(&data[..4], &data[8..10]), v4(&data[4..8], &data[10..12]));
        round_trip(v6(&data[..16], &data[32..34]), v6(&data[16..32], &data[34..36]));
        round_trip(v4(&data[..4], &data[8..10]), v6(&data[16..32], &data[34..36]));
    }
    let Some((fixed, rest)) = data.split_first_chunk::<FIXED_LEN>() else { return };
    let f = match parse_fixed(fixed) {
        Ok(f) => f,
        Err(ProxyHeaderError::NoSignature) => {
            assert_ne!(fixed[..12], SIGNATURE);
            return;
        }
        Err(ProxyHeaderError::Version(v)) => {
            assert!(v == fixed[12] && !matches!(v, 0x20 | 0x21));
            return;
        }
        Err(e) => panic!("the fixed part gave {e:?}"),
    };
    assert_eq!(f.len, usize::from(u16::from_be_bytes([fixed[14], fixed[15]])));
    assert_eq!((f.proxied, f.family), (fixed[12] == 0x21, fixed[13]));
    // The session reads exactly the announced length; a shorter stream never gets to `source`.
    let Some(block) = rest.get(..f.len) else { return };
    let need = match f.family {
        0x11 => 12,
        0x21 => 36,
        _ => 0,
    };
    match source(&f, block) {
        Ok(Some(src)) => {
            assert!(f.proxied && need > 0 && block.len() >= need);
            let dst = if f.family == 0x11 {
                v4(&block[4..8], &block[10..12])
            } else {
                v6(&block[16..32], &block[34..36])
            };
            let again = encode(src, dst);
            assert_eq!(again[13], f.family, "re-encoded to another family");
            assert_eq!(&again[FIXED_LEN..], &block[..need], "the addresses re-encode to other bytes");
        }
        Ok(None) => assert!(!f.proxied || need == 0),
        Err(ProxyHeaderError::Short(fam)) => assert!(fam == f.family && f.proxied && block.len() < need),
        Err(e) => panic!("the address block gave {e:?}"),
    }
});
