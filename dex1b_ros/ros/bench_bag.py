"""``dex1b bench bag``: throughput of ``dex1b plan --bag`` in clouds per second (a benchmark, not a test).

    dex1b bench bag                                   # 20 clouds, LEAP, node defaults, MCAP
    dex1b bench bag --clouds 20 --hand allegro --storage sqlite3

Writes a bag of ``--clouds`` simulated camera clouds (``sim_camera``'s recipe and defaults: the
object upright on a table at (0.5, 0) in ``world``, 8,000 points with normals, 1 mm noise, camera
0.6 m away 40 deg above the table; the azimuth steps through 360 deg so every cloud differs),
then plans every cloud with :func:`~dex1b_ros.ros.plan_bag.plan_bag` and the node's settings
(``config/grasp_planner.yaml``; ``--set`` overrides) and reports clouds/s for planning alone and
end to end (reading, converting, planning, writing the output bag, CSV and JSON; the planner's
load time is not included). ``--mesh`` also simulates each first grasp on the true object.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def make_bag(path: Path, n: int, object_id: str, storage: str, topic: str = "/object_cloud", seed: int = 0):
    """A bag of ``n`` sim-camera clouds of ``object_id`` on a table (frame ``world``), 10 Hz stamps.
    Returns the true mesh placed in ``world`` (trimesh)."""
    import trimesh
    from builtin_interfaces.msg import Time

    from ..geometry.pointcloud import render_partial_cloud
    from ..objects import load_object
    from . import conversions as cv
    from .bags import BagWriter
    from .sim_world import camera_pose_world, place_on_table, table_mesh

    mesh = load_object(object_id).mesh
    T = place_on_table(mesh, (0.5, 0.0), 0.0, 0.0)
    scene = trimesh.util.concatenate([mesh, table_mesh(T, 0.4, 0.0, (0.5, 0.0))])
    center = T[:3, :3] @ mesh.bounds.mean(axis=0) + T[:3, 3]
    t0 = 1_700_000_000 * 10 ** 9
    with BagWriter(path, storage, overwrite=True) as w:
        for i in range(n):
            cam = np.linalg.inv(T) @ camera_pose_world(center, 0.6, 40.0, 200.0 + 360.0 * i / n)
            pc = render_partial_cloud(scene, 8000, seed=seed + i, camera_pose=cam, noise_std=0.001, width=320,
                                      height=240, resample="random")
            pts = pc.points.astype(np.float64) @ T[:3, :3].T + T[:3, 3]
            nrm = pc.normals.astype(np.float64) @ T[:3, :3].T
            ns = t0 + i * 100_000_000
            msg = cv.xyz_to_pointcloud2(pts, nrm, frame_id="world", stamp=Time(sec=ns // 10 ** 9, nanosec=ns % 10 ** 9))
            w.write(topic, msg, ns)
    placed = mesh.copy()
    placed.apply_transform(T)
    return placed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="dex1b bench bag", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clouds", type=int, default=20, help="clouds in the bag")
    ap.add_argument("--hand", default="leap", help="leap | allegro")
    ap.add_argument("--object", default="ycb:006_mustard_bottle", help="object id (ycb:<name>, proc:<kind>:<seed>)")
    ap.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a planner setting, repeatable")
    ap.add_argument("--mesh", action="store_true", help="also simulate each first grasp on the true object")
    ap.add_argument("--out", default="out/bench_bag", help="folder for the input bag and the outputs")
    a = ap.parse_args(argv)
    if a.clouds < 1:
        ap.error("--clouds must be >= 1")

    import os

    import torch

    from ..planner.config import load_planner_config
    from ..planner.pipeline import GraspPipeline
    from .bags import BagError
    from .plan_bag import _parse_set, plan_bag

    cfg = load_planner_config(None, {**_parse_set(a.overrides, ap), "hand": a.hand})
    out = Path(a.out)
    t = time.perf_counter()
    mesh = make_bag(out / "input", a.clouds, a.object, a.storage)
    print(f"# bench bag: {a.clouds} sim-camera clouds of {a.object} ({a.storage}, {time.perf_counter() - t:.1f} s "
          f"to make); {a.hand}, node settings (config/grasp_planner.yaml) + {a.overrides or 'no overrides'}; "
          f"{os.cpu_count()} CPU(s), torch threads {cfg.torch_threads}, MuJoCo check threads "
          f"{cfg.validation.validate_threads}")
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    t = time.perf_counter()
    pipe = GraspPipeline(config=cfg)
    pipe.warmup()
    load_s = time.perf_counter() - t
    try:
        run = plan_bag(out / "input", "/object_cloud", out / "plans_out", pipe, mesh=mesh if a.mesh else None)
    except BagError as e:
        print(f"dex1b bench bag: error: {e}", file=sys.stderr)
        return 2
    plan = np.array([r["timings"].get("total", np.nan) for r in run.records])
    print(f"{'hand':8s} {'clouds':>6s} {'ok':>4s} {'plan s p50':>10s} {'clouds/s plan':>14s} "
          f"{'clouds/s end-to-end':>20s} {'load+warmup s':>14s}")
    print(f"{a.hand:8s} {run.n:6d} {run.n_ok:4d} {np.nanmedian(plan):10.2f} {run.n / run.plan_s:14.2f} "
          f"{run.n / run.wall_s:20.2f} {load_s:14.1f}")
    if a.mesh:
        firsts = [r["grasps"][0] for r in run.records if r["grasps"]]
        print(f"# first grasp on the true object: held {sum(g['true_held'] for g in firsts)}/{run.n}, "
              f"tabletop lift {sum(g['true_lift'] for g in firsts)}/{run.n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
