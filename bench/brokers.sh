#!/usr/bin/env bash
# Runs the same mqload matrix against Fennec, Aedes and Mosquitto, one broker at a time, and prints
# one table with all three side by side. Every run talks to 127.0.0.1 only and stops by itself.
#
#   bench/brokers.sh [--runs N] [--duration S] [--tests "fanin-q1 fanout-q0 ..."] [--out DIR]
#                    [--brokers "fennec aedes mosquitto"] [--port N] [--extra "MQLOAD ARGS"] [--dry-run]
#
# A broker `fennec@DIR` is Fennec built in another checkout (a worktree of another branch), shown as
# fennec@<name of DIR>: before and after a change side by side. --extra goes to every mqload run
# (e.g. "-P 64": 64 publishers in the fan-in tests).
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
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "brokers.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ ! -f "$TOOLS/run-baseline.sh" ]; then
  echo "brokers.sh: mqload tools not found at $TOOLS; falling back to fennec bench as the load generator" >&2
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
for broker in $BROKERS; do
  case "$broker" in
    fennec|fennec@*)
      dir=$ROOT label=fennec
      if [ "$broker" != fennec ]; then dir=${broker#fennec@} label=fennec@$(basename "${broker#fennec@}"); fi
      [ -f "$dir/dist/src/cli/main.js" ] || { echo "brokers.sh: $dir is not built (npm run build there)" >&2; exit 2; }
      bash "$TOOLS/run-baseline.sh" --label "$label" --port "$PORT" --runs "$RUNS" --duration "$DUR" --tests "$TESTS" \
        --out "$OUT/$label" --extra "$EXTRA" \
        --cmd "node $dir/bin/fennec.js broker --port $PORT --log-level warn --config $ROOT/bench/fennec-bench.yaml" ;;
    aedes|mosquitto)
      bash "$TOOLS/run-baseline.sh" --broker "$broker" --runs "$RUNS" --duration "$DUR" --tests "$TESTS" \
        --out "$OUT/$broker" --extra "$EXTRA" ;;
    *) echo "brokers.sh: unknown broker $broker" >&2; exit 2 ;;
  esac
done
node "$ROOT/bench/summarize.mjs" "$OUT"/*/results.txt | tee "$OUT/summary.md"
