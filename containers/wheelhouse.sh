# Shared by containers/*/wheels.sh (sourced, not run): a wheelhouse that an image installs
# from offline (`pip install --no-index --find-links`). The caller sets `py` (the host's
# python, which must match the image's: CPython 3.11, linux x86_64), `wheels` (the folder),
# `spec` (the requirement) and `pip_extra` (an array of extra pip options, e.g. -c FILE).

wheelhouse_check_python() {
    "$py" - <<'PY'
import platform, sys
if sys.version_info[:2] != (3, 11) or platform.machine() != "x86_64" or sys.platform != "linux":
    sys.exit("wheels.sh: needs CPython 3.11 on linux x86_64 (the image's Python), got %s %s %s"
             % (platform.python_version(), sys.platform, platform.machine()))
PY
}

# Complete already? Resolve the whole tree from the wheels folder alone, no index.
wheelhouse_complete() {
    local tmp rc
    tmp="$(mktemp -d)"
    "$py" -m pip download --quiet --no-index --find-links "$wheels" --only-binary=:all: \
        "${pip_extra[@]}" -d "$tmp" "$spec" >/dev/null 2>&1 && rc=0 || rc=1
    rm -rf "$tmp"
    return $rc
}

# Refuse anything that is not a wheel for this interpreter (and, with $1 = gpu-free, any
# nvidia-*/triton wheel: a pin that resolved to a CUDA build).
wheelhouse_check_wheels() {
    local bad=0 whl
    shopt -s nullglob
    for whl in "$wheels"/*.whl; do
        case "$(basename "$whl")" in
            nvidia_*|triton-*)
                if [ "${1:-}" = gpu-free ]; then
                    echo "wheels.sh: unexpected GPU wheel $(basename "$whl") (is torch pinned to a CPU build?)" >&2; bad=1
                fi ;;
            *-py3-none-any.whl|*-py2.py3-none-any.whl|*-cp311-*|*-abi3-*) ;;
            *) echo "wheels.sh: unexpected wheel $(basename "$whl")" >&2; bad=1 ;;
        esac
    done
    [ "$bad" = 0 ]
}
