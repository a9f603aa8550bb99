//! accel-ppp's pppd_compat ip-up and ip-down, with the arguments and
//! environment pppd_compat.c gives them.

use super::{Hook, session};

#[test]
fn accel_ppp_up_and_down_as_accel_ppp_calls_them() {
    let hook = Hook::new();
    // pppd_compat.c: argv IFNAME none 0 LOCAL PEER CALLING-SID, and its env.
    let args = [
        "ppp3",
        "none",
        "0",
        "100.64.0.1",
        "100.64.0.90",
        "52:54:00:00:00:90",
    ];
    let env = [
        ("PEERNAME", "alice@isp.example"),
        ("CALLING_SID", "52:54:00:00:00:90"),
        ("CALLED_SID", "bras1"),
        ("IPV6_PREFIX", "2001:db8:1::5/64"),
        ("IPV6_DELEGATED_PREFIX", "2001:db8:9100::/56"),
    ];
    assert!(hook.run("accel-ppp-ip-up", &args, &env).status.success());
    let mut down = env.to_vec();
    down.push(("CONNECT_TIME", "3600"));
    assert!(hook.run("accel-ppp-ip-down", &args, &down).status.success());
    // pppd's IPREMOTE wins over argument 5; an IPv6-only session uses its address.
    let v6_only = [("PEERNAME", "bob"), ("IPV6_PREFIX", "2001:db8:2::7/64")];
    let zero = ["ppp4", "none", "0", "0.0.0.0", "0.0.0.0", ""];
    assert!(
        hook.run("accel-ppp-ip-up", &zero, &v6_only)
            .status
            .success()
    );
    assert!(
        hook.run(
            "accel-ppp-ip-up",
            &args,
            &[("PEERNAME", "carol"), ("IPREMOTE", "100.64.0.91")]
        )
        .status
        .success()
    );
    let tail = [
        "--address",
        "100.64.0.90",
        "--prefix",
        "2001:db8:1::5/64",
        "--prefix",
        "2001:db8:9100::/56",
        "--source",
        "ppp",
    ];
    let mut up = vec!["start", "--subscriber", "alice@isp.example"];
    up.extend(tail);
    let mut stop = vec!["stop", "--subscriber", "alice@isp.example"];
    stop.extend(tail);
    assert_eq!(
        hook.calls(),
        vec![
            session(&up),
            session(&stop),
            session(&[
                "start",
                "--subscriber",
                "bob",
                "--address",
                "2001:db8:2::7",
                "--source",
                "ppp"
            ]),
            session(&[
                "start",
                "--subscriber",
                "carol",
                "--address",
                "100.64.0.91",
                "--source",
                "ppp"
            ]),
        ]
    );
}
