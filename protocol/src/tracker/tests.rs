//! Tracker tests on packet sequences as MariaDB 10.11 sends them.

use super::*;

fn feed_all(t: &mut ResponseTracker, packets: &[&[u8]]) -> Vec<Step> {
    packets.iter().map(|p| t.feed(p).expect("valid packet")).collect()
}

const COLDEF: &[u8] = b"\x03def\x00\x00\x00\x01a\x00\x0c\x3f\x00\x01\x00\x00\x00\x08\x80\x00\x00\x00\x00";
const ROW: &[u8] = b"\x011";
const EOF_AUTOCOMMIT: &[u8] = &[0xFE, 0, 0, 0x02, 0];
const END_AUTOCOMMIT: &[u8] = &[0xFE, 0, 0, 0x02, 0, 0, 0];
const OK_AUTOCOMMIT: &[u8] = &[0x00, 0, 0, 0x02, 0, 0, 0];

#[test]
fn select_with_deprecate_eof() {
    let mut t = ResponseTracker::new(Expect::ResultSets, true);
    let s = feed_all(&mut t, &[&[0x01], COLDEF, ROW, ROW, END_AUTOCOMMIT]);
    let kinds: Vec<Kind> = s.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [Kind::ColumnCount(1), Kind::ColumnDef, Kind::Row, Kind::Row, Kind::End]);
    assert!(s[1].ends_defs);
    assert!(s[4].done && !s[3].done);
    assert_eq!(s[4].status, Some(status::AUTOCOMMIT));
    assert!(t.is_done());
}

#[test]
fn select_with_classic_eof() {
    let mut t = ResponseTracker::new(Expect::ResultSets, false);
    let s = feed_all(&mut t, &[&[0x01], COLDEF, EOF_AUTOCOMMIT, ROW, EOF_AUTOCOMMIT]);
    let kinds: Vec<Kind> = s.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [Kind::ColumnCount(1), Kind::ColumnDef, Kind::MetaEnd, Kind::Row, Kind::End]);
    assert!(t.is_done());
}

#[test]
fn multi_results_continue_until_last() {
    // SELECT 1; UPDATE …; SELECT 1 — first and second carry MORE_RESULTS_EXISTS.
    let more_end: &[u8] = &[0xFE, 0, 0, 0x0A, 0, 0, 0];
    let more_ok: &[u8] = &[0x00, 1, 0, 0x0A, 0, 0, 0];
    let mut t = ResponseTracker::new(Expect::ResultSets, true);
    let s =
        feed_all(&mut t, &[&[0x01], COLDEF, ROW, more_end, more_ok, &[0x01], COLDEF, ROW, END_AUTOCOMMIT]);
    assert!(s[..8].iter().all(|s| !s.done));
    assert!(s[8].done);
    assert_eq!(s[4].kind, Kind::Ok);
}

#[test]
fn err_mid_result_ends_response() {
    let mut t = ResponseTracker::new(Expect::ResultSets, true);
    let s = feed_all(&mut t, &[&[0x01], COLDEF, ROW, b"\xff\x1e\x05#70100Query execution was interrupted"]);
    assert_eq!(s[3].kind, Kind::Err);
    assert!(s[3].done);
    assert!(t.feed(ROW).is_err());
}

#[test]
fn plain_ok_and_err() {
    let mut t = ResponseTracker::new(Expect::ResultSets, true);
    assert!(t.feed(OK_AUTOCOMMIT).expect("ok").done);
    let mut t = ResponseTracker::new(Expect::Ok, true);
    let s = t.feed(b"\xff\x19\x04#42000Unknown database 'x'").expect("err");
    assert_eq!((s.kind, s.done), (Kind::Err, true));
}

#[test]
fn local_infile_then_ok() {
    let mut t = ResponseTracker::new(Expect::ResultSets, true);
    let s = t.feed(b"\xfb/tmp/x.csv").expect("infile");
    assert_eq!((s.kind, s.done), (Kind::LocalInfile, false));
    let s = t.feed(&[0x00, 3, 0, 0x02, 0, 0, 0]).expect("ok");
    assert!(s.done);
}

#[test]
fn prepare_with_params_and_columns_both_eof_modes() {
    let prep: &[u8] = &[0x00, 1, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0];
    let mut t = ResponseTracker::new(Expect::Prepare, true);
    let s = feed_all(&mut t, &[prep, COLDEF, COLDEF, COLDEF]);
    assert_eq!(s[0].kind, Kind::PrepareOk { statement_id: 1, columns: 2, params: 1 });
    assert_eq!(s[1].kind, Kind::ParamDef);
    assert!(s[1].ends_defs && !s[2].ends_defs && s[3].ends_defs);
    assert!(s[3].done);

    let mut t = ResponseTracker::new(Expect::Prepare, false);
    let s = feed_all(&mut t, &[prep, COLDEF, EOF_AUTOCOMMIT, COLDEF, COLDEF, EOF_AUTOCOMMIT]);
    assert_eq!(s[2].kind, Kind::MetaEnd);
    assert_eq!(s[5].kind, Kind::MetaEnd);
    assert!(s[5].done && !s[4].done);
}

#[test]
fn prepare_without_params_or_columns_is_one_packet() {
    let mut t = ResponseTracker::new(Expect::Prepare, false);
    assert!(t.feed(&[0x00, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).expect("ok").done);
}

#[test]
fn cursor_ends_after_metadata() {
    let cursor_eof: &[u8] = &[0xFE, 0, 0, 0x42, 0];
    let mut t = ResponseTracker::new(Expect::ResultSets, false);
    let s = feed_all(&mut t, &[&[0x01], COLDEF, cursor_eof]);
    assert!(s[2].done);
    let mut t = ResponseTracker::new(Expect::Rows, false);
    let s = feed_all(&mut t, &[&[0x00, 0x00, 1, 0, 0, 0], &[0xFE, 0, 0, 0xC2, 0]]);
    assert_eq!(s[1].kind, Kind::End);
    assert!(s[1].done);
}

#[test]
fn field_list_and_statistics() {
    let mut t = ResponseTracker::new(Expect::FieldList, true);
    let s = feed_all(&mut t, &[COLDEF, COLDEF, END_AUTOCOMMIT]);
    assert!(s[2].done);
    let mut t = ResponseTracker::new(Expect::for_command(command::STATISTICS), true);
    assert!(t.feed(b"Uptime: 5  Threads: 1").expect("stats").done);
}

#[test]
fn row_starting_with_fe_is_a_row_when_huge() {
    let mut big = vec![0xFEu8];
    big.extend_from_slice(&(crate::codec::MAX_CHUNK as u64).to_le_bytes());
    big.resize(crate::codec::MAX_CHUNK + 9, b'x');
    let mut t = ResponseTracker::new(Expect::ResultSets, true);
    let s = feed_all(&mut t, &[&[0x01], COLDEF, &big, END_AUTOCOMMIT]);
    assert_eq!(s[2].kind, Kind::Row);
    assert!(s[3].done);
}

#[test]
fn translations() {
    let end = Bytes::from_static(&[0xFE, 0, 0, 0x02, 0x40, 0x01, 0x00, 0x00]);
    assert_eq!(&end_to_eof(&end).expect("eof")[..], &[0xFE, 0x01, 0x00, 0x02, 0x00]);
    let eof = Bytes::from_static(&[0xFE, 0x03, 0x00, 0x02, 0x00]);
    assert_eq!(&eof_to_end(&eof).expect("end")[..], &[0xFE, 0, 0, 0x02, 0x00, 0x03, 0x00]);
    assert_eq!(&meta_eof(0x4002)[..], &[0xFE, 0, 0, 0x02, 0x00]);
}

#[test]
fn garbage_never_panics() {
    for expect in
        [Expect::ResultSets, Expect::Prepare, Expect::FieldList, Expect::Rows, Expect::Ok, Expect::Single]
    {
        for deprecate in [true, false] {
            let mut t = ResponseTracker::new(expect, deprecate);
            for p in [&b""[..], b"\x00", b"\xfe", b"\xfc\x01", b"\x05", b"\xfb", b"\x01", b"\x00\x01"] {
                let _ = t.feed(p);
            }
        }
    }
}
