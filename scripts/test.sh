#!/usr/bin/env bash
# Runs the whole suite with the project's venv. Services the tests need are started
# by the tests themselves (fixtures), so this works on a clean machine.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest -n 2 --dist loadgroup "$@"
