#!/usr/bin/env bash
# Start PostgreSQL, Redis and Mosquitto on 127.0.0.1 if they are not running; install any that is missing
# (and openssh-server, which only the tests run).
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
APT_UPDATED=""

apt_install() {
  if [ -z "$APT_UPDATED" ]; then $SUDO apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 50); do port_open "$1" && return 0; sleep 0.2; done
  echo "service on port $1 did not come up" >&2; return 1
}

# PostgreSQL (trust auth on 127.0.0.1, as on the development and CI machines)
if ! port_open 5432; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    apt_install postgresql
    hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -1)
    $SUDO sed -i -E 's/^(host\s+all\s+all\s+127\.0\.0\.1\/32\s+)\S+/\1trust/; s/^(local\s+all\s+postgres\s+)\S+/\1trust/' "$hba"
  fi
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  wait_port 5432
  echo "started PostgreSQL"
fi

# Redis
if ! port_open 6379; then
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_port 6379
  echo "started Redis"
fi

# Mosquitto
if ! port_open 1883; then
  command -v mosquitto >/dev/null 2>&1 || apt_install mosquitto
  $SUDO mkdir -p /run/mosquitto /var/lib/mosquitto /var/log/mosquitto
  $SUDO chown -R mosquitto: /run/mosquitto /var/lib/mosquitto /var/log/mosquitto 2>/dev/null || true
  $SUDO mosquitto -d -c /etc/mosquitto/mosquitto.conf
  wait_port 1883
  echo "started Mosquitto"
fi

# OpenSSH server: the SSH reboot tests start their own sshd (own host key and config) on a free port
if [ ! -x /usr/sbin/sshd ]; then
  apt_install openssh-server
  echo "installed openssh-server"
fi
