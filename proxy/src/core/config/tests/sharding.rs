//! `[sharding]`: a valid sharded table becomes the router's map; every invalid one names its key and line.

use super::validate::issues_at;
use super::*;

const GROUPS2: &str = r#"
[[groups]]
name = "other"
[[groups.members]]
address = "127.0.0.1:3310"
role = "primary"
"#;

#[test]
fn a_valid_sharded_table_becomes_the_shard_map() {
    let text = format!(
        r#"{MINIMAL}
[sharding]
enabled = true
[[sharding.tables]]
name = "documents"
shard_key = "id"
shard_count = 4
function = "hash"

[[sharding.tables]]
name = "events"
shard_key = "id"
shard_count = 2
mode = "database"
schema_pattern = "ev_{{n}}"
placement = ["main", "main"]
function = "range"
ranges = [{{ to = 100 }}, {{ from = 100 }}]
"#
    );
    let c = Config::parse(&text, "t.toml").expect("parses");
    c.validate().expect("valid");
    let m = c.sharding.shard_map(&c.groups);
    assert_eq!(m.tables.len(), 2);
    assert_eq!(m.tables[0].shards[3].table, "documents_3");
    assert_eq!(m.tables[0].shards[3].schema, None);
    assert_eq!(m.tables[1].shards[1].schema.as_deref(), Some("ev_1"));
    assert_eq!(m.tables[1].shards[1].table, "events");
    assert_eq!(
        m.tables[1].function,
        sluice_router::shard::ShardFunction::Range(vec![(None, Some(100)), (Some(100), None)])
    );
}

#[test]
fn invalid_sharded_tables_name_their_keys() {
    let table = |body: &str| {
        format!(
            "[sharding]\nenabled = true\n[[sharding.tables]]\nname = \"documents\"\nshard_key = \"id\"\n{body}\n"
        )
    };
    let cases: &[(&str, &[&str])] = &[
        ("shard_count = 0", &["sharding.tables[0].shard_count"]),
        ("shard_count = 2\nplacement = [\"main\"]", &["sharding.tables[0].placement"]),
        (
            "shard_count = 2\nmode = \"database\"",
            &["sharding.tables[0].placement", "sharding.tables[0].schema_pattern"],
        ),
        ("shard_count = 2\nplacement = [\"main\", \"nowhere\"]", &["sharding.tables[0].placement[1]"]),
        ("shard_count = 2\ntable_pattern = \"docs\"", &["sharding.tables[0].table_pattern"]),
        (
            "shard_count = 3\nfunction = \"range\"\nranges = [{ to = 10 }, { from = 5, to = 20 }, { from = 20 }]",
            &["sharding.tables[0].ranges[1]"],
        ),
        (
            "shard_count = 2\nfunction = \"range\"\nranges = [{ from = 10, to = 20 }, { from = 0, to = 5 }]",
            &["sharding.tables[0].ranges[1]"],
        ),
        (
            "shard_count = 3\nfunction = \"range\"\nranges = [{ to = 10 }, { from = 10 }]",
            &["sharding.tables[0].ranges"],
        ),
        (
            "shard_count = 2\nfunction = \"list\"\nlists = [[\"a\", 1], [\"1\"]]",
            &["sharding.tables[0].lists[1][0]"],
        ),
        (
            "shard_count = 2\nfunction = \"hash\"\nranges = [{ to = 1 }, { from = 1 }]",
            &["sharding.tables[0].ranges"],
        ),
        (
            "shard_count = 2\n[[sharding.tables]]\nname = \"Documents\"\nshard_key = \"id\"\nshard_count = 2",
            &["sharding.tables[1].name"],
        ),
    ];
    for (body, want) in cases {
        issues_at(&format!("{GROUPS2}{}", table(body)), want);
    }
    let text = format!("{MINIMAL}{GROUPS2}{}", table("shard_count = 2\nplacement = [\"main\", \"nowhere\"]"));
    let c = Config::parse(&text, "s.toml").expect("parses");
    let e = ConfigError { origin: "s.toml".into(), issues: c.validate().expect_err("invalid") };
    assert!(
        e.to_string()
            .contains("s.toml:19: sharding.tables[0].placement[1]: \"nowhere\" is not a [[groups]] name"),
        "{e}"
    );
}

#[test]
fn migrations_name_their_keys() {
    use super::validate::issues_at;
    issues_at("[[sharding.migrations]]\ntable = \"orders\"\n", &["sharding.migrations[0]"]);
    issues_at(
        "[[sharding.migrations]]\ntable = \"shop.orders\"\nto_schema = \"v2\"\n",
        &["sharding.migrations[0].table"],
    );
    issues_at(
        "[[sharding.migrations]]\ntable = \"orders\"\nto_group = \"nowhere\"\n",
        &["sharding.migrations[0].to_group"],
    );
    issues_at("[[sharding.migrations]]\ntable = \"orders\"\nto_schema = \"v2\"\nread_from = \"new\"\n", &[]);
}
