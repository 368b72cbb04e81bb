#!/usr/bin/env bash
# Instructions per fan-in message: the broker runs under `valgrind --tool=callgrind` (which counts the
# instructions it executes, JIT code included, whatever else the shared machine does), loaded by
# bench/fanin-count.ts with a small and a large fixed count; the difference of the two totals over the
# difference of the messages is the cost of one message, start-up and warm-up left out.
#
#   bench/fanin-instructions.sh [--qos "0 1"] [--small N] [--large N] [--version 4|5] [DIR ...]
#
# Each DIR is a built checkout (default: this one), e.g. `/tmp/fanin-before .` for before and after.
# Prints one line per checkout and QoS: `INSTR dir=... qos=... instructions_per_msg=...`.
# Needs valgrind. Under callgrind the broker runs about 50 times slower: a run takes a minute.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
QOS_LIST="0 1" SMALL=10000 LARGE=40000 VERSION=4 DIRS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --qos) QOS_LIST=$2; shift 2 ;;
    --small) SMALL=$2; shift 2 ;;
    --large) LARGE=$2; shift 2 ;;
    --version) VERSION=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    -*) echo "fanin-instructions.sh: unknown argument $1" >&2; exit 2 ;;
    *) DIRS+=("$(cd "$1" && pwd)"); shift ;;
  esac
done
[ ${#DIRS[@]} -gt 0 ] || DIRS=("$ROOT")
command -v valgrind >/dev/null || { echo "fanin-instructions.sh: valgrind is missing" >&2; exit 2; }
WORK=$(mktemp -d /tmp/fanin-instr.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# Total instructions of one broker run that carries COUNT messages per publisher at QOS.
run() {
  local dir=$1 qos=$2 count=$3 log=$WORK/cg.log out port
  port=$((20000 + RANDOM % 20000))
  out=$WORK/broker-$port.out
  : >"$out"
  # From a directory of its own: the broker's data directory (./data) is not shared with another run.
  (cd "$WORK" && exec valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file="$WORK/cg.out" \
    node "$dir/bin/fennec.js" broker --port "$port" --log-level warn --config "$ROOT/bench/fennec-bench.yaml" \
    >"$out" 2>"$log") &
  local pid=$!
  for _ in $(seq 1 600); do
    grep -q "listening" "$out" && break
    kill -0 "$pid" 2>/dev/null || { echo "fanin-instructions.sh: the broker in $dir did not start" >&2; cat "$log" >&2; exit 1; }
    sleep 0.2
  done
  node "$ROOT/dist/bench/fanin-count.js" --port "$port" --qos "$qos" --count "$count" --version "$VERSION" \
    --idle-ms 10000 >&2
  kill -TERM "$pid"
  wait "$pid" || true
  sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$log"
}

for dir in "${DIRS[@]}"; do
  for qos in $QOS_LIST; do
    small=$(run "$dir" "$qos" "$SMALL")
    large=$(run "$dir" "$qos" "$LARGE")
    per=$(( (large - small) / ((LARGE - SMALL) * 8) ))
    echo "INSTR dir=$dir qos=$qos version=$VERSION small=$small large=$large instructions_per_msg=$per"
  done
done
