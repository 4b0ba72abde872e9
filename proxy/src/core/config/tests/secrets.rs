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
fn a_missing_password_names_the_backend_user() {
    let e = creds(None, None).password().expect_err("neither").to_string();
    assert!(e.contains("backend user \"app\""), "{e}");
}

#[test]
fn server_public_key_file_is_read_and_checked_at_start() {
    use rsa::pkcs8::EncodePublicKey as _;
    let dir = tempfile::tempdir().expect("tmp");
    let key = dir.path().join("public_key.pem");
    let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).expect("key");
    let pem = private.to_public_key().to_public_key_pem(rsa::pkcs8::LineEnding::LF).expect("pem");
    std::fs::write(&key, pem).expect("write");
    let mut backend = BackendConfig::default();
    assert!(backend.server_public_key().expect("unset is fine").is_none());
    backend.server_public_key_file = Some(key.clone());
    assert!(backend.server_public_key().expect("a PEM public key").is_some());

    let text = format!("{MINIMAL}\n[backend]\nserver_public_key_file = {:?}\n", key.display().to_string());
    assert!(issue_paths(&text).is_empty(), "{:?}", issue_paths(&text));
    let missing = dir.path().join("missing.pem");
    let text =
        format!("{MINIMAL}\n[backend]\nserver_public_key_file = {:?}\n", missing.display().to_string());
    assert_eq!(issue_paths(&text), ["backend.server_public_key_file"]);
    let not_a_key = dir.path().join("cert.pem");
    std::fs::write(&not_a_key, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        .expect("write");
    backend.server_public_key_file = Some(not_a_key);
    let e = backend.server_public_key().expect_err("a certificate is not a public key").to_string();
    assert!(e.contains("BEGIN PUBLIC KEY") && e.contains("public_key.pem"), "{e}");
}
