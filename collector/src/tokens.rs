//! Bearer secrets: generation (256-bit, from the OS random source), and the SHA-256 hashes that are all we store.

use rand::TryRngCore;
use sha2::{Digest, Sha256};

use crate::config::Secret;

/// Prefixes tell a leaked string's kind at a glance (and let secret scanners match them).
pub const HOST_TOKEN_PREFIX: &str = "mht_";
pub const API_TOKEN_PREFIX: &str = "mat_";
pub const ENROLL_SECRET_PREFIX: &str = "mes_";

#[derive(Debug, thiserror::Error)]
#[error("the operating system random source failed: {0}")]
pub struct RandomError(String);

fn random_hex<const N: usize>() -> Result<String, RandomError> {
    Ok(hex::encode(random_bytes::<N>()?))
}

/// Random bytes from the OS random source (signing secrets).
pub fn random_bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng.try_fill_bytes(&mut bytes).map_err(|e| RandomError(e.to_string()))?;
    Ok(bytes)
}

/// A new 256-bit bearer secret with `prefix`.
pub fn generate(prefix: &str) -> Result<Secret, RandomError> {
    Ok(Secret::new(format!("{prefix}{}", random_hex::<32>()?)))
}

/// A random 128-bit identifier (hex) for hosts, tokens and secrets.
pub fn new_id() -> Result<String, RandomError> {
    random_hex::<16>()
}

/// What the database keeps of a secret.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hash_stably() {
        let a = generate(HOST_TOKEN_PREFIX).unwrap();
        let b = generate(HOST_TOKEN_PREFIX).unwrap();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 4 + 64);
        assert_eq!(hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(new_id().unwrap().len(), 32);
    }
}
