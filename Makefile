# Two commands for a fresh machine: `make up` runs the whole local stack, `make test` runs
# the whole suite. Everything else here serves those two.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test install lint typecheck unit integration bench clean frontend frontend-check chromium e2e screenshots

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Extra launcher options, e.g. `make up UP_ARGS='--port 9000'`.
UP_ARGS ?=

up: install frontend
	$(BIN)/kalshi-insights up $(UP_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

test: install lint typecheck frontend-check
	$(BIN)/pytest
	$(MAKE) e2e

# ---- the dashboard (frontend/) ------------------------------------------------------------
# `npm ci` runs when the lock file changes, the build when a source does (stamps), so a
# second `make up` starts at once. The build fails when the first screen's JavaScript is
# over budget (frontend/scripts/check-bundle.mjs).
NPM ?= npm
FRONTEND := frontend
FRONTEND_DEPS := $(FRONTEND)/node_modules/.ki-installed
FRONTEND_BUILT := $(FRONTEND)/dist/.ki-built
FRONTEND_SOURCES := $(shell find $(FRONTEND)/src $(FRONTEND)/scripts -type f 2>/dev/null) \
	$(wildcard $(FRONTEND)/index.html $(FRONTEND)/vite.config.ts $(FRONTEND)/tsconfig*.json)
CHROMIUM ?= /usr/bin/chromium

$(FRONTEND_DEPS): $(FRONTEND)/package.json $(FRONTEND)/package-lock.json
	cd $(FRONTEND) && $(NPM) ci --no-audit --no-fund
	touch $@

$(FRONTEND_BUILT): $(FRONTEND_DEPS) $(FRONTEND_SOURCES)
	cd $(FRONTEND) && $(NPM) run build
	touch $@

frontend: $(FRONTEND_BUILT)

# Lint, type check and the component tests (Vitest).
frontend-check: $(FRONTEND_DEPS)
	cd $(FRONTEND) && $(NPM) run lint && $(NPM) run typecheck && $(NPM) test

# The browser tests use Debian's chromium, never a downloaded one.
chromium:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get install -y chromium || { apt-get update && apt-get install -y chromium; }; \
	else \
		echo "The browser tests need Debian's chromium at $(CHROMIUM). Run: sudo apt-get install -y chromium"; \
		exit 1; \
	fi

# Browser tests against `kalshi-insights up` (tests/e2e/); they write nothing in the clone.
e2e: install frontend chromium
	cd $(FRONTEND) && CHROMIUM=$(CHROMIUM) $(NPM) run e2e

# The same browser tests, saving docs/screenshots/*.png (commit them with the change).
screenshots: install frontend chromium
	cd $(FRONTEND) && CHROMIUM=$(CHROMIUM) $(NPM) run screenshots

bench: install
	$(BIN)/python -m tests.bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
