#!/usr/bin/env bash
# Release bootstraps of the six functions with cargo-lambda (zig from the
# ziglang PyPI package as the cross linker), profile `release`: size and
# start-up first (opt-level s, fat LTO, one codegen unit, abort on panic,
# stripped). Output: target/lambda/<function>/bootstrap.zip (holding the
# `bootstrap` executable), or the bare bootstrap with LAMBDA_FORMAT=binary.
#   dev/build.sh --arm64     what Lambda runs (template.yaml: arm64)
#   dev/build.sh --x86-64 --lambda-dir target/lambda-x86_64
#                            the same build for this machine (the bench runs it)
# hello-lambda and hello-dynamodb, the cold-start baselines of the bench
# (bare, and with the same first DynamoDB calls), are built alongside.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/.venv/bin:$PATH
arch=${1:---arm64}
case "$arch" in
--arm64) target=aarch64-unknown-linux-gnu ;;
--x86-64) target=x86_64-unknown-linux-gnu ;;
*) echo "usage: $0 [--arm64|--x86-64] [extra cargo lambda build args]" >&2; exit 2 ;;
esac
shift || true
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  echo "==> adding the Rust target $target"
  rustup target add "$target"
fi
echo "==> cargo lambda build --release $arch $*"
cargo lambda build --release "$arch" --output-format "${LAMBDA_FORMAT:-zip}" \
  --bin api --bin scan-worker --bin verifier --bin notifier --bin webhook-sender --bin organization-sync --bin hello-lambda --bin hello-dynamodb "$@"
if [ "${LAMBDA_FORMAT:-zip}" = zip ]; then
  for function in api scan-worker verifier notifier webhook-sender organization-sync hello-lambda hello-dynamodb; do
    zip=target/lambda/$function/bootstrap.zip
    [ -f "$zip" ] && printf '    %-12s %s bytes zipped\n' "$function" "$(stat -c %s "$zip")"
  done
fi
true
