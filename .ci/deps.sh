#!/usr/bin/env bash
# Installs the tools the Makefile asks for, and only those that are missing.
#
#   .ci/deps.sh apt:COMMAND=DEBIAN_PACKAGE ... pip:MODULE=PYPI_PACKAGE ... venv:DIR=FILE pyreq:FILE
#
# apt:curl=curl         installs Debian's `curl` unless the command `curl` is already there
# pip:pytest=pytest     installs PyPI's `pytest` unless `$PYTHON -c 'import pytest'` works
# venv:DIR=FILE         makes the virtualenv DIR with $BASE_PYTHON (python3; Debian's python3-venv
#                       if it lacks ensurepip) and pip-installs the requirements FILE into it, unless
#                       DIR/installed-requirements.txt, the copy of FILE written after the last
#                       install, is identical to FILE and DIR/bin/python exists
# pyreq:FILE            pip-installs the requirements FILE into $PYTHON itself unless every
#                       `name==version` pin in FILE is already installed there (for PYTHON=...)
#
# Invariants: it is idempotent and costs a few `command -v` calls, a `cmp` per virtualenv and one
# python start per pyreq when everything is present; `apt-get update` runs only when a Debian package
# is actually missing; sudo is used only when we are not root and sudo exists (non-interactively
# when there is no terminal, as in CI).
set -euo pipefail

PYTHON=${PYTHON:-python3}
BASE_PYTHON=${BASE_PYTHON:-python3}
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

# A virtualenv is up to date when its python exists (the symlink is not dangling) and the last
# install was of this very requirements file.
venv_ready() { # DIR FILE
    [ -f "$2" ] || { say "requirements file '$2' not found"; exit 2; }
    [ -x "$1/bin/python" ] && cmp -s "$2" "$1/installed-requirements.txt"
}

# Whether $PYTHON has every `name==version` pin of a requirements file installed; a line that is
# not such a pin counts as unsatisfied, and pip decides.
pins_satisfied() { # FILE
    [ -f "$1" ] || { say "requirements file '$1' not found"; exit 2; }
    command -v "$PYTHON" >/dev/null 2>&1 || return 1
    "$PYTHON" - "$1" <<'EOF' >/dev/null 2>&1
import re, sys
from importlib import metadata
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    pin = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;]+)", line)
    try:
        if pin is None or metadata.version(pin[1]) != pin[2]:
            sys.exit(1)
    except metadata.PackageNotFoundError:
        sys.exit(1)
EOF
}

apt_missing=()
pip_missing=()
venv_todo=()      # DIR=FILE of the virtualenvs to make or update
pyreq_todo=()     # requirement files $PYTHON does not satisfy yet
add_apt() { case " ${apt_missing[*]-} " in *" $1 "*) ;; *) apt_missing+=("$1") ;; esac; }

for spec in "$@"; do
    kind=${spec%%:*}
    rest=${spec#*:}
    name=${rest%%=*}
    package=${rest#*=}
    case "$kind" in
        apt) have_command "$name" || add_apt "$package" ;;
        pip) pip_missing+=("$name=$package") ;;
        venv) venv_ready "$name" "$package" || venv_todo+=("$name=$package") ;;
        pyreq) pins_satisfied "$rest" || pyreq_todo+=("$rest") ;;
        *) say "unknown requirement '$spec' (expected apt:CMD=PKG, pip:MODULE=PKG, venv:DIR=FILE or pyreq:FILE)"; exit 2 ;;
    esac
done

# Which pip modules are really missing; python3 and pip themselves may have to come from apt first.
python_is_system() { # [interpreter]
    local real
    real=$(readlink -f "$(command -v "${1:-$PYTHON}")")
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

# Python requirements files installed into $PYTHON itself (PYTHON=...): like pip: above.
if [ "${#pyreq_todo[@]}" -gt 0 ]; then
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        add_apt python3
        add_apt python3-pip
    elif ! "$PYTHON" -m pip --version >/dev/null 2>&1 && python_is_system; then
        add_apt python3-pip
    fi
    for file in "${pyreq_todo[@]}"; do pip_needed+=(-r "$file"); done
fi

# A virtualenv needs a python with the venv module and ensurepip (Debian: python3-venv).
if [ "${#venv_todo[@]}" -gt 0 ]; then
    if ! command -v "$BASE_PYTHON" >/dev/null 2>&1; then
        add_apt python3
        add_apt python3-venv
    elif ! "$BASE_PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 && python_is_system "$BASE_PYTHON"; then
        add_apt python3-venv   # Debian's python3 has ensurepip only with it
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

for entry in "${venv_todo[@]+"${venv_todo[@]}"}"; do
    dir=${entry%%=*}
    file=${entry#*=}
    if ! "$BASE_PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        say "$BASE_PYTHON cannot make a virtualenv (no venv or ensurepip module); set BASE_PYTHON= to one that can"
        exit 1
    fi
    if [ ! -x "$dir/bin/python" ] || ! "$dir/bin/python" -c '' >/dev/null 2>&1; then
        if [ -e "$dir" ] && [ ! -f "$dir/pyvenv.cfg" ] && [ -n "$(ls -A "$dir")" ]; then
            say "$dir exists and is not a virtualenv: not replacing it"
            exit 1
        fi
        say "making the virtualenv $dir with $("$BASE_PYTHON" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
        "$BASE_PYTHON" -m venv --clear "$dir"
    fi
    rm -f "$dir/installed-requirements.txt"
    say "installing $file into $dir"
    "$dir/bin/python" -m pip install --quiet --require-virtualenv -r "$file"
    cp "$file" "$dir/installed-requirements.txt"
done

# Fail loudly if something is still missing rather than let a later step fail obscurely.
status=0
for spec in "$@"; do
    kind=${spec%%:*}
    rest=${spec#*:}
    name=${rest%%=*}
    case "$kind" in
        apt) have_command "$name" || { say "still missing after install: command '$name'"; status=1; } ;;
        pip) "$PYTHON" -c "import $name" >/dev/null 2>&1 || { say "still missing after install: python module '$name'"; status=1; } ;;
        venv) venv_ready "$name" "${rest#*=}" || { say "virtualenv $name still not up to date with ${rest#*=}"; status=1; } ;;
        pyreq)
            case " ${pyreq_todo[*]-} " in
                *" $rest "*) pins_satisfied "$rest" || { say "$PYTHON still lacks pins of $rest"; status=1; } ;;
            esac ;;
    esac
done
exit "$status"
