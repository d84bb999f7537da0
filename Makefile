# Two commands set up everything: `make dev` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO_TEST := $(shell cargo nextest --version >/dev/null 2>&1 && echo "cargo nextest run --workspace --no-fail-fast" || echo "cargo test --workspace --no-fail-fast")

.PHONY: help setup dev test bench lint fmt clean

help:
	@echo "make dev    run the API on http://127.0.0.1:$${PORT:-3000} with the scan worker, verifier and emulators"
	@echo "make test   every check: fmt, clippy, cfn-lint, unit and integration tests"
	@echo "make bench  benchmarks, printed as ratios measured side by side"

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

test: lint
	@echo "==> unit and integration tests (emulators on free ports)"
	@dev/with-emulators.sh $(CARGO_TEST)

bench: setup
	@echo "==> building the benchmarks (profile perf)"
	cargo build --profile perf -p bench
	@dev/with-emulators.sh ./target/perf/bench

fmt:
	cargo fmt --all

clean:
	rm -rf .local .venv target
