#!/usr/bin/env bash
# The side-by-side benchmark of bench/brokers.sh when the mqload tools are not beside the checkout:
# the same tests, with `fennec bench` as the load generator. Started by brokers.sh, which exports
# ROOT RUNS DUR TESTS OUT BROKERS PORT DRY. Each broker is started on 127.0.0.1:$PORT in turn, one
# measurement at a time, and stopped by its pid; each run writes one RESULT line in the format of
# run-baseline.sh to $OUT/BROKER/results.txt, so that bench/summarize.mjs reads both alike. Broker
# memory and CPU are not measured here (mqload reads them from /proc; fennec bench does not).
set -euo pipefail
FENNEC="node $ROOT/bin/fennec.js"

# The arguments of `fennec bench` for each test of run-baseline.sh (same clients, QoS, windows, rates).
bench_args() {
  case "$1" in
    fanin-q0) echo "fanin -q 0 -P 8" ;;
    fanin-q1) echo "fanin -q 1 -P 8 -w 64" ;;
    fanin-q2) echo "fanin -q 2 -P 8 -w 20" ;;
    fanout-q0) echo "fanout -q 0 -S 50" ;;
    fanout-q1) echo "fanout -q 1 -S 50 -w 64" ;;
    pairs-q1) echo "pairs -q 1 -P 50 -w 64" ;;
    fanin-q0-r20k) echo "fanin -q 0 -P 8 -r 2500" ;;
    fanout-q0-r10k) echo "fanout -q 0 -S 50 -r 200" ;;
    conn) echo "conn -c 10000 --connect-concurrency 100" ;;
    *) return 1 ;;
  esac
}

broker_command() {
  case "$1" in
    fennec) echo "$FENNEC broker --port $PORT --log-level warn --config $ROOT/bench/fennec-bench.yaml" ;;
    aedes) echo "node $ROOT/bench/aedes-server.mjs $PORT" ;;
    mosquitto)
      [ "$DRY" = 1 ] || mkdir -p "$OUT/mosquitto"
      [ "$DRY" = 1 ] || printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 1000000\nlog_dest stderr\nlog_type error\n' \
        "$PORT" > "$OUT/mosquitto/mosquitto.conf"
      echo "mosquitto -c $OUT/mosquitto/mosquitto.conf" ;;
    *) return 1 ;;
  esac
}

# Whether something listens on 127.0.0.1:$1 (or any address), from /proc/net/tcp.
port_listening() {
  local hex; hex=$(printf '%04X' "$1")
  awk -v h=":$hex" '$4=="0A" && substr($2, length($2)-4)==h {f=1} END {exit !f}' /proc/net/tcp /proc/net/tcp6
}

BPID=""
stop_broker() {
  [ -n "$BPID" ] || return 0
  kill -TERM "$BPID" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$BPID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$BPID" 2>/dev/null || true
  wait "$BPID" 2>/dev/null || true
  BPID=""
}
trap stop_broker EXIT

# One RESULT line (run-baseline.sh's keys) from fennec bench's JSON on stdin.
to_result() {
  node -e '
    let text = ""; process.stdin.on("data", (c) => (text += c)).on("end", () => {
      const r = JSON.parse(text);
      const keys = { msgs_per_s: r.msgs_per_s, pub_per_s: r.pub_per_s, p50_us: r.p50_us, p99_us: r.p99_us,
        lat_samples: r.latency_samples, lost: r.lost, dup: r.dup, reorder: r.reorder, errors: r.errors };
      // As mqload, only the conn test reports connections per second.
      if (r.scenario === "conn") Object.assign(keys, { connects_per_s: r.connects_per_s, connected: r.connections });
      console.log("RESULT scenario=" + r.scenario + " generator=fennec-bench " +
        Object.entries(keys).map(([k, v]) => k + "=" + v).join(" "));
    });'
}

for broker in $BROKERS; do
  command=$(broker_command "$broker") || { echo "brokers.sh: unknown broker $broker" >&2; exit 2; }
  if [ "$broker" = mosquitto ] && ! command -v mosquitto >/dev/null; then
    echo "brokers.sh: mosquitto is missing (apt-get install mosquitto); skipping it" >&2
    continue
  fi
  results="$OUT/$broker/results.txt"
  if [ "$DRY" = 0 ]; then
    mkdir -p "$OUT/$broker"
    echo "# fennec bench fallback label=$broker port=$PORT runs=$RUNS duration=$DUR date=$(date -Is)" > "$results"
  fi
  for test in $TESTS; do
    args=$(bench_args "$test") || { echo "brokers.sh: unknown test $test" >&2; exit 2; }
    duration=$DUR
    [ "$test" = conn ] && duration=5
    for run in $(seq 1 "$RUNS"); do
      load="$FENNEC bench $args -d $duration --port $PORT --json"
      if [ "$DRY" = 1 ]; then
        echo "broker: $command"
        echo "load:   $load"
        continue
      fi
      port_listening "$PORT" && { echo "brokers.sh: port $PORT is already in use" >&2; exit 2; }
      bash -c "exec $command" >>"$OUT/$broker/broker.log" 2>&1 &
      BPID=$!
      for _ in $(seq 1 100); do port_listening "$PORT" && break; sleep 0.1; done
      port_listening "$PORT" || { echo "brokers.sh: $broker did not listen on $PORT (see $OUT/$broker/broker.log)" >&2; exit 1; }
      rc=0
      # shellcheck disable=SC2086
      line=$($load 2>>"$OUT/$broker/bench.log" | to_result) || rc=$?
      [ -n "$line" ] || line="RESULT scenario=$test failed=1"
      echo "$line broker=$broker test=$test run=$run rc=$rc" | tee -a "$results"
      stop_broker
      sleep 1
    done
  done
done
[ "$DRY" = 1 ] && exit 0
node "$ROOT/bench/summarize.mjs" "$OUT"/*/results.txt | tee "$OUT/summary.md"
