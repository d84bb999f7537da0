# Two commands set up everything: `make dev` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO_TEST := $(shell cargo nextest --version >/dev/null 2>&1 && echo "cargo nextest run --workspace --no-fail-fast" || echo "cargo test --workspace --no-fail-fast")

.PHONY: help setup dev test bench build lint fmt clean

help:
	@echo "make dev    run the API on http://127.0.0.1:$${PORT:-3000} with the scan worker, verifier, stream follower, webhook sender, organization sync and emulators"
	@echo "make test   every check: fmt, clippy, cfn-lint, unit, integration and browser tests, the README run top to bottom, schemathesis"
	@echo "make bench  benchmarks, printed as ratios measured side by side"
	@echo "make build  Lambda bootstraps for arm64 (target/lambda/<function>/bootstrap.zip), as sam build makes them"

setup:
	@dev/setup.sh

dev: setup
	@dev/run.sh

lint: setup
	@echo "==> cargo fmt --check"
	cargo fmt --all -- --check
	@echo "==> cargo clippy -D warnings"
	cargo clippy --workspace --all-targets -- -D warnings
	@echo "==> cfn-lint template.yaml"
	.venv/bin/cfn-lint template.yaml
	@echo "==> sam validate --lint"
	SAM_CLI_TELEMETRY=0 AWS_REGION=us-east-1 .venv/bin/sam validate --lint --template template.yaml

test: lint
	@echo "==> unit and integration tests (emulators on free ports)"
	@dev/with-emulators.sh $(CARGO_TEST)
	@echo "==> the README, top to bottom, as a reader pastes it (dev/readme.sh)"
	@dev/with-emulators.sh dev/readme.sh
	@echo "==> hostile input: schemathesis against the dev server's OpenAPI document"
	@dev/with-emulators.sh dev/schemathesis.sh
	@echo "==> hostile input: schemathesis against each dialect's own document (the vendor's)"
	@for dialect in panther cloudcraft cloudability risken carbonblack; do DIALECT=$$dialect SCHEMATHESIS_MAX_TIME=60 dev/with-emulators.sh dev/schemathesis.sh || exit 1; done

bench: setup
	@echo "==> building the Lambda artifacts (arm64 for sizes, x86_64 to time cold starts here)"
	@dev/build.sh --arm64
	@LAMBDA_FORMAT=binary dev/build.sh --x86-64 --lambda-dir target/lambda-x86_64
	@echo "==> building the benchmarks (profile perf)"
	cargo build --profile perf -p bench -p dev-server
	@dev/with-emulators.sh ./target/perf/bench
	@echo "== DynamoDB capacity per request path (the budget test's measurements)"
	@dev/with-emulators.sh cargo nextest run -p integration-tests -E 'test(capacity_budget)' --no-capture 2>&1 | grep -E ' calls, | floor '

# cargo-lambda and zig come from PyPI (dev/requirements.txt) into .venv.
build: setup
	@dev/build.sh --arm64

fmt:
	cargo fmt --all

clean:
	rm -rf .local .venv target
