"""Latency benchmark of the ROS 2 planner: ``dex1b bench latency`` (a benchmark, not a test).

For each hand: starts ``grasp_planner`` (params ``config/grasp_planner.yaml``, i.e. the
node's defaults: the planner's are ``PlannerConfig``'s, printed in the header) and, per object,
``sim_camera`` as real processes over loopback; then calls the
``plan_grasps`` service with an empty cloud (= the latest camera frame) and ``execute=true``
``--plans`` times per object. Latency = service call -> response carrying the validated
trajectory, measured in this client. The first answered request per hand is not counted: it
waits for the planner to finish loading (and its warm-up plan) and is printed apart as "first s".
Prints p50 / p95 per hand, and how many plans returned a
grasp that passed the planner's own MuJoCo check. The camera publishes at 5 Hz throughout (a
live stream, which the node converts and caches while planning). Node logs, with each plan's
stage seconds: ``--log-dir`` (``grasp_planner_<hand>.log``).
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

from .demo import _start


def _stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGINT)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="dex1b bench latency", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hands", nargs="+", default=["leap", "allegro"])
    ap.add_argument("--objects", nargs="+", default=["ycb:006_mustard_bottle", "ycb:025_mug",
                                                     "ycb:003_cracker_box", "ycb:010_potted_meat_can"])
    ap.add_argument("--plans", type=int, default=5, help="plans per object (default 5: 20 per hand)")
    ap.add_argument("--log-dir", default="out/bench_latency")
    a = ap.parse_args(argv)
    from .isolation import private_domain
    env = dict(os.environ)
    domain_lock = private_domain(env)   # noqa: F841 (held until this command exits: no other dex1b command joins)
    log_dir = Path(a.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)

    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.node import Node

    from dex1b_msgs.srv import PlanGrasps

    rclpy.init()
    node = Node("dex1b_bench_latency")
    cli = node.create_client(PlanGrasps, "plan_grasps")
    ex = MultiThreadedExecutor(num_threads=2)
    ex.add_node(node)
    threading.Thread(target=ex.spin, daemon=True).start()
    from ..planner.config import load_planner_config
    pc = load_planner_config()
    print(f"# planner latency: cloud -> validated trajectory over ROS 2 loopback; {os.cpu_count()} CPU cores; "
          f"params config/grasp_planner.yaml: {pc.sampling.num_samples} samples, {pc.refinement.refine_steps} "
          f"refinement steps, <= {pc.validation.num_validate} checked, {pc.torch_threads} torch thread(s)")
    print(f"{'hand':8s} {'plans':>5s} {'p50 s':>7s} {'p95 s':>7s} {'max s':>7s} {'ok':>4s} {'sim-checked ok':>15s}  "
          f"{'first s':>7s}  mode")
    try:
        for hand in a.hands:
            planner = _start("grasp_planner", "grasp_planner.yaml", {"hand": hand}, env, log_dir,
                             f"grasp_planner_{hand}")
            lat, ok, sim_ok, info, first = [], 0, 0, "", None
            try:
                if not cli.wait_for_service(timeout_sec=60):
                    print(f"{hand:8s} planner service did not come up (see {log_dir}/grasp_planner_{hand}.log)")
                    continue
                for obj in a.objects:
                    cam = _start("sim_camera", "sim_camera.yaml", {"object": obj, "rate_hz": 5.0}, env, log_dir,
                                 f"sim_camera_{hand}_{obj.replace(':', '_')}")
                    try:
                        time.sleep(2.0)
                        done, tries = 0, 0
                        while done < a.plans and tries < 4 * a.plans:
                            tries += 1
                            req = PlanGrasps.Request()
                            req.execute = True
                            t0 = time.perf_counter()
                            fut = cli.call_async(req)
                            while not fut.done():
                                time.sleep(0.002)
                            dt = time.perf_counter() - t0
                            res = fut.result()
                            if "no cloud has been received" in res.message:
                                time.sleep(0.5)
                                continue
                            if first is None:   # waited for the planner to load (+ warm-up): reported apart
                                first = dt
                                continue
                            lat.append(dt)
                            done += 1
                            ok += res.success
                            if res.success and res.grasps.grasps:
                                sim_ok += bool(res.grasps.grasps[0].sim_success)
                                info = res.grasps.planner_info
                            time.sleep(0.25)
                    finally:
                        _stop(cam)
            finally:
                _stop(planner)
            if lat:
                l = np.asarray(lat)
                mode = "generator" if "generator" in info else ("optimizer-only" if info else "?")
                print(f"{hand:8s} {len(l):5d} {np.percentile(l, 50):7.2f} {np.percentile(l, 95):7.2f} {l.max():7.2f} "
                      f"{ok:4d} {sim_ok:15d}  {first if first is not None else float('nan'):7.2f}  {mode}", flush=True)
    finally:
        ex.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
