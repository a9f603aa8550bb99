#!/usr/bin/env bash
# Provisioning shared by the three lab machines (runs first, as root):
# a few tools, and the boot-time unit that puts the lab's IPv6 addresses and
# routes back after a reboot (Vagrant configures only the IPv4 addresses).
# Usage: common.sh subscriber|gateway|internet
# Safe to re-run.
set -euo pipefail

role="${1:-}"
case "$role" in
  subscriber | gateway | internet) ;;
  *)
    echo "usage: $0 subscriber|gateway|internet" >&2
    exit 2
    ;;
esac

export DEBIAN_FRONTEND=noninteractive

# Installs the packages that are missing; fetches the package lists only if
# something is.
want=(iproute2 curl ca-certificates tcpdump dnsutils netcat-openbsd)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "common: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The role's script installs itself as /usr/local/sbin/cordon-lab-net; with
# the argument `net` it (re)applies the machine's lab addresses and routes.
cat >/etc/systemd/system/cordon-lab-net.service <<EOF
[Unit]
Description=Cordon Vagrant lab: IPv6 addresses and lab routes ($role)
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/cordon-lab-net net

[Install]
WantedBy=multi-user.target
EOF
systemctl daemon-reload

echo "$role" >/etc/cordon-lab-role
echo "common: $role ready for its own provisioning"
