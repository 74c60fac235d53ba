#!/usr/bin/env bash
# The main job, from a fresh machine: set up the environment (idempotent), then run the
# project's main command. Until the ROS 2 node demo lands this is the hand-model report:
# summary of LEAP and Allegro and a rendered picture in out/hands.png.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
cd "$ROOT"
exec "${DEX1B_VENV:-$ROOT/.venv}/bin/dex1b" hands --render out/hands.png "$@"
