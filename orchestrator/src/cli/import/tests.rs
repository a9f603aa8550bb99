//! Chunking of reports into requests.
use super::*;
use cordon_proto::text::MAX_EVIDENCE;

fn report(evidence: usize) -> ReportSubmission {
    ReportSubmission {
        address: "100.64.1.7".into(),
        at: 0,
        source: "feed".into(),
        evidence: "e".repeat(evidence),
        message_id: None,
        kind: None,
        weight: Some(1),
    }
}

#[test]
fn chunks_are_bounded_in_count_and_bytes_and_keep_the_order() {
    let c = chunks((0..12_001).map(|_| report(10)).collect());
    assert_eq!(
        c.iter().map(Vec::len).collect::<Vec<_>>(),
        [5000, 5000, 2001]
    );
    let c = chunks((0..1000).map(|_| report(MAX_EVIDENCE)).collect());
    assert!(c.len() > 2);
    for chunk in &c {
        let bytes = serde_json::to_vec(&Request::Report {
            reports: chunk.clone(),
        })
        .map_or(usize::MAX, |v| v.len());
        assert!(bytes <= CHUNK_BYTES + 64 * 1024, "{bytes}");
    }
    assert_eq!(c.iter().map(Vec::len).sum::<usize>(), 1000);
}
