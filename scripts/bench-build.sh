#!/usr/bin/env bash
# Build times of two revisions side by side, in one run on this machine: a clean release
# build of the `quire` binary, then the rebuild after touching one file of src/questions/.
# Usage: scripts/bench-build.sh BEFORE_REV AFTER_REV [file to touch, default src/questions/mod.rs]
# BENCH_BUILD_KEEP=DIR keeps the two checkouts (with their release builds) in DIR, e.g. to
# run the HTTP benchmark on the "after" build without building it again.
# Each revision gets its own checkout and target directory under a temporary folder; the
# registry cache (~/.cargo) is shared, so downloads are not counted. Revisions are built
# alternately (before, after, before's rebuild, after's rebuild) so that a load change on
# a shared machine does not land on one revision only. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=${1:?before revision}
AFTER=${2:?after revision}
TOUCH=${3:-src/questions/mod.rs}
if [ -n "${BENCH_BUILD_KEEP:-}" ]; then
  work=$BENCH_BUILD_KEEP; mkdir -p "$work"
else
  work=$(mktemp -d)
  cleanup() {
    git worktree remove --force "$work/before" 2>/dev/null || true
    git worktree remove --force "$work/after" 2>/dev/null || true
    rm -rf "$work"
  }
  trap cleanup EXIT
fi
git worktree add -q --detach "$work/before" "$BEFORE"
git worktree add -q --detach "$work/after" "$AFTER"

seconds() { # dir, description -> prints elapsed seconds of a release build of the binary
  local dir=$1 start end
  start=$(date +%s.%N)
  (cd "$dir" && CARGO_TARGET_DIR="$dir/target" cargo build --release --bin quire -q 2>&1 | tail -n 3 >&2)
  end=$(date +%s.%N)
  python3 -c "print($end - $start)"
}
touch_file() { # dir
  [ -f "$1/$TOUCH" ] || { echo "$TOUCH is missing in $1" >&2; exit 1; }
  touch "$1/$TOUCH"
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores" >&2
clean_before=$(seconds "$work/before")
clean_after=$(seconds "$work/after")
touch_file "$work/before"; rebuild_before=$(seconds "$work/before")
touch_file "$work/after"; rebuild_after=$(seconds "$work/after")
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

echo "| build | $(git rev-parse --short "$BEFORE") (before) s | $(git rev-parse --short "$AFTER") (after) s |"
echo "|---|---|---|"
printf '| clean release build of `quire` | %.0f | %.0f |\n' "$clean_before" "$clean_after"
printf '| rebuild after touching `%s` | %.1f | %.1f |\n' "$TOUCH" "$rebuild_before" "$rebuild_after"
