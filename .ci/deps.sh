#!/usr/bin/env bash
# Installs the tools the Makefile asks for, and only those that are missing.
#
#   .ci/deps.sh apt:COMMAND=DEBIAN_PACKAGE ... pip:MODULE=PYPI_PACKAGE ...
#
# apt:curl=curl         installs Debian's `curl` unless the command `curl` is already there
# pip:pytest=pytest     installs PyPI's `pytest` unless `python3 -c 'import pytest'` works
#
# Invariants: it is idempotent and costs a few `command -v` calls when everything is present;
# `apt-get update` runs only when a Debian package is actually missing; sudo is used only when
# we are not root and sudo exists (non-interactively when there is no terminal, as in CI).
set -euo pipefail

PYTHON=${PYTHON:-python3}
export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

say() { printf 'deps: %s\n' "$*" >&2; }

# Prefix for commands that need root.
as_root=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        # Without a terminal a password prompt would hang: fail at once instead.
        if [ -t 0 ]; then as_root=(sudo); else as_root=(sudo -n); fi
    fi
fi

# /usr/sbin is often not on a normal user's PATH, and nginx lives there.
have_command() {
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]
}

apt_missing=()
pip_missing=()
add_apt() { case " ${apt_missing[*]-} " in *" $1 "*) ;; *) apt_missing+=("$1") ;; esac; }

for spec in "$@"; do
    kind=${spec%%:*}
    rest=${spec#*:}
    name=${rest%%=*}
    package=${rest#*=}
    case "$kind" in
        apt) have_command "$name" || add_apt "$package" ;;
        pip) pip_missing+=("$name=$package") ;;
        *) say "unknown requirement '$spec' (expected apt:CMD=PKG or pip:MODULE=PKG)"; exit 2 ;;
    esac
done

# Which pip modules are really missing; python3 and pip themselves may have to come from apt first.
python_is_system() {
    local real
    real=$(readlink -f "$(command -v "$PYTHON")")
    case "$real" in /usr/bin/*) return 0 ;; *) return 1 ;; esac
}
pip_needed=()
if [ "${#pip_missing[@]}" -gt 0 ]; then
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        add_apt python3
        add_apt python3-pip
    fi
    for entry in "${pip_missing[@]}"; do
        module=${entry%%=*}
        if ! command -v "$PYTHON" >/dev/null 2>&1 || ! "$PYTHON" -c "import $module" >/dev/null 2>&1; then
            pip_needed+=("${entry#*=}")
        fi
    done
    if [ "${#pip_needed[@]}" -gt 0 ] && command -v "$PYTHON" >/dev/null 2>&1 \
        && ! "$PYTHON" -m pip --version >/dev/null 2>&1 && python_is_system; then
        add_apt python3-pip   # Debian disables ensurepip for its own python
    fi
fi

if [ "${#apt_missing[@]}" -gt 0 ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        say "missing: ${apt_missing[*]} — install them with your package manager (no apt-get here)"
        exit 1
    fi
    if [ "$(id -u)" -ne 0 ] && [ "${#as_root[@]}" -eq 0 ]; then
        say "missing: ${apt_missing[*]} — not root and no sudo; install them as root: apt-get install ${apt_missing[*]}"
        exit 1
    fi
    say "installing Debian packages: ${apt_missing[*]}"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
fi

if [ "${#pip_needed[@]}" -gt 0 ]; then
    if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
        say "bootstrapping pip with ensurepip"
        "$PYTHON" -m ensurepip --upgrade >/dev/null
    fi
    pip_args=(install --quiet)
    # PEP 668: Debian marks its python as externally managed; pip then wants this flag.
    # A pyenv or virtualenv python has no such marker and must not get the flag.
    if "$PYTHON" - <<'EOF'
import os, sys, sysconfig
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
sys.exit(0 if os.path.exists(marker) and sys.prefix == sys.base_prefix else 1)
EOF
    then
        pip_args+=(--break-system-packages)
    fi
    say "installing from PyPI: ${pip_needed[*]}"
    "$PYTHON" -m pip "${pip_args[@]}" "${pip_needed[@]}"
fi

# Fail loudly if something is still missing rather than let a later step fail obscurely.
status=0
for spec in "$@"; do
    kind=${spec%%:*}
    rest=${spec#*:}
    name=${rest%%=*}
    case "$kind" in
        apt) have_command "$name" || { say "still missing after install: command '$name'"; status=1; } ;;
        pip) "$PYTHON" -c "import $name" >/dev/null 2>&1 || { say "still missing after install: python module '$name'"; status=1; } ;;
    esac
done
exit "$status"
