# CPay. `make run` sets up and runs the product; `make test` sets up and runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp-setup
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup run test check lint typecheck contracts bench clean

# Idempotent: reinstalls only when the project files changed.
$(STAMP): pyproject.toml hatch_build.py $(wildcard proto/cpay/v1/*.proto)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/cpay demo

test: setup
	bash scripts/test.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

contracts: setup
	$(BIN)/lint-imports

check: lint typecheck contracts test

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache .pytest_cache
