//! Validation: each rule, with key paths, lines, and every issue collected at once.

use super::*;

const NATIVE_APP: &str = "*5BCB3E6AC345B435C7C2E6B7949A04CE6F6563D3";
const SHA2_APP: &str = "3bfc3d7ca254b2d951bd6aa00bbeb14ff3c0d8d703941aa643f506fee788ff55";

/// Asserts `MINIMAL` + `extra` has exactly the issues at `paths` (in any order).
#[track_caller]
pub(super) fn issues_at(extra: &str, paths: &[&str]) {
    let mut got = issue_paths(&format!("{MINIMAL}{extra}"));
    got.sort();
    let mut want: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
    want.sort();
    assert_eq!(got, want, "for:\n{extra}");
}

#[test]
fn issues_name_key_and_line_and_are_all_collected() {
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
address = "x:y"

[[rules]]
action = "route"
target = "elsewhere"
"#;
    let c = Config::parse(text, "s.toml").expect("parses");
    let e = ConfigError { origin: "s.toml".into(), issues: c.validate().expect_err("invalid") };
    let s = e.to_string();
    assert_eq!(e.issues.len(), 3, "{s}");
    assert!(
        s.contains("s.toml:4: users[0].mysql_native_password: must be * followed by 40 hex digits"),
        "{s}"
    );
    assert!(s.contains("s.toml:12: groups[0].members[1].address: \"x:y\" is not host:port"), "{s}");
    assert!(
        s.contains("s.toml:16: rules[0].target: \"elsewhere\" is not primary, replica or a group name"),
        "{s}"
    );
}

#[test]
fn config_built_in_code_validates_without_lines() {
    let mut c = Config::parse(MINIMAL, "t").expect("parses");
    c.source = None;
    c.pool.max_per_backend = 0;
    let issues = c.validate().expect_err("invalid");
    assert_eq!(issues, [ConfigIssue::new("pool.max_per_backend", "must be at least 1")]);
}

#[test]
fn groups() {
    let c = Config::parse("", "t").expect("parses");
    assert_eq!(c.validate().expect_err("no groups")[0].path, "groups");
    issues_at("[[groups]]\nname = \"main\"\nmembers = []\n", &["groups[1].name", "groups[1].members"]);
    issues_at("[[groups]]\nname = \"\"\n[[groups.members]]\naddress = \"h:1\"\n", &["groups[1].name"]);
    let two_primaries = "[[groups.members]]\naddress = \"h:1\"\nrole = \"primary\"\n";
    issues_at(two_primaries, &["groups[0].members"]);
    let only_replicas =
        "[[groups]]\nname = \"r\"\n[[groups.members]]\naddress = \"h:1\"\nrole = \"replica\"\n";
    issues_at(only_replicas, &["groups[1].members"]);
    issues_at(
        "[[groups.members]]\naddress = \"h:1\"\nrole = \"replica\"\nweight = 0\n",
        &["groups[0].members[1].weight"],
    );
    issues_at(
        "[[groups.members]]\naddress = \"127.0.0.1:3306\"\nrole = \"replica\"\n",
        &["groups[0].members[1].address"],
    );
}

#[test]
fn member_addresses() {
    for good in ["db:3306", "10.0.0.7:1", "[::1]:3306", "db-1.example.com:65535", "my_host:3306"] {
        issues_at(&format!("[[groups.members]]\naddress = \"{good}\"\nrole = \"replica\"\n"), &[]);
    }
    for bad in
        ["db", "db:", ":3306", "db:0", "db:65536", "db:x", "::1:3306", "[nope]:3306", "a b:1", "db:3306/x"]
    {
        let extra = format!("[[groups.members]]\naddress = \"{bad}\"\nrole = \"replica\"\n");
        issues_at(&extra, &["groups[0].members[1].address"]);
    }
}

#[test]
fn users_and_admin_users() {
    let user = |section: &str, name: &str, native: &str, sha2: &str| {
        format!(
            "[[{section}]]\nname = \"{name}\"\nmysql_native_password = \"{native}\"\ncaching_sha2_password = \"{sha2}\"\n"
        )
    };
    issues_at(&user("users", "app", NATIVE_APP, SHA2_APP), &[]);
    issues_at(&format!("[[users]]\nname = \"a\"\ncaching_sha2_password = \"{SHA2_APP}\"\n"), &[]);
    issues_at(&format!("[[users]]\nname = \"a\"\nmysql_native_password = \"{NATIVE_APP}\"\n"), &[]);
    issues_at("[[users]]\nname = \"a\"\n", &["users[0]"]);
    issues_at(&user("users", "", NATIVE_APP, SHA2_APP), &["users[0].name"]);
    let twice =
        format!("{}{}", user("users", "a", NATIVE_APP, SHA2_APP), user("users", "a", NATIVE_APP, SHA2_APP));
    issues_at(&twice, &["users[1].name"]);
    // Without the `*`, too short, not hex.
    issues_at(
        &user("users", "a", &NATIVE_APP[1..], &SHA2_APP[1..]),
        &["users[0].mysql_native_password", "users[0].caching_sha2_password"],
    );
    issues_at(
        &user("users", "a", &NATIVE_APP.replace('5', "g"), SHA2_APP),
        &["users[0].mysql_native_password"],
    );
    let admin = |u: String| u.replace("[[users]]", "[[admin.users]]");
    issues_at(
        &admin(user("users", "", "*1", "2")),
        &[
            "admin.users[0].name",
            "admin.users[0].mysql_native_password",
            "admin.users[0].caching_sha2_password",
        ],
    );
    issues_at(&admin("[[users]]\nname = \"root\"\n".into()), &["admin.users[0]"]);
    // "" is an empty password (MySQL accounts may have one), for either plugin or both; one empty and
    // one not cannot be the same password.
    issues_at(&user("users", "a", "", ""), &[]);
    issues_at("[[users]]\nname = \"a\"\nmysql_native_password = \"\"\n", &[]);
    issues_at("[[users]]\nname = \"a\"\ncaching_sha2_password = \"\"\n", &[]);
    issues_at(&user("users", "a", "", SHA2_APP), &["users[0]"]);
}

#[test]
fn credentials_need_exactly_one_password_source() {
    issues_at("[backend.credentials]\nuser = \"app\"\n", &["backend.credentials"]);
    issues_at(
        "[backend.credentials]\nuser = \"app\"\npassword_env = \"A\"\npassword_file = \"/f\"\n",
        &["backend.credentials"],
    );
    issues_at("[monitor.credentials]\nuser = \"\"\npassword_file = \"/f\"\n", &["monitor.credentials.user"]);
    issues_at(
        "[monitor.credentials]\nuser = \"m\"\npassword_env = \"\"\n",
        &["monitor.credentials.password_env"],
    );
    let user = format!(
        "[[users]]\nname = \"a\"\ncaching_sha2_password = \"{SHA2_APP}\"\n[users.backend]\nuser = \"b\"\n"
    );
    issues_at(&user, &["users[0].backend"]);
    issues_at(&format!("{user}password_env = \"B_PW\"\n"), &[]);
}

#[test]
fn rules() {
    issues_at("[[rules]]\naction = \"route\"\ntarget = \"primary\"\n", &[]);
    issues_at("[[rules]]\naction = \"route\"\ntarget = \"replica\"\n", &[]);
    issues_at("[[rules]]\naction = \"route\"\ntarget = \"main\"\n", &[]);
    issues_at("[[rules]]\naction = \"route\"\n", &["rules[0].target"]);
    issues_at("[[rules]]\naction = \"route\"\ntarget = \"nowhere\"\n", &["rules[0].target"]);
    issues_at("[[rules]]\naction = \"cache\"\nttl_ms = 500\nmatch = { tables = [\"t\", \"s.t\"] }\n", &[]);
    issues_at("[[rules]]\naction = \"cache\"\nttl_ms = 0\n", &["rules[0].ttl_ms"]);
    issues_at("[[rules]]\naction = \"block\"\nmessage = \"no\"\n", &[]);
    issues_at(
        "[[rules]]\naction = \"nocache\"\nmessage = \"no\"\nttl_ms = 5\ntarget = \"primary\"\n",
        &["rules[0].message", "rules[0].ttl_ms", "rules[0].target"],
    );
    issues_at("[[rules]]\naction = \"block\"\nmatch = { digest = \"0123456789abcdef\" }\n", &[]);
    issues_at(
        "[[rules]]\naction = \"block\"\nmatch = { digest = \"0123456789abcdeg\" }\n",
        &["rules[0].match.digest"],
    );
    issues_at("[[rules]]\naction = \"block\"\nmatch = { digest = \"0123\" }\n", &["rules[0].match.digest"]);
    issues_at(
        "[[rules]]\naction = \"block\"\nmatch = { tables = [\"a.b.c\", \"\", \".t\"] }\n",
        &["rules[0].match.tables[0]", "rules[0].match.tables[1]", "rules[0].match.tables[2]"],
    );
}

#[test]
fn timeout_rules() {
    issues_at("[[rules]]\naction = \"timeout\"\ntimeout_ms = 500\n", &[]);
    issues_at("[[rules]]\naction = \"route\"\ntarget = \"replica\"\ntimeout_ms = 500\n", &[]);
    issues_at("[[rules]]\naction = \"cache\"\nttl_ms = 5\ntimeout_ms = 500\n", &[]);
    issues_at("[[rules]]\naction = \"timeout\"\n", &["rules[0].timeout_ms"]);
    issues_at("[[rules]]\naction = \"timeout\"\ntimeout_ms = 0\n", &["rules[0].timeout_ms"]);
    issues_at("[[rules]]\naction = \"block\"\ntimeout_ms = 5\n", &["rules[0].timeout_ms"]);
}

#[test]
fn rule_issue_lines_inside_inline_tables() {
    let text = format!("{MINIMAL}[[rules]]\naction = \"block\"\nmatch = {{ digest = \"zz\" }}\n");
    let issues = Config::parse(&text, "t").expect("parses").validate().expect_err("invalid");
    assert_eq!((issues[0].path.as_str(), issues[0].line), ("rules[0].match.digest", Some(9)));
}

#[test]
fn pool_sizes() {
    issues_at("[pool]\nmax_per_backend = 0\n", &["pool.max_per_backend"]);
    issues_at("[pool]\nmax_per_backend = 2\nmin_idle = 3\n", &["pool.min_idle"]);
    issues_at("[pool]\nmax_per_backend = 3\nmin_idle = 3\n", &[]);
    issues_at("[pool]\ncheckout_timeout_ms = 0\n", &["pool.checkout_timeout_ms"]);
}

#[test]
fn server_listeners_and_tls_files() {
    issues_at(
        "[server]\nmax_client_connections = 0\nmax_packet_bytes = 10\n",
        &["server.max_client_connections", "server.max_packet_bytes"],
    );
    issues_at(
        "[server]\ntls = { cert = \"/nonexistent/c.pem\", key = \"/nonexistent/k.pem\" }\n",
        &["server.tls.cert", "server.tls.key"],
    );
    let dir = tempfile::tempdir().expect("tmp");
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&cert, "x").expect("write");
    std::fs::write(&key, "x").expect("write");
    issues_at(&format!("[server.tls]\ncert = {:?}\nkey = {:?}\n", cert, key), &[]);
    issues_at("[admin]\nlisten = \"127.0.0.1:6033\"\n", &["admin.listen"]);
    issues_at("[admin]\nlisten = \"127.0.0.1:6033\"\nenabled = false\n", &[]);
    issues_at("[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n", &[]);
    issues_at("[backend.tls]\nenabled = true\n", &["backend.tls.ca"]);
    issues_at("[backend.tls]\nenabled = true\nverify = false\n", &[]);
    issues_at("[backend.tls]\nca = \"/nonexistent/ca.pem\"\n", &["backend.tls.ca"]);
    issues_at("[monitor]\ninterval_ms = 0\n", &["monitor.interval_ms"]);
}

#[test]
fn cache_and_redis_url() {
    for good in [
        "",
        "redis://127.0.0.1:6380",
        "redis://h",
        "redis://user:pw@h:6379/2",
        "redis://[::1]:6379/0",
        "redis://h:1/?protocol=resp3",
    ] {
        issues_at(&format!("[cache]\nredis_url = \"{good}\"\n"), &[]);
    }
    for bad in [
        "http://h:1",
        "rediss://user:pw@h:6379/2",
        "redis+cluster://a:1,b:2",
        "redis:/h",
        "redis://",
        "redis://h:0",
        "redis://h:x",
        "redis://a:1,b:2",
        "redis://h/db",
        "127.0.0.1:6379",
    ] {
        issues_at(&format!("[cache]\nredis_url = \"{bad}\"\n"), &["cache.redis_url"]);
    }
    issues_at(
        "[cache]\nenabled = true\nl1_size = 0\nmax_entry_bytes = 0\n",
        &["cache.l1_size", "cache.max_entry_bytes"],
    );
}

#[test]
fn log_level() {
    for good in ["info", "debug", "sluice=debug,warn", "sluice::session=trace", "WARN", "off"] {
        issues_at(&format!("[log]\nlevel = \"{good}\"\n"), &[]);
    }
    for bad in ["", "infoo", "warning", "[[[", "sluice=loud"] {
        issues_at(&format!("[log]\nlevel = \"{bad}\"\n"), &["log.level"]);
    }
}

#[test]
fn capture() {
    issues_at("[capture]\nenabled = true\nfile = \"/var/lib/sluice/capture.bin\"\nmask = \"strings\"\n", &[]);
    issues_at("[capture]\nenabled = true\n", &["capture.file"]);
    issues_at(
        "[capture]\nqueue_records = 0\nblock_bytes = 10\n",
        &["capture.queue_records", "capture.block_bytes"],
    );
    let e = Config::parse(&format!("{MINIMAL}[capture]\nmask = \"some\"\n"), "t.toml").expect_err("bad mask");
    assert!(e.to_string().contains("capture.mask"), "{e}");
}
