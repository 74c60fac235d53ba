"""Benchmark SDFGrid against the exact signed distance on YCB objects.

Run: ``python -m dex1b_ros.geometry.bench_sdf [--objects ...] [--res 64 96]``

Prints per object and resolution: grid shape, build time (exact distances at all nodes),
query throughput with ``torch.set_num_threads(1)`` (forward sdf only, forward sdf+grad,
forward+backward through sdf), and |grid - exact| for points within 2 cm of the surface
(and within 5 mm, the contact band).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ..objects.mesh import load_ycb
from .pointcloud import sample_surface
from .sdf import SDFGrid, exact_signed_distance


def near_surface_points(mesh, n: int, band: float, seed: int = 0) -> np.ndarray:
    """(n, 3) points at distance <= band from the surface (surface sample + ball offset)."""
    rng = np.random.default_rng(seed)
    p, _ = sample_surface(mesh, n, seed=seed)
    v = rng.normal(size=(n, 3))
    v *= (rng.uniform(0, band, size=n) / np.linalg.norm(v, axis=1))[:, None]
    return p.astype(np.float64) + v


def _rate(fn, n_points: int, min_time: float = 0.5) -> float:
    fn()  # warm-up
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < min_time:
        fn()
        reps += 1
    return reps * n_points / (time.perf_counter() - t0)


def bench(name: str, resolution: int, n_err: int = 20000, n_speed: int = 100_000) -> dict:
    obj = load_ycb(name)
    grid = SDFGrid.from_mesh(obj, resolution=resolution)
    q = near_surface_points(obj.mesh, n_err, band=0.02)
    exact = exact_signed_distance(obj, q)
    q, exact = q[np.abs(exact) <= 0.02], exact[np.abs(exact) <= 0.02]
    with torch.no_grad():
        approx = grid.query(torch.as_tensor(q, dtype=torch.float32), with_grad=False)[0].numpy()
    err = np.abs(approx - exact)
    contact = np.abs(exact) <= 0.005

    rng = np.random.default_rng(1)
    lo, hi = grid.lo.numpy(), grid.hi.numpy()
    pts = torch.as_tensor(rng.uniform(lo, hi, size=(n_speed, 3)), dtype=torch.float32)

    def fwd():
        with torch.no_grad():
            grid.query(pts, with_grad=False)

    def fwd_grad():
        with torch.no_grad():
            grid.query(pts, with_grad=True)

    def fwd_bwd():
        x = pts.clone().requires_grad_(True)
        grid.query(x, with_grad=False)[0].sum().backward()

    return dict(
        name=name, res=resolution, shape="x".join(map(str, grid.shape)),
        build_s=grid.build_seconds, n=len(err),
        mean_mm=1e3 * err.mean(), max_mm=1e3 * err.max(),
        mean5_mm=1e3 * err[contact].mean(), max5_mm=1e3 * err[contact].max(),
        fwd=_rate(fwd, n_speed), fwd_grad=_rate(fwd_grad, n_speed), fwd_bwd=_rate(fwd_bwd, n_speed),
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="dex1b bench sdf", description=__doc__.splitlines()[0])
    ap.add_argument("--objects", nargs="+", default=["011_banana", "006_mustard_bottle", "025_mug"])
    ap.add_argument("--res", nargs="+", type=int, default=[64, 96])
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, threads={torch.get_num_threads()} (queries); grid build "
          f"uses open3d (all cores). Errors: |grid - exact| over points with |sdf| <= 20 mm "
          f"(and <= 5 mm).")
    hdr = (f"{'object':20s} {'res':>4s} {'nodes':>10s} {'build s':>8s} {'mean mm':>8s} {'max mm':>7s} "
           f"{'mean5 mm':>8s} {'max5 mm':>8s} {'fwd Mpt/s':>9s} {'+grad':>6s} {'fwd+bwd':>8s}")
    print(hdr)
    for name in args.objects:
        for r in args.res:
            b = bench(name, r)
            print(f"{b['name']:20s} {b['res']:4d} {b['shape']:>10s} {b['build_s']:8.2f} "
                  f"{b['mean_mm']:8.3f} {b['max_mm']:7.3f} {b['mean5_mm']:8.3f} {b['max5_mm']:8.3f} "
                  f"{b['fwd'] / 1e6:9.2f} {b['fwd_grad'] / 1e6:6.2f} {b['fwd_bwd'] / 1e6:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
