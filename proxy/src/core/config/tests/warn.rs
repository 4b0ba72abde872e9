//! Warnings about listeners beyond loopback (admin with a default password, HTTP without a token),
//! and the `[http]` and password-source settings they read.

use super::validate::issues_at;
use super::*;

/// `admin` / `admin`, as the shipped examples had it.
const ADMIN_ADMIN: &str = r#"
[[admin.users]]
name = "admin"
mysql_native_password = "*4ACFE3202A5FF5CF467898FC58AAB1D615029441"
caching_sha2_password = "dd474e450473186ec733689b549a94a54a96f276dba76b29138c57b6afe15bf7"
"#;

fn warnings(extra: &str, env: &[(&str, &str)]) -> Vec<ConfigIssue> {
    let c = Config::parse(&format!("{MINIMAL}{extra}"), "w.toml").expect("parses");
    c.validate().expect("valid");
    c.warnings_from(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
}

fn paths(extra: &str, env: &[(&str, &str)]) -> Vec<String> {
    warnings(extra, env).into_iter().map(|w| w.path).collect()
}

#[test]
fn loopback_means_this_host_only() {
    for a in ["127.0.0.1:1", "127.8.0.1:1", "[::1]:1", "[::ffff:127.0.0.1]:1"] {
        assert!(is_loopback(a.parse().expect("addr")), "{a}");
    }
    for a in ["0.0.0.0:1", "[::]:1", "10.0.0.1:1", "[::ffff:10.0.0.1]:1"] {
        assert!(!is_loopback(a.parse().expect("addr")), "{a}");
    }
}

#[test]
fn the_defaults_warn_about_nothing() {
    assert!(paths("", &[]).is_empty());
    assert!(paths(ADMIN_ADMIN, &[]).is_empty(), "admin/admin on loopback is a local setup");
}

#[test]
fn admin_beyond_loopback_with_a_default_password() {
    let exposed = "[admin]\nlisten = \"0.0.0.0:6032\"\n";
    let w = warnings(&format!("{exposed}{ADMIN_ADMIN}"), &[]);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!((w[0].path.as_str(), w[0].line), ("admin.users[0]", Some(10)));
    assert!(w[0].message.contains("0.0.0.0:6032") && w[0].message.contains("\"admin\""), "{}", w[0]);
    // Empty and own-name passwords too; a strong hash is fine.
    let hashed = |name: &str, pw: &str| {
        use sluice_protocol::auth::{sha2_hash_to_string, sha2_password_hash};
        let h = sha2_hash_to_string(&sha2_password_hash(pw.as_bytes()));
        format!("[[admin.users]]\nname = \"{name}\"\ncaching_sha2_password = \"{h}\"\n")
    };
    let extra = format!(
        "{exposed}{}{}{}[[admin.users]]\nname = \"e\"\nmysql_native_password = \"\"\n",
        hashed("ops", "ops"),
        hashed("root", ""),
        hashed("good", "a long random password"),
    );
    assert_eq!(paths(&extra, &[]), ["admin.users[0]", "admin.users[1]", "admin.users[3]"]);
    // A password from a secret is checked when it can be read, and not warned about when it cannot.
    let from_env = format!("{exposed}[[admin.users]]\nname = \"ops\"\npassword_env = \"ADMIN_PW\"\n");
    assert_eq!(paths(&from_env, &[("ADMIN_PW", "admin\n")]), ["admin.users[0]"]);
    assert!(paths(&from_env, &[("ADMIN_PW", "x7!kQ9-long")]).is_empty());
    assert!(paths(&from_env, &[]).is_empty());
    // Disabled: nothing listens.
    assert!(
        paths(&format!("[admin]\nlisten = \"0.0.0.0:6032\"\nenabled = false\n{ADMIN_ADMIN}"), &[]).is_empty()
    );
}

#[test]
fn http_beyond_loopback_without_a_token() {
    let w = warnings("[http]\nlisten = \"0.0.0.0:9033\"\n", &[]);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!((w[0].path.as_str(), w[0].line), ("http.listen", Some(8)));
    assert!(w[0].message.contains("403") && w[0].message.contains("token_env"), "{}", w[0]);
    let with = "[http]\nlisten = \"[::]:9033\"\ntoken_env = \"T\"\n";
    assert!(paths(with, &[("T", "0123456789abcdef0123")]).is_empty());
    assert_eq!(paths(with, &[("T", "short")]), ["http"]);
    assert!(paths(with, &[]).is_empty(), "unreadable here: the start reports it");
    assert!(paths("[http]\nlisten = \"0.0.0.0:9033\"\nenabled = false\n", &[]).is_empty());
    assert!(paths("[http]\nlisten = \"127.0.0.1:9033\"\n", &[]).is_empty());
}

#[test]
fn http_settings_are_validated() {
    let c = Config::parse(MINIMAL, "t.toml").expect("parses");
    let h = &c.http;
    assert_eq!((h.user.as_str(), h.show_literals, h.max_connections), ("sluice", false, 64));
    assert_eq!((h.request_timeout_ms, h.write_timeout_ms), (5_000, 10_000));
    assert!(h.token_env.is_none() && h.token_file.is_none());
    issues_at("[http]\ntoken_env = \"A\"\ntoken_file = \"/f\"\n", &["http"]);
    issues_at("[http]\ntoken_env = \"A=B\"\n", &["http.token_env"]);
    issues_at("[http]\nuser = \"a:b\"\n", &["http.user"]);
    issues_at("[http]\nuser = \"\"\n", &["http.user"]);
    issues_at(
        "[http]\nrequest_timeout_ms = 0\nwrite_timeout_ms = 0\n",
        &["http.request_timeout_ms", "http.write_timeout_ms"],
    );
    issues_at("[http]\nmax_connections = 0\nshow_literals = true\nuser = \"ops\"\n", &[]);
}

#[test]
fn http_token_comes_from_env_or_file_and_is_never_empty() {
    let mut h = HttpConfig { token_env: Some("T".into()), ..HttpConfig::default() };
    assert_eq!(h.token_from(|_| Some("tok\n".into())).expect("set").as_deref(), Some("tok"));
    let e = h.token_from(|_| None).expect_err("unset").to_string();
    assert!(e.starts_with("T: environment variable is not set") && e.contains("[http] token"), "{e}");
    let e = h.token_from(|_| Some("\n".into())).expect_err("empty").to_string();
    assert!(e.contains("empty"), "{e}");
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("token");
    std::fs::write(&f, "from-file\r\n").expect("write");
    h.token_env = None;
    h.token_file = Some(f);
    assert_eq!(h.token_from(|_| None).expect("file").as_deref(), Some("from-file"));
    assert_eq!(HttpConfig::default().token_from(|_| None).expect("none"), None);
}

#[test]
fn accounts_take_hashes_or_a_password_source() {
    issues_at("[[admin.users]]\nname = \"ops\"\npassword_env = \"SLUICE_ADMIN_PASSWORD\"\n", &[]);
    issues_at("[[users]]\nname = \"app\"\npassword_file = \"/run/secrets/app\"\n", &[]);
    issues_at(&format!("{ADMIN_ADMIN}password_env = \"P\"\n"), &["admin.users[0]"]);
    issues_at(
        "[[admin.users]]\nname = \"ops\"\npassword_env = \"P\"\npassword_file = \"/f\"\n",
        &["admin.users[0]"],
    );
    issues_at("[[admin.users]]\nname = \"ops\"\npassword_env = \"\"\n", &["admin.users[0].password_env"]);
    let c =
        Config::parse(&format!("{MINIMAL}[[admin.users]]\nname = \"ops\"\npassword_env = \"P\"\n"), "t.toml")
            .expect("parses");
    let u = &c.admin.users[0];
    assert_eq!(u.password_from(|_| Some("pw\n".into())).expect("set").as_deref(), Some("pw"));
    let e = u.password_from(|_| None).expect_err("unset").to_string();
    assert!(e.contains("account \"ops\""), "{e}");
}
