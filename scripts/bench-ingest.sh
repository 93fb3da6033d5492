#!/usr/bin/env bash
# Ingestion end to end (upload -> every entry judged and extracted) against
# `unzip` + `pdftotext` over the same files, sequentially, in the same run.
# Usage: scripts/bench-ingest.sh [FILES, default 1000] [PAGES_PER_PDF, default 30]
# Needs unzip and pdftotext (Debian poppler-utils; installed if missing).
# The server inherits the environment: PDF_TEXT_ENGINE=builtin measures the built-in
# PDF engine (the default, auto, uses pdftotext when it is on PATH). BENCH_SKIP_1GB=1
# leaves out the 1 GB memory run.
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=${1:-1000}
PAGES=${2:-30}
for tool in unzip pdftotext; do
  command -v "$tool" >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq unzip poppler-utils; }
done
cargo build -q --release --bin quire --example bench_bundle

work=$(mktemp -d)
cleanup() { kill "${QUIRE_PID:-}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
./target/release/examples/bench_bundle "$work/bundle.zip" "$FILES" "$PAGES"
bundle_mb=$(unzip -l "$work/bundle.zip" | tail -1 | awk '{printf "%.1f", $1/1e6}')  # inflated

QUIRE_DATA_DIR="$work/data" PORT=18090 LOG_LEVEL=warn RATE_LIMIT_ENABLED=false MAX_FILE_SIZE=2GB \
  MAX_CONCURRENT_JOBS=2 ./target/release/quire serve > "$work/serve.out" 2>&1 & QUIRE_PID=$!
for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:18090/api/v1/health >/dev/null 2>&1 && break; sleep 0.1; done
KEY=$(cat "$work/data/admin-api-key")
WS=$(curl -fsS -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \
  -d '{"name":"bench","reuse_existing":true}' http://127.0.0.1:18090/api/v1/workspaces | python3 -c 'import sys,json;print(json.load(sys.stdin)["id"])')

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s.%N)
JOB=$(curl -fsS -H "Authorization: Bearer $KEY" -F "workspace_id=$WS" -F "file=@$work/bundle.zip" \
  http://127.0.0.1:18090/api/v1/documents/upload | python3 -c 'import sys,json;print(json.load(sys.stdin)["job_id"])')
while :; do
  status=$(curl -fsS -H "Authorization: Bearer $KEY" "http://127.0.0.1:18090/api/v1/documents/jobs/$JOB" \
    | python3 -c 'import sys,json;print(json.load(sys.stdin)["status"])')
  case "$status" in succeeded|failed|cancelled) break ;; esac
  sleep 0.2
done
end=$(date +%s.%N)
quire_s=$(echo "$end - $start" | bc)
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$QUIRE_PID/status")
accepted=$(curl -fsS -H "Authorization: Bearer $KEY" "http://127.0.0.1:18090/api/v1/documents/jobs/$JOB" \
  | python3 -c 'import sys,json;j=json.load(sys.stdin);r=j.get("result") or j["report"];print(r["by_verdict"].get("accepted",0))')

start=$(date +%s.%N)
mkdir -p "$work/unzipped"
unzip -q "$work/bundle.zip" -d "$work/unzipped"
find "$work/unzipped" -name '*.pdf' -print0 | while IFS= read -r -d '' f; do pdftotext "$f" "$f.txt"; done
end=$(date +%s.%N)
base_s=$(echo "$end - $start" | bc)

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); load before the run: $load_before"
echo "PDF text engine: ${PDF_TEXT_ENGINE:-auto}"
echo "bundle: $FILES files ($PAGES pages per PDF), ${bundle_mb} MB inflated; job status $status, $accepted accepted"
echo
echo "| pipeline | seconds | files/s | MB/s | peak RSS |"
echo "|---|---|---|---|---|"
awk -v s="$quire_s" -v n="$FILES" -v mb="$bundle_mb" -v rss="$rss_kb" 'BEGIN { printf "| quire (upload -> extracted) | %.1f | %.0f | %.1f | %.0f MB |\n", s, n/s, mb/s, rss/1024 }'
awk -v s="$base_s" -v n="$FILES" -v mb="$bundle_mb" 'BEGIN { printf "| unzip + pdftotext (sequential) | %.1f | %.0f | %.1f | — |\n", s, n/s, mb/s }'
awk -v q="$quire_s" -v b="$base_s" 'BEGIN { printf "\nquire / baseline = %.2f (target <= 0.80)\n", q/b }'

# Streaming: a 1 GB upload must not grow the server's memory. Measured on a fresh server
# so its peak RSS is the upload's alone.
kill "$QUIRE_PID" 2>/dev/null || true; wait "$QUIRE_PID" 2>/dev/null || true
if [ -n "${BENCH_SKIP_1GB:-}" ]; then exit 0; fi
python3 - "$work/big.zip" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", compression=zipfile.ZIP_STORED) as z:
    with z.open("data/large-table.csv", "w", force_zip64=True) as f:
        row = (b"item,quantity,unit_price\n" + b"office chair,400,129.00\n" * 40000)
        written = 0
        while written < (1 << 30):
            f.write(row); written += len(row)
PY
QUIRE_DATA_DIR="$work/data2" PORT=18091 LOG_LEVEL=warn RATE_LIMIT_ENABLED=false MAX_FILE_SIZE=2GB \
  ./target/release/quire serve > "$work/serve2.out" 2>&1 & QUIRE_PID=$!
for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:18091/api/v1/health >/dev/null 2>&1 && break; sleep 0.1; done
KEY=$(cat "$work/data2/admin-api-key")
WS=$(curl -fsS -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \
  -d '{"name":"bench","reuse_existing":true}' http://127.0.0.1:18091/api/v1/workspaces | python3 -c 'import sys,json;print(json.load(sys.stdin)["id"])')
before_kb=$(awk '/VmRSS/ {print $2}' "/proc/$QUIRE_PID/status")
start=$(date +%s.%N)
JOB=$(curl -fsS -H "Authorization: Bearer $KEY" -F "workspace_id=$WS" -F "file=@$work/big.zip" \
  http://127.0.0.1:18091/api/v1/documents/upload | python3 -c 'import sys,json;print(json.load(sys.stdin)["job_id"])')
end=$(date +%s.%N)
upload_rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$QUIRE_PID/status")
while :; do
  status=$(curl -fsS -H "Authorization: Bearer $KEY" "http://127.0.0.1:18091/api/v1/documents/jobs/$JOB" \
    | python3 -c 'import sys,json;print(json.load(sys.stdin)["status"])')
  case "$status" in succeeded|failed|cancelled) break ;; esac
  sleep 0.5
done
done_rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$QUIRE_PID/status")
echo
echo "| 1 GB bundle (one 1 GiB CSV entry) | value |"
echo "|---|---|"
awk -v s="$(echo "$end - $start" | bc)" 'BEGIN { printf "| upload time | %.1f s (%.0f MB/s) |\n", s, 1024/s }'
awk -v b="$before_kb" -v u="$upload_rss_kb" -v d="$done_rss_kb" -v st="$status" \
  'BEGIN { printf "| server RSS before | %.0f MB |\n| peak RSS after the upload | %.0f MB |\n| peak RSS after processing (job %s) | %.0f MB |\n", b/1024, u/1024, st, d/1024 }'
