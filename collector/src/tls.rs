//! TLS material: the collector's private CA and server certificate (created on first start with rcgen), the
//! fingerprint agents pin, and the rustls server configuration (ring provider).

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{path}: no usable PEM {what} ({detail})")]
    Pem { path: PathBuf, what: &'static str, detail: String },
    #[error("TLS configuration rejected: {0}")]
    Rustls(#[from] rustls::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io { path: path.to_owned(), source }
}

/// The managed files under `<data_dir>/tls`.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub dir: PathBuf,
}

impl TlsFiles {
    pub fn new(data_dir: &Path) -> TlsFiles {
        TlsFiles { dir: data_dir.join("tls") }
    }
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    /// The server certificate followed by the CA certificate, so agents pinning the CA's fingerprint receive it.
    pub fn server_chain(&self) -> PathBuf {
        self.dir.join("server.pem")
    }
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server.key")
    }
    fn server_names(&self) -> PathBuf {
        self.dir.join("server.names")
    }
}

/// SHA-256 of a DER certificate: lowercase hex without separators (the form printed everywhere).
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// Accepts a fingerprint as lowercase/uppercase hex, with or without `:` separators.
pub fn normalize_fingerprint(text: &str) -> Option<String> {
    let hex: String = text.trim().chars().filter(|c| *c != ':').collect::<String>().to_ascii_lowercase();
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// Names the server certificate covers: the listen address (unless a wildcard), loopback names and the hostname.
pub fn server_names(listen: SocketAddr, hostname: Option<&str>) -> Vec<String> {
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    if !listen.ip().is_unspecified() {
        names.push(listen.ip().to_string());
    }
    if let Some(host) = hostname.map(str::trim).filter(|h| !h.is_empty()) {
        names.push(host.to_owned());
    }
    names.sort();
    names.dedup();
    names
}

/// The CA's identity; rebuilt identically to sign with a stored CA key.
fn ca_params(now: DateTime<Utc>) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Muster");
    dn.push(DnType::CommonName, "Muster collector private CA");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    set_validity(&mut params, now, 20 * 365);
    params
}

/// Valid from yesterday (clock skew) for `days`.
fn set_validity(params: &mut CertificateParams, now: DateTime<Utc>, days: i64) {
    let day = |offset: i64| {
        let t = now + chrono::Duration::days(offset);
        rcgen::date_time_ymd(t.year(), t.month() as u8, t.day() as u8)
    };
    params.not_before = day(-1);
    params.not_after = day(days);
}

fn write_file(path: &Path, contents: &str, private: bool) -> Result<(), TlsError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    let mut file = options.open(path).map_err(io(path))?;
    file.write_all(contents.as_bytes()).map_err(io(path))
}

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(io(path))
}

/// What `ca show` and the startup banner print.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CaInfo {
    pub ca_cert_path: PathBuf,
    pub sha256_fingerprint: String,
}

pub fn ca_info(files: &TlsFiles) -> Result<CaInfo, TlsError> {
    let path = files.ca_cert();
    let der = CertificateDer::from_pem_file(&path).map_err(|e| TlsError::Pem {
        path: path.clone(),
        what: "certificate",
        detail: e.to_string(),
    })?;
    Ok(CaInfo { sha256_fingerprint: fingerprint(&der), ca_cert_path: path })
}

/// Creates the CA on first start, and the server certificate whenever it is missing or `names` changed.
pub fn ensure_managed(files: &TlsFiles, names: &[String], now: DateTime<Utc>) -> Result<CaInfo, TlsError> {
    std::fs::create_dir_all(&files.dir).map_err(io(&files.dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&files.dir, std::fs::Permissions::from_mode(0o700)).map_err(io(&files.dir))?;
    }
    let (ca_key, ca_pem) = if files.ca_key().exists() && files.ca_cert().exists() {
        let key = KeyPair::from_pem(&read(&files.ca_key())?)?;
        (key, read(&files.ca_cert())?)
    } else {
        let key = KeyPair::generate()?;
        let cert = ca_params(now).self_signed(&key)?;
        write_file(&files.ca_key(), &key.serialize_pem(), true)?;
        write_file(&files.ca_cert(), &cert.pem(), false)?;
        // A new CA invalidates any server certificate signed by an old one.
        let _ = std::fs::remove_file(files.server_names());
        (key, cert.pem())
    };
    let wanted = names.join("\n");
    let current = std::fs::read_to_string(files.server_names()).ok();
    if current.as_deref() != Some(wanted.as_str()) || !files.server_chain().exists() || !files.server_key().exists() {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(names.to_vec())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Muster");
        dn.push(DnType::CommonName, names.iter().find(|n| n.parse::<IpAddr>().is_err()).cloned().unwrap_or_default());
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, now, 5 * 365);
        let issuer = Issuer::new(ca_params(now), &ca_key);
        let cert = params.signed_by(&key, &issuer)?;
        write_file(&files.server_key(), &key.serialize_pem(), true)?;
        write_file(&files.server_chain(), &format!("{}{}", cert.pem(), ca_pem), false)?;
        write_file(&files.server_names(), &wanted, false)?;
    }
    ca_info(files)
}

/// A rustls server configuration (ring provider, TLS 1.2 and 1.3) from PEM files.
pub fn server_config(cert_chain: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs = CertificateDer::pem_file_iter(cert_chain)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Pem { path: cert_chain.to_owned(), what: "certificate", detail: e.to_string() })?;
    if certs.is_empty() {
        return Err(TlsError::Pem { path: cert_chain.to_owned(), what: "certificate", detail: "empty".to_owned() });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Pem {
        path: key.to_owned(),
        what: "private key",
        detail: e.to_string(),
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Whether credentials sent to `url` stay off the network in clear: https, or plain http only to this machine (a
/// loopback address or `localhost`), where a test's or a same-host peer lives. The SSO issuer and Jira sites
/// follow this rule.
pub fn https_or_loopback(url: &url::Url) -> bool {
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    url.scheme() == "https" || (url.scheme() == "http" && loopback)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_in_both_forms() {
        let plain = "ab".repeat(32);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(normalize_fingerprint(&plain), Some(plain.clone()));
        assert_eq!(normalize_fingerprint(&colons), Some(plain));
        assert_eq!(normalize_fingerprint("abcd"), None);
    }

    #[test]
    fn names_cover_listen_address_and_hostname() {
        let names = server_names("192.0.2.7:8443".parse().unwrap(), Some("inventory"));
        assert_eq!(names, ["127.0.0.1", "192.0.2.7", "::1", "inventory", "localhost"]);
        let names = server_names("0.0.0.0:8443".parse().unwrap(), None);
        assert_eq!(names, ["127.0.0.1", "::1", "localhost"]);
    }

    #[test]
    fn ca_is_created_once_and_server_cert_follows_names() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles::new(dir.path());
        let now = Utc::now();
        let first = ensure_managed(&files, &server_names("127.0.0.1:8443".parse().unwrap(), None), now).unwrap();
        let chain1 = std::fs::read_to_string(files.server_chain()).unwrap();
        let again = ensure_managed(&files, &server_names("127.0.0.1:8443".parse().unwrap(), None), now).unwrap();
        assert_eq!(first.sha256_fingerprint, again.sha256_fingerprint);
        assert_eq!(chain1, std::fs::read_to_string(files.server_chain()).unwrap());
        let moved = ensure_managed(&files, &server_names("192.0.2.1:8443".parse().unwrap(), None), now).unwrap();
        assert_eq!(first.sha256_fingerprint, moved.sha256_fingerprint);
        assert_ne!(chain1, std::fs::read_to_string(files.server_chain()).unwrap());
        assert_eq!(CertificateDer::pem_file_iter(files.server_chain()).unwrap().count(), 2);
        server_config(&files.server_chain(), &files.server_key()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(files.ca_key()).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}
