#!/usr/bin/env bash
# The benchmark behind `make bench`: how many echo tool calls mcpd serves next to what nginx
# serves with a fixed JSON reply on the same machine (the floor every HTTP server is measured by).
#
#   1. nginx (bench/nginx.conf) on 127.0.0.1:18080, wrk with a plain GET;
#   2. mcpd on 127.0.0.1:18000, wrk with bench/execute_stream.lua (execute + stream per call).
#
# Prints a markdown table and writes it, with the machine's description, to bench/RESULTS.md.
# Raw wrk output is kept in bench/out/ (ignored by git).
#
# Environment:
#   BENCH_SECONDS=10        duration of each wrk run
#   BENCH_THREADS=2 BENCH_CONNECTIONS=16
#   BENCH_ONLY=nginx|mcpd   run one side only (bench/RESULTS.md is then left unchanged)
#   MCPD_BIN=.build/release/mcpd
set -euo pipefail
export LC_ALL=C # wrk and awk agree on a decimal point

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SECONDS_PER_RUN=${BENCH_SECONDS:-10}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
ONLY=${BENCH_ONLY:-}
MCPD_BIN=${MCPD_BIN:-$ROOT/.build/release/mcpd}
NGINX_ADDR=127.0.0.1:18080 # fixed in bench/nginx.conf
MCPD_ADDR=127.0.0.1:18000
TOKEN=bench-token
OUT_DIR=$ROOT/bench/out
RESULTS=$ROOT/bench/RESULTS.md

case "$ONLY" in "" | nginx | mcpd) ;; *) echo "bench: BENCH_ONLY must be nginx or mcpd" >&2; exit 2 ;; esac
run_nginx() { [ "$ONLY" != mcpd ]; }
run_mcpd() { [ "$ONLY" != nginx ]; }

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

find_tool() {
    command -v "$1" 2>/dev/null && return
    [ -x "/usr/sbin/$1" ] && { echo "/usr/sbin/$1"; return; }
    return 1
}
WRK=$(find_tool wrk) || die "wrk not found (make deps installs it)"
CURL=$(find_tool curl) || die "curl not found (make deps installs it)"
if run_nginx; then NGINX=$(find_tool nginx) || die "nginx not found (make deps installs nginx-light)"; fi
if run_mcpd; then [ -x "$MCPD_BIN" ] || die "$MCPD_BIN not found (make build)"; fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcpd-bench.XXXXXX")
nginx_pid=""
mcpd_pid=""
wrk_pid=""

# Stop a server we started: gently first, then for certain. Never anything we did not start.
stop_server() { # pid signal seconds
    local pid=$1 signal=$2 patience=$3 waited=0
    [ -n "$pid" ] || return 0
    kill -s "$signal" "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt $((patience * 10)) ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "pid $pid did not stop within ${patience}s after SIG$signal; killing it"
        kill -s KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    stop_server "$wrk_pid" TERM 2
    stop_server "$nginx_pid" QUIT 5
    stop_server "$mcpd_pid" TERM 15
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# A server already on the port would answer in place of ours and falsify the figures.
require_free() { # host:port
    local code=0
    "$CURL" -s -o /dev/null --max-time 1 "http://$1/" || code=$?
    [ "$code" -eq 7 ] || die "something already listens on $1; stop it first"
}

# Wait until URL answers 200, failing early if the server process died.
wait_ready() { # url pid name log
    local url=$1 pid=$2 name=$3 log=$4 tries=0
    until [ "$("$CURL" -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" || true)" = 200 ]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            cat "$log" >&2 || true
            die "$name exited before it was ready"
        fi
        tries=$((tries + 1))
        [ "$tries" -lt 300 ] || { cat "$log" >&2 || true; die "$name not ready after 30s ($url)"; }
        sleep 0.1
    done
}

# wrk's latency figures carry their own unit (us, ms, s); the table shows milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.3f", n }'
}
# Fields of a wrk --latency report: requests/s, p50, p99.
parse_wrk() { # file -> "rps p50 p99"
    local rps p50 p99
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$1")
    p50=$(awk '$1 == "50%" { print $2 }' "$1")
    p99=$(awk '$1 == "99%" { print $2 }' "$1")
    if [ -z "$rps" ] || [ -z "$p50" ] || [ -z "$p99" ]; then die "could not parse wrk output in $1"; fi
    echo "$rps $(to_ms "$p50") $(to_ms "$p99")"
}
# Errors wrk reports (non-2xx answers, socket errors) make a figure meaningless: say so.
warn_errors() { # file name
    if grep -Eq '^ *(Non-2xx or 3xx responses|Socket errors):' "$1"; then
        say "WARNING: $2 run had errors:"
        grep -E '^ *(Non-2xx or 3xx responses|Socket errors):' "$1" >&2
    fi
}

mkdir -p "$OUT_DIR"
wrk_args=(-t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency)

# wrk runs in the background and we `wait` for it: wrk catches SIGINT and exits normally, and
# bash would then skip our INT trap and carry on; `wait` lets the trap abort the run at once.
run_wrk() { # output-file wrk-arguments...
    local out=$1
    shift
    "$WRK" "${wrk_args[@]}" "$@" >"$out" 2>&1 &
    wrk_pid=$!
    wait "$wrk_pid" || { cat "$out" >&2; wrk_pid=""; die "wrk failed"; }
    wrk_pid=""
    cat "$out"
}

nginx_row="| nginx fixed JSON (floor) | — | — | — |"
mcpd_row="| mcpd echo: execute + stream | — | — | — |"
nginx_rps=""
mcpd_calls=""
mcpd_check=""

if run_nginx; then
    require_free "$NGINX_ADDR"
    mkdir -p "$WORK/nginx/temp"
    "$NGINX" -p "$WORK/nginx/" -c "$ROOT/bench/nginx.conf" -e "$WORK/nginx/error.log" \
        >"$WORK/nginx/stdout.log" 2>&1 &
    nginx_pid=$!
    wait_ready "http://$NGINX_ADDR/" "$nginx_pid" nginx "$WORK/nginx/error.log"
    say "nginx: wrk ${wrk_args[*]} http://$NGINX_ADDR/"
    run_wrk "$OUT_DIR/nginx.txt" "http://$NGINX_ADDR/"
    stop_server "$nginx_pid" QUIT 5
    nginx_pid=""
    warn_errors "$OUT_DIR/nginx.txt" nginx
    fields=$(parse_wrk "$OUT_DIR/nginx.txt")
    read -r nginx_rps p50 p99 <<<"$fields"
    nginx_row=$(printf '| nginx fixed JSON (floor) | %.0f | %s ms | %s ms |' "$nginx_rps" "$p50" "$p99")
fi

if run_mcpd; then
    require_free "$MCPD_ADDR"
    mkdir -p "$WORK/mcpd/run"
    # A limit far above what wrk can send: the rate limit path is measured, never refuses.
    "$MCPD_BIN" --listen "$MCPD_ADDR" --token "$TOKEN" --runtime-dir "$WORK/mcpd/run" \
        --rate-limit-per-key 100000000 >"$WORK/mcpd/mcpd.log" 2>&1 &
    mcpd_pid=$!
    wait_ready "http://$MCPD_ADDR/readyz" "$mcpd_pid" mcpd "$WORK/mcpd/mcpd.log"
    say "mcpd: wrk ${wrk_args[*]} -s bench/execute_stream.lua http://$MCPD_ADDR -- $TOKEN"
    run_wrk "$OUT_DIR/mcpd.txt" -s "$ROOT/bench/execute_stream.lua" "http://$MCPD_ADDR" -- "$TOKEN"
    stop_server "$mcpd_pid" TERM 15
    mcpd_pid=""
    cp "$WORK/mcpd/mcpd.log" "$OUT_DIR/mcpd.log"
    warn_errors "$OUT_DIR/mcpd.txt" mcpd
    fields=$(parse_wrk "$OUT_DIR/mcpd.txt")
    read -r mcpd_rps p50 p99 <<<"$fields"
    mcpd_calls=$(awk -v r="$mcpd_rps" 'BEGIN { printf "%.0f", r / 2 }')
    mcpd_row=$(printf '| mcpd echo: execute + stream | %s | %s ms | %s ms |' "$mcpd_calls" "$p50" "$p99")
    # The Lua script's own count: executes answered with a call_id, streams that ended in final.
    mcpd_check=$(grep -E '^mcpd calls:' "$OUT_DIR/mcpd.txt" || true)
fi

table=$(
    echo "| target | calls/s | p50 | p99 |"
    echo "| --- | ---: | ---: | ---: |"
    echo "$nginx_row"
    echo "$mcpd_row"
    echo
    echo "wrk ${wrk_args[*]} on loopback. For nginx one call is one request. For mcpd one call is two"
    echo "requests (POST /mcp/execute, then GET /mcp/stream/{call_id}), so calls/s = requests/s ÷ 2;"
    echo "its latencies are per request, executes and streams together."
    if [ -n "$mcpd_check" ]; then echo "${mcpd_check}."; fi
    if [ -n "$nginx_rps" ] && [ -n "$mcpd_calls" ]; then
        echo
        awk -v m="$mcpd_calls" -v n="$nginx_rps" \
            'BEGIN { printf "mcpd calls/s ÷ nginx requests/s = %.1f%% (goal: 25%%)\n", 100 * m / n }'
    fi
)

echo
echo "$table"

if [ -n "$nginx_rps" ] && [ -n "$mcpd_calls" ]; then
    cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
    {
        echo "# Benchmark results"
        echo
        echo "Written by \`make bench\` (bench/run.sh); each run replaces this file."
        echo
        echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo "- kernel: $(uname -r)"
        echo "- CPU: ${cpu:-unknown}, $(nproc) cores"
        echo
        echo "$table"
    } >"$RESULTS"
    say "written to bench/RESULTS.md"
else
    say "partial run (BENCH_ONLY=$ONLY): bench/RESULTS.md left unchanged"
fi
