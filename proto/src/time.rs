//! Wall-clock time as Cordon stores and shows it: whole Unix seconds.
//!
//! Deadlines are kept in this form so they survive restarts (they are
//! compared with the clock, never slept on). The conversions are pure; the
//! one place the clock is read is [`Clock`], which the daemons hold and the
//! tests replace, so nothing that decides reads the time by itself.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Wall-clock time in Unix seconds.
pub type Unix = i64;

/// A `SystemTime` as Unix seconds (before the epoch: 0; far future: the
/// largest value, rather than wrapping).
pub fn unix(t: SystemTime) -> Unix {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Unix seconds as a `SystemTime` (negative clamps to the epoch).
pub fn system_time(t: Unix) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(t).unwrap_or(0))
}

/// A duration as whole seconds, saturating (a configured duration of
/// centuries must not wrap a deadline into the past).
pub fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4)
}

/// Whole seconds as a duration (negative: zero), e.g. the time left
/// until a deadline.
pub fn duration(s: i64) -> Duration {
    Duration::from_secs(u64::try_from(s).unwrap_or(0))
}

/// The source of "now". The daemons read the time only through this, so
/// one value is passed in to every decision and a test can set it.
pub trait Clock: std::fmt::Debug + Send + Sync {
    /// Now, as Unix seconds.
    fn now(&self) -> Unix;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Unix {
        unix(SystemTime::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip_and_clamp() {
        assert_eq!(unix(system_time(1_700_000_000)), 1_700_000_000);
        assert_eq!(system_time(-5), UNIX_EPOCH);
        assert_eq!(unix(UNIX_EPOCH - Duration::from_secs(1)), 0);
        assert_eq!(secs(Duration::from_secs(u64::MAX)), i64::MAX / 4);
    }
}
