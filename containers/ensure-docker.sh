#!/usr/bin/env bash
# Make sure a Docker engine answers. On Debian as root, install docker.io and start
# dockerd in the background when none runs (see shared/reference/machine-notes.md).
set -euo pipefail

if docker info >/dev/null 2>&1; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "smlocal: no Docker engine answers and this script can only install one as root on Debian." >&2
    echo "smlocal: install Docker (https://docs.docker.com/engine/install/) and start it, then retry." >&2
    exit 1
  fi
  echo "smlocal: installing docker.io (apt-get)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq docker.io >/dev/null
fi

if [ "$(id -u)" != "0" ]; then
  echo "smlocal: dockerd is installed but not running; start it (e.g. 'sudo systemctl start docker') and retry." >&2
  exit 1
fi

echo "smlocal: starting dockerd in the background (log: /var/log/smlocal-dockerd.log)..." >&2
nohup dockerd >/var/log/smlocal-dockerd.log 2>&1 &
# the fault tests (tests/faults) stop and start only an engine this script started
echo $! > /run/smlocal-dockerd.pid
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    exit 0
  fi
  sleep 0.5
done
echo "smlocal: dockerd did not answer within 30 s; see /var/log/smlocal-dockerd.log" >&2
exit 1
