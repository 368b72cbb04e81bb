#!/usr/bin/env bash
# Runs the same mqload matrix against Fennec, Aedes and Mosquitto, one broker at a time, and prints
# one table with all three side by side. Every run talks to 127.0.0.1 only and stops by itself.
#
#   bench/brokers.sh [--runs N] [--duration S] [--tests "fanin-q1 fanout-q0 ..."] [--out DIR]
#                    [--brokers "fennec aedes mosquitto"] [--port N] [--extra "MQLOAD ARGS"] [--dry-run]
#                    [--durable "fanin-q1 fanout-q1"] [--expiry SECS] [--workers N]
#
# The durable rows (--durable, default "fanin-q1 fanout-q1"; "" for none) run those tests again
# with persistent subscribers (mqload -E SECS, default 3600), shown as e.g. fanin-q1-E3600: Fennec
# commits their QoS 1 deliveries to its SQLite store (a fresh data directory for each run) before
# each PUBACK; Mosquitto and Aedes keep them in memory. The summary gives each broker's durable
# figure as a share of its own figure with clean subscribers.
#
# A broker `fennec@DIR` is Fennec built in another checkout (a worktree of another branch), shown as
# fennec@<name of DIR>: before and after a change side by side. --extra goes to every mqload run
# (e.g. "-P 64": 64 publishers in the fan-in tests).
#
# --workers N adds the broker `fennec-wN`: this checkout's Fennec with `--workers N` (N broker
# processes sharing the port, docs/workers.md), run on the same matrix beside `fennec` (one process),
# e.g. --brokers fennec --workers 2 for 1 against 2 workers. Its broker CPU column is the primary's
# alone (the process the runner started); the workers' CPU is not in it.
#
# Needs: cc (to build mqload), Debian's mosquitto (installed here when run as root), and Aedes 1.2.0
# in $AEDES_DIR (default /tmp/aedes-peer; installed here when missing). Fennec must be built (npm run build).
# Without the mqload tools beside the checkout (../shared/tools/mqload, or $MQLOAD_TOOLS), the same
# matrix runs with `fennec bench` as the load generator and the repository's Aedes (dev dependency);
# --port sets the port the brokers take in turn (default 18832), --dry-run prints the commands only.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=${MQLOAD_TOOLS:-$ROOT/../shared/tools/mqload}
RUNS=2 DUR=10 TESTS="fanin-q0 fanin-q1 fanin-q2 fanout-q0 fanout-q1 pairs-q1 fanin-q0-r20k fanout-q0-r10k conn"
OUT=/tmp/mqbench/compare-$(date +%Y%m%d-%H%M%S) BROKERS="fennec aedes mosquitto" PORT=18832 DRY=0 EXTRA=
DURABLE="fanin-q1 fanout-q1" EXPIRY=3600 WORKERS=
while [ $# -gt 0 ]; do
  case "$1" in
    --port) PORT=$2; shift 2 ;;
    --extra) EXTRA=$2; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    --runs) RUNS=$2; shift 2 ;;
    --duration) DUR=$2; shift 2 ;;
    --tests) TESTS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --brokers) BROKERS=$2; shift 2 ;;
    --durable) DURABLE=$2; shift 2 ;;
    --expiry) EXPIRY=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "brokers.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -z "$WORKERS" ] || BROKERS="$BROKERS fennec-w$WORKERS"
if [ ! -f "$TOOLS/run-baseline.sh" ]; then
  echo "brokers.sh: mqload tools not found at $TOOLS; falling back to fennec bench as the load generator" >&2
  [ -z "$DURABLE" ] || echo "brokers.sh: the durable rows need mqload (-E); skipped" >&2
  export ROOT RUNS DUR TESTS OUT BROKERS PORT DRY
  exec bash "$ROOT/bench/brokers-fennec-bench.sh"
fi
[ -x /tmp/mqload ] || cc -O2 -o /tmp/mqload "$TOOLS/mqload.c"
export MQLOAD=/tmp/mqload
if ! command -v mosquitto >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq mosquitto >/dev/null
  else echo "brokers.sh: mosquitto is missing (apt-get install mosquitto)" >&2; exit 2; fi
fi
export AEDES_DIR=${AEDES_DIR:-/tmp/aedes-peer}
if [ ! -f "$AEDES_DIR/node_modules/aedes/aedes.js" ]; then
  mkdir -p "$AEDES_DIR" && (cd "$AEDES_DIR" && npm init -y >/dev/null && npm install --no-audit --no-fund aedes@1.2.0 >/dev/null)
fi
[ -f "$ROOT/dist/src/cli/main.js" ] || (cd "$ROOT" && npm run build >/dev/null)
mkdir -p "$OUT"
# run-baseline.sh with the arguments common to every run; $1 = label, the rest its own arguments.
baseline() {
  local label=$1; shift
  if [ "$DRY" = 1 ]; then echo "run-baseline.sh $*"; return 0; fi
  bash "$TOOLS/run-baseline.sh" --runs "$RUNS" --duration "$DUR" "$@"
}
# The durable rows of one broker, appended to its results as TEST-E$EXPIRY.
durable() {
  local label=$1; shift
  [ -n "$DURABLE" ] || return 0
  baseline "$label" "$@" --tests "$DURABLE" --extra "$EXTRA -E $EXPIRY" --out "$OUT/$label/durable"
  [ "$DRY" = 1 ] && return 0
  grep '^RESULT' "$OUT/$label/durable/results.txt" | sed -E "s/ test=([^ ]+)/ test=\1-E$EXPIRY/" >> "$OUT/$label/results.txt"
}
for broker in $BROKERS; do
  case "$broker" in
    fennec|fennec@*)
      dir=$ROOT label=fennec
      if [ "$broker" != fennec ]; then dir=${broker#fennec@} label=fennec@$(basename "${broker#fennec@}"); fi
      [ -f "$dir/dist/src/cli/main.js" ] || { echo "brokers.sh: $dir is not built (npm run build there)" >&2; exit 2; }
      cmd="node $dir/bin/fennec.js broker --port $PORT --log-level warn --config $ROOT/bench/fennec-bench.yaml"
      baseline "$label" --label "$label" --port "$PORT" --tests "$TESTS" --out "$OUT/$label" --extra "$EXTRA" --cmd "$cmd"
      # A new, empty SQLite store for each run: the exec keeps the broker's pid the one the runner started.
      data="$OUT/$label/durable/data"
      durable "$label" --label "$label" --port "$PORT" --cmd "sh -c 'rm -rf $data && exec $cmd --data-dir $data'" ;;
    fennec-w*)
      label=$broker
      cmd="node $ROOT/bin/fennec.js broker --port $PORT --log-level warn --config $ROOT/bench/fennec-bench.yaml --workers ${broker#fennec-w}"
      # A data directory of its own, new for each run: one written with another worker count is refused.
      data="$OUT/$label/data"
      baseline "$label" --label "$label" --port "$PORT" --tests "$TESTS" --out "$OUT/$label" --extra "$EXTRA" \
        --cmd "sh -c 'rm -rf $data && exec $cmd --data-dir $data'"
      data="$OUT/$label/durable/data"
      durable "$label" --label "$label" --port "$PORT" --cmd "sh -c 'rm -rf $data && exec $cmd --data-dir $data'" ;;
    aedes|mosquitto)
      baseline "$broker" --broker "$broker" --tests "$TESTS" --out "$OUT/$broker" --extra "$EXTRA"
      durable "$broker" --broker "$broker" ;;
    *) echo "brokers.sh: unknown broker $broker" >&2; exit 2 ;;
  esac
done
[ "$DRY" = 1 ] && exit 0
node "$ROOT/bench/summarize.mjs" "$OUT"/*/results.txt | tee "$OUT/summary.md"
