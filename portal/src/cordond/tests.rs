#![allow(clippy::unwrap_used)]
use super::*;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cordon_runtime::frame::{framed, recv, send};
use tokio::net::UnixListener;

use crate::fixtures::quarantined as status;

/// A stand-in `cordond` that counts the connections it accepted and
/// answers `questions_per_connection` questions on each before closing
/// it (`usize::MAX`: keep it open). Aborting its task stops it as a
/// stopping `cordond` does: listener and connections closed.
fn serve(
    listener: UnixListener,
    questions_per_connection: usize,
) -> (Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    let task = tokio::spawn(async move {
        // Aborting the stand-in drops this set, closing every connection.
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            connections.spawn(async move {
                let mut io = framed(stream);
                for _ in 0..questions_per_connection {
                    let Ok(Some(Request::Status { address })) = recv(&mut io).await else {
                        return;
                    };
                    let answer = Response::Status(status(address));
                    if send(&mut io, &answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (accepted, task)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A stand-in `cordond` that reads every question on every connection and
/// answers each with `answer`, after `pause`; `None`: never answers it.
fn answering(
    listener: UnixListener,
    pause: Duration,
    answer: fn(Request) -> Option<Response>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut io = framed(stream);
                while let Ok(Some(request)) = recv::<Request>(&mut io).await {
                    tokio::time::sleep(pause).await;
                    let Some(a) = answer(request) else { continue };
                    if send(&mut io, &a).await.is_err() {
                        return;
                    }
                }
            });
        }
    })
}

/// Reads questions and never answers.
fn silent(listener: UnixListener) -> tokio::task::JoinHandle<()> {
    answering(listener, Duration::ZERO, |_| None)
}

/// Each runtime asks on a connection of its own, however many questions
/// it has at once, and keeps it for its next turn.
#[tokio::test]
async fn each_runtime_asks_on_one_connection_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portal.sock");
    let (accepted, _server) = serve(UnixListener::bind(&path).unwrap(), usize::MAX);
    let c = Arc::new(Cordond::new(path, Duration::from_secs(2)));
    // Each runtime on a thread of its own, as the portal's are; the
    // runtime lives for `turns` turns of MAX_IN_FLIGHT questions at once.
    let runtime = |c: Arc<Cordond>, turns: usize| {
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                for _ in 0..turns {
                    let mut all = tokio::task::JoinSet::new();
                    for i in 0..MAX_IN_FLIGHT {
                        let c = Arc::clone(&c);
                        let peer = IpAddr::from([100, 64, 0, u8::try_from(i).unwrap()]);
                        all.spawn(async move {
                            assert_eq!(c.status(peer).await.unwrap().address, peer.to_string());
                        });
                    }
                    while let Some(r) = all.join_next().await {
                        r.unwrap();
                    }
                }
            });
        });
        tokio::task::spawn_blocking(move || thread.join().unwrap())
    };
    runtime(Arc::clone(&c), 1).await.unwrap();
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    runtime(Arc::clone(&c), 3).await.unwrap();
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

/// Questions asked at once all reach `cordond` before any is answered:
/// this stand-in answers only once it holds eight, which a client asking
/// one at a time would never give it.
#[tokio::test]
async fn questions_asked_together_travel_together() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portal.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let _server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut io = framed(stream);
        let mut held = Vec::new();
        while held.len() < 8 {
            let Ok(Some(Request::Status { address })) = recv::<Request>(&mut io).await else {
                panic!("no question");
            };
            held.push(address);
        }
        for address in held {
            send(&mut io, &Response::Status(status(address)))
                .await
                .unwrap();
        }
    });
    let c = Arc::new(Cordond::new(path, Duration::from_secs(5)));
    let asks = (1..=8u8).map(|i| {
        let c = Arc::clone(&c);
        async move {
            let peer = IpAddr::from([100, 64, 0, i]);
            (peer, c.status(peer).await)
        }
    });
    let mut all = tokio::task::JoinSet::new();
    for ask in asks {
        all.spawn(ask);
    }
    while let Some(r) = all.join_next().await {
        let (peer, answer) = r.unwrap();
        // Each answer went to the question it answers.
        assert_eq!(answer.unwrap().address, peer.to_string());
    }
}

#[tokio::test]
async fn one_connection_serves_question_after_question() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portal.sock");
    let (accepted, _server) = serve(UnixListener::bind(&path).unwrap(), usize::MAX);
    let c = Cordond::new(path, Duration::from_secs(2));
    for i in 1..=5u8 {
        let peer = IpAddr::from([100, 64, 0, i]);
        assert_eq!(c.status(peer).await.unwrap().address, peer.to_string());
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    assert_eq!(c.connections(), 1);
}

#[tokio::test]
async fn a_connection_closed_by_cordond_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portal.sock");
    // Closes each connection after one answer, as a restart would.
    let (accepted, _server) = serve(UnixListener::bind(&path).unwrap(), 1);
    let c = Cordond::new(path, Duration::from_secs(2));
    for _ in 0..3 {
        assert!(c.status(ip("100.64.0.1")).await.is_ok());
        // Let the stand-in close its end.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_restarted_cordond_is_found_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portal.sock");
    let (_, first) = serve(UnixListener::bind(&path).unwrap(), usize::MAX);
    let c = Cordond::new(path.clone(), Duration::from_secs(2));
    assert!(c.status(ip("100.64.0.1")).await.is_ok());
    assert_eq!(c.connections(), 1);

    // cordond stops: its listener and every connection close.
    first.abort();
    let _ = first.await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    std::fs::remove_file(&path).unwrap();
    assert!(c.status(ip("100.64.0.1")).await.is_err(), "nobody answers");

    // And starts again on the same path.
    let (accepted, _second) = serve(UnixListener::bind(&path).unwrap(), usize::MAX);
    assert!(c.status(ip("100.64.0.1")).await.is_ok());
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_kept_connection_failing_mid_question_is_retried_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portal.sock");
    let listener = UnixListener::bind(&path).unwrap();
    // The first connection answers once, then reads the next question
    // and closes without an answer; the second answers normally.
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut io = framed(stream);
        let Ok(Some(Request::Status { address })) = recv::<Request>(&mut io).await else {
            panic!("no question");
        };
        send(&mut io, &Response::Status(status(address)))
            .await
            .unwrap();
        let _ = recv::<Request>(&mut io).await;
        drop(io);
        let (stream, _) = listener.accept().await.unwrap();
        let mut io = framed(stream);
        while let Ok(Some(Request::Status { address })) = recv::<Request>(&mut io).await {
            send(&mut io, &Response::Status(status(address)))
                .await
                .unwrap();
        }
    });
    let c = Cordond::new(path, Duration::from_secs(2));
    assert!(c.status(ip("100.64.0.1")).await.is_ok());
    assert_eq!(
        c.status(ip("100.64.0.2")).await.unwrap().address,
        "100.64.0.2"
    );
    assert_eq!(c.connections(), 1);
    server.abort();
}

#[tokio::test]
async fn an_unanswered_connection_is_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portal.sock");
    let _server = silent(UnixListener::bind(&path).unwrap());
    let c = Cordond::new(path, Duration::from_millis(100));
    assert!(c.status(ip("100.64.0.1")).await.is_err());
    // The line gives the connection up at the same deadline.
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while c.connections() > 0 {
        assert!(
            std::time::Instant::now() < until,
            "the unanswered connection is still kept"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// An answer is timed into the wait histogram; a question nobody answers
/// counts as a failure (and is not timed).
#[tokio::test]
async fn waits_are_timed_and_failures_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portal.sock");
    let (_, _server) = serve(UnixListener::bind(&path).unwrap(), usize::MAX);
    let c = Cordond::new(path, Duration::from_secs(2));
    c.status(ip("100.64.0.1")).await.unwrap();
    let quiet = dir.path().join("silent.sock");
    let _quiet = silent(UnixListener::bind(&quiet).unwrap());
    let unanswered = Cordond::new(quiet, Duration::from_millis(100));
    assert!(unanswered.status(ip("100.64.0.2")).await.is_err());

    let text = |waits: Waits| {
        let limiter = crate::connlimit::ConnLimiter::new(8, 8, 64);
        crate::metrics::Metrics::new(limiter, waits).encode()
    };
    let answered = text(c.waits());
    assert!(
        answered.contains("cordon_portal_cordond_wait_seconds_count 1\n"),
        "{answered}"
    );
    assert!(
        answered.contains("cordon_portal_cordond_failures_total 0\n"),
        "{answered}"
    );
    let failed = text(unanswered.waits());
    assert!(
        failed.contains("cordon_portal_cordond_wait_seconds_count 0\n"),
        "{failed}"
    );
    assert!(
        failed.contains("cordon_portal_cordond_failures_total 1\n"),
        "{failed}"
    );
}

/// A button press waits for `cordond` longer than a question about the
/// caller: `cordond` answers a press once it is recorded and in the
/// kernel, which a loaded disk can hold up past a page's deadline.
#[tokio::test]
async fn a_press_waits_longer_than_a_question() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slow.sock");
    // Answers everything, each after a pause longer than a question's
    // deadline and shorter than a press's.
    let _slow = answering(
        UnixListener::bind(&path).unwrap(),
        Duration::from_millis(300),
        |request| {
            Some(match request {
                Request::Status { address } => Response::Status(status(address)),
                Request::SelfRelease { .. } => Response::SelfRelease(SelfReleaseOutcome::Released),
                Request::Acknowledge { .. } => Response::Acknowledged { acknowledged: true },
            })
        },
    );
    let c = Cordond::new(path, Duration::from_millis(100)).presses_within(Duration::from_secs(5));
    let e = c.status(ip("100.64.0.1")).await.unwrap_err().to_string();
    assert!(e.contains("100ms"), "{e}");
    assert!(c.acknowledge(ip("100.64.0.1")).await.unwrap());
    // Asked together, on one connection: the question's deadline passes
    // first and the connection goes (a late answer must not be taken for
    // the press's); the press is sent again on a new one and answered.
    let (status, pressed) =
        tokio::join!(c.status(ip("100.64.0.2")), c.acknowledge(ip("100.64.0.2")));
    assert!(status.is_err());
    assert!(pressed.unwrap());
    assert_eq!(
        c.self_release(ip("100.64.0.1")).await.unwrap(),
        SelfReleaseOutcome::Released
    );
}
