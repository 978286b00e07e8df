#!/usr/bin/env bash
# The PostgreSQL server binaries the tests and benchmarks start themselves.
# Installs Debian's postgresql (and pgbench) when they are missing; no server is left running.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v pgbench >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends postgresql postgresql-contrib >/dev/null
# Debian's package starts a cluster; the project starts its own throwaway ones instead.
$SUDO service postgresql stop >/dev/null 2>&1 || true
