//! Waiting for something to become true, with a deadline: the test kit's
//! [`cordon_testkit::try_poll_until`], its timeout a [`LabError`] (the lab
//! never sleeps to synchronise; its demo and teardown report a timeout
//! rather than panic).

use std::time::Duration;

use crate::error::LabError;

/// Calls `check` until it returns `Some`, or fails with
/// [`LabError::Timeout`] naming `what` once `within` has passed. The first
/// call is immediate; later ones back off from 2 ms to 100 ms.
pub fn poll_until<T>(
    within: Duration,
    what: &str,
    check: impl FnMut() -> Option<T>,
) -> Result<T, LabError> {
    Ok(cordon_testkit::try_poll_until(within, what, check)?)
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
    fn a_timeout_is_a_lab_timeout_naming_what() {
        let e = wait_for(Duration::from_millis(50), "never", || false).unwrap_err();
        assert!(
            matches!(&e, LabError::Timeout { waited, .. } if *waited >= Duration::from_millis(50)),
            "{e}"
        );
        assert!(e.to_string().contains("never"), "{e}");
    }
}
