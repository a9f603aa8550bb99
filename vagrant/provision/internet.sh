#!/usr/bin/env bash
# The "internet" machine: everything a subscriber reaches beyond the gateway.
#   192.0.2.25  / 2001:db8:0:1::25  the ISP's mail relay (Postfix, 25 and 587)
#   192.0.2.53  / 2001:db8:0:1::53  the resolver (dnsmasq: every name is the web server)
#   192.0.2.80  / 2001:db8:0:1::80  the "real site" (nginx, on every address)
#   198.51.100.1-64, 2001:db8:ffff::1-40  other networks' mail servers (Postfix on 25)
#   203.0.113.10, 2001:db8:203::10  a cleanup-tool vendor (in the walled garden)
# Every mail, to any address at any domain, lands in /var/mail/sink.
#
# Usage: internet.sh            provision (as root; safe to re-run)
#        internet.sh net        only (re)apply addresses and routes (at boot)
# Needs lib.sh, which common.sh installs first.
set -euo pipefail

# shellcheck source=vagrant/provision/lib.sh
. /usr/local/lib/cordon-lab/lib.sh

net() {
  local up
  up=$(ifname_of 192.0.2.2)
  ip -6 addr replace 2001:db8:0:1::2/64 dev "$up" nodad
  for host in 25 53 80; do
    ip addr replace "192.0.2.$host/32" dev "$up"
    ip -6 addr replace "2001:db8:0:1::$host/128" dev "$up" nodad
  done
  for n in $(seq 1 64); do
    ip addr replace "198.51.100.$n/32" dev lo
    ip -6 addr replace "2001:db8:ffff::$(printf '%x' "$n")/128" dev lo
  done
  ip addr replace 203.0.113.10/32 dev lo
  ip -6 addr replace 2001:db8:203::10/128 dev lo
  # Subscribers are behind the gateway.
  ip route replace 100.64.0.0/16 via 192.0.2.1 dev "$up"
  ip -6 route replace 2001:db8:100::/48 via 2001:db8:0:1::1 dev "$up"
  echo "internet: lab addresses on $up and lo"
}

packages() {
  # Postfix's installation questions, answered before it is installed.
  if ! is_installed postfix; then
    debconf-set-selections <<'EOF'
postfix postfix/main_mailer_type select Internet Site
postfix postfix/mailname string internet.lab.example
EOF
  fi
  install_missing internet postfix nginx-light dnsmasq
}

mailer() {
  id sink >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin sink
  # Every domain is local, every local part is the mailbox `sink`: the relay
  # and the 64 "other networks' mail servers" all accept anything.
  printf '/./ OK\n' >/etc/postfix/every-domain
  # shellcheck disable=SC2016 # $myhostname is Postfix's, not the shell's
  postconf -e \
    'inet_interfaces = all' \
    'inet_protocols = all' \
    'myhostname = internet.lab.example' \
    'mydestination = $myhostname, localhost, regexp:/etc/postfix/every-domain' \
    'local_recipient_maps =' \
    'luser_relay = sink' \
    'mynetworks = 127.0.0.0/8 [::1]/128' \
    'smtpd_tls_security_level = none' \
    'smtpd_banner = $myhostname ESMTP lab mail server'
  # Submission on 587, without authentication: this is a lab.
  postconf -M 'submission/inet=submission inet n - y - - smtpd'
  postconf -P 'submission/inet/syslog_name=postfix/submission'
  systemctl enable --quiet postfix
  systemctl restart postfix
}

web() {
  mkdir -p /var/www/cordon-lab
  cat >/var/www/cordon-lab/index.html <<'EOF'
<!doctype html>
<html><head><title>real site</title></head>
<body><p>real site: you reached the internet, not the walled garden.</p></body></html>
EOF
  cat >/etc/nginx/sites-available/cordon-lab <<'EOF'
# Every address, every name: the "real site". 443 is plain http, as in the
# namespace lab: what matters is whether the connection gets through.
server {
    listen 80 default_server;
    listen [::]:80 default_server;
    listen 443 default_server;
    listen [::]:443 default_server;
    server_name _;
    root /var/www/cordon-lab;
    add_header X-Cordon-Lab real-site always;
    location / { try_files /index.html =404; }
}
EOF
  rm -f /etc/nginx/sites-enabled/default
  ln -sf /etc/nginx/sites-available/cordon-lab /etc/nginx/sites-enabled/cordon-lab
  nginx -t -q
  systemctl enable --quiet nginx
  systemctl restart nginx
}

dns() {
  cat >/etc/dnsmasq.d/cordon-lab.conf <<'EOF'
# The lab's resolver: every name is the web server.
listen-address=192.0.2.53,2001:db8:0:1::53
bind-dynamic
no-resolv
no-hosts
address=/#/192.0.2.80
address=/#/2001:db8:0:1::80
EOF
  systemctl enable --quiet dnsmasq
  systemctl restart dnsmasq
}

provision() {
  net
  packages
  mailer
  web
  dns
  echo "internet: relay, mail servers, web and DNS are up"
}

# provision (the default) or net: lab_main in lib.sh.
lab_main "$@"
