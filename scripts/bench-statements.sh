#!/usr/bin/env bash
# Statements benchmark (issue 14): a generated 150-page 10-K-style filing (the five
# statements and note pages, rendered from HTML by LibreOffice), read by
# `pdftotext -layout` alone, and by Quire's pipeline = the same `pdftotext -layout`
# (Quire runs it, confined, as its page-text engine) + detection and parsing
# (`quire-statements`, timed in process by its parse_bench example). Prints both times,
# the ratio (target ≤ 1.5) and the peak RSS of the parsing step.
#
#   scripts/bench-statements.sh [RUNS]      (needs soffice, pdftotext, GNU time)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
scripts/statements-corpus.sh --filing 142 "$work" >/dev/null 2>&1
pdf="$work/filing.pdf"
pages=$(pdfinfo "$pdf" | awk '/^Pages:/ {print $2}')
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/bench-statements} nice -n 19 cargo build --release -q -j 2 -p quire-statements --example parse_bench
bench_bin=${CARGO_TARGET_DIR:-target/bench-statements}/release/examples/parse_bench
best=999999
for _ in $(seq "$runs"); do
  start=$(date +%s.%N)
  pdftotext -layout -enc UTF-8 "$pdf" "$work/filing.txt"
  end=$(date +%s.%N)
  best=$(python3 -c "print(min($best, $end - $start))")
done
parse=$("$bench_bin" "$work/filing.txt" "$runs")
rss=$( { /usr/bin/time -v "$bench_bin" "$work/filing.txt" 1 >/dev/null; } 2>&1 | awk -F': ' '/Maximum resident/ {print $2}')
python3 - "$pages" "$best" "$parse" "$rss" <<'PY'
import json, sys
pages, pdftotext, parse, rss = int(sys.argv[1]), float(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
quire = pdftotext + parse["best_seconds"]
print(f"pages: {pages}")
print(f"pdftotext -layout alone: {pdftotext*1000:.0f} ms ({pages/pdftotext:.0f} pages/s)")
print(f"detection + parsing: {parse['best_seconds']*1000:.1f} ms ({parse['pages_per_second']} pages/s), "
      f"{parse['statements']} statements, {parse['failed_checks']} failed checks")
print(f"Quire (extraction + detection + parsing): {quire*1000:.0f} ms ({pages/quire:.0f} pages/s), "
      f"{quire/pdftotext:.2f} x pdftotext (target <= 1.5)")
print(f"peak RSS of detection + parsing: {rss} kB")
PY
