//! The ID token checks on tokens signed here with a fresh Ed25519 key (the end-to-end tests in
//! `tests/sso.rs` use a real provider's RSA tokens): every refusal the sign-in relies on, and the clock skew.

use base64::Engine;
use chrono::{TimeZone, Utc};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{EncodingKey, Header};
use ring::signature::KeyPair;
use serde_json::{Value, json};

use super::*;

const ISSUER: &str = "https://idp.example.com/realms/corp";
const CLIENT: &str = "muster";
const NONCE: &str = "5f1d3c0b9a7e";

struct Signer {
    key: EncodingKey,
    jwks: JwkSet,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn signer(kid: &str) -> Signer {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let jwks: JwkSet = serde_json::from_value(json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": kid, "x": b64(pair.public_key().as_ref()),
    }]}))
    .unwrap();
    Signer { key: EncodingKey::from_ed_der(pkcs8.as_ref()), jwks }
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap()
}

fn claims() -> Value {
    let t = now().timestamp();
    json!({"iss": ISSUER, "sub": "248289761001", "aud": CLIENT, "exp": t + 300, "iat": t - 5, "nonce": NONCE,
           "preferred_username": "ann", "groups": ["staff", "muster-analysts"]})
}

fn sign(s: &Signer, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &s.key).unwrap()
}

fn expected() -> Expected<'static> {
    Expected { issuer: ISSUER, client_id: CLIENT, nonce: NONCE, now: now(), skew: Duration::from_secs(60) }
}

fn check(s: &Signer, claims: &Value) -> Result<IdToken, TokenError> {
    verify_id_token(&sign(s, "k1", claims), &s.jwks, &expected())
}

fn with(changes: Value) -> Value {
    let mut c = claims();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

#[test]
fn a_good_token_gives_its_subject_and_claims() {
    let s = signer("k1");
    let token = check(&s, &claims()).unwrap();
    assert_eq!(token.issuer, ISSUER);
    assert_eq!(token.subject, "248289761001");
    assert_eq!(token.claims["preferred_username"], "ann");
}

#[test]
fn a_tampered_token_is_refused() {
    let s = signer("k1");
    let token = sign(&s, "k1", &claims());
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let forged = with(json!({"groups": ["muster-admins"]}));
    parts[1] = b64(serde_json::to_vec(&forged).unwrap().as_slice());
    let err = verify_id_token(&parts.join("."), &s.jwks, &expected()).unwrap_err();
    assert_eq!(err, TokenError::Signature);
}

#[test]
fn a_token_signed_by_another_key_is_refused() {
    let ours = signer("k1");
    let theirs = signer("k1");
    let err = verify_id_token(&sign(&theirs, "k1", &claims()), &ours.jwks, &expected()).unwrap_err();
    assert_eq!(err, TokenError::Signature);
    let err = verify_id_token(&sign(&theirs, "k9", &claims()), &ours.jwks, &expected()).unwrap_err();
    assert_eq!(err, TokenError::UnknownKey(Some("k9".to_owned())));
}

#[test]
fn unsigned_and_hmac_tokens_are_refused() {
    let s = signer("k1");
    let body = b64(serde_json::to_vec(&claims()).unwrap().as_slice());
    let none = format!("{}.{body}.", b64(br#"{"alg":"none","kid":"k1"}"#));
    assert!(matches!(verify_id_token(&none, &s.jwks, &expected()), Err(TokenError::Malformed(_))));
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("k1".to_owned());
    let hmac = jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(b"client secret")).unwrap();
    assert_eq!(verify_id_token(&hmac, &s.jwks, &expected()).unwrap_err(), TokenError::Algorithm("HS256".to_owned()));
}

#[test]
fn issuer_audience_and_nonce_must_be_ours() {
    let s = signer("k1");
    assert_eq!(
        check(&s, &with(json!({"iss": "https://evil.example"}))).unwrap_err(),
        TokenError::Issuer("https://evil.example".to_owned())
    );
    assert_eq!(
        check(&s, &with(json!({"aud": "another-app"}))).unwrap_err(),
        TokenError::Audience(vec!["another-app".to_owned()])
    );
    // Several audiences: `azp` must name us.
    assert!(check(&s, &with(json!({"aud": [CLIENT, "api"]}))).is_err());
    assert!(check(&s, &with(json!({"aud": [CLIENT, "api"], "azp": CLIENT}))).is_ok());
    assert!(check(&s, &with(json!({"aud": CLIENT, "azp": "another-app"}))).is_err());
    assert_eq!(check(&s, &with(json!({"nonce": "replayed"}))).unwrap_err(), TokenError::Nonce);
    assert_eq!(check(&s, &with(json!({"nonce": null}))).unwrap_err(), TokenError::Nonce);
}

#[test]
fn times_are_checked_with_the_clock_skew() {
    let s = signer("k1");
    let t = now().timestamp();
    assert_eq!(check(&s, &with(json!({"exp": t - 61}))).unwrap_err(), TokenError::Expired(t - 61));
    assert!(check(&s, &with(json!({"exp": t - 59})).clone()).is_ok(), "within the skew");
    assert!(check(&s, &with(json!({"iat": t + 30}))).is_ok(), "the provider's clock is a little ahead");
    assert_eq!(check(&s, &with(json!({"iat": t + 600}))).unwrap_err(), TokenError::NotYetValid(t + 600));
    assert_eq!(check(&s, &with(json!({"nbf": t + 600}))).unwrap_err(), TokenError::NotYetValid(t + 600));
    // A time given as text is malformed, not absent.
    assert!(matches!(check(&s, &with(json!({"exp": "never"}))), Err(TokenError::Malformed(_))));
}

fn settings() -> SsoSettings {
    SsoSettings {
        issuer: ISSUER.to_owned(),
        client_id: CLIENT.to_owned(),
        client_secret: Secret::new("s3cret"),
        redirect_uri: "https://muster.example.com/login/sso/callback".to_owned(),
        scopes: vec!["profile".to_owned(), "groups".to_owned()],
        role_claim: "groups".to_owned(),
        name_claim: "preferred_username".to_owned(),
        roles: RoleMap {
            admin: vec!["muster-admins".to_owned()],
            analyst: vec!["muster-analysts".to_owned()],
            viewer: vec!["staff".to_owned()],
        },
        label: "Corp SSO".to_owned(),
        clock_skew: Duration::from_secs(60),
        ca_file: None,
        sign_out_at_provider: false,
        post_logout_redirect_uri: "https://muster.example.com/login".to_owned(),
    }
}

fn token(claims: Value) -> IdToken {
    IdToken {
        issuer: ISSUER.to_owned(),
        subject: "248289761001".to_owned(),
        claims: claims.as_object().unwrap().clone(),
    }
}

#[test]
fn the_highest_mapped_role_wins() {
    let s = settings();
    assert_eq!(role_for(&token(claims()).claims, &s), Some(Role::Analyst));
    assert_eq!(role_for(&token(json!({"groups": "staff"})).claims, &s), Some(Role::Viewer));
    assert_eq!(role_for(&token(json!({"groups": ["staff", "muster-admins"]})).claims, &s), Some(Role::Admin));
    assert_eq!(role_for(&token(json!({"groups": ["contractors"]})).claims, &s), None);
    assert_eq!(role_for(&token(json!({"groups": 7})).claims, &s), None);
    assert_eq!(role_for(&token(json!({})).claims, &s), None);
    // Keycloak's realm roles sit in an object.
    let keycloak = SsoSettings { role_claim: "realm_access.roles".to_owned(), ..settings() };
    let claims = json!({"realm_access": {"roles": ["offline_access", "muster-admins"]}});
    assert_eq!(role_for(&token(claims).claims, &keycloak), Some(Role::Admin));
}

#[test]
fn the_user_name_falls_back_to_email_then_subject() {
    let s = settings();
    assert_eq!(user_name(&token(json!({"preferred_username": " ann ", "email": "a@x"})), &s), "ann");
    assert_eq!(
        user_name(&token(json!({"preferred_username": "", "email": "ann@corp.example"})), &s),
        "ann@corp.example"
    );
    assert_eq!(user_name(&token(json!({})), &s), "248289761001");
}

#[test]
fn the_authorization_request_carries_pkce_state_and_nonce() {
    let s = settings();
    let url = authorize_url("https://idp.example.com/auth?kc_idp_hint=corp", &s, "st4te", "n0nce", "v").unwrap();
    let url = url::Url::parse(&url).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["kc_idp_hint"], "corp", "the endpoint's own parameters stay");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT);
    assert_eq!(q["redirect_uri"], "https://muster.example.com/login/sso/callback");
    assert_eq!(q["scope"], "openid profile groups");
    assert_eq!(q["state"], "st4te");
    assert_eq!(q["nonce"], "n0nce");
    assert_eq!(q["code_challenge_method"], "S256");
    // RFC 7636 appendix B's example verifier and challenge.
    assert_eq!(
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}
