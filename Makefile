# The two entry points a new user needs: `make demo` and `make test`.

CARGO ?= cargo

# The servers' env files, which the tests read. They follow ENACT_RUN_DIR, the directory the
# scripts in scripts/ keep their servers in, so tests find servers started on other ports.
RUN_DIR := $(or $(ENACT_RUN_DIR),$(CURDIR)/.run)
export ENACT_PG_ENV ?= $(RUN_DIR)/pg/env
export ENACT_BAO_ENV ?= $(RUN_DIR)/bao/env
export ENACT_REDIS_ENV ?= $(RUN_DIR)/redis/env
export ENACT_LDAP_ENV ?= $(RUN_DIR)/ldap/env

.PHONY: demo demo-stop test lint build services stop bench fuzz-smoke

## Build enact, start a private PostgreSQL, seed a fleet of service roles and bring it to the
## declared state with every action verified.
demo:
	bash demo/run.sh

## Stop the PostgreSQL and OpenBao servers that `make demo` leaves running.
demo-stop:
	ENACT_RUN_DIR=$(CURDIR)/.run/demo bash scripts/pg.sh stop
	ENACT_RUN_DIR=$(CURDIR)/.run/demo bash scripts/bao.sh stop

## Start the servers the tests need, then run the lints, every test and a short fuzz run.
test: services lint
	$(CARGO) test --workspace --locked --no-fail-fast
	$(MAKE) fuzz-smoke

## Each cargo-fuzz target for 2 seconds; longer runs: scripts/fuzz.sh SECONDS. cargo-fuzz needs
## the nightly toolchain; without one the run is skipped with a message.
fuzz-smoke:
	@if ! $(CARGO) +nightly --version >/dev/null 2>&1; then \
		echo "fuzz-smoke: skipped, no nightly toolchain (rustup toolchain install nightly)"; \
	else \
		$(CARGO) +nightly fuzz --version >/dev/null 2>&1 || $(CARGO) install --locked cargo-fuzz@0.13.2; \
		bash scripts/fuzz.sh 2; \
	fi

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

build:
	$(CARGO) build --workspace --locked

services:
	bash scripts/pg.sh start
	bash scripts/bao.sh start
	bash scripts/redis.sh start
	bash scripts/ldap.sh start
	bash scripts/chromium.sh install

stop:
	bash scripts/pg.sh stop
	bash scripts/bao.sh stop
	bash scripts/redis.sh stop
	bash scripts/ldap.sh stop

## Benchmarks are not tests; see docs/benchmarks.md.
bench:
	bash bench/run.sh
