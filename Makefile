# keymint: `make run` to try it, `make test` to check it.
SHELL := /bin/bash
CARGO ?= cargo
BIN := target/debug/keymint
VENV := .venv
ST := $(VENV)/bin/st
# Stamp: the Python clients of tests/oauth-clients are installed in $(VENV).
OAUTH_PY := $(VENV)/.oauth-clients
BIND ?= 127.0.0.1:8080
# The master key sealing the signing secrets in keymint.db (made on the first `make run`).
MASTER_KEY_FILE ?= keymint.master-key
NPM := clients/node_modules/.package-lock.json tests/browser/node_modules/.package-lock.json \
	tests/oauth-clients/node_modules/.package-lock.json

.PHONY: run build test setup packages unit conformance clients clients-test browser oauth-clients fuzz lint bench
## How long the soak test runs in `make test` (a plain `cargo test` runs it for 10 s).
SOAK_SECONDS ?= 120

## Build, create the `demo` account and the `console` admin key on first run (printing their
## secrets, once), and serve on SQLite.
run: build
	@if [ ! -f $(MASTER_KEY_FILE) ]; then \
		$(BIN) master-key generate --output $(MASTER_KEY_FILE) >/dev/null && \
		echo "Created the master key that seals the signing secrets: $(MASTER_KEY_FILE) (mode 0600; keep it out of backups of keymint.db)."; \
	fi
	@if $(BIN) keys list demo >/dev/null 2>&1; then \
		echo "Account 'demo' exists; its keys were shown when it was created."; \
		echo "A new primary key: $(BIN) keys rotate demo --slot primary"; \
	else \
		created=$$($(BIN) accounts create demo --json); \
		key=$$(echo "$$created" | grep -o '"secret":"[^"]*"' | head -n1 | cut -d'"' -f4); \
		id=$$(echo "$$created" | grep -o '"id":"[^"]*"' | head -n1 | cut -d'"' -f4); \
		echo "Created account 'demo'. Its primary API key (shown once, keep it):"; \
		echo; echo "  $$key   (id $$id)"; echo; \
		echo "Get a token:"; \
		echo "  curl -H 'X-Api-Key: $$key' -H 'Content-Type: application/json' -d '{\"scope\":[\"calls:read\"]}' http://$(BIND)/v1/auth/token"; \
		echo "Or by OAuth 2.0 client credentials:"; \
		echo "  curl -u '$$id:$$key' -d grant_type=client_credentials http://$(BIND)/oauth2/token"; \
	fi
	@if $(BIN) admin-keys list --json | grep -q '"name":"console","read_only":false,"revoked_at":null'; then \
		echo "Admin key 'console' exists; its secret was shown when it was created."; \
		echo "Another: $(BIN) admin-keys create NAME"; \
	else \
		admin=$$($(BIN) admin-keys create console --json | grep -o '"secret":"[^"]*"' | cut -d'"' -f4); \
		echo "Created admin key 'console' for the admin API and the console (shown once, keep it):"; \
		echo; echo "  $$admin"; echo; \
		echo "  curl -H 'Authorization: Bearer $$admin' http://$(BIND)/admin/v1/accounts"; \
	fi
	@echo "Console: http://$(BIND)/console/"
	@echo "Swagger UI: http://$(BIND)/swagger-ui/"
	@echo "OAuth 2.0 discovery: http://$(BIND)/.well-known/openid-configuration"
	@KEYMINT_MASTER_KEY_FILE=$(MASTER_KEY_FILE) $(BIN) serve --bind $(BIND)

build:
	$(CARGO) build

## Everything: unit and integration tests, the adversarial suite and the soak test, the
## integration suite again on PostgreSQL (the machine's, or KEYMINT_TEST_POSTGRES_URL's database),
## schemathesis against the served documents, the typed TypeScript clients against a running
## keymint, Swagger UI in a real browser, and the OAuth 2.0 dialect through unmodified clients
## (openid-client and jose from npm, Authlib and PyJWT from PyPI) with ES256 and RS256.
test: setup unit conformance clients-test browser oauth-clients

## What the suites need from the machine, each installed once and only when missing: Debian
## packages (nginx, chromium, python3-venv, curl; by apt-get as root, otherwise it names the
## command), the Python venv for schemathesis, Authlib and PyJWT, and the npm packages of clients/,
## tests/browser/ and tests/oauth-clients/.
setup: packages $(ST) $(OAUTH_PY) $(NPM)

packages:
	@tests/setup.sh curl nginx chromium python3-venv node

# npm ci rewrites node_modules/.package-lock.json, so it runs again only when the lock changes.
%/node_modules/.package-lock.json: %/package-lock.json
	cd $* && npm ci --no-audit --no-fund --loglevel=error

unit:
	@tests/setup.sh nginx
	@rm -f $${CARGO_TARGET_DIR:-target}/tmp/crash-report-*.txt
	KEYMINT_SOAK_SECONDS=$(SOAK_SECONDS) $(CARGO) test --all-targets
	@echo "== the integration suite again, on PostgreSQL ($${KEYMINT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test})"
	KEYMINT_TEST_STORE=postgres $(CARGO) test --test api -- --skip soak::
	@echo "== what kill -9 under load left unrecorded (tests/api/crash.rs)"
	@cat $${CARGO_TARGET_DIR:-target}/tmp/crash-report-*.txt

## Regenerate the typed TypeScript clients (clients/src/*.ts) from the documents keymint serves.
clients: build clients/node_modules/.package-lock.json
	clients/generate.sh $(BIN)

## The typed clients against fresh keymints: checked-in = served, tsc --noEmit, node --test.
clients-test: build clients/node_modules/.package-lock.json
	clients/run.sh $(BIN)

## Fuzz every target in fuzz/ for FUZZ_SECONDS each (cargo fuzz: libFuzzer + ASan, on stable via
## RUSTC_BOOTSTRAP=1); installs cargo-fuzz if missing. Crash inputs land in fuzz/artifacts/.
FUZZ_SECONDS ?= 30
fuzz:
	fuzz/run.sh $(FUZZ_SECONDS)

## The console, Swagger UI and CORS in Debian's chromium (playwright-core from npm); screenshots in
## build/browser/.
browser: build tests/browser/node_modules/.package-lock.json
	tests/browser/run.sh $(BIN)

## openid-client, jose, Authlib and PyJWT, unmodified, against fresh keymints (ES256, RS256).
oauth-clients: build tests/oauth-clients/node_modules/.package-lock.json $(OAUTH_PY)
	tests/oauth-clients/run.sh $(BIN)

conformance: build $(ST)
	ST=$(ST) tests/conformance/run.sh $(BIN)

$(ST): tests/conformance/requirements.txt | packages
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/conformance/requirements.txt
	touch $(ST)

# Into the same venv, after schemathesis (so a new schemathesis reinstalls these too).
$(OAUTH_PY): tests/oauth-clients/requirements.txt $(ST)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/oauth-clients/requirements.txt
	touch $(OAUTH_PY)

## Micro-benchmarks of the per-request steps (benches/tokens.rs, criterion), then a release
## build against the HTTP floor and oidc-provider (bench/run.py), which writes bench/results.md.
## Installs wrk (Debian) and the peer (npm) if missing.
bench: bench/peer/node_modules/.package-lock.json
	@tests/setup.sh wrk
	$(CARGO) bench --bench tokens -- --warm-up-time 1 --measurement-time 2
	$(CARGO) build --release
	python3 bench/run.py

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
