# Shell helpers shared by the scripts that start a dev server of their own
# (dev/readme.sh, dev/schemathesis.sh). Source it; needs .venv.

# A free TCP port on 127.0.0.1.
free_port() {
  .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Wait up to 60 s until the dev server `pid` answers on `port` (and the
# optional file `ready` is non-empty); on its exit, print `log` and fail.
wait_for_server() {
  local pid=$1 port=$2 log=$3 ready=${4:-}
  for _ in $(seq 1 600); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/v1/openapi.json" && { [ -z "$ready" ] || [ -s "$ready" ]; }; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then cat "$log" >&2; return 1; fi
    sleep 0.1
  done
  echo "the dev server did not answer on port $port within 60 s" >&2
  cat "$log" >&2
  return 1
}
