//! `SLUICE_*` overrides through an injected lookup (the real environment is shared by test threads).

use std::collections::HashMap;

use super::*;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |k| map.get(k).cloned()
}

#[test]
fn every_override_applies() {
    let mut c = Config::parse(MINIMAL, "t").expect("parses");
    c.apply_env(env(&[
        ("SLUICE_LISTEN", "0.0.0.0:7000"),
        ("SLUICE_WORKERS", "3"),
        ("SLUICE_POOL_SIZE", " 7 "),
        ("SLUICE_CACHE", "on"),
        ("SLUICE_L1_SIZE", "16MiB"),
        ("SLUICE_REDIS", "0"),
        ("SLUICE_REDIS_URL", "redis://cache:6380"),
        ("SLUICE_LOG_LEVEL", "sluice=debug"),
    ]))
    .expect("overrides");
    assert_eq!(c.server.listen.to_string(), "0.0.0.0:7000");
    assert_eq!((c.server.workers, c.pool.max_per_backend, c.cache.enabled), (3, 7, true));
    assert_eq!((c.cache.l1_size, c.cache.redis_enabled), (16 << 20, false));
    assert_eq!((c.cache.redis_url.as_str(), c.log.level.as_str()), ("redis://cache:6380", "sluice=debug"));
    c.validate().expect("still valid");
}

#[test]
fn nothing_set_changes_nothing() {
    let mut c = Config::parse(MINIMAL, "t").expect("parses");
    c.apply_env(|_| None).expect("no overrides");
    assert_eq!((c.pool.max_per_backend, c.cache.enabled, c.log.level.as_str()), (64, false, "info"));
}

#[test]
fn switches_and_sizes() {
    for (v, want) in
        [("on", true), ("OFF", false), ("true", true), ("False", false), ("1", true), ("0", false)]
    {
        let mut c = Config::parse(MINIMAL, "t").expect("parses");
        c.apply_env(env(&[("SLUICE_CACHE", v), ("SLUICE_REDIS", v)])).expect(v);
        assert_eq!((c.cache.enabled, c.cache.redis_enabled), (want, want), "{v}");
    }
    for (v, want) in [("1048576", 1 << 20), ("512K", 512 << 10), ("2GiB", 2 << 30)] {
        let mut c = Config::parse(MINIMAL, "t").expect("parses");
        c.apply_env(env(&[("SLUICE_L1_SIZE", v)])).expect(v);
        assert_eq!(c.cache.l1_size, want, "{v}");
    }
}

#[test]
fn bad_values_name_their_variable_and_change_nothing() {
    let mut c = Config::parse(MINIMAL, "t").expect("parses");
    let bad = [
        ("SLUICE_LISTEN", "localhost"),
        ("SLUICE_WORKERS", "-1"),
        ("SLUICE_POOL_SIZE", "0"),
        ("SLUICE_CACHE", "maybe"),
        ("SLUICE_L1_SIZE", "huge"),
        ("SLUICE_REDIS", "2"),
        ("SLUICE_REDIS_URL", "http://cache"),
        ("SLUICE_LOG_LEVEL", "chatty"),
    ];
    let e = c.apply_env(env(&bad)).expect_err("bad values");
    let vars: Vec<&str> = e.issues.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(vars, bad.map(|(k, _)| k), "{e}");
    assert!(e.to_string().starts_with("SLUICE_LISTEN: \"localhost\" is not an ip:port address"), "{e}");
    // A good value next to a bad one is not applied either: the config stays as it was.
    let e = c.apply_env(env(&[("SLUICE_WORKERS", "4"), ("SLUICE_CACHE", "maybe")])).expect_err("bad");
    assert_eq!(e.issues.len(), 1);
    assert_eq!((c.server.workers, c.cache.enabled), (0, false));
}

#[test]
fn empty_redis_url_turns_l2_off() {
    let mut c =
        Config::parse(&format!("{MINIMAL}[cache]\nredis_url = \"redis://h:1\"\n"), "t").expect("parses");
    c.apply_env(env(&[("SLUICE_REDIS_URL", "")])).expect("empty is allowed");
    assert!(c.cache.redis_url.is_empty());
}
