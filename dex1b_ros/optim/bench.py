"""Optimizer benchmark: ``dex1b bench optim`` (a benchmark command, not a test).

Per hand, on a few YCB objects, with ``--threads`` torch threads (default 1):

* refinement: ``--refine-batch`` grasps x 100 steps (Dex1B post-optimisation), started from
  synthesized grasps perturbed by 6 mm along the approach and 0.05 rad joint noise;
  grasps/s, and penetration before -> after;
* synthesis: ``--synth-batch`` hands x ``--synth-steps`` steps from random initialisation,
  then the filter; accepted grasps/s;
* quality of the accepted grasps checked against the exact mesh SDF (penetration of the hand
  collision surface, contact distance; beside it the optimizer's own penetration estimate on
  its grid: the two agree when the ground truth is right), and the MuJoCo validator's success rate on them
  (DexGraspBench protocol; validation time is not counted in grasps/s).

Optionally renders accepted grasps to a PNG (``--render``).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ..hands import load_hand, load_hand_config
from ..objects import load_object
from .field import ObjectField
from .metrics import exact_grasp_metrics
from .optimizer import GraspOptimizer, refinement_config, synthesis_config


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="dex1b bench optim", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hands", nargs="+", default=["leap", "allegro"])
    ap.add_argument("--objects", nargs="+", default=["ycb:006_mustard_bottle", "ycb:025_mug", "ycb:011_banana"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--refine-batch", type=int, default=1024)
    ap.add_argument("--synth-batch", type=int, default=256)
    ap.add_argument("--synth-steps", type=int, default=250)
    ap.add_argument("--validate", type=int, default=64, help="accepted grasps per object checked in MuJoCo (0: skip)")
    ap.add_argument("--render", default=None, help="PNG of accepted grasps (first object, each hand)")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    print(f"# optimizer benchmark: {a.threads} thread(s), device {a.device}, torch {torch.__version__}")
    print("hand     object                  | refine g/s  pen mm before->after | synth acc/total  acc g/s | "
          "own pen mm mean | exact pen mm mean/max  contact mm mean/max | MuJoCo success")
    tiles = []
    for hname in a.hands:
        hand = load_hand(hname, device=a.device)
        for oi, oid in enumerate(a.objects):
            obj = load_object(oid)
            opt = GraspOptimizer(hand, ObjectField.from_mesh(obj.mesh, device=a.device))
            t = time.perf_counter()
            gs = opt.synthesize(a.synth_batch, synthesis_config(steps=a.synth_steps, seed=oi))
            t_syn = time.perf_counter() - t
            acc = gs.select(gs.accepted)
            # refinement from perturbed grasps (tile the synthesized ones up to the batch size)
            idx = np.arange(a.refine_batch) % len(gs)
            pose = gs.select(idx).pose(hand)
            g = torch.Generator().manual_seed(0)
            _, approach = hand.palm_frame(pose)
            pose.trans = pose.trans + 0.006 * approach
            noise = torch.randn(pose.q.shape, generator=g, dtype=pose.q.dtype).to(pose.q.device)
            pose.q = hand.clamp_joints(pose.q + 0.05 * noise)
            rcfg = refinement_config()
            before = opt._finish(pose, opt.active_from_start(pose, rcfg), rcfg, 0.0)
            t = time.perf_counter()
            ref = opt.refine(pose, rcfg)
            t_ref = time.perf_counter() - t
            if len(acc):
                m = exact_grasp_metrics(hand, obj.mesh, acc)
                pen, cd = m["penetration"] * 1e3, m["contact_distance"] * 1e3
                q = (f"{acc.penetration.mean() * 1e3:6.2f}          | {pen.mean():6.2f} / {pen.max():5.2f}       "
                     f"{cd.mean():6.2f} / {cd.max():5.2f}")
            else:
                q = "   (none accepted)                                       "
            val = "-"
            if a.validate and len(acc):
                from ..validate import GraspValidator
                sub = acc.select(np.arange(min(a.validate, len(acc))))
                with GraspValidator(load_hand_config(hname), obj.mesh) as v:
                    r = v.validate(sub.trans, sub.quat, sub.pregrasp, sub.grasp, sub.squeeze)
                val = f"{r.success.sum()}/{len(sub)} = {r.success.mean():.0%}"
            print(f"{hname:8s} {oid:23s} | {a.refine_batch / t_ref:9.0f}  {before.penetration.mean() * 1e3:5.2f} -> "
                  f"{ref.penetration.mean() * 1e3:5.2f}      | {len(acc):4d}/{len(gs):<4d}   {len(acc) / t_syn:7.2f} | "
                  f"{q} | {val}", flush=True)
            if a.render and oi == 0 and len(acc):
                from .render import render_grasps
                tiles.append(render_grasps(hand, obj.mesh, acc, range(min(4, len(acc))), cols=4))
    if a.render and tiles:
        from ..hands.render import save_png
        w = max(t.shape[1] for t in tiles)
        out = save_png(np.concatenate([np.pad(t, ((0, 0), (0, w - t.shape[1]), (0, 0))) for t in tiles]), a.render)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
