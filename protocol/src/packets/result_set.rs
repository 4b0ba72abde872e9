//! Text result sets that sluice answers itself (`SHOW LAST ROUTE`, the admin interface): every column is
//! a string, every value text or NULL, terminated the way the client negotiated (EOF packets, or an OK
//! with the 0xFE header under CLIENT_DEPRECATE_EOF).

use bytes::{Bytes, BytesMut};

use super::{EofPacket, OkPacket};
use crate::binary::encode_text_row;
use crate::buf::put_lenenc;
use crate::column::ColumnDefinition;
use crate::constants::{ColumnFlags, ColumnType, caps};

/// The packets of a whole text result set, in order: column count, definitions, (EOF), rows, end.
pub fn text_result_set(
    columns: &[&str],
    rows: &[Vec<Option<Bytes>>],
    client_caps: u32,
    status: u16,
) -> Vec<Bytes> {
    let deprecate_eof = client_caps & caps::DEPRECATE_EOF != 0;
    let mut out = Vec::with_capacity(columns.len() + rows.len() + 3);
    let mut b = BytesMut::with_capacity(9);
    put_lenenc(&mut b, columns.len() as u64);
    out.push(b.freeze());
    for name in columns {
        let mut b = BytesMut::with_capacity(32 + name.len());
        ColumnDefinition::new(
            Bytes::copy_from_slice(name.as_bytes()),
            ColumnType::MYSQL_TYPE_VAR_STRING,
            ColumnFlags::empty(),
        )
        .encode(&mut b);
        out.push(b.freeze());
    }
    if !deprecate_eof {
        out.push(EofPacket { warnings: 0, status }.to_bytes());
    }
    for row in rows {
        let mut b = BytesMut::with_capacity(row.iter().map(|v| v.as_ref().map_or(1, |v| v.len() + 9)).sum());
        encode_text_row(row, &mut b);
        out.push(b.freeze());
    }
    if deprecate_eof {
        out.push(OkPacket { header: 0xFE, status, ..OkPacket::default() }.to_bytes(client_caps));
    } else {
        out.push(EofPacket { warnings: 0, status }.to_bytes());
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap; the lint guards library code
mod tests {
    use super::*;
    use crate::tracker::{Expect, Kind, ResponseTracker};

    #[test]
    fn result_sets_parse_back_in_both_eof_styles() {
        let rows = vec![
            vec![Some(Bytes::from_static(b"a")), None],
            vec![Some(Bytes::new()), Some(Bytes::from_static(b"42"))],
        ];
        for deprecate in [false, true] {
            let c = if deprecate { caps::DEPRECATE_EOF | caps::PROTOCOL_41 } else { caps::PROTOCOL_41 };
            let packets = text_result_set(&["x", "y"], &rows, c, 2);
            let mut t = ResponseTracker::new(Expect::ResultSets, deprecate);
            let mut got = 0;
            for (i, p) in packets.iter().enumerate() {
                let step = t.feed(p).unwrap();
                if step.kind == Kind::Row {
                    got += 1;
                }
                assert_eq!(step.done, i == packets.len() - 1);
            }
            assert_eq!(got, 2);
        }
    }
}
