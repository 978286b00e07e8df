# CPay. `make run` sets up and runs the product; `make test` sets up and runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp-setup
export PIP_DISABLE_PIP_VERSION_CHECK := 1

NODE_STAMP := node_modules/.stamp-npm

.PHONY: setup run test check lint typecheck contracts buf-lint bench clean

# Idempotent: reinstalls only when the project files changed.
$(STAMP): pyproject.toml hatch_build.py $(wildcard proto/cpay/v1/*.proto)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

# buf (npm @bufbuild/buf, pinned in package-lock.json) lints proto/.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

buf-lint: $(NODE_STAMP)
	node_modules/.bin/buf lint

# Seeds the demo wallet on first run, then opens the dashboard on it.
run: setup
	$(BIN)/cpay demo --ui

test: setup
	bash scripts/ensure-postgres.sh
	bash scripts/test.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

contracts: setup
	$(BIN)/lint-imports

check: lint typecheck contracts buf-lint test

bench: setup
	bash scripts/ensure-postgres.sh
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules build dist .mypy_cache .ruff_cache .pytest_cache
