#!/usr/bin/env bash
# Fuzz targets on the stable toolchain (issue 20, Build 2): replays the seed corpora and
# past crashes (tests/fuzz/), then mutates the seeds for SECONDS per target, two targets
# at a time. Fails on any panic; a crashing input is saved under target/fuzz-crashes/.
#   scripts/fuzz.sh [seconds-per-target]   (default 60; six targets: about 3 minutes)
# QUIRE_FUZZ_TARGETS=zip,text chooses targets; QUIRE_FUZZ_SEED=N repeats a run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
case "$seconds" in
  '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [seconds-per-target]" >&2; exit 2 ;;
esac
QUIRE_FUZZ_SECONDS="$seconds" cargo test --test fuzz
