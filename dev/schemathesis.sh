#!/usr/bin/env bash
# Hostile input: schemathesis generates requests from the dev server's own
# OpenAPI document (valid and invalid, every operation) and checks that no
# response is a 5xx and every response matches the document (status code,
# content type, headers, body schema). Bounded: SCHEMATHESIS_EXAMPLES per
# operation (default 25), SCHEMATHESIS_MAX_TIME seconds (default 180).
# Needs the emulators' environment (run under dev/with-emulators.sh).
# Left out: revoking API keys (schemathesis reuses ids from responses and
# would revoke its own key; tests cover revocation) and the CloudFormation
# role templates (YAML with !GetAtt tags, which schemathesis cannot parse;
# tests parse them with cfn-lint instead).
# One worker: with two threads, CPython 3.11 before 3.11.8 can fail inside
# ast.parse ("AST constructor recursion depth mismatch", CPython gh-106905)
# when hypothesis describes a filter, which schemathesis reports as an error
# of whichever operation it was generating.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
server=${DEV_SERVER:-target/debug/dev-server}
[ -x "$server" ] || cargo build -p dev-server
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
key=$(.venv/bin/python -c 'import secrets; a="0123456789ABCDEFGHJKMNPQRSTVWXYZ"; print("oak_default_0" + "".join(secrets.choice(a) for _ in range(25)) + "_" + secrets.token_hex(32))')
log=$(mktemp "${TMPDIR:-/tmp}/schemathesis-server.XXXXXX")
PORT=$port TABLE_NAME="st-$port" QUEUE_PREFIX="st$port" DEV_API_KEY=$key RUST_LOG=warn \
  "$server" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 300); do
  if curl -s -o /dev/null "http://127.0.0.1:$port/v1/openapi.json"; then break; fi
  if ! kill -0 $pid 2>/dev/null; then cat "$log" >&2; exit 1; fi
  sleep 0.1
done
# Something to find: an account for the path parameters to hit.
curl -s -o /dev/null -X POST "http://127.0.0.1:$port/v1/accounts" -H "X-API-Key: $key" \
  -H 'Content-Type: application/json' -d '{"account_id": "123456789012", "name": "schemathesis"}'
curl -s -o /dev/null -X PUT "http://127.0.0.1:$port/v1/accounts/123456789012/data-sources/aws:iam" \
  -H "X-API-Key: $key" -H 'Content-Type: application/json' -d '{}'
echo "==> schemathesis against http://127.0.0.1:$port/v1/openapi.json"
SCHEMATHESIS_TELEMETRY=false timeout $(( ${SCHEMATHESIS_MAX_TIME:-180} + 60 )) \
  .venv/bin/schemathesis run "http://127.0.0.1:$port/v1/openapi.json" \
  --header "X-API-Key: $key" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-25}" \
  --max-time "${SCHEMATHESIS_MAX_TIME:-180}" \
  --seed 1 \
  --workers 1 \
  --request-timeout 10 \
  --suppress-health-check all \
  --generation-with-security-parameters false \
  --exclude-operation-id revoke_api_key \
  --exclude-operation-id generic_template \
  --exclude-operation-id account_template \
  --no-color
