//! cordond's nftables monitor against the real kernel, in a namespace of
//! its own: a change of Cordon's table is heard, cordond's own kind of
//! change (set elements) and other tables' changes are not.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cordon_orchestrator::kernel::{Notice, TableEvents, watch_table};
use cordon_testkit::Netns;

/// Long enough for a notice that is coming (they arrive in milliseconds,
/// plus the monitor's 20 ms settling); the wait for one that must not come.
const HEARD_WITHIN: Duration = Duration::from_secs(1);
const SILENT_FOR: Duration = Duration::from_millis(300);

async fn heard(events: &mut TableEvents, within: Duration) -> Option<Notice> {
    tokio::time::timeout(within, events.next())
        .await
        .ok()
        .map(Result::unwrap)
}

#[test]
fn table_changes_are_heard_and_element_changes_are_not() {
    let ns = Netns::new("omon");
    let golden = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../rules/tests/golden/example.nft"
    );
    let table = std::fs::read_to_string(golden).unwrap();
    // Only a thread of the guard's enters the namespace: the socket is the
    // namespace's, the test's own thread stays where it was.
    ns.block_on(|| async {
        let mut events = watch_table("cordon").unwrap();
        ns.load_ruleset(&table);
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
            ns.load_ruleset(&format!(
                "{verb} element inet cordon quarantined_v4 {{ {} }}\n",
                hosts.join(", ")
            ));
        }
        // Another table.
        ns.load_ruleset("add table inet other\nadd chain inet other c\nflush chain inet other c\n");
        assert_eq!(
            heard(&mut events, SILENT_FOR).await,
            None,
            "elements and other tables are not changes of ours"
        );

        ns.load_ruleset("flush chain inet cordon forward\n");
        assert_eq!(
            heard(&mut events, HEARD_WITHIN).await,
            Some(Notice::Changed),
            "a flushed chain"
        );
        ns.load_ruleset("delete table inet cordon\n");
        assert_eq!(
            heard(&mut events, HEARD_WITHIN).await,
            Some(Notice::Changed),
            "the table deleted"
        );
    });
}
