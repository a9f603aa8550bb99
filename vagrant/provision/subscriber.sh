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
set -euo pipefail

ifname_of() {
  local name
  name=$(ip -o -4 addr show to "$1/32" | awk '{ print $2; exit }')
  if [ -z "$name" ]; then
    echo "no interface has $1: is the private network up? (ip -4 addr)" >&2
    exit 1
  fi
  echo "$name"
}

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
  local want=(swaks curl netcat-openbsd dnsutils) missing=() p
  for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "subscriber: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
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
  install -m 0755 "$0" /usr/local/sbin/cordon-lab-net
  systemctl enable --quiet cordon-lab-net.service
  packages
  net
  resolver
  check
}

case "${1:-provision}" in
  net) net ;;
  provision) provision ;;
  *)
    echo "usage: $0 [provision|net]" >&2
    exit 2
    ;;
esac
