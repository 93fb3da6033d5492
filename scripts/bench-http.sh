#!/usr/bin/env bash
# HTTP throughput of Quire next to an axum hello-world, on loopback, bounded in time.
# Usage: scripts/bench-http.sh [seconds per run, default 10] [connections, default 64] [rounds, default 3]
# Needs `wrk` (Debian package; installed if missing). Prints a Markdown table per round and
# the median of each ratio: the endpoints are measured in turn within a round, so a
# neighbour's burst on a shared machine skews one round, not the verdict.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNS=${2:-64}
ROUNDS=${3:-3}
if ! command -v wrk >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
fi
cargo build --release --bin quire --example hello_world >/dev/null

data=$(mktemp -d)
cleanup() { kill "${QUIRE_PID:-}" "${HELLO_PID:-}" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT

PORT=18081 ./target/release/examples/hello_world & HELLO_PID=$!
QUIRE_DATA_DIR="$data" PORT=18080 LOG_LEVEL=warn RATE_LIMIT_ENABLED=false \
  ./target/release/quire serve > "$data/serve.out" 2>&1 & QUIRE_PID=$!

wait_for() { for _ in $(seq 1 100); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }
wait_for http://127.0.0.1:18081/
wait_for http://127.0.0.1:18080/api/v1/health
KEY=$(cat "$data/admin-api-key")
# A password user for the JWT figure, created through the admin command.
echo 'bench-password-123' | QUIRE_DATA_DIR="$data" ./target/release/quire admin create-user \
  --email bench@example.test --role admin --password-stdin >/dev/null
JWT=$(curl -fsS -H 'content-type: application/json' \
  -d '{"email":"bench@example.test","password":"bench-password-123"}' \
  http://127.0.0.1:18080/api/v1/auth/login | python3 -c 'import sys,json;print(json.load(sys.stdin)["access_token"])')

# wrk prints latency percentiles with --latency; pull requests/s, p50 and p99.
measure() { # name url [header]
  local name=$1 url=$2 header=${3:-}
  local out
  if [ -n "$header" ]; then
    out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -H "$header" "$url")
  else
    out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency "$url")
  fi
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  printf '| %s | %s | %s | %s | %s |\n' "$name" "$rps" "$p50" "$p99" "${non2xx:-0}"
  echo "$rps" > "$data/rps-$name"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
echo "wrk -t2 -c$CONNS -d${DURATION}s, client and server on the same machine, $ROUNDS rounds"
for round in $(seq 1 "$ROUNDS"); do
  echo
  echo "round $round"
  echo
  echo "| endpoint | requests/s | p50 | p99 | non-2xx |"
  echo "|---|---|---|---|---|"
  measure hello-world http://127.0.0.1:18081/
  measure health http://127.0.0.1:18080/api/v1/health
  measure me-api-key http://127.0.0.1:18080/api/v1/auth/me "Authorization: Bearer $KEY"
  measure me-jwt http://127.0.0.1:18080/api/v1/auth/me "Authorization: Bearer $JWT"
  awk -v h="$(cat "$data/rps-health")" -v w="$(cat "$data/rps-hello-world")" \
    -v k="$(cat "$data/rps-me-api-key")" -v j="$(cat "$data/rps-me-jwt")" \
    'BEGIN { printf "%.3f %.3f %.3f\n", h / w, k / h, j / h }' >> "$data/ratios"
done
echo
echo "per round (health/hello-world, me-api-key/health, me-jwt/health):"
sed 's/^/  /' "$data/ratios"
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
echo
printf 'health / hello-world = %.2f, median of %s rounds (target >= 0.70)\n' \
  "$(cut -d' ' -f1 "$data/ratios" | median)" "$ROUNDS"
printf 'me (API key) / health = %.2f, me (JWT) / health = %.2f, medians (target >= 0.70)\n' \
  "$(cut -d' ' -f2 "$data/ratios" | median)" "$(cut -d' ' -f3 "$data/ratios" | median)"
