#!/usr/bin/env bash
# Produce the root image IMAGE (default smlocal/root:bookworm): a Debian bookworm with
# Python 3.11, pip and numpy. Taken from python:3.11-slim-bookworm when a registry answers,
# else bootstrapped offline with debootstrap and `docker import`.
set -euo pipefail
IMAGE="${1:-smlocal/root:bookworm}"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  exit 0
fi

if timeout 60 docker pull -q python:3.11-slim-bookworm >/dev/null 2>&1; then
  docker tag python:3.11-slim-bookworm "$IMAGE"
  echo "smlocal: $IMAGE taken from python:3.11-slim-bookworm" >&2
  exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "smlocal: no registry answers and debootstrap is missing; install debootstrap (as root) and retry." >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq debootstrap >/dev/null
fi

ROOT="$(mktemp -d /tmp/smlocal-root.XXXXXX)"
trap 'rm -rf "$ROOT"' EXIT
echo "smlocal: bootstrapping $IMAGE with debootstrap (about a minute)..." >&2
debootstrap --variant=minbase \
  --include=python3,python3-numpy,python3-pip,python3-venv,ca-certificates,tini \
  bookworm "$ROOT" >"$ROOT.log" 2>&1 || { tail -20 "$ROOT.log" >&2; rm -f "$ROOT.log"; exit 1; }
rm -f "$ROOT.log"
# Debian marks its python "externally managed"; images of ours install wheels into it.
rm -f "$ROOT"/usr/lib/python3*/EXTERNALLY-MANAGED
ln -sf /usr/bin/python3 "$ROOT/usr/local/bin/python"
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*
tar -C "$ROOT" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' - "$IMAGE" >/dev/null
echo "smlocal: $IMAGE imported" >&2
