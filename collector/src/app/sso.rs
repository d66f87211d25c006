//! Signing in to the console through the company's OpenID provider: the redirect out (state, nonce and PKCE
//! verifier kept for one use), the provider's answer (code exchanged, ID token checked, the user created, given the
//! role the claim maps to, or disabled when it maps to none, a session opened), and the provider's HTTP edge with
//! its discovery document and keys cached.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;

use crate::app::audit::{Actor, AuditEvent, record, record_coalesced};
use crate::app::sign_in::{self, SignInError};
use crate::config::Secret;
use crate::sso::{self, Expected, IdToken, LOGIN_TTL, MAX_PENDING_LOGINS, SsoSettings, TokenError};
use crate::store::users::{NewUser, SsoLogin};
use crate::store::{Store, StoreError};
use crate::tokens::{self, RandomError};

/// The discovery document and keys are fetched again after this long (keys rotate; a key not yet seen also
/// triggers a fetch, at most once per [`REFRESH_AT_MOST`]).
const CACHE_FOR: Duration = Duration::from_secs(3600);
const REFRESH_AT_MOST: Duration = Duration::from_secs(60);
/// A provider's answers are small; more is refused rather than buffered.
const MAX_ANSWER_BYTES: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    /// The provider could not be reached or answered nonsense: nothing the user can fix.
    #[error("the identity provider: {0}")]
    Provider(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Random(#[from] RandomError),
    #[error(transparent)]
    SignIn(#[from] SignInError),
}

/// The parts of the provider's discovery document used (OpenID Connect Discovery 1.0 §3).
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// RP-Initiated Logout 1.0's endpoint, when the provider offers it.
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}

struct Cached {
    metadata: Arc<Metadata>,
    keys: Arc<JwkSet>,
    fetched: Instant,
}

/// The provider as configured, with its HTTP client and what it published.
pub struct Provider {
    pub settings: SsoSettings,
    client: reqwest::Client,
    cache: tokio::sync::Mutex<Option<Cached>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl Provider {
    /// Trusts the system's roots, plus the PEM certificates of `settings.ca_file`.
    pub fn new(settings: SsoSettings) -> Result<Provider, SsoError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("muster-collector/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(20))
            // The provider's endpoints are taken as published; a redirect would move a client secret elsewhere.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = &settings.ca_file {
            let err = |e: String| SsoError::Provider(format!("CA file {}: {e}", path.display()));
            let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| err(e.to_string()))? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder.build().map_err(|e| SsoError::Provider(super::describe_http(e)))?;
        Ok(Provider { settings, client, cache: tokio::sync::Mutex::new(None) })
    }

    /// The discovery document and keys, fetched when missing, older than [`CACHE_FOR`], or when `stale_keys`
    /// says a token named a key not among them.
    async fn published(&self, stale_keys: bool) -> Result<(Arc<Metadata>, Arc<JwkSet>), SsoError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref() {
            let age = c.fetched.elapsed();
            if age < CACHE_FOR && !(stale_keys && age >= REFRESH_AT_MOST) {
                return Ok((c.metadata.clone(), c.keys.clone()));
            }
        }
        let issuer = self.settings.issuer.trim_end_matches('/');
        let metadata: Metadata = self.get_json(&format!("{issuer}/.well-known/openid-configuration")).await?;
        // Discovery §4.3: the document must name the issuer it was fetched for, exactly.
        if metadata.issuer != self.settings.issuer {
            return Err(SsoError::Provider(format!(
                "its discovery document names issuer {:?}, not the configured {:?}",
                metadata.issuer, self.settings.issuer
            )));
        }
        let keys: JwkSet = self.get_json(&metadata.jwks_uri).await?;
        let c = Cached { metadata: Arc::new(metadata), keys: Arc::new(keys), fetched: Instant::now() };
        let out = (c.metadata.clone(), c.keys.clone());
        *cache = Some(c);
        Ok(out)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, SsoError> {
        let response = self.client.get(url).send().await.map_err(|e| SsoError::Provider(super::describe_http(e)))?;
        let status = response.status();
        let body = read_capped(response).await?;
        if !status.is_success() {
            return Err(SsoError::Provider(format!("{url}: HTTP {}", status.as_u16())));
        }
        serde_json::from_slice(&body).map_err(|e| SsoError::Provider(format!("{url}: {e}")))
    }

    /// Exchanges the code for tokens (Core §3.1.3.1) and returns the ID token, or the provider's refusal.
    async fn exchange(&self, metadata: &Metadata, code: &str, verifier: &str) -> Result<Exchanged, SsoError> {
        let s = &self.settings;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", s.redirect_uri.as_str()),
            ("code_verifier", verifier),
        ];
        // client_secret_basic is the default (Core §9); a provider that lists only client_secret_post gets that.
        let methods = &metadata.token_endpoint_auth_methods_supported;
        let basic = methods.is_empty() || methods.iter().any(|m| m == "client_secret_basic");
        let mut request = self.client.post(&metadata.token_endpoint);
        if basic {
            // RFC 6749 §2.3.1: both parts form-encoded before the Basic encoding.
            let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
            request = request.basic_auth(enc(&s.client_id), Some(enc(s.client_secret.expose())));
        } else {
            form.push(("client_id", s.client_id.as_str()));
            form.push(("client_secret", s.client_secret.expose()));
        }
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let response = request
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| SsoError::Provider(super::describe_http(e)))?;
        let status = response.status();
        let body = read_capped(response).await?;
        #[derive(Deserialize)]
        struct Answer {
            id_token: Option<String>,
            error: Option<String>,
            error_description: Option<String>,
        }
        let answer: Answer = serde_json::from_slice(&body).map_err(|e| {
            SsoError::Provider(format!("the token endpoint answered HTTP {} without JSON: {e}", status.as_u16()))
        })?;
        match (status.is_success(), answer.id_token, answer.error) {
            (true, Some(token), _) => Ok(Exchanged::IdToken(token)),
            (true, None, _) => Err(SsoError::Provider("the token endpoint gave no ID token".to_owned())),
            // RFC 6749 §5.2: a refused code or client is a 400 or 401 with an error code.
            (false, _, Some(error)) if status.is_client_error() => Ok(Exchanged::Refused(
                [Some(error), answer.error_description].into_iter().flatten().collect::<Vec<_>>().join(": "),
            )),
            (false, _, _) => Err(SsoError::Provider(format!("the token endpoint answered HTTP {}", status.as_u16()))),
        }
    }

    /// Checks `token`, fetching the keys again once if it names a key not yet seen (the provider rotated).
    async fn verify(
        &self,
        token: &str,
        nonce: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<IdToken, TokenError>, SsoError> {
        let expected = Expected {
            issuer: &self.settings.issuer,
            client_id: &self.settings.client_id,
            nonce,
            now,
            skew: self.settings.clock_skew,
        };
        let (_, keys) = self.published(false).await?;
        match sso::verify_id_token(token, &keys, &expected) {
            Err(TokenError::UnknownKey(_)) => {
                let (_, keys) = self.published(true).await?;
                Ok(sso::verify_id_token(token, &keys, &expected))
            }
            other => Ok(other),
        }
    }
}

enum Exchanged {
    IdToken(String),
    Refused(String),
}

async fn read_capped(response: reqwest::Response) -> Result<Vec<u8>, SsoError> {
    match super::read_prefix(response, MAX_ANSWER_BYTES + 1).await {
        (_, Some(e)) => Err(SsoError::Provider(super::describe_http(e))),
        (body, None) if body.len() > MAX_ANSWER_BYTES => {
            Err(SsoError::Provider(format!("an answer over {MAX_ANSWER_BYTES} bytes")))
        }
        (body, None) => Ok(body),
    }
}

/// Where to send the browser, and the cookie that ties the provider's answer to this browser.
#[derive(Debug)]
pub enum Begun {
    Redirect {
        url: String,
        binding: Secret,
    },
    /// Too many sign-ins under way (see [`MAX_PENDING_LOGINS`]).
    Busy,
}

/// Where a provider user's browser goes after the console's own sign-out: the provider's end-session endpoint
/// when `sign_out_at_provider` is set and the provider offers one; `None` otherwise (the console's sign-in page).
/// A provider that cannot be reached leaves the user signed out of the console only, said in the log.
pub async fn sign_out_url(provider: &Provider) -> Option<String> {
    if !provider.settings.sign_out_at_provider {
        return None;
    }
    let endpoint = match provider.published(false).await {
        Ok((metadata, _)) => metadata.end_session_endpoint.clone()?,
        Err(e) => {
            tracing::warn!(error = %e, "cannot reach the identity provider: signed out of the console only");
            return None;
        }
    };
    match sso::end_session_url(&endpoint, &provider.settings) {
        Ok(url) => Some(url),
        Err(e) => {
            tracing::warn!(endpoint = %endpoint, error = %e, "the provider's end-session endpoint is not a URL");
            None
        }
    }
}

/// Starts a sign-in that returns to `next` (already checked to be a console path).
pub async fn begin(store: &dyn Store, provider: &Provider, next: &str, now: DateTime<Utc>) -> Result<Begun, SsoError> {
    let (metadata, _) = provider.published(false).await?;
    let state = tokens::generate("")?;
    let nonce = tokens::generate("")?;
    let verifier = tokens::generate("")?;
    let binding = tokens::generate("")?;
    let login = SsoLogin {
        state_hash: tokens::hash(state.expose()),
        browser_hash: tokens::hash(binding.expose()),
        nonce: nonce.expose().to_owned(),
        verifier: verifier.expose().to_owned(),
        next: next.to_owned(),
        created_at: now,
        expires_at: now + LOGIN_TTL,
    };
    if !store.begin_sso_login(&login, MAX_PENDING_LOGINS, now).await? {
        return Ok(Begun::Busy);
    }
    let url = sso::authorize_url(
        &metadata.authorization_endpoint,
        &provider.settings,
        state.expose(),
        nonce.expose(),
        verifier.expose(),
    )
    .map_err(|e| SsoError::Provider(format!("authorization endpoint {:?}: {e}", metadata.authorization_endpoint)))?;
    Ok(Begun::Redirect { url, binding })
}

/// The query the provider sends the browser back with (Core §3.1.2.5 and §3.1.2.6).
#[derive(Debug, Default, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// The issuer that answered (RFC 9207), sent by providers that protect against mix-up attacks.
    pub iss: Option<String>,
}

#[derive(Debug)]
pub enum Finished {
    SignedIn {
        cookie: Secret,
        expires_at: DateTime<Utc>,
        next: String,
    },
    /// Not signed in; `message` is for the person, the audit log has the detail.
    Refused {
        message: String,
    },
}

fn refused(message: &str) -> Finished {
    Finished::Refused { message: message.to_owned() }
}

/// Finishes the sign-in the provider's answer `cb` belongs to; `binding` is the browser's binding cookie.
pub async fn finish(
    store: &dyn Store,
    provider: &Provider,
    cb: &Callback,
    binding: Option<&str>,
    ip: &str,
    session_ttl: Duration,
    now: DateTime<Utc>,
) -> Result<Finished, SsoError> {
    let actor = Actor::new("sso", ip);
    let refuse = |name: &str, reason: String| AuditEvent::SsoRefused { name: name.to_owned(), reason };
    // Until a state matches, the request proves nothing: its refusals are counted into one audit row per address
    // and window, so nobody can fill the log by requesting the callback.
    let window = sign_in::FAILURE_WINDOW;
    let Some(state) = cb.state.as_deref().filter(|s| s.len() <= 256) else {
        record_coalesced(store, &actor, now, refuse("", "the answer carried no state".to_owned()), window).await?;
        return Ok(refused("The identity provider's answer was incomplete; sign in again."));
    };
    let Some(login) = store.take_sso_login(&tokens::hash(state), now).await? else {
        let reason = "unknown, expired or replayed state".to_owned();
        record_coalesced(store, &actor, now, refuse("", reason), window).await?;
        return Ok(refused("This sign-in has expired or was already used; sign in again."));
    };
    let same_browser = binding.is_some_and(|b| tokens::hash(b) == login.browser_hash);
    if !same_browser {
        record(store, &actor, now, refuse("", "the answer came to another browser".to_owned())).await?;
        return Ok(refused("This sign-in was started in another browser; sign in again."));
    }
    if let Some(iss) = cb.iss.as_deref().filter(|iss| *iss != provider.settings.issuer) {
        let reason = format!("the answer came from issuer {:?}", iss.chars().take(200).collect::<String>());
        record(store, &actor, now, refuse("", reason)).await?;
        return Ok(refused("The answer came from another identity provider; sign in again."));
    }
    if let Some(error) = &cb.error {
        let detail: String = [Some(error.as_str()), cb.error_description.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": ")
            .chars()
            .take(300)
            .collect();
        record(store, &actor, now, refuse("", format!("the provider refused: {detail}"))).await?;
        return Ok(Finished::Refused { message: format!("The identity provider refused the sign-in ({detail}).") });
    }
    let Some(code) = cb.code.as_deref().filter(|c| c.len() <= 4096) else {
        record(store, &actor, now, refuse("", "the answer carried no code".to_owned())).await?;
        return Ok(refused("The identity provider's answer was incomplete; sign in again."));
    };
    let (metadata, _) = provider.published(false).await?;
    let token = match provider.exchange(&metadata, code, &login.verifier).await? {
        Exchanged::IdToken(token) => token,
        Exchanged::Refused(why) => {
            record(store, &actor, now, refuse("", format!("the token endpoint refused the code: {why}"))).await?;
            return Ok(refused("The identity provider did not accept this sign-in; sign in again."));
        }
    };
    let token = match provider.verify(&token, &login.nonce, now).await? {
        Ok(token) => token,
        Err(e) => {
            record(store, &actor, now, refuse("", e.to_string())).await?;
            return Ok(refused("The identity provider's answer could not be verified; sign in again."));
        }
    };
    let settings = &provider.settings;
    let name = sign_in::clean_name(sso::user_name(&token, settings));
    let known = store.sso_user(&token.issuer, &token.subject).await?;
    let Some(role) = sso::role_for(&token.claims, settings) else {
        // The provider no longer puts this person in a group we map: they lose access here too.
        if let Some(user) = &known
            && store.disable_sso_user(&user.id, now).await?
        {
            record(store, &actor, now, AuditEvent::UserDisabled { name: user.name.clone() }).await?;
        }
        let claim = &settings.role_claim;
        record(store, &actor, now, refuse(&name, format!("the {claim:?} claim maps to no role"))).await?;
        return Ok(refused(
            "Your account at the identity provider is in no group that gives access to Muster; ask an administrator.",
        ));
    };
    let user = match known {
        Some(user) => {
            if user.disabled_at.is_some() && !user.disabled_by_sso() {
                record(store, &actor, now, refuse(&user.name, "disabled by an administrator".to_owned())).await?;
                return Ok(refused("This account is disabled; ask an administrator."));
            }
            store.update_sso_user(&user.id, role).await?;
            if user.disabled_at.is_some() {
                record(store, &actor, now, AuditEvent::UserEnabled { name: user.name.clone() }).await?;
            }
            if user.role != role {
                let change = AuditEvent::UserRoleChanged { name: user.name.clone(), from: user.role, to: role };
                record(store, &actor, now, change).await?;
            }
            (user.id, user.name)
        }
        None => {
            let new = NewUser {
                id: tokens::new_id()?,
                name: name.clone(),
                role,
                password_hash: String::new(),
                must_change_password: false,
                created_at: now,
            };
            if !store.create_sso_user(&new, &token.issuer, &token.subject).await? {
                let reason = "a console account of that name exists (single sign-on never takes one over)";
                record(store, &actor, now, refuse(&name, reason.to_owned())).await?;
                return Ok(Finished::Refused {
                    message: format!(
                        "A console account named {name:?} exists already and is not linked to the identity \
                         provider; ask an administrator."
                    ),
                });
            }
            record(store, &actor, now, AuditEvent::UserCreated { name: name.clone(), role }).await?;
            (new.id, name)
        }
    };
    let (cookie, expires_at) = sign_in::open_session(store, &user.0, &user.1, role, ip, session_ttl, now).await?;
    Ok(Finished::SignedIn { cookie, expires_at, next: login.next })
}
