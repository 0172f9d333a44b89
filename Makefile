# The two quick-start commands (see README.md), and the pieces they are made of.
# Each installs the tools it needs first (.ci/ensure-tools), skipping what is there.

# wasm-opt comes from end2end's npm packages.
export PATH := $(CURDIR)/end2end/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

E2E_DB := target/e2e/chat.sqlite3

# cargo-leptos with the page's wasm built by the nightly toolchain, for size (README, "The page's
# build"): the standard library rebuilt for size, panics that abort without a message, no panic
# locations, no Debug formatting (erase_components repeated: a target's rustflags replace
# .cargo/config.toml's). The server is built on stable. Plain `cargo leptos` builds the same page
# on one toolchain, only larger.
LEPTOS := env RUSTUP_TOOLCHAIN=nightly LEPTOS_BIN_CARGO_COMMAND="cargo +stable" \
  CARGO_UNSTABLE_BUILD_STD=std,panic_abort CARGO_UNSTABLE_BUILD_STD_FEATURES=optimize_for_size \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none --cfg erase_components" \
  cargo leptos

.PHONY: run test tools unit build fuzz e2e bench lint

## Build in release mode and serve the chat at http://127.0.0.1:3000
run:
	.ci/ensure-tools app
	$(LEPTOS) serve --release --precompress

## Every test: lint, unit and integration, the release build, then Playwright in Chromium;
## each stage timed (.ci/test-all)
test:
	.ci/test-all

tools:
	.ci/ensure-tools test

# With a throwaway PostgreSQL server (.ci/pg-sandbox) for the PostgreSQL store's tests.
unit:
	.ci/pg-sandbox run cargo test -p app -p server

build:
	$(LEPTOS) build --release --precompress
	node end2end/size-budget.mjs target/site/pkg 150000

## The API fuzzed from outside against its OpenAPI document (needs `build`)
fuzz:
	.ci/api-fuzz

# Builds first if `build` has not (cargo-leptos always does; it is quick when nothing changed).
# The tests of several servers share a throwaway PostgreSQL (.ci/pg-sandbox).
e2e:
	rm -rf target/e2e && mkdir -p target/e2e
	CHAT_DB=$(E2E_DB) .ci/pg-sandbox run $(LEPTOS) end-to-end --release --precompress
	node end2end/summary.js target/e2e/results.json

## The benchmark suite, in full (a few minutes; not part of `make test`, which runs it as a smoke test)
bench:
	.ci/ensure-tools bench
	$(LEPTOS) build --release --precompress
	cargo bench -p server --bench suite
	.ci/live-page-bench

lint:
	cargo fmt --all -- --check
	cargo clippy -p app -p server --all-targets -- -D warnings
	cargo clippy -p frontend -p app --target wasm32-unknown-unknown -- -D warnings
