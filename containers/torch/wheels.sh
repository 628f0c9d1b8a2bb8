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

mkdir -p "$wheels"

"$py" - <<'PY'
import platform, sys
if sys.version_info[:2] != (3, 11) or platform.machine() != "x86_64" or sys.platform != "linux":
    sys.exit("wheels.sh: needs CPython 3.11 on linux x86_64 (the image's Python), got %s %s %s"
             % (platform.python_version(), sys.platform, platform.machine()))
PY

# Complete already? Resolve the whole tree from the wheels folder alone, no index.
complete() {
    local tmp rc
    tmp="$(mktemp -d)"
    "$py" -m pip download --quiet --no-index --find-links "$wheels" --only-binary=:all: \
        -d "$tmp" "$spec" >/dev/null 2>&1 && rc=0 || rc=1
    rm -rf "$tmp"
    return $rc
}

if complete; then
    echo "wheels.sh: $wheels already holds $spec and its dependencies"
    exit 0
fi

start=$(date +%s)
echo "wheels.sh: downloading $spec and its dependencies into $wheels"
"$py" -m pip download --disable-pip-version-check --only-binary=:all: -d "$wheels" "$spec"

# A CUDA build or nvidia-* wheels mean the pin resolved to the wrong torch: refuse them.
shopt -s nullglob
bad=0
for whl in "$wheels"/*.whl; do
    case "$(basename "$whl")" in
        nvidia_*|triton-*) echo "wheels.sh: unexpected GPU wheel $(basename "$whl") (is torch pinned to a CPU build?)" >&2; bad=1 ;;
        *-py3-none-any.whl|*-py2.py3-none-any.whl|*-cp311-*|*-abi3-*) ;;
        *) echo "wheels.sh: unexpected wheel $(basename "$whl")" >&2; bad=1 ;;
    esac
done
[ "$bad" = 0 ]

if ! complete; then
    echo "wheels.sh: $wheels does not resolve $spec offline" >&2
    exit 1
fi
echo "wheels.sh: $(ls "$wheels"/*.whl | wc -l) wheels, $(du -sh "$wheels" | cut -f1) in $wheels ($(( $(date +%s) - start )) s)"
