"""The observations ``dex1b eval`` gives the planners: a full or single-view cloud of the
(centred) object mesh, and the table under it. Object frame, m."""
from __future__ import annotations

import numpy as np

from .config import EvalConfig


def make_cloud(mesh, kind: str, cfg: EvalConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The observation: ``full`` = FPS surface sample, ``partial`` = one simulated depth view from
    a camera above the object (elevation in ``partial_elevation_deg``, random azimuth).
    Returns points, normals (N, 3) float64, object frame, m."""
    from ..geometry.pointcloud import look_at, render_partial_cloud, sample_surface

    if kind == "full":  # "partial" and "partial+table": the same view
        p, n = sample_surface(mesh, cfg.cloud_points, seed=seed, fps=True)
    else:
        rng = np.random.default_rng(seed)
        el = np.radians(rng.uniform(*cfg.partial_elevation_deg))
        az = rng.uniform(0, 2 * np.pi)
        c = np.asarray(mesh.bounds, dtype=np.float64).mean(0)
        eye = c + cfg.partial_distance * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
        pc = render_partial_cloud(mesh, cfg.cloud_points, seed=seed, camera_pose=look_at(eye, c),
                                  noise_std=cfg.partial_noise)
        p, n = pc.points, pc.normals
    return np.asarray(p, np.float64), np.asarray(n, np.float64)


def table_plane(mesh) -> np.ndarray:
    """(4,) [0, 0, 1, -z_min]: the horizontal table under the mesh (object frame z up), as the
    validator's tabletop test places it."""
    return np.array([0.0, 0.0, 1.0, -float(np.asarray(mesh.bounds)[0, 2])])
