//! Test certificates (rcgen): one CA signing the primary's server cert and sluice's client-facing cert.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// PEM files written by [`write_all`], all inside the topology dir.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// The CA certificate both leaf certs chain to.
    pub ca: PathBuf,
    /// The MariaDB primary's certificate (`--ssl-cert`).
    pub server_cert: PathBuf,
    /// Its key (`--ssl-key`).
    pub server_key: PathBuf,
    /// sluice's client-facing certificate (`[server.tls] cert`).
    pub proxy_cert: PathBuf,
    /// Its key.
    pub proxy_key: PathBuf,
}

// File names inside the topology dir; `Topology` derives its paths from its `dir` with these.
/// The CA certificate.
pub const CA: &str = "ca.pem";
/// The MariaDB primary's certificate.
pub const SERVER_CERT: &str = "server-cert.pem";
/// The MariaDB primary's key.
pub const SERVER_KEY: &str = "server-key.pem";
/// sluice's client-facing certificate.
pub const PROXY_CERT: &str = "proxy-cert.pem";
/// sluice's client-facing key.
pub const PROXY_KEY: &str = "proxy-key.pem";

impl CertFiles {
    /// The paths inside `dir` (whether or not the files exist yet).
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            ca: dir.join(CA),
            server_cert: dir.join(SERVER_CERT),
            server_key: dir.join(SERVER_KEY),
            proxy_cert: dir.join(PROXY_CERT),
            proxy_key: dir.join(PROXY_KEY),
        }
    }
}

/// Generates the CA and both leaf certificates (SAN `localhost` and `127.0.0.1`) into `dir`.
pub fn write_all(dir: &Path) -> anyhow::Result<CertFiles> {
    let files = CertFiles::in_dir(dir);

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).context("CA params")?;
    ca_params.distinguished_name.push(DnType::CommonName, "sluice test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().context("CA key")?;
    let ca_cert = ca_params.self_signed(&ca_key).context("self-signing the CA")?;
    write(&files.ca, &ca_cert.pem())?;
    let issuer = Issuer::new(ca_params, ca_key);

    for (cn, cert_path, key_path) in [
        ("sluice test MariaDB", &files.server_cert, &files.server_key),
        ("localhost", &files.proxy_cert, &files.proxy_key),
    ] {
        let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .context("leaf params")?;
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().context("leaf key")?;
        let cert = params.signed_by(&key, &issuer).with_context(|| format!("signing {cn}"))?;
        write(cert_path, &cert.pem())?;
        write(key_path, &key.serialize_pem())?;
    }
    Ok(files)
}

fn write(path: &Path, pem: &str) -> anyhow::Result<()> {
    std::fs::write(path, pem).with_context(|| format!("writing {}", path.display()))
}
