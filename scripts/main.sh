#!/usr/bin/env bash
# The main job, from a fresh machine: set up the environment (idempotent), print the hand
# models' report (out/hands.png), then run the end-to-end ROS 2 demo: sim camera ->
# grasp_planner -> sim hand as real processes over loopback (out/demo.png).
# Extra arguments go to `dex1b demo` (e.g. --hand allegro).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
cd "$ROOT"
DEX1B="${DEX1B_VENV:-$ROOT/.venv}/bin/dex1b"
"$DEX1B" hands --render out/hands.png
exec "$DEX1B" demo "$@"
