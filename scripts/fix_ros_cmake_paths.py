"""Rewrite manylinux include paths baked into the pip ROS 2 wheels' CMake exports.

The ``ros-jazzy-*`` wheels were built in a manylinux container, so about a dozen exported
``*__rosidl_generator_py`` CMake targets name ``/opt/python/cp311-cp311/include/python3.11``
and that interpreter's numpy include dir. CMake then refuses them ("includes non-existent
path"). This script replaces them with the running interpreter's include dirs.

Usage: python scripts/fix_ros_cmake_paths.py <venv>
"""
from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy


def main(venv: str) -> int:
    py_inc = sysconfig.get_paths()["include"]
    np_inc = numpy.get_include()
    pat_np = re.compile(r"/opt/python/cp3\d+-cp3\d+/[^;\"]*?numpy/_?core/include")
    pat_py = re.compile(r"/opt/python/cp3\d+-cp3\d+/include/python3\.\d+")
    changed = 0
    for f in Path(venv, "share").glob("*/cmake/*.cmake"):
        text = f.read_text(errors="replace")
        if "/opt/python/" not in text:
            continue
        new = pat_py.sub(py_inc, pat_np.sub(np_inc, text))
        if new != text:
            f.write_text(new)
            changed += 1
    print(f"[setup] rewrote python/numpy include paths in {changed} CMake files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
