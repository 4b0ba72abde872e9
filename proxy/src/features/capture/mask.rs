//! Masking of sensitive literals in captured statements, by the lexer's literal spans: the statement
//! keeps its shape and sizes (so it replays with realistic costs), not its values.

use sluice_protocol::binary::Value;
use sluice_router::lexer::{Literal, LiteralKind};

use crate::core::config::Mask;

/// The statement with its literals masked (the text as sent when `mask` is `None`).
pub fn mask_sql(sql: &[u8], literals: &[Literal], mask: Mask) -> Vec<u8> {
    let mut out = sql.to_vec();
    if mask == Mask::None {
        return out;
    }
    for l in literals {
        let Some(span) = out.get_mut(l.span.clone()) else { continue };
        match l.kind {
            LiteralKind::String => {
                // Keep the quotes (and any introducer before the first one); mask what is between.
                let first = span.iter().position(|b| *b == b'\'' || *b == b'"');
                if let Some(q) = first
                    && span.len() >= q + 2
                {
                    let end = span.len() - 1;
                    span[q + 1..end].fill(b'x');
                }
            }
            LiteralKind::Number | LiteralKind::Hex | LiteralKind::Bit if mask == Mask::All => {
                let neg = span.len() > 1 && span.first() == Some(&b'-');
                span.fill(b' ');
                if neg {
                    span[0] = b'-';
                }
                if let Some(d) = span.get_mut(usize::from(neg)) {
                    *d = b'0';
                }
            }
            _ => {}
        }
    }
    out
}

/// A parameter masked like a literal.
pub fn mask_value(v: &Value, mask: Mask) -> Value {
    match (v, mask) {
        (_, Mask::None) | (Value::Null, _) => v.clone(),
        (Value::Bytes(b), _) => Value::Bytes(vec![b'x'; b.len()].into()),
        (Value::Int(_), Mask::All) => Value::Int(0),
        (Value::UInt(_), Mask::All) => Value::UInt(0),
        (Value::Float(_), Mask::All) => Value::Float(0.0),
        (Value::Double(_), Mask::All) => Value::Double(0.0),
        _ => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(sql: &str, mask: Mask) -> String {
        let lexed = sluice_router::lexer::lex(sql.as_bytes());
        String::from_utf8_lossy(&mask_sql(sql.as_bytes(), &lexed.literals, mask)).into_owned()
    }

    #[test]
    fn strings_and_numbers_are_masked_in_place() {
        let sql = "SELECT * FROM u WHERE email = 'bob@x.org' AND id = -42 AND h = 0xff";
        assert_eq!(masked(sql, Mask::None), sql);
        assert_eq!(
            masked(sql, Mask::Strings),
            "SELECT * FROM u WHERE email = 'xxxxxxxxx' AND id = -42 AND h = 0xff"
        );
        assert_eq!(
            masked(sql, Mask::All),
            "SELECT * FROM u WHERE email = 'xxxxxxxxx' AND id = -0  AND h = 0   "
        );
        assert_eq!(mask_value(&Value::Bytes("secret".into()), Mask::Strings), Value::Bytes("xxxxxx".into()));
        assert_eq!(mask_value(&Value::Int(7), Mask::Strings), Value::Int(7));
        assert_eq!(mask_value(&Value::Int(7), Mask::All), Value::Int(0));
    }
}
