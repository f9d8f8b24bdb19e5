#!/usr/bin/env bash
# The benchmark behind `make bench`: mcpd next to the floor (nginx) and its peers (the official
# Python SDK server, mcp-proxy) on the same machine in the same run, with issue 6's targets as
# ratios between rows. Each server runs alone on loopback and is driven by wrk for BENCH_SECONDS.
#
#   row       what                                                       driver
#   nginx     (1) nginx, fixed JSON body (bench/nginx.conf) — the floor   wrk GET /
#   sdk       (2) Python SDK echo server, JSON responses, a session per client (its default;
#                 sdk_echo_server.py, uvicorn) — the peer                 mcp_call.lua session
#   sdk-stateless (2') the same server in its stateless mode — row 4's counterpart
#                                                                         mcp_call.lua session
#   session   (3) mcpd echo tools/call, Streamable HTTP with a session    mcp_call.lua session
#   stateless (4) mcpd echo tools/call at 2026-07-28                       mcp_call.lua stateless
#   execute   (5) mcpd echo, POST /mcp/execute + GET /mcp/stream          execute_stream.lua
#   per-call  (6) mcpd echo with --sandbox per-call (if this build has sandbox levels)
#                                                                         mcp_call.lua session
#   stdio     (7) mcp-server-time hosted by mcpd (--config) and behind mcp-proxy, both with a
#                 2025-11-25 session (both support it)                    mcp_call.lua session
#   oneshot   cancel_all of 1,000 in-flight calls, exec → READY=1, supervisor RSS idle and with
#             10,000 idle SSE streams, worker RSS, warm-pool worker spawn time per sandbox level
#             (bench/probe.py)
#
# Every row reports calls/s, p50, p99 (wrk --latency) and the peak RSS of the server's whole
# process tree (supervisor and workers, nginx master and workers, proxy and its stdio server),
# the sum of VmRSS sampled every 100 ms while wrk runs. Prints markdown and writes it, with the
# machine and date, to BENCH_RESULTS when every row ran. Raw output is kept in bench/out/.
#
# Environment:
#   BENCH_SECONDS=10                      duration of each wrk run
#   BENCH_REPEAT=3                        wrk runs per row; the row reports the median run. Rows
#                                         (1)-(4) run in rounds, each row once a round
#   BENCH_WARMUP_SECONDS=2                the untimed wrk run before each of those rounds' runs
#   BENCH_THREADS=2 BENCH_CONNECTIONS=16  wrk's threads and connections
#   BENCH_ONLY="session,oneshot"          run only these rows (names above; "mcpd" = session,
#                                         stateless, execute, per-call); results file untouched
#   BENCH_RESULTS=bench/RESULTS.md        where a full run writes its results
#   MCPD_BIN=.build/release/mcpd          BENCH_PY=.build/bench-venv/bin/python
#   PROXY_BIN=.build/bench-proxy-venv/bin/mcp-proxy
set -euo pipefail
export LC_ALL=C # wrk and awk agree on a decimal point

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SECONDS_PER_RUN=${BENCH_SECONDS:-10}
REPEAT=${BENCH_REPEAT:-3}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
ONLY=${BENCH_ONLY:-}
RESULTS=${BENCH_RESULTS:-$ROOT/bench/RESULTS.md}
MCPD_BIN=${MCPD_BIN:-$ROOT/.build/release/mcpd}
BENCH_PY=${BENCH_PY:-$ROOT/.build/bench-venv/bin/python}
PROXY_BIN=${PROXY_BIN:-$ROOT/.build/bench-proxy-venv/bin/mcp-proxy}
NGINX_ADDR=127.0.0.1:18080 # fixed in bench/nginx.conf
SDK_ADDR=127.0.0.1:18081
MCPD_ADDR=127.0.0.1:18000
PROXY_ADDR=127.0.0.1:18083
TOKEN=bench-token
OUT_DIR=$ROOT/bench/out
SESSIONS_PER_THREAD=$(((CONNECTIONS + THREADS - 1) / THREADS))
CANCEL_CALLS=1000
SSE_STREAMS=10000
SPAWN_SAMPLES=5

ALL_ROWS="nginx sdk sdk-stateless session stateless execute per-call stdio oneshot"
selected=" ${ONLY//,/ } "
selected=${selected// mcpd / session stateless execute per-call }
for row in $selected; do
    case " $ALL_ROWS " in *" $row "*) ;; *) echo "bench: unknown row '$row' in BENCH_ONLY (rows: $ALL_ROWS, mcpd)" >&2; exit 2 ;; esac
done
wanted() { [ -z "$ONLY" ] || case "$selected" in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

find_tool() {
    command -v "$1" 2>/dev/null && return
    [ -x "/usr/sbin/$1" ] && { echo "/usr/sbin/$1"; return; }
    return 1
}
WRK=$(find_tool wrk) || die "wrk not found (make bench installs it)"
CURL=$(find_tool curl) || die "curl not found (make bench installs it)"
if wanted nginx; then NGINX=$(find_tool nginx) || die "nginx not found (make bench installs nginx-light)"; fi
[ -x "$MCPD_BIN" ] || die "$MCPD_BIN not found (make build)"
[ -x "$BENCH_PY" ] || die "$BENCH_PY not found (make bench makes .build/bench-venv)"
if wanted stdio; then [ -x "$PROXY_BIN" ] || die "$PROXY_BIN not found (make bench makes .build/bench-proxy-venv)"; fi

# 10,000 SSE streams need as many descriptors in mcpd and in the client: the hard limit is ours.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -gt $((SSE_STREAMS + 1000)) ] ||
    say "WARNING: ulimit -n is $(ulimit -n); the 10,000-stream figure needs more"

# Sandbox levels, if this build has them: --help lists --sandbox and the level names.
HELP=$("$MCPD_BIN" --help 2>&1 || true)
SANDBOX_LEVELS=""
if grep -q -- '--sandbox' <<<"$HELP"; then
    for level in none process strict per-call; do
        grep -q -- "$level" <<<"$HELP" && SANDBOX_LEVELS+="$level "
    done
fi

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcpd-bench.XXXXXX")
server_pid="" # the one server running now
wrk_pid=""
sampler_pid=""

# Every live descendant of a pid (children first found through ps).
descendants() { # pid
    ps -e -o pid=,ppid= | awk -v root="$1" '
        { parent[$1] = $2 }
        END { todo[root] = 1; changed = 1
              while (changed) { changed = 0
                  for (p in parent) if ((parent[p] in todo) && !(p in todo)) { todo[p] = 1; changed = 1 } }
              for (p in todo) if (p != root) print p }'
}
# Stop a server we started and whatever it started: gently, then for certain. Never anything else.
stop_tree() { # pid signal seconds
    local pid=$1 signal=$2 patience=$3 waited=0 children
    [ -n "$pid" ] || return 0
    children=$(descendants "$pid")
    kill -s "$signal" "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt $((patience * 10)) ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "pid $pid did not stop within ${patience}s after SIG$signal; killing it"
        kill -s KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    for child in $children; do
        if kill -0 "$child" 2>/dev/null; then
            sleep 1
            # A zombie has exited already; it waits for its new parent (init) to reap it.
            case "$(ps -o stat= -p "$child" 2>/dev/null)" in Z*) continue ;; esac
            if kill -0 "$child" 2>/dev/null; then
                say "pid $child ($(ps -o args= -p "$child" | cut -c1-80)) outlived its parent $pid by 1 s; killing it"
                kill -s KILL "$child" 2>/dev/null || true
            fi
        fi
    done
    # A child gone by the time it was looked at again is what should happen: not a failure
    # (under `set -e` the loop's last status would otherwise end the whole run).
    return 0
}
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    [ -z "$wrk_pid" ] || kill "$wrk_pid" 2>/dev/null || true
    [ -z "$sampler_pid" ] || kill "$sampler_pid" 2>/dev/null || true
    stop_tree "$server_pid" TERM 15
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

# Wait until URL answers (with 200 when want=200, with anything when want=any), failing early if
# the server process died. With SOFT_START=1 a server that does not come up is a return status of
# 1 (its process stopped), not the end of the benchmark: for options this build may refuse.
SOFT_START=0
not_ready() { # message log
    tail -n 30 "$2" >&2 || true
    [ "$SOFT_START" = 1 ] || die "$1"
    say "$1"
    stop_server TERM
    return 1
}
wait_ready() { # url want pid name log
    local url=$1 want=$2 pid=$3 name=$4 log=$5 tries=0 code
    while :; do
        code=$("$CURL" -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" || true)
        if [ "$want" = 200 ] && [ "$code" = 200 ]; then return; fi
        if [ "$want" = any ] && [ -n "$code" ] && [ "$code" != 000 ]; then return; fi
        if ! kill -0 "$pid" 2>/dev/null; then
            not_ready "$name exited before it was ready" "$log"
            return 1
        fi
        tries=$((tries + 1))
        [ "$tries" -lt 600 ] || { not_ready "$name not ready after 60s ($url)" "$log"; return 1; }
        sleep 0.1
    done
}

start_nginx() {
    require_free "$NGINX_ADDR"
    rm -rf "$WORK/nginx" && mkdir -p "$WORK/nginx/temp"
    "$NGINX" -p "$WORK/nginx/" -c "$ROOT/bench/nginx.conf" -e "$WORK/nginx/error.log" \
        >"$WORK/nginx/stdout.log" 2>&1 &
    server_pid=$!
    wait_ready "http://$NGINX_ADDR/" 200 "$server_pid" nginx "$WORK/nginx/error.log"
}
start_sdk() { # sessions|stateless
    require_free "$SDK_ADDR"
    "$BENCH_PY" "$ROOT/bench/sdk_echo_server.py" "${SDK_ADDR%:*}" "${SDK_ADDR#*:}" "$1" >"$WORK/sdk.log" 2>&1 &
    server_pid=$!
    wait_ready "http://$SDK_ADDR/mcp" any "$server_pid" "the SDK server" "$WORK/sdk.log"
}
# mcpd with the defaults an operator gets, plus ARGS; its log goes to $WORK/mcpd.log. The per-key
# rate limit is set far above what wrk can send: the limiter's path is measured, never refuses.
start_mcpd() { # args...
    require_free "$MCPD_ADDR"
    rm -rf "$WORK/mcpd-run" "$WORK/mcpd-state" && mkdir -p "$WORK/mcpd-run"
    "$MCPD_BIN" --listen "$MCPD_ADDR" --token "$TOKEN" --runtime-dir "$WORK/mcpd-run" --state-dir "$WORK/mcpd-state" \
        --rate-limit-per-key 100000000 "$@" >"$WORK/mcpd.log" 2>&1 &
    server_pid=$!
    wait_ready "http://$MCPD_ADDR/readyz" 200 "$server_pid" mcpd "$WORK/mcpd.log"
}
start_proxy() {
    require_free "$PROXY_ADDR"
    "$PROXY_BIN" --host "${PROXY_ADDR%:*}" --port "${PROXY_ADDR#*:}" --log-level WARNING \
        -- "$BENCH_PY" -m mcp_server_time >"$WORK/proxy.log" 2>&1 &
    server_pid=$!
    wait_ready "http://$PROXY_ADDR/status" any "$server_pid" mcp-proxy "$WORK/proxy.log"
}
stop_server() { # signal
    stop_tree "$server_pid" "$1" 15
    server_pid=""
}

# wrk's latency figures carry their own unit (us, ms, s); the table shows milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.3f", n }'
}
calc() { awk "BEGIN { printf \"%s\", $1 }"; } # calc 'EXPRESSION' with printf-ready result
field() { sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<<"$1" | head -n 1; } # field "k=v k2=v2" k2

mkdir -p "$OUT_DIR"
wrk_args=(-t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency)

# Results per row: calls/s, p50 ms, p99 ms, peak RSS (MB and processes), a note.
declare -A RATE RUNS P50 P99 RSS NOTE LABEL
LABEL[nginx]="(1) nginx fixed JSON (floor)"
LABEL[sdk]="(2) Python SDK echo, JSON, sessions (peer)"
LABEL[sdk-stateless]="(2') Python SDK echo, JSON, stateless"
LABEL[session]="(3) mcpd echo tools/call, Streamable HTTP session"
LABEL[stateless]="(4) mcpd echo tools/call, 2026-07-28 stateless"
LABEL[execute]="(5) mcpd echo, execute + stream"
LABEL[per-call]="(6) mcpd echo tools/call, --sandbox per-call"
LABEL[stdio-mcpd]="(7) mcp-server-time hosted by mcpd"
LABEL[stdio-proxy]="(7') mcp-server-time behind mcp-proxy"
ROW_ORDER="nginx sdk sdk-stateless session stateless execute per-call stdio-mcpd stdio-proxy"

# One wrk run against the server running now, its process tree's RSS sampled meanwhile. wrk runs
# in the background and we `wait` for it: wrk catches SIGINT and exits normally, and bash would
# then skip our INT trap; `wait` lets the trap abort the run.
run_once() { # row run wrk-arguments...
    local row=$1 run=$2 out
    shift 2
    out=$OUT_DIR/$row.$run.txt
    "$BENCH_PY" "$ROOT/bench/probe.py" rss-tree "$server_pid" "$WORK/$row.$run.rss" &
    sampler_pid=$!
    sleep 0.3 # the sampler's first sample is of the idle server
    "$WRK" "${wrk_args[@]}" "$@" >"$out" 2>&1 &
    wrk_pid=$!
    wait "$wrk_pid" || { cat "$out" >&2; wrk_pid=""; die "wrk failed"; }
    wrk_pid=""
    cat "$out" >&2
    kill -TERM "$sampler_pid" && wait "$sampler_pid" || true
    sampler_pid=""
}

# A row's figures from its BENCH_REPEAT runs: the median run by calls/s (its p50 and p99 with it),
# so that one lucky or unlucky slice of this shared VM does not decide a ratio; the peak RSS of
# any run; a note for any run with failed calls or wrk errors.
summarize() { # row
    local row=$1 run out rates="" median_run rss peak=0 line
    for run in $(seq 1 "$REPEAT"); do
        rates+="$(run_rate "$OUT_DIR/$row.$run.txt") $run"$'\n'
        line=$(cat "$WORK/$row.$run.rss")
        if [ "$(field "$line" peak_kb)" -ge "$peak" ]; then peak=$(field "$line" peak_kb); rss=$line; fi
    done
    median_run=$(sort -n <<<"${rates%$'\n'}" | awk '{ line[NR] = $2 } END { print line[int((NR + 1) / 2)] }')
    out=$OUT_DIR/$row.$median_run.txt
    cp "$out" "$OUT_DIR/$row.txt"
    RATE[$row]=$(run_rate "$out")
    RUNS[$row]=$(sort -n <<<"${rates%$'\n'}" | awk '{ printf "%s%s", (NR > 1 ? "/" : ""), $1 }')
    P50[$row]=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
    P99[$row]=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
    RSS[$row]="$(calc "$(field "$rss" peak_kb) / 1024" | xargs printf '%.1f') MB, $(field "$rss" processes) proc"
    for run in $(seq 1 "$REPEAT"); do
        out=$OUT_DIR/$row.$run.txt
        line=$(grep -E '^bench-calls:' "$out" || true)
        if [ -n "$line" ] && [ "$(field "$line" failed)" != 0 ]; then NOTE[$row]+="run $run: $(field "$line" failed) calls failed; "; fi
        if grep -Eq '^ *(Non-2xx or 3xx responses|Socket errors):' "$out"; then
            NOTE[$row]+="wrk run $run: $(grep -E '^ *(Non-2xx or 3xx responses|Socket errors):' "$out" | xargs); "
            say "WARNING: ${LABEL[$row]} had errors (see $out)"
        fi
    done
}

# BENCH_REPEAT runs back to back against the server running now.
measure() { # row wrk-arguments...
    local row=$1 run
    shift
    say "${LABEL[$row]}: wrk ${wrk_args[*]} $* ($REPEAT runs)"
    for run in $(seq 1 "$REPEAT"); do run_once "$row" "$run" "$@"; done
    summarize "$row"
}

# One run's calls/s: the Lua script's own count of answered calls when it reports one, else
# wrk's requests/s.
run_rate() { # wrk-output-file
    local line
    line=$(grep -E '^bench-calls:' "$1" || true)
    if [ -n "$line" ]; then
        calc "$(field "$line" ok) / $(field "$line" seconds)" | xargs printf '%.0f'
    else
        printf '%.0f' "$(awk '/^Requests\/sec:/ { print $2 }' "$1")"
    fi
}

# Rows (1)–(4) and (2'), whose calls/s the ratios compare, run in rounds: each row once a round,
# each on a freshly started server given a short warm-up. This host's speed drifts by 20 % and
# more over minutes; run one row after another, a slow or fast period fell on whichever row ran
# then and decided ratios between rows. In rounds it falls on all of them alike.
WARMUP_SECONDS=${BENCH_WARMUP_SECONDS:-2}
warm_up() { # wrk-arguments... (the same as the measured runs', with a shorter duration)
    "$WRK" -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP_SECONDS}s" "$@" >/dev/null 2>&1 &
    wrk_pid=$!
    wait "$wrk_pid" || true
    wrk_pid=""
}
NGINX_ARGS=("http://$NGINX_ADDR/")
SDK_ARGS=(-s "$ROOT/bench/mcp_call.lua" "http://$SDK_ADDR" -- session /mcp echo '{"message":"hello"}' "$SESSIONS_PER_THREAD")
SESSION_ARGS=(-s "$ROOT/bench/mcp_call.lua" "http://$MCPD_ADDR" -- session /mcp echo '{"message":"hello"}' "$SESSIONS_PER_THREAD" "$TOKEN")
STATELESS_ARGS=(-s "$ROOT/bench/mcp_call.lua" "http://$MCPD_ADDR" -- stateless /mcp echo '{"message":"hello"}' "$SESSIONS_PER_THREAD" "$TOKEN")
ROUND_ROWS="nginx sdk sdk-stateless session stateless"
for row in $ROUND_ROWS; do
    if wanted "$row"; then say "${LABEL[$row]}: wrk ${wrk_args[*]} ($REPEAT runs, one a round)"; fi
done
for run in $(seq 1 "$REPEAT"); do
    if wanted nginx; then
        say "round $run: nginx"
        start_nginx
        warm_up "${NGINX_ARGS[@]}"
        run_once nginx "$run" "${NGINX_ARGS[@]}"
        stop_server QUIT
    fi
    if wanted sdk; then
        say "round $run: the SDK server, sessions"
        start_sdk sessions
        warm_up "${SDK_ARGS[@]}"
        run_once sdk "$run" "${SDK_ARGS[@]}"
        stop_server TERM
    fi
    if wanted sdk-stateless; then
        say "round $run: the SDK server, stateless"
        start_sdk stateless
        warm_up "${SDK_ARGS[@]}"
        run_once sdk-stateless "$run" "${SDK_ARGS[@]}"
        stop_server TERM
    fi
    if wanted session; then
        say "round $run: mcpd, sessions"
        start_mcpd
        warm_up "${SESSION_ARGS[@]}"
        run_once session "$run" "${SESSION_ARGS[@]}"
        stop_server TERM
        cp "$WORK/mcpd.log" "$OUT_DIR/session.$run.log"
    fi
    if wanted stateless; then
        say "round $run: mcpd, stateless"
        start_mcpd
        warm_up "${STATELESS_ARGS[@]}"
        run_once stateless "$run" "${STATELESS_ARGS[@]}"
        stop_server TERM
        cp "$WORK/mcpd.log" "$OUT_DIR/stateless.$run.log"
    fi
done
for row in $ROUND_ROWS; do
    if wanted "$row"; then summarize "$row"; fi
done

if wanted execute; then
    start_mcpd
    measure execute -s "$ROOT/bench/execute_stream.lua" "http://$MCPD_ADDR" -- "$TOKEN"
    stop_server TERM
    cp "$WORK/mcpd.log" "$OUT_DIR/execute.log"
fi

if wanted per-call; then
    case " $SANDBOX_LEVELS " in
        *" per-call "*)
            if SOFT_START=1 start_mcpd --sandbox per-call; then
                measure per-call -s "$ROOT/bench/mcp_call.lua" "http://$MCPD_ADDR" -- \
                    session /mcp echo '{"message":"hello"}' "$SESSIONS_PER_THREAD" "$TOKEN"
                stop_server TERM
            else
                NOTE[per-call]="n/a (mcpd did not start with --sandbox per-call: bench/out/per-call.log)"
            fi
            cp "$WORK/mcpd.log" "$OUT_DIR/per-call.log"
            ;;
        *) NOTE[per-call]="n/a (no sandbox levels in this build)" ;;
    esac
fi

if wanted stdio; then
    # The very same server for both: the bench virtualenv's mcp-server-time, started by each host.
    # The server's tools are known once it answered tools/list: wait for its tool to be listed.
    time_tool_listed() {
        for _ in $(seq 1 300); do
            "$CURL" -s -H "Authorization: Bearer $TOKEN" "http://$MCPD_ADDR/mcp/manifest" |
                grep -q 'time__get_current_time' && return 0
            sleep 0.1
        done
        return 1
    }
    # mcpd runs the server as it would be configured to run: one warm instance per core
    # (min_instances 2), each taking concurrent requests, as the SDK's servers do. mcp-proxy can
    # run one instance only; that is the peer's hosting, measured as it is.
    TIME_POOL='"concurrent": true, "min_instances": 2, "max_instances": 2'
    printf '{"mcpServers": {"time": {"command": "%s", "args": ["-m", "mcp_server_time"], %s}}}\n' \
        "$BENCH_PY" "$TIME_POOL" >"$WORK/time-config.json"
    start_mcpd --config "$WORK/time-config.json"
    if ! time_tool_listed; then
        # mcpd's default level for stdio servers may hide the virtualenv from the server; the
        # sandbox costs at spawn, not per call, so level process measures the same hosting.
        [ -n "$SANDBOX_LEVELS" ] || { tail -n 30 "$WORK/mcpd.log" >&2; die "mcpd did not list time__get_current_time"; }
        say "the time server did not come up at mcpd's default sandbox level; using level process"
        stop_server TERM
        cp "$WORK/mcpd.log" "$OUT_DIR/stdio-mcpd-default-level.log"
        printf '{"mcpServers": {"time": {"command": "%s", "args": ["-m", "mcp_server_time"], "sandbox": "process", %s}}}\n' \
            "$BENCH_PY" "$TIME_POOL" >"$WORK/time-config.json"
        start_mcpd --config "$WORK/time-config.json"
        time_tool_listed || { tail -n 30 "$WORK/mcpd.log" >&2; die "mcpd did not list time__get_current_time"; }
        NOTE[stdio-mcpd]="sandbox level process (the default level did not start the server); "
    fi
    measure stdio-mcpd -s "$ROOT/bench/mcp_call.lua" "http://$MCPD_ADDR" -- \
        session /mcp time__get_current_time '{"timezone":"UTC"}' "$SESSIONS_PER_THREAD" "$TOKEN"
    stop_server TERM
    cp "$WORK/mcpd.log" "$OUT_DIR/stdio-mcpd.log"
    start_proxy
    # mcp-proxy mounts its endpoint at /mcp/ (Starlette answers /mcp with a redirect).
    measure stdio-proxy -s "$ROOT/bench/mcp_call.lua" "http://$PROXY_ADDR" -- \
        session /mcp/ get_current_time '{"timezone":"UTC"}' "$SESSIONS_PER_THREAD"
    stop_server TERM
    cp "$WORK/proxy.log" "$OUT_DIR/stdio-proxy.log"
fi

# One-shot figures: name → value, and their raw lines in bench/out/oneshot.txt.
declare -A SHOT
if wanted oneshot; then
    : >"$OUT_DIR/oneshot.txt"
    probe() { "$BENCH_PY" "$ROOT/bench/probe.py" "$@" | tee -a "$OUT_DIR/oneshot.txt"; }

    say "one-shot: exec → READY=1 (NOTIFY_SOCKET), 5 runs"
    require_free "$MCPD_ADDR"
    mkdir -p "$WORK/ready-run"
    line=$(probe ready-time 5 -- "$MCPD_BIN" --listen "$MCPD_ADDR" --token "$TOKEN" --runtime-dir "$WORK/ready-run" \
        --state-dir "$WORK/ready-state")
    SHOT[ready_ms]=$(field "$line" ready_ms)

    say "one-shot: supervisor RSS idle, then with $SSE_STREAMS idle GET /sse streams"
    start_mcpd
    sleep 1
    line=$(probe sse-idle "${MCPD_ADDR%:*}" "${MCPD_ADDR#*:}" "$TOKEN" "$SSE_STREAMS" "$server_pid")
    SHOT[idle_mb]=$(calc "$(field "$line" idle_rss_kb) / 1024" | xargs printf '%.1f')
    SHOT[streams]=$(field "$line" streams)
    SHOT[streams_mb]=$(calc "$(field "$line" streams_rss_kb) / 1024" | xargs printf '%.1f')
    stop_server TERM

    say "one-shot: cancel_all with $CANCEL_CALLS countdown calls in flight"
    start_mcpd --workers-max 16 --queue-max 2048
    line=$(probe cancel-all "${MCPD_ADDR%:*}" "${MCPD_ADDR#*:}" "$TOKEN" "$CANCEL_CALLS")
    SHOT[cancel_ms]=$(field "$line" cancel_all_ms)
    SHOT[cancelled]=$(field "$line" cancelled_events)
    stop_server TERM

    # A warm-pool worker's spawn → ready, from the call table, for each sandbox level (or the
    # build's only kind of worker); the idle worker's VmRSS comes with it.
    for level in ${SANDBOX_LEVELS:-default}; do
        say "one-shot: warm-pool worker spawn time, sandbox level $level"
        level_args=()
        [ "$level" = default ] || level_args=(--sandbox "$level")
        if ! SOFT_START=1 start_mcpd "${level_args[@]}"; then
            SHOT[spawn_$level]="n/a (mcpd did not start)"
            continue
        fi
        if line=$(probe spawn-time "$WORK/mcpd-run/calltable" "$SPAWN_SAMPLES"); then
            SHOT[spawn_$level]="$(field "$line" spawn_ms) ms"
            # The worker RSS figure is the default level's (the first measured).
            [ -n "${SHOT[worker_mb]:-}" ] ||
                SHOT[worker_mb]=$(calc "$(field "$line" worker_rss_kb) / 1024" | xargs printf '%.1f')
        else
            SHOT[spawn_$level]="n/a (no warm worker to time: bench/out/oneshot.txt)"
        fi
        stop_server TERM
    done
fi

# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------

# "met"/"missed" for VALUE OP TARGET (op >= or <=), "n/a" when a figure is missing.
verdict() { # value op target
    [ -n "$1" ] && [ -n "$3" ] || { echo "n/a"; return; }
    awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN { ok = (op == ">=") ? (v >= t) : (v <= t); print ok ? "met" : "missed" }'
}
have() { [ -n "${RATE[$1]:-}" ]; }
rate_ratio() { # a b -> a/b (both rows measured) or empty
    if have "$1" && have "$2" && [ "${RATE[$2]}" != 0 ]; then calc "${RATE[$1]} / ${RATE[$2]}"; fi
}
target_line() { # text value op target [target as shown]
    local op="≤"
    [ "$3" != ">=" ] || op="≥"
    echo "- $1, target $op ${5:-$4}: $(verdict "$2" "$3" "$4")"
}

table=$(
    echo "| row | calls/s (median run) | every run | p50 | p99 | peak RSS |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    for row in $ROW_ORDER; do
        case "$row" in stdio-*) wanted stdio || continue ;; *) wanted "$row" || continue ;; esac
        if have "$row"; then
            note=${NOTE[$row]:-}
            printf '| %s | %s | %s | %s ms | %s ms | %s |\n' "${LABEL[$row]}${note:+ (${note%; })}" "${RATE[$row]}" \
                "${RUNS[$row]}" "${P50[$row]}" "${P99[$row]}" "${RSS[$row]}"
        else
            printf '| %s | %s | — | — | — | — |\n' "${LABEL[$row]}" "${NOTE[$row]:-not run}"
        fi
    done
    if wanted oneshot; then
        echo
        echo "| one-shot figure | value |"
        echo "| --- | ---: |"
        echo "| cancel_all, $CANCEL_CALLS calls in flight: request sent → last \`cancelled\` event (${SHOT[cancelled]:-?} received) | ${SHOT[cancel_ms]:-—} ms |"
        echo "| exec → READY=1, minimum pool up (median of 5) | ${SHOT[ready_ms]:-—} ms |"
        echo "| supervisor RSS, idle | ${SHOT[idle_mb]:-—} MB |"
        echo "| supervisor RSS, ${SHOT[streams]:-?} idle SSE streams open | ${SHOT[streams_mb]:-—} MB |"
        echo "| worker RSS (an idle mcp-worker's VmRSS) | ${SHOT[worker_mb]:-—} MB |"
        for level in ${SANDBOX_LEVELS:-default}; do
            name="sandbox level $level"
            [ "$level" != default ] || name="no sandbox levels in this build"
            echo "| warm-pool worker spawn → ready ($name; median of $SPAWN_SAMPLES) | ${SHOT[spawn_$level]:-—} |"
        done
    fi
    echo
    echo "### Targets (issue 6), from this run"
    echo
    r=$(rate_ratio session nginx)
    [ -z "$r" ] || target_line "(3) = $(calc "100 * $r" | xargs printf '%.1f')% of (1)" "$(calc "100 * $r")" ">=" 25 "25%"
    r=$(rate_ratio session sdk)
    [ -z "$r" ] || target_line "(3) = $(printf '%.1f' "$r") × (2)" "$r" ">=" 40 "40 ×"
    if have session; then target_line "(3) p99 = ${P99[session]} ms" "${P99[session]}" "<=" 2 "2 ms"; fi
    r=$(rate_ratio stateless session)
    [ -z "$r" ] || target_line "(4) = $(printf '%.2f' "$r") × (3)" "$r" ">=" 1 "1 × (3)"
    r=$(rate_ratio stateless sdk-stateless)
    [ -z "$r" ] || echo "- (4) = $(printf '%.1f' "$r") × (2'), the SDK without sessions (no target; for comparison)"
    r=$(rate_ratio execute sdk)
    [ -z "$r" ] || target_line "(5) = $(printf '%.1f' "$r") × (2)" "$r" ">=" 10 "10 ×"
    if have per-call; then
        target_line "(6) = ${RATE[per-call]} calls/s" "${RATE[per-call]}" ">=" 300 "300 calls/s"
    elif wanted per-call; then
        echo "- (6): ${NOTE[per-call]:-not run}"
    fi
    r=$(rate_ratio stdio-mcpd stdio-proxy)
    [ -z "$r" ] || target_line "(7) = $(printf '%.1f' "$r") × mcp-proxy" "$r" ">=" 5 "5 ×"
    if wanted oneshot; then
        target_line "cancel_all = ${SHOT[cancel_ms]:-?} ms" "${SHOT[cancel_ms]:-}" "<=" 100 "100 ms"
        target_line "READY=1 = ${SHOT[ready_ms]:-?} ms after exec" "${SHOT[ready_ms]:-}" "<=" 150 "150 ms"
        target_line "supervisor idle RSS = ${SHOT[idle_mb]:-?} MB" "${SHOT[idle_mb]:-}" "<=" 15 "15 MB"
        target_line "supervisor RSS with ${SHOT[streams]:-?} SSE streams = ${SHOT[streams_mb]:-?} MB" "${SHOT[streams_mb]:-}" "<=" 150 "150 MB"
    fi
    echo
    echo "wrk ${wrk_args[*]} on loopback, each server alone, $REPEAT runs a row; a row shows its median run"
    echo "(p50 and p99 are that run's) and every run's calls/s. Rows (1)–(4) and (2') run in $REPEAT rounds, each row"
    echo "once a round on a freshly started server after a ${WARMUP_SECONDS} s warm-up, so that the host's drift"
    echo "falls on them alike; the other rows run back to back. calls/s counts answered calls: for"
    echo "nginx a request; for the MCP rows a tools/call answered with a result (the one initialize and"
    echo "notifications/initialized per connection are not counted); for (5) a call whose stream ended"
    echo "with \`final\` (two requests: POST /mcp/execute, GET /mcp/stream), whose p50/p99 are per request."
    echo "Peak RSS: the server's whole process tree (supervisor and workers; nginx master and workers;"
    echo "mcp-proxy and its stdio server), summed VmRSS sampled every 100 ms. mcpd runs with its defaults"
    echo "(--workers-min 2, --workers-max 8); (2) and (2') are uvicorn with access logging off, (2) in the"
    echo "SDK's default mode (a session per client, as row 3 keeps), (2') in its stateless_http mode; (7) uses a 2025-11-25"
    echo "session on both hosts and mcp-proxy --log-level WARNING; mcpd runs two warm instances of the"
    echo "stdio server, one per core, each taking concurrent requests (concurrent, min_instances 2),"
    echo "mcp-proxy the one it can. mcpd's tool processes run in the SCHED_BATCH class, and its busy event"
    echo "loop yields the CPU at most once a millisecond so that the workers it woke run."
    echo "Raw wrk output: bench/out/."
)

echo
echo "$table"

if [ -z "$ONLY" ]; then
    cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
    {
        echo "# Benchmark results"
        echo
        echo "Written by \`make bench\` (bench/run.sh); each run replaces this file."
        echo
        echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo "- machine: ${cpu:-unknown CPU}, $(nproc) cores, Linux $(uname -r)"
        echo "- load average before the run: $LOAD_BEFORE"
        echo
        echo "$table"
    } >"$RESULTS"
    say "written to $RESULTS"
else
    say "partial run (BENCH_ONLY=$ONLY): $RESULTS left unchanged"
fi
