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
. dev/lib.sh
port=$(free_port)
tls_port=$(free_port)
# The README reads make dev's key and emulator settings from .local/dev:
# keep a running make dev's own, and put them back after.
state=.local/dev
mkdir -p "$state"
saved=$(mktemp -d "${TMPDIR:-/tmp}/readme-state.XXXXXX")
cp -a "$state/." "$saved/" 2>/dev/null || true
log=$(mktemp "${TMPDIR:-/tmp}/readme-server.XXXXXX")
env | grep -E '^(AWS_|TRUST_EMULATOR_)' | sed 's/^/export /' > "$state/env"
PORT=$port TLS_PORT=$tls_port TLS_CA_FILE="$state/https-ca.pem" \
  TABLE_NAME="readme-$port" QUEUE_PREFIX="readme$port" DEV_API_KEY_FILE="$state/api-key" \
  VERIFIER_INTERVAL_SECONDS=300 RUST_LOG=warn "$server" >"$log" 2>&1 &
pid=$!
cleanup() {
  kill $pid 2>/dev/null || true
  wait $pid 2>/dev/null || true
  rm -rf "${state:?}"/* && cp -a "$saved/." "$state/" 2>/dev/null || true
  rm -rf "$saved" "$log" accounts.csv export.csv role.yaml stackset.yaml cloudcraft-response.json cloudability-role.yaml cbc-import.csv
}
trap cleanup EXIT
wait_for_server $pid "$port" "$log" "$state/api-key"
echo "==> the README and the runbook, top to bottom, against a dev server on port $port"
if ! PORT=$port TLS_PORT=$tls_port TABLE_NAME="readme-$port" QUEUE_PREFIX="readme$port" .venv/bin/python dev/readme_test.py README.md docs/runbook.md; then
  echo "--- the dev server's log" >&2
  tail -50 "$log" >&2
  exit 1
fi
