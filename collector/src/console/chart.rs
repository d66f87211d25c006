//! The dashboard's trend chart: daily active findings per severity, laid out as SVG coordinates (a pure function,
//! so the geometry is tested without a browser).

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::view::{Chart, Series};
use crate::store::console::TrendPoint;

const WIDTH: u32 = 720;
const HEIGHT: u32 = 220;
const LEFT: f64 = 40.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 30.0;

/// The severities drawn, most severe first.
pub const SEVERITIES: [&str; 5] = ["critical", "high", "medium", "low", "info"];

/// A chart of `points` over the days `from..=to`; days without a snapshot are left out of the lines.
pub fn trend_chart(points: &[TrendPoint], from: NaiveDate, to: NaiveDate) -> Chart {
    let days = (to - from).num_days().max(1) as f64;
    let max = points.iter().map(|p| p.active).max().unwrap_or(0).max(1);
    let scale = nice_ceiling(max);
    let plot_w = f64::from(WIDTH) - LEFT - RIGHT;
    let plot_h = f64::from(HEIGHT) - TOP - BOTTOM;
    let x = |day: NaiveDate| LEFT + (day - from).num_days() as f64 / days * plot_w;
    let y = |v: i64| TOP + plot_h - (v as f64 / scale as f64) * plot_h;

    let mut by_severity: BTreeMap<&str, Vec<(NaiveDate, i64)>> = BTreeMap::new();
    for p in points.iter().filter(|p| p.day >= from && p.day <= to) {
        if let Some(sev) = SEVERITIES.iter().find(|s| **s == p.severity) {
            by_severity.entry(sev).or_default().push((p.day, p.active));
        }
    }
    let series = SEVERITIES
        .iter()
        .enumerate()
        .map(|(index, sev)| {
            let mut values = by_severity.remove(sev).unwrap_or_default();
            values.sort();
            let points = values.iter().map(|(d, v)| format!("{:.1},{:.1}", x(*d), y(*v))).collect::<Vec<_>>().join(" ");
            Series {
                name: (*sev).to_owned(),
                class: format!("sev-{sev}"),
                points,
                dots: values.iter().map(|(d, v)| (x(*d), y(*v))).collect(),
                radius: 6.0 - index as f64,
                last: values.last().map(|(_, v)| *v).unwrap_or(0),
            }
        })
        .collect();

    let grid: Vec<f64> = (0..=4).map(|i| y(scale * i / 4)).collect();
    let mut labels: Vec<(f64, f64, String)> =
        (0..=4).map(|i| (4.0, y(scale * i / 4) + 4.0, (scale * i / 4).to_string())).collect();
    for day in [from, from + (to - from) / 2, to] {
        labels.push((x(day) - 18.0, f64::from(HEIGHT) - 8.0, day.format("%b %d").to_string()));
    }
    Chart {
        title: format!("Active findings by severity, {} to {}", from.format("%Y-%m-%d"), to.format("%Y-%m-%d")),
        width: WIDTH,
        height: HEIGHT,
        series,
        labels,
        grid,
        description: "Line chart of active findings per severity per day".to_owned(),
    }
}

/// The smallest of 1, 2, 5 × 10ⁿ (times 4, for four grid steps) at or above `max`.
fn nice_ceiling(max: i64) -> i64 {
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if m * step * 4 >= max {
                return m * step * 4;
            }
        }
        step *= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    #[test]
    fn lines_span_the_plot_and_scale_to_a_round_maximum() {
        let points = vec![
            TrendPoint { day: day(1), severity: "critical".into(), active: 0 },
            TrendPoint { day: day(30), severity: "critical".into(), active: 37 },
            TrendPoint { day: day(30), severity: "high".into(), active: 10 },
        ];
        let chart = trend_chart(&points, day(1), day(30));
        let critical = &chart.series[0];
        assert_eq!(critical.name, "critical");
        // 37 → scale 40: first point on the baseline at the left edge, last at 37/40 of the height, right edge.
        assert_eq!(critical.points, "40.0,190.0 710.0,23.5");
        assert_eq!(critical.last, 37);
        assert_eq!(critical.dots, vec![(40.0, 190.0), (710.0, 23.5)]);
        assert!(chart.series.windows(2).all(|w| w[0].radius > w[1].radius), "later series draw smaller dots on top");
        assert_eq!(chart.series[1].points, "710.0,145.0");
        assert_eq!(chart.series[4].points, "", "no info snapshots: no line");
        assert_eq!(chart.labels[4].2, "40");
        assert_eq!(nice_ceiling(1), 4);
        assert_eq!(nice_ceiling(100_000), 200_000);
    }
}
