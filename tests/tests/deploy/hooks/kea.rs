//! Kea's run_script hook points, with the variables Kea's run_script.cc
//! exports for each.

use super::{Hook, session, stderr};

#[test]
fn kea_v4_hook_points_map_to_start_and_stop() {
    let hook = Hook::new();
    let committed = [
        ("LEASES4_SIZE", "1"),
        ("LEASES4_AT0_ADDRESS", "100.64.0.70"),
        ("LEASES4_AT0_HWADDR", "52:54:00:00:00:70"),
        ("LEASES4_AT0_HWADDR_TYPE", "1"),
        ("LEASES4_AT0_STATE", "default"),
        ("DELETED_LEASES4_SIZE", "0"),
        ("QUERY4_TYPE", "DHCPREQUEST"),
    ];
    assert!(
        hook.run("kea-run-script", &["leases4_committed"], &committed)
            .status
            .success()
    );
    let lease = [
        ("LEASE4_ADDRESS", "100.64.0.70"),
        ("LEASE4_HWADDR", "52:54:00:00:00:70"),
        ("LEASE4_HWADDR_TYPE", "1"),
    ];
    for point in [
        "lease4_renew",
        "lease4_release",
        "lease4_expire",
        "lease4_decline",
    ] {
        let out = hook.run("kea-run-script", &[point], &lease);
        assert!(out.status.success(), "{point}: {}", stderr(&out));
    }
    let circuit = [
        ("CORDON_SUBSCRIBER_FROM", "circuit-id"),
        ("QUERY4_OPTION_82", "0x01066F6C7431"),
        ("QUERY4_OPTION_82_SUB_OPTION_1", "0x6F6C7431"),
        ("LEASE4_ADDRESS", "100.64.0.71"),
        ("LEASE4_HWADDR", "52:54:00:00:00:71"),
    ];
    assert!(
        hook.run("kea-run-script", &["lease4_renew"], &circuit)
            .status
            .success()
    );
    let m = "52:54:00:00:00:70";
    let start = session(&[
        "start",
        "--subscriber",
        m,
        "--address",
        "100.64.0.70",
        "--source",
        "dhcp",
    ]);
    let stop = session(&[
        "stop",
        "--subscriber",
        m,
        "--address",
        "100.64.0.70",
        "--source",
        "dhcp",
    ]);
    assert_eq!(
        hook.calls(),
        vec![
            start.clone(),
            start,
            stop.clone(),
            stop.clone(),
            stop,
            session(&[
                "start",
                "--subscriber",
                "0x6F6C7431",
                "--address",
                "100.64.0.71",
                "--source",
                "dhcp"
            ]),
        ]
    );
}

#[test]
fn kea_v6_delegated_prefix_is_a_prefix_and_deleted_leases_stop() {
    let hook = Hook::new();
    let duid = "00:03:00:01:52:54:00:00:00:80";
    let env = [
        ("LEASES6_SIZE", "2"),
        ("LEASES6_AT0_ADDRESS", "2001:db8:1::80"),
        ("LEASES6_AT0_TYPE", "IA_NA"),
        ("LEASES6_AT0_PREFIX_LEN", "128"),
        ("LEASES6_AT0_DUID", duid),
        ("LEASES6_AT1_ADDRESS", "2001:db8:8000::"),
        ("LEASES6_AT1_TYPE", "IA_PD"),
        ("LEASES6_AT1_PREFIX_LEN", "56"),
        ("LEASES6_AT1_DUID", duid),
        ("DELETED_LEASES6_SIZE", "1"),
        ("DELETED_LEASES6_AT0_ADDRESS", "2001:db8:1::79"),
        ("DELETED_LEASES6_AT0_TYPE", "IA_NA"),
        ("DELETED_LEASES6_AT0_PREFIX_LEN", "128"),
        ("DELETED_LEASES6_AT0_DUID", duid),
    ];
    let out = hook.run("kea-run-script", &["leases6_committed"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let expire = [
        ("LEASE6_ADDRESS", "2001:db8:8000::"),
        ("LEASE6_TYPE", "IA_PD"),
        ("LEASE6_PREFIX_LEN", "56"),
        ("LEASE6_DUID", duid),
        ("REMOVE_LEASE", "false"),
    ];
    let out = hook.run("kea-run-script", &["lease6_expire"], &expire);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        hook.calls(),
        vec![
            session(&[
                "start",
                "--subscriber",
                duid,
                "--address",
                "2001:db8:1::80",
                "--source",
                "dhcp"
            ]),
            session(&[
                "start",
                "--subscriber",
                duid,
                "--prefix",
                "2001:db8:8000::/56",
                "--source",
                "dhcp"
            ]),
            session(&[
                "stop",
                "--subscriber",
                duid,
                "--address",
                "2001:db8:1::79",
                "--source",
                "dhcp"
            ]),
            session(&[
                "stop",
                "--subscriber",
                duid,
                "--prefix",
                "2001:db8:8000::/56",
                "--source",
                "dhcp"
            ]),
        ]
    );
}
