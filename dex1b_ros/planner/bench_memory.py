"""Memory benchmark: ``dex1b bench memory`` (a benchmark, not a test; no ROS).

Does the planner's memory creep over days of planning? The node's planner (``GraspPipeline``
with the node's settings from ``config/grasp_planner.yaml``) plans ``--plans`` times on clouds
of six object kinds standing on a table (a few of them with ``--huge-points`` table points:
the hostile clouds a driver can send); RSS (``/proc/self/statm``) is printed after warm-up,
every 25 plans and at the end, with the end / warm-up ratio (aim: <= 1.2).
"""
from __future__ import annotations

import argparse

import numpy as np

KINDS = ("box", "cylinder", "mug", "bowl", "banana", "capsule")


def table_scene(i: int, table_points: int = 1500) -> tuple[np.ndarray, np.ndarray]:
    """Raw cloud (N, 3) m + normals (N, 3), planning frame z up: 1500 surface points of
    procedural object ``KINDS[i % 6]`` (seed i, 8 cm) standing on a table at z = 0 around
    (0.4, 0, 0), plus ``table_points`` points of a 30 x 30 cm table patch
    (:func:`dex1b_ros.eval.clouds.table_scene`)."""
    from ..eval.clouds import table_scene as scene

    return scene(KINDS[i % len(KINDS)], object_seed=i, seed=i, table_points=table_points)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="dex1b bench memory", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hand", default="leap")
    ap.add_argument("--plans", type=int, default=200, help="plans after the 3 warm-up plans")
    ap.add_argument("--huge", type=int, default=3, help="how many of them get a huge cloud")
    ap.add_argument("--huge-points", type=int, default=2_000_000, help="table points of a huge cloud")
    a = ap.parse_args(argv)
    from tqdm import tqdm

    from ..memory import rss_mb
    from .config import load_planner_config, planner_config
    from .pipeline import GraspPipeline

    pipe = GraspPipeline(config=planner_config({"hand": a.hand}, load_planner_config()))
    print(f"# {a.hand}, node settings; RSS after loading {rss_mb():.0f} MB")
    for i in range(3):
        pipe.plan(*table_scene(i))
    warm = peak = rss_mb()
    print(f"after warm-up (3 plans): {warm:.0f} MB")
    huge = set(np.linspace(3, 3 + a.plans, a.huge + 2).astype(int)[1:-1].tolist()) if a.huge else set()
    for i in tqdm(range(3, 3 + a.plans), desc="plans", unit="plan", leave=False):
        pipe.plan(*table_scene(i, a.huge_points if i in huge else 1500))
        peak = max(peak, rss_mb())
        if (i - 2) % 25 == 0:
            tqdm.write(f"after {i - 2} plans: {rss_mb():.0f} MB")
    end = rss_mb()
    print(f"end: {end:.0f} MB after {a.plans} plans ({len(huge)} with {a.huge_points:,} table points); "
          f"peak {peak:.0f} MB; end / warm-up {end / warm:.2f} (aim <= 1.2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
