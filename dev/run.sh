#!/usr/bin/env bash
# `make dev`: emulators, then the dev server (API, scan worker, verifier).
# Ctrl-C stops the server; the trap stops the emulators it started.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
state=$root/.local/dev
say() { printf '==> %s\n' "$*"; }

"$root/dev/emulators.sh" stop "$state" 2>/dev/null || true
trap 'say "stopping the emulators"; "$root/dev/emulators.sh" stop "$state"' EXIT
say "starting DynamoDB Local and moto on 127.0.0.1"
"$root/dev/emulators.sh" start "$state"
# shellcheck disable=SC1091
source "$state/env"
say "emulators up ($AWS_ENDPOINT_URL_DYNAMODB, $AWS_ENDPOINT_URL_SQS); their settings: source .local/dev/env"
say "building the dev server (the first build takes a few minutes)"
cargo build -p dev-server
export DEV_API_KEY_FILE=$state/api-key
# HTTPS too, for clients that refuse http:// (the CA: $state/https-ca.pem).
export TLS_PORT=${TLS_PORT:-3443} TLS_CA_FILE=$state/https-ca.pem
./target/debug/dev-server
