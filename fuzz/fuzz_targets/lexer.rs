//! The digest lexer on any bytes: literal and statement spans lie inside the input, in order;
//! normalizing the normalized text again changes nothing (same text, same digest); classification of
//! what the lexer gives never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_router::lexer::{digest_id, lex, statement_count};

fuzz_target!(|sql: &[u8]| {
    let l = lex(sql);
    let mut last_end = 0;
    for lit in &l.literals {
        assert!(
            lit.span.start <= lit.span.end && lit.span.end <= sql.len(),
            "literal span {:?} out of bounds",
            lit.span
        );
        assert!(lit.span.start >= last_end, "literal spans overlap or are out of order");
        last_end = lit.span.end;
    }
    let mut last_end = 0;
    for st in &l.statements {
        assert!(st.start <= st.end && st.end <= sql.len(), "statement range {st:?} out of bounds");
        assert!(st.start >= last_end, "statement ranges overlap or are out of order");
        last_end = st.end;
    }
    assert_eq!(digest_id(sql), l.digest);
    assert_eq!(statement_count(sql), l.statements.len());
    let again = lex(l.text.as_bytes());
    assert_eq!(again.text, l.text, "normalizing twice is not stable for {:?}", String::from_utf8_lossy(sql));
    assert_eq!(again.digest, l.digest);
    let _ = sluice_router::classify::classify(&l);
});
