//! Collector settings: defaults, then a TOML file, then `MUSTER_*` environment variables, then command-line flags.
//!
//! Resolution is pure (`Settings::resolve` takes the file text and an environment lookup), so precedence is tested
//! without touching the process environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// A value that must never reach a log: `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Ingest limits; each is named in the `limit` field of the error a request over it gets.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Request body as sent (compressed), bytes.
    pub max_body_bytes: usize,
    /// Request body after decompression, bytes.
    pub max_decompressed_bytes: usize,
    /// Items in `software.packages`, and again in all `software.container_images[].packages` together (so in
    /// each image's list too).
    pub max_packages: usize,
    /// Items in any other list.
    pub max_list_items: usize,
    /// Bytes in any one string (keys included).
    pub max_string_length: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body_bytes: 4 << 20,
            max_decompressed_bytes: 64 << 20,
            max_packages: 100_000,
            max_list_items: 20_000,
            max_string_length: 64 << 10,
        }
    }
}

/// How enrolment recognises machines and slows down guessing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentPolicy {
    /// A host seen within this window counts as live: a second machine claiming its hardware identity with another
    /// machine id is then a clone, not a reinstall.
    pub live_window: Duration,
    /// Failed enrolments allowed per source address within `failure_window` before answers become 429.
    pub max_failures: i64,
    pub failure_window: Duration,
}

impl Default for EnrolmentPolicy {
    fn default() -> EnrolmentPolicy {
        EnrolmentPolicy {
            live_window: Duration::from_secs(2 * 3600),
            max_failures: 10,
            failure_window: Duration::from_secs(15 * 60),
        }
    }
}

/// How the listener speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// The collector's own private CA and server certificate under `<data_dir>/tls`, created on first start.
    Managed,
    /// The operator's certificate chain and key (PEM).
    Files { cert: PathBuf, key: PathBuf },
    /// Plain HTTP, only on request.
    InsecureHttp,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub database_url: Secret,
    pub tls: TlsMode,
    pub limits: Limits,
    pub enrolment: EnrolmentPolicy,
    /// How long report ids are remembered to answer retries with `duplicate`.
    pub report_id_retention: Duration,
    /// How long audit rows and host history are kept (`app::retention`).
    pub retention: crate::app::retention::Retention,
    /// The console's address as people reach it (`https://muster.example.com`), for links in chat messages; see
    /// [`console_url`] for what is used without it.
    pub public_url: Option<String>,
    /// Single sign-on to the console through an OpenID provider (`[sso]`).
    pub sso: Option<crate::sso::SsoSettings>,
    /// Local accounts may sign in with a password (`[sso] local_sign_in = false` switches them off).
    pub local_sign_in: bool,
}

/// Values given on the command line (or by clap from `MUSTER_*` variables for the flags it knows).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<Secret>,
    pub listen: Option<SocketAddr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub insecure_http: bool,
    pub i_know: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot parse the config file: {0}")]
    File(#[from] toml::de::Error),
    #[error("invalid value {value:?} for {name}: {reason}")]
    Invalid { name: String, value: String, reason: String },
    #[error("--tls-cert and --tls-key go together")]
    HalfTls,
    #[error("--insecure-http cannot be combined with --tls-cert/--tls-key")]
    InsecureWithTls,
    #[error(
        "refusing plain HTTP on non-loopback address {0}: agents would send tokens in clear; add --i-know to insist"
    )]
    InsecureNonLoopback(SocketAddr),
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    database_url: Option<Secret>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    limits: Option<Limits>,
    identity_live_window: Option<String>,
    enroll_max_failures: Option<i64>,
    enroll_failure_window: Option<String>,
    report_id_retention: Option<String>,
    audit_retention: Option<String>,
    history_retention: Option<String>,
    public_url: Option<String>,
    sso: Option<SsoFile>,
}

/// The `[sso]` section as written; checked into [`crate::sso::SsoSettings`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SsoFile {
    issuer: String,
    client_id: String,
    /// Or `MUSTER_SSO_CLIENT_SECRET` (an `EnvironmentFile=` readable by the service only), which wins.
    client_secret: Option<Secret>,
    #[serde(default = "default_scopes")]
    scopes: Vec<String>,
    #[serde(default = "default_role_claim")]
    role_claim: String,
    #[serde(default = "default_name_claim")]
    name_claim: String,
    #[serde(default)]
    roles: crate::sso::RoleMap,
    #[serde(default = "default_label")]
    label: String,
    clock_skew: Option<String>,
    ca_file: Option<PathBuf>,
    #[serde(default = "yes")]
    local_sign_in: bool,
    /// Signing out of the console signs out at the provider too.
    #[serde(default)]
    sign_out_at_provider: bool,
}

fn default_scopes() -> Vec<String> {
    vec!["profile".to_owned(), "email".to_owned()]
}
fn default_role_claim() -> String {
    "groups".to_owned()
}
fn default_name_claim() -> String {
    "preferred_username".to_owned()
}
fn default_label() -> String {
    "single sign-on".to_owned()
}
fn yes() -> bool {
    true
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";

impl Settings {
    /// Layers `file` (TOML text, if any), the environment and `cli` over the defaults.
    pub fn resolve(
        file: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
        cli: &Overrides,
    ) -> Result<Settings, ConfigError> {
        let file: FileConfig = match file {
            Some(text) => toml::from_str(text)?,
            None => FileConfig::default(),
        };
        let data_dir = cli.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from("./muster-data"));
        let listen = match cli.listen.or(file.listen) {
            Some(listen) => listen,
            None => parse_value("listen", DEFAULT_LISTEN, |s| s.parse::<SocketAddr>().map_err(|e| e.to_string()))?,
        };
        let database_url = cli
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| Secret::new(format!("sqlite://{}", data_dir.join("muster.db").display())));

        let cert = cli.tls_cert.clone().or(file.tls_cert);
        let key = cli.tls_key.clone().or(file.tls_key);
        let tls = match (cli.insecure_http, cert, key) {
            (true, None, None) => {
                if !listen.ip().is_loopback() && !cli.i_know {
                    return Err(ConfigError::InsecureNonLoopback(listen));
                }
                TlsMode::InsecureHttp
            }
            (true, _, _) => return Err(ConfigError::InsecureWithTls),
            (false, Some(cert), Some(key)) => TlsMode::Files { cert, key },
            (false, None, None) => TlsMode::Managed,
            (false, _, _) => return Err(ConfigError::HalfTls),
        };

        let mut limits = file.limits.unwrap_or_default();
        let number = |name: &str, value: String| {
            parse_value(name, &value, |s| s.trim().parse::<usize>().map_err(|e| e.to_string()))
        };
        for (name, slot) in [
            ("MUSTER_MAX_BODY_BYTES", &mut limits.max_body_bytes),
            ("MUSTER_MAX_DECOMPRESSED_BYTES", &mut limits.max_decompressed_bytes),
            ("MUSTER_MAX_PACKAGES", &mut limits.max_packages),
            ("MUSTER_MAX_LIST_ITEMS", &mut limits.max_list_items),
            ("MUSTER_MAX_STRING_LENGTH", &mut limits.max_string_length),
        ] {
            if let Some(value) = env(name) {
                *slot = number(name, value)?;
            }
        }

        let mut enrolment = EnrolmentPolicy::default();
        let duration_setting =
            |name: &str, env_name: &str, file_value: Option<String>| match env(env_name).or(file_value) {
                Some(value) => parse_value(name, &value, parse_duration).map(Some),
                None => Ok(None),
            };
        if let Some(d) =
            duration_setting("identity_live_window", "MUSTER_IDENTITY_LIVE_WINDOW", file.identity_live_window)?
        {
            enrolment.live_window = d;
        }
        if let Some(d) =
            duration_setting("enroll_failure_window", "MUSTER_ENROLL_FAILURE_WINDOW", file.enroll_failure_window)?
        {
            enrolment.failure_window = d;
        }
        if let Some(n) = file.enroll_max_failures {
            enrolment.max_failures = n;
        }
        if let Some(value) = env("MUSTER_ENROLL_MAX_FAILURES") {
            enrolment.max_failures = parse_value("MUSTER_ENROLL_MAX_FAILURES", &value, |s| {
                s.trim().parse::<i64>().map_err(|e| e.to_string())
            })?;
        }
        let report_id_retention =
            duration_setting("report_id_retention", "MUSTER_REPORT_ID_RETENTION", file.report_id_retention)?
                .unwrap_or(Duration::from_secs(30 * 86_400));
        let mut retention = crate::app::retention::Retention::default();
        // Under a day would delete today's trail at the next prune: a typo, not a policy.
        let at_least_a_day = |name: &str, d: Duration| {
            if d < Duration::from_secs(86_400) {
                Err(ConfigError::Invalid {
                    name: name.to_owned(),
                    value: format!("{}s", d.as_secs()),
                    reason: "keep at least 1d".to_owned(),
                })
            } else {
                Ok(d)
            }
        };
        if let Some(d) = duration_setting("audit_retention", "MUSTER_AUDIT_RETENTION", file.audit_retention)? {
            retention.audit = at_least_a_day("audit_retention", d)?;
        }
        if let Some(d) = duration_setting("history_retention", "MUSTER_HISTORY_RETENTION", file.history_retention)? {
            retention.history = at_least_a_day("history_retention", d)?;
        }

        let public_url = match env("MUSTER_PUBLIC_URL").or(file.public_url) {
            Some(value) => Some(parse_value("public_url", &value, check_public_url)?),
            None => None,
        };

        let local_sign_in = file.sso.as_ref().is_none_or(|s| s.local_sign_in);
        let sso = match file.sso {
            Some(f) => Some(sso_settings(f, public_url.as_deref(), env)?),
            None => None,
        };

        Ok(Settings {
            data_dir,
            listen,
            database_url,
            tls,
            limits,
            enrolment,
            report_id_retention,
            retention,
            public_url,
            sso,
            local_sign_in,
        })
    }
}

/// Checks the `[sso]` section. The provider must be reached over HTTPS (plain HTTP only on a loopback address, for
/// a provider on the same machine); the console's public URL is required because the provider sends browsers back
/// to exactly the address registered with it.
fn sso_settings(
    f: SsoFile,
    public_url: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<crate::sso::SsoSettings, ConfigError> {
    let invalid = |name: &str, value: &str, reason: &str| ConfigError::Invalid {
        name: format!("sso.{name}"),
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    let issuer = url::Url::parse(&f.issuer).map_err(|e| invalid("issuer", &f.issuer, &e.to_string()))?;
    if !crate::tls::https_or_loopback(&issuer) {
        return Err(invalid("issuer", &f.issuer, "expected https:// (http:// only on a loopback address)"));
    }
    let Some(public_url) = public_url else {
        return Err(invalid(
            "issuer",
            &f.issuer,
            "single sign-on needs public_url: the console's address, registered at the provider as              <public_url>/login/sso/callback",
        ));
    };
    if f.client_id.trim().is_empty() {
        return Err(invalid("client_id", &f.client_id, "empty"));
    }
    let Some(client_secret) = env("MUSTER_SSO_CLIENT_SECRET").map(Secret::new).or(f.client_secret) else {
        return Err(invalid("client_secret", "", "missing: set client_secret or MUSTER_SSO_CLIENT_SECRET"));
    };
    let roles = &f.roles;
    if roles.admin.is_empty() && roles.analyst.is_empty() && roles.viewer.is_empty() {
        return Err(invalid("roles", "{}", "map at least one group to admin, analyst or viewer"));
    }
    let clock_skew = match f.clock_skew {
        Some(text) => parse_value("sso.clock_skew", &text, parse_duration)?,
        None => Duration::from_secs(60),
    };
    if clock_skew > Duration::from_secs(600) {
        return Err(invalid("clock_skew", &format!("{}s", clock_skew.as_secs()), "at most 10m"));
    }
    Ok(crate::sso::SsoSettings {
        issuer: f.issuer,
        client_id: f.client_id,
        client_secret,
        redirect_uri: format!("{public_url}/login/sso/callback"),
        scopes: f.scopes,
        role_claim: f.role_claim,
        name_claim: f.name_claim,
        roles: f.roles,
        label: f.label,
        clock_skew,
        ca_file: f.ca_file,
        sign_out_at_provider: f.sign_out_at_provider,
        post_logout_redirect_uri: format!("{public_url}/login"),
    })
}

/// An absolute http(s) address without credentials, query or fragment; links append paths to it.
fn check_public_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("expected http:// or https:// and a host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
        return Err("expected no user, password, query or fragment".to_owned());
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// The console's address for links: the configured public URL, else the address `serve` listens on, with this
/// machine's name in place of an unspecified address (0.0.0.0 is no place to follow a link to; the managed
/// certificate names the machine).
pub fn console_url(public_url: Option<&str>, listen: SocketAddr, tls: bool, hostname: Option<&str>) -> String {
    if let Some(url) = public_url {
        return url.to_owned();
    }
    let scheme = if tls { "https" } else { "http" };
    match hostname {
        Some(name) if listen.ip().is_unspecified() => format!("{scheme}://{name}:{}", listen.port()),
        _ => format!("{scheme}://{listen}"),
    }
}

fn parse_value<T>(name: &str, value: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<T, ConfigError> {
    parse(value).map_err(|reason| ConfigError::Invalid { name: name.to_owned(), value: value.to_owned(), reason })
}

/// `90s`, `15m`, `2h`, `30d`, `1w`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().map_err(|_| "expected a number followed by s, m, h, d or w".to_owned())?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("unknown unit {unit:?} (use s, m, h, d or w)")),
    };
    n.checked_mul(scale).map(Duration::from_secs).ok_or_else(|| "duration too large".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("postgres://u:hunter2@db/muster");
        assert_eq!(format!("{s} {s:?}"), "[redacted] [redacted]");
    }

    #[test]
    fn defaults() {
        let s = Settings::resolve(None, &no_env, &Overrides::default()).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8443");
        assert_eq!(s.data_dir, PathBuf::from("./muster-data"));
        assert_eq!(s.database_url.expose(), "sqlite://./muster-data/muster.db");
        assert_eq!(s.tls, TlsMode::Managed);
        assert_eq!(s.limits, Limits::default());
        assert_eq!(s.limits.max_body_bytes, 4 * 1024 * 1024);
    }

    #[test]
    fn retention_from_file_and_environment_and_never_under_a_day() {
        let env = |name: &str| (name == "MUSTER_HISTORY_RETENTION").then(|| "30d".to_owned());
        let s = Settings::resolve(Some("audit_retention = \"90d\"\n"), &env, &Overrides::default()).unwrap();
        assert_eq!(s.retention.audit, Duration::from_secs(90 * 86_400));
        assert_eq!(s.retention.history, Duration::from_secs(30 * 86_400));
        let d = Settings::resolve(None, &no_env, &Overrides::default()).unwrap();
        assert_eq!(d.retention, crate::app::retention::Retention::default());
        let err = Settings::resolve(Some("history_retention = \"0\"\n"), &no_env, &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("history_retention") && err.to_string().contains("at least 1d"), "{err}");
    }

    const SSO: &str = r#"
public_url = "https://muster.example.com"
[sso]
issuer = "https://login.example.com/realms/corp"
client_id = "muster"
client_secret = "from-the-file"
role_claim = "realm_access.roles"
clock_skew = "2m"
local_sign_in = false
[sso.roles]
admin = ["muster-admins"]
viewer = ["staff"]
"#;

    #[test]
    fn single_sign_on_settings() {
        let d = Settings::resolve(None, &no_env, &Overrides::default()).unwrap();
        assert!(d.sso.is_none() && d.local_sign_in, "no [sso]: local accounts only");
        let env = |name: &str| (name == "MUSTER_SSO_CLIENT_SECRET").then(|| "from-the-environment".to_owned());
        let s = Settings::resolve(Some(SSO), &env, &Overrides::default()).unwrap();
        assert!(!s.local_sign_in);
        let sso = s.sso.unwrap();
        assert_eq!(sso.redirect_uri, "https://muster.example.com/login/sso/callback");
        assert_eq!(sso.client_secret.expose(), "from-the-environment", "the environment over the file");
        assert_eq!(sso.scope(), "openid profile email", "the default scopes");
        assert_eq!(sso.role_claim, "realm_access.roles");
        assert_eq!(sso.name_claim, "preferred_username");
        assert_eq!(sso.clock_skew, Duration::from_secs(120));
        assert_eq!(sso.roles.admin, ["muster-admins"]);
        assert_eq!(sso.label, "single sign-on");
        let from_file = Settings::resolve(Some(SSO), &no_env, &Overrides::default()).unwrap();
        assert_eq!(from_file.sso.unwrap().client_secret.expose(), "from-the-file");

        let refused = |text: String, what: &str| {
            let err = Settings::resolve(Some(&text), &no_env, &Overrides::default()).unwrap_err().to_string();
            assert!(err.contains(what), "{what}: {err}");
        };
        refused(SSO.replace("https://login.example.com", "http://login.example.com"), "expected https://");
        refused(SSO.replace("public_url = \"https://muster.example.com\"", ""), "needs public_url");
        refused(SSO.replace("client_secret = \"from-the-file\"", ""), "MUSTER_SSO_CLIENT_SECRET");
        refused(SSO.replace("admin = [\"muster-admins\"]\nviewer = [\"staff\"]", ""), "map at least one group");
        refused(SSO.replace("\"2m\"", "\"1h\""), "at most 10m");
        refused(SSO.replace("local_sign_in", "local_signin"), "unknown field");
        // A provider on this machine may speak plain HTTP.
        let local = SSO.replace("https://login.example.com", "http://127.0.0.1:9090");
        assert!(Settings::resolve(Some(&local), &no_env, &Overrides::default()).unwrap().sso.is_some());
    }

    /// The shipped settings file's `[sso]` example, uncommented, is what the collector accepts.
    #[test]
    fn the_shipped_sso_example_resolves() {
        let shipped = include_str!("../../deploy/config/collector.toml");
        let example = &shipped[shipped.find("#[sso]").unwrap()..];
        let uncommented: String = example.lines().map(|l| format!("{}\n", l.strip_prefix('#').unwrap_or(l))).collect();
        let text = format!("public_url = \"https://muster.example.com\"\n{uncommented}");
        let s = Settings::resolve(Some(&text), &no_env, &Overrides::default()).unwrap();
        let sso = s.sso.unwrap();
        assert_eq!(
            (sso.label.as_str(), sso.roles.analyst.as_slice()),
            ("Corp SSO", ["security-team".to_owned()].as_slice())
        );
        assert!(s.local_sign_in);
    }

    #[test]
    fn public_url_is_checked_and_links_fall_back_to_the_listen_address() {
        let env = |name: &str| (name == "MUSTER_PUBLIC_URL").then(|| "https://muster.example.com/".to_owned());
        let s =
            Settings::resolve(Some("public_url = \"https://file.example\"\n"), &env, &Overrides::default()).unwrap();
        assert_eq!(s.public_url.as_deref(), Some("https://muster.example.com"), "the environment over the file");
        let s = Settings::resolve(Some("public_url = \"https://m.example/muster/\"\n"), &no_env, &Overrides::default())
            .unwrap();
        assert_eq!(s.public_url.as_deref(), Some("https://m.example/muster"));
        for bad in ["muster.example.com", "ftp://m.example", "https://u:p@m.example", "https://m.example/?a=1"] {
            let file = format!("public_url = \"{bad}\"\n");
            let err = Settings::resolve(Some(&file), &no_env, &Overrides::default()).unwrap_err();
            assert!(err.to_string().contains("public_url"), "{bad}: {err}");
        }
        let any: SocketAddr = "0.0.0.0:8443".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        assert_eq!(console_url(Some("https://m.example"), any, true, Some("box")), "https://m.example");
        assert_eq!(console_url(None, any, true, Some("box")), "https://box:8443");
        assert_eq!(console_url(None, local, false, Some("box")), "http://127.0.0.1:9000");
        assert_eq!(console_url(None, any, true, None), "https://0.0.0.0:8443");
    }

    #[test]
    fn precedence_file_env_cli() {
        let file =
            "listen = \"127.0.0.1:9000\"\ndata_dir = \"/srv/m\"\n[limits]\nmax_packages = 10\nmax_string_length = 7\n";
        let env = |name: &str| (name == "MUSTER_MAX_PACKAGES").then(|| "20".to_owned());
        let cli = Overrides { data_dir: Some(PathBuf::from("/cli")), ..Overrides::default() };
        let s = Settings::resolve(Some(file), &env, &cli).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:9000");
        assert_eq!(s.data_dir, PathBuf::from("/cli"));
        assert_eq!(s.limits.max_packages, 20);
        assert_eq!(s.limits.max_string_length, 7);
        assert_eq!(s.limits.max_body_bytes, 4 << 20);
    }

    #[test]
    fn insecure_http_needs_loopback_or_i_know() {
        let mut cli = Overrides { insecure_http: true, ..Overrides::default() };
        assert_eq!(Settings::resolve(None, &no_env, &cli).unwrap().tls, TlsMode::InsecureHttp);
        cli.listen = Some("0.0.0.0:8080".parse().unwrap());
        assert!(matches!(Settings::resolve(None, &no_env, &cli), Err(ConfigError::InsecureNonLoopback(_))));
        cli.i_know = true;
        assert_eq!(Settings::resolve(None, &no_env, &cli).unwrap().tls, TlsMode::InsecureHttp);
    }

    #[test]
    fn half_tls_is_refused() {
        let cli = Overrides { tls_cert: Some(PathBuf::from("c.pem")), ..Overrides::default() };
        assert!(matches!(Settings::resolve(None, &no_env, &cli), Err(ConfigError::HalfTls)));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("3 fortnights").is_err());
        assert!(parse_duration("").is_err());
    }
}
