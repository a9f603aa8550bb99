//! Waiting for something to become true, with a deadline. Tests never
//! sleep to synchronise: they ask again, a little less often each time,
//! until the answer comes or the deadline passes (and then fail, naming
//! what they waited for).

use std::time::{Duration, Instant};

/// The first pause between two asks, doubled after each up to [`MAX_PAUSE`]:
/// a quick answer is seen quickly, a slow one is not asked for in a spin.
const FIRST_PAUSE: Duration = Duration::from_millis(2);
const MAX_PAUSE: Duration = Duration::from_millis(100);

/// Something did not happen within its deadline.
#[derive(Debug, thiserror::Error)]
#[error("not within {within:?}: {what}")]
pub struct TimedOut {
    /// What was awaited.
    pub what: String,
    /// The deadline given.
    pub within: Duration,
    /// How long it was waited for (at least `within`).
    pub waited: Duration,
}

/// Calls `check` until it returns `Some` and returns that; panics naming
/// `what` once `within` has passed. The first call is immediate, and one
/// last call is made at the deadline.
pub fn poll_until<T>(within: Duration, what: &str, check: impl FnMut() -> Option<T>) -> T {
    try_poll_until(within, what, check).unwrap_or_else(|e| panic!("{e}"))
}

/// Like [`poll_until`], returning [`TimedOut`] instead of panicking (for
/// the lab, whose demo and teardown report a timeout and go on).
pub fn try_poll_until<T>(
    within: Duration,
    what: &str,
    mut check: impl FnMut() -> Option<T>,
) -> Result<T, TimedOut> {
    let start = Instant::now();
    let mut pause = FIRST_PAUSE;
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        let waited = start.elapsed();
        if waited >= within {
            return Err(TimedOut {
                what: what.to_owned(),
                within,
                waited,
            });
        }
        std::thread::sleep(pause.min(within - waited));
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// Like [`poll_until`] for a yes/no condition: returns once `check` holds.
pub fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    poll_until(within, what, || check().then_some(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_first_answer() {
        let mut n = 0;
        let v = poll_until(Duration::from_secs(5), "n to reach 3", || {
            n += 1;
            (n == 3).then_some(n)
        });
        assert_eq!(v, 3);
    }

    #[test]
    fn gives_up_at_the_deadline_naming_what() {
        let start = Instant::now();
        let e =
            std::panic::catch_unwind(|| eventually(Duration::from_millis(50), "never", || false))
                .unwrap_err();
        assert!(start.elapsed() >= Duration::from_millis(50));
        let text = e.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(text.contains("never"), "{text}");
    }

    #[test]
    fn the_fallible_form_returns_the_timeout_naming_what() {
        let start = Instant::now();
        let e = try_poll_until(Duration::from_millis(50), "never", || None::<()>).unwrap_err();
        assert!(start.elapsed() >= Duration::from_millis(50));
        assert!(e.waited >= Duration::from_millis(50), "{e:?}");
        assert!(e.to_string().contains("never"), "{e}");
    }
}
