//! cordond's nftables monitor against the real kernel, in a namespace of
//! its own: a change of Cordon's table is heard, cordond's own kind of
//! change (set elements) and other tables' changes are not.

#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cordon_orchestrator::kernel::{Notice, TableEvents, watch_table};

/// Long enough for a notice that is coming (they arrive in milliseconds,
/// plus the monitor's 20 ms settling); the wait for one that must not come.
const HEARD_WITHIN: Duration = Duration::from_secs(1);
const SILENT_FOR: Duration = Duration::from_millis(300);

/// A namespace removed on drop, even when the test fails.
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "cl-omon-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .unwrap();
        assert!(ok.success(), "ip netns add {name} (are you root?)");
        Netns(name)
    }

    fn nft(&self, text: &str) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.0, "nft", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "nft refused {text}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.0])
            .status();
    }
}

async fn heard(events: &mut TableEvents, within: Duration) -> Option<Notice> {
    tokio::time::timeout(within, events.next())
        .await
        .ok()
        .map(Result::unwrap)
}

#[test]
fn table_changes_are_heard_and_element_changes_are_not() {
    let ns = Netns::new();
    let golden = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../rules/tests/golden/example.nft"
    );
    let table = std::fs::read_to_string(golden).unwrap();
    let file = File::open(format!("/run/netns/{}", ns.0)).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            // Only this thread enters the namespace: the socket is the
            // namespace's, the test's own thread stays where it was.
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut events = watch_table("cordon").unwrap();
                ns.nft(&table);
                assert_eq!(
                    heard(&mut events, HEARD_WITHIN).await,
                    Some(Notice::Changed),
                    "the table installed"
                );

                // What cordond does all day: elements in and out.
                let hosts: Vec<String> = (0..2000)
                    .map(|i| format!("100.64.{}.{}", i / 250, i % 250 + 1))
                    .collect();
                for verb in ["add", "delete"] {
                    ns.nft(&format!(
                        "{verb} element inet cordon quarantined_v4 {{ {} }}\n",
                        hosts.join(", ")
                    ));
                }
                // Another table.
                ns.nft("add table inet other\nadd chain inet other c\nflush chain inet other c\n");
                assert_eq!(
                    heard(&mut events, SILENT_FOR).await,
                    None,
                    "elements and other tables are not changes of ours"
                );

                ns.nft("flush chain inet cordon forward\n");
                assert_eq!(
                    heard(&mut events, HEARD_WITHIN).await,
                    Some(Notice::Changed),
                    "a flushed chain"
                );
                ns.nft("delete table inet cordon\n");
                assert_eq!(
                    heard(&mut events, HEARD_WITHIN).await,
                    Some(Notice::Changed),
                    "the table deleted"
                );
            });
        })
        .join()
        .unwrap();
    });
}
