#![allow(clippy::unwrap_used)]

use super::*;

/// `NFPROTO_INET`, `NFTA_TABLE` (the table-name attribute of every table,
/// chain, rule, set, object and flowtable message) and the size of
/// `struct nfgenmsg`.
const NFPROTO_INET: u8 = 1;
const NFTA_TABLE: u16 = 1;
const NFGENMSG_LEN: usize = 4;

/// `NFT_MSG_*` types used below.
const NEWTABLE: u16 = 0;
const DELCHAIN: u16 = 5;
const DELRULE: u16 = 8;
const NEWSET: u16 = 9;
const NEWSETELEM: u16 = 12;
const NEWGEN: u16 = 15;

/// One nftables notification as the kernel frames it: netlink header,
/// nfgenmsg, then the table-name attribute and one more.
fn message(msg: u16, family: u8, table: &str) -> Vec<u8> {
    let mut attrs = Vec::new();
    for (kind, value) in [(NFTA_TABLE, table.as_bytes()), (2, b"forward".as_slice())] {
        let mut v = value.to_vec();
        v.push(0);
        let len = u16::try_from(4 + v.len()).unwrap();
        attrs.extend(len.to_ne_bytes());
        attrs.extend(kind.to_ne_bytes());
        attrs.extend(&v);
        while attrs.len() % 4 != 0 {
            attrs.push(0);
        }
    }
    let mut out = Vec::new();
    let len = u32::try_from(16 + NFGENMSG_LEN + attrs.len()).unwrap();
    out.extend(len.to_ne_bytes());
    out.extend(((NFNL_SUBSYS_NFTABLES << 8) | msg).to_ne_bytes());
    out.extend(0u16.to_ne_bytes()); // flags
    out.extend(7u32.to_ne_bytes()); // sequence
    out.extend(0u32.to_ne_bytes()); // port
    out.extend([family, 0, 0, 3]); // nfgenmsg: family, version, res_id
    out.extend(attrs);
    out
}

#[test]
fn rule_chain_set_and_table_changes_of_our_table_concern_us() {
    for msg in [NEWTABLE, DELCHAIN, DELRULE, NEWSET] {
        assert!(
            concerns(&message(msg, NFPROTO_INET, "cordon"), "cordon"),
            "{msg}"
        );
    }
}

#[test]
fn element_and_generation_messages_other_tables_and_families_do_not() {
    assert!(!concerns(
        &message(NEWSETELEM, NFPROTO_INET, "cordon"),
        "cordon"
    ));
    assert!(!concerns(
        &message(NEWGEN, NFPROTO_INET, "cordon"),
        "cordon"
    ));
    assert!(!concerns(
        &message(DELRULE, NFPROTO_INET, "filter"),
        "cordon"
    ));
    assert!(!concerns(
        &message(DELRULE, NFPROTO_INET, "cordon2"),
        "cordon"
    ));
    // `ip cordon` is another table than `inet cordon`.
    assert!(!concerns(&message(DELRULE, 2, "cordon"), "cordon"));
    assert!(!concerns(&[], "cordon"));
}

#[test]
fn one_change_among_many_element_messages_is_found() {
    let mut datagram = Vec::new();
    for _ in 0..50 {
        datagram.extend(message(NEWSETELEM, NFPROTO_INET, "cordon"));
    }
    assert!(!concerns(&datagram, "cordon"));
    datagram.extend(message(DELRULE, NFPROTO_INET, "cordon"));
    datagram.extend(message(NEWGEN, NFPROTO_INET, "cordon"));
    assert!(concerns(&datagram, "cordon"));
}

#[test]
fn a_truncated_message_is_compared_rather_than_ignored() {
    let whole = message(DELRULE, NFPROTO_INET, "other");
    assert!(!concerns(&whole, "cordon"));
    assert!(concerns(&whole[..whole.len() - 6], "cordon"));
}

proptest::proptest! {
    #[test]
    fn any_bytes_are_read_without_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        let _ = concerns(&bytes, "cordon");
    }
}
