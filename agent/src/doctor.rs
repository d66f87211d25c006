//! `muster-agent doctor`: checks, in order, everything an agent needs to report, and says plainly what passed and
//! what to fix: settings file, state directory, enrolment, CA pin, TLS to the collector, clock skew, host token,
//! and what each inventory section can read with the current privileges.
//!
//! The verdicts are pure functions of what was observed (file modes, an HTTP answer, the `Date` header, the
//! inventory's error list) and are unit-tested below; [`diagnose`] only gathers the observations.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use muster_shared::v1::{ApiError, CollectionError, ErrorKind, SectionName};
use serde::Serialize;

use crate::config::AgentConfig;
use crate::inventory::{self, InventoryConfig};
use crate::transport::client::{error_chain, parse_collector_url};
use crate::transport::fingerprint::Fingerprint;
use crate::transport::state::{DEFAULT_STATE_DIR, Enrolment, StateDir};
use crate::transport::tls;

/// Clock differences up to this pass; token and certificate validity tolerate a minute easily.
const SKEW_PASS: Duration = Duration::from_secs(60);
/// Beyond this the skew fails: certificates "not yet valid", report times that make no sense.
const SKEW_FAIL: Duration = Duration::from_secs(300);
const REPORT_PATH: &str = "api/v1/agent/report";
const HOST_ID_HEADER: &str = "x-muster-host-id";

/// One check's verdict. Only `Fail` makes doctor exit non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    /// Works, but something is worth fixing (a section that cannot read everything, a small clock skew).
    Warn,
    Fail,
    /// Could not be checked because an earlier check failed or nothing was configured for it.
    Skip,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
}

fn check(name: impl Into<String>, status: Status, detail: impl Into<String>) -> Check {
    Check { name: name.into(), status, detail: detail.into() }
}

/// Every check, in the order run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    pub ok: bool,
    pub checks: Vec<Check>,
}

impl Diagnosis {
    fn new(checks: Vec<Check>) -> Diagnosis {
        Diagnosis { ok: checks.iter().all(|c| c.status != Status::Fail), checks }
    }

    /// One line per check, then a summary line.
    pub fn to_text(&self) -> String {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let mut text = String::new();
        for c in &self.checks {
            text.push_str(&format!("{}  {:width$}  {}\n", c.status.label(), c.name, c.detail));
        }
        let failed = self.checks.iter().filter(|c| c.status == Status::Fail).count();
        let warned = self.checks.iter().filter(|c| c.status == Status::Warn).count();
        text.push_str(&match failed {
            0 => format!("all checks passed ({warned} warning(s))\n"),
            n => format!("{n} check(s) failed, {warned} warning(s)\n"),
        });
        text
    }
}

/// What to examine.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    pub config_path: PathBuf,
    /// Overrides the settings file's `state_dir`.
    pub state_dir: Option<PathBuf>,
    /// Run a full inventory to see what each section can read (about a second on a typical machine).
    pub inventory: bool,
    pub timeout: Duration,
}

/// Runs every check. `clock` is read when the collector answers, to compare with its `Date` header.
pub async fn diagnose(options: &DoctorOptions, clock: &dyn Fn() -> DateTime<Utc>) -> Diagnosis {
    let mut checks = Vec::new();
    let (config_check, config) = config_verdict(&options.config_path, AgentConfig::load(&options.config_path));
    checks.push(config_check);
    let config = config.unwrap_or_else(AgentConfig::defaults);
    let (state_dir, origin) = match &options.state_dir {
        Some(dir) => (dir.clone(), StateDirOrigin::Flag),
        None if config.state_dir.as_path() != Path::new(DEFAULT_STATE_DIR) => {
            (config.state_dir.clone(), StateDirOrigin::Settings(&options.config_path))
        }
        None => (config.state_dir.clone(), StateDirOrigin::Default),
    };

    let dir_check = state_dir_verdict(
        &state_dir,
        origin,
        std::fs::metadata(&state_dir).map(|m| (m.is_dir(), crate::platform::mode(&m))),
    );
    let dir_usable = dir_check.status != Status::Fail;
    checks.push(dir_check);
    let enrolment = if dir_usable {
        let loaded = StateDir::open(&state_dir).and_then(|s| s.load_enrolment());
        match loaded {
            Ok(enrolment) => {
                checks.push(enrolment_verdict(&enrolment, config.collector.as_deref()));
                Some(enrolment)
            }
            Err(e) => {
                checks.push(check("enrolment", Status::Fail, e.to_string()));
                None
            }
        }
    } else {
        checks.push(check("enrolment", Status::Skip, "the state directory is not usable"));
        None
    };

    let stored_ca = enrolment.as_ref().map(|e| tls::parse_ca_pem(e.ca_pem.as_bytes()));
    checks.push(pin_verdict(stored_ca.as_ref().map(|r| r.as_ref().map(|c| c.as_slice())), config.ca_fingerprint));

    // TLS: the stored CA once enrolled; before enrolment, the configured collector and pin.
    let target = match (&enrolment, &stored_ca) {
        (Some(e), Some(Ok(cas))) => Some((e.collector_url.clone(), tls::client_config_for_cas(cas))),
        (None, _) => match (&config.collector, config.ca_fingerprint) {
            (Some(url), Some(pin)) => Some((url.clone(), tls::client_config_for_fingerprint(pin).map(|(c, _)| c))),
            _ => None,
        },
        _ => None,
    };
    let client = match target {
        None => {
            checks.push(check("tls", Status::Skip, "no enrolment and no collector + ca_fingerprint in the settings"));
            None
        }
        Some((url, tls_config)) => match tls_config.map_err(|e| e.to_string()).and_then(|c| http_client(c, options)) {
            Ok(http) => Some((url, http)),
            Err(e) => {
                checks.push(check("tls", Status::Fail, e));
                None
            }
        },
    };
    match &client {
        Some((url, http)) => {
            let (tls_check, date) = probe_health(http, url).await;
            let now = clock();
            let reached = tls_check.status == Status::Pass;
            checks.push(tls_check);
            checks.push(if reached {
                clock_verdict(now, date.as_deref())
            } else {
                check("clock", Status::Skip, "the collector was not reached")
            });
            checks.push(match (&enrolment, reached) {
                (Some(e), true) => probe_token(http, e).await,
                (None, _) => check("host token", Status::Skip, "not enrolled"),
                (Some(_), false) => check("host token", Status::Skip, "the collector was not reached"),
            });
        }
        None => {
            checks.push(check("clock", Status::Skip, "the collector was not reached"));
            checks.push(check("host token", Status::Skip, "the collector was not reached"));
        }
    }

    if options.inventory {
        let report = inventory::collect(&InventoryConfig::live(), clock());
        checks.extend(section_verdicts(&report.agent.sections, &report.errors));
    }
    Diagnosis::new(checks)
}

/// The settings file: absent is fine (defaults), unparsable fails, readable by others warns.
pub fn config_verdict(
    path: &Path,
    loaded: Result<Option<AgentConfig>, crate::config::ConfigError>,
) -> (Check, Option<AgentConfig>) {
    match loaded {
        Ok(None) => (check("config", Status::Pass, format!("{} absent; defaults apply", path.display())), None),
        Ok(Some(config)) if config.mode & 0o077 != 0 => (
            check(
                "config",
                Status::Warn,
                format!("{} has mode {:04o}; make it 0600 (chmod 600 {})", path.display(), config.mode, path.display()),
            ),
            Some(config),
        ),
        Ok(Some(config)) => (check("config", Status::Pass, format!("{} read", path.display())), Some(config)),
        Err(e) => (check("config", Status::Fail, e.to_string()), None),
    }
}

/// Where the examined state directory was named, so a missing one can be explained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateDirOrigin<'a> {
    /// `--state-dir` or `MUSTER_STATE_DIR`.
    Flag,
    /// `state_dir` in this settings file.
    Settings(&'a Path),
    /// Nothing named one: the built-in default.
    Default,
}

/// The state directory must exist and be the owner's alone, with full access for the owner. A missing one is
/// often not a missing enrolment but a different directory (the quick start enrols into its own): say how to
/// point doctor there.
pub fn state_dir_verdict(path: &Path, origin: StateDirOrigin<'_>, meta: std::io::Result<(bool, u32)>) -> Check {
    let name = "state directory";
    let shown = path.display();
    match meta {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let named = match origin {
                StateDirOrigin::Flag => "given with --state-dir".to_string(),
                StateDirOrigin::Settings(config) => format!("state_dir in {}", config.display()),
                StateDirOrigin::Default => "the default".to_string(),
            };
            check(
                name,
                Status::Fail,
                format!(
                    "{shown} ({named}) does not exist: if this agent was enrolled with another state directory, \
                     check that one (muster-agent doctor --state-dir DIR, or MUSTER_STATE_DIR=DIR); otherwise enrol \
                     first (muster-agent enroll --state-dir {shown} ...)"
                ),
            )
        }
        Err(e) => check(name, Status::Fail, format!("{shown}: {e}")),
        Ok((false, _)) => check(name, Status::Fail, format!("{shown} is not a directory")),
        Ok((true, mode)) => {
            let mode = mode & 0o7777;
            if mode & 0o077 != 0 {
                check(
                    name,
                    Status::Fail,
                    format!("{shown} has mode {mode:04o}; it holds the host token (chmod 700 {shown})"),
                )
            } else if mode & 0o700 != 0o700 {
                check(
                    name,
                    Status::Fail,
                    format!("{shown} has mode {mode:04o}: its owner cannot read and write it (chmod 700 {shown})"),
                )
            } else {
                check(name, Status::Pass, format!("{shown} mode {mode:04o}"))
            }
        }
    }
}

fn enrolment_verdict(enrolment: &Enrolment, configured: Option<&str>) -> Check {
    let base = format!(
        "host {} with {} since {}",
        enrolment.host_id,
        enrolment.collector_url,
        enrolment.enrolled_at.format("%Y-%m-%d %H:%M UTC")
    );
    match configured {
        Some(url) if url.trim_end_matches('/') != enrolment.collector_url.trim_end_matches('/') => check(
            "enrolment",
            Status::Warn,
            format!("{base}; the settings name another collector ({url}): reports go to the enrolled one"),
        ),
        _ => check("enrolment", Status::Pass, base),
    }
}

/// The stored CA against the fingerprint the operator configured.
pub fn pin_verdict(
    stored: Option<Result<&[rustls::pki_types::CertificateDer<'static>], &tls::TlsError>>,
    configured: Option<Fingerprint>,
) -> Check {
    let name = "ca pin";
    match (stored, configured) {
        (Some(Err(e)), _) => check(name, Status::Fail, format!("the stored CA certificate is unusable: {e}")),
        (Some(Ok(cas)), Some(pin)) => {
            if cas.iter().any(|c| Fingerprint::of_der(c) == pin) {
                check(name, Status::Pass, format!("stored CA matches the configured fingerprint {pin}"))
            } else {
                let stored: Vec<String> = cas.iter().map(|c| Fingerprint::of_der(c).to_string()).collect();
                check(
                    name,
                    Status::Fail,
                    format!(
                        "stored CA {} is not the configured ca_fingerprint {pin}; enrol again with the right fingerprint",
                        stored.join(", ")
                    ),
                )
            }
        }
        (Some(Ok(cas)), None) => {
            let stored: Vec<String> = cas.iter().map(|c| Fingerprint::of_der(c).to_string()).collect();
            check(name, Status::Pass, format!("stored CA {} (no ca_fingerprint configured)", stored.join(", ")))
        }
        (None, Some(pin)) => check(name, Status::Skip, format!("not enrolled; will pin {pin}")),
        (None, None) => check(name, Status::Skip, "not enrolled and no ca_fingerprint configured"),
    }
}

/// Compares the local clock with the collector's `Date` header (one-second resolution).
pub fn clock_verdict(local: DateTime<Utc>, date_header: Option<&str>) -> Check {
    let name = "clock";
    let Some(text) = date_header else {
        return check(name, Status::Warn, "the collector sent no Date header; skew unknown");
    };
    let Ok(remote) = DateTime::parse_from_rfc2822(text.trim()) else {
        return check(name, Status::Warn, format!("unreadable Date header {text:?}; skew unknown"));
    };
    let skew = local.signed_duration_since(remote.with_timezone(&Utc));
    let abs = skew.abs().to_std().unwrap_or(Duration::MAX);
    let direction = if skew.num_seconds() >= 0 { "ahead of" } else { "behind" };
    let detail = format!("local clock {}s {direction} the collector", skew.num_seconds().abs());
    if abs <= SKEW_PASS {
        check(name, Status::Pass, detail)
    } else if abs <= SKEW_FAIL {
        check(name, Status::Warn, format!("{detail}; enable time synchronisation (chrony, systemd-timesyncd)"))
    } else {
        check(name, Status::Fail, format!("{detail}; certificates and report times go wrong: synchronise the clock"))
    }
}

/// The answer to an empty report: the collector authenticates the token before reading the body, so `400
/// invalid_report` means the token is good, and nothing is stored.
pub fn token_verdict(status: u16, body: &[u8]) -> Check {
    let name = "host token";
    let error: Option<ApiError> = serde_json::from_slice(body).ok();
    let described = error.as_ref().map_or_else(|| format!("HTTP {status}"), |e| format!("{} ({})", e.message, e.error));
    match status {
        400 if error.as_ref().is_some_and(|e| e.error == "invalid_report") => {
            check(name, Status::Pass, "accepted by the collector")
        }
        429 if error.as_ref().is_some_and(|e| e.error == "enrolment_pending") => check(
            name,
            Status::Warn,
            "this enrolment waits for an administrator's approval on the collector (it would take over a host \
             that reported recently: muster-collector enrolment list / approve); reports are spooled until then",
        ),
        401 | 403 => check(
            name,
            Status::Fail,
            format!("refused: {described}; enrol again (muster-agent enroll … with a new enrolment secret)"),
        ),
        _ => check(name, Status::Warn, format!("unexpected answer to the token probe: {described}")),
    }
}

/// One verdict per collected section: what it could not read for lack of privileges, and other gaps.
pub fn section_verdicts(sections: &[SectionName], errors: &[CollectionError]) -> Vec<Check> {
    let mut by_section: BTreeMap<SectionName, Vec<&CollectionError>> = BTreeMap::new();
    for e in errors {
        by_section.entry(e.section).or_default().push(e);
    }
    sections
        .iter()
        .map(|section| {
            let name = format!("section {}", section.as_str());
            let errs = by_section.get(section).map(Vec::as_slice).unwrap_or(&[]);
            let denied: Vec<&str> =
                errs.iter().filter(|e| e.kind == ErrorKind::PermissionDenied).map(|e| e.item.as_str()).collect();
            let others = errs.len() - denied.len();
            let other_note = if others == 0 {
                String::new()
            } else {
                format!(" ({others} other gap(s), see `muster-agent inventory`)")
            };
            if denied.is_empty() {
                check(name, Status::Pass, format!("readable{other_note}"))
            } else {
                check(
                    name,
                    Status::Warn,
                    format!("cannot read with current privileges: {}{other_note}", denied.join(", ")),
                )
            }
        })
        .collect()
}

fn http_client(tls: rustls::ClientConfig, options: &DoctorOptions) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .https_only(true)
        .connect_timeout(options.timeout)
        .timeout(options.timeout)
        .user_agent(concat!("muster-agent-doctor/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("building the HTTP client: {}", error_chain(&e)))
}

/// `GET /healthz` over the pinned TLS configuration; the verdict and the `Date` header.
async fn probe_health(http: &reqwest::Client, collector: &str) -> (Check, Option<String>) {
    let url = match parse_collector_url(collector).and_then(|base| {
        base.join("healthz").map_err(|e| crate::transport::client::ClientError::InvalidUrl {
            url: collector.to_string(),
            reason: e.to_string(),
        })
    }) {
        Ok(url) => url,
        Err(e) => return (check("tls", Status::Fail, e.to_string()), None),
    };
    match http.get(url).send().await {
        Ok(response) => {
            let date = response.headers().get(reqwest::header::DATE).and_then(|v| v.to_str().ok()).map(str::to_string);
            let status = response.status();
            let verdict = if status.is_success() {
                check("tls", Status::Pass, format!("{collector} verified against the pinned CA; /healthz answered"))
            } else {
                check("tls", Status::Fail, format!("{collector}: TLS verified but /healthz answered HTTP {status}"))
            };
            (verdict, date)
        }
        Err(e) => {
            let chain = error_chain(&e);
            let hint =
                if chain.contains("certificate") || chain.contains("fingerprint") || chain.contains("UnknownIssuer") {
                    " (the collector's certificate does not chain to the pinned CA: wrong collector, or its CA changed)"
                } else {
                    ""
                };
            (check("tls", Status::Fail, format!("{collector}: {chain}{hint}")), None)
        }
    }
}

async fn probe_token(http: &reqwest::Client, enrolment: &Enrolment) -> Check {
    let url = match parse_collector_url(&enrolment.collector_url).map(|b| b.join(REPORT_PATH)) {
        Ok(Ok(url)) => url,
        Ok(Err(e)) => return check("host token", Status::Fail, e.to_string()),
        Err(e) => return check("host token", Status::Fail, e.to_string()),
    };
    let sent = http
        .post(url)
        .bearer_auth(enrolment.token.expose())
        .header(HOST_ID_HEADER, &enrolment.host_id)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(Vec::new())
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response.bytes().await.unwrap_or_default();
            token_verdict(status, &body)
        }
        Err(e) => check("host token", Status::Fail, format!("probe failed: {}", error_chain(&e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn clock_skew_thresholds() {
        let date = "Sun, 23 Nov 2025 22:34:00 GMT";
        let cases = [
            ("2025-11-23T22:34:00Z", Status::Pass, "0s ahead of"),
            ("2025-11-23T22:34:59Z", Status::Pass, "59s ahead of"),
            ("2025-11-23T22:32:00Z", Status::Warn, "120s behind"),
            ("2025-11-23T22:44:00Z", Status::Fail, "600s ahead of"),
        ];
        for (local, status, detail) in cases {
            let verdict = clock_verdict(at(local), Some(date));
            assert_eq!(verdict.status, status, "{local}: {verdict:?}");
            assert!(verdict.detail.contains(detail), "{local}: {}", verdict.detail);
        }
        assert_eq!(clock_verdict(at("2025-11-23T22:34:00Z"), None).status, Status::Warn);
        assert_eq!(clock_verdict(at("2025-11-23T22:34:00Z"), Some("yesterday")).status, Status::Warn);
    }

    #[test]
    fn token_probe_answers() {
        let bad_report = br#"{"error":"invalid_report","message":"not a report"}"#;
        assert_eq!(token_verdict(400, bad_report).status, Status::Pass);
        let revoked = br#"{"error":"token_revoked","message":"this host token was replaced"}"#;
        let verdict = token_verdict(401, revoked);
        assert_eq!(verdict.status, Status::Fail);
        assert!(verdict.detail.contains("token_revoked") && verdict.detail.contains("enrol again"), "{verdict:?}");
        assert_eq!(token_verdict(403, b"").status, Status::Fail);
        assert_eq!(token_verdict(400, br#"{"error":"invalid_request","message":"x"}"#).status, Status::Warn);
        assert_eq!(token_verdict(500, b"oops").status, Status::Warn);
        let pending = br#"{"error":"enrolment_pending","message":"waits for an administrator"}"#;
        let verdict = token_verdict(429, pending);
        assert_eq!(verdict.status, Status::Warn);
        assert!(verdict.detail.contains("approval"), "{verdict:?}");
    }

    #[test]
    fn state_dir_modes() {
        let path = Path::new("/var/lib/muster-agent");
        assert_eq!(state_dir_verdict(path, StateDirOrigin::Default, Ok((true, 0o40700))).status, Status::Pass);
        let open = state_dir_verdict(path, StateDirOrigin::Default, Ok((true, 0o40755)));
        assert_eq!(open.status, Status::Fail);
        assert!(open.detail.contains("mode 0755") && open.detail.contains("chmod 700"), "{open:?}");
        let locked = state_dir_verdict(path, StateDirOrigin::Default, Ok((true, 0o40000)));
        assert_eq!(locked.status, Status::Fail);
        assert!(locked.detail.contains("owner cannot read"), "{locked:?}");
        assert_eq!(state_dir_verdict(path, StateDirOrigin::Default, Ok((false, 0o100600))).status, Status::Fail);
        let missing = state_dir_verdict(path, StateDirOrigin::Default, Err(std::io::ErrorKind::NotFound.into()));
        assert!(missing.detail.contains("enrol first"), "{missing:?}");
    }

    /// Issue 16: after the quick start (state kept in its own directory) doctor failed on the default directory
    /// and never said how to name the right one.
    #[test]
    fn a_missing_state_dir_says_how_to_point_doctor_at_the_right_one() {
        let missing = || Err(std::io::ErrorKind::NotFound.into());
        let default = state_dir_verdict(Path::new(DEFAULT_STATE_DIR), StateDirOrigin::Default, missing());
        assert_eq!(default.status, Status::Fail);
        assert_eq!(
            default.detail,
            "/var/lib/muster-agent (the default) does not exist: if this agent was enrolled with another state \
             directory, check that one (muster-agent doctor --state-dir DIR, or MUSTER_STATE_DIR=DIR); otherwise \
             enrol first (muster-agent enroll --state-dir /var/lib/muster-agent ...)"
        );
        let settings = Path::new("/etc/muster/agent.toml");
        let configured = state_dir_verdict(Path::new("/srv/agent"), StateDirOrigin::Settings(settings), missing());
        assert!(configured.detail.starts_with("/srv/agent (state_dir in /etc/muster/agent.toml) does not exist"));
        let flag = state_dir_verdict(Path::new("/srv/agent"), StateDirOrigin::Flag, missing());
        assert!(flag.detail.starts_with("/srv/agent (given with --state-dir) does not exist"), "{flag:?}");
    }

    #[test]
    fn config_modes_and_errors() {
        let path = Path::new("/etc/muster/agent.toml");
        let (verdict, config) = config_verdict(path, Ok(None));
        assert_eq!((verdict.status, config), (Status::Pass, None));
        let loose = AgentConfig { mode: 0o644, ..AgentConfig::defaults() };
        assert_eq!(config_verdict(path, Ok(Some(loose))).0.status, Status::Warn);
        let broken = AgentConfig::parse(path, "interval = 3", 0o600).map(Some);
        let (verdict, config) = config_verdict(path, broken);
        assert_eq!((verdict.status, config), (Status::Fail, None));
    }

    #[test]
    fn sections_name_what_permissions_hide() {
        let error = |section, item: &str, kind| CollectionError {
            section,
            item: item.to_string(),
            kind,
            message: String::new(),
        };
        let errors = [
            error(SectionName::Hardware, "system.serial", ErrorKind::PermissionDenied),
            error(SectionName::Hardware, "/sys/firmware/dmi/tables/DMI", ErrorKind::PermissionDenied),
            error(SectionName::Os, "/etc/lsb-release", ErrorKind::NotFound),
        ];
        let verdicts = section_verdicts(&[SectionName::Host, SectionName::Hardware, SectionName::Os], &errors);
        let summary: Vec<(&str, Status)> = verdicts.iter().map(|c| (c.name.as_str(), c.status)).collect();
        assert_eq!(
            summary,
            [("section host", Status::Pass), ("section hardware", Status::Warn), ("section os", Status::Pass)]
        );
        assert_eq!(
            verdicts[1].detail,
            "cannot read with current privileges: system.serial, /sys/firmware/dmi/tables/DMI"
        );
        assert!(verdicts[2].detail.contains("1 other gap(s)"), "{:?}", verdicts[2]);
    }

    #[test]
    fn only_failures_fail() {
        let diagnosis = Diagnosis::new(vec![check("a", Status::Pass, ""), check("b", Status::Warn, "")]);
        assert!(diagnosis.ok);
        assert!(diagnosis.to_text().ends_with("all checks passed (1 warning(s))\n"));
        let diagnosis = Diagnosis::new(vec![check("a", Status::Fail, "x"), check("b", Status::Skip, "")]);
        assert!(!diagnosis.ok);
        assert!(diagnosis.to_text().starts_with("FAIL  a  x\n"), "{}", diagnosis.to_text());
    }
}
