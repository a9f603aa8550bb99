//! `action: notice` through a real core over the in-memory kernel: a
//! crossing notices (the notice set gains the host, no flow is flushed,
//! nothing is walled in), the subscriber's acknowledgement takes it out of
//! the notice set, a report score with `action: notice` notices too, and
//! the ladder's crossings move a host that keeps sending to quarantine.

use super::*;

async fn notice_rig(crossings: u32) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config("notice", "notice");
    c.detection.ladder = Some(cordon_config::Ladder {
        still_sending: true,
        crossings: Some(crossings),
    });
    let mut r = rig_in(dir.path(), c).await;
    r._dir = Some(dir);
    r
}

impl Rig {
    fn noticed_in_kernel(&self, text: &str) -> bool {
        let net = self.unit(text).net();
        self.kernel.state.lock().noticed.contains(&net)
    }
}

#[tokio::test]
async fn a_crossing_notices_and_touches_nothing_else() {
    let r = notice_rig(2).await;
    let outcome = r.detector.handle_crossing(crossing("100.64.1.2")).await;
    assert_eq!(
        outcome,
        CrossingOutcome::Noticed(r.unit("100.64.1.2"), HostState::Noticed)
    );
    assert!(r.noticed_in_kernel("100.64.1.2"));
    assert!(!r.in_kernel("100.64.1.2"), "a notice walls nothing in");
    let gauges = r.detector.metrics.encode();
    assert!(
        gauges.contains(r#"cordon_hosts{state="noticed"} 1"#),
        "{gauges}"
    );
    assert!(
        r.kernel.state.lock().flushed.is_empty(),
        "a notice ends no flow"
    );
    let applied = r
        .core
        .apply(Event::Acknowledge {
            subject: cordon_policy::subject::Subject::Addr(r.unit("100.64.1.2")),
        })
        .await
        .unwrap();
    let Some(State::Noticed(n)) = applied.map(|h| h.state) else {
        panic!("not noticed")
    };
    assert!(n.acknowledged_until.is_some());
    assert!(
        !r.noticed_in_kernel("100.64.1.2"),
        "acknowledged: out of the notice set"
    );
}

#[tokio::test]
async fn the_ladder_quarantines_a_host_that_keeps_crossing() {
    let r = notice_rig(2).await;
    r.detector.handle_crossing(crossing("100.64.1.2")).await;
    // The kernel reports a host again only after ALERT_REPEAT; the ladder
    // counts one crossing per that.
    r.clock.skip(cordon_config::ALERT_REPEAT);
    let again = r.detector.handle_crossing(crossing("100.64.1.2")).await;
    assert_eq!(
        again,
        CrossingOutcome::Noticed(r.unit("100.64.1.2"), HostState::Noticed)
    );
    r.clock.skip(cordon_config::ALERT_REPEAT);
    let third = r.detector.handle_crossing(crossing("100.64.1.2")).await;
    assert_eq!(
        third,
        CrossingOutcome::Noticed(r.unit("100.64.1.2"), HostState::Quarantined)
    );
    assert!(r.in_kernel("100.64.1.2"));
    assert!(!r.noticed_in_kernel("100.64.1.2"), "walled in, not noticed");
    let Some(State::Quarantined(q)) = r.state("100.64.1.2").await else {
        panic!("not quarantined")
    };
    assert!(q.note.contains("the ladder quarantines"), "{}", q.note);
}

#[tokio::test]
async fn a_report_score_with_action_notice_notices() {
    let r = notice_rig(2).await;
    let a = "100.64.1.9";
    for (i, src) in ["a", "b", "c"].iter().enumerate() {
        r.report(a, src, Some(&format!("m{i}"))).await;
    }
    assert!(matches!(r.state(a).await, Some(State::Noticed(_))));
    assert!(r.noticed_in_kernel(a));
    assert!(!r.in_kernel(a));
}

#[tokio::test]
async fn a_detection_notice_and_the_ladders_quarantine_carry_the_kernels_count() {
    let r = notice_rig(1).await;
    let a = "100.64.1.2";
    r.seen(a, 25);
    r.detector.handle_crossing(crossing(a)).await;
    let Some(State::Noticed(n)) = r.state(a).await else {
        panic!("not noticed")
    };
    assert_eq!(n.evidence["smtp_attempts_threshold"], 20);
    assert_eq!(n.evidence["smtp_attempts"], 25);
    // Still sending: the ladder's quarantine names the signal and the
    // count the kernel had by then.
    r.seen(a, 70);
    r.clock.skip(cordon_config::ALERT_REPEAT);
    let again = r.detector.handle_crossing(crossing(a)).await;
    assert_eq!(
        again,
        CrossingOutcome::Noticed(r.unit(a), HostState::Quarantined)
    );
    let Some(State::Quarantined(q)) = r.state(a).await else {
        panic!("not quarantined")
    };
    assert_eq!(q.evidence["smtp_attempts_threshold"], 20);
    assert_eq!(q.evidence["smtp_attempts"], 70);
}
