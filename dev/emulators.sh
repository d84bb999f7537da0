#!/usr/bin/env bash
# Starts or stops DynamoDB Local and moto on free 127.0.0.1 ports.
#   dev/emulators.sh start DIR   start both; write DIR/env (exports) and PIDs
#   dev/emulators.sh stop DIR    stop what DIR's PIDs name
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
action=${1:?start or stop}
dir=${2:?state directory}

free_port() {
  "$root/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_for() { # name url pid log
  for _ in $(seq 1 200); do
    if ! kill -0 "$3" 2>/dev/null; then
      echo "$1 exited during start-up; its log ($4):" >&2
      cat "$4" >&2
      return 1
    fi
    if curl -s -o /dev/null "$2"; then return 0; fi
    sleep 0.1
  done
  echo "$1 did not answer at $2 within 20 s; its log ($4):" >&2
  cat "$4" >&2
  return 1
}

case "$action" in
start)
  mkdir -p "$dir"
  ddb_port=$(free_port)
  moto_port=$(free_port)
  # shellcheck disable=SC1091
  source "$root/dev/dynamodb-local.env"
  lib=$root/.local/ddb/$DDB_LOCAL_LIB
  java -Djava.library.path="$lib/DynamoDBLocal_lib" \
    -cp "$root/.local/ddb/classes:$lib/DynamoDBLocal.jar:$lib/DynamoDBLocal_lib/*" \
    LoopbackDynamoDbLocal -inMemory -disableTelemetry -port "$ddb_port" >"$dir/dynamodb.log" 2>&1 &
  echo $! >"$dir/dynamodb.pid"
  : >"$dir/trail.jsonl"
  TRUST_EMULATOR_TRAIL="$dir/trail.jsonl" MOTO_IAM_LOAD_MANAGED_POLICIES=true "$root/.venv/bin/python" "$root/dev/emulators/moto_trust.py" -H 127.0.0.1 -p "$moto_port" >"$dir/moto.log" 2>&1 &
  echo $! >"$dir/moto.pid"
  wait_for "DynamoDB Local" "http://127.0.0.1:$ddb_port" "$(cat "$dir/dynamodb.pid")" "$dir/dynamodb.log"
  wait_for "moto" "http://127.0.0.1:$moto_port/moto-api/" "$(cat "$dir/moto.pid")" "$dir/moto.log"
  cat >"$dir/env" <<ENV
export AWS_ACCESS_KEY_ID=local
export AWS_SECRET_ACCESS_KEY=local
export AWS_REGION=us-east-1
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$ddb_port
export AWS_ENDPOINT_URL_DYNAMODB_STREAMS=http://127.0.0.1:$ddb_port
export AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$moto_port
export AWS_ENDPOINT_URL_STS=http://127.0.0.1:$moto_port
export AWS_ENDPOINT_URL_IAM=http://127.0.0.1:$moto_port
export AWS_ENDPOINT_URL_EVENTBRIDGE=http://127.0.0.1:$moto_port
export AWS_ENDPOINT_URL_ORGANIZATIONS=http://127.0.0.1:$moto_port
export AWS_ENDPOINT_URL_CLOUDFORMATION=http://127.0.0.1:$moto_port
export TRUST_EMULATOR_TRAIL=$dir/trail.jsonl
ENV
  ;;
stop)
  for name in dynamodb moto; do
    if [ -f "$dir/$name.pid" ]; then
      kill "$(cat "$dir/$name.pid")" 2>/dev/null || true
      rm -f "$dir/$name.pid"
    fi
  done
  ;;
*)
  echo "usage: $0 start|stop DIR" >&2
  exit 2
  ;;
esac
