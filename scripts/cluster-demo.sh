#!/usr/bin/env bash
# A three-node Fennec cluster on one machine, without Docker: one redis-server (appendonly yes,
# appendfsync always) and three `fennec broker` nodes (fennec-1, fennec-2, fennec-3), each with its
# own data directory. Runs in the foreground; Ctrl-C (or SIGTERM) stops all four.
#
#   npm run build && scripts/cluster-demo.sh
#
# Settings (environment):
#   FENNEC_DEMO_PORTS       the nodes' MQTT ports, three of them   (default "1883 1884 1885")
#   FENNEC_DEMO_REDIS_PORT  Redis's port                           (default 6379)
#   FENNEC_DEMO_DIR         where Redis and the nodes keep data    (default ./cluster-demo)
# Prints `cluster ready: URL URL URL` once every node listens. Exit codes: 0 stopped by a signal,
# 1 a part failed to start, 2 bad settings, 69 redis-server missing.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
read -r -a ports <<<"${FENNEC_DEMO_PORTS:-1883 1884 1885}"
redis_port="${FENNEC_DEMO_REDIS_PORT:-6379}"
dir="${FENNEC_DEMO_DIR:-$PWD/cluster-demo}"

if [ "${#ports[@]}" -ne 3 ]; then
  echo "cluster-demo: FENNEC_DEMO_PORTS must list three ports, not '${ports[*]}'" >&2
  exit 2
fi
for port in "${ports[@]}" "$redis_port"; do
  if ! [[ "$port" =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
    echo "cluster-demo: '$port' is not a TCP port (1-65535)" >&2
    exit 2
  fi
done
if ! command -v redis-server >/dev/null; then
  echo "cluster-demo: redis-server is not installed (Debian: apt-get install redis-server)" >&2
  exit 69
fi
if [ ! -f "$root/dist/src/cli/main.js" ]; then
  echo "cluster-demo: build first (npm run build)" >&2
  exit 1
fi

# Each child in its own process group: Ctrl-C reaches this script alone, which then stops the
# children once each, nodes first.
set -m
pids=()
stop() {
  trap - INT TERM EXIT
  # Nodes first (pids[1..]), so that they leave the cluster while Redis (pids[0]) still answers.
  for pid in "${pids[@]:1}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]:1}"; do wait "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]:0:1}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  echo "cluster-demo: stopped"
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

mkdir -p "$dir/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$dir/redis" --save '' \
  --appendonly yes --appendfsync always --logfile "$dir/redis/redis.log" &
redis_pid=$!
# Redis is stopped last: it comes first in the list.
pids=("$redis_pid")
for _ in $(seq 100); do
  if redis-cli -p "$redis_port" ping >/dev/null 2>&1; then break; fi
  if ! kill -0 "$redis_pid" 2>/dev/null; then
    echo "cluster-demo: redis-server did not start (see $dir/redis/redis.log)" >&2
    exit 1
  fi
  sleep 0.1
done

urls=()
for i in 1 2 3; do
  port="${ports[$((i - 1))]}"
  mkdir -p "$dir/fennec-$i"
  cat >"$dir/fennec-$i.yaml" <<EOF
host: 127.0.0.1
port: $port
data_dir: $dir/fennec-$i
log_level: warn
cluster:
  redis: redis://127.0.0.1:$redis_port
  node_id: fennec-$i
EOF
  ready="$dir/fennec-$i.out"
  : >"$ready"
  node "$root/bin/fennec.js" broker --config "$dir/fennec-$i.yaml" >"$ready" &
  pids+=("$!")
  for _ in $(seq 300); do
    if grep -q '^fennec listening' "$ready"; then break; fi
    if ! kill -0 "${pids[-1]}" 2>/dev/null; then
      echo "cluster-demo: node fennec-$i did not start" >&2
      exit 1
    fi
    sleep 0.1
  done
  if ! grep -q '^fennec listening' "$ready"; then
    echo "cluster-demo: node fennec-$i did not listen within 30 s" >&2
    exit 1
  fi
  urls+=("mqtt://127.0.0.1:$port")
done
echo "cluster ready: ${urls[*]}"
echo "Redis at redis://127.0.0.1:$redis_port; data in $dir; Ctrl-C stops everything"
wait
