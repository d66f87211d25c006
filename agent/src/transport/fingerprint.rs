//! SHA-256 certificate fingerprints as operators copy them around: parsed leniently, compared exactly.

use std::fmt;

use sha2::{Digest, Sha256};

/// The SHA-256 digest of a certificate's DER encoding, the value `muster-collector ca show` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

/// Why a `--ca-fingerprint` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FingerprintError {
    #[error("a SHA-256 fingerprint has 64 hex digits (32 bytes), this one has {0}")]
    WrongLength(usize),
    #[error("`{0}` is not a hex digit")]
    NotHex(char),
    #[error("colons must separate every pair of hex digits (AB:CD:…) or be left out entirely")]
    BadSeparators,
}

impl Fingerprint {
    /// The fingerprint of a DER-encoded certificate.
    pub fn of_der(der: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(der).into())
    }

    /// Accepts `AB:CD:…`, `abcd…` and either with a `sha256:`/`SHA256:` prefix, in any case, with surrounding
    /// whitespace. Colons, when present, must sit between every pair of digits: a half-grouped value is more likely
    /// a copy-paste accident than a fingerprint.
    pub fn parse(text: &str) -> Result<Fingerprint, FingerprintError> {
        let text = text.trim();
        let text = match text.get(..7) {
            Some(prefix) if prefix.eq_ignore_ascii_case("sha256:") => &text[7..],
            _ => text,
        };
        let digits: String = if text.contains(':') {
            let groups: Vec<&str> = text.split(':').collect();
            if groups.iter().any(|g| g.chars().count() != 2) {
                return Err(FingerprintError::BadSeparators);
            }
            groups.concat()
        } else {
            text.to_string()
        };
        if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(FingerprintError::NotHex(bad));
        }
        if digits.len() != 64 {
            return Err(FingerprintError::WrongLength(digits.len()));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&digits, &mut bytes).map_err(|_| FingerprintError::WrongLength(digits.len()))?;
        Ok(Fingerprint(bytes))
    }

    /// Lower-case hex without separators.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Lower-case hex without separators, the form `muster-collector` prints, so operators can compare by eye.
impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn accepts_the_usual_spellings() {
        let expected = Fingerprint::parse(HEX).unwrap();
        let colons = "9F:86:D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:15:B0:F0:0A:08";
        for text in [
            colons,
            &colons.to_lowercase(),
            &HEX.to_uppercase(),
            &format!("  sha256:{HEX}\n"),
            &format!("SHA256:{colons}"),
        ] {
            assert_eq!(Fingerprint::parse(text), Ok(expected), "{text}");
        }
        assert_eq!(expected.to_hex(), HEX);
        assert_eq!(expected.to_string(), HEX);
        // SHA-256 of "test", a known vector.
        assert_eq!(Fingerprint::of_der(b"test"), expected);
    }

    #[test]
    fn refuses_what_is_not_a_fingerprint() {
        assert_eq!(Fingerprint::parse(&HEX[..62]), Err(FingerprintError::WrongLength(62)));
        assert_eq!(Fingerprint::parse(&format!("{HEX}00")), Err(FingerprintError::WrongLength(66)));
        assert_eq!(Fingerprint::parse(&HEX.replace('f', "g")), Err(FingerprintError::NotHex('g')));
        assert_eq!(Fingerprint::parse("9F:86D0:81"), Err(FingerprintError::BadSeparators));
        assert_eq!(Fingerprint::parse(""), Err(FingerprintError::WrongLength(0)));
        assert_eq!(Fingerprint::parse("é"), Err(FingerprintError::NotHex('é')));
    }
}
