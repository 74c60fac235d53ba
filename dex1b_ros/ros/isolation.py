"""A private ROS 2 domain for a command that starts its own nodes (``dex1b demo``, ``dex1b bench
latency``), so that two of them running at once on one machine never hear each other.

Each such command used to take ``ROS_DOMAIN_ID = 100 + pid % 100``: two commands whose pids agree
modulo 100 shared a domain, and one demo's planner answered the other's camera (seen: a LEAP demo
executing an Allegro grasp). :func:`private_domain` instead reserves a domain with an exclusive
``flock`` on ``<tmp>/dex1b_ros_domains/<id>.lock``, held by the returned file object until it is
closed or the process exits (the kernel releases it even after a crash, so no stale locks).
A ``ROS_DOMAIN_ID`` the user set is respected and nothing is reserved. Discovery is kept on this
host (``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``).
"""
from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path
from typing import IO

FIRST, COUNT = 100, 100
"""Domains 100 .. 199 (the tests use 10 .. 99, test/ros/conftest.py)."""


def private_domain(env: dict | None = None, lock_dir: str | Path | None = None) -> IO | None:
    """Set ``ROS_DOMAIN_ID`` (unless already set) and ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` in
    ``env`` (default ``os.environ``; also copied into ``os.environ`` so this process's own rclpy
    nodes join the domain). Returns the lock (keep a reference while the nodes run), or None when the
    user chose the domain. Raises RuntimeError when every domain 100-199 is held by another command."""
    env = os.environ if env is None else env
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    lock = None
    if "ROS_DOMAIN_ID" not in env:
        folder = Path(lock_dir or Path(tempfile.gettempdir()) / "dex1b_ros_domains")
        folder.mkdir(parents=True, exist_ok=True)
        start = os.getpid() % COUNT
        for k in range(COUNT):
            domain = FIRST + (start + k) % COUNT
            f = open(folder / f"{domain}.lock", "w")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.close()
                continue
            f.write(f"{os.getpid()}\n")
            f.flush()
            env["ROS_DOMAIN_ID"], lock = str(domain), f
            break
        else:
            raise RuntimeError(f"every ROS domain {FIRST}-{FIRST + COUNT - 1} is taken by another dex1b command on "
                               f"this machine (locks in {folder}); set ROS_DOMAIN_ID to choose one")
    if env is not os.environ:
        os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")})
    return lock


__all__ = ["private_domain"]
