"""Pictures of generator samples from one view of an object on a table (docs/results/*.png).

For each object (upright on a table, one simulated camera view from above as ``dex1b eval``'s
``partial+table``), ``--per-model`` raw samples (no refinement) of each ``--model``, given the
table's normal, rendered with the table (grey). One row per (object, model). Generators trained
in free space reach through the table; ``table_frame`` ones come from above::

    .venv/bin/python scripts/render_table_samples.py --hand leap \
        --model models/leap/dataset --model models/leap/table \
        --objects ycb:065-g_cups ycb:002_master_chef_can proc:mug:80 --out docs/results/table_samples_leap.png
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hand", default="leap")
    ap.add_argument("--model", action="append", required=True, type=Path, help="generator folder (repeatable)")
    ap.add_argument("--objects", nargs="+", required=True, help="object ids, e.g. ycb:065-g_cups")
    ap.add_argument("--per-model", type=int, default=4, help="samples shown per object and model")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True, help="PNG to write")
    a = ap.parse_args(argv)

    import torch
    from PIL import Image

    from dex1b_ros.eval.clouds import make_cloud
    from dex1b_ros.eval.config import EvalConfig
    from dex1b_ros.generator.load import load_generator
    from dex1b_ros.hands import load_hand
    from dex1b_ros.objects import load_object
    from dex1b_ros.optim import GraspOptimizer, ObjectField, refinement_config
    from dex1b_ros.optim.render import render_grasps

    torch.set_num_threads(1)
    hand = load_hand(a.hand)
    gens = [load_generator(m, hand) for m in a.model]
    rows = []
    for oi, oid in enumerate(a.objects):
        mesh = load_object(oid).mesh
        pts, nrm = make_cloud(mesh, "partial+table", EvalConfig(hand=a.hand), seed=a.seed + oi)
        opt = GraspOptimizer(hand, ObjectField.from_mesh(mesh, resolution=32, n_points=512))
        for m, g in zip(a.model, gens):
            pose = g.sample(pts, nrm, a.per_model, seed=a.seed, up=np.array([0.0, 0.0, 1.0]))
            gs = opt.refine(pose, refinement_config(steps=0))         # raw samples as a GraspSet
            rows.append(render_grasps(hand, mesh, gs, cols=a.per_model, table_z=float(mesh.bounds[0, 2])))
            print(f"{oid} / {m}: row {len(rows)}")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, 0)).save(a.out)
    print(f"wrote {a.out} ({len(rows)} rows: objects x models, in the order given)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
