#!/usr/bin/env bash
# The README as a test: a dev server as `make dev` runs it (on a free
# port, its own table and queues), then every shell block of README.md in
# order (dev/readme_test.py), as a reader would paste them. Needs the
# emulators' environment (run under dev/with-emulators.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
server=${DEV_SERVER:-target/debug/dev-server}
[ -x "$server" ] || cargo build -p dev-server
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
# The README reads make dev's key and emulator settings from .local/dev:
# keep a running make dev's own, and put them back after.
state=.local/dev
mkdir -p "$state"
saved=$(mktemp -d "${TMPDIR:-/tmp}/readme-state.XXXXXX")
cp -a "$state/." "$saved/" 2>/dev/null || true
log=$(mktemp "${TMPDIR:-/tmp}/readme-server.XXXXXX")
env | grep -E '^(AWS_|TRUST_EMULATOR_)' | sed 's/^/export /' > "$state/env"
PORT=$port TABLE_NAME="readme-$port" QUEUE_PREFIX="readme$port" DEV_API_KEY_FILE="$state/api-key" \
  VERIFIER_INTERVAL_SECONDS=300 RUST_LOG=warn "$server" >"$log" 2>&1 &
pid=$!
cleanup() {
  kill $pid 2>/dev/null || true
  wait $pid 2>/dev/null || true
  rm -rf "${state:?}"/* && cp -a "$saved/." "$state/" 2>/dev/null || true
  rm -rf "$saved" "$log" accounts.csv export.csv role.yaml stackset.yaml
}
trap cleanup EXIT
for _ in $(seq 1 600); do
  if curl -s -o /dev/null "http://127.0.0.1:$port/v1/openapi.json" && [ -s "$state/api-key" ]; then break; fi
  if ! kill -0 $pid 2>/dev/null; then cat "$log" >&2; exit 1; fi
  sleep 0.1
done
echo "==> the README and the runbook, top to bottom, against a dev server on port $port"
if ! PORT=$port TABLE_NAME="readme-$port" QUEUE_PREFIX="readme$port" .venv/bin/python dev/readme_test.py README.md docs/runbook.md; then
  echo "--- the dev server's log" >&2
  tail -50 "$log" >&2
  exit 1
fi
