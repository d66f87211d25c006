//! The `disposal` and `certificate` commands: the disposal lifecycle from the shell, and certificates shown,
//! exported and checked offline.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Subcommand;
use muster_shared::v1::DisposalReport;

use crate::app::admin::Actor;
use crate::cli::{Format, emit};
use crate::disposal::evidence::{self, DestructionMethod, DestructionRequest};
use crate::disposal::lifecycle::Destination;
use crate::disposal::{self, DisposalStatus, StartRequest, certificate, html, issue};
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum DisposalCommand {
    /// Start decommissioning a host (in_service → decommissioning).
    Start {
        /// Host id or exact hostname.
        host: String,
        #[arg(long)]
        reason: String,
        /// Who sanitizes the media (printed on the certificates).
        #[arg(long)]
        operator: String,
        /// Who checks the result; should be another person.
        #[arg(long)]
        verifier: String,
        /// Where sanitization takes place.
        #[arg(long)]
        location: Option<String>,
        /// Planned post-sanitization destination.
        #[arg(long, value_enum)]
        destination: Destination,
        /// Revoke the host's agent token once the verification is in.
        #[arg(long)]
        revoke_token: bool,
    },
    /// Where each host's disposal stands and what is missing; every host in disposal when none is named.
    Status { hosts: Vec<String> },
    /// Record the witnessed physical destruction of one disk.
    RecordDestruction {
        host: String,
        /// The disk's serial (or `name:<kernel name>` for a disk listed without one).
        #[arg(long)]
        disk: String,
        #[arg(long, value_enum)]
        method: DestructionMethod,
        #[arg(long)]
        witness: String,
        /// When it was destroyed (RFC 3339); now when absent.
        #[arg(long)]
        destroyed_at: Option<DateTime<Utc>>,
    },
    /// Import a `muster-agent disposal verify --report` file.
    Import {
        file: PathBuf,
        /// The host it is for, when the report names none (agent not enrolled) or to check it.
        #[arg(long)]
        host: Option<String>,
    },
    /// Dispose of a sanitized host (sanitized → disposed).
    Complete {
        host: String,
        #[arg(long, value_enum)]
        destination: Destination,
        /// The recycler's receipt, sale record, donation letter…
        #[arg(long)]
        reference: String,
    },
    /// Put a host being decommissioned back in service.
    Redeploy {
        host: String,
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CertificateCommand {
    /// A certificate's fields.
    Show { id: String },
    /// The signed JSON document (default) or the printable HTML page.
    Export {
        id: String,
        #[arg(long)]
        html: bool,
        /// Write here instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Check a certificate file's signature offline.
    Verify {
        file: PathBuf,
        /// The collector's public key (`ed25519:…`, or a file holding it); without it, the key in this
        /// collector's database.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Print the collector's certificate public key.
    PublicKey,
}

fn status_text(s: &DisposalStatus) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "{} ({}): {}", s.hostname, s.host_id, s.state.as_str());
    if let Some(case) = &s.case {
        let _ = writeln!(
            t,
            "  case {} opened {} by {}: {}\n  operator {}, verifier {}, location {}, destination {}",
            case.id,
            case.opened_at.to_rfc3339(),
            case.opened_by,
            case.reason,
            case.operator,
            case.verifier,
            case.location,
            case.planned_destination.as_str()
        );
        if let (Some(outcome), Some(at)) = (&case.outcome, case.closed_at) {
            let reference = case.reference.as_deref().map(|r| format!(", reference {r}")).unwrap_or_default();
            let _ = writeln!(t, "  closed {}: {outcome}{reference}", at.to_rfc3339());
        }
    }
    for disk in &s.disks {
        let model = disk.disk.model.as_deref().unwrap_or("-");
        let _ = writeln!(t, "  disk {} ({}, {model}): {:?}", disk.disk.label(), disk.disk.name, disk.state);
    }
    for line in &s.missing {
        let _ = writeln!(t, "  missing: {line}");
    }
    for c in &s.certificates {
        let _ = writeln!(t, "  certificate {} for {}", c.id, c.disk_serial);
    }
    for w in &s.warnings {
        let _ = writeln!(t, "  warning: {w}");
    }
    t
}

pub async fn run_disposal(cmd: &DisposalCommand, store: &dyn Store, format: Format) -> anyhow::Result<()> {
    let now = Utc::now();
    let actor = Actor::cli();
    let status = match cmd {
        DisposalCommand::Start { host, reason, operator, verifier, location, destination, revoke_token } => {
            let request = StartRequest {
                reason: reason.clone(),
                operator: operator.clone(),
                verifier: verifier.clone(),
                location: location.clone(),
                destination: *destination,
                revoke_token: *revoke_token,
            };
            disposal::start(store, &actor, host, &request, now).await?
        }
        DisposalCommand::Status { hosts } => {
            let list = if hosts.is_empty() {
                disposal::queue(store).await?
            } else {
                let mut list = Vec::new();
                for host in hosts {
                    list.push(disposal::status(store, host).await?);
                }
                list
            };
            let text: String = list.iter().map(status_text).collect();
            return emit(format, &list, &text);
        }
        DisposalCommand::RecordDestruction { host, disk, method, witness, destroyed_at } => {
            let request = DestructionRequest {
                disk: disk.clone(),
                method: *method,
                witness: witness.clone(),
                destroyed_at: *destroyed_at,
            };
            evidence::record_destruction(store, &actor, host, &request, now).await?
        }
        DisposalCommand::Import { file, host } => {
            let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let report: DisposalReport = serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a verification report", file.display()))?;
            let outcome = evidence::import_verification(store, &actor, host.as_deref(), &report, now).await?;
            let mut text = String::new();
            if outcome.duplicate {
                let _ = writeln!(text, "report {} was already imported", outcome.report_id);
            }
            for disk in &outcome.matched {
                let _ = writeln!(text, "stored the result for disk {disk}");
            }
            for line in &outcome.ignored {
                let _ = writeln!(text, "ignored {line}");
            }
            text.push_str(&status_text(&outcome.status));
            return emit(format, &outcome, &text);
        }
        DisposalCommand::Complete { host, destination, reference } => {
            disposal::complete(store, &actor, host, *destination, reference, now).await?
        }
        DisposalCommand::Redeploy { host, note } => {
            disposal::redeploy(store, &actor, host, note.as_deref(), now).await?
        }
    };
    emit(format, &status, &status_text(&status))
}

fn certificate_text(c: &certificate::CertificatePayload) -> String {
    let mut t = String::new();
    let none = "not recorded";
    let _ = writeln!(t, "certificate {} issued {}", c.id, c.issued_at.to_rfc3339());
    let _ = writeln!(t, "host: {} ({})", c.host.hostname, c.host.id);
    let _ = writeln!(
        t,
        "medium: {} {} serial {} ({}, {} bytes)",
        c.media.manufacturer.as_deref().unwrap_or(none),
        c.media.model.as_deref().unwrap_or(none),
        c.media.serial,
        c.media.media_type,
        c.media.size_bytes
    );
    let s = &c.sanitization;
    let _ =
        writeln!(t, "sanitization: {} / {} with {} {} on {}", s.method, s.technique, s.tool, s.tool_version, s.date);
    let _ =
        writeln!(t, "verification: {}: {} ({})", c.verification.method, c.verification.result, c.verification.summary);
    let _ = writeln!(t, "operator: {}, verifier: {}", c.operator, c.verifier);
    let _ = writeln!(t, "location: {}, destination: {}", c.location, c.destination);
    for w in &c.warnings {
        let _ = writeln!(t, "warning: {w}");
    }
    t
}

/// `open` is called only by the commands that need the database (`verify --public-key` works without one).
pub async fn run_certificate<F, Fut>(
    cmd: &CertificateCommand,
    open: F,
    format: Format,
    sqlite_file: Option<&std::path::Path>,
) -> anyhow::Result<()>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = anyhow::Result<Arc<dyn Store>>>,
{
    let now = Utc::now();
    match cmd {
        CertificateCommand::Show { id } => {
            let store = open().await?;
            let (_, signed) = issue::load(store.as_ref(), id).await?;
            emit(format, &signed, &certificate_text(&signed.certificate))
        }
        CertificateCommand::Export { id, html: as_html, output } => {
            let store = open().await?;
            let (stored, signed) = issue::load(store.as_ref(), id).await?;
            let body = if *as_html { html::render(&signed) } else { format!("{}\n", stored.document) };
            match output {
                Some(path) => std::fs::write(path, body).with_context(|| format!("writing {}", path.display())),
                None => Ok(std::io::stdout().lock().write_all(body.as_bytes())?),
            }
        }
        CertificateCommand::Verify { file, public_key } => {
            let document = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            let key = match public_key {
                Some(text) => {
                    let text = match std::fs::read_to_string(text) {
                        Ok(contents) => contents,
                        Err(_) => text.clone(),
                    };
                    certificate::parse_public_key(&text)?
                }
                None => {
                    let offline = "verify offline with --public-key KEY (the output of `muster-collector certificate \
                                   public-key` on the collector that signed it)";
                    if let Some(path) = sqlite_file.filter(|p| !p.exists()) {
                        anyhow::bail!("no collector database at {}: {offline}", path.display());
                    }
                    match issue::existing_public_key(open().await?.as_ref()).await? {
                        Some(key) => key,
                        None => {
                            anyhow::bail!("this collector has signed no certificate (it has no key yet): {offline}")
                        }
                    }
                }
            };
            let source = if public_key.is_some() { "the key given" } else { "this collector's key" };
            let payload =
                certificate::verify(&document, &key).with_context(|| format!("{} does not verify", file.display()))?;
            let text = format!(
                "valid: certificate {} for medium {} of {}, signed by key {} ({source})\n",
                payload.id,
                payload.media.serial,
                payload.host.hostname,
                certificate::key_id(&key)
            );
            emit(format, &payload, &text)
        }
        CertificateCommand::PublicKey => {
            let key = issue::public_key(open().await?.as_ref(), now).await?;
            let value = serde_json::json!({
                "public_key": certificate::public_key_text(&key),
                "key_id": certificate::key_id(&key),
            });
            emit(format, &value, &format!("{}\n", certificate::public_key_text(&key)))
        }
    }
}
