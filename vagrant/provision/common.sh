#!/usr/bin/env bash
# Provisioning shared by the three lab machines (runs first, as root): the
# scripts' shared functions (lib.sh, which Vagrant uploads to /tmp first), a
# few tools, and the boot-time unit that puts the lab's IPv6 addresses and
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

# The functions this script shares with the role's, kept on the machine: the
# role's script runs again at boot as /usr/local/sbin/cordon-lab-net. Without
# an upload (`vagrant provision --provision-with common`), the installed copy
# serves.
lib_upload=/tmp/cordon-lab-lib.sh
lib=/usr/local/lib/cordon-lab/lib.sh
if [ -f "$lib_upload" ]; then
  install -D -m 0644 "$lib_upload" "$lib"
elif [ ! -f "$lib" ]; then
  echo "common: $lib_upload is missing: Vagrant uploads it (provisioner \"lib\")" >&2
  exit 1
fi
# shellcheck source=vagrant/provision/lib.sh
. "$lib"

install_missing common iproute2 curl ca-certificates tcpdump dnsutils netcat-openbsd

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
