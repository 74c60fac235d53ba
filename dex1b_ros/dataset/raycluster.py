"""A throw-away multi-node Ray cluster on loopback, for tests and the benchmark (no ROS).

Every node is a ``ray start`` on its own loopback address (127.0.0.2, 127.0.0.3, ...: Ray
rewrites 127.0.0.1, so that one is avoided), sharing one short ``RAY_TMPDIR`` made for this
cluster, with token authentication on (``RAY_AUTH_MODE=token`` and a fresh random
``RAY_AUTH_TOKEN``, passed to every process, drivers included: use :attr:`env`).

Stopping never calls ``ray stop`` (that would kill every Ray on the machine): it kills only the
processes whose command line names this cluster's temp folder, by pid.

    with LoopbackRayCluster(nodes=2, cpus_per_node=1) as c:
        subprocess.run([...], env={**os.environ, **c.env})      # RAY_ADDRESS set in c.env
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class LoopbackRayCluster:
    def __init__(self, nodes: int = 2, cpus_per_node: int = 1, base_ip: str = "127.0.0.", first: int = 2,
                 object_store_mb: int = 200):
        self.ips = [f"{base_ip}{first + i}" for i in range(nodes)]
        self.cpus = cpus_per_node
        self.object_store = object_store_mb * 1024 * 1024
        self.tmp = Path(tempfile.mkdtemp(prefix="dxr", dir="/tmp"))   # short: Ray's socket paths must fit 107 chars
        self.port = _free_port(self.ips[0])
        self.env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16), "RAY_TMPDIR": str(self.tmp),
                    "RAY_ADDRESS": f"{self.ips[0]}:{self.port}", "RAY_USAGE_STATS_ENABLED": "0"}
        self.ray = str(Path(sys.executable).with_name("ray"))

    def _start(self, args: list[str]) -> None:
        env = {**os.environ, **self.env}
        env.pop("RAY_ADDRESS")
        r = subprocess.run([self.ray, "start", *args, f"--num-cpus={self.cpus}", "--num-gpus=0",
                            f"--object-store-memory={self.object_store}", "--disable-usage-stats"],
                           env=env, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"ray start {' '.join(args)} failed ({r.returncode}):\n"
                               f"{r.stdout[-2000:]}\n{r.stderr[-2000:]}")

    def start(self) -> "LoopbackRayCluster":
        head = self.ips[0]
        self._start(["--head", f"--node-ip-address={head}", f"--port={self.port}", f"--temp-dir={self.tmp}",
                     "--include-dashboard=false", f"--dashboard-agent-listen-port={_free_port(head)}"])
        for ip in self.ips[1:]:
            self._start([f"--address={head}:{self.port}", f"--node-ip-address={ip}",
                         f"--dashboard-agent-listen-port={_free_port(ip)}"])
        return self

    def pids(self) -> list[int]:
        import psutil
        key = str(self.tmp)
        out = []
        for p in psutil.process_iter(["pid", "cmdline"]):
            try:
                if any(key in a for a in (p.info["cmdline"] or [])):
                    out.append(p.info["pid"])
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return out

    def stop(self) -> None:
        import psutil
        procs = []
        for pid in self.pids():
            try:
                p = psutil.Process(pid)
                p.terminate()
                procs.append(p)
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(procs, timeout=5)
        for p in alive:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=5)
        time.sleep(0.2)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
