#!/usr/bin/env bash
# Create/refresh the project's virtual environment: every dependency pinned, dex1b_msgs
# built into it, dex1b_ros installed editable. Idempotent: each step is skipped when the
# stamp of its inputs is unchanged, so a second run takes a second or two.
#
#   bash scripts/setup_env.sh            # venv in ./.venv (override with DEX1B_VENV)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
V="${DEX1B_VENV:-$ROOT/.venv}"
PY="${DEX1B_PYTHON:-python3}"
log() { printf '[setup] %s\n' "$*" >&2; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# 1. System libraries (Debian): open3d needs libusb; MuJoCo offscreen rendering uses EGL
#    (Mesa) or OSMesa; chromium is the headless browser of the `dex1b view` test (driven by
#    playwright, no browser download). Install only what is missing.
need=()
for pkg in libusb-1.0-0 libegl1 libegl-mesa0 libgl1-mesa-dri libosmesa6 chromium; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    log "apt-get install ${need[*]}"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    log "missing Debian packages: ${need[*]} (install them with sudo apt-get install ...)"; exit 1
  fi
fi

# 2. Virtual environment with pinned packages.
[ -x "$V/bin/python" ] || { log "creating venv $V"; "$PY" -m venv "$V"; }
stamp_pip="$(hash_of "$ROOT/requirements.txt" "$ROOT/constraints.txt")"
if [ "$(cat "$V/.dex1b_pip" 2>/dev/null)" != "$stamp_pip" ]; then
  log "pip install (pinned; torch==2.13.0 CPU build from local disk)"
  "$V/bin/pip" install -q --disable-pip-version-check -r "$ROOT/requirements.txt" -c "$ROOT/constraints.txt" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  # The ROS wheels were built in manylinux: their exported CMake targets point at
  # /opt/python/cp311-cp311 include dirs. Rewrite them to this interpreter's.
  "$V/bin/python" "$ROOT/scripts/fix_ros_cmake_paths.py" "$V"
  rm -f "$V/.dex1b_msgs"
  echo "$stamp_pip" > "$V/.dex1b_pip"
fi

# 3. Build dex1b_msgs (rosidl) straight into the venv: `import dex1b_msgs.msg` then works
#    with no sourcing. The same package builds unchanged with colcon on a ROS 2 install.
stamp_msgs="$(cd "$ROOT/dex1b_msgs" && find . -type f | sort | xargs cat | sha256sum | cut -c1-16)"
if [ "$(cat "$V/.dex1b_msgs" 2>/dev/null)" != "$stamp_msgs" ]; then
  log "building dex1b_msgs into $V"
  B="$V/.build/dex1b_msgs"; rm -rf "$B"; mkdir -p "$B"
  export AMENT_PREFIX_PATH="$V" CMAKE_PREFIX_PATH="$V"
  ( cd "$B" && cmake "$ROOT/dex1b_msgs" -DCMAKE_INSTALL_PREFIX="$V" -DPython3_EXECUTABLE="$V/bin/python" \
      -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release >"$B/cmake.log" 2>&1 \
    && make -j"$(nproc)" >"$B/make.log" 2>&1 && make install >"$B/install.log" 2>&1 ) \
    || { log "dex1b_msgs build failed; logs in $B"; tail -30 "$B"/*.log >&2; exit 1; }
  "$V/bin/python" -c "import dex1b_msgs.msg, dex1b_msgs.srv, dex1b_msgs.action" \
    || { log "dex1b_msgs built but does not import"; exit 1; }
  echo "$stamp_msgs" > "$V/.dex1b_msgs"
fi

# 4. The package itself, editable.
stamp_pkg="$(hash_of "$ROOT/setup.py" "$ROOT/setup.cfg" "$ROOT/package.xml")"
if [ "$(cat "$V/.dex1b_pkg" 2>/dev/null)" != "$stamp_pkg" ]; then
  log "pip install -e . (dex1b_ros)"
  "$V/bin/pip" install -q --disable-pip-version-check --no-deps --no-build-isolation -e "$ROOT"
  echo "$stamp_pkg" > "$V/.dex1b_pkg"
fi
log "environment ready: $V"
