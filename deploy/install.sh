#!/usr/bin/env bash
# Installs mcpd on this machine: the binaries, the systemd units, and a first /etc/mcpd/mcpd.env.
# It enables and starts nothing; afterwards: systemctl enable --now mcpd.socket
#
# Environment:
#   PREFIX=/usr/local                binaries go to $PREFIX/bin, the README to $PREFIX/share/doc/mcpd
#   BUILD_DIR=<repo>/.build/release  where mcpd, mcp-worker and mcpctl were built (make build)
#   UNIT_DIR=/etc/systemd/system     CONFIG_DIR=/etc/mcpd
#   DESTDIR=                         staging root for packaging (no daemon-reload then)
#
# Invariants: rerunning it is safe; an existing mcpd.env is never touched.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=${PREFIX:-/usr/local}
BUILD_DIR=${BUILD_DIR:-$ROOT/.build/release}
UNIT_DIR=${UNIT_DIR:-/etc/systemd/system}
CONFIG_DIR=${CONFIG_DIR:-/etc/mcpd}
DESTDIR=${DESTDIR:-}

say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: %s\n' "$*" >&2; exit 1; }

for binary in mcpd mcp-worker mcpctl; do
    [ -x "$BUILD_DIR/$binary" ] || die "$BUILD_DIR/$binary not found: run 'make build' first"
done
if [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
    die "run as root (sudo make install), or set DESTDIR to stage the files"
fi

# mcpd finds mcp-worker beside itself, so the three stay together in one bin directory.
install -d -m 0755 "$DESTDIR$PREFIX/bin"
for binary in mcpd mcp-worker mcpctl; do
    install -m 0755 "$BUILD_DIR/$binary" "$DESTDIR$PREFIX/bin/$binary"
    say "$PREFIX/bin/$binary"
done

install -d -m 0755 "$DESTDIR$PREFIX/share/doc/mcpd"
install -m 0644 "$ROOT/README.md" "$DESTDIR$PREFIX/share/doc/mcpd/README.md"

# The units name /usr/local; follow PREFIX when it is another.
install -d -m 0755 "$DESTDIR$UNIT_DIR"
for unit in mcpd.socket mcpd.service; do
    sed "s|/usr/local/|$PREFIX/|g" "$ROOT/systemd/$unit" >"$DESTDIR$UNIT_DIR/$unit.tmp"
    chmod 0644 "$DESTDIR$UNIT_DIR/$unit.tmp"
    mv -f "$DESTDIR$UNIT_DIR/$unit.tmp" "$DESTDIR$UNIT_DIR/$unit"
    say "$UNIT_DIR/$unit"
done

# systemd 253 and later know Type=notify-reload: let systemd send SIGHUP and wait for READY=1.
systemd_version=$(systemctl --version 2>/dev/null | awk 'NR == 1 { print $2 }')
if [ "${systemd_version:-0}" -ge 253 ] 2>/dev/null; then
    install -d -m 0755 "$DESTDIR$UNIT_DIR/mcpd.service.d"
    install -m 0644 "$ROOT/systemd/mcpd.service.d/notify-reload.conf" "$DESTDIR$UNIT_DIR/mcpd.service.d/notify-reload.conf"
    say "$UNIT_DIR/mcpd.service.d/notify-reload.conf (systemd $systemd_version: Type=notify-reload)"
fi

# The unit's RootDirectory=: an empty tree into which systemd binds /usr, /etc and the API file
# systems (see mcpd.service). The mount points are made here so that systemd need not create
# them; nothing else ever goes in it.
service_root="$DESTDIR$PREFIX/lib/mcpd/root"
for mount_point in usr etc bin sbin lib lib64 lib32 libx32 opt proc sys dev run tmp var/tmp var/lib; do
    install -d -m 0755 "$service_root/$mount_point"
done
say "$PREFIX/lib/mcpd/root (the service's root directory)"

# A first environment file with a fresh random token; an operator's own file is left alone.
env_file="$DESTDIR$CONFIG_DIR/mcpd.env"
install -d -m 0755 "$DESTDIR$CONFIG_DIR"
if [ -e "$env_file" ]; then
    say "$CONFIG_DIR/mcpd.env exists: left unchanged"
elif [ -n "$DESTDIR" ]; then
    # A staged tree may become a package: ship the template, never a secret.
    install -m 0644 "$ROOT/deploy/mcpd.env.example" "$DESTDIR$CONFIG_DIR/mcpd.env.example"
    say "$CONFIG_DIR/mcpd.env.example (staged: no token generated)"
else
    token=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
    (
        umask 077
        sed "s|^MCPD_TOKENS=.*|MCPD_TOKENS=$token|" "$ROOT/deploy/mcpd.env.example" >"$env_file.tmp"
        mv -f "$env_file.tmp" "$env_file"
    )
    say "$CONFIG_DIR/mcpd.env created (mode 0600) with a random token in MCPD_TOKENS"
fi

# Tell a running systemd about the new or changed units; never enable or start anything.
if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload
    say "systemd reloaded"
fi

cat <<EOT

Next:
  systemctl enable --now mcpd.socket     # listen on 127.0.0.1:8000; mcpd starts on first use
  $PREFIX/bin/mcpctl status              # supervisor, workers, calls (from the call table)
Token: MCPD_TOKENS in $CONFIG_DIR/mcpd.env (root-only).
EOT
