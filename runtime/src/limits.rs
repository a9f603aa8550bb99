//! What both daemons' accept loops share: the descriptor limit they size
//! their caps from, and how they behave when descriptors or memory run out.
//!
//! An accept loop that logs and `continue`s on `EMFILE` spins a core and
//! floods the log (measured: 1.2 million lines in 4 s), because the pending
//! connection stays in the backlog and the next `accept` fails the same way
//! at once. So: back off ([`Backoff`]), and log such a condition at most once
//! a while with a count of what was left out ([`Throttle`]).

use std::time::{Duration, Instant};

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (common daemon
/// practice: the soft default of 1 024 is for `select()` users, which these
/// daemons are not) and returns the soft limit in force afterwards, the one
/// to size connection caps from. If raising fails, the limit in force is
/// returned and the caps follow it.
pub fn raise_nofile() -> Result<NofileLimit, nix::Error> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return Ok(NofileLimit {
            was: soft,
            now: hard,
        });
    }
    Ok(NofileLimit {
        was: soft,
        now: soft,
    })
}

/// The descriptor limit before and after [`raise_nofile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimit {
    /// The soft limit the process was started with.
    pub was: u64,
    /// The soft limit in force now.
    pub now: u64,
}

impl NofileLimit {
    /// The limit in force as a count, saturating on 32-bit targets.
    pub fn usable(&self) -> usize {
        usize::try_from(self.now).unwrap_or(usize::MAX)
    }
}

/// Whether an `accept` error means the process or system ran out of
/// descriptors or memory: retrying at once fails the same way, so back off.
pub fn is_exhaustion(e: &std::io::Error) -> bool {
    use nix::libc::{EMFILE, ENFILE, ENOBUFS, ENOMEM};
    matches!(e.raw_os_error(), Some(EMFILE | ENFILE | ENOBUFS | ENOMEM))
}

/// Growing pauses between retries of a failing `accept`: 10 ms doubling to
/// 1 s, back to 10 ms after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    /// Starts at the shortest pause.
    pub fn new() -> Self {
        Backoff { next: Self::FIRST }
    }

    /// The pause to take now; the next one is twice as long, up to the cap.
    pub fn pause(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        now
    }

    /// After a success.
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

/// Lets a repeated condition be logged at most once per period; the caller
/// logs when [`Throttle::hit`] says so, with the number of occurrences left
/// out since the last line.
#[derive(Debug, Clone)]
pub struct Throttle {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    /// At most one line per `every`.
    pub fn new(every: Duration) -> Self {
        Throttle {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// One more occurrence at `now`: `Some(left out since the last line)`
    /// when this one should be logged, `None` when it is only counted.
    pub fn hit(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.duration_since(last) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_logs_once_a_period_and_counts_the_rest() {
        let mut t = Throttle::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(t.hit(t0), Some(0));
        for i in 1..=1000 {
            assert_eq!(t.hit(t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(t.hit(t0 + Duration::from_secs(10)), Some(1000));
        assert_eq!(t.hit(t0 + Duration::from_secs(11)), None);
    }

    #[test]
    fn backoff_doubles_to_a_cap_and_resets() {
        let mut b = Backoff::new();
        let pauses: Vec<_> = (0..10).map(|_| b.pause()).collect();
        assert_eq!(pauses[0], Duration::from_millis(10));
        assert_eq!(pauses[1], Duration::from_millis(20));
        assert_eq!(pauses[9], Duration::from_secs(1));
        b.reset();
        assert_eq!(b.pause(), Duration::from_millis(10));
    }

    #[test]
    fn exhaustion_is_recognised() {
        let e = std::io::Error::from_raw_os_error(nix::libc::EMFILE);
        assert!(is_exhaustion(&e));
        let e = std::io::Error::from_raw_os_error(nix::libc::ECONNABORTED);
        assert!(!is_exhaustion(&e));
    }
}
