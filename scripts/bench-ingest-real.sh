#!/usr/bin/env bash
# Ingestion on REAL PDFs, in one run on both cores: Quire end to end (upload -> every
# entry judged, extracted, stored, and indexed by the embed job; release build) on the
# real-PDF corpus zipped, against `mutool` alone and `pdftotext` alone over the same
# files, 2 processes at a time (a file a tool cannot read counts with the time it took;
# xargs' exit status is ignored), with the same page limit Quire uses (2,000). Prints
# peak RSS of the server and the load average before each figure (the machine is
# shared: compare figures of one run only).
#
# usage: scripts/bench-ingest-real.sh [CORPUS_DIR, default /tmp/quire-real-pdfs]
# The corpus is built by scripts/real-pdf-corpus.sh when the directory is missing.
# The server inherits the environment: PDF_TEXT_ENGINE=pdftotext (or builtin) measures
# another engine; the default, auto, uses mutool when it is on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-/tmp/quire-real-pdfs}
for tool in mutool pdftotext zip curl; do
  command -v "$tool" >/dev/null 2>&1 || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mupdf-tools poppler-utils zip curl
  }
done
[ -d "$corpus" ] || scripts/real-pdf-corpus.sh "$corpus"

work=$(mktemp -d)
cleanup() { kill "${QUIRE_PID:-}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
files=$(find "$corpus" -name '*.pdf' | wc -l)
(cd "$corpus" && zip -q -r "$work/corpus.zip" .)
corpus_mb=$(du -sm "$corpus" | cut -f1)
pages=$(find "$corpus" -name '*.pdf' -print0 | xargs -0 -n1 pdfinfo 2>/dev/null | awk '/^Pages:/ {s += ($2 > 2000 ? 2000 : $2)} END {print s}')
load() { cut -d' ' -f1-3 /proc/loadavg; }
now() { date +%s.%N; }

# One end-to-end run of the binary $2 (labelled $1) on a fresh data directory; appends a
# line "label quire_s judged_s rss_kb load status verdicts" to $work/quire-runs.
quire_run() {
  local label=$1 bin=$2 port=$3
  local api=http://127.0.0.1:$port/api/v1 data=$work/data-$label
  QUIRE_DATA_DIR="$data" PORT=$port LOG_LEVEL=warn RATE_LIMIT_ENABLED=false MAX_FILE_SIZE=2GB \
    MAX_CONCURRENT_JOBS=2 "$bin" serve >"$work/serve-$label.out" 2>&1 & QUIRE_PID=$!
  for _ in $(seq 1 100); do curl -fsS "$api/health" >/dev/null 2>&1 && break; sleep 0.1; done
  local key ws job status start extracted end pending verdicts rss_kb load_quire
  key=$(cat "$data/admin-api-key")
  local auth=(-H "Authorization: Bearer $key")
  ws=$(curl -fsS "${auth[@]}" -H 'content-type: application/json' \
    -d '{"name":"bench-real","reuse_existing":true}' "$api/workspaces" | python3 -c 'import sys,json;print(json.load(sys.stdin)["id"])')
  load_quire=$(load)
  start=$(now)
  job=$(curl -fsS "${auth[@]}" -F "workspace_id=$ws" -F "file=@$work/corpus.zip" \
    "$api/documents/upload" | python3 -c 'import sys,json;print(json.load(sys.stdin)["job_id"])')
  while :; do
    status=$(curl -fsS "${auth[@]}" "$api/documents/jobs/$job" | python3 -c 'import sys,json;print(json.load(sys.stdin)["status"])')
    case "$status" in succeeded|failed|cancelled) break ;; esac
    sleep 0.1
  done
  extracted=$(now)
  # Indexed: every embed job the upload enqueued has finished.
  while :; do
    pending=$(curl -fsS "${auth[@]}" "$api/jobs?type=workspaces.embed&limit=100" | python3 -c '
import sys, json
jobs = json.load(sys.stdin)["items"]
print(1 if not jobs else sum(j["status"] in ("queued", "running") for j in jobs))')
    [ "$pending" = 0 ] && break
    sleep 0.1
  done
  end=$(now)
  rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$QUIRE_PID/status")
  verdicts=$(curl -fsS "${auth[@]}" "$api/documents/jobs/$job" | python3 -c '
import sys, json
job = json.load(sys.stdin)
r = job.get("result") or job["report"]
print(r["by_verdict"].get("accepted", 0), dict(r.get("by_reason", {})))')
  kill "$QUIRE_PID" 2>/dev/null || true; wait "$QUIRE_PID" 2>/dev/null || true
  echo "$label|$(echo "$end - $start" | bc)|$(echo "$extracted - $start" | bc)|$rss_kb|$load_quire|$status|$verdicts" >>"$work/quire-runs"
}

# QUIRE_BINS="label=path …" compares several builds in the same run (each on its own
# fresh data directory, one after another); by default the release build of this tree.
if [ -z "${QUIRE_BINS:-}" ]; then
  cargo build -q --release --bin quire
  QUIRE_BINS="quire=./target/release/quire"
fi
port=18092
for pair in $QUIRE_BINS; do
  quire_run "${pair%%=*}" "${pair#*=}" "$port"
  port=$((port + 1))
done

load_mutool=$(load)
start=$(now)
find "$corpus" -name '*.pdf' -print0 | xargs -0 -P2 -I{} mutool draw -q -F txt -o /dev/null {} 1-2000 2>/dev/null || true
mutool_s=$(echo "$(now) - $start" | bc)

load_poppler=$(load)
start=$(now)
find "$corpus" -name '*.pdf' -print0 | xargs -0 -P2 -I{} pdftotext -q -l 2000 {} /dev/null || true
poppler_s=$(echo "$(now) - $start" | bc)

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo "corpus: $files real PDFs, $corpus_mb MB, $pages pages read (at most 2,000 per PDF)"
echo "PDF text engine: ${PDF_TEXT_ENGINE:-auto}"
while IFS='|' read -r label quire_s judged_s rss_kb load_quire status verdicts; do
  echo "$label: upload job $status; accepted, reasons: $verdicts; peak RSS of the server $((rss_kb / 1024)) MB"
done <"$work/quire-runs"
echo
echo "| pipeline | wall s | vs mutool | load before (1/5/15 min) |"
echo "|---|---|---|---|"
while IFS='|' read -r label quire_s judged_s rss_kb load_quire status verdicts; do
  awk -v n="$label" -v s="$quire_s" -v m="$mutool_s" -v l="$load_quire" 'BEGIN { printf "| Quire (%s), upload -> indexed | %.1f | %.2f x | %s |\n", n, s, s/m, l }'
  awk -v n="$label" -v s="$judged_s" -v m="$mutool_s" 'BEGIN { printf "| (%s: of which upload -> judged and stored) | %.1f | %.2f x | |\n", n, s, s/m }'
done <"$work/quire-runs"
awk -v s="$mutool_s" -v l="$load_mutool" 'BEGIN { printf "| mutool draw -F txt, 2 processes | %.1f | 1 x | %s |\n", s, l }'
awk -v s="$poppler_s" -v m="$mutool_s" -v l="$load_poppler" 'BEGIN { printf "| pdftotext, 2 processes | %.1f | %.2f x | %s |\n", s, s/m, l }'
echo
echo "targets: peak RSS <= 200 MB; Quire / mutool <= 1.3"
