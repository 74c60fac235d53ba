#!/usr/bin/env bash
# The test suite, from a fresh machine: set up the environment (idempotent), then run every
# test, slow ones included. Extra arguments go to pytest (e.g. -m "not slow" locally).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
cd "$ROOT"
exec "${DEX1B_VENV:-$ROOT/.venv}/bin/python" -m pytest "$@"
