//! Config tests: parsing (defaults, serde errors with lines and key paths, sizes), the example file;
//! validation, environment overrides and secrets have a file each.

mod env;
mod secrets;
mod sharding;
mod validate;
mod warn;

use super::*;

/// The smallest valid config: one group with one primary.
const MINIMAL: &str = r#"
[[groups]]
name = "main"
[[groups.members]]
address = "127.0.0.1:3306"
role = "primary"
"#;

/// Parses `text` (must succeed) and returns the key paths of its validation issues.
fn issue_paths(text: &str) -> Vec<String> {
    let c = Config::parse(text, "t.toml").expect("parses");
    c.validate().err().unwrap_or_default().into_iter().map(|i| i.path).collect()
}

/// The single parse error of `text`, as displayed.
fn parse_error(text: &str) -> String {
    let e = Config::parse(text, "t.toml").expect_err("should not parse");
    assert_eq!(e.issues.len(), 1, "{e}");
    e.to_string()
}

#[test]
fn minimal_file_gets_documented_defaults() {
    let c = Config::parse(MINIMAL, "t.toml").expect("parses");
    c.validate().expect("valid");
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:6033");
    assert_eq!(c.admin.listen.to_string(), "127.0.0.1:6032");
    assert!(c.admin.enabled && c.http.enabled);
    assert_eq!(c.http.listen.to_string(), "127.0.0.1:9033");
    assert_eq!(c.server.max_client_connections, 10_000);
    assert_eq!(c.server.default_auth_plugin, AuthPlugin::CachingSha2Password);
    assert_eq!(c.server.max_packet_bytes, 64 << 20);
    assert_eq!(c.pool.max_per_backend, 64);
    assert_eq!(c.pool.checkout_timeout_ms, 3_000);
    assert_eq!(c.backend.credentials.user, "app");
    assert_eq!(c.backend.credentials.password_env.as_deref(), Some("SLUICE_BACKEND_PASSWORD"));
    assert_eq!(c.monitor.credentials.password_env.as_deref(), Some("SLUICE_MONITOR_PASSWORD"));
    assert_eq!(c.groups[0].members[0].weight, 1);
    assert!(!c.cache.enabled && c.cache.redis_enabled && c.cache.redis_url.is_empty());
    assert_eq!((c.cache.l1_size, c.cache.max_entry_bytes), (64 << 20, 1 << 20));
    assert_eq!((c.log.level.as_str(), c.log.format), ("info", LogFormat::Text));
    assert_eq!(c.origin(), Some("t.toml"));
    assert!(c.backend.tls.verify && !c.backend.tls.enabled);
}

#[test]
fn backend_tls_table_without_verify_still_verifies() {
    let c = Config::parse(
        &format!(
            "{MINIMAL}[backend.tls]
enabled = false
"
        ),
        "t",
    )
    .expect("parses");
    assert!(c.backend.tls.verify);
}

#[test]
fn member_role_defaults_to_auto() {
    let c = Config::parse("[[groups]]\nname = \"g\"\n[[groups.members]]\naddress = \"db:3306\"\n", "t")
        .expect("parses");
    assert_eq!(c.groups[0].members[0].role, Role::Auto);
    c.validate().expect("an auto member is enough");
}

#[test]
fn unknown_key_is_rejected_with_its_line_and_path() {
    let text = format!("{MINIMAL}\n[pool]\nmax_per_backend = 4\nmax_per_backnd = 5\n");
    let s = parse_error(&text);
    assert!(s.starts_with("t.toml:10: pool.max_per_backnd: unknown field `max_per_backnd`"), "{s}");
}

#[test]
fn unknown_key_in_an_array_of_tables_names_the_element() {
    let text = format!("{MINIMAL}[[groups.members]]\naddress = \"h:2\"\nwieght = 2\n");
    let s = parse_error(&text);
    assert!(s.starts_with("t.toml:9: groups[0].members[1].wieght: unknown field"), "{s}");
}

#[test]
fn wrong_type_is_rejected_with_its_line() {
    let s = parse_error(&format!("[server]\nmax_client_connections = \"many\"\n{MINIMAL}"));
    assert!(s.starts_with("t.toml:2: server.max_client_connections: invalid type"), "{s}");
    let s = parse_error(&format!("{MINIMAL}\n[log]\nformat = \"xml\"\n"));
    assert!(s.starts_with("t.toml:9: log.format: unknown variant `xml`"), "{s}");
}

#[test]
fn missing_field_points_at_its_table() {
    let s = parse_error("[[groups]]\nname = \"a\"\n[[groups.members]]\nrole = \"primary\"\n");
    assert!(s.starts_with("t.toml:3: groups[0].members[0]: missing field `address`"), "{s}");
}

#[test]
fn syntax_error_has_a_line() {
    let s = parse_error("[server]\nworkers = 2\nlisten = \n");
    assert!(s.starts_with("t.toml:3:"), "{s}");
}

#[test]
fn size_suffixes() {
    assert_eq!(parse_size("65536"), Some(65536));
    assert_eq!(parse_size("64KiB"), Some(64 << 10));
    assert_eq!(parse_size("64kb"), Some(64 << 10));
    assert_eq!(parse_size("2G"), Some(2 << 30));
    assert_eq!(parse_size("1 MiB"), Some(1 << 20));
    assert_eq!(parse_size("3TiB"), Some(3 << 40));
    assert_eq!(parse_size(" 7 "), Some(7));
    for bad in ["", "MiB", "lots", "1.5G", "-1", "64 XB", "99999999999999999999", "16777216T"] {
        assert_eq!(parse_size(bad), None, "{bad}");
    }
}

#[test]
fn sizes_in_toml_accept_integers_and_strings() {
    let text = format!(
        "{MINIMAL}\n[server]\nmax_packet_bytes = \"16MiB\"\n[cache]\nl1_size = \"256M\"\nmax_entry_bytes = 4096\n"
    );
    let c = Config::parse(&text, "t.toml").expect("parses");
    assert_eq!(c.server.max_packet_bytes, 16 << 20);
    assert_eq!((c.cache.l1_size, c.cache.max_entry_bytes), (256 << 20, 4096));
    let s = parse_error(&format!("{MINIMAL}\n[cache]\nl1_size = \"big\"\n"));
    assert!(s.starts_with("t.toml:9: cache.l1_size: \"big\" is not a size"), "{s}");
    let s = parse_error(&format!("{MINIMAL}\n[cache]\nmax_entry_bytes = -1\n"));
    assert!(s.starts_with("t.toml:9: cache.max_entry_bytes: -1 is negative"), "{s}");
    let s = parse_error(&format!("{MINIMAL}\n[cache]\nl1_size = true\n"));
    assert!(s.contains("cache.l1_size: invalid type"), "{s}");
}

#[test]
fn example_config_parses_and_validates() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/sluice.example.toml");
    let text = std::fs::read_to_string(path).expect("example config exists");
    let c = Config::parse(&text, path).expect("example config parses");
    if let Err(issues) = c.validate() {
        panic!("{}", ConfigError { origin: path.into(), issues });
    }
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:6033");
    assert_eq!(c.admin.users[0].name, "admin");
    assert_eq!((c.users[0].name.as_str(), c.users[0].default_schema.as_deref()), ("app", Some("app")));
    let addrs: Vec<&str> = c.groups[0].members.iter().map(|m| m.address.as_str()).collect();
    assert_eq!(addrs, ["127.0.0.1:3307", "127.0.0.1:3308", "127.0.0.1:3309"]);
    assert_eq!(c.cache.redis_url, "redis://127.0.0.1:6380");
    assert!(!c.cache.enabled);
    // The documented hashes are those of the documented passwords.
    use sluice_protocol::auth::{native_hash_to_string, native_password_hash};
    use sluice_protocol::auth::{sha2_hash_to_string, sha2_password_hash};
    for (u, pw) in [(&c.users[0], "app"), (&c.admin.users[0], "admin")] {
        let native = native_hash_to_string(&native_password_hash(pw.as_bytes()));
        let sha2 = sha2_hash_to_string(&sha2_password_hash(pw.as_bytes()));
        assert_eq!(u.mysql_native_password.as_deref(), Some(native.as_str()), "{}", u.name);
        assert_eq!(u.caching_sha2_password.as_deref(), Some(sha2.as_str()), "{}", u.name);
    }
}

#[test]
fn load_reads_validates_and_names_the_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let good = dir.path().join("good.toml");
    std::fs::write(&good, MINIMAL).expect("write");
    let c = Config::load(&good).expect("loads");
    assert_eq!(c.groups[0].name, "main");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, format!("{MINIMAL}[pool]\nmax_per_backend = 0\n")).expect("write");
    let e = Config::load(&bad).expect_err("invalid");
    assert_eq!(e.to_string(), format!("{}:8: pool.max_per_backend: must be at least 1", bad.display()));
    let e = Config::load(&dir.path().join("missing.toml")).expect_err("missing");
    assert!(e.to_string().contains("missing.toml: cannot read the config"), "{e}");
}
