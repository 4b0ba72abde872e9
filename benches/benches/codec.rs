//! Packet decode/encode and the per-packet work of the relay: framing, OK/terminator translation,
//! the response tracker over a sysbench-like point-select response.

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice_protocol::PacketCodec;
use sluice_protocol::codec::write_packet;
use sluice_protocol::constants::caps;
use sluice_protocol::tracker::{Expect, ResponseTracker, end_to_eof, ok_for_client};
use tokio_util::codec::Decoder;

/// A point-select response as MariaDB sends it with DEPRECATE_EOF: column count, one definition,
/// one row of 120 bytes, OK-terminator.
fn point_select_response() -> (BytesMut, usize) {
    let coldef: &[u8] = b"\x03def\x06sbtest\x07sbtest1\x07sbtest1\x01c\x01c\x0c\x21\x00\xe0\x01\x00\x00\xfe\x81\x10\x00\x00\x00";
    let mut row = vec![120u8];
    row.extend(std::iter::repeat_n(b'7', 120));
    let packets: [&[u8]; 4] = [&[0x01], coldef, &row, &[0xFE, 0, 0, 0x02, 0, 0, 0]];
    let mut out = BytesMut::new();
    let mut seq = 1;
    for p in packets {
        seq = write_packet(&mut out, seq, p);
    }
    (out, packets.len())
}

fn decode(c: &mut Criterion) {
    let (wire, n) = point_select_response();
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("point_select_response", |b| {
        let mut codec = PacketCodec::default();
        b.iter(|| {
            let mut buf = wire.clone();
            let mut count = 0;
            while let Ok(Some(p)) = codec.decode(&mut buf) {
                count += p.payload.len();
            }
            count
        })
    });
    g.bench_function("decode_track_reencode", |b| {
        let mut codec = PacketCodec::default();
        let mut out = BytesMut::with_capacity(wire.len() + 64);
        b.iter(|| {
            let mut buf = wire.clone();
            let mut t = ResponseTracker::new(Expect::ResultSets, true);
            out.clear();
            let mut seq = 1u8;
            while let Ok(Some(p)) = codec.decode(&mut buf) {
                let step = t.feed(&p.payload).ok();
                seq = write_packet(&mut out, seq, &p.payload);
                if step.is_some_and(|s| s.done) {
                    break;
                }
            }
            out.len()
        })
    });
    g.finish();
}

fn encode(c: &mut Criterion) {
    let payload = vec![0x5au8; 200];
    let big = vec![0x5au8; 20 << 20];
    let mut g = c.benchmark_group("encode");
    g.bench_function("200_bytes", |b| {
        let mut out = BytesMut::with_capacity(4096);
        b.iter(|| {
            out.clear();
            write_packet(&mut out, 1, &payload)
        })
    });
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.sample_size(20);
    g.bench_function("20_MiB_split", |b| {
        let mut out = BytesMut::with_capacity(big.len() + 64);
        b.iter(|| {
            out.clear();
            write_packet(&mut out, 1, &big)
        })
    });
    g.finish();
}

fn translate(c: &mut Criterion) {
    let end = Bytes::from_static(&[0xFE, 0, 0, 0x02, 0, 0, 0]);
    let ok =
        Bytes::from_static(&[0x00, 1, 0, 0x02, 0x40, 0, 0, 0x00, 0x06, 0x01, 0x04, 0x03, b'a', b'p', b'p']);
    let mut g = c.benchmark_group("translate");
    g.bench_function("end_to_eof", |b| b.iter(|| end_to_eof(&end)));
    g.bench_function("strip_session_state", |b| {
        b.iter(|| ok_for_client(&ok, caps::SESSION_TRACK | caps::PROTOCOL_41, caps::PROTOCOL_41))
    });
    g.finish();
}

criterion_group!(benches, decode, encode, translate);
criterion_main!(benches);
