#!/usr/bin/env bash
# Hostile input: schemathesis generates requests from the dev server's own
# OpenAPI document (valid and invalid, every operation) and checks that no
# response is a 5xx and every response matches the document (status code,
# content type, headers, body schema). Bounded: SCHEMATHESIS_EXAMPLES per
# operation (default 25), SCHEMATHESIS_MAX_TIME seconds (default 180).
# Fails too when an operation refuses most of the data its document calls
# valid (dev/valid_rate.py reads the run's report): the document must state
# every constraint the server enforces. Positive cases send a fresh
# Idempotency-Key each (dev/schemathesis_hooks.py).
# Extra arguments go to schemathesis (e.g. --report ndjson). A request may
# take up to 30 s, API Gateway's own limit (29 s): on a loaded two-core
# machine an on-demand verification behind a running scan can pass 10 s.
# Needs the emulators' environment (run under dev/with-emulators.sh).
# Left out: revoking API keys (schemathesis reuses ids from responses and
# would revoke its own key; tests cover revocation) and the four
# CloudFormation templates (YAML with !GetAtt tags, which schemathesis
# cannot parse once a request succeeds; tests parse them with cfn-lint).
# One worker: with two threads, CPython 3.11 before 3.11.8 can fail inside
# ast.parse ("AST constructor recursion depth mismatch", CPython gh-106905)
# when hypothesis describes a filter, which schemathesis reports as an error
# of whichever operation it was generating.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
server=${DEV_SERVER:-target/debug/dev-server}
[ -x "$server" ] || cargo build -p dev-server
. dev/lib.sh
port=$(free_port)
key=$(.venv/bin/python -c 'import secrets; a="0123456789ABCDEFGHJKMNPQRSTVWXYZ"; print("oak_default_0" + "".join(secrets.choice(a) for _ in range(25)) + "_" + secrets.token_hex(32))')
log=$(mktemp "${TMPDIR:-/tmp}/schemathesis-server.XXXXXX")
PORT=$port TABLE_NAME="st-$port" QUEUE_PREFIX="st$port" DEV_API_KEY=$key RUST_LOG=warn \
  "$server" >"$log" 2>&1 &
pid=$!
report=$(mktemp -d "${TMPDIR:-/tmp}/schemathesis-report.XXXXXX")
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$log" "$report"' EXIT
wait_for_server $pid "$port" "$log"
# DIALECT=<product>: the product's own document instead, served at
# /v1/dialects/<product>/openapi.json, against its paths; that document is
# the vendor's, so the refused-valid-data gate (ours) does not apply.
base="http://127.0.0.1:$port"
api() { curl -s -X "$1" "$base$2" -H "X-API-Key: $key" -H 'Content-Type: application/json' ${3:+-d "$3"}; }
# Something to find: an account for the path parameters to hit.
api POST /v1/accounts '{"account_id": "123456789012", "name": "schemathesis"}' >/dev/null
api PUT /v1/accounts/123456789012/data-sources/aws:iam '{}' >/dev/null
document="$base/v1/openapi.json"
excluded=(--exclude-operation-id revoke_api_key --exclude-operation-id generic_template
  --exclude-operation-id account_template --exclude-operation-id management_role_template
  --exclude-operation-id stackset_template)
if [ -n "${DIALECT:-}" ]; then
  document="$base/v1/dialects/$DIALECT/openapi.json"
  excluded=()
  # YAML with !GetAtt tags, as above.
  [ "$DIALECT" != cloudability ] || excluded=(--exclude-operation-id getCloudFormationTemplate)
  # The dialect's ids of that account, for its path parameters (the hooks).
  export DIALECT_PROJECT_ID=$(api GET /api/v1/signin | .venv/bin/python -c \
    'import json, sys; print(json.load(sys.stdin).get("data", {}).get("project_id", ""))')
  export DIALECT_ACCOUNT_ID=$(api GET /v1/accounts/123456789012 | .venv/bin/python -c \
    'import json, sys; a = json.load(sys.stdin); print(*a["products"].get("'"$DIALECT"'", {"id": a["account_id"]}).values())')
fi
echo "==> schemathesis against $document"
SCHEMATHESIS_TELEMETRY=false PYTHONPATH="$root/dev" SCHEMATHESIS_HOOKS=schemathesis_hooks timeout $(( ${SCHEMATHESIS_MAX_TIME:-180} + 60 )) \
  .venv/bin/schemathesis --config-file dev/schemathesis.toml run "$document" --url "$base" \
  --header "X-API-Key: $key" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-25}" \
  --max-time "${SCHEMATHESIS_MAX_TIME:-180}" \
  --seed 1 \
  --workers 1 \
  --request-timeout 30 \
  --suppress-health-check all \
  --generation-with-security-parameters false \
  "${excluded[@]}" \
  --report ndjson --report-dir "$report" \
  --no-color "$@"
[ -n "${DIALECT:-}" ] || .venv/bin/python dev/valid_rate.py "$report"/*.ndjson
