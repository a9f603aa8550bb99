#!/bin/sh
# Sourced, not run (the #! line tells shellcheck and readers the shell).
# Shared by Cordon's hook scripts (dnsmasq-dhcp-script, kea-run-script,
# accel-ppp-ip-up, accel-ppp-ip-down): settings, input checks, logging and
# the one bounded call of `cordon session start|stop`.
#
# Settings, each from the environment or else from the file named by
# CORDON_HOOKS_CONF (default /etc/cordon/hooks.conf; lines KEY=VALUE, `#`
# comments; an unknown key is refused). The file exists because accel-ppp
# runs its scripts with an environment of its own (no PATH, nothing from its
# unit), and because one file is easier to keep right than three units:
#   CORDON                  the cordon program        [cordon, from PATH]
#   CORDON_SOCKET           cordond's control socket  [/run/cordon/control.sock]
#   CORDON_TIMEOUT          seconds one call may take [5]
#   CORDON_SUBSCRIBER_FROM  client | circuit-id       [client]
#       client: the DHCP client's MAC (IPv4) or DUID (IPv6);
#       circuit-id: the relay agent's circuit id (DHCPv4 option 82.1).
#       PPP hooks always use the user name (PEERNAME).
#
# Exit status of a hook: 0 done or nothing to do; 1 cordon could not do it
# (cordond unreachable, timeout); 2 refused input (odd or missing values).

# Servers may start us with an empty environment (accel-ppp does).
PATH=${PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}
export PATH
# Byte-wise checks and lengths, whatever the server's locale.
LC_ALL=C
export LC_ALL

# The longest subscriber id accepted: a RADIUS User-Name holds 253 bytes.
CORDON_ID_MAX=253

# Prints VALUE with every non-printable byte as `?`, cut to 120 bytes, so
# nothing odd reaches a log or terminal raw.
cordon_printable() {
    printf '%s' "$1" | tr -c '[:print:]' '?' | cut -b 1-120
}

# Logs a message to stderr (dnsmasq and accel-ppp log it) and to syslog
# (`logger -t cordon`) when logger is there.
cordon_log() {
    printf 'cordon hook %s: %s\n' "$CORDON_HOOK" "$1" >&2
    if command -v logger >/dev/null 2>&1; then
        logger -t cordon -p daemon.notice -- "hook $CORDON_HOOK: $1" 2>/dev/null || :
    fi
}

# Reads one setting: the environment wins, then the config file, then DEFAULT.
cordon_setting() {
    # $1 name, $2 default
    eval "cordon_v=\${$1-}"
    if [ -z "$cordon_v" ]; then
        eval "cordon_v=\${CORDON_FILE_$1-}"
    fi
    if [ -z "$cordon_v" ]; then
        cordon_v=$2
    fi
    eval "$1=\$cordon_v"
}

# Loads the config file (if any) and the settings; refuses unknown keys.
cordon_settings() {
    conf=${CORDON_HOOKS_CONF:-/etc/cordon/hooks.conf}
    if [ -r "$conf" ]; then
        line_no=0
        while IFS= read -r line || [ -n "$line" ]; do
            line_no=$((line_no + 1))
            case $line in
            '' | '#'*) continue ;;
            esac
            case $line in
            *=*) ;;
            *)
                cordon_log "$conf:$line_no: not KEY=VALUE: '$(cordon_printable "$line")'"
                exit 2
                ;;
            esac
            key=${line%%=*}
            # shellcheck disable=SC2034 # read by the eval below
            value=${line#*=}
            case $key in
            CORDON | CORDON_SOCKET | CORDON_TIMEOUT | CORDON_SUBSCRIBER_FROM)
                eval "CORDON_FILE_$key=\$value"
                ;;
            *)
                cordon_log "$conf:$line_no: unknown setting '$(cordon_printable "$key")' (known: CORDON, CORDON_SOCKET, CORDON_TIMEOUT, CORDON_SUBSCRIBER_FROM)"
                exit 2
                ;;
            esac
        done <"$conf"
    fi
    cordon_setting CORDON cordon
    cordon_setting CORDON_SOCKET /run/cordon/control.sock
    cordon_setting CORDON_TIMEOUT 5
    cordon_setting CORDON_SUBSCRIBER_FROM client
    case $CORDON_TIMEOUT in
    '' | *[!0-9]* | 0)
        cordon_log "CORDON_TIMEOUT must be a whole number of seconds above 0, not '$(cordon_printable "$CORDON_TIMEOUT")'"
        exit 2
        ;;
    esac
    case $CORDON_SUBSCRIBER_FROM in
    client | circuit-id) ;;
    *)
        cordon_log "CORDON_SUBSCRIBER_FROM must be client or circuit-id, not '$(cordon_printable "$CORDON_SUBSCRIBER_FROM")'"
        exit 2
        ;;
    esac
}

# Refuses (exit 2) a subscriber id that is empty, too long or holds a
# control character. $1 the id, $2 what it was taken from (for the message).
cordon_check_id() {
    if [ -z "$1" ]; then
        cordon_log "no subscriber id: $2 is empty or missing"
        exit 2
    fi
    if [ "${#1}" -gt "$CORDON_ID_MAX" ]; then
        cordon_log "subscriber id from $2 is longer than $CORDON_ID_MAX bytes: '$(cordon_printable "$1")'"
        exit 2
    fi
    case $1 in
    *[[:cntrl:]]*)
        cordon_log "subscriber id from $2 holds a control character: '$(cordon_printable "$1")'"
        exit 2
        ;;
    esac
}

# Refuses (exit 2) an address or prefix with anything but hex digits, dots,
# colons and one slash; cordon itself checks the rest (and answers 2).
cordon_check_address() {
    case $1 in
    '')
        cordon_log "no address: $2 is empty or missing"
        exit 2
        ;;
    *[!0-9A-Fa-f.:/]* | */*/*)
        cordon_log "$2 is not an address: '$(cordon_printable "$1")'"
        exit 2
        ;;
    esac
    if [ "${#1}" -gt 50 ]; then
        cordon_log "$2 is too long for an address: '$(cordon_printable "$1")'"
        exit 2
    fi
}

# Runs `cordon --socket S session ARGS...`, bounded by CORDON_TIMEOUT (then
# TERM, and KILL a second later), and returns 0, 1 or 2 as cordon does. A
# timeout or a cordon that cannot be run is 1.
cordon_session() {
    timeout -k 1 "$CORDON_TIMEOUT" "$CORDON" --socket "$CORDON_SOCKET" session "$@"
    status=$?
    case $status in
    0) return 0 ;;
    2)
        cordon_log "cordon refused: session $(cordon_printable "$*")"
        return 2
        ;;
    124 | 137)
        cordon_log "cordon took longer than ${CORDON_TIMEOUT}s: session $(cordon_printable "$*")"
        return 1
        ;;
    *)
        cordon_log "cordon failed (status $status): session $(cordon_printable "$*")"
        return 1
        ;;
    esac
}
