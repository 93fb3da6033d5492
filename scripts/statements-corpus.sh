#!/usr/bin/env bash
# Renders the statements corpus's PDFs: HTML written with its truth by
# scripts/statements_corpus.py, converted by LibreOffice (Debian
# `libreoffice-writer-nogui`, headless), kept with the truth in
# crates/statements/tests/corpus/pdf/. The tests read the PDFs through
# `pdftotext -layout` (poppler-utils); LibreOffice is needed only to remake them.
#
#   scripts/statements-corpus.sh            # the corpus
#   scripts/statements-corpus.sh --filing N OUT_DIR
#                                           # a long filing (N note pages) for the benchmark
#   scripts/statements-corpus.sh --scanned  # the image-only page (from pdf/quarterly.pdf)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "--scanned" ]]; then
  # Page 1 of quarterly.pdf as a scan: drawn in grey at 200 dpi by Poppler's pdftoppm,
  # the image wrapped into a PDF with no text layer by MuPDF's `mutool convert`. The
  # truth is quarterly.json's income statement.
  command -v pdftoppm >/dev/null && command -v mutool >/dev/null \
    || { echo "needs pdftoppm (poppler-utils) and mutool (mupdf-tools)" >&2; exit 1; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  out=crates/statements/tests/corpus/scanned
  mkdir -p "$out"
  pdftoppm -r 200 -gray -png -f 1 -l 1 crates/statements/tests/corpus/pdf/quarterly.pdf "$work/page"
  mutool convert -O compress -o "$out/quarterly_income_scan.pdf" "$work"/page-1.png
  python3 - "$out/quarterly_income_scan.json" <<'PY'
import json, sys
truth = json.load(open("crates/statements/tests/corpus/pdf/quarterly.json"))
scan = {
    "description": "page 1 of quarterly.pdf as an image-only scan (pdftoppm -r 200 -gray, mutool convert): no text layer",
    "pages": truth["pages"][:1],
    "statements": [s for s in truth["statements"] if s["pages"] == [1]],
}
json.dump(scan, open(sys.argv[1], "w"), indent=1)
PY
  if [ -n "$(pdftotext "$out/quarterly_income_scan.pdf" - | tr -d '[:space:]')" ]; then
    echo "the scan has a text layer" >&2; exit 1
  fi
  ls -l "$out"
  exit 0
fi
command -v soffice >/dev/null || { echo "soffice not found: apt-get install libreoffice-writer-nogui" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# LibreOffice keeps a profile; a private one leaves the user's alone.
profile="-env:UserInstallation=file://$work/profile"
if [[ "${1:-}" == "--filing" ]]; then
  out=${3:?output directory}
  mkdir -p "$out"
  python3 scripts/statements_corpus.py "$work" "$out" --filing-pages "$2"
  soffice "$profile" --headless --convert-to pdf:writer_web_pdf_Export --outdir "$out" "$work/filing.html" >/dev/null
  echo "$out/filing.pdf"
  exit 0
fi
out=crates/statements/tests/corpus/pdf
mkdir -p "$out"
python3 scripts/statements_corpus.py "$work" "$out"
for html in "$work"/*.html; do
  soffice "$profile" --headless --convert-to pdf:writer_web_pdf_Export --outdir "$out" "$html" >/dev/null
done
ls -l "$out"
