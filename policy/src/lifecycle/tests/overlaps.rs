//! Overlapping quarantines: a range over a quarantined host, a host inside
//! a quarantined range, found by lookup among many records in both families.

use super::*;

#[test]
fn overlapping_quarantines_are_refused() {
    let mut m = machine();
    m.handle(quarantine(addr("100.64.1.7"), None), 0).unwrap();
    let err = m
        .handle(quarantine(addr("100.64.1.0/24"), None), 0)
        .unwrap_err();
    assert!(matches!(err, Refusal::Overlaps { .. }), "{err}");
}

#[test]
fn overlaps_are_found_among_many_records_either_way() {
    let mut m = machine();
    for i in 1..200 {
        m.handle(quarantine(addr(&format!("100.64.{i}.9")), None), 0)
            .unwrap();
    }
    // A range over quarantined hosts is refused, naming the first of them.
    let wide = addr("100.64.128.0/17");
    let err = m.handle(quarantine(wide.clone(), None), 1).unwrap_err();
    assert_eq!(
        err,
        Refusal::Overlaps {
            addr: wide.addr().unwrap(),
            other: (addr("100.64.128.9")).addr().unwrap()
        }
    );
    // A range over hosts on probation only is fine, and then covers the
    // hosts inside it, however many records lie between its first address
    // and theirs.
    for i in 64..128 {
        m.handle(release(addr(&format!("100.64.{i}.9"))), 2)
            .unwrap();
    }
    let range = addr("100.64.64.0/18");
    m.handle(quarantine(range.clone(), None), 3).unwrap();
    assert_eq!(m.lookup(&addr("100.64.127.200")).unwrap().subject, range);
    assert_eq!(m.lookup(&addr("100.64.64.1")).unwrap().subject, range);
    assert_eq!(
        m.lookup(&addr("100.64.128.9")).unwrap().subject,
        addr("100.64.128.9")
    );
    let host = addr("100.64.127.200");
    let err = m.handle(quarantine(host.clone(), None), 4).unwrap_err();
    assert_eq!(
        err,
        Refusal::Overlaps {
            addr: host.addr().unwrap(),
            other: (range).addr().unwrap()
        }
    );
    // A quarantine's own record is no overlap.
    m.handle(quarantine(range, Some(Duration::from_secs(9_000))), 5)
        .unwrap();
    // The same in IPv6.
    let v6 = addr("2001:db8:1:2::5");
    m.handle(quarantine(v6.clone(), None), 6).unwrap();
    let err = m
        .handle(quarantine(addr("2001:db8:1::/48"), None), 6)
        .unwrap_err();
    assert!(
        matches!(err, Refusal::Overlaps { other, .. } if Subject::Addr(other) == v6),
        "{err}"
    );
}
