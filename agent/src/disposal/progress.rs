//! A one-line progress display with rate and ETA on stderr, drawn only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Redraws at most this often: a terminal cannot show more and each draw costs a write.
const REDRAW: Duration = Duration::from_millis(200);

/// Progress of reading one medium.
#[derive(Debug)]
pub struct Progress {
    label: String,
    total: u64,
    started: Instant,
    last_draw: Option<Instant>,
    enabled: bool,
}

impl Progress {
    /// A display for `total` bytes of `label`; silent unless stderr is a terminal.
    pub fn new(label: &str, total: u64) -> Progress {
        Progress {
            label: label.to_string(),
            total,
            started: Instant::now(),
            last_draw: None,
            enabled: std::io::stderr().is_terminal(),
        }
    }

    pub fn update(&mut self, done: u64) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if self.last_draw.is_some_and(|t| now.duration_since(t) < REDRAW) && done < self.total {
            return;
        }
        self.last_draw = Some(now);
        let line = line(&self.label, done, self.total, now.duration_since(self.started));
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
    }

    /// Ends the line so later output starts on a fresh one.
    pub fn finish(&mut self) {
        if self.enabled && self.last_draw.is_some() {
            let _ = writeln!(std::io::stderr());
        }
    }
}

/// Pure: `label  [#####.....]  42%  4.2 GiB / 10.0 GiB  1.3 GiB/s  ETA 4s`.
pub fn line(label: &str, done: u64, total: u64, elapsed: Duration) -> String {
    const WIDTH: usize = 24;
    let fraction = if total == 0 { 1.0 } else { (done as f64 / total as f64).min(1.0) };
    let filled = (fraction * WIDTH as f64) as usize;
    let bar: String = "#".repeat(filled) + &".".repeat(WIDTH - filled);
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    let eta = if rate > 0.0 && done < total {
        let left = Duration::from_secs(((total - done) as f64 / rate).ceil() as u64);
        format!("ETA {}", humantime::format_duration(left))
    } else {
        "ETA -".to_string()
    };
    format!(
        "{label}  [{bar}] {:>3.0}%  {} / {}  {}/s  {eta}",
        fraction * 100.0,
        bytes(done as f64),
        bytes(total as f64),
        bytes(rate)
    )
}

/// Binary units with one decimal, as `dd` and `lsblk` show sizes.
pub fn bytes(n: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = n;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{value:.0} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_share_rate_and_eta() {
        let text = line("/dev/sda", 1 << 30, 4 << 30, Duration::from_secs(2));
        assert_eq!(text, "/dev/sda  [######..................]  25%  1.0 GiB / 4.0 GiB  512.0 MiB/s  ETA 6s");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(10.0), "10 B");
    }
}
