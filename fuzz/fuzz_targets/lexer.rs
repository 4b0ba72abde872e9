//! The digest lexer on any bytes, in each session mode (the first byte picks it): literal and statement
//! spans lie inside the input, in order; normalizing the normalized text again in the same mode
//! changes nothing (same text, same digest); the default-mode spelling given to sqlparser has the same
//! tokens; classification of what the lexer gives never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_router::lexer::{LexMode, TokenKind, digest_id, lex, lex_tokens_with, lex_with, statement_count};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, sql)) = data.split_first() else { return };
    let mode = LexMode { no_backslash_escapes: pick & 1 != 0, ansi_quotes: pick & 2 != 0 };
    let l = lex_with(sql, mode);
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
    if mode == LexMode::DEFAULT {
        assert_eq!(lex(sql), l);
        assert_eq!(digest_id(sql), l.digest);
        assert_eq!(statement_count(sql), l.statements.len());
    }
    let (with_tokens, toks) = lex_tokens_with(sql, mode);
    assert_eq!(with_tokens, l);
    let again = lex_with(l.text.as_bytes(), mode);
    assert_eq!(again.text, l.text, "normalizing twice is not stable for {:?}", String::from_utf8_lossy(sql));
    assert_eq!(again.digest, l.digest);
    // What sqlparser is given reads, in the default mode, as the same tokens and statements.
    let spelled = sluice_router::lexer::to_default_mode(sql, mode);
    let (d, dtoks) = lex_tokens_with(&spelled, LexMode::DEFAULT);
    assert_eq!(d.statements.len(), l.statements.len());
    let kinds = |t: &[sluice_router::lexer::Token]| t.iter().map(|t| t.kind).collect::<Vec<TokenKind>>();
    assert_eq!(kinds(&dtoks), kinds(&toks));
    let _ = sluice_router::classify::classify(&l);
});
