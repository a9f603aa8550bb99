#!/usr/bin/env bash
# The gateway: Cordon installed the way deploy/README.md tells an operator to
# install it, from the repo synced to /cordon.
#   downlink (towards the subscriber)  100.64.1.1/24, 2001:db8:100:1::1/64
#   uplink (towards the internet)      192.0.2.1/24,  2001:db8:0:1::1/64
#   lo (the portal)                    100.64.0.1/32, 2001:db8:100::1/128
#
# Binaries: /opt/cordon-bin/{cordond,cordon,cordon-portal} when the host
# synced them there (CORDON_BINARIES=DIR vagrant up); otherwise they are
# built here with the current stable Rust (rustup; Debian 12's own Rust is
# older than the workspace's rust-version).
#
# Usage: gateway.sh            provision (as root; safe to re-run)
#        gateway.sh net        only (re)apply addresses and routes (at boot)
# Needs lib.sh, which common.sh installs first.
set -euo pipefail

# shellcheck source=vagrant/provision/lib.sh
. /usr/local/lib/cordon-lab/lib.sh

REPO=/cordon
PREBUILT=/opt/cordon-bin
BUILD_DIR=/var/cache/cordon-build
BINARIES=(cordond cordon cordon-portal)

net() {
  local down up
  down=$(ifname_of 100.64.1.1)
  up=$(ifname_of 192.0.2.1)
  ip -6 addr replace 2001:db8:100:1::1/64 dev "$down" nodad
  ip -6 addr replace 2001:db8:0:1::1/64 dev "$up" nodad
  # The portal's addresses, reachable by every subscriber.
  ip addr replace 100.64.0.1/32 dev lo
  ip -6 addr replace 2001:db8:100::1/128 dev lo
  # "The internet" is the internet machine; Vagrant's NAT (eth0) keeps the
  # default route for package downloads, and subscribers never reach it.
  ip route replace 198.51.100.0/24 via 192.0.2.2 dev "$up"
  ip route replace 203.0.113.0/24 via 192.0.2.2 dev "$up"
  ip -6 route replace 2001:db8:ffff::/48 via 2001:db8:0:1::2 dev "$up"
  ip -6 route replace 2001:db8:203::/48 via 2001:db8:0:1::2 dev "$up"
  echo "gateway: downlink $down, uplink $up, portal on lo"
}

forwarding() {
  cat >/etc/sysctl.d/60-cordon-lab.conf <<'EOF'
# The gateway routes between the subscriber link and the uplink.
net.ipv4.ip_forward = 1
net.ipv6.conf.all.forwarding = 1
EOF
  sysctl -q -p /etc/sysctl.d/60-cordon-lab.conf
}

packages() {
  install_missing gateway nftables conntrack build-essential pkg-config
}

# Puts cordond, cordon and cordon-portal in /usr/local/bin.
binaries() {
  local from b
  if [ -x "$PREBUILT/cordond" ]; then
    from=$PREBUILT
    echo "gateway: installing the binaries from $PREBUILT"
  else
    if [ ! -f "$REPO/Cargo.toml" ]; then
      echo "gateway: $REPO/Cargo.toml is missing: the repo was not synced (vagrant rsync gateway)" >&2
      exit 1
    fi
    if [ ! -x /root/.cargo/bin/cargo ]; then
      echo "gateway: installing Rust (rustup, stable)"
      curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
        sh -s -- -y --quiet --profile minimal --default-toolchain stable
    fi
    echo "gateway: building Cordon (release; the first build takes several minutes)"
    (cd "$REPO" && CARGO_TARGET_DIR=$BUILD_DIR /root/.cargo/bin/cargo build \
      --release --locked --quiet -p cordon-orchestrator -p cordon-portal --bins)
    from=$BUILD_DIR/release
  fi
  for b in "${BINARIES[@]}"; do
    if [ ! -x "$from/$b" ]; then
      echo "gateway: $from/$b is missing" >&2
      exit 1
    fi
  done
  # Replace the files rather than overwrite running executables in place.
  for b in "${BINARIES[@]}"; do
    install -m 0755 "$from/$b" "/usr/local/bin/$b.new"
    mv -f "/usr/local/bin/$b.new" "/usr/local/bin/$b"
  done
}

accounts() {
  install -D -m 0644 "$REPO/deploy/sysusers.d/cordon.conf" /etc/sysusers.d/cordon.conf
  install -D -m 0644 "$REPO/deploy/tmpfiles.d/cordon.conf" /etc/tmpfiles.d/cordon.conf
  systemd-sysusers /etc/sysusers.d/cordon.conf
  systemd-tmpfiles --create /etc/tmpfiles.d/cordon.conf
  # The vagrant user is the operator: `cordon list` without sudo.
  usermod -a -G cordon vagrant
}

config() {
  local down up
  down=$(ifname_of 100.64.1.1)
  up=$(ifname_of 192.0.2.1)
  install -d -m 0755 /etc/cordon
  # The provider may name the NICs otherwise than eth1/eth2: use the names
  # that carry the lab's addresses.
  sed -e "s/^  downlink: \[eth1\]$/  downlink: [$down]/" \
    -e "s/^  uplink: \[eth2\]$/  uplink: [$up]/" \
    "$REPO/vagrant/cordon.yaml" >/etc/cordon/cordon.yaml.new
  if ! grep -q "^  downlink: \[$down\]$" /etc/cordon/cordon.yaml.new ||
    ! grep -q "^  uplink: \[$up\]$" /etc/cordon/cordon.yaml.new; then
    echo "gateway: could not set the interfaces ($down, $up) in vagrant/cordon.yaml" >&2
    exit 1
  fi
  # Root writes it, the portal's user reads it.
  chown root:cordon-portal /etc/cordon/cordon.yaml.new
  chmod 0640 /etc/cordon/cordon.yaml.new
  /usr/local/bin/cordon check-config /etc/cordon/cordon.yaml.new
  mv -f /etc/cordon/cordon.yaml.new /etc/cordon/cordon.yaml
}

services() {
  install -m 0644 "$REPO/deploy/cordond.service" "$REPO/deploy/cordon-portal.service" \
    /etc/systemd/system/
  # The portal answers only loopback and the subscriber prefixes: this lab's
  # (vagrant/cordon.yaml), not the example's that the unit lists.
  install -d -m 0755 /etc/systemd/system/cordon-portal.service.d
  cat >/etc/systemd/system/cordon-portal.service.d/subscribers.conf <<'EOF'
[Service]
IPAddressAllow=
IPAddressAllow=localhost 100.64.0.0/16 2001:db8:100::/48
EOF
  systemctl daemon-reload
  systemctl enable --quiet cordond.service cordon-portal.service
  # Restart: new binaries, new config, new units.
  systemctl restart cordond.service
  systemctl restart cordon-portal.service
}

check() {
  local i code=000
  nft list table inet cordon >/dev/null
  /usr/local/bin/cordon status
  for i in $(seq 1 20); do
    code=$(curl -s -o /dev/null -w '%{http_code}' http://100.64.0.1:8080/api/captive || true)
    [ "$code" != 000 ] && break
    sleep 0.5
  done
  if [ "$code" = 000 ]; then
    echo "gateway: the portal does not answer on 100.64.0.1:8080 (journalctl -u cordon-portal)" >&2
    exit 1
  fi
  echo "gateway: cordond and cordon-portal are running (portal answered $code after $i tries)"
}

provision() {
  net
  forwarding
  packages
  binaries
  accounts
  config
  services
  check
}

# provision (the default) or net: lab_main in lib.sh.
lab_main "$@"
