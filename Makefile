# The two quick-start commands (see README.md), and the pieces they are made of. `make help`
# lists them. Each installs the tools it needs first (.ci/ensure-tools), skipping what is there.

# wasm-opt comes from end2end's npm packages.
export PATH := $(CURDIR)/end2end/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

E2E_DB := target/e2e/chat.sqlite3

# cargo-leptos, with the page's wasm built for size on the nightly the flags were measured
# with, or on stable when that nightly is not there (README, "The page's build").
LEPTOS := .ci/leptos

.PHONY: help run test tools lint cargo-test script-tests build fuzz e2e bench

## List the targets
help:
	@awk '/^## / { sub(/^## /, ""); doc = doc (doc ? " " : "") $$0; next } \
	  /^[a-z0-9-]+:/ && doc { sub(/:.*/, ""); printf "  make %-13s %s\n", $$0, doc } { doc = "" }' $(MAKEFILE_LIST)

## Build in release mode and serve the chat at http://127.0.0.1:3000
run:
	.ci/ensure-tools app
	$(LEPTOS) serve --release --precompress

## Every test, each stage timed (.ci/test-all): tools, lint, cargo-test, script-tests, build,
## fuzz, e2e
test:
	.ci/test-all

## Install what building and testing need (.ci/ensure-tools test)
tools:
	.ci/ensure-tools test

## cargo fmt --check, and clippy for the server and the wasm
lint:
	cargo fmt --all -- --check
	cargo clippy -p app -p server --all-targets -- -D warnings
	cargo clippy -p frontend -p app --target wasm32-unknown-unknown -- -D warnings

## cargo test: unit tests, property tests, the store contract suite, the integration tests
## (server/tests/api/) and the benchmark as a smoke test, with a throwaway PostgreSQL
cargo-test:
	.ci/pg-sandbox run cargo test -p app -p server

## The build scripts' own tests: the wasm's toolchain choice and the size budget
script-tests:
	.ci/test-build-scripts

## The release build (server, wasm, precompressed assets), then the wasm + JS size budget
build:
	$(LEPTOS) build --release --precompress
	node end2end/size-budget.mjs target/site/pkg 150000 target/wasm-build

## The API fuzzed from outside against its OpenAPI document (needs `build`)
fuzz:
	.ci/api-fuzz

## Playwright in Chromium against the release server (builds first; quick when built), with a
## throwaway PostgreSQL for the tests of several servers
e2e:
	rm -rf target/e2e && mkdir -p target/e2e
	# Tests share one server and reuse names from many browsers: names are not held there
	# (changes.spec.ts starts a server of its own that holds them).
	CHAT_DB=$(E2E_DB) CHAT_NAME_HOLD_DAYS=0 .ci/pg-sandbox run $(LEPTOS) end-to-end --release --precompress
	node end2end/summary.js target/e2e/results.json

## The benchmark suite in full (a few minutes; `make test` runs it as a smoke test)
bench:
	.ci/ensure-tools bench
	$(LEPTOS) build --release --precompress
	cargo bench -p server --bench suite
	.ci/live-page-bench
