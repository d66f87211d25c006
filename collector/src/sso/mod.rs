//! Single sign-on to the console with OpenID Connect (authorization code flow with PKCE): the pure parts — the
//! settings, the request sent to the provider, the ID token's checks and the role its claim maps to. The sign-in
//! itself and the HTTP calls to the provider are in `app::sso`.
//!
//! Tokens are checked here rather than by a complete OpenID client crate: `openidconnect` brings a second set of
//! RSA, elliptic-curve and Ed25519 implementations beside the `ring` that rustls already ships, so the signature is
//! verified by `jsonwebtoken` (on `ring`) and the claims by the checks below, which take the time as a parameter.

use std::time::Duration;

use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::Secret;
use crate::model::Role;

/// How long a browser may take at the provider between leaving the console and coming back.
pub const LOGIN_TTL: chrono::Duration = chrono::Duration::minutes(10);
/// Sign-ins under way at once, across the fleet of collectors: a request for `/login/sso` needs no credentials, so
/// the rows it leaves are capped (and expire after [`LOGIN_TTL`]).
pub const MAX_PENDING_LOGINS: i64 = 10_000;
/// Signing algorithms accepted for ID tokens: the asymmetric ones. `none` and the HMAC family are never accepted
/// (an HMAC token would be keyed with the client secret, which is not what proves the provider spoke).
const ALGORITHMS: [Algorithm; 7] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Which provider groups (or roles) give which console role; a user in several gets the highest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoleMap {
    pub admin: Vec<String>,
    pub analyst: Vec<String>,
    pub viewer: Vec<String>,
}

/// The `[sso]` section of the collector's settings, checked.
#[derive(Debug, Clone)]
pub struct SsoSettings {
    /// The provider's issuer identifier, exactly as its discovery document and tokens give it.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// `<console>/login/sso/callback`, registered at the provider.
    pub redirect_uri: String,
    /// Requested besides `openid`.
    pub scopes: Vec<String>,
    /// The claim holding groups or roles; a dotted path reaches into objects (`realm_access.roles`).
    pub role_claim: String,
    /// The claim giving the console user name; `preferred_username`, then `email`, then `sub` when absent.
    pub name_claim: String,
    pub roles: RoleMap,
    /// Shown on the sign-in button: "Sign in with <label>".
    pub label: String,
    /// Tolerated difference between the provider's clock and ours.
    pub clock_skew: Duration,
    /// The provider's CA (PEM) when it is not publicly trusted.
    pub ca_file: Option<std::path::PathBuf>,
    /// Signing out of the console signs out at the provider too (OpenID Connect RP-Initiated Logout 1.0), when
    /// its discovery document names an end-session endpoint. Off by default: it ends the user's session in
    /// every application of the company's identity provider.
    pub sign_out_at_provider: bool,
    /// `<console>/login`, where the provider sends the browser back after signing out (registered at it).
    pub post_logout_redirect_uri: String,
}

impl SsoSettings {
    /// The scopes sent: `openid` first, then the configured ones.
    pub fn scope(&self) -> String {
        let mut scopes = vec!["openid".to_owned()];
        scopes.extend(self.scopes.iter().filter(|s| s.as_str() != "openid").cloned());
        scopes.join(" ")
    }
}

/// Why an ID token (or the provider's answer around it) was not accepted; the text goes to the audit log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the ID token is malformed: {0}")]
    Malformed(String),
    #[error("the ID token is signed with {0}, which is not accepted")]
    Algorithm(String),
    #[error("no key of the provider matches the ID token (kid {0:?})")]
    UnknownKey(Option<String>),
    #[error("the ID token's signature does not verify")]
    Signature,
    #[error("the ID token was issued by {0:?}, not the configured provider")]
    Issuer(String),
    #[error("the ID token is for another client (audience {0:?})")]
    Audience(Vec<String>),
    #[error("the ID token expired at {0}")]
    Expired(i64),
    #[error("the ID token is not valid before {0}")]
    NotYetValid(i64),
    #[error("the ID token's nonce does not match this sign-in")]
    Nonce,
    #[error("the ID token names no subject")]
    Subject,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The claims every ID token carries (OpenID Connect Core 1.0 §2), typed so a time given as text is malformed
/// rather than absent.
#[derive(Debug, Deserialize)]
struct Standard {
    iss: String,
    sub: String,
    aud: Audience,
    exp: i64,
    iat: i64,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    azp: Option<String>,
}

/// What this sign-in expects of the token.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now: chrono::DateTime<chrono::Utc>,
    pub skew: Duration,
}

/// A verified ID token: its subject and every claim, for the name and role.
#[derive(Debug, Clone, PartialEq)]
pub struct IdToken {
    pub issuer: String,
    pub subject: String,
    pub claims: serde_json::Map<String, Value>,
}

/// Verifies the signature of `token` with the provider's `keys` and checks its claims (Core §3.1.3.7).
pub fn verify_id_token(token: &str, keys: &JwkSet, expected: &Expected<'_>) -> Result<IdToken, TokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| TokenError::Malformed(e.to_string()))?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(TokenError::Algorithm(format!("{:?}", header.alg)));
    }
    let jwk = match &header.kid {
        Some(kid) => keys.find(kid),
        // Without a kid, a provider with one signing key means that key.
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    }
    .ok_or_else(|| TokenError::UnknownKey(header.kid.clone()))?;
    if jwk.common.key_algorithm.is_some_and(|alg| format!("{alg:?}") != format!("{:?}", header.alg)) {
        return Err(TokenError::Algorithm(format!("{:?} with a key for another algorithm", header.alg)));
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|e| TokenError::Malformed(format!("the provider's key: {e}")))?;
    // The library checks the signature only; times, audience and issuer are checked below against `now`.
    let mut validation = Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &key, &validation).map_err(|e| match e
        .kind()
    {
        jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::Signature,
        _ => TokenError::Malformed(e.to_string()),
    })?;
    let claims = data.claims;
    let standard: Standard = serde_json::from_value(Value::Object(claims.clone()))
        .map_err(|e| TokenError::Malformed(format!("claims: {e}")))?;
    check_claims(&standard, expected)?;
    Ok(IdToken { issuer: standard.iss, subject: standard.sub, claims })
}

fn check_claims(c: &Standard, expected: &Expected<'_>) -> Result<(), TokenError> {
    if c.iss != expected.issuer {
        return Err(TokenError::Issuer(c.iss.clone()));
    }
    let audiences = match &c.aud {
        Audience::One(a) => vec![a.clone()],
        Audience::Many(many) => many.clone(),
    };
    // `azp`, when present, must name us; with several audiences it must be present (Core §3.1.3.7 items 4, 5).
    let azp_ok = match c.azp.as_deref() {
        Some(azp) => azp == expected.client_id,
        None => audiences.len() == 1,
    };
    let ours = azp_ok && audiences.iter().any(|a| a == expected.client_id);
    if !ours {
        return Err(TokenError::Audience(audiences));
    }
    let now = expected.now.timestamp();
    let skew = i64::try_from(expected.skew.as_secs()).unwrap_or(i64::MAX);
    if now >= c.exp.saturating_add(skew) {
        return Err(TokenError::Expired(c.exp));
    }
    if let Some(nbf) = c.nbf
        && now < nbf.saturating_sub(skew)
    {
        return Err(TokenError::NotYetValid(nbf));
    }
    // Issued in the future beyond the skew: the provider's clock and ours disagree, or the token is forged.
    if now < c.iat.saturating_sub(skew) {
        return Err(TokenError::NotYetValid(c.iat));
    }
    match &c.nonce {
        Some(nonce) if constant_time_eq(nonce.as_bytes(), expected.nonce.as_bytes()) => {}
        _ => return Err(TokenError::Nonce),
    }
    if c.sub.is_empty() {
        return Err(TokenError::Subject);
    }
    Ok(())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The PKCE `code_challenge` of a verifier (RFC 7636 §4.2, method S256).
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The address the browser is sent to at the provider.
pub fn authorize_url(
    endpoint: &str,
    settings: &SsoSettings,
    state: &str,
    nonce: &str,
    verifier: &str,
) -> Result<String, url::ParseError> {
    let mut url = url::Url::parse(endpoint)?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &settings.client_id)
        .append_pair("redirect_uri", &settings.redirect_uri)
        .append_pair("scope", &settings.scope())
        .append_pair("state", state)
        .append_pair("nonce", nonce)
        .append_pair("code_challenge", &pkce_challenge(verifier))
        .append_pair("code_challenge_method", "S256");
    Ok(url.into())
}

/// Where the browser signs out at the provider (RP-Initiated Logout 1.0 §2): its end-session endpoint with our
/// client id and the registered address to come back to. No `id_token_hint` (sessions do not keep ID tokens), so the
/// provider asks the user to confirm, which also keeps a forged sign-out link from ending their session silently.
pub fn end_session_url(endpoint: &str, settings: &SsoSettings) -> Result<String, url::ParseError> {
    let mut url = url::Url::parse(endpoint)?;
    url.query_pairs_mut()
        .append_pair("client_id", &settings.client_id)
        .append_pair("post_logout_redirect_uri", &settings.post_logout_redirect_uri);
    Ok(url.into())
}

/// The value at a dotted `path` in the claims (`realm_access.roles`); a claim whose own name has dots is found first.
fn claim<'a>(claims: &'a serde_json::Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// The console role the token's `role_claim` maps to (a string or a list of strings), the highest when several
/// do; `None` when none does.
pub fn role_for(claims: &serde_json::Map<String, Value>, settings: &SsoSettings) -> Option<Role> {
    let values: Vec<&str> = match claim(claims, &settings.role_claim)? {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => return None,
    };
    let map = &settings.roles;
    [(Role::Admin, &map.admin), (Role::Analyst, &map.analyst), (Role::Viewer, &map.viewer)]
        .into_iter()
        .find(|(_, groups)| groups.iter().any(|g| values.contains(&g.as_str())))
        .map(|(role, _)| role)
}

/// The console name of the token's user: the configured claim, else `preferred_username`, `email`, then the
/// subject, trimmed.
pub fn user_name<'a>(token: &'a IdToken, settings: &SsoSettings) -> &'a str {
    let text = |name: &str| claim(&token.claims, name).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    text(&settings.name_claim)
        .or_else(|| text("preferred_username"))
        .or_else(|| text("email"))
        .unwrap_or(token.subject.as_str())
}

#[cfg(test)]
mod tests;
