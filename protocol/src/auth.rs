//! Authentication plugins: password hashes sluice stores, scramble verification toward clients and
//! scramble computation toward backends, for `mysql_native_password` and `caching_sha2_password`.
//!
//! sluice never stores a password. For `mysql_native_password` it stores SHA1(SHA1(pw)) (the `*HEX`
//! that `PASSWORD()` prints); for `caching_sha2_password` it stores SHA256(SHA256(pw)), which is enough
//! to verify the fast-path scramble without any server-side cache, so sluice can always answer it.
//!
//! Toward a backend, caching_sha2_password's full authentication (a server whose cache lacks the
//! account: every account after a restart or `FLUSH PRIVILEGES`) sends the password itself: in clear
//! over TLS, otherwise encrypted with the server's RSA public key ([`ServerPublicKey`]).

use sha1::{Digest, Sha1};
use sha2::Sha256;

/// Name of the SHA1 scramble plugin.
pub const MYSQL_NATIVE_PASSWORD: &str = "mysql_native_password";
/// Name of the SHA256 scramble plugin.
pub const CACHING_SHA2_PASSWORD: &str = "caching_sha2_password";
/// Name of the cleartext plugin (only ever used toward backends that ask for it, over TLS).
pub const MYSQL_CLEAR_PASSWORD: &str = "mysql_clear_password";

/// caching_sha2: the server asks the client to send its password (TLS) or request the RSA key.
pub const SHA2_PERFORM_FULL_AUTH: u8 = 0x04;
/// caching_sha2: the fast-path scramble matched.
pub const SHA2_FAST_AUTH_SUCCESS: u8 = 0x03;
/// caching_sha2: a client without TLS asks for the server's RSA public key.
pub const SHA2_REQUEST_PUBLIC_KEY: u8 = 0x02;

/// A server's RSA public key for caching_sha2_password full authentication without TLS: the key a
/// server sends after [`SHA2_REQUEST_PUBLIC_KEY`], or one configured from a PEM file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerPublicKey(rsa::RsaPublicKey);

/// A public key that cannot be read or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The bytes are not a PEM RSA public key.
    #[error("not an RSA public key in PEM form (BEGIN PUBLIC KEY or BEGIN RSA PUBLIC KEY): {0}")]
    Parse(String),
    /// The password is too long for the key, or the key is unusable.
    #[error("cannot encrypt the password with the server's RSA key: {0}")]
    Encrypt(String),
}

impl ServerPublicKey {
    /// Parses a PEM public key: SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`, what MySQL sends and writes
    /// to `public_key.pem`) or PKCS#1 (`BEGIN RSA PUBLIC KEY`). Trailing NULs and whitespace are ignored.
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        use rsa::pkcs1::DecodeRsaPublicKey as _;
        use rsa::pkcs8::DecodePublicKey as _;
        let text = std::str::from_utf8(pem).map_err(|_| KeyError::Parse("not UTF-8 text".into()))?;
        let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
        if text.starts_with("-----BEGIN RSA PUBLIC KEY-----") {
            rsa::RsaPublicKey::from_pkcs1_pem(text).map(Self).map_err(|e| KeyError::Parse(e.to_string()))
        } else {
            rsa::RsaPublicKey::from_public_key_pem(text).map(Self).map_err(|e| KeyError::Parse(e.to_string()))
        }
    }

    /// The full-authentication answer without TLS, as libmysqlclient computes it: the NUL-terminated
    /// password XORed with the connection's nonce (repeated), encrypted with RSA-OAEP (SHA-1, MGF1-SHA-1;
    /// MySQL 8.0.5 and later). A 2048-bit key takes passwords up to 213 bytes.
    pub fn encrypt_password(&self, nonce: &[u8], password: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut plain = password.to_vec();
        plain.push(0);
        if !nonce.is_empty() {
            for (b, n) in plain.iter_mut().zip(nonce.iter().cycle()) {
                *b ^= n;
            }
        }
        let padding = rsa::Oaep::new::<Sha1>();
        self.0
            .encrypt(&mut rsa::rand_core::OsRng, padding, &plain)
            .map_err(|e| KeyError::Encrypt(e.to_string()))
    }
}

/// SHA1(SHA1(password)): what `mysql_native_password` stores.
pub fn native_password_hash(password: &[u8]) -> [u8; 20] {
    Sha1::digest(Sha1::digest(password)).into()
}

/// SHA256(SHA256(password)): what sluice stores for `caching_sha2_password`.
pub fn sha2_password_hash(password: &[u8]) -> [u8; 32] {
    Sha256::digest(Sha256::digest(password)).into()
}

/// The `*HEX` form `PASSWORD()` prints for a native hash.
pub fn native_hash_to_string(hash: &[u8; 20]) -> String {
    let mut s = String::with_capacity(41);
    s.push('*');
    for b in hash {
        s.push_str(&format!("{b:02X}"));
    }
    s
}

/// The scramble a client computes for `mysql_native_password`: SHA1(pw) XOR SHA1(nonce + SHA1(SHA1(pw))).
/// An empty password gives an empty scramble.
pub fn native_scramble(nonce: &[u8], password: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1: [u8; 20] = Sha1::digest(password).into();
    let stage2: [u8; 20] = Sha1::digest(stage1).into();
    let mut h = Sha1::new();
    h.update(nonce);
    h.update(stage2);
    let mask: [u8; 20] = h.finalize().into();
    stage1.iter().zip(mask).map(|(a, b)| a ^ b).collect()
}

/// The scramble a client computes for `caching_sha2_password`:
/// SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + nonce). An empty password gives an empty scramble.
pub fn sha2_scramble(nonce: &[u8], password: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1: [u8; 32] = Sha256::digest(password).into();
    let stage2: [u8; 32] = Sha256::digest(stage1).into();
    let mut h = Sha256::new();
    h.update(stage2);
    h.update(nonce);
    let mask: [u8; 32] = h.finalize().into();
    stage1.iter().zip(mask).map(|(a, b)| a ^ b).collect()
}

/// Verifies a client's `mysql_native_password` scramble against the stored SHA1(SHA1(pw)).
/// `stored == None` means the account has an empty password.
pub fn verify_native(nonce: &[u8], scramble: &[u8], stored: Option<&[u8; 20]>) -> bool {
    let Some(stored) = stored else { return scramble.is_empty() };
    if scramble.is_empty() {
        // A client sends no scramble for an empty password: right only if the stored hash is of "".
        return constant_time_eq(&native_password_hash(b""), stored);
    }
    if scramble.len() != 20 {
        return false;
    }
    let mut h = Sha1::new();
    h.update(nonce);
    h.update(stored);
    let mask: [u8; 20] = h.finalize().into();
    let mut stage1 = [0u8; 20];
    for (i, b) in stage1.iter_mut().enumerate() {
        *b = scramble[i] ^ mask[i];
    }
    let candidate: [u8; 20] = Sha1::digest(stage1).into();
    constant_time_eq(&candidate, stored)
}

/// Verifies a client's `caching_sha2_password` fast-path scramble against the stored SHA256(SHA256(pw)).
pub fn verify_sha2(nonce: &[u8], scramble: &[u8], stored: Option<&[u8; 32]>) -> bool {
    let Some(stored) = stored else { return scramble.is_empty() };
    if scramble.is_empty() {
        // No scramble is an empty password: right only if the stored hash is of "".
        return constant_time_eq(&sha2_password_hash(b""), stored);
    }
    if scramble.len() != 32 {
        return false;
    }
    let mut h = Sha256::new();
    h.update(stored);
    h.update(nonce);
    let mask: [u8; 32] = h.finalize().into();
    let mut stage1 = [0u8; 32];
    for (i, b) in stage1.iter_mut().enumerate() {
        *b = scramble[i] ^ mask[i];
    }
    let candidate: [u8; 32] = Sha256::digest(stage1).into();
    constant_time_eq(&candidate, stored)
}

/// Verifies a cleartext password (caching_sha2 full auth over TLS) against whichever hash is stored.
pub fn verify_cleartext(password: &[u8], native: Option<&[u8; 20]>, sha2: Option<&[u8; 32]>) -> bool {
    if let Some(h) = sha2 {
        return constant_time_eq(&sha2_password_hash(password), h);
    }
    if let Some(h) = native {
        return constant_time_eq(&native_password_hash(password), h);
    }
    password.is_empty()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Parses a `*HEX` native hash (41 chars) into bytes.
pub fn parse_native_hash(s: &str) -> Option<[u8; 20]> {
    let hex = s.strip_prefix('*')?;
    parse_hex::<20>(hex)
}

/// Parses a 64-hex-digit SHA256(SHA256(pw)) into bytes.
pub fn parse_sha2_hash(s: &str) -> Option<[u8; 32]> {
    parse_hex::<32>(s)
}

fn parse_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let bytes = s.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        let hi = (bytes[2 * i] as char).to_digit(16)?;
        let lo = (bytes[2 * i + 1] as char).to_digit(16)?;
        *o = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// Lower-case hex of a SHA256(SHA256(pw)) hash, the form the config stores.
pub fn sha2_hash_to_string(hash: &[u8; 32]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_hash_matches_mariadb_password_function() {
        // SELECT PASSWORD('app') on MariaDB 10.11.
        assert_eq!(
            native_hash_to_string(&native_password_hash(b"app")),
            "*5BCB3E6AC345B435C7C2E6B7949A04CE6F6563D3"
        );
        assert_eq!(
            native_hash_to_string(&native_password_hash(b"password")),
            "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
        );
    }

    #[test]
    fn native_scramble_verifies_and_wrong_password_fails() {
        let nonce = b"01234567890123456789";
        let stored = native_password_hash(b"secret");
        let s = native_scramble(nonce, b"secret");
        assert!(verify_native(nonce, &s, Some(&stored)));
        assert!(!verify_native(nonce, &native_scramble(nonce, b"Secret"), Some(&stored)));
        assert!(!verify_native(nonce, &[], Some(&stored)));
        assert!(verify_native(nonce, &[], None));
        assert!(!verify_native(nonce, &s, None));
    }

    #[test]
    fn sha2_scramble_verifies_from_double_hash_only() {
        let nonce = b"abcdefghijabcdefghij";
        let stored = sha2_password_hash(b"secret");
        let s = sha2_scramble(nonce, b"secret");
        assert_eq!(s.len(), 32);
        assert!(verify_sha2(nonce, &s, Some(&stored)));
        assert!(!verify_sha2(nonce, &sha2_scramble(nonce, b"secreT"), Some(&stored)));
        assert!(!verify_sha2(b"abcdefghijabcdefghiX", &s, Some(&stored)));
    }

    #[test]
    fn empty_password_verifies_only_against_the_empty_hash() {
        let nonce = b"01234567890123456789";
        let (n, s) = (native_password_hash(b""), sha2_password_hash(b""));
        assert!(verify_native(nonce, &native_scramble(nonce, b""), Some(&n)));
        assert!(verify_sha2(nonce, &sha2_scramble(nonce, b""), Some(&s)));
        assert!(verify_cleartext(b"", Some(&n), Some(&s)));
        // A wrong (non-empty) password still fails against the empty hash, and vice versa.
        assert!(!verify_native(nonce, &native_scramble(nonce, b"x"), Some(&n)));
        assert!(!verify_sha2(nonce, &sha2_scramble(nonce, b"x"), Some(&s)));
        assert!(!verify_native(nonce, &[], Some(&native_password_hash(b"x"))));
        assert!(!verify_sha2(nonce, &[], Some(&sha2_password_hash(b"x"))));
    }

    #[test]
    fn cleartext_checks_either_hash() {
        let n = native_password_hash(b"pw");
        let s = sha2_password_hash(b"pw");
        assert!(verify_cleartext(b"pw", Some(&n), None));
        assert!(verify_cleartext(b"pw", None, Some(&s)));
        assert!(!verify_cleartext(b"px", Some(&n), Some(&s)));
    }

    /// A 1024-bit key pair (small keeps the test fast); the private half checks what the public half did.
    fn test_key() -> (rsa::RsaPrivateKey, String) {
        use rsa::pkcs8::EncodePublicKey as _;
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).expect("key");
        let pem = private.to_public_key().to_public_key_pem(rsa::pkcs8::LineEnding::LF).expect("pem");
        (private, pem)
    }

    #[test]
    fn rsa_password_decrypts_to_the_password_xor_nonce_with_nul() {
        let (private, pem) = test_key();
        // MySQL sends the key with a trailing NUL in the AuthMoreData packet.
        let mut sent = pem.clone().into_bytes();
        sent.push(0);
        let key = ServerPublicKey::from_pem(&sent).expect("parse");
        let nonce = b"abcdefghijabcdefghij";
        let enc = key.encrypt_password(nonce, b"a password longer than the twenty-byte nonce").expect("enc");
        assert_eq!(enc.len(), 128, "one RSA block of the key's size");
        let plain = private.decrypt(rsa::Oaep::new::<Sha1>(), &enc).expect("decrypt");
        let unxored: Vec<u8> = plain.iter().zip(nonce.iter().cycle()).map(|(b, n)| b ^ n).collect();
        assert_eq!(unxored, b"a password longer than the twenty-byte nonce\0");
        // Randomized padding: the same password encrypts differently each time.
        assert_ne!(
            enc,
            key.encrypt_password(nonce, b"a password longer than the twenty-byte nonce").expect("e")
        );
    }

    #[test]
    fn rsa_key_forms_and_failures() {
        use rsa::pkcs1::EncodeRsaPublicKey as _;
        let (private, _pem) = test_key();
        let pkcs1 = private.to_public_key().to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).expect("pkcs1");
        assert!(ServerPublicKey::from_pem(pkcs1.as_bytes()).is_ok());
        let err =
            ServerPublicKey::from_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .expect_err("not a key");
        assert!(err.to_string().contains("BEGIN PUBLIC KEY"), "{err}");
        let key = ServerPublicKey::from_pem(pkcs1.as_bytes()).expect("parse");
        // 1024-bit OAEP-SHA1 holds 86 bytes: 85 of password plus the NUL.
        assert!(key.encrypt_password(b"n", &[b'x'; 85]).is_ok());
        assert!(matches!(key.encrypt_password(b"n", &[b'x'; 86]), Err(KeyError::Encrypt(_))));
    }

    #[test]
    fn hashes_parse_back() {
        let n = native_password_hash(b"x");
        assert_eq!(parse_native_hash(&native_hash_to_string(&n)), Some(n));
        let s = sha2_password_hash(b"x");
        assert_eq!(parse_sha2_hash(&sha2_hash_to_string(&s)), Some(s));
        assert_eq!(parse_native_hash("5BCB"), None);
        assert_eq!(parse_sha2_hash("zz"), None);
    }
}
