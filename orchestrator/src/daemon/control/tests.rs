#![allow(clippy::unwrap_used)]

use super::*;

/// An operator's reason with a NUL (a raw client's JSON `\u0000`; the CLI
/// cannot send one, argv cannot hold it) becomes a note with the NUL
/// escaped, the rest as given; empty and oversized reasons are refused.
#[test]
fn an_operators_reason_is_stored_with_its_nul_escaped() {
    let note = operator_note("  ticket 4711\0 (see mail)  ", "--reason x").unwrap();
    assert_eq!(note, "ticket 4711\\u{0} (see mail)");
    assert_eq!(
        operator_note("ticket 12", "--reason x").unwrap(),
        "ticket 12"
    );
    assert!(operator_note(" ", "--reason x").is_err());
    assert!(operator_note(&"x".repeat(MAX_REASON + 1), "--reason x").is_err());
    // At the bound, NULs and all: escaped, and still within it.
    let nuls = operator_note(&"\0".repeat(MAX_REASON), "--reason x").unwrap();
    assert!(nuls.len() <= MAX_REASON && !nuls.contains('\0'));
}
