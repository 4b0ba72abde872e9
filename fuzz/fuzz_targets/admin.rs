//! The admin statement parser, on any text (as the admin session reads it: lossy UTF-8): a statement
//! or an error, never a panic; a statement prints as text that parses to the same statement; and the
//! spacing between words never changes what a statement is (quoted arguments aside).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice::admin::parse;

fuzz_target!(|data: &[u8]| {
    let sql = String::from_utf8_lossy(data);
    let parsed = parse(&sql);
    if let Ok(st) = &parsed {
        let text = st.to_string();
        match parse(&text) {
            Ok(again) => assert_eq!(&again, st, "{sql:?} parsed to {st:?}, printed as {text:?}"),
            Err(e) => panic!("{sql:?} parsed to {st:?}, printed as {text:?}, which does not parse: {e}"),
        }
    }
    if !sql.contains(['\'', '"', '`']) {
        let spaced = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        let again = parse(&spaced);
        assert_eq!(again.as_ref().ok(), parsed.as_ref().ok(), "{sql:?} and {spaced:?} parse differently");
    }
});
