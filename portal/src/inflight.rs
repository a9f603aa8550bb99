//! One question to `cordond` per caller at a time.
//!
//! A new zombie's first sight is several requests at once: the browser
//! opens connections in parallel for the redirect and the page, and the OS
//! sends its probes and asks the RFC 8908 API beside it. Each found nothing
//! in [`crate::cache::FactsCache`], and each asked `cordond` the same
//! question about the same address; in an outbreak, thousands of hosts at
//! once, that multiplied `cordond`'s work by the number of parallel
//! requests. Now the first request asks and the others wait for its answer.
//!
//! A waiter whose asker goes away without an answer (its client hung up and
//! its request was dropped) asks itself; the wait is bounded by the asker's
//! own deadline. The map holds one entry per question under way, removed
//! when the asker finishes or is dropped, so it is bounded by the requests
//! in progress.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use cordon_proto::portal::HostStatus;
use parking_lot::Mutex;
use tokio::sync::watch;

/// `cordond`'s answer as passed to waiters: `None` when it could not be
/// asked (the waiters show general advice, as the asker does).
pub type Answer = Option<HostStatus>;

/// The questions under way, per caller address.
#[derive(Debug, Default)]
pub struct InFlight {
    asking: Arc<Mutex<HashMap<IpAddr, watch::Receiver<Answer>>>>,
}

/// Whose turn it is to ask.
#[derive(Debug)]
pub enum Turn {
    /// Nobody is asking about this caller: ask, then [`Asking::done`].
    Ask(Asking),
    /// Another request is asking: wait with [`wait`].
    Wait(watch::Receiver<Answer>),
}

/// The right and duty to ask about one caller; dropping it without
/// [`Asking::done`] lets the waiters ask themselves.
#[derive(Debug)]
pub struct Asking {
    asking: Arc<Mutex<HashMap<IpAddr, watch::Receiver<Answer>>>>,
    peer: IpAddr,
    tx: watch::Sender<Answer>,
}

impl InFlight {
    /// Takes the turn to ask about `peer`, or a place among its waiters.
    pub fn turn(&self, peer: IpAddr) -> Turn {
        let mut asking = self.asking.lock();
        if let Some(rx) = asking.get(&peer) {
            return Turn::Wait(rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        asking.insert(peer, rx);
        Turn::Ask(Asking {
            asking: Arc::clone(&self.asking),
            peer,
            tx,
        })
    }

    /// Questions under way now (tests and diagnostics).
    pub fn len(&self) -> usize {
        self.asking.lock().len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Asking {
    /// Hands the answer to every waiter.
    pub fn done(self, answer: Answer) {
        self.tx.send_replace(answer);
    }
}

impl Drop for Asking {
    fn drop(&mut self) {
        self.asking.lock().remove(&self.peer);
    }
}

/// What waiting for the asker gave.
#[derive(Debug, PartialEq)]
pub enum Waited {
    /// The asker's answer.
    Answered(Answer),
    /// The asker went away without one: ask yourself.
    Abandoned,
}

/// Waits for the asker's answer.
pub async fn wait(mut rx: watch::Receiver<Answer>) -> Waited {
    match rx.changed().await {
        Ok(()) => Waited::Answered(rx.borrow_and_update().clone()),
        Err(_) => Waited::Abandoned,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(i: u8) -> IpAddr {
        IpAddr::from([100, 64, 0, i])
    }

    #[tokio::test]
    async fn the_first_asks_and_the_others_get_its_answer() {
        let f = InFlight::default();
        let Turn::Ask(asker) = f.turn(ip(1)) else {
            panic!("the first must ask");
        };
        let waiters: Vec<_> = (0..3)
            .map(|_| match f.turn(ip(1)) {
                Turn::Wait(rx) => tokio::spawn(wait(rx)),
                Turn::Ask(_) => panic!("a second asker"),
            })
            .collect();
        // Another caller is asked about on its own.
        assert!(matches!(f.turn(ip(2)), Turn::Ask(_)));
        asker.done(Some(crate::fixtures::quarantined(ip(1))));
        for w in waiters {
            assert_eq!(
                w.await.unwrap(),
                Waited::Answered(Some(crate::fixtures::quarantined(ip(1))))
            );
        }
        assert!(f.is_empty());
        // Done: the next request asks afresh.
        assert!(matches!(f.turn(ip(1)), Turn::Ask(_)));
    }

    #[tokio::test]
    async fn waiters_of_an_asker_that_went_away_ask_themselves() {
        let f = InFlight::default();
        let asker = f.turn(ip(1));
        let Turn::Wait(rx) = f.turn(ip(1)) else {
            panic!("the second must wait");
        };
        drop(asker);
        assert_eq!(wait(rx).await, Waited::Abandoned);
        assert!(f.is_empty());
    }

    #[tokio::test]
    async fn a_failed_question_is_passed_on_as_none() {
        let f = InFlight::default();
        let Turn::Ask(asker) = f.turn(ip(1)) else {
            panic!("the first must ask");
        };
        let Turn::Wait(rx) = f.turn(ip(1)) else {
            panic!("the second must wait");
        };
        asker.done(None);
        assert_eq!(wait(rx).await, Waited::Answered(None));
    }
}
