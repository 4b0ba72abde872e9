//! TLS configurations with rustls (ring provider only): toward clients from the configured certificate
//! and key, toward backends verifying against a CA bundle or, if told to, not verifying at all.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, ring};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// Why a TLS configuration could not be built: the setting, the file, and the cause kept as its source.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file (certificate, key or CA bundle) could not be read or parsed.
    #[error("{setting} {}: {source}", path.display())]
    Pem {
        /// The config key (`server.tls.cert`…).
        setting: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// What rustls said.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// rustls refused the configuration (a key that does not match, a bad CA certificate…).
    #[error("{setting}: {source}")]
    Rustls {
        /// The config key.
        setting: &'static str,
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },
    /// A backend address whose host is no TLS server name.
    #[error("{address}: not a TLS server name: {source}")]
    ServerName {
        /// The backend's `host:port`.
        address: String,
        /// What rustls said.
        #[source]
        source: rustls_pki_types::InvalidDnsNameError,
    },
    /// Verification asked for without a CA to verify against.
    #[error(
        "backend.tls.verify = true needs backend.tls.ca (a PEM bundle of the CA that signed the backends' certificates)"
    )]
    NoCa,
}

fn pem(setting: &'static str, path: &Path) -> impl Fn(rustls_pki_types::pem::Error) -> TlsError {
    let path = path.to_path_buf();
    move |source| TlsError::Pem { setting, path: path.clone(), source }
}

fn refused(setting: &'static str) -> impl Fn(rustls::Error) -> TlsError {
    move |source| TlsError::Rustls { setting, source }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// The protocol versions at or above `min`.
fn versions(min: crate::core::config::TlsVersion) -> &'static [&'static rustls::SupportedProtocolVersion] {
    static ALL: [&rustls::SupportedProtocolVersion; 2] = [&rustls::version::TLS13, &rustls::version::TLS12];
    static TLS13_ONLY: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
    match min {
        crate::core::config::TlsVersion::V12 => &ALL,
        crate::core::config::TlsVersion::V13 => &TLS13_ONLY,
    }
}

/// Builds the client-facing TLS acceptor configuration.
pub fn server_config(
    cert: &Path,
    key: &Path,
    min: crate::core::config::TlsVersion,
) -> Result<Arc<ServerConfig>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(pem("server.tls.cert", cert))?
        .collect::<Result<_, _>>()
        .map_err(pem("server.tls.cert", cert))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(pem("server.tls.key", key))?;
    let cfg = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions(min))
        .map_err(refused("server.tls_min_version"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(refused("server.tls"))?;
    Ok(Arc::new(cfg))
}

/// Builds the backend-facing TLS configuration: verify against `ca` when `verify`, else accept any
/// certificate (the connection is still encrypted, but not authenticated).
pub fn client_config(
    verify: bool,
    ca: Option<&Path>,
    min: crate::core::config::TlsVersion,
) -> Result<Arc<ClientConfig>, TlsError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions(min))
        .map_err(refused("backend.tls_min_version"))?;
    let cfg = if verify {
        let ca = ca.ok_or(TlsError::NoCa)?;
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(ca).map_err(pem("backend.tls.ca", ca))? {
            let c = c.map_err(pem("backend.tls.ca", ca))?;
            roots.add(c).map_err(refused("backend.tls.ca"))?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider())))
            .with_no_client_auth()
    };
    Ok(Arc::new(cfg))
}

/// The TLS server name for a `host:port` backend address.
pub fn server_name(address: &str) -> Result<ServerName<'static>, TlsError> {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned())
        .map_err(|source| TlsError::ServerName { address: address.to_owned(), source })
}

/// Accepts any backend certificate; signatures are still checked so the handshake is well-formed.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::TlsVersion;

    /// A self-signed localhost certificate and its key, as PEM files in a temporary directory.
    fn self_signed() -> (tempfile::TempDir, rcgen::KeyPair, std::path::PathBuf, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert =
            rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap().self_signed(&key).unwrap();
        let (cp, kp) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&cp, cert.pem()).unwrap();
        std::fs::write(&kp, key.serialize_pem()).unwrap();
        (dir, key, cp, kp)
    }

    /// A client offering only `client` against a server configured with `min`: whether the handshake
    /// completes (in memory, no sockets).
    fn handshake(min: TlsVersion, client: &'static rustls::SupportedProtocolVersion) -> bool {
        let (_dir, _key, cp, kp) = self_signed();
        let server = server_config(&cp, &kp, min).unwrap();
        let ccfg = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[client])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider())))
            .with_no_client_auth();
        let mut c =
            rustls::ClientConnection::new(Arc::new(ccfg), server_name("localhost:1").unwrap()).unwrap();
        let mut s = rustls::ServerConnection::new(server).unwrap();
        for _ in 0..10 {
            let mut buf = Vec::new();
            c.write_tls(&mut buf).unwrap();
            if s.read_tls(&mut buf.as_slice()).is_err() || s.process_new_packets().is_err() {
                return false;
            }
            let mut back = Vec::new();
            s.write_tls(&mut back).unwrap();
            if c.read_tls(&mut back.as_slice()).is_err() || c.process_new_packets().is_err() {
                return false;
            }
            if !c.is_handshaking() && !s.is_handshaking() {
                return true;
            }
        }
        false
    }

    #[test]
    fn the_minimum_tls_version_is_enforced() {
        assert!(handshake(TlsVersion::V12, &rustls::version::TLS12));
        assert!(handshake(TlsVersion::V12, &rustls::version::TLS13));
        assert!(handshake(TlsVersion::V13, &rustls::version::TLS13));
        assert!(
            !handshake(TlsVersion::V13, &rustls::version::TLS12),
            "TLS 1.2 refused when the floor is 1.3"
        );
    }

    #[test]
    fn the_server_config_debug_shows_no_private_key() {
        let (_dir, key, cp, kp) = self_signed();
        let server = server_config(&cp, &kp, TlsVersion::V12).unwrap();
        let shown = format!("{server:?} {server:#?}");
        let der = key.serialize_der();
        // The key's bytes neither as the numbers Debug prints for a byte slice nor as PEM base64.
        let as_numbers = format!("{:?}", &der[der.len() - 16..]);
        let as_numbers = as_numbers.trim_matches(['[', ']']);
        assert!(!shown.contains(as_numbers), "private key bytes in Debug output");
        let pem = key.serialize_pem();
        for line in pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!shown.contains(line), "PEM line {line} in Debug output");
        }
    }
}
