//! The element messages byte for byte against `nft`'s.
//!
//! Each `NFT_*` capture is the batch `nft` 1.0.6 sent on Linux 6.18 for the
//! change named, taken with `strace -e trace=sendmsg -e write=all nft …`
//! in a throwaway namespace holding sets declared as Cordon's are (hash
//! sets `quarantined_v4`/`_v6`, interval sets `quarantined_ranges_v4`/`_v6`;
//! interval additions made into an empty set). Cordon's batch differs from
//! `nft`'s in three ways only, which [`as_cordon_sends`] applies to the
//! capture: every element message asks for an acknowledgement
//! (`NLM_F_ACK`), no `NFTA_SET_ELEM_LIST_SET_ID` (it names a set created
//! in the same batch; the kernel looks the set up by name first), and
//! each element of the list is typed `NFTA_LIST_ELEM` as the uapi header
//! says, where `libnftnl` numbers them 1, 2, 3 (the kernel ignores the
//! type).

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use super::found::{Found, found};
use super::message::{Op, SetChange, batch, get};

const NFT_ADD_HOST_V4: &str = "140000001000010000000000000000000000000a500000000c0a01040100000000000000010000000b000100636f72646f6e00001300020071756172616e74696e65645f76340000080004000000000114000380100001800c0001800800010064400307140000001100010002000000000000000000000a";
const NFT_DELETE_PREFIX_V6: &str = "140000001000010000000000000000000000000a540000000e0a01000100000000000000010000000b000100636f72646f6e00001300020071756172616e74696e65645f76360000200003801c000180180001801400010020010db8100000070000000000000000140000001100010002000000000000000000000a";
const NFT_ADD_RANGE_V4: &str = "140000001000010000000000000000000000000a880000000c0a01040100000000000000010000000b000100636f72646f6e00001a00020071756172616e74696e65645f72616e6765735f76340000000800040000000003440003801800018008000300000000010c0001800800010000000000100002800c00018008000100644009001800038008000300000000010c0001800800010064400a00140000001100010002000000000000000000000a";
const NFT_ADD_RANGE_V6: &str = "140000001000010000000000000000000000000aac0000000c0a01040100000000000000010000000b000100636f72646f6e00001a00020071756172616e74696e65645f72616e6765735f76360000000800040000000004680003802400018008000300000000011800018014000100000000000000000000000000000000001c000280180001801400010020010db8100000000000000000000000240003800800030000000001180001801400010020010db8100001000000000000000000140000001100010002000000000000000000000a";
const NFT_DELETE_RANGE_V4: &str = "140000001000010000000000000000000000000a680000000e0a01000100000000000000010000000b000100636f72646f6e00001a00020071756172616e74696e65645f72616e6765735f76340000002c000380100001800c00018008000100644009001800028008000300000000010c0001800800010064400a00140000001100010002000000000000000000000a";
pub(super) const NFT_ADD_RANGE_TO_THE_TOP_V4: &str = "140000001000010000000000000000000000000a7c0000000c0a01040100000000000000010000000b000100636f72646f6e00001a00020071756172616e74696e65645f72616e6765735f76340000000800040000000003380003801800018008000300000000010c00018008000100000000001c0002800c00018008000100ffffff000a0006000104010000000000140000001100010002000000000000000000000a";

pub(super) fn bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

/// `nft`'s batch as Cordon sends it (see the module docs for the three
/// differences), so the rest can be compared byte for byte.
pub(super) fn as_cordon_sends(capture: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = capture;
    while !rest.is_empty() {
        let len = u32::from_ne_bytes(rest[..4].try_into().unwrap()) as usize;
        let (msg, tail) = rest.split_at(len);
        rest = tail;
        let kind = u16_at(msg, 4);
        if kind >> 8 != 10 {
            out.extend_from_slice(msg); // batch begin or end
            continue;
        }
        let mut m = msg[..20].to_vec();
        let flags = u16_at(&m, 6) | 0x4;
        m[6..8].copy_from_slice(&flags.to_ne_bytes());
        let mut attrs = &msg[20..];
        while !attrs.is_empty() {
            let alen = usize::from(u16_at(attrs, 0));
            let padded = alen.next_multiple_of(4);
            let (attr, tail) = attrs.split_at(padded);
            attrs = tail;
            match u16_at(attr, 2) & 0x3fff {
                4 => {} // NFTA_SET_ELEM_LIST_SET_ID
                3 => {
                    m.extend_from_slice(&attr[..4]);
                    let mut elems = &attr[4..];
                    while !elems.is_empty() {
                        let elen = usize::from(u16_at(elems, 0));
                        let mut e = elems[..elen].to_vec();
                        e[2..4].copy_from_slice(&0x8001u16.to_ne_bytes());
                        m.extend_from_slice(&e);
                        elems = &elems[elen..];
                    }
                }
                _ => m.extend_from_slice(attr),
            }
        }
        let total = u32::try_from(m.len()).unwrap();
        m[..4].copy_from_slice(&total.to_ne_bytes());
        out.extend_from_slice(&m);
    }
    out
}

fn change(set: &str, op: Op, interval: bool, nets: &[&str]) -> SetChange {
    SetChange {
        set: set.into(),
        op,
        interval,
        nets: nets.iter().map(|n| n.parse().unwrap()).collect(),
    }
}

fn sent(changes: &[SetChange]) -> Vec<u8> {
    batch("cordon", changes, 0).unwrap().bytes
}

#[test]
fn host_and_subscriber_prefix_elements_are_what_nft_sends() {
    let add = change("quarantined_v4", Op::Add, false, &["100.64.3.7/32"]);
    assert_eq!(sent(&[add]), as_cordon_sends(&bytes(NFT_ADD_HOST_V4)));
    // An IPv6 subscriber's element is its prefix's first address.
    let del = change(
        "quarantined_v6",
        Op::Delete,
        false,
        &["2001:db8:1000:7::/64"],
    );
    assert_eq!(sent(&[del]), as_cordon_sends(&bytes(NFT_DELETE_PREFIX_V6)));
}

#[test]
fn ranges_are_two_elements_as_nft_sends_them() {
    let add = change("quarantined_ranges_v4", Op::Add, true, &["100.64.9.0/24"]);
    assert_eq!(sent(&[add]), as_cordon_sends(&bytes(NFT_ADD_RANGE_V4)));
    let add6 = change(
        "quarantined_ranges_v6",
        Op::Add,
        true,
        &["2001:db8:1000::/56"],
    );
    assert_eq!(sent(&[add6]), as_cordon_sends(&bytes(NFT_ADD_RANGE_V6)));
    let del = change(
        "quarantined_ranges_v4",
        Op::Delete,
        true,
        &["100.64.9.0/24"],
    );
    assert_eq!(sent(&[del]), as_cordon_sends(&bytes(NFT_DELETE_RANGE_V4)));
    let top = change(
        "quarantined_ranges_v4",
        Op::Add,
        true,
        &["255.255.255.0/24"],
    );
    assert_eq!(
        sent(&[top]),
        as_cordon_sends(&bytes(NFT_ADD_RANGE_TO_THE_TOP_V4))
    );
}

#[test]
fn a_large_change_is_one_batch_of_several_messages_naming_each_element() {
    let nets: Vec<String> = (0..1300u32)
        .map(|i| format!("100.64.{}.{}/32", i / 256, i % 256))
        .collect();
    let refs: Vec<&str> = nets.iter().map(String::as_str).collect();
    let b = batch(
        "cordon",
        &[change("quarantined_v4", Op::Add, false, &refs)],
        7,
    )
    .unwrap();
    // 1300 hosts: three messages of at most 512, between one begin and one end.
    assert_eq!(b.begin_seq, 7);
    let seqs: Vec<u32> = b.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [8, 9, 10]);
    assert_eq!(b.seqs_used(), 5);
    let counts: Vec<usize> = b.messages.iter().map(|m| m.elements.len()).collect();
    assert_eq!(counts, [512, 512, 276]);
    // The kernel points at an element by its offset in the message.
    let last = &b.messages[2];
    let (offset, net) = last.elements[275];
    assert_eq!(net.unwrap().to_string(), "100.64.5.19/32");
    assert_eq!(last.element_at(offset + 6), Some(net));
    // One datagram: the batch's begin, its three messages, its end.
    let end = &b.bytes[b.bytes.len() - 20..];
    assert_eq!(u16_at(end, 4), 0x11);
    assert_eq!(u32::from_ne_bytes(end[8..12].try_into().unwrap()), 11);
}

#[test]
fn a_lookup_asks_for_one_key_and_reads_counter_and_expiry() {
    let key: IpAddr = "100.64.1.2".parse().unwrap();
    let request = get("cordon", "smtp_recent_v4", key, 3).unwrap();
    // nlmsghdr: GETSETELEM of nf_tables, a request, sequence 3, inet.
    assert_eq!(u16_at(&request, 4), (10 << 8) | 13);
    assert_eq!(u16_at(&request, 6), 0x1);
    assert_eq!(u32::from_ne_bytes(request[8..12].try_into().unwrap()), 3);
    assert_eq!(request[16], 1);
    // The element list is `nft`'s own for the same lookup (its request
    // names the set before the table and asks for an acknowledgement):
    // `…14000380 10000180 0c000180 08000100 64400102`.
    assert!(request.ends_with(&bytes("14000380100001800c0001800800010064400102")));

    // The kernel's answer to `nft get element inet cordon smtp_recent_v4
    // { 100.64.1.2 }` (Linux 6.18, `strace -e read=all`), after its
    // netlink header: an element with a counter (3 packets, 180 bytes)
    // and 7 199 956 ms to go (`nft` printed `expires 1h59m59s956ms`).
    let answer = bytes(concat!(
        "01000018",
        "0b000100636f72646f6e0000",
        "13000200736d74705f726563656e745f76340000",
        "4c000300480001000c0001000800010064400102",
        "2c0007000c000100636f756e746572001c0002000c00010000000000000000b4",
        "0c0002000000000000000003",
        "0c00050000000000006ddcd4",
    ));
    assert_eq!(
        found(&answer),
        Some(Found {
            key: Some(key),
            expires_ms: Some(7_199_956),
            packets: Some(3),
            ..Found::default()
        })
    );
    assert_eq!(found(&answer[..4]), None);
}
