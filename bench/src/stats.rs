//! Median, minimum, maximum and percentiles of measured durations.

use std::time::Duration;

/// Durations of repeated runs of one measurement.
#[derive(Debug, Clone)]
pub struct Samples(Vec<Duration>);

impl Samples {
    /// Sorts the samples.
    pub fn new(mut v: Vec<Duration>) -> Samples {
        v.sort();
        Samples(v)
    }

    /// The value below which `p` (0..=100) per cent of samples fall.
    pub fn percentile(&self, p: usize) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let i = (self.0.len() - 1) * p.min(100) / 100;
        self.0[i]
    }

    /// How many samples there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The median.
    pub fn median(&self) -> Duration {
        self.percentile(50)
    }

    /// The smallest sample.
    pub fn min(&self) -> Duration {
        self.0.first().copied().unwrap_or_default()
    }

    /// The largest sample.
    pub fn max(&self) -> Duration {
        self.0.last().copied().unwrap_or_default()
    }
}

/// Milliseconds with a sensible number of digits.
pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

/// "median (min–max)".
pub fn spread(s: &Samples) -> String {
    format!("{} ({}–{})", ms(s.median()), ms(s.min()), ms(s.max()))
}

/// Cordon's time over the reference's, as "1.04×".
pub fn ratio(ours: Duration, reference: Duration) -> String {
    if reference.is_zero() {
        return "–".into();
    }
    let r = ours.as_secs_f64() / reference.as_secs_f64();
    if r < 0.1 {
        format!("{r:.4}× ({:.0}× faster)", 1.0 / r)
    } else {
        format!("{r:.2}×")
    }
}
