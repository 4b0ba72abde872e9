//! Why a statement over a sharded table is not run as written. The router says what went wrong; the
//! proxy picks the MySQL ERR for each (`sluice::core::error`), in one place.

/// Why sluice does not route a statement over a sharded table (or does not scatter it): the text the
/// client is told, saying what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotRouted(pub String);

impl From<&str> for NotRouted {
    fn from(why: &str) -> Self {
        Self(why.to_owned())
    }
}

/// No shard holds a key value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoShard {
    /// The table's map lists no shard.
    #[error("sharded table {table} has no shards")]
    Empty {
        /// The logical table.
        table: String,
    },
    /// `mod` and `range` need an integer key.
    #[error("shard key {table}.{key} uses {function}: {value} is not an integer")]
    NotInteger {
        /// The logical table.
        table: String,
        /// Its shard key column.
        key: String,
        /// `mod` or `range`.
        function: &'static str,
        /// The value, as the statement gave it.
        value: String,
    },
    /// A `range` key outside every range.
    #[error("no shard of {table} holds {key}={value}: it is outside every [sharding.tables] range")]
    OutOfRange {
        /// The logical table.
        table: String,
        /// Its shard key column.
        key: String,
        /// The value, as the statement gave it.
        value: String,
    },
    /// A `list` key on no list.
    #[error("no shard of {table} lists {key}={value} ([sharding.tables] lists)")]
    NotListed {
        /// The logical table.
        table: String,
        /// Its shard key column.
        key: String,
        /// The value, as the statement gave it.
        value: String,
    },
}

/// Why a statement over a sharded table is refused before it runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// Its shape is not spread over shards.
    #[error(transparent)]
    NotRouted(#[from] NotRouted),
    /// Its key value belongs to no shard.
    #[error(transparent)]
    NoShard(#[from] NoShard),
}

/// Why the shards' results of a scattered SELECT cannot be merged into one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// An ORDER BY key is not among the selected columns.
    #[error(
        "ORDER BY {key} over all shards needs the column in the select list (sluice merges on selected columns)"
    )]
    OrderKeyNotSelected {
        /// The key as the statement wrote it.
        key: String,
    },
    /// A SUM or COUNT over the shards overflows.
    #[error("the sum over all shards overflows")]
    SumOverflow,
    /// Two shards' values of a SUM are not numbers.
    #[error("cannot add {a:?} and {b:?} across shards")]
    NotNumbers {
        /// One shard's value.
        a: String,
        /// The other's.
        b: String,
    },
}

/// Why `sluice shard-ddl` cannot make a sharded table's CREATE TABLEs from a template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DdlError {
    /// The template is not a CREATE TABLE.
    #[error("the template must be CREATE TABLE [IF NOT EXISTS] name (…)")]
    NotCreateTable,
    /// It names no table.
    #[error("the template names no table")]
    NoName,
    /// It creates another table.
    #[error("the template creates {found}, not the sharded table {table}")]
    OtherTable {
        /// The table the template creates.
        found: String,
        /// The sharded table.
        table: String,
    },
}
