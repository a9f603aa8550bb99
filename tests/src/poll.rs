//! Waiting for something to become true, with a deadline. The lab never
//! sleeps to synchronise: it asks again, a little less often each time, until
//! the answer comes or the deadline passes.

use std::time::{Duration, Instant};

use crate::error::LabError;

/// Calls `check` until it returns `Some`, or fails with
/// [`LabError::Timeout`] naming `what` once `within` has passed. The first
/// call is immediate; later ones back off from 2 ms to 100 ms.
pub fn poll_until<T>(
    within: Duration,
    what: &str,
    mut check: impl FnMut() -> Option<T>,
) -> Result<T, LabError> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        let waited = start.elapsed();
        if waited >= within {
            return Err(LabError::Timeout {
                what: what.to_owned(),
                waited,
                detail: String::new(),
            });
        }
        std::thread::sleep(pause.min(within - waited));
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// Like [`poll_until`] for a yes/no condition.
pub fn wait_for(
    within: Duration,
    what: &str,
    mut check: impl FnMut() -> bool,
) -> Result<(), LabError> {
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
        })
        .unwrap();
        assert_eq!(v, 3);
    }

    #[test]
    fn gives_up_at_the_deadline() {
        let start = Instant::now();
        let e = wait_for(Duration::from_millis(50), "never", || false).unwrap_err();
        assert!(start.elapsed() >= Duration::from_millis(50));
        assert!(e.to_string().contains("never"), "{e}");
    }
}
