//! Loads the hex fixtures that testdata/capture.py recorded from a real MariaDB.

use bytes::Bytes;

/// The `<kind> <hex>` lines of one fixture file, in order.
pub struct Fixture {
    entries: Vec<(String, Bytes)>,
}

impl Fixture {
    /// Parses a fixture file's text; `#` lines are comments.
    pub fn parse(text: &str) -> Self {
        let entries = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let (kind, hex) = l.split_once(' ').expect("fixture line is `<kind> <hex>`");
                (kind.to_owned(), Bytes::from(hex::decode(hex.trim()).expect("fixture hex")))
            })
            .collect();
        Self { entries }
    }

    /// Every payload of `kind`, in capture order.
    pub fn all(&self, kind: &str) -> Vec<Bytes> {
        self.entries.iter().filter(|(k, _)| k == kind).map(|(_, b)| b.clone()).collect()
    }

    /// The only payload of `kind`.
    pub fn one(&self, kind: &str) -> Bytes {
        let all = self.all(kind);
        assert_eq!(all.len(), 1, "exactly one `{kind}` line");
        all[0].clone()
    }
}

/// Every strict prefix of `b` (each must fail to decode: a field is missing).
pub fn prefixes(b: &Bytes) -> impl Iterator<Item = Bytes> + '_ {
    (0..b.len()).map(|n| b.slice(..n))
}

/// `b` with byte `i` replaced by each of a few awkward values (decoders must not panic on any).
pub fn mutations(b: &Bytes) -> impl Iterator<Item = Bytes> + '_ {
    (0..b.len()).flat_map(move |i| {
        [0x00u8, 0x01, 0x7f, 0xfb, 0xfc, 0xfe, 0xff].into_iter().map(move |v| {
            let mut m = b.to_vec();
            m[i] = v;
            Bytes::from(m)
        })
    })
}
