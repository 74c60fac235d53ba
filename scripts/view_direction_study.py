"""How well does a single view's normals tell where the camera was? (a measuring stick, no ROS)

``prepare.carve`` and ``prepare.single_view_field: carved`` look along the view direction
estimated as minus the mean unit normal of the seen points (orthographic). This renders views
as ``dex1b eval`` does (``render_view_from_above``: 0.5 m, 15-60 deg above, random azimuth), knows
the true direction (camera -> bounding-box centre) and prints the angle error of two estimators:

* ``mean``: minus the mean normal (what the planner uses);
* ``cap``: minus the centre of the narrowest cap of normals (``perception.completion.view_direction``;
  the visible normals of a view all face the camera, so their cap's centre is near it even when
  one large face dominates the count).

Usage: ``.venv/bin/python scripts/view_direction_study.py [--objects valbroad+valbroad2] [--views 3]``
(~1 min). Strongly non-convex objects (volume / hull volume < 0.7) are reported apart.
"""
from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--objects", default="valbroad+valbroad2")
    ap.add_argument("--views", type=int, default=3)
    a = ap.parse_args()
    from dex1b_ros.eval.objects import resolve_objects
    from dex1b_ros.geometry.decompose import hull_ratio
    from dex1b_ros.geometry.pointcloud import render_view_from_above
    from dex1b_ros.perception.completion import view_direction

    objs = resolve_objects(a.objects).objects
    err = {"mean": [], "cap": []}
    nonconvex = []
    for obj in objs.values():
        nc = hull_ratio(obj.mesh) < 0.7
        centre = np.asarray(obj.mesh.bounds).mean(0)
        for s in range(a.views):
            pc = render_view_from_above(obj.mesh, 1024, seed=s)
            true = centre - pc.camera_pose[:3, 3]
            true /= np.linalg.norm(true)
            n = np.asarray(pc.normals, np.float64)
            for name in err:
                err[name].append(np.degrees(np.arccos(np.clip(view_direction(n, name) @ true, -1, 1))))
            nonconvex.append(nc)
    nc = np.array(nonconvex)
    print(f"# view direction from the normals: {len(objs)} objects x {a.views} views, {nc.sum() // a.views} "
          "objects strongly non-convex; angle to the true view direction, degrees")
    print("estimator   all: median  p90   max   | non-convex: median  p90   max")
    for name, e in err.items():
        e = np.array(e)
        print(f"{name:10s}  {np.median(e):11.1f} {np.percentile(e, 90):5.1f} {e.max():5.1f}   | "
              f"{np.median(e[nc]):18.1f} {np.percentile(e[nc], 90):5.1f} {e[nc].max():5.1f}")


if __name__ == "__main__":
    main()
