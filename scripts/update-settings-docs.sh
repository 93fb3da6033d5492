#!/usr/bin/env bash
# Regenerates the settings table in README.md and .env.example from the code.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --bin quire
# Honour CARGO_TARGET_DIR (relative to the repository, as cargo takes it).
bin="${CARGO_TARGET_DIR:-target}/debug/quire"
env -i PATH="$PATH" "$bin" settings --format env-example > .env.example
table=$(env -i PATH="$PATH" "$bin" settings --format markdown)
python3 - "$table" <<'PY'
import sys, re
table = sys.argv[1]
readme = open("README.md").read()
start, end = "<!-- settings-table:start -->", "<!-- settings-table:end -->"
new = re.sub(re.escape(start) + ".*?" + re.escape(end), start + "\n" + table + "\n" + end, readme, flags=re.S)
open("README.md", "w").write(new)
PY
