#!/bin/sh
# Sourced, not run (the #! line tells shellcheck and readers the shell).
# accel-ppp's [pppd-compat] ip-up and ip-down, shared: sourced by
# accel-ppp-ip-up and accel-ppp-ip-down after cordon-hook-common.sh.
#
# accel-ppp (accel-pppd/extra/pppd_compat.c) runs the script with the
# pppd-style arguments IFNAME none 0 LOCAL-IPv4 PEER-IPv4 CALLING-STATION-ID
# and an environment of its own: PEERNAME (the user name), CALLING_SID,
# CALLED_SID, IPV6_PREFIX (the peer's IPv6 address and prefix length, when
# the session has IPv6), IPV6_DELEGATED_PREFIX (the delegated prefix, when
# one is delegated), and on ip-down CONNECT_TIME and byte counts. pppd
# itself sets IPREMOTE; accel-ppp does not, so the peer address is IPREMOTE
# when set, else argument 5.
#
# The subscriber is PEERNAME. The address is the peer's IPv4 address, or on
# an IPv6-only session (argument 5 is 0.0.0.0) the address in IPV6_PREFIX;
# IPV6_PREFIX (when IPv4 is there too) and IPV6_DELEGATED_PREFIX are
# --prefix.

# $1 start|stop, the rest the script's own arguments.
cordon_ppp() {
    verb=$1
    shift
    cordon_settings
    subscriber=${PEERNAME-}
    cordon_check_id "$subscriber" PEERNAME
    peer=${IPREMOTE:-${5-}}
    v6=${IPV6_PREFIX-}
    pd=${IPV6_DELEGATED_PREFIX-}
    [ -z "$v6" ] || cordon_check_address "$v6" IPV6_PREFIX
    [ -z "$pd" ] || cordon_check_address "$pd" IPV6_DELEGATED_PREFIX
    if [ -z "$peer" ] || [ "$peer" = 0.0.0.0 ]; then
        if [ -z "$v6" ]; then
            cordon_log "session of '$(cordon_printable "$subscriber")' has no address: no IPv4 peer (IPREMOTE, argument 5) and no IPV6_PREFIX"
            exit 2
        fi
        address=${v6%/*}
        v6=''
    else
        address=$peer
        cordon_check_address "$address" "the peer's address (IPREMOTE or argument 5)"
    fi
    set -- "$verb" --subscriber "$subscriber" --address "$address"
    [ -z "$v6" ] || set -- "$@" --prefix "$v6"
    [ -z "$pd" ] || set -- "$@" --prefix "$pd"
    cordon_session "$@" --source ppp
}
