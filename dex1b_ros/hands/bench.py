"""Forward-kinematics benchmark: ``dex1b bench fk`` (a benchmark command, not a test).

Times, per hand, for a batch of random poses on ``--threads`` CPU threads (or CUDA):
FK of all links, FK + backward through the collision-sphere centres, and the full
geometry query used by the optimizer (spheres + contact candidates + self-penetration,
forward + backward). Median of ``--repeat`` runs after warm-up.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from .model import HandPose, load_hand


def _time(fn, repeat: int, sync) -> float:
    for _ in range(3):
        fn()
    ts = []
    for _ in range(repeat):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1e3


def bench_hand(name: str, batch: int, repeat: int, device: str) -> dict:
    hand = load_hand(name, device=device)
    g = torch.Generator(device="cpu").manual_seed(0)
    q = (hand.lower.cpu() + (hand.upper - hand.lower).cpu() * torch.rand(batch, hand.n_joints, generator=g)).to(device)
    x0 = torch.cat([torch.randn(batch, 3, generator=g) * 0.1,
                    torch.tensor([1.0, 0, 0, 0, 1.0, 0]).expand(batch, 6), q.cpu()], -1).to(device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def fk():
        with torch.no_grad():
            hand.link_poses_palm(q)

    def fk_bwd():
        qq = q.clone().requires_grad_(True)
        c = hand._apply(hand.link_poses_palm(qq), hand.sphere_link, hand.sphere_center, cache="spheres")
        c.sum().backward()

    def geometry_bwd():
        x = x0.clone().requires_grad_(True)
        pose = HandPose.unpack(x)
        T = hand.link_poses_palm(pose.q)          # one FK shared by every query, as the optimizer does
        c, _ = hand.spheres(pose, T)
        p, n = hand.contact_candidates(pose, T)
        (c.sum() + p.sum() + n.sum() + hand.self_penetration(pose.q, T).sum()).backward()

    return {"hand": name, "batch": batch, "spheres": int(hand.sphere_radius.numel()),
            "self_pairs": int(hand.self_pairs.shape[0]), "self_spheres": int(hand.self_sphere_radius.numel()),
            "fk_ms": _time(fk, repeat, sync), "fk_bwd_ms": _time(fk_bwd, repeat, sync),
            "geom_bwd_ms": _time(geometry_bwd, repeat, sync)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="dex1b bench fk", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hands", nargs="+", default=["leap", "allegro"], help="hands to time (default: both)")
    ap.add_argument("--batch", type=int, default=1000, help="poses per call (default 1000)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--repeat", type=int, default=20, help="timed repetitions; the median is printed")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    print(f"# FK benchmark: batch {a.batch}, {a.threads} thread(s), device {a.device}, torch {torch.__version__}")
    print(f"{'hand':8s} {'spheres':>7s} {'selfpairs':>9s} {'FK ms':>8s} {'FK+bwd ms':>10s} {'geom+bwd ms':>12s}")
    for h in a.hands:
        r = bench_hand(h, a.batch, a.repeat, a.device)
        print(f"{r['hand']:8s} {r['spheres']:7d} {r['self_pairs']:9d} {r['fk_ms']:8.2f} {r['fk_bwd_ms']:10.2f} "
              f"{r['geom_bwd_ms']:12.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
