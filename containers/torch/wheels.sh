#!/usr/bin/env bash
# Fill containers/torch/wheels/ with torch (CPU build) and its dependencies, for CPython 3.11
# on linux x86_64, so that containers/torch/Dockerfile installs offline
# (`pip install --no-index --find-links`).
#
# torch is pinned on purpose: a bare `torch` requirement resolves to the CUDA build on PyPI
# and pulls several GB of nvidia-* wheels. The host's pip configuration has
# find-links /opt/wheels holding torch-2.13.0+cpu, which satisfies `torch==2.13.0`
# (a local version label matches a pin without one), so nothing big is downloaded.
# torch declares no numpy dependency: the image keeps Debian's numpy 1.24 (torch's numpy
# bridge works with it; checked by the Dockerfile).
#
# Does nothing when the wheels already there resolve the whole tree offline.
# Usage: containers/torch/wheels.sh [PYTHON]          (default: python3)
#        TORCH_SPEC='torch==2.13.0' to pin another release.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
wheels="$here/wheels"
py="${1:-python3}"
spec="${TORCH_SPEC:-torch==2.13.0}"
pip_extra=()
# shellcheck source=../wheelhouse.sh
source "$here/../wheelhouse.sh"

mkdir -p "$wheels"
wheelhouse_check_python
if wheelhouse_complete; then
    echo "wheels.sh: $wheels already holds $spec and its dependencies"
    exit 0
fi

start=$(date +%s)
echo "wheels.sh: downloading $spec and its dependencies into $wheels"
"$py" -m pip download --disable-pip-version-check --only-binary=:all: -d "$wheels" "$spec"
wheelhouse_check_wheels gpu-free
if ! wheelhouse_complete; then
    echo "wheels.sh: $wheels does not resolve $spec offline" >&2
    exit 1
fi
echo "wheels.sh: $(ls "$wheels"/*.whl | wc -l) wheels, $(du -sh "$wheels" | cut -f1) in $wheels ($(( $(date +%s) - start )) s)"
