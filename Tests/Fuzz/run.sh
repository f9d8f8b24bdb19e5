#!/usr/bin/env bash
# Runs one libFuzzer target built by `make fuzz-build`: first replays the regression inputs and the
# seed corpus (every input that once crashed must keep passing), then fuzzes for SECONDS.
# Usage: Tests/Fuzz/run.sh TARGET SECONDS   (TARGET: http-request-parser, jsonrpc, worker-protocol)
# A crash leaves its input in .build/fuzz/artifacts/TARGET/; fix the bug, then copy the input to
# Tests/Fuzz/regressions/TARGET/ so it is replayed from then on.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

target=$1
seconds=$2
binary=.build/fuzz/$target
seeds=Tests/Fuzz/corpus/$target
regressions=Tests/Fuzz/regressions/$target
work=.build/fuzz/corpus/$target        # what the fuzzer learns; kept between local runs
artifacts=.build/fuzz/artifacts/$target/
mkdir -p "$work" "$artifacts"

# Swift's own crash reporter would hold a crashing input's process for up to 30 s, and libFuzzer
# reports the crash itself.
export SWIFT_BACKTRACE=enable=no
# Swift's runtime keeps metadata caches alive for the process lifetime: not leaks.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}

options=(-max_len=4096 -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$artifacts" -print_final_stats=0)
dictionary=Tests/Fuzz/$target.dict
[ -f "$dictionary" ] && options+=(-dict="$dictionary")

replay=()
for dir in "$regressions" "$seeds"; do
    [ -d "$dir" ] && while IFS= read -r -d '' file; do replay+=("$file"); done < <(find "$dir" -type f -print0 | sort -z)
done
if [ ${#replay[@]} -gt 0 ]; then
    echo "== $target: replaying ${#replay[@]} regression and seed inputs"
    # With files as arguments libFuzzer runs each once and fails on the first that crashes.
    timeout 300 "$binary" "${options[@]}" "${replay[@]}" >.build/fuzz/$target.replay.log 2>&1 || {
        tail -40 ".build/fuzz/$target.replay.log" >&2
        echo "fuzz: $target fails on a regression or seed input (log: .build/fuzz/$target.replay.log)" >&2
        exit 1
    }
fi

echo "== $target: fuzzing for ${seconds}s"
status=0
timeout $((seconds + 120)) "$binary" "${options[@]}" -max_total_time="$seconds" "$work" "$seeds" \
    >.build/fuzz/$target.log 2>&1 || status=$?
grep -E '^(#[0-9]+.*(DONE|pulse)|Done )' ".build/fuzz/$target.log" | tail -1 || true
if [ $status -ne 0 ]; then
    tail -60 ".build/fuzz/$target.log" >&2
    echo "fuzz: $target found a failing input (exit $status); it is in $artifacts — fix the bug, then" >&2
    echo "      copy the input to $regressions/ so it is replayed by every later run" >&2
    exit 1
fi
