#!/usr/bin/env bash
# Functions shared by the lab's provisioning scripts; sourced, not run.
# Vagrant uploads this file to /tmp/cordon-lab-lib.sh, and common.sh installs
# it as /usr/local/lib/cordon-lab/lib.sh, where common.sh and each role's
# script (also as /usr/local/sbin/cordon-lab-net at boot) source it:
#   # shellcheck source=vagrant/provision/lib.sh
#   . /usr/local/lib/cordon-lab/lib.sh
# It sets no shell options: the scripts that source it run with
# `set -euo pipefail`.

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  echo "$0: a library for the lab's provisioning scripts; source it, do not run it" >&2
  exit 2
fi

# The interface that holds an IPv4 address (Vagrant configured it).
ifname_of() {
  local name
  name=$(ip -o -4 addr show to "$1/32" | awk '{ print $2; exit }')
  if [ -z "$name" ]; then
    echo "no interface has $1: is the private network up? (ip -4 addr)" >&2
    exit 1
  fi
  echo "$name"
}

# Whether a Debian package is installed.
is_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

# install_missing LABEL PACKAGE...
# Installs the packages that are missing, saying so as "LABEL: installing
# ..."; fetches the package lists only if something is missing.
install_missing() {
  local label=$1 missing=() p
  shift
  for p in "$@"; do
    is_installed "$p" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "$label: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# lab_main [provision|net]: a role script's entry point, for the functions
# `provision` and `net` it defines. `provision` (the default) installs the
# script as /usr/local/sbin/cordon-lab-net, enables the unit that runs it
# with `net` at boot (common.sh writes it), then provisions; `net` only
# (re)applies the lab's addresses and routes.
lab_main() {
  case "${1:-provision}" in
    net) net ;;
    provision)
      install -m 0755 "$0" /usr/local/sbin/cordon-lab-net
      systemctl enable --quiet cordon-lab-net.service
      provision
      ;;
    *)
      echo "usage: $0 [provision|net]" >&2
      exit 2
      ;;
  esac
}
