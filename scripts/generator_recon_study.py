"""Where DexSimple's samples go wrong: posterior reconstructions vs prior samples (no MuJoCo).

For valid grasps of training objects (full clouds), decode (a) the posterior mean (the encoder
sees the grasp: what the decoder can reproduce), (b) prior samples z ~ N(0, t^2 I) for a few
temperatures t, with the same associated point, and measure each against the object's exact SDF:
the deepest sphere penetration (mm) and the largest distance of the thumb/index/middle contact
candidates to the surface (mm), plus the share "ok" (penetration < 2 mm and contact < 5 mm) and
the pose error of (a) against the grasp (wrist mm, joints rad RMS). The ground-truth grasps are
measured too (the measuring stick).

    .venv/bin/python scripts/generator_recon_study.py --model out/models/leap_r8_cloud \
        --data data/leap/grasps/round=6/hand=leap --objects 24 --per-object 16
"""
from __future__ import annotations

import argparse
import glob
from pathlib import Path

import numpy as np
import torch

from dex1b_ros.generator.data import CloudCache, GraspData
from dex1b_ros.generator.load import load_generator
from dex1b_ros.generator.train import sample_geometry
from dex1b_ros.hands import HandPose, load_hand
from dex1b_ros.records import read_records
from dex1b_ros.rotation import matrix_to_rot6d, quat_to_matrix


def measure(model, pose: HandPose, sdf, surface: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(deepest penetration, largest contact-finger distance) per grasp, mm: the trainer's own
    ``sample_geometry`` with the object's exact SDF."""
    pen, con = sample_geometry(model, pose, surface, sdf)
    return pen.numpy() * 1000, con.numpy() * 1000


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--hand", default="leap")
    ap.add_argument("--data", action="append", required=True)
    ap.add_argument("--objects", type=int, default=24)
    ap.add_argument("--per-object", type=int, default=16)
    ap.add_argument("--temperatures", default="1.0,0.5,0.0")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    hand = load_hand(a.hand)
    model = load_generator(a.model, hand).eval()
    shards = sorted(s for d in a.data for s in glob.glob(str(Path(d) / "*.parquet")))
    rec = read_records(shards)
    rec = rec.select(rec.validated & rec.success)
    clouds = CloudCache(model.cfg.n_points, 1, a.seed, 2048, 64)
    data = GraspData(rec, clouds, 0.015)
    rng = np.random.default_rng(a.seed)
    objs = [data.objects[i] for i in rng.choice(len(data.objects), min(a.objects, len(data.objects)), replace=False)]
    temps = [float(t) for t in a.temperatures.split(",")]
    rows: dict[str, list] = {"ground truth": [], "posterior mean": [], **{f"prior t={t}": [] for t in temps}}
    err_t, err_q = [], []
    for o in objs:
        pts, nrm, rows_o, near = data.lookup(o, None)
        pick = rng.choice(len(rows_o), min(a.per_object, len(rows_o)), replace=False)
        r, idx = rows_o[pick], torch.as_tensor(near[pick])
        sdf, surface = clouds.sdf(o), torch.as_tensor(clouds.geom(o), dtype=torch.float32)
        pose = HandPose(torch.as_tensor(rec.trans[r], dtype=torch.float32),
                        matrix_to_rot6d(quat_to_matrix(torch.as_tensor(rec.quat[r], dtype=torch.float32))),
                        torch.as_tensor(rec.grasp[r], dtype=torch.float32))
        with torch.no_grad():
            x, centre = model.prepare_cloud(pts, nrm)
            feats, glob_f = model.points(x)
            cond = model.condition(feats, glob_f, torch.zeros_like(idx), idx, x)
            g = model.pose_to_vector(pose, centre[0])
            mu, _ = model.encode(g, cond)
            rec_pose = model.vector_to_pose(model.decode(mu, cond), centre[0])
            rows["ground truth"].append(measure(model, pose, sdf, surface))
            rows["posterior mean"].append(measure(model, rec_pose, sdf, surface))
            err_t.append((rec_pose.trans - pose.trans).norm(dim=-1).numpy() * 1000)
            err_q.append(((rec_pose.q - pose.q) ** 2).mean(-1).sqrt().numpy())
            gen = torch.Generator().manual_seed(a.seed)
            z0 = torch.randn(len(r), model.cfg.latent, generator=gen)
            for t in temps:
                p = model.vector_to_pose(model.decode(z0 * t, cond), centre[0])
                rows[f"prior t={t}"].append(measure(model, p, sdf, surface))
    print(f"{a.model}: {len(objs)} training objects, {sum(len(x[0]) for x in rows['ground truth'])} valid grasps")
    print("| decoded from | max penetration mm (mean / median) | contact mm (mean / median) | ok % |")
    print("|---|---|---|---|")
    for k, v in rows.items():
        pen = np.concatenate([x[0] for x in v])
        con = np.concatenate([x[1] for x in v])
        ok = ((pen < 2) & (con < 5)).mean() * 100
        print(f"| {k} | {pen.mean():.1f} / {np.median(pen):.1f} | {con.mean():.1f} / {np.median(con):.1f} | {ok:.0f} |")
    et, eq = np.concatenate(err_t), np.concatenate(err_q)
    print(f"posterior-mean pose error: wrist {et.mean():.1f} mm (median {np.median(et):.1f}), "
          f"joints RMS {eq.mean():.3f} rad")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
