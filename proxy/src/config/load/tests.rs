//! Config loading: defaults, serde errors with lines, validation with key paths and lines, env overrides.

use super::*;

const MINIMAL: &str = r#"
[[groups]]
name = "main"
[[groups.members]]
address = "127.0.0.1:3306"
role = "primary"
"#;

#[test]
fn minimal_file_gets_documented_defaults() {
    let c = Config::parse(MINIMAL, "t.toml").expect("valid");
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:6033");
    assert_eq!(c.admin.listen.to_string(), "127.0.0.1:6032");
    assert_eq!(c.http.listen.to_string(), "127.0.0.1:9033");
    assert_eq!(c.server.max_client_connections, 10_000);
    assert_eq!(c.pool.max_per_backend, 64);
    assert_eq!(c.backend.credentials.password_env.as_deref(), Some("SLUICE_BACKEND_PASSWORD"));
    assert_eq!(c.groups[0].members[0].weight, 1);
    assert!(!c.cache.enabled);
}

#[test]
fn unknown_key_is_rejected_with_its_line() {
    let text = format!("{MINIMAL}\n[pool]\nmax_per_backend = 4\nmax_per_backnd = 5\n");
    let e = Config::parse(&text, "t.toml").expect_err("typo");
    let s = e.to_string();
    assert!(s.starts_with("t.toml:10:"), "{s}");
    assert!(s.contains("max_per_backnd"), "{s}");
}

#[test]
fn wrong_type_is_rejected_with_its_line() {
    let text = format!("[server]\nmax_client_connections = \"many\"\n{MINIMAL}");
    let e = Config::parse(&text, "t.toml").expect_err("type");
    assert!(e.to_string().starts_with("t.toml:2:"), "{e}");
}

#[test]
fn validation_names_key_and_line_and_collects_all() {
    let text = r#"
[[users]]
name = "app"
mysql_native_password = "*XYZ"

[[groups]]
name = "main"
[[groups.members]]
address = "127.0.0.1:3307"
role = "primary"
[[groups.members]]
address = "nohostport"

[[rules]]
action = "route"
target = "elsewhere"
"#;
    let e = Config::parse(text, "s.toml").expect_err("invalid");
    let s = e.to_string();
    assert_eq!(e.issues.len(), 3, "{s}");
    assert!(
        s.contains("s.toml:4: users[0].mysql_native_password: must be * followed by 40 hex digits"),
        "{s}"
    );
    assert!(s.contains("s.toml:12: groups[0].members[1].address: \"nohostport\" is not host:port"), "{s}");
    assert!(s.contains("s.toml:16: rules[0].target:"), "{s}");
}

#[test]
fn more_rules() {
    let text = format!(
        "{MINIMAL}\n[[groups]]\nname = \"main\"\n[[groups.members]]\naddress = \"h:1\"\nweight = 0\n[pool]\nmax_per_backend = 2\nmin_idle = 3\n[cache]\nredis_url = \"http://x\"\n[log]\nlevel = \"[[[\"\n"
    );
    let e = Config::parse(&text, "t.toml").expect_err("invalid");
    let paths: Vec<&str> = e.issues.iter().map(|i| i.path.as_str()).collect();
    for p in
        ["groups[1].name", "groups[1].members[0].weight", "pool.min_idle", "cache.redis_url", "log.level"]
    {
        assert!(paths.contains(&p), "{p} missing from {paths:?}");
    }
}

#[test]
fn env_overrides_and_bad_values() {
    let mut c = Config::parse(MINIMAL, "t").expect("valid");
    let env = |k: &str| match k {
        "SLUICE_WORKERS" => Some("3".to_owned()),
        "SLUICE_POOL_SIZE" => Some("7".to_owned()),
        "SLUICE_CACHE" => Some("on".to_owned()),
        "SLUICE_L1_SIZE" => Some("16MiB".to_owned()),
        "SLUICE_REDIS" => Some("off".to_owned()),
        "SLUICE_LOG_LEVEL" => Some("debug".to_owned()),
        "SLUICE_LISTEN" => Some("127.0.0.1:7000".to_owned()),
        _ => None,
    };
    c.apply_env(env).expect("overrides");
    assert_eq!((c.server.workers, c.pool.max_per_backend, c.cache.enabled), (3, 7, true));
    assert_eq!((c.cache.l1_size, c.cache.redis_enabled), (16 << 20, false));
    assert_eq!((c.log.level.as_str(), c.server.listen.port()), ("debug", 7000));
    let e = c.apply_env(|k| (k == "SLUICE_CACHE").then(|| "maybe".to_owned())).expect_err("bad");
    assert!(e.to_string().contains("SLUICE_CACHE"), "{e}");
}

#[test]
fn sizes() {
    assert_eq!(parse_size("65536"), Some(65536));
    assert_eq!(parse_size("64KiB"), Some(64 << 10));
    assert_eq!(parse_size("2G"), Some(2 << 30));
    assert_eq!(parse_size("1 MiB"), Some(1 << 20));
    assert_eq!(parse_size("lots"), None);
}

#[test]
fn passwords_from_env_file_and_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("pw");
    std::fs::write(&f, "s3cret\n").expect("write");
    let c = Credentials { user: "u".into(), password_env: None, password_file: Some(f) };
    assert_eq!(c.password().as_deref(), Ok("s3cret"));
    let c = Credentials {
        user: "u".into(),
        password_env: Some("SLUICE_TEST_UNSET_VAR_XYZ".into()),
        password_file: None,
    };
    assert!(c.password().expect_err("unset").contains("SLUICE_TEST_UNSET_VAR_XYZ"));
}

#[test]
fn example_config_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/sluice.example.toml");
    let text = std::fs::read_to_string(path).expect("example config exists");
    let c = Config::parse(&text, path).expect("example config validates");
    assert_eq!(c.users[0].name, "app");
    assert_eq!(c.groups[0].members.len(), 3);
}
