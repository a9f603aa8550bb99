//! What happens by itself as time passes: fixed holds and probations that
//! end, acknowledged notices that show again, quarantines that pass the
//! quiet test, notices that are reviewed, and the retention purge.

use cordon_config::SubscriberAddr;
use cordon_policy::Input;
use cordon_policy::lifecycle::Event;
use cordon_policy::quiet::{Quietness, Seen};
use cordon_rules::SmtpSeen;
use ipnet::IpNet;
use tracing::warn;

use super::apply::Waiting;
use super::{Core, blocking};
use crate::kernel::KernelError;
use crate::store::Write;

/// Up to this many quarantines whose earlier attempts are unknown are looked
/// up one by one (an `nft` process each); more are read from one listing.
const POINT_LOOKUPS: usize = 16;

impl Core {
    /// Ends what has ended and releases what has gone quiet.
    pub(super) async fn timers(&mut self) {
        let now = self.clock.now();
        let mut inputs = Vec::new();
        if self.engine.deadline_passed(now) {
            inputs.push(Input::Event(Event::Tick));
        }
        match self.quietness(now).await {
            Ok(q) => inputs.extend(
                self.engine
                    .quiet_checks(q, now)
                    .into_iter()
                    .map(Input::Event),
            ),
            Err(e) => {
                warn!(error = %e, "cannot ask the kernel who is quiet; no automatic release this round")
            }
        }
        match self.reviews(now).await {
            Ok(q) => inputs.extend(
                self.engine
                    .quiet_checks(q, now)
                    .into_iter()
                    .map(Input::Event),
            ),
            Err(e) => {
                warn!(error = %e, "cannot ask the kernel who still sends; no notice is reviewed this round")
            }
        }
        if !inputs.is_empty() {
            let waiting = inputs.iter().map(|_| Waiting::Nobody).collect();
            self.decide(inputs, waiting).await;
        }
    }

    /// Time since the last SMTP attempt of each due quarantine (see
    /// [`cordon_policy::quiet`] for why this costs one listing of the
    /// quarantined senders, plus one look-up per quarantine in its life).
    async fn quietness(&mut self, now: i64) -> Result<Vec<Quietness>, KernelError> {
        let due = self.engine.quiet_due(now);
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let quiet = self.engine.quiet_period();
        let kernel = self.kernel.clone();
        let held = blocking(move || kernel.smtp_held()).await?;
        let (mut known, unknown) = self.engine.judge_quiet(&due, seen(&held, quiet), now);
        if unknown.is_empty() {
            return Ok(known);
        }
        let v6_len = self.config.subscribers.ipv6_quarantine_prefix;
        let kernel = self.kernel.clone();
        let asked = unknown.clone();
        let recent = blocking(move || {
            let single = |a: &SubscriberAddr| match a.net() {
                IpNet::V4(n) => n.prefix_len() == 32,
                IpNet::V6(n) => n.prefix_len() == v6_len,
            };
            // After a burst of quarantines, one listing of every sender is
            // cheaper than a process per host; it happens once per burst.
            if asked.len() <= POINT_LOOKUPS && asked.iter().all(|d| single(&d.addr)) {
                let mut found = Vec::new();
                for d in &asked {
                    found.extend(kernel.smtp_seen(&d.addr)?);
                }
                Ok(found)
            } else {
                kernel.smtp_recent()
            }
        })
        .await?;
        known.extend(self.engine.learn_quiet(&unknown, seen(&recent, quiet), now));
        Ok(known)
    }

    /// Time since the last SMTP attempt of each address of a notice due
    /// for its review, from `smtp_recent` (a noticed host is not walled
    /// in, so `smtp_held` never holds it): one look-up per address, or
    /// one listing when a range is among them. Reviews come once per
    /// `notice.review` per notice, so this stays rare.
    async fn reviews(&mut self, now: i64) -> Result<Vec<Quietness>, KernelError> {
        let due = self.engine.reviews_due(now);
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let quiet = self.engine.quiet_period();
        let v6_len = self.config.subscribers.ipv6_quarantine_prefix;
        let kernel = self.kernel.clone();
        blocking(move || {
            let single = |a: &SubscriberAddr| match a.net() {
                IpNet::V4(n) => n.prefix_len() == 32,
                IpNet::V6(n) => n.prefix_len() == v6_len,
            };
            if due.iter().all(single) {
                return due
                    .iter()
                    .map(|a| Ok((*a, kernel.smtp_seen(a)?.map(|s| s.since_last(quiet)))))
                    .collect();
            }
            let recent = kernel.smtp_recent()?;
            Ok(due
                .iter()
                .map(|a| {
                    let last = recent
                        .iter()
                        .filter(|s| a.contains(&s.key))
                        .map(|s| s.since_last(quiet))
                        .min();
                    (*a, last)
                })
                .collect())
        })
        .await
    }

    /// Forgets expired reports and suspects, and purges the store of what
    /// is older than the retention period.
    pub(super) async fn purge(&mut self) {
        let now = self.clock.now();
        self.engine.prune(now);
        let before = now - i64::try_from(self.config.retention.as_secs()).unwrap_or(i64::MAX / 2);
        if let Err(e) = self.store.write(vec![Write::Purge { before }]).await {
            warn!(error = %e, "retention purge failed; retrying in an hour");
        }
    }
}

/// The kernel's recent-attempt elements as the quiet planning reads them
/// (one at a time: a listing can hold every subscriber seen sending).
fn seen(elements: &[SmtpSeen], quiet: std::time::Duration) -> impl Iterator<Item = Seen> + '_ {
    elements.iter().map(move |s| Seen {
        key: s.key,
        ago: s.since_last(quiet),
    })
}
