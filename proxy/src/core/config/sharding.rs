//! `[sharding]`: sharded logical tables (`[[sharding.tables]]`), their validation and their
//! translation into the router's [`ShardMap`].

use serde::{Deserialize, Serialize};
use sluice_router::shard::{PhysicalShard, ShardFunction, ShardMap, ShardTable};

use super::GroupConfig;

/// `[sharding]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShardingConfig {
    /// Sharding on/off. Default false (the tables are then ordinary tables of the first group).
    pub enabled: bool,
    /// The sharded tables.
    pub tables: Vec<ShardedTableConfig>,
    /// This instance's node id (0–1023) in generated keys: sluice instances sharing backends need
    /// distinct ones. Default 0.
    pub node_id: u16,
    /// Tables being moved (dual writes): `[[sharding.migrations]]`.
    pub migrations: Vec<MigrationConfig>,
    /// Row bytes sluice holds from one shard for one statement (scatter reads are merged in memory):
    /// past it the statement gets ERR 1235 saying so. Default 64 MiB.
    #[serde(deserialize_with = "super::size::size_usize")]
    pub max_scatter_result_bytes: usize,
}

impl Default for ShardingConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            tables: Vec::new(),
            node_id: 0,
            migrations: Vec::new(),
            max_scatter_result_bytes: 64 << 20,
        }
    }
}

/// A table being moved to a new placement: its writes run on the old one (authoritative, the client
/// gets its answer) and then on the new one (differences are logged and counted); reads go to the old
/// one until `read_from = "new"` (or admin `SET MIGRATION 'table' READ FROM new`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationConfig {
    /// The table (unqualified; in the session's schema).
    pub table: String,
    /// The group it lives on now. Default: the first group.
    #[serde(default)]
    pub from_group: Option<String>,
    /// The group it moves to. Default: the same group.
    #[serde(default)]
    pub to_group: Option<String>,
    /// The schema it moves to on the new group. Default: the session's schema.
    #[serde(default)]
    pub to_schema: Option<String>,
    /// Where reads go: `old` (default) or `new`.
    #[serde(default)]
    pub read_from: ReadFrom,
}

/// Where a migrating table's reads go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadFrom {
    /// The old placement.
    #[default]
    Old,
    /// The new placement.
    New,
}

/// Where the shards of a table are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardMode {
    /// Physical tables (`table_pattern`) side by side in one group.
    #[default]
    Table,
    /// Each shard is a group (`placement`), holding the table under its own name (or `table_pattern`).
    Database,
}

/// How a key picks its shard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardFunctionConfig {
    /// CRC-32 (MySQL's `CRC32()`) of the key's canonical bytes (integers as decimal text, strings as
    /// bytes) mod `shard_count`.
    #[default]
    Hash,
    /// Integer key mod `shard_count`.
    Mod,
    /// Integer key in `ranges[i]` → shard i.
    Range,
    /// Key in `lists[i]` → shard i.
    List,
}

/// One range of a `range` table: `from` inclusive, `to` exclusive; omitted = unbounded.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RangeConfig {
    /// Smallest key (only the first range may omit it).
    pub from: Option<i64>,
    /// First key past the range (only the last range may omit it).
    pub to: Option<i64>,
}

/// A list value: an integer or a string.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ListValue {
    /// An integer (compared by its decimal text).
    Int(i64),
    /// A string.
    Str(String),
}

impl ListValue {
    fn canonical(&self) -> String {
        match self {
            ListValue::Int(i) => i.to_string(),
            ListValue::Str(s) => s.parse::<i128>().map(|i| i.to_string()).unwrap_or_else(|_| s.clone()),
        }
    }
}

/// `[[sharding.tables]]`: one sharded logical table.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShardedTableConfig {
    /// Logical table name, as applications write it (any schema).
    pub name: String,
    /// The shard key column.
    pub shard_key: String,
    /// Number of shards.
    pub shard_count: usize,
    /// `table` (default) or `database`.
    #[serde(default)]
    pub mode: ShardMode,
    /// Physical table name, `{n}` = shard number. Default `{table}_{n}` in table mode, `{table}` in
    /// database mode.
    pub table_pattern: Option<String>,
    /// Schema of each shard's table, `{n}` = shard number; default: the statement's own schema.
    pub schema_pattern: Option<String>,
    /// `hash` (default), `mod`, `range` or `list`.
    #[serde(default)]
    pub function: ShardFunctionConfig,
    /// `range`: one range per shard, sorted, not overlapping.
    #[serde(default)]
    pub ranges: Vec<RangeConfig>,
    /// `list`: one list of values per shard.
    #[serde(default)]
    pub lists: Vec<Vec<ListValue>>,
    /// Shard i → group name. Required in database mode; table mode defaults to the first group.
    #[serde(default)]
    pub placement: Vec<String>,
    /// UPDATE/DELETE without the key run on every shard instead of being refused. Default false.
    #[serde(default)]
    pub broadcast_writes: bool,
    /// An INSERT that omits `shard_key` gets a sluice-generated 64-bit id in it (ms since 2025 ‖
    /// `[sharding] node_id` ‖ sequence; the client's OK reports the first as its insert id). The key
    /// column must be a BIGINT. Default false (such an INSERT is refused).
    #[serde(default)]
    pub generate_key: bool,
}

impl ShardedTableConfig {
    /// Physical (schema, table) of shard `n`.
    pub fn physical(&self, n: usize) -> (Option<String>, String) {
        let fill = |p: &str| p.replace("{n}", &n.to_string()).replace("{table}", &self.name);
        let table = match (&self.table_pattern, self.mode) {
            (Some(p), _) => fill(p),
            (None, ShardMode::Table) => format!("{}_{n}", self.name),
            (None, ShardMode::Database) => self.name.clone(),
        };
        (self.schema_pattern.as_deref().map(fill), table)
    }
}

impl ShardingConfig {
    /// The router's shard map (empty when sharding is off). Call after validation.
    pub fn shard_map(&self, groups: &[GroupConfig]) -> ShardMap {
        if !self.enabled {
            return ShardMap::default();
        }
        let tables = self
            .tables
            .iter()
            .map(|t| ShardTable {
                name: t.name.to_lowercase(),
                key: t.shard_key.to_lowercase(),
                function: match t.function {
                    ShardFunctionConfig::Hash => ShardFunction::Hash,
                    ShardFunctionConfig::Mod => ShardFunction::Mod,
                    ShardFunctionConfig::Range => {
                        ShardFunction::Range(t.ranges.iter().map(|r| (r.from, r.to)).collect())
                    }
                    ShardFunctionConfig::List => ShardFunction::List(
                        t.lists.iter().map(|l| l.iter().map(ListValue::canonical).collect()).collect(),
                    ),
                },
                shards: (0..t.shard_count)
                    .map(|n| {
                        let (schema, table) = t.physical(n);
                        let group = t
                            .placement
                            .get(n)
                            .and_then(|g| groups.iter().position(|c| c.name == *g))
                            .unwrap_or(0);
                        PhysicalShard { group, schema, table }
                    })
                    .collect(),
                broadcast_writes: t.broadcast_writes,
                generate_key: t.generate_key,
            })
            .collect();
        ShardMap { tables }
    }

    /// Every problem, as (key path, message).
    pub(super) fn issues(&self, groups: &[GroupConfig]) -> Vec<(String, String)> {
        let mut v = Vec::new();
        for (i, m) in self.migrations.iter().enumerate() {
            let at = format!("sharding.migrations[{i}]");
            if m.table.is_empty() || m.table.contains('.') {
                v.push((format!("{at}.table"), format!("{:?}: give the unqualified table name", m.table)));
            }
            for (k, g) in [("from_group", &m.from_group), ("to_group", &m.to_group)] {
                if let Some(g) = g
                    && !groups.iter().any(|x| &x.name == g)
                {
                    v.push((format!("{at}.{k}"), format!("no [[groups]] named {g:?}")));
                }
            }
            if m.from_group == m.to_group && m.to_schema.is_none() {
                v.push((at.clone(), "the new placement is the old one: set to_group or to_schema".into()));
            }
            if self.migrations[..i].iter().any(|o| o.table.eq_ignore_ascii_case(&m.table)) {
                v.push((format!("{at}.table"), format!("table {:?} is migrating twice", m.table)));
            }
            if self.tables.iter().any(|t| t.name.eq_ignore_ascii_case(&m.table)) {
                v.push((
                    format!("{at}.table"),
                    format!("table {:?} is sharded: migrate unsharded tables", m.table),
                ));
            }
        }
        if self.node_id > 1023 {
            v.push(("sharding.node_id".into(), format!("{} is not 0-1023", self.node_id)));
        }
        for (i, t) in self.tables.iter().enumerate() {
            let at = format!("sharding.tables[{i}]");
            let mut add = |k: &str, m: String| v.push((format!("{at}.{k}"), m));
            let ident = |s: &str| {
                !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
            };
            if !ident(&t.name) {
                add("name", format!("{:?} is not a table name (letters, digits, _)", t.name));
            } else if self.tables[..i].iter().any(|o| o.name.eq_ignore_ascii_case(&t.name)) {
                add("name", format!("table {:?} is sharded twice", t.name));
            }
            if !ident(&t.shard_key) {
                add("shard_key", format!("{:?} is not a column name", t.shard_key));
            }
            if t.shard_count == 0 {
                add("shard_count", "must be at least 1".into());
            }
            // Placement: every shard on a known group.
            if t.placement.is_empty() && t.mode == ShardMode::Database {
                add(
                    "placement",
                    format!("mode = \"database\" needs one group name per shard ({} names)", t.shard_count),
                );
            } else if !t.placement.is_empty() && t.placement.len() != t.shard_count {
                add(
                    "placement",
                    format!(
                        "has {} group names but shard_count is {}: one per shard",
                        t.placement.len(),
                        t.shard_count
                    ),
                );
            }
            for (pi, g) in t.placement.iter().enumerate() {
                if !groups.iter().any(|c| c.name == *g) {
                    add(&format!("placement[{pi}]"), format!("{g:?} is not a [[groups]] name"));
                }
            }
            // Physical names must differ, or two shards would be one table.
            let names: Vec<(Option<String>, String, &str)> = (0..t.shard_count)
                .map(|n| {
                    let (s, tb) = t.physical(n);
                    (s, tb, t.placement.get(n).map(String::as_str).unwrap_or_default())
                })
                .collect();
            if let Some(n) = (1..names.len()).find(|&n| names[..n].contains(&names[n])) {
                let key = if t.mode == ShardMode::Table { "table_pattern" } else { "schema_pattern" };
                add(
                    key,
                    format!(
                        "shards {} and {n} would be the same table; put {{n}} in it",
                        names.iter().position(|x| *x == names[n]).unwrap_or(0)
                    ),
                );
            }
            if let Some(p) = t.table_pattern.as_deref().or(t.schema_pattern.as_deref())
                && p.replace("{n}", "0")
                    .replace("{table}", "t")
                    .bytes()
                    .any(|b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b'$'))
            {
                add("table_pattern", format!("{p:?}: only letters, digits, _, {{n}} and {{table}}"));
            }
            match t.function {
                ShardFunctionConfig::Range => {
                    if t.ranges.len() != t.shard_count {
                        add(
                            "ranges",
                            format!(
                                "has {} ranges but shard_count is {}: one per shard",
                                t.ranges.len(),
                                t.shard_count
                            ),
                        );
                    }
                    for (ri, r) in t.ranges.iter().enumerate() {
                        let k = format!("ranges[{ri}]");
                        if r.from.is_none() && ri > 0 {
                            add(&k, "only the first range may omit from".into());
                        }
                        if r.to.is_none() && ri + 1 < t.ranges.len() {
                            add(&k, "only the last range may omit to".into());
                        }
                        if let (Some(f), Some(to)) = (r.from, r.to)
                            && f >= to
                        {
                            add(&k, format!("from = {f} is not below to = {to}"));
                        }
                        if ri > 0
                            && let (Some(prev), Some(f)) = (t.ranges[ri - 1].to, r.from)
                            && f < prev
                        {
                            add(
                                &k,
                                format!(
                                    "overlaps or is out of order: from = {f} is below the previous range's to = {prev} (ranges must be sorted and disjoint)"
                                ),
                            );
                        }
                    }
                }
                ShardFunctionConfig::List => {
                    if t.lists.len() != t.shard_count {
                        add(
                            "lists",
                            format!(
                                "has {} lists but shard_count is {}: one per shard",
                                t.lists.len(),
                                t.shard_count
                            ),
                        );
                    }
                    let mut seen = std::collections::HashSet::new();
                    for (li, l) in t.lists.iter().enumerate() {
                        for (vi, x) in l.iter().enumerate() {
                            if !seen.insert(x.canonical()) {
                                add(
                                    &format!("lists[{li}][{vi}]"),
                                    format!("{} is listed for two shards", x.canonical()),
                                );
                            }
                        }
                    }
                }
                ShardFunctionConfig::Hash | ShardFunctionConfig::Mod => {}
            }
            if t.function != ShardFunctionConfig::Range && !t.ranges.is_empty() {
                add("ranges", "only function = \"range\" takes ranges".into());
            }
            if t.function != ShardFunctionConfig::List && !t.lists.is_empty() {
                add("lists", "only function = \"list\" takes lists".into());
            }
        }
        v
    }
}
