#!/usr/bin/env bash
# The subscriber: a home computer behind the gateway, with the tools to play
# both a normal user and a spam zombie (swaks, curl, nc).
#   100.64.1.2/24, 2001:db8:100:1::2/64; the lab (192.0.2.0/24, 198.51.100.0/24,
#   203.0.113.0/24, the portal 100.64.0.1, and 2001:db8::/32) via the gateway.
# Vagrant's NAT (eth0) keeps the default route for `vagrant ssh` and package
# downloads; names resolve through the lab's resolver (192.0.2.53), which
# answers every name with the web server, so http://anything.example/ works.
#
# Usage: subscriber.sh          provision (as root; safe to re-run)
#        subscriber.sh net      only (re)apply addresses and routes (at boot)
# Needs lib.sh, which common.sh installs first.
set -euo pipefail

# shellcheck source=vagrant/provision/lib.sh
. /usr/local/lib/cordon-lab/lib.sh

net() {
  local lan prefix
  lan=$(ifname_of 100.64.1.2)
  ip -6 addr replace 2001:db8:100:1::2/64 dev "$lan" nodad
  for prefix in 100.64.0.0/16 192.0.2.0/24 198.51.100.0/24 203.0.113.0/24; do
    ip route replace "$prefix" via 100.64.1.1 dev "$lan"
  done
  ip -6 route replace 2001:db8::/32 via 2001:db8:100:1::1 dev "$lan"
  echo "subscriber: lab routes via the gateway on $lan"
}

packages() {
  install_missing subscriber swaks curl netcat-openbsd dnsutils
}

# The lab's resolver from now on (packages are installed by then; a
# re-provision installs nothing new). DHCP on the NAT interface keeps it.
resolver() {
  local conf=/etc/dhcp/dhclient.conf line='supersede domain-name-servers 192.0.2.53;'
  if [ -f "$conf" ] && ! grep -qxF "$line" "$conf"; then
    echo "$line" >>"$conf"
  fi
  printf 'nameserver 192.0.2.53\n' >/etc/resolv.conf
}

check() {
  local _
  for _ in $(seq 1 20); do
    if curl -s -m 2 -o /dev/null http://192.0.2.80/; then
      echo "subscriber: the real site answers through the gateway"
      return 0
    fi
    sleep 1
  done
  echo "subscriber: http://192.0.2.80/ does not answer; is the gateway up? (vagrant up gateway internet)" >&2
  exit 1
}

provision() {
  packages
  net
  resolver
  check
}

# provision (the default) or net: lab_main in lib.sh.
lab_main "$@"
