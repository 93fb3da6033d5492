#!/usr/bin/env bash
# Soak (issue 20, Build 3): a mixed load against a release `quire serve` on PostgreSQL,
# loopback only, for MINUTES (30 by default): uploads (the sample bundle), question runs,
# reads, logins and bad inputs, at a fixed rate (SOAK_RPS, default 40 requests/s: about
# half of what this load sustained on the 2-core dev machine; see BENCHMARKS.md).
# Every minute it prints the server's RSS and open file descriptors; at the end, per
# route: requests, server errors (5xx), unexpected answers and p99 latency.
# Exit status 1 when any server error was seen.
#   scripts/soak.sh [minutes]
# Needs: PostgreSQL at SOAK_POSTGRES (default postgres://postgres@127.0.0.1:5432), psql,
# python3. Builds target/release/quire when it is missing (QUIRE_BIN to use another).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-30}"
case "$minutes" in
  '' | *[!0-9]*) echo "usage: scripts/soak.sh [minutes]" >&2; exit 2 ;;
esac
rps="${SOAK_RPS:-40}"
pg="${SOAK_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
bin="${QUIRE_BIN:-target/release/quire}"
if [ ! -x "$bin" ]; then
  echo "building $bin (cargo build --release)"
  cargo build --release --bin quire
fi

db="quire_soak_$(date +%s)"
psql "$pg/postgres" -qc "CREATE DATABASE $db" >/dev/null
work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(
  cd "$work"
  exec env -i PATH="$PATH" QUIRE_DATA_DIR="$work" HOST=127.0.0.1 PORT="$port" \
    DATABASE_URL="$pg/$db" SECRET_KEY="soak-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz" \
    RATE_LIMIT_ENABLED=false LOG_LEVEL=warn LOG_FORMAT=json "$OLDPWD/$bin" serve
) >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$port/api/v1/health" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$port/api/v1/health" >/dev/null
echo "quire serve pid $server_pid on 127.0.0.1:$port, database $db, $minutes min at $rps req/s"

python3 - "$port" "$server_pid" "$minutes" "$rps" "$work" <<'PY'
import json, os, random, sys, threading, time, urllib.request, urllib.error, uuid

port, pid, minutes, rps, work = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
base = f"http://127.0.0.1:{port}"
key = open(os.path.join(work, "admin-api-key")).read().strip()
bundle = open("examples/procurement/bundle.zip", "rb").read()
questions = json.load(open("examples/procurement/questions.json"))

def call(method, path, body=None, headers=None, auth=True, raw=None, timeout=60):
    h = dict(headers or {})
    if auth:
        h["Authorization"] = f"Bearer {key}"
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(base + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except Exception as e:  # connection refused, timeout: counted as a server error
        return 599, str(e).encode()

def multipart(fields, filename, content):
    boundary = uuid.uuid4().hex
    parts = []
    for k, v in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 f'Content-Type: application/zip\r\n\r\n'.encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), {"Content-Type": f"multipart/form-data; boundary={boundary}"}

# Setup: a workspace with the sample bundle, an account to log in with.
status, body = call("POST", "/api/v1/workspaces", {"name": "Soak", "reuse_existing": True})
assert status in (200, 201), (status, body)
ws = json.loads(body)["id"]
email, password = f"soak-{uuid.uuid4().hex[:8]}@example.test", "soak-password-0123"
status, body = call("POST", "/api/v1/users", {"email": email, "password": password, "role": "member"})
assert status in (200, 201), (status, body)

# Each operation: (route, weight, expected statuses, function).
def upload():
    raw, h = multipart({"workspace_id": ws}, "bundle.zip", bundle)
    return call("POST", "/api/v1/documents/upload", headers=h, raw=raw)
def run():
    return call("POST", "/api/v1/questions/execute", {"workspace_id": ws, "questions": questions["questions"][:3] if isinstance(questions, dict) else questions[:3]})
def login():
    return call("POST", "/api/v1/auth/login", {"email": email, "password": password}, auth=False)
ops = [
    ("POST /api/v1/documents/upload", 1, {200, 201, 202}, upload),
    ("POST /api/v1/questions/execute", 2, {200, 201, 202}, run),
    ("GET /api/v1/documents", 8, {200}, lambda: call("GET", "/api/v1/documents?limit=20")),
    ("GET /api/v1/workspaces", 8, {200}, lambda: call("GET", "/api/v1/workspaces")),
    ("GET /api/v1/jobs", 6, {200}, lambda: call("GET", "/api/v1/jobs?limit=20")),
    ("POST /api/v1/workspaces/{id}/chat", 3, {200}, lambda: call("POST", f"/api/v1/workspaces/{ws}/chat", {"message": "What is the payment term?"})),
    ("POST /api/v1/auth/login", 2, {200}, login),
    ("GET /api/v1/auth/me", 6, {200}, lambda: call("GET", "/api/v1/auth/me")),
    ("bad: POST /api/v1/workspaces {}", 2, {400, 422}, lambda: call("POST", "/api/v1/workspaces", {})),
    ("bad: GET /api/v1/documents?limit=-1", 2, {400, 422}, lambda: call("GET", "/api/v1/documents?limit=-1")),
    ("bad: GET /api/v1/auth/me no key", 2, {401}, lambda: call("GET", "/api/v1/auth/me", auth=False)),
]
weighted = [op for op in ops for _ in range(op[1])]
lock = threading.Lock()
stats = {name: {"n": 0, "server_errors": 0, "unexpected": 0, "lat": []} for name, *_ in ops}
deadline = time.monotonic() + minutes * 60
interval = 1.0 / rps
next_at = [time.monotonic()]
MAX_REQUESTS = int(rps * minutes * 60 * 1.1) + 100
sent = [0]

def worker():
    while True:
        with lock:
            now = time.monotonic()
            if now >= deadline or sent[0] >= MAX_REQUESTS:
                return
            wait = next_at[0] - now
            next_at[0] = max(next_at[0], now) + interval
            sent[0] += 1
        if wait > 0:
            time.sleep(wait)
        name, _, ok, fn = random.choice(weighted)
        t = time.monotonic()
        status, body = fn()
        took = time.monotonic() - t
        with lock:
            s = stats[name]
            s["n"] += 1
            s["lat"].append(took)
            if status >= 500:
                s["server_errors"] += 1
                if s["server_errors"] <= 3:
                    print(f"  server error {status} on {name}: {body[:200]!r}", flush=True)
            elif status not in ok:
                s["unexpected"] += 1
                if s["unexpected"] <= 3:
                    print(f"  unexpected {status} on {name}: {body[:200]!r}", flush=True)

def sample():
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    return rss // 1024, len(os.listdir(f"/proc/{pid}/fd"))

threads = [threading.Thread(target=worker, daemon=True) for _ in range(16)]
for t in threads:
    t.start()
start = time.monotonic()
rss_series = []
print("minute  rss_mib  open_fds  requests", flush=True)
minute = 0
while any(t.is_alive() for t in threads):
    time.sleep(1)
    if time.monotonic() - start >= (minute + 1) * 60 or not any(t.is_alive() for t in threads):
        minute += 1
        rss, fds = sample()
        rss_series.append(rss)
        with lock:
            total = sum(s["n"] for s in stats.values())
        print(f"{minute:6d}  {rss:7d}  {fds:8d}  {total:8d}", flush=True)
for t in threads:
    t.join()

print()
print(f"{'route':40s} {'requests':>8s} {'5xx':>5s} {'unexp':>5s} {'p99 ms':>8s}")
server_errors = 0
for name, s in stats.items():
    lat = sorted(s["lat"])
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else 0
    server_errors += s["server_errors"]
    print(f"{name:40s} {s['n']:8d} {s['server_errors']:5d} {s['unexpected']:5d} {p99:8.1f}")
if len(rss_series) > 2:
    warm = rss_series[1:]  # the first minute is warm-up
    lo, hi = min(warm), max(warm)
    print(f"\nRSS after warm-up: {lo}..{hi} MiB ({(hi - lo) * 100 / max(lo, 1):.1f} % spread)")
print(f"server errors: {server_errors}")
sys.exit(1 if server_errors else 0)
PY
