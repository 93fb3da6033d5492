#!/usr/bin/env bash
# Runs the Dockerfile's runtime stage outside a container, because no container daemon
# runs on the project's machines. Everything it does is read from the Dockerfile itself,
# so the two cannot drift apart:
#   1. builds the binary with the builder stage's own `cargo build` line (its --release
#      dropped unless RUNTIME_STAGE_PROFILE=release: CI builds the dev profile, and the
#      flags that matter, --locked and --bin, stay);
#   2. checks that the runtime stage's apt packages are installed here (the engines the
#      binary will look for on PATH);
#   3. lays out the stage's paths under a temporary root: the binary where COPY puts it,
#      the data directory owned by the stage's USER with the stage's mode;
#   4. runs, as the stage's numeric USER (setpriv, when this script runs as root), with only
#      the stage's ENV (absolute paths moved under the temporary root, PORT moved to a free
#      port) and in its WORKDIR: `quire migrate`, then ENTRYPOINT + CMD (`quire serve`),
#      runs the HEALTHCHECK command until it passes, checks the readiness and metrics
#      routes and the process's user, sends the STOPSIGNAL and expects a clean exit; then
#      `quire worker` (the compose and Kubernetes worker command) the same way.
# Usage: deploy/runtime-stage.sh            (BIN=path/to/quire skips the build)
set -euo pipefail
cd "$(dirname "$0")/.."
dockerfile=${DOCKERFILE:-Dockerfile}

log() { printf '== runtime-stage: %s\n' "$*"; }
fail() { printf 'runtime-stage: FAILED: %s\n' "$*" >&2; exit 1; }

# The runtime stage: from `FROM ... AS runtime` to the next FROM, continuation lines joined.
stage=$(awk '
  /^FROM .* AS runtime$/ { on = 1; next }
  on && /^FROM / { exit }
  on { print }
' "$dockerfile" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' | grep -v '^\s*#' | grep -v '^\s*$')
[ -n "$stage" ] || fail "no 'FROM ... AS runtime' stage in $dockerfile"
instruction() { printf '%s\n' "$stage" | sed -n "s/^$1 //p"; }

user=$(instruction USER)
uid=${user%%:*}
gid=${user##*:}
[[ "$uid" =~ ^[0-9]+$ && "$gid" =~ ^[0-9]+$ ]] || fail "USER must be numeric uid:gid, is '$user'"
[ "$uid" != 0 ] || fail "USER is root"
workdir=$(instruction WORKDIR)
expose=$(instruction EXPOSE)
stopsignal=$(instruction STOPSIGNAL)
entrypoint=$(instruction ENTRYPOINT)
cmd=$(instruction CMD)
healthcheck=$(instruction HEALTHCHECK | sed -n 's/.* CMD //p')
copy_to=$(instruction 'COPY --from=builder' | awk '{print $2}')
packages=$(printf '%s\n' "$stage" | grep -o 'apt-get install -y --no-install-recommends [^&]*' \
  | sed 's/apt-get install -y --no-install-recommends //')
for v in workdir expose stopsignal entrypoint cmd healthcheck copy_to packages; do
  [ -n "${!v}" ] || fail "the runtime stage has no ${v^^}"
done

# 1. The binary, built as the builder stage builds it.
if [ -z "${BIN:-}" ]; then
  build=$(sed -n 's/^RUN \(cargo build .*\)$/\1/p' "$dockerfile")
  [ -n "$build" ] || fail "no 'RUN cargo build' line in the builder stage"
  profile=${RUNTIME_STAGE_PROFILE:-dev}
  if [ "$profile" != release ]; then build=${build/ --release/}; fi
  log "building: $build"
  $build
  BIN=target/$([ "$profile" = release ] && echo release || echo debug)/quire
fi
[ -x "$BIN" ] || fail "no binary at $BIN"

# 2. The runtime stage's packages.
for p in $packages; do
  dpkg -s "$p" >/dev/null 2>&1 || fail "package $p (runtime stage) is not installed here; apt-get install $p"
done
log "packages present: $packages"

# 3. The stage's paths under a temporary root.
root=$(mktemp -d)
chmod 0755 "$root"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$root"
}
trap cleanup EXIT
install -D -m 0755 "$BIN" "$root$copy_to"
install -d -o "$uid" -g "$gid" -m 0750 "$root/var/lib/quire"
install -d -m 1777 "$root/tmp"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# The stage's ENV, with absolute paths moved under the root and PORT moved to a free port.
envs=(PATH="$(dirname "$root$copy_to"):/usr/local/bin:/usr/bin:/bin" TMPDIR="$root/tmp" HOME="$root/var/lib/quire")
while read -r pair; do
  key=${pair%%=*}
  value=${pair#*=}
  case "$key" in PORT) [ "$value" = "$expose" ] || fail "ENV PORT=$value but EXPOSE $expose"; value=$port ;; esac
  case "$value" in /*) value="$root$value" ;; esac
  envs+=("$key=$value")
done < <(instruction ENV | tr ' ' '\n' | grep '=')
log "environment: ${envs[*]}"

as_user=()
if [ "$(id -u)" = 0 ]; then
  as_user=(setpriv --reuid="$uid" --regid="$gid" --clear-groups --)
else
  log "not root: running as $(id -un) instead of uid $uid"
fi
json_words() { python3 -c 'import json,sys; print("\n".join(json.loads(sys.argv[1])))' "$1"; }
mapfile -t entry < <(json_words "$entrypoint")
entry[0]="$root${entry[0]}"
mapfile -t default_cmd < <(json_words "$cmd")
run() { (cd "$root$workdir" && exec env -i "${envs[@]}" "${as_user[@]}" "$@"); }

# 4. migrate, serve with its healthcheck, worker.
log "quire migrate"
run "${entry[@]}" migrate

start() { # name, args...: starts the entrypoint with args in the background; sets pid
  local name=$1; shift
  (cd "$root$workdir" && exec env -i "${envs[@]}" "${as_user[@]}" "${entry[@]}" "$@") \
    > "$root/$name.out" 2>&1 &
  pid=$!
  pids+=("$pid")
}
stop() { # name: sends the STOPSIGNAL and expects exit 0 within SHUTDOWN_TIMEOUT + 5 s
  local name=$1
  kill -s "${stopsignal#SIG}" "$pid"
  for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.25
  done
  kill -0 "$pid" 2>/dev/null && { cat "$root/$name.out"; fail "$name did not stop on $stopsignal"; }
  local status=0
  wait "$pid" || status=$?
  [ "$status" = 0 ] || { cat "$root/$name.out"; fail "$name exited $status after $stopsignal"; }
  log "$name stopped cleanly on $stopsignal"
}
check_user() { # name
  local running
  running=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
  if [ "$(id -u)" = 0 ]; then
    [ "$running" = "$uid" ] || fail "$1 runs as uid $running, not $uid"
  fi
  [ "$running" != 0 ] || fail "$1 runs as root"
  log "$1 runs as uid $running"
}

log "ENTRYPOINT + CMD: ${entry[*]} ${default_cmd[*]}"
start serve "${default_cmd[@]}"
healthy=
for _ in $(seq 1 120); do
  kill -0 "$pid" 2>/dev/null || { cat "$root/serve.out"; fail "serve exited before it was healthy"; }
  if run sh -c "$healthcheck" >/dev/null 2>&1; then healthy=1; break; fi
  sleep 0.5
done
[ -n "$healthy" ] || { cat "$root/serve.out"; fail "HEALTHCHECK never passed: $healthcheck"; }
log "HEALTHCHECK passes: $healthcheck"
check_user serve
curl -fsS "http://127.0.0.1:$port/api/v1/health/detailed" >/dev/null \
  || fail "readiness route /api/v1/health/detailed did not answer 200"
curl -fsS "http://127.0.0.1:$port/api/v1/metrics" | grep -q '^api_requests_total' \
  || fail "/api/v1/metrics does not export api_requests_total"
log "readiness and metrics routes answer"
[ -f "$root/var/lib/quire/quire.db" ] || fail "no database in the data directory"
owner=$(stat -c %u "$root/var/lib/quire/quire.db")
if [ "$(id -u)" = 0 ]; then [ "$owner" = "$uid" ] || fail "quire.db is owned by $owner"; fi
stop serve

log "worker"
start worker worker
for _ in $(seq 1 60); do
  grep -q 'worker is running' "$root/worker.out" && break
  kill -0 "$pid" 2>/dev/null || { cat "$root/worker.out"; fail "worker exited"; }
  sleep 0.5
done
grep -q 'worker is running' "$root/worker.out" || { cat "$root/worker.out"; fail "worker did not start"; }
check_user worker
stop worker
log "passed"
