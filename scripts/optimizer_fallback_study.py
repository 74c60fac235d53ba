"""Validation-only study: on the plans where none of the node's checked candidates passed its MuJoCo
check, does optimizer-only synthesis (no generator: ``refinement.synth_steps`` steps from random
hands) find a grasp that passes and lifts the TRUE object? (docs/RESULTS.md, "Where the node's
first grasp fails on validation objects"; no ROS.)

    .venv/bin/dex1b bench plan-quality --hands leap --objects valbroad+valbroad2 --threads 1 \\
        --scores out/val_leap.json
    .venv/bin/python scripts/optimizer_fallback_study.py leap out/val_leap.json

The views are those of ``dex1b bench plan-quality`` (same seeds); only validation objects may be
given (this is a design study: never run it on the held-out set).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("hand")
    ap.add_argument("scores", help="--scores JSON of a plan-quality run on --objects valbroad+valbroad2")
    ap.add_argument("--objects", default="valbroad+valbroad2", help="the object spec of that run")
    a = ap.parse_args(argv)
    import torch

    from dex1b_ros.eval.objects import _ids_from_spec, spread
    from dex1b_ros.objects import load_object
    from dex1b_ros.objects.splits import load_split
    from dex1b_ros.planner.bench_quality import bench_view_seed, true_verdicts, view_scene
    from dex1b_ros.planner.config import planner_config
    from dex1b_ros.planner.pipeline import GraspPipeline
    from dex1b_ros.validate import GraspValidator
    torch.set_num_threads(1)
    objs = spread(_ids_from_spec(a.objects, []), None)
    outside = sorted(set(objs) - set(load_split("val")))
    if outside:
        ap.error(f"validation objects only; {a.objects!r} has e.g. {outside[0]}")
    rows = json.load(open(a.scores))["plans"]
    fail = {(r["object"], r["view"]) for r in rows if not r.get("passed_own_check")}
    before = sum(bool(r["lifted"]) for r in rows if (r["object"], r["view"]) in fail)
    pipe = GraspPipeline(config=planner_config({"hand": a.hand}))
    pipe.generator = None                      # optimizer-only: the planner synthesises from scratch
    n = npass = nlift = both = 0
    t0 = time.time()
    for oi, oid in enumerate(objs):
        views = [v for v in range(3) if (oid, v) in fail]
        if not views:
            continue
        mesh = load_object(oid).mesh
        with GraspValidator(pipe.hand.cfg, mesh) as truth:
            for v in views:
                p, nn, plane = view_scene(mesh, a.hand, seed=bench_view_seed(oi, v))
                r = pipe.plan(p, nn, support_plane=plane)
                n += 1
                if not r.grasps:
                    continue
                g = r.grasps[0]
                _, li = true_verdicts(truth, *[np.asarray(x, np.float64)[None] for x in
                                               (g.wrist_pos, g.wrist_quat, g.pregrasp, g.grasp, g.squeeze)])
                npass += g.sim_success
                nlift += bool(li[0])
                both += bool(li[0]) and g.sim_success
                print(oid, v, "passed" if g.sim_success else "-", "LIFTED" if li[0] else "-",
                      f"{r.timings['total']:.2f} s", flush=True)
    print(f"{a.hand}: {n} plans where nothing passed (the node's grasp lifted {before}); optimizer-only: {npass} "
          f"passed, {nlift} lifted ({both} passed and lifted); {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
