//! The checks over bytes read from a medium: does each 4 KiB block hold what the wipe should have left, and which
//! signatures remain. Pure: callers feed buffers with their medium offsets, in ascending order.

use std::sync::LazyLock;

use muster_shared::v1::{Expectation, Finding, FindingKind, MAX_FINDINGS_PER_MEDIUM};

use super::signatures::{self, SignatureHit};

/// The unit of the expectation checks and of the entropy measure.
pub const BLOCK: usize = 4096;

/// Below this many bits per byte a 4 KiB block is not random: uniformly random 4 KiB blocks measure about 7.955
/// (the finite-sample bias is 255 / (2·4096·ln 2) ≈ 0.045), text about 4.5, machine code about 6.
pub const DEFAULT_MIN_ENTROPY: f64 = 7.5;

/// What the medium should hold, ready for fast comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    Zero,
    /// A byte pattern repeated from offset 0 of the medium.
    Pattern(Vec<u8>),
    Random {
        min_entropy: f64,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExpectError {
    #[error("`{0}`: expected zero, random or pattern:HEX (e.g. pattern:ff or pattern:deadbeef)")]
    Unknown(String),
    #[error("pattern `{0}`: not an even number of hex digits, or empty")]
    BadPattern(String),
    #[error("pattern of {0} bytes: at most 4096")]
    PatternTooLong(usize),
}

impl Expect {
    /// Parses `zero`, `random` or `pattern:HEX`.
    pub fn parse(text: &str) -> Result<Expect, ExpectError> {
        match text.trim() {
            "zero" | "zeros" => Ok(Expect::Zero),
            "random" => Ok(Expect::Random { min_entropy: DEFAULT_MIN_ENTROPY }),
            other => {
                let hex_text = other.strip_prefix("pattern:").ok_or_else(|| ExpectError::Unknown(other.to_string()))?;
                let bytes = hex::decode(hex_text).map_err(|_| ExpectError::BadPattern(hex_text.to_string()))?;
                if bytes.is_empty() {
                    return Err(ExpectError::BadPattern(hex_text.to_string()));
                }
                if bytes.len() > BLOCK {
                    return Err(ExpectError::PatternTooLong(bytes.len()));
                }
                // A pattern of one repeated zero byte is the zero expectation, checked the fast way.
                if bytes.iter().all(|b| *b == 0) { Ok(Expect::Zero) } else { Ok(Expect::Pattern(bytes)) }
            }
        }
    }

    pub fn to_wire(&self) -> Expectation {
        match self {
            Expect::Zero => Expectation::Zero,
            Expect::Pattern(bytes) => Expectation::Pattern { hex: hex::encode(bytes) },
            Expect::Random { min_entropy } => Expectation::Random { min_entropy_bits_per_byte: *min_entropy },
        }
    }
}

/// Accumulates findings over the buffers of one medium.
#[derive(Debug)]
pub struct Checker {
    expect: Expect,
    /// For `Pattern`: the pattern repeated to cover a block at any phase.
    tiled: Vec<u8>,
    findings: Vec<Finding>,
    findings_total: u64,
    /// The run of unexpected blocks still growing: start, end, lowest entropy seen.
    open_run: Option<Run>,
    blocks: u64,
    bytes: u64,
    /// The last [`signatures::LOOK_BEHIND`] bytes checked, ending at `behind_end`: a signature whose magic is in the
    /// next buffer may have its structure here (swap's version sits 3 KiB before its magic).
    behind: Vec<u8>,
    behind_end: u64,
}

#[derive(Debug, Clone, Copy)]
struct Run {
    start: u64,
    end: u64,
    min_entropy: Option<f64>,
}

/// What a checker concluded.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// In medium order, at most [`MAX_FINDINGS_PER_MEDIUM`].
    pub findings: Vec<Finding>,
    pub findings_total: u64,
    pub blocks_read: u64,
    pub bytes_read: u64,
}

impl Checker {
    pub fn new(expect: Expect) -> Checker {
        let tiled = match &expect {
            Expect::Pattern(p) => p.iter().copied().cycle().take(BLOCK + p.len()).collect(),
            _ => Vec::new(),
        };
        Checker {
            expect,
            tiled,
            findings: Vec::new(),
            findings_total: 0,
            open_run: None,
            blocks: 0,
            bytes: 0,
            behind: Vec::with_capacity(signatures::LOOK_BEHIND),
            behind_end: 0,
        }
    }

    /// Checks `data`, the medium's bytes from `offset` (a multiple of [`BLOCK`]); later calls have later offsets.
    pub fn check(&mut self, offset: u64, data: &[u8]) {
        self.blocks += data.len().div_ceil(BLOCK) as u64;
        self.bytes += data.len() as u64;
        let random = matches!(self.expect, Expect::Random { .. });
        // Zero and pattern: a conforming buffer cannot hold a signature (every magic has bytes the expectation
        // lacks), so the common case is one fast comparison.
        if !random && self.conforms_fast(offset, data) {
            self.close_run();
            self.keep_behind(offset, data);
            return;
        }
        let mut signature_hits = self.signatures(offset, data);
        self.keep_behind(offset, data);
        for (index, block) in data.chunks(BLOCK).enumerate() {
            let at = offset + (index * BLOCK) as u64;
            match self.block_verdict(at, block) {
                Verdict::Conforms => self.close_run(),
                Verdict::Unexpected { entropy } => self.extend_run(at, block.len() as u64, entropy),
            }
            // Signatures go out in order with the runs: those inside this block after the run that holds them.
            let end = at + block.len() as u64;
            let (now, later): (Vec<SignatureHit>, Vec<SignatureHit>) =
                signature_hits.into_iter().partition(|h| h.offset < end);
            for hit in now {
                self.push(signature_finding(&hit));
            }
            signature_hits = later;
        }
    }

    /// Signatures whose magic is in `data`, their structure read from the bytes before it where those came just
    /// before (the previous buffer of a full read or of one long segment).
    fn signatures(&self, offset: u64, data: &[u8]) -> Vec<SignatureHit> {
        if self.behind.is_empty() || self.behind_end != offset {
            return signatures::scan(data, offset);
        }
        let mut joined = Vec::with_capacity(self.behind.len() + data.len());
        joined.extend_from_slice(&self.behind);
        joined.extend_from_slice(data);
        let mut hits = signatures::scan(&joined, offset - self.behind.len() as u64);
        // Those with their magic in the earlier bytes were reported with that buffer.
        hits.retain(|hit| hit.offset >= offset);
        hits
    }

    fn keep_behind(&mut self, offset: u64, data: &[u8]) {
        if self.behind_end != offset {
            self.behind.clear();
        }
        let keep = signatures::LOOK_BEHIND;
        if data.len() >= keep {
            self.behind.clear();
            self.behind.extend_from_slice(&data[data.len() - keep..]);
        } else {
            self.behind.extend_from_slice(data);
            let excess = self.behind.len().saturating_sub(keep);
            self.behind.drain(..excess);
        }
        self.behind_end = offset + data.len() as u64;
    }

    /// Ends the medium: closes the last run.
    pub fn finish(mut self) -> Outcome {
        if let Some(run) = self.open_run.take() {
            self.push_run(run);
        }
        let mut findings = self.findings;
        findings.sort_by_key(|f| f.offset);
        Outcome { findings, findings_total: self.findings_total, blocks_read: self.blocks, bytes_read: self.bytes }
    }

    fn conforms_fast(&self, offset: u64, data: &[u8]) -> bool {
        match &self.expect {
            Expect::Zero => is_zero(data),
            Expect::Pattern(p) => data.chunks(BLOCK).enumerate().all(|(i, block)| {
                let phase = ((offset + (i * BLOCK) as u64) % p.len() as u64) as usize;
                self.tiled.get(phase..phase + block.len()) == Some(block)
            }),
            Expect::Random { .. } => false,
        }
    }

    fn block_verdict(&self, at: u64, block: &[u8]) -> Verdict {
        let conforms = match &self.expect {
            Expect::Zero => is_zero(block),
            Expect::Pattern(p) => {
                let phase = (at % p.len() as u64) as usize;
                self.tiled.get(phase..phase + block.len()) == Some(block)
            }
            Expect::Random { min_entropy } => {
                let entropy = shannon_entropy(block);
                if entropy >= threshold_for(*min_entropy, block.len()) {
                    true
                } else {
                    return Verdict::Unexpected { entropy: Some(entropy) };
                }
            }
        };
        if conforms { Verdict::Conforms } else { Verdict::Unexpected { entropy: None } }
    }

    fn extend_run(&mut self, at: u64, len: u64, entropy: Option<f64>) {
        let lowest = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match &mut self.open_run {
            Some(run) if run.end == at => {
                run.end = at + len;
                run.min_entropy = lowest(run.min_entropy, entropy);
            }
            _ => {
                if let Some(run) = self.open_run.take() {
                    self.push_run(run);
                }
                self.open_run = Some(Run { start: at, end: at + len, min_entropy: entropy });
            }
        }
    }

    fn close_run(&mut self) {
        if let Some(run) = self.open_run.take() {
            self.push_run(run);
        }
    }

    fn push_run(&mut self, run: Run) {
        let what = match &self.expect {
            Expect::Zero => "not zero".to_string(),
            Expect::Pattern(p) => format!("not the pattern {}", hex::encode(p)),
            Expect::Random { min_entropy } => format!(
                "low-entropy data (lowest {:.2} bits/byte, random data needs {min_entropy:.2})",
                run.min_entropy.unwrap_or(0.0)
            ),
        };
        self.push(Finding {
            offset: run.start,
            length: run.end - run.start,
            kind: FindingKind::UnexpectedData,
            signature: None,
            entropy_bits_per_byte: run.min_entropy.map(|e| (e * 1000.0).round() / 1000.0),
            detail: format!("{} bytes at offset {}: {what}", run.end - run.start, run.start),
        });
    }

    fn push(&mut self, finding: Finding) {
        self.findings_total += 1;
        if self.findings.len() < MAX_FINDINGS_PER_MEDIUM {
            self.findings.push(finding);
        }
    }
}

enum Verdict {
    Conforms,
    Unexpected { entropy: Option<f64> },
}

fn signature_finding(hit: &SignatureHit) -> Finding {
    let kind = if hit.encrypted { FindingKind::EncryptedHeader } else { FindingKind::Signature };
    let detail = if hit.encrypted {
        format!("{} {} at offset {}: encrypted, not sanitized", hit.name, hit.what, hit.offset)
    } else {
        format!("{} {} at offset {} (volume starts at {})", hit.name, hit.what, hit.offset, hit.volume_start)
    };
    Finding {
        offset: hit.offset,
        length: hit.length,
        kind,
        signature: Some(hit.name.to_string()),
        entropy_bits_per_byte: None,
        detail,
    }
}

/// True when every byte is zero. A byte-wise OR over each 4 KiB block is what LLVM vectorises best (full-width
/// SIMD ORs, no bounds checks); stopping per block keeps a non-zero medium from being scanned to the end.
pub fn is_zero(data: &[u8]) -> bool {
    data.chunks(BLOCK).all(|block| block.iter().fold(0u8, |acc, b| acc | b) == 0)
}

/// Shannon entropy of `data` in bits per byte (0 for empty input).
pub fn shannon_entropy(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    // Four histograms break the store-to-load dependency when neighbouring bytes repeat.
    let mut counts = [[0u32; 256]; 4];
    let quads = data.chunks_exact(4);
    let rest = quads.remainder();
    for q in quads {
        counts[0][usize::from(q[0])] += 1;
        counts[1][usize::from(q[1])] += 1;
        counts[2][usize::from(q[2])] += 1;
        counts[3][usize::from(q[3])] += 1;
    }
    for b in rest {
        counts[0][usize::from(*b)] += 1;
    }
    let n = data.len() as f64;
    let sum_c_log_c: f64 = (0..256)
        .map(|i| counts[0][i] + counts[1][i] + counts[2][i] + counts[3][i])
        .filter(|c| *c > 0)
        .map(|c| c_log2_c(c as usize))
        .sum();
    n.log2() - sum_c_log_c / n
}

fn c_log2_c(c: usize) -> f64 {
    static TABLE: LazyLock<Vec<f64>> =
        LazyLock::new(|| (0..=BLOCK).map(|c| if c == 0 { 0.0 } else { c as f64 * (c as f64).log2() }).collect());
    TABLE.get(c).copied().unwrap_or_else(|| c as f64 * (c as f64).log2())
}

/// The entropy threshold for a block shorter than 4 KiB: random data measures lower on fewer bytes, by the
/// estimator's bias 255 / (2 n ln 2), so the threshold drops by the difference.
fn threshold_for(min_entropy: f64, len: usize) -> f64 {
    if len >= BLOCK {
        return min_entropy;
    }
    let bias = |n: f64| 255.0 / (2.0 * n * std::f64::consts::LN_2);
    min_entropy - (bias(len.max(1) as f64) - bias(BLOCK as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_of_known_distributions() {
        assert_eq!(shannon_entropy(&[]), 0.0);
        assert_eq!(shannon_entropy(&[0u8; 4096]), 0.0);
        // Every byte value equally often: exactly 8 bits.
        let uniform: Vec<u8> = (0..4096).map(|i| (i % 256) as u8).collect();
        assert!((shannon_entropy(&uniform) - 8.0).abs() < 1e-12);
        // Two values half and half: exactly 1 bit.
        let two: Vec<u8> = (0..4096).map(|i| if i % 2 == 0 { b'a' } else { b'b' }).collect();
        assert!((shannon_entropy(&two) - 1.0).abs() < 1e-12);
        let text: Vec<u8> =
            b"The quick brown fox jumps over the lazy dog. ".iter().copied().cycle().take(4096).collect();
        assert!(shannon_entropy(&text) < 5.0);
    }

    #[test]
    fn expectations_parse() {
        assert_eq!(Expect::parse("zero"), Ok(Expect::Zero));
        assert_eq!(Expect::parse("pattern:00"), Ok(Expect::Zero));
        assert_eq!(Expect::parse("pattern:DEADbeef"), Ok(Expect::Pattern(vec![0xde, 0xad, 0xbe, 0xef])));
        assert_eq!(Expect::parse("random"), Ok(Expect::Random { min_entropy: DEFAULT_MIN_ENTROPY }));
        assert!(matches!(Expect::parse("pattern:f"), Err(ExpectError::BadPattern(_))));
        assert!(matches!(Expect::parse("pattern:"), Err(ExpectError::BadPattern(_))));
        assert!(matches!(Expect::parse("ones"), Err(ExpectError::Unknown(_))));
    }

    #[test]
    fn pattern_is_aligned_to_the_medium_and_runs_merge() {
        let pattern = [0xde, 0xad, 0xbe];
        let medium: Vec<u8> = pattern.iter().copied().cycle().take(5 * BLOCK).collect();
        let mut checker = Checker::new(Expect::Pattern(pattern.to_vec()));
        // Read in two pieces that do not start at a multiple of the pattern length.
        checker.check(0, &medium[..2 * BLOCK]);
        let mut rest = medium[2 * BLOCK..].to_vec();
        rest[BLOCK + 7] = 0; // block 3
        rest[2 * BLOCK] = 0; // block 4
        checker.check(2 * BLOCK as u64, &rest);
        let outcome = checker.finish();
        assert_eq!(outcome.findings_total, 1);
        assert_eq!((outcome.findings[0].offset, outcome.findings[0].length), (3 * BLOCK as u64, 2 * BLOCK as u64));
        assert_eq!(outcome.findings[0].detail, "8192 bytes at offset 12288: not the pattern deadbe");
        assert_eq!((outcome.blocks_read, outcome.bytes_read), (5, 5 * BLOCK as u64));
    }

    #[test]
    fn findings_are_capped_but_counted() {
        let mut checker = Checker::new(Expect::Zero);
        let mut data = vec![0u8; 4000 * BLOCK];
        for block in data.chunks_mut(2 * BLOCK) {
            block[0] = 1;
        }
        checker.check(0, &data);
        let outcome = checker.finish();
        assert_eq!(outcome.findings_total, 2000);
        assert_eq!(outcome.findings.len(), MAX_FINDINGS_PER_MEDIUM);
    }

    /// A swap header (version 1 at 1024, magic at 4086) read in 512-byte pieces is found once, at its magic; after a
    /// gap in the reads the bytes before the gap are not taken as its structure.
    #[test]
    fn signatures_see_the_bytes_of_earlier_buffers_but_not_across_a_gap() {
        let mut medium = vec![0u8; 3 * BLOCK];
        medium[1024] = 1;
        medium[4086..4096].copy_from_slice(b"SWAPSPACE2");
        let swap_hits = |outcome: Outcome| -> Vec<(Option<String>, u64)> {
            outcome.findings.into_iter().filter(|f| f.signature.is_some()).map(|f| (f.signature, f.offset)).collect()
        };
        let mut checker = Checker::new(Expect::Zero);
        for (index, piece) in medium.chunks(512).enumerate() {
            checker.check(index as u64 * 512, piece);
        }
        assert_eq!(swap_hits(checker.finish()), [(Some("swap".to_string()), 4086)]);

        let mut checker = Checker::new(Expect::Zero);
        checker.check(0, &medium[..2048]);
        checker.check(2560, &medium[2560..]);
        assert_eq!(swap_hits(checker.finish()), []);
    }

    #[test]
    fn is_zero_sees_any_byte() {
        let mut data = vec![0u8; 3 * BLOCK + 17];
        assert!(is_zero(&data));
        for at in [0, 15, 16, BLOCK, 3 * BLOCK + 16] {
            data[at] = 0x80;
            assert!(!is_zero(&data), "{at}");
            data[at] = 0;
        }
    }
}
