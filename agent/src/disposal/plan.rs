//! Where sample mode reads: NIST SP 800-88's pseudorandom subsections, stratified over the medium so they cover
//! its whole range, plus the first and last blocks; and the chance such a sample meets a contaminated region.
//!
//! The generator is SplitMix64, written out here rather than taken from `rand`, whose `StdRng` may change between
//! releases: a seed recorded in a result must select the same places with any later version of the tool.

use super::check::BLOCK;

/// NIST's minimum number of subsections.
pub const MIN_SUBSECTIONS: u64 = 1000;
/// Largest subsection: large enough to read fast, small enough to spread the sample.
pub const MAX_SUBSECTION: u64 = 1 << 20;

/// One contiguous read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub offset: u64,
    pub len: u64,
}

/// The reads of one sample, sorted, disjoint, within the medium.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub segments: Vec<Segment>,
    /// The size chosen for each random subsection.
    pub subsection_bytes: u64,
    pub medium_bytes: u64,
}

/// SplitMix64 (Steele, Lea and Flood 2014; Vigna's reference `splitmix64.c`).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (`bound` > 0), by Lemire's multiply-shift with rejection.
    pub fn below(&mut self, bound: u64) -> u64 {
        let threshold = bound.wrapping_neg() % bound;
        loop {
            let product = u128::from(self.next_u64()) * u128::from(bound);
            if (product as u64) >= threshold {
                return (product >> 64) as u64;
            }
        }
    }
}

/// Chooses the reads for `medium_bytes` covering `coverage_percent` (0–100] from `seed`.
///
/// The medium is cut into as many equal strata as subsections; one subsection is placed at a random 4 KiB-aligned
/// spot inside each stratum, so every part of the medium is sampled at the same density.
pub fn sample(medium_bytes: u64, coverage_percent: f64, seed: u64) -> Plan {
    let block = BLOCK as u64;
    let total_blocks = medium_bytes.div_ceil(block);
    let wanted_bytes = (medium_bytes as f64 * coverage_percent.clamp(0.0, 100.0) / 100.0).ceil() as u64;
    let subsection_blocks = (wanted_bytes / MIN_SUBSECTIONS / block).clamp(1, MAX_SUBSECTION / block);
    let count = wanted_bytes.div_ceil(subsection_blocks * block).max(MIN_SUBSECTIONS);
    let subsection_bytes = subsection_blocks * block;
    if total_blocks == 0 {
        return Plan { segments: Vec::new(), subsection_bytes, medium_bytes };
    }
    if count.saturating_mul(subsection_blocks) >= total_blocks {
        // Asking for this much of a small medium means reading all of it.
        let segments = vec![Segment { offset: 0, len: medium_bytes }];
        return Plan { segments, subsection_bytes, medium_bytes };
    }
    let mut rng = SplitMix64::new(seed);
    let mut starts: Vec<u64> = Vec::with_capacity(count as usize + 2);
    for i in 0..count {
        let lo = stratum_edge(total_blocks, count, i);
        let hi = stratum_edge(total_blocks, count, i + 1);
        // hi - lo >= subsection_blocks because count * subsection_blocks < total_blocks.
        let slots = (hi - lo).saturating_sub(subsection_blocks) + 1;
        starts.push(lo + rng.below(slots));
    }
    let mut blocks: Vec<(u64, u64)> = starts.into_iter().map(|s| (s, s + subsection_blocks)).collect();
    blocks.push((0, 1));
    blocks.push((total_blocks - 1, total_blocks));
    blocks.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(blocks.len());
    for (start, end) in blocks {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    let segments = merged
        .into_iter()
        .map(|(start, end)| {
            let offset = start * block;
            Segment { offset, len: (end * block).min(medium_bytes) - offset }
        })
        .collect();
    Plan { segments, subsection_bytes, medium_bytes }
}

fn stratum_edge(total_blocks: u64, count: u64, i: u64) -> u64 {
    (u128::from(total_blocks) * u128::from(i) / u128::from(count)) as u64
}

impl Plan {
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.len).sum()
    }

    /// Subsections read, the first and last blocks included (touching ones counted once).
    pub fn subsections(&self) -> u64 {
        self.segments.len() as u64
    }

    /// The chance that a contaminated region of `region_bytes`, placed anywhere on the medium, shares at least
    /// one 4 KiB block with this sample. Exact for this plan, counting the region as the fewest blocks it can
    /// span (ceil(size / 4 KiB)), which makes the figure a lower bound.
    pub fn detection_probability(&self, region_bytes: u64) -> f64 {
        let block = BLOCK as u64;
        let total_blocks = self.medium_bytes.div_ceil(block);
        let region_blocks = region_bytes.div_ceil(block).max(1);
        if region_blocks >= total_blocks {
            return if self.segments.is_empty() { 0.0 } else { 1.0 };
        }
        let placements = total_blocks - region_blocks + 1;
        // A region starting at block x is met by segment [s, e) when x ∈ [s - region_blocks + 1, e - 1].
        let mut hit = 0u64;
        let mut covered_to = 0u64;
        for seg in &self.segments {
            let s = seg.offset / block;
            let e = (seg.offset + seg.len).div_ceil(block);
            let lo = (s + 1).saturating_sub(region_blocks).max(covered_to);
            let hi = e.min(placements);
            if hi > lo {
                hit += hi - lo;
                covered_to = hi;
            }
        }
        hit as f64 / placements as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// First outputs of Vigna's splitmix64.c seeded with 1234567, as its test harness prints them.
    #[test]
    fn splitmix_matches_the_reference() {
        let mut rng = SplitMix64::new(1_234_567);
        let got: Vec<u64> = (0..5).map(|_| rng.next_u64()).collect();
        assert_eq!(
            got,
            [
                6_457_827_717_110_365_317,
                3_203_168_211_198_807_973,
                9_817_491_932_198_370_423,
                4_593_380_528_125_082_431,
                16_408_922_859_458_223_821,
            ]
        );
    }

    #[test]
    fn sample_is_stratified_reproducible_and_covers_the_share() {
        let size = 10 * (1u64 << 30) + 512; // 10 GiB and a sector: the last block is partial
        let plan = sample(size, 10.0, 42);
        assert_eq!(plan, sample(size, 10.0, 42));
        assert_ne!(plan, sample(size, 10.0, 43));
        assert_eq!(plan.subsection_bytes, 1 << 20);
        assert!(plan.subsections() >= MIN_SUBSECTIONS);
        let share = plan.bytes() as f64 / size as f64;
        assert!((0.10..0.1003).contains(&share), "{share}");
        let first = plan.segments[0];
        assert_eq!(first.offset, 0);
        let last = plan.segments[plan.segments.len() - 1];
        assert_eq!(last.offset + last.len, size);
        // Stratified: every tenth of the medium holds a tenth of the sample, give or take one subsection.
        for tenth in 0..10 {
            let (lo, hi) = (size / 10 * tenth, size / 10 * (tenth + 1));
            let inside: u64 = plan.segments.iter().filter(|s| s.offset >= lo && s.offset < hi).map(|s| s.len).sum();
            let expected = plan.bytes() / 10;
            assert!(inside.abs_diff(expected) <= 3 << 20, "tenth {tenth}: {inside} vs {expected}");
        }
        for pair in plan.segments.windows(2) {
            assert!(pair[0].offset + pair[0].len < pair[1].offset, "sorted and disjoint");
        }
    }

    #[test]
    fn small_media_get_a_thousand_single_blocks_or_a_full_read() {
        let plan = sample(64 << 20, 10.0, 7); // 16384 blocks, 10% = 1639 blocks, 1639 subsections of 4 KiB
        assert_eq!(plan.subsection_bytes, 4096);
        assert!(plan.subsections() >= 1000);
        let whole = sample(2 << 20, 10.0, 7); // 512 blocks < 1000 subsections
        assert_eq!(whole.segments, vec![Segment { offset: 0, len: 2 << 20 }]);
        assert_eq!(whole.detection_probability(4096), 1.0);
    }

    #[test]
    fn detection_probability_is_exact_for_the_plan() {
        // Blocks 0..10 of 100; a sample of blocks 0 and 50..52.
        let plan = Plan {
            segments: vec![Segment { offset: 0, len: 4096 }, Segment { offset: 50 * 4096, len: 2 * 4096 }],
            subsection_bytes: 8192,
            medium_bytes: 100 * 4096,
        };
        // One-block regions: 3 of 100 placements hit.
        assert_eq!(plan.detection_probability(4096), 0.03);
        // Ten-block regions: starts 0 and 41..=51 hit, out of 91 placements.
        assert_eq!(plan.detection_probability(10 * 4096), 12.0 / 91.0);
        assert_eq!(plan.detection_probability(1 << 30), 1.0);
    }
}
