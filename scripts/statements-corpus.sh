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
set -euo pipefail
cd "$(dirname "$0")/.."
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
