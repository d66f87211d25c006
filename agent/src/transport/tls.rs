//! TLS to the collector: rustls on ring, trusting the collector's own CA and nothing else.
//!
//! Two ways to establish that trust at enrolment:
//! - `--ca-cert ca.pem`: the operator copied the CA certificate; it becomes the only root of an ordinary verifier.
//! - `--ca-fingerprint F`: the operator copied only the SHA-256 of the CA certificate (short enough to read over the
//!   phone). The agent has no CA certificate yet, so it takes it from the chain the collector presents during the
//!   handshake, see [`FingerprintPinnedVerifier`]. The CA so learnt is stored in the state directory and every later
//!   run uses the first, ordinary way.
//!
//! The Web PKI roots are never consulted: a certificate from a public CA for the collector's name is not enough.

use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::fingerprint::Fingerprint;

/// Why a CA certificate or TLS configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("no PEM `CERTIFICATE` block found")]
    NoCertificate,
    #[error("not valid PEM: {0}")]
    Pem(#[from] pem::PemError),
    #[error("the certificate cannot serve as a trust anchor: {0}")]
    BadAnchor(rustls::Error),
    #[error("building the TLS configuration: {0}")]
    Config(rustls::Error),
}

/// The CA certificates in a PEM file (other PEM blocks, such as a stray key, are ignored).
pub fn parse_ca_pem(pem_text: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let blocks = pem::parse_many(pem_text)?;
    let certs: Vec<CertificateDer<'static>> = blocks
        .into_iter()
        .filter(|block| block.tag() == "CERTIFICATE")
        .map(|block| CertificateDer::from(block.into_contents()))
        .collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    Ok(certs)
}

/// PEM text of one DER certificate, as stored in the state directory.
pub fn encode_ca_pem(der: &CertificateDer<'_>) -> String {
    pem::encode(&pem::Pem::new("CERTIFICATE", der.as_ref().to_vec()))
}

/// A client configuration whose only trust anchors are `cas` (the collector's CA).
pub fn client_config_for_cas(cas: &[CertificateDer<'static>]) -> Result<ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    for ca in cas {
        roots.add(ca.clone()).map_err(TlsError::BadAnchor)?;
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A client configuration that learns the CA from the handshake, accepting it only by `fingerprint`.
///
/// Returns the configuration and the slot where the verifier records what it saw: the CA certificate to store after
/// a successful enrolment, or the fingerprints offered when none matched (for the error message).
pub fn client_config_for_fingerprint(fingerprint: Fingerprint) -> Result<(ClientConfig, PinObservation), TlsError> {
    let observation = PinObservation::default();
    let verifier = FingerprintPinnedVerifier { fingerprint, provider: provider(), observation: observation.clone() };
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((config, observation))
}

/// ring, and only ring: no OpenSSL, no aws-lc in the agent.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// What [`FingerprintPinnedVerifier`] saw during the last handshake; shared with the caller.
#[derive(Debug, Clone, Default)]
pub struct PinObservation(Arc<Mutex<Seen>>);

#[derive(Debug, Clone, Default)]
enum Seen {
    #[default]
    Nothing,
    /// A chain certificate matched the pin and the server certificate verified against it.
    Ca(CertificateDer<'static>),
    /// No chain certificate matched: these are the fingerprints the collector offered (end entity first).
    Mismatch(Vec<Fingerprint>),
}

impl PinObservation {
    /// The CA certificate that matched the pin and verified the server, if the handshake got that far.
    pub fn pinned_ca(&self) -> Option<CertificateDer<'static>> {
        match &*self.lock() {
            Seen::Ca(der) => Some(der.clone()),
            _ => None,
        }
    }

    /// The fingerprints offered by a collector whose chain did not contain the pinned CA.
    pub fn mismatch(&self) -> Option<Vec<Fingerprint>> {
        match &*self.lock() {
            Seen::Mismatch(offered) => Some(offered.clone()),
            _ => None,
        }
    }

    fn record(&self, seen: Seen) {
        *self.lock() = seen;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        // A panic while holding this lock cannot leave `Seen` half-written (every write is one assignment).
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Verifies a collector by the SHA-256 of its CA certificate, without having the CA certificate beforehand.
///
/// The collector sends its CA certificate after its server certificate in the TLS `Certificate` message. This
/// verifier:
/// 1. looks for a certificate *after* the end-entity certificate whose SHA-256 equals the pin (the end entity itself
///    is never a candidate: the pin names the CA, and a self-signed server certificate is not a CA);
/// 2. makes that one certificate the only trust anchor and runs rustls' ordinary WebPKI verification of the server
///    certificate against it: signature chain, validity dates, key usage, and the collector's name or IP address;
/// 3. leaves the handshake signature checks (which prove the server holds the certificate's private key) to the same
///    ring algorithms as the ordinary verifier.
///
/// Why this is safe: anyone can put the real CA certificate in a chain (it is public), but only the holder of the
/// CA's private key can issue a server certificate that verifies against it in step 2, and only the holder of that
/// server certificate's key passes step 3. Matching the fingerprint alone, without step 2, would be trust on first
/// sight of a public value, and is exactly what this verifier does not do.
#[derive(Debug)]
pub struct FingerprintPinnedVerifier {
    fingerprint: Fingerprint,
    provider: Arc<CryptoProvider>,
    observation: PinObservation,
}

impl ServerCertVerifier for FingerprintPinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(ca) = intermediates.iter().find(|cert| Fingerprint::of_der(cert) == self.fingerprint) else {
            let offered = std::iter::once(end_entity).chain(intermediates).map(|c| Fingerprint::of_der(c)).collect();
            self.observation.record(Seen::Mismatch(offered));
            return Err(rustls::Error::General(format!(
                "no certificate in the collector's chain has the pinned CA fingerprint {}",
                self.fingerprint
            )));
        };
        let ca = ca.clone().into_owned();
        let mut roots = RootCertStore::empty();
        roots.add(ca.clone())?;
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
            .build()
            .map_err(|e| rustls::Error::General(format!("pinned CA: {e}")))?;
        let verified = verifier.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        self.observation.record(Seen::Ca(ca));
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
