//! Backend passwords from the environment or a file; errors name the source, never the secret.

use std::path::PathBuf;

use super::*;

fn creds(env: Option<&str>, file: Option<PathBuf>) -> Credentials {
    Credentials { user: "app".into(), password_env: env.map(Into::into), password_file: file }
}

#[test]
fn password_from_env() {
    let c = creds(Some("APP_PW"), None);
    let get = |k: &str| (k == "APP_PW").then(|| "s3cret\r\n".to_owned());
    assert_eq!(c.password_from(get).expect("set"), "s3cret");
    let e = c.password_from(|_| None).expect_err("unset");
    let s = e.to_string();
    assert!(s.starts_with("APP_PW: environment variable is not set"), "{s}");
    assert!(s.contains("\"app\""), "{s}");
}

#[test]
fn password_from_the_real_environment() {
    // PATH is set in every test environment; this checks the std::env wiring, not the value.
    let c = creds(Some("PATH"), None);
    assert!(c.password().is_ok());
    let c = creds(Some("SLUICE_TEST_SURELY_UNSET_4F2A"), None);
    assert!(c.password().expect_err("unset").to_string().contains("SLUICE_TEST_SURELY_UNSET_4F2A"));
}

#[test]
fn password_from_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("pw");
    for (content, want) in [
        ("s3cret\n", "s3cret"),
        ("s3cret\r\n", "s3cret"),
        ("s3cret", "s3cret"),
        (" sp ace \n\n", " sp ace \n"),
    ] {
        std::fs::write(&f, content).expect("write");
        assert_eq!(creds(None, Some(f.clone())).password().expect("file"), want, "{content:?}");
    }
    let missing = dir.path().join("missing");
    let s = creds(None, Some(missing.clone())).password().expect_err("missing").to_string();
    assert!(s.starts_with(&format!("{}: cannot read the password", missing.display())), "{s}");
}

#[test]
fn password_errors_never_show_the_secret() {
    let both = creds(Some("APP_PW"), Some("/f".into()));
    let s = both.password_from(|_| Some("s3cret".into())).expect_err("both").to_string();
    assert!(s.contains("both") && !s.contains("s3cret"), "{s}");
    assert!(creds(None, None).password().expect_err("neither").to_string().contains("neither"));
}

#[test]
fn config_error_converts_to_string_for_startup_code() {
    fn start(c: &Credentials) -> Result<String, String> {
        Ok(c.password()?)
    }
    assert!(start(&creds(None, None)).expect_err("neither").contains("backend user \"app\""));
}
