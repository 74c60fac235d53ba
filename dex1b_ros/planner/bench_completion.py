"""Shape-from-one-view benchmark: ``dex1b bench completion`` (a benchmark, not a test; no ROS).

How close the planner's guess of an object from one camera view is to the TRUE object. For each
object and view (the views of ``dex1b bench plan-quality``: same seeds, same camera, the object
standing on a table the planner is told about), the planner's own first two steps run
(``GraspPipeline.perceive``: preprocess, prepare) once per completion method, and the convex hull
they produce (what the planner's optimizer works against and its MuJoCo check simulates) is
compared with the true mesh (``completion_error``): symmetric Chamfer distance (mm; "invents":
mean distance from the guess to the true surface, "misses": from the true surface to the guess)
and volume IoU. Two references: "seen hull" (the convex hull of the view itself, no completion)
and "true hull" (the true object's convex hull: the best any convex guess can do).

Rows are printed for all objects and for the strongly non-convex ones (volume / hull volume
< 0.7) apart. Methods: ``PrepareConfig.completion`` x ``completion_drop``
(dex1b_ros/perception/completion.py). Choose on ``--objects val``, report on the held-out set.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    from ..perception.completion import COMPLETIONS
    from .config import load_planner_config, planner_config
    d = load_planner_config()
    methods_all = [f"{m}{'+drop' if drop else ''}" for m in COMPLETIONS for drop in (False, True)]
    ap = argparse.ArgumentParser(prog="dex1b bench completion", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", default="heldout",
                    help="split name (train/val/test), object set (heldout) or comma-separated object ids "
                         "(default: the held-out set). Choose on val, report on heldout")
    ap.add_argument("--max-objects", type=int, default=None, help="a deterministic spread of at most this many")
    ap.add_argument("--views", type=int, default=3, help="camera views per object (plan-quality's views)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the camera views (plan-quality's --seed)")
    ap.add_argument("--methods", nargs="+", default=methods_all, metavar="METHOD",
                    help=f"completions to compare, each a completion with optional '+drop' (default: all: "
                         f"{' '.join(methods_all)})")
    ap.add_argument("--columns", action="store_true",
                    help="also each method's guess as the MuJoCo check sees it with prepare.check_shape: columns "
                         "(rows '<method> columns': the completed view as convex columns on the table where they "
                         "pass the gate, else its hull)")
    ap.add_argument("--json", default=None, metavar="FILE", help="write every (object, view, method) figure")
    a = ap.parse_args(argv)
    for m in a.methods:
        if m.removesuffix("+drop") not in COMPLETIONS:
            ap.error(f"--methods {m}: expected one of {', '.join(COMPLETIONS)}, optionally with '+drop'")
    from ..eval.objects import _ids_from_spec, spread
    try:
        objects = spread(_ids_from_spec(a.objects, []), a.max_objects)
    except ValueError as e:
        ap.error(str(e))

    from tqdm import tqdm

    from ..geometry.decompose import hull_ratio
    from ..objects import load_object
    from ..perception.completion import completion_error
    from ..perception.preprocess import CloudError, estimate_object_mesh
    from .bench_quality import view_scene
    from .pipeline import GraspPipeline, PlanFailed

    pipe = GraspPipeline(config=planner_config({"hand": "leap"}, d))   # perception does not depend on the hand
    cfgs = {m: planner_config({"prepare": {"completion": m.removesuffix("+drop"),
                                           "completion_drop": m.endswith("+drop")}}, pipe.config)
            for m in a.methods}
    if a.columns:
        cfgs.update({f"{m} columns": planner_config({"prepare": {"check_shape": "columns"}}, cfgs[m])
                     for m in a.methods})
    rows = []
    bar = tqdm(total=len(objects) * a.views, desc="completion", unit="view", leave=False)
    for oi, oid in enumerate(objects):
        mesh = load_object(oid).mesh
        nonconvex = hull_ratio(mesh) < 0.7
        ref_true = completion_error(mesh, mesh.convex_hull)
        for v in range(a.views):
            p, n, plane = view_scene(mesh, "leap", seed=a.seed + 1000 * oi + v)
            base = {"object": oid, "view": v, "nonconvex": nonconvex}
            rows.append({**base, "method": "true hull", **ref_true})
            for m, cfg in cfgs.items():
                try:
                    cloud, prep = pipe.perceive(p, n, support_plane=plane, config=cfg)
                except PlanFailed as e:
                    rows.append({**base, "method": m, "failed": str(e)})
                    continue
                if m == a.methods[0]:
                    try:
                        rows.append({**base, "method": "seen hull",
                                     **completion_error(mesh, estimate_object_mesh(cloud.points))})
                    except CloudError as e:
                        rows.append({**base, "method": "seen hull", "failed": str(e)})
                if prep.hull_mesh is None:
                    rows.append({**base, "method": m, "failed": "no hull"})
                    continue
                guess = prep.check_parts if prep.check_parts else prep.hull_mesh    # what the check simulates
                rows.append({**base, "method": m, **completion_error(mesh, guess)})
            bar.update()
    bar.close()

    n_nc = len({r['object'] for r in rows if r['nonconvex']})
    print(f"# shape from one view: the planner's completed hull vs the TRUE mesh; {len(objects)} objects x "
          f"{a.views} views on a table, {n_nc} objects strongly non-convex (volume / hull volume < 0.7); "
          f"Chamfer in mm (mean over views; lower is better), IoU (higher is better)")
    print(f"{'method':16s} {'views':>5s} {'chamfer':>8s} {'invents':>8s} {'misses':>7s} {'IoU':>6s} "
          f"{'vol x':>6s} | {'non-convex: chamfer':>19s} {'IoU':>6s}")
    for m in ["seen hull", *cfgs, "true hull"]:
        rs = [r for r in rows if r["method"] == m and "failed" not in r]
        if not rs:
            continue
        nc = [r for r in rs if r["nonconvex"]]
        f = lambda key, rr: np.mean([r[key] for r in rr]) if rr else float("nan")  # noqa: E731
        print(f"{m:16s} {len(rs):5d} {f('chamfer_mm', rs):8.1f} {f('acc_mm', rs):8.1f} {f('cov_mm', rs):7.1f} "
              f"{f('iou', rs):6.3f} {np.median([r['vol_ratio'] for r in rs]):6.2f} | "
              f"{f('chamfer_mm', nc):19.1f} {f('iou', nc):6.3f}")
    failed = [r for r in rows if "failed" in r]
    if failed:
        print(f"# {len(failed)} (view, method) pairs failed, e.g. {failed[0]['object']} view {failed[0]['view']}: "
              f"{failed[0]['failed']}")
    print("# vol x: median of guess volume / true volume")
    if a.json:
        Path(a.json).write_text(json.dumps({"objects": objects, "views": a.views, "seed": a.seed, "rows": rows},
                                           indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
