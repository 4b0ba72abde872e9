//! Sharding, pure: the shard map (logical tables → physical shards), shard functions over a key's
//! canonical value, the per-shape analysis ([`shape`], once per digest from sqlparser's AST), the
//! per-statement routing and rewrite ([`route`], from the lexer's tokens) and the merge of scatter
//! results ([`merge`]).
//!
//! Canonical key value: an integer literal is its decimal text (`007` and `7` are the same key), a string
//! literal its unescaped bytes, so `'7'` and `7` land on the same shard. `hash` is CRC-32 (IEEE, the
//! same as MySQL's `CRC32()`) of those bytes mod the shard count: `SELECT CRC32(id) % 4` on the server
//! gives a row's shard. Strings are hashed as bytes: a case-insensitive collation's `'A'` and `'a'` are
//! different keys (use a binary or case-sensitive collation for string shard keys).

pub mod ddl;
pub mod merge;
pub mod route;
pub mod shape;

use std::fmt;

/// How a key value picks a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardFunction {
    /// CRC-32 of the canonical bytes, mod the shard count.
    Hash,
    /// Integer key mod the shard count (negative keys: Euclidean remainder).
    Mod,
    /// Shard i holds integer keys in `ranges[i]` (`from` inclusive, `to` exclusive; `None` unbounded).
    Range(Vec<(Option<i64>, Option<i64>)>),
    /// Shard i holds the keys whose canonical text is in `lists[i]`.
    List(Vec<Vec<String>>),
}

/// Where one shard of a logical table lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhysicalShard {
    /// Index of the group (in the config's `[[groups]]` order) that serves it.
    pub group: usize,
    /// Schema to qualify the physical table with (`None`: the statement's own).
    pub schema: Option<String>,
    /// Physical table name.
    pub table: String,
}

/// One sharded logical table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardTable {
    /// Logical table name, lower-case.
    pub name: String,
    /// Shard key column, lower-case.
    pub key: String,
    /// Shard function.
    pub function: ShardFunction,
    /// The shards, in shard-number order.
    pub shards: Vec<PhysicalShard>,
    /// Writes without the key run on every shard (instead of being refused).
    pub broadcast_writes: bool,
}

/// Every sharded table (a handful: looked up linearly).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardMap {
    /// The tables.
    pub tables: Vec<ShardTable>,
}

impl ShardMap {
    /// The index of logical table `name` (`t` or `schema.t`, any case).
    pub fn find(&self, name: &str) -> Option<usize> {
        let bare = name.rsplit('.').next().unwrap_or(name);
        self.tables.iter().position(|t| t.name.eq_ignore_ascii_case(bare))
    }

    /// Whether no table is sharded.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }
}

/// A shard key's value, canonical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyValue {
    /// An integer.
    Int(i128),
    /// A string's bytes.
    Str(Vec<u8>),
}

impl KeyValue {
    /// The canonical bytes hashed by `hash` and compared by `list`.
    pub fn canonical(&self) -> Vec<u8> {
        match self {
            KeyValue::Int(i) => i.to_string().into_bytes(),
            KeyValue::Str(s) => match parse_int(s) {
                Some(i) => i.to_string().into_bytes(),
                None => s.clone(),
            },
        }
    }

    fn as_int(&self) -> Option<i128> {
        match self {
            KeyValue::Int(i) => Some(*i),
            KeyValue::Str(s) => parse_int(s),
        }
    }
}

impl fmt::Display for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyValue::Int(i) => write!(f, "{i}"),
            KeyValue::Str(s) => write!(f, "'{}'", String::from_utf8_lossy(s)),
        }
    }
}

/// A decimal integer (optional sign, no fraction); `None` for anything else.
pub(crate) fn parse_int(s: &[u8]) -> Option<i128> {
    let t = std::str::from_utf8(s).ok()?;
    let t: String = t.chars().filter(|c| !c.is_whitespace()).collect();
    let (neg, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, &t[..]),
    };
    if digits.is_empty() || digits.len() > 38 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i128 = digits.parse().ok()?;
    Some(if neg { -v } else { v })
}

impl ShardTable {
    /// The shard holding `key`, or why there is none.
    pub fn shard_of(&self, key: &KeyValue) -> Result<usize, String> {
        let n = self.shards.len();
        if n == 0 {
            return Err(format!("sharded table {} has no shards", self.name));
        }
        match &self.function {
            ShardFunction::Hash => Ok(crc32(&key.canonical()) as usize % n),
            ShardFunction::Mod => {
                let i = key.as_int().ok_or_else(|| {
                    format!("shard key {}.{} uses mod: {key} is not an integer", self.name, self.key)
                })?;
                Ok(i.rem_euclid(n as i128) as usize)
            }
            ShardFunction::Range(ranges) => {
                let i = key.as_int().ok_or_else(|| {
                    format!("shard key {}.{} uses range: {key} is not an integer", self.name, self.key)
                })?;
                ranges
                    .iter()
                    .position(|(from, to)| {
                        from.is_none_or(|f| i >= i128::from(f)) && to.is_none_or(|t| i < i128::from(t))
                    })
                    .ok_or_else(|| {
                        format!(
                            "no shard of {} holds {}={key}: it is outside every [sharding.tables] range",
                            self.name, self.key
                        )
                    })
            }
            ShardFunction::List(lists) => {
                let c = key.canonical();
                lists.iter().position(|l| l.iter().any(|v| v.as_bytes() == c.as_slice())).ok_or_else(|| {
                    format!("no shard of {} lists {}={key} ([sharding.tables] lists)", self.name, self.key)
                })
            }
        }
    }
}

/// CRC-32 (IEEE 802.3, reflected, as zlib and MySQL's `CRC32()`).
pub fn crc32(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    let mut c = !0u32;
    for &b in bytes {
        c = TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests;
