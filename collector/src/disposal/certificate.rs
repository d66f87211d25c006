//! Sanitization certificates (NIST SP 800-88 Rev. 1, appendix G): the payload, its canonical JSON, and the Ed25519
//! signature that lets anyone holding the collector's public key check a certificate offline.
//!
//! The signature covers the canonical form (RFC 8785 style: keys sorted, no whitespace) of the `certificate` object
//! exactly as it appears in the document, so adding, removing or changing any field, known or not, breaks it.

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// The value of [`CertificatePayload::format`].
pub const CERTIFICATE_FORMAT: &str = "muster.sanitization-certificate.v1";
pub const ALGORITHM: &str = "ed25519";

/// Everything NIST's sample certificate asks for, about one medium.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CertificatePayload {
    pub format: String,
    pub id: String,
    pub issued_at: DateTime<Utc>,
    pub host: CertifiedHost,
    pub media: CertifiedMedia,
    pub sanitization: CertifiedSanitization,
    pub verification: CertifiedVerification,
    /// Who sanitized the medium.
    pub operator: String,
    /// Who checked it (for destruction: the witness).
    pub verifier: String,
    pub location: String,
    /// Post-sanitization destination: `recycler`, `resale`, `donation` or `destroyed`.
    pub destination: String,
    /// E.g. that operator and verifier are the same person.
    pub warnings: Vec<String>,
    /// The disposal case this certificate closes, and why the host was decommissioned.
    pub case_id: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CertifiedHost {
    pub id: String,
    pub hostname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_serial: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CertifiedMedia {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The serial, or `name:<kernel name>` for a disk whose inventory had none.
    pub serial: String,
    pub media_type: String,
    pub size_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CertifiedSanitization {
    /// `clear`, `purge`, `destroy`, or `not stated` when the operator gave none.
    pub method: String,
    /// `overwrite`, `block-erase`, `crypto-erase`, `shred`, …, or `not stated`.
    pub technique: String,
    pub tool: String,
    pub tool_version: String,
    pub date: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CertifiedVerification {
    /// How it was verified, e.g. `full read of 100.0% (…)` or `visual inspection of the destroyed medium`.
    pub method: String,
    /// `pass`.
    pub result: String,
    pub summary: String,
}

/// The detached signature over the canonical payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CertificateSignature {
    /// `ed25519`.
    pub algorithm: String,
    /// First 16 hex digits of the SHA-256 of the public key.
    pub key_id: String,
    /// Hex; informative only: verification uses the key the checker trusts.
    pub public_key: String,
    /// Hex of the 64-byte signature.
    pub value: String,
}

/// The downloadable document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SignedCertificate {
    pub certificate: CertificatePayload,
    pub signature: CertificateSignature,
}

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("not a certificate document: {0}")]
    Malformed(String),
    #[error("unsupported signature algorithm {0:?} (expected ed25519)")]
    Algorithm(String),
    #[error("the certificate was signed by key {found}, not by the trusted key {trusted}")]
    OtherKey { found: String, trusted: String },
    #[error("the signature does not match the certificate: it was changed after signing, or signed by another key")]
    BadSignature,
    #[error("invalid public key: {0}")]
    PublicKey(String),
    #[error("numbers other than integers cannot be canonicalised")]
    NonInteger,
}

/// Canonical JSON: object keys sorted by UTF-16 code units, no insignificant whitespace, strings escaped as
/// `serde_json` escapes them (which is RFC 8785's escaping). Integers only: certificates carry no floats.
pub fn canonical(value: &serde_json::Value) -> Result<String, CertificateError> {
    let mut out = String::new();
    write_canonical(value, &mut out)?;
    Ok(out)
}

fn write_canonical(value: &serde_json::Value, out: &mut String) -> Result<(), CertificateError> {
    use serde_json::Value;
    let string = |s: &str| serde_json::to_string(s).map_err(|e| CertificateError::Malformed(e.to_string()));
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) if n.is_i64() || n.is_u64() => out.push_str(&n.to_string()),
        Value::Number(_) => return Err(CertificateError::NonInteger),
        Value::String(s) => out.push_str(&string(s)?),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&string(key)?);
                out.push(':');
                write_canonical(&map[key.as_str()], out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// Short identifier of a public key, printed beside it and in every certificate.
pub fn key_id(key: &VerifyingKey) -> String {
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    digest[..16].to_owned()
}

/// The public key as `muster-collector certificate public-key` prints it: `ed25519:<64 hex digits>`.
pub fn public_key_text(key: &VerifyingKey) -> String {
    format!("{ALGORITHM}:{}", hex::encode(key.as_bytes()))
}

/// Reads a public key as printed by [`public_key_text`] (the `ed25519:` prefix is optional).
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, CertificateError> {
    let text = text.trim();
    let hex_part = text.strip_prefix("ed25519:").unwrap_or(text);
    let bytes: [u8; 32] = hex::decode(hex_part)
        .map_err(|e| CertificateError::PublicKey(e.to_string()))?
        .try_into()
        .map_err(|_| CertificateError::PublicKey("expected 32 bytes (64 hex digits)".to_owned()))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| CertificateError::PublicKey(e.to_string()))
}

/// Signs `payload` with `key`.
pub fn sign(payload: CertificatePayload, key: &SigningKey) -> Result<SignedCertificate, CertificateError> {
    let value = serde_json::to_value(&payload).map_err(|e| CertificateError::Malformed(e.to_string()))?;
    let signature = key.sign(canonical(&value)?.as_bytes());
    let public = key.verifying_key();
    Ok(SignedCertificate {
        certificate: payload,
        signature: CertificateSignature {
            algorithm: ALGORITHM.to_owned(),
            key_id: key_id(&public),
            public_key: hex::encode(public.as_bytes()),
            value: hex::encode(signature.to_bytes()),
        },
    })
}

/// Checks a certificate document (as downloaded) against the key the checker trusts, and returns its payload.
pub fn verify(document: &str, trusted: &VerifyingKey) -> Result<CertificatePayload, CertificateError> {
    let value: serde_json::Value =
        serde_json::from_str(document).map_err(|e| CertificateError::Malformed(e.to_string()))?;
    let payload = value.get("certificate").ok_or_else(|| CertificateError::Malformed("no `certificate`".into()))?;
    let signature: CertificateSignature = value
        .get("signature")
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| CertificateError::Malformed(format!("signature: {e}")))?
        .ok_or_else(|| CertificateError::Malformed("no `signature`".into()))?;
    if signature.algorithm != ALGORITHM {
        return Err(CertificateError::Algorithm(signature.algorithm));
    }
    let trusted_id = key_id(trusted);
    if !signature.public_key.eq_ignore_ascii_case(&hex::encode(trusted.as_bytes())) {
        return Err(CertificateError::OtherKey { found: signature.key_id, trusted: trusted_id });
    }
    let bytes: [u8; 64] =
        hex::decode(&signature.value).ok().and_then(|b| b.try_into().ok()).ok_or(CertificateError::BadSignature)?;
    trusted
        .verify_strict(canonical(payload)?.as_bytes(), &Signature::from_bytes(&bytes))
        .map_err(|_| CertificateError::BadSignature)?;
    serde_json::from_value(payload.clone()).map_err(|e| CertificateError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_sorts_keys_and_escapes_like_rfc_8785() {
        let v = json!({ "b": [1, "é\u{1}\"", null], "a": { "z": true, "\u{20ac}": 0, "y": -3 } });
        assert_eq!(canonical(&v).unwrap(), r#"{"a":{"y":-3,"z":true,"€":0},"b":[1,"é\u0001\"",null]}"#);
        assert!(matches!(canonical(&json!({ "x": 1.5 })), Err(CertificateError::NonInteger)));
    }

    #[test]
    fn public_keys_round_trip() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let text = public_key_text(&key.verifying_key());
        assert_eq!(parse_public_key(&text).unwrap(), key.verifying_key());
        assert!(parse_public_key("ed25519:abcd").is_err());
    }
}
