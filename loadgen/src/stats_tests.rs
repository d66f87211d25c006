//! Tables for outcome counting and percentiles, including the coordinated-omission correction.

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn sample(kind: ReportKind, outcome: Outcome, intended: u64, sent: u64, done: u64) -> Sample {
    Sample { kind, outcome, intended: ms(intended), sent: ms(sent), done: ms(done), body_bytes: 100 }
}

#[test]
fn corrected_latency_counts_from_the_intended_time() {
    #[rustfmt::skip]
    let table = [
        // intended, sent, done -> corrected, service
        (0, 0, 40, 40, 40),
        (100, 100, 140, 40, 40),
        // Sent 900 ms late because the collector held every slot: the agent waited 940 ms, not 40.
        (100, 1000, 1040, 940, 40),
        // Sent early (closed loop records intended = sent; an early send is never rewarded).
        (500, 400, 450, 50, 50),
    ];
    for (intended, sent, done, corrected, service) in table {
        let s = sample(ReportKind::Unchanged, Outcome::Stored, intended, sent, done);
        assert_eq!((s.corrected(), s.service()), (ms(corrected), ms(service)), "{intended} {sent} {done}");
    }
}

/// wrk2's example: a request every 10 ms for 10 s; the collector answers in 1 ms but stalls once for 1 s. Service
/// times hide the stall from p99; latencies from the intended times show what 100 queued requests experienced.
#[test]
fn a_stall_shows_in_corrected_percentiles_only() {
    let mut recorder = Recorder::new().unwrap();
    let mut free_at = 0u64;
    for i in 0..1_000u64 {
        let intended = i * 10;
        let sent = intended.max(free_at);
        let took = if i == 500 { 1_000 } else { 1 };
        let done = sent + took;
        free_at = done;
        recorder.record(&sample(ReportKind::Unchanged, Outcome::Stored, intended, sent, done));
    }
    let service = recorder.service().unwrap();
    let corrected = recorder.corrected().unwrap();
    assert_eq!((service.p50_ms, service.p99_ms), (1.0, 1.0));
    assert!((999.0..=1001.0).contains(&service.max_ms), "{service:?}");
    // 110 requests were queued behind the stall and waited 991, 982 … 10 ms (the stalled one 1000): from the
    // intended times, p90 is 100 ms and p99 910 ms where service times say 1 ms.
    assert_eq!(corrected.p50_ms, 1.0);
    for (got, want) in [(corrected.p90_ms, 100.0), (corrected.p99_ms, 910.0), (corrected.max_ms, 1000.0)] {
        assert!((got - want).abs() <= want * 0.001, "{corrected:?}");
    }
    // Sent more than 10 ms after their intended time: the first 109 behind the stall.
    assert_eq!(recorder.late_starts, 109);
}

#[test]
fn percentiles_of_known_values() {
    #[rustfmt::skip]
    let table: &[(&[u64], [f64; 4])] = &[
        (&[5], [5.0, 5.0, 5.0, 5.0]),
        (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [5.0, 9.0, 10.0, 10.0]),
        (&[100; 99], [100.0, 100.0, 100.0, 100.0]),
    ];
    for (values, [p50, p90, p99, max]) in table {
        let mut recorder = Recorder::new().unwrap();
        for v in *values {
            recorder.record(&sample(ReportKind::Full, Outcome::Stored, 0, 0, *v));
        }
        let p = recorder.corrected().unwrap();
        // Three significant digits: 100 ms is exact, larger values within 0.1 %.
        for (got, want) in [(p.p50_ms, p50), (p.p90_ms, p90), (p.p99_ms, p99), (p.max_ms, max)] {
            assert!((got - want).abs() <= want * 0.001, "{values:?}: {p:?}");
        }
    }
    assert_eq!(Recorder::new().unwrap().corrected(), None);
}

#[test]
fn outcomes_are_counted_by_kind() {
    let mut recorder = Recorder::new().unwrap();
    #[rustfmt::skip]
    let outcomes = [
        (ReportKind::Full, Outcome::Stored), (ReportKind::Full, Outcome::Stored),
        (ReportKind::Unchanged, Outcome::Duplicate), (ReportKind::Unchanged, Outcome::NeedsSections),
        (ReportKind::Changed, Outcome::RateLimited(Some(3))), (ReportKind::Changed, Outcome::Unavailable(Some(9))),
        (ReportKind::Changed, Outcome::RateLimited(None)), (ReportKind::Full, Outcome::Unauthorized(401)),
        (ReportKind::Full, Outcome::ClientError(413)), (ReportKind::Full, Outcome::ServerError(500)),
        (ReportKind::Full, Outcome::Timeout), (ReportKind::Full, Outcome::Connect),
        (ReportKind::Full, Outcome::Transport), (ReportKind::Full, Outcome::BadAnswer),
    ];
    for (kind, outcome) in outcomes {
        recorder.record(&sample(kind, outcome, 0, 0, 10));
    }
    let counts = recorder.counts();
    assert_eq!((counts.requests, counts.ok, counts.duplicate, counts.needs_sections), (14, 2, 1, 1));
    let errors: Vec<(&str, u64)> = counts.errors.iter().map(|(k, v)| (*k, *v)).collect();
    assert_eq!(
        errors,
        [
            ("bad_answer", 1),
            ("client_4xx", 1),
            ("connect", 1),
            ("rate_limited_429", 2),
            ("server_5xx", 1),
            ("timeout", 1),
            ("transport", 1),
            ("unauthorized_401_403", 1),
            ("unavailable_503", 1),
        ]
    );
    assert_eq!((counts.retry_after_answers, counts.retry_after_max_s), (2, Some(9)));
    assert_eq!(counts.body_bytes, 1_400);
    let by_kind = recorder.by_kind(Duration::from_secs(2));
    assert_eq!(by_kind[&ReportKind::Full].counts.ok, 2);
    assert_eq!(by_kind[&ReportKind::Full].rate_ok_per_s, 1.0);
    assert_eq!(by_kind[&ReportKind::Changed].counts.errors.values().sum::<u64>(), 3);
    assert_eq!(by_kind[&ReportKind::Unchanged].counts.requests, 2);
}
