#!/usr/bin/env bash
# Runs a command with fresh emulators on free ports, stopping them after.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/emulators.XXXXXX")
trap '"$root/dev/emulators.sh" stop "$dir"; rm -rf "$dir"' EXIT
"$root/dev/emulators.sh" start "$dir"
# shellcheck disable=SC1091
source "$dir/env"
"$@"
