//! Enrolment: prove the collector's identity by its pinned CA, trade the enrolment secret for a host token, and
//! keep what later runs need in the state directory.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use muster_shared::v1::{EnrollRequest, Report};
use rustls::pki_types::CertificateDer;

use super::client::{ClientError, CollectorClient};
use super::fingerprint::Fingerprint;
use super::state::{Enrolment, HostToken, StateDir, StateError};
use super::tls::{self, TlsError};

/// How the operator vouches for the collector.
#[derive(Debug, Clone)]
pub enum CaPin {
    /// SHA-256 of the CA certificate; the certificate itself is taken from the TLS handshake.
    Fingerprint(Fingerprint),
    /// The CA certificate, from `--ca-cert`.
    Certificate(CertificateDer<'static>),
}

/// Everything `muster-agent enroll` needs, validated.
#[derive(Debug, Clone)]
pub struct EnrollConfig {
    pub collector_url: String,
    pub secret: String,
    pub ca: CaPin,
    pub tags: Vec<String>,
    pub state_dir: PathBuf,
}

/// The facts that identify this machine to the collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostIdentity {
    pub hostname: String,
    pub machine_id: Option<String>,
    pub system_uuid: Option<String>,
    pub system_serial: Option<String>,
}

/// What an enrolment established (printed by `enroll`, as JSON with `--format json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EnrollOutcome {
    pub host_id: String,
    pub reenrolled: bool,
    /// The enrolment would take over a live host's record and waits for an administrator's approval; the token is
    /// kept and works once approved (reports wait in the spool until then).
    pub pending_approval: bool,
    pub collector: String,
    /// Lower-case hex SHA-256 of the CA now trusted.
    pub ca_fingerprint: String,
    pub state_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    #[error(
        "the collector at {url} did not present the CA certificate with fingerprint {expected} (it presented: {}); \
         compare with the fingerprint `muster-collector ca show` prints; nothing was sent",
        offered_list(.offered)
    )]
    FingerprintMismatch { url: String, expected: Fingerprint, offered: Vec<Fingerprint> },
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("this machine's hostname could not be read; it is needed to enrol")]
    NoHostname,
    #[error("the enrolment succeeded but the pinned CA certificate was not captured; enrol again")]
    CaNotCaptured,
}

/// The identity fields of an enrolment request from a (host + hardware) inventory.
pub fn identity_from_report(report: &Report) -> Result<HostIdentity, EnrollError> {
    let host = report.host.as_ref();
    let system = report.hardware.as_ref().and_then(|h| h.system.as_ref());
    let hostname = host.and_then(|h| h.hostname.clone()).filter(|h| !h.is_empty()).ok_or(EnrollError::NoHostname)?;
    Ok(HostIdentity {
        hostname,
        machine_id: host.and_then(|h| h.machine_id.clone()),
        system_uuid: system.and_then(|s| s.uuid.clone()),
        system_serial: system.and_then(|s| s.serial.clone()),
    })
}

/// `previous_token` is the token this state directory holds for the same collector, if any: the proof that lets
/// the collector hand the host's record over at once instead of holding the enrolment for an administrator.
pub fn enroll_request(
    secret: &str,
    identity: &HostIdentity,
    tags: &[String],
    previous_token: Option<&HostToken>,
) -> EnrollRequest {
    EnrollRequest {
        secret: secret.to_string(),
        hostname: identity.hostname.clone(),
        machine_id: identity.machine_id.clone(),
        system_uuid: identity.system_uuid.clone(),
        system_serial: identity.system_serial.clone(),
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
        tags: tags.to_vec(),
        previous_token: previous_token.map(|t| t.expose().to_string()),
    }
}

/// Enrols with the collector and stores the result; `now` is recorded as the enrolment time.
///
/// The state directory is checked (or created private) before anything goes on the wire, so a refused directory
/// never costs an enrolment secret use. Re-enrolling an enrolled state directory replaces its token and forgets the
/// acknowledged hashes (the next report goes in full); a spooled report is kept and delivered with the new token.
pub async fn enroll(
    config: &EnrollConfig,
    identity: &HostIdentity,
    now: DateTime<Utc>,
) -> Result<EnrollOutcome, EnrollError> {
    let state = StateDir::create(&config.state_dir)?;
    let collector =
        super::client::parse_collector_url(&config.collector_url)?.as_str().trim_end_matches('/').to_string();
    // Only to the collector that issued it (same address, or another address of the same deployment: the CA now
    // pinned is the one the enrolment trusts): another collector must never see this one's token.
    let pinned = match &config.ca {
        CaPin::Fingerprint(f) => *f,
        CaPin::Certificate(ca) => Fingerprint::of_der(ca),
    };
    let same_ca = |e: &Enrolment| {
        tls::parse_ca_pem(e.ca_pem.as_bytes()).ok().and_then(|cas| cas.first().map(|ca| Fingerprint::of_der(ca)))
            == Some(pinned)
    };
    let previous = if state.is_enrolled() {
        state.load_enrolment().ok().filter(|e| e.collector_url == collector || same_ca(e)).map(|e| e.token)
    } else {
        None
    };
    let request = enroll_request(&config.secret, identity, &config.tags, previous.as_ref());
    let (response, ca) = match &config.ca {
        CaPin::Certificate(ca) => {
            let client =
                CollectorClient::new(&config.collector_url, tls::client_config_for_cas(std::slice::from_ref(ca))?)?;
            (client.enroll(&request).await?, ca.clone())
        }
        CaPin::Fingerprint(expected) => {
            let (tls_config, observation) = tls::client_config_for_fingerprint(*expected)?;
            let client = CollectorClient::new(&config.collector_url, tls_config)?;
            match client.enroll(&request).await {
                Ok(response) => (response, observation.pinned_ca().ok_or(EnrollError::CaNotCaptured)?),
                Err(err) => {
                    return Err(match observation.mismatch() {
                        Some(offered) => EnrollError::FingerprintMismatch {
                            url: client.base_url().to_string(),
                            expected: *expected,
                            offered,
                        },
                        None => err.into(),
                    });
                }
            }
        }
    };
    let enrolment = Enrolment {
        collector_url: collector.clone(),
        host_id: response.host_id.clone(),
        token: HostToken::new(response.host_token),
        ca_pem: tls::encode_ca_pem(&ca),
        enrolled_at: now,
        tags: config.tags.clone(),
    };
    state.clear_acked()?;
    state.save_enrolment(&enrolment)?;
    Ok(EnrollOutcome {
        host_id: response.host_id,
        reenrolled: response.reenrolled,
        pending_approval: response.pending_approval,
        collector,
        ca_fingerprint: Fingerprint::of_der(&ca).to_hex(),
        state_dir: state.path().to_path_buf(),
    })
}

/// Reads `--ca-cert`: the first certificate of the PEM file is the CA.
pub fn read_ca_cert(path: &Path) -> Result<CertificateDer<'static>, EnrollError> {
    let text = std::fs::read(path).map_err(|source| StateError::Io { path: path.to_path_buf(), source })?;
    let mut certs = tls::parse_ca_pem(&text)?;
    Ok(certs.swap_remove(0))
}

fn offered_list(offered: &[Fingerprint]) -> String {
    offered
        .iter()
        .enumerate()
        .map(|(i, f)| if i == 0 { format!("{f} (server certificate)") } else { f.to_string() })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::delta::tests::sample;
    use muster_shared::v1::{Hardware, SystemInfo};

    #[test]
    fn identity_comes_from_host_and_hardware() {
        let mut report = sample("web1", "12");
        report.host.as_mut().unwrap().machine_id = Some("0123abcd".to_string());
        report.hardware = Some(Hardware {
            system: Some(SystemInfo {
                uuid: Some("4c4c4544-0042-3510-8052-b2c04f4e3732".to_string()),
                serial: Some("B5RV4J2".to_string()),
                ..SystemInfo::default()
            }),
            ..Hardware::default()
        });
        let identity = identity_from_report(&report).unwrap();
        assert_eq!(
            identity,
            HostIdentity {
                hostname: "web1".to_string(),
                machine_id: Some("0123abcd".to_string()),
                system_uuid: Some("4c4c4544-0042-3510-8052-b2c04f4e3732".to_string()),
                system_serial: Some("B5RV4J2".to_string()),
            }
        );
        let request = enroll_request("s3cret", &identity, &["lab".to_string()], None);
        assert_eq!(request.hostname, "web1");
        assert_eq!(request.tags, ["lab"]);
        assert_eq!(request.agent_version, env!("CARGO_PKG_VERSION"));

        report.host = None;
        assert!(matches!(identity_from_report(&report), Err(EnrollError::NoHostname)));
    }
}
