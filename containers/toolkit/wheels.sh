#!/usr/bin/env bash
# Fill containers/toolkit/wheels/ with wheels of sagemaker-training and all of its
# dependencies, for CPython 3.11 on linux x86_64, so that the image builds offline
# (`pip install --no-index --find-links`).
#
# Runs on the host, which must match the image: Debian bookworm, Python 3.11, x86_64
# (sagemaker-training ships only an sdist with a C extension, built here into a
# linux_x86_64 wheel with the host's gcc and Python headers).
#
# Does nothing when the wheels already there satisfy the whole dependency tree.
# Usage: containers/toolkit/wheels.sh [PYTHON]   (default: python3)
#        SAGEMAKER_TRAINING_SPEC='sagemaker-training==5.1.4' to pin another release.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
wheels="$here/wheels"
py="${1:-python3}"
spec="${SAGEMAKER_TRAINING_SPEC:-sagemaker-training==5.1.4}"
# The base image smlocal/python:3.11 has Debian's numpy 1.24: keep the resolver on
# releases that work with it, so pip does not install a second numpy (and scipy
# pulls no numpy 2 into the image).
pip_extra=(-c "$here/constraints.txt")
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
"$py" -m pip download --disable-pip-version-check "${pip_extra[@]}" -d "$wheels" "$spec"

# Build a wheel for every sdist (sagemaker-training itself, and any pure-Python
# package published only as an sdist), then drop the sdist.
shopt -s nullglob
for sdist in "$wheels"/*.tar.gz "$wheels"/*.zip; do
    echo "wheels.sh: building a wheel from $(basename "$sdist")"
    "$py" -m pip wheel --disable-pip-version-check --no-deps "${pip_extra[@]}" -w "$wheels" "$sdist"
    rm -f "$sdist"
done

wheelhouse_check_wheels
if ! wheelhouse_complete; then
    echo "wheels.sh: $wheels does not resolve $spec offline" >&2
    exit 1
fi
echo "wheels.sh: $(ls "$wheels"/*.whl | wc -l) wheels in $wheels ($(( $(date +%s) - start )) s)"
