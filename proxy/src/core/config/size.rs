//! Byte sizes written as `65536`, `64KiB`, `64MiB`, `1G`…: parsing, and serde fields that accept either
//! an integer or such a string.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, Visitor};

/// Parses a byte size: a whole number with an optional unit `B`, `K`/`KB`/`KiB`, `M`/`MB`/`MiB`,
/// `G`/`GB`/`GiB`, `T`/`TB`/`TiB` (case-insensitive, space allowed before the unit).
///
/// All units are powers of 1024, as in MySQL's own settings (`max_allowed_packet=64M` is 64 MiB): a
/// config copied from a my.cnf then means what its author meant. `None` for anything else or on overflow.
pub fn parse_size(v: &str) -> Option<u64> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    if num.is_empty() {
        return None;
    }
    let n: u64 = num.parse().ok()?;
    let shift = match unit.trim_start().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return None,
    };
    n.checked_mul(1u64 << shift)
}

struct SizeVisitor;

impl Visitor<'_> for SizeVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a size in bytes: an integer or a string such as \"64MiB\"")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom(format!("{v} is negative; a size is 0 or more bytes")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        parse_size(v).ok_or_else(|| {
            E::custom(format!("{v:?} is not a size (a number with an optional unit K, M, G, KiB, MiB, GiB)"))
        })
    }
}

/// serde `deserialize_with` for `u64` byte sizes.
pub(super) fn size_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_any(SizeVisitor)
}

/// serde `deserialize_with` for `usize` byte sizes (sizes of things held in memory).
pub(super) fn size_usize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = d.deserialize_any(SizeVisitor)?;
    usize::try_from(n).map_err(|_| de::Error::custom(format!("{n} bytes is too large for this machine")))
}
