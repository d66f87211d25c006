//! Turning a report request body into a validated envelope: decompression capped while it runs, then the limit
//! scan, then typed parsing. Nothing here touches the database.

use std::io::Read;

use muster_shared::v1::{ReportEnvelope, SCHEMA};

use super::limits::{self, LimitHit, ScanError};
use crate::config::Limits;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    Zstd,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unsupported content encoding {0:?} (use gzip, zstd or none)")]
    UnsupportedEncoding(String),
    #[error("{limit} exceeded")]
    TooLarge { limit: &'static str },
    #[error("{limit} exceeded")]
    OverLimit { limit: &'static str },
    #[error("the compressed body is corrupt: {0}")]
    Corrupt(std::io::Error),
    #[error("the body is not a valid report envelope: {0}")]
    Invalid(String),
}

/// Largest zstd window accepted (16 MiB): a frame may otherwise ask for 128 MiB of decoder memory per request.
const ZSTD_WINDOW_LOG_MAX: u32 = 24;

pub fn parse_encoding(header: Option<&str>) -> Result<Encoding, DecodeError> {
    match header.map(|h| h.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("identity") => Ok(Encoding::Identity),
        Some("gzip") | Some("x-gzip") => Ok(Encoding::Gzip),
        Some("zstd") => Ok(Encoding::Zstd),
        Some(other) => Err(DecodeError::UnsupportedEncoding(other.to_owned())),
    }
}

/// Decompresses `body`, stopping as soon as the output would pass `max` bytes.
pub fn decompress(body: &[u8], encoding: Encoding, max: usize) -> Result<Vec<u8>, DecodeError> {
    let too_large = DecodeError::TooLarge { limit: "max_decompressed_bytes" };
    let reader: Box<dyn Read + '_> = match encoding {
        Encoding::Identity => {
            return if body.len() > max { Err(too_large) } else { Ok(body.to_vec()) };
        }
        Encoding::Gzip => Box::new(flate2::read::MultiGzDecoder::new(body)),
        Encoding::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::new(body).map_err(DecodeError::Corrupt)?;
            decoder.window_log_max(ZSTD_WINDOW_LOG_MAX).map_err(DecodeError::Corrupt)?;
            Box::new(decoder)
        }
    };
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(max));
    let cap = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(cap).read_to_end(&mut out).map_err(DecodeError::Corrupt)?;
    if out.len() > max {
        return Err(too_large);
    }
    Ok(out)
}

/// Decodes and validates a report body.
pub fn decode_envelope(body: &[u8], encoding: Encoding, limits: &Limits) -> Result<ReportEnvelope, DecodeError> {
    let json = decompress(body, encoding, limits.max_decompressed_bytes)?;
    match limits::check(&json, limits) {
        Ok(()) => {}
        Err(ScanError::Limit(hit)) => return Err(DecodeError::OverLimit { limit: hit.name() }),
        Err(ScanError::Json(e)) => return Err(DecodeError::Invalid(e.to_string())),
    }
    let envelope: ReportEnvelope = serde_json::from_slice(&json).map_err(|e| DecodeError::Invalid(e.to_string()))?;
    if envelope.report.schema != SCHEMA {
        return Err(DecodeError::Invalid(format!(
            "unsupported schema {:?}, expected {SCHEMA:?}",
            envelope.report.schema
        )));
    }
    let id = envelope.report_id.as_str();
    if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(DecodeError::Invalid("report_id must be 1 to 128 printable ASCII characters".to_owned()));
    }
    if let Some(name) = envelope.report.host.as_ref().and_then(|h| h.hostname.as_deref()) {
        crate::identity::hostname(name).map_err(DecodeError::Invalid)?;
    }
    if envelope.report.software.as_ref().is_some_and(|s| s.packages.len() > limits.max_packages) {
        return Err(DecodeError::OverLimit { limit: LimitHit::Packages.name() });
    }
    Ok(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn encodings() {
        assert_eq!(parse_encoding(None).unwrap(), Encoding::Identity);
        assert_eq!(parse_encoding(Some("ZSTD")).unwrap(), Encoding::Zstd);
        assert_eq!(parse_encoding(Some("gzip")).unwrap(), Encoding::Gzip);
        assert!(matches!(parse_encoding(Some("br")), Err(DecodeError::UnsupportedEncoding(_))));
    }

    #[test]
    fn bombs_stop_at_the_cap() {
        let zeros = vec![0u8; 8 << 20];
        let bomb = zstd::encode_all(zeros.as_slice(), 19).unwrap();
        assert!(bomb.len() < 4096);
        assert!(matches!(decompress(&bomb, Encoding::Zstd, 1 << 20), Err(DecodeError::TooLarge { .. })));
        assert_eq!(decompress(&bomb, Encoding::Zstd, 8 << 20).unwrap().len(), 8 << 20);

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&zeros).unwrap();
        let gz = gz.finish().unwrap();
        assert!(matches!(decompress(&gz, Encoding::Gzip, 1 << 20), Err(DecodeError::TooLarge { .. })));
    }

    #[test]
    fn corrupt_streams_are_errors() {
        assert!(matches!(decompress(b"not zstd at all", Encoding::Zstd, 1 << 20), Err(DecodeError::Corrupt(_))));
        assert!(matches!(decompress(b"not gzip at all", Encoding::Gzip, 1 << 20), Err(DecodeError::Corrupt(_))));
    }
}
