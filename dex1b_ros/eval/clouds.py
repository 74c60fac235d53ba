"""The observations ``dex1b eval`` gives the planners: a full or single-view cloud of the
(centred) object mesh, and the table under it. Object frame, m."""
from __future__ import annotations

import numpy as np

from .config import EvalConfig


def make_cloud(mesh, kind: str, cfg: EvalConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The observation: ``full`` = FPS surface sample, ``partial`` = one simulated depth view from
    a camera above the object (elevation in ``partial_elevation_deg``, random azimuth).
    Returns points, normals (N, 3) float64, object frame, m."""
    from ..geometry.pointcloud import render_view_from_above, sample_surface

    if kind == "full":  # "partial" and "partial+table": the same view
        p, n = sample_surface(mesh, cfg.cloud_points, seed=seed, fps=True)
    else:
        pc = render_view_from_above(mesh, cfg.cloud_points, seed=seed, elevation_deg=cfg.partial_elevation_deg,
                                    distance=cfg.partial_distance, noise_std=cfg.partial_noise)
        p, n = pc.points, pc.normals
    return np.asarray(p, np.float64), np.asarray(n, np.float64)


def table_plane(mesh) -> np.ndarray:
    """(4,) [0, 0, 1, -z_min]: the horizontal table under the mesh (object frame z up), as the
    validator's tabletop test places it."""
    return np.array([0.0, 0.0, 1.0, -float(np.asarray(mesh.bounds)[0, 2])])


def table_scene(kind: str = "box", object_seed: int = 0, seed: int = 0, size: float = 0.08, points: int = 1500,
                table_points: int = 1500, nan_every: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A raw cloud as a camera-less perception pipeline might send it (planning frame, z up, m):
    ``points`` surface samples (seed ``seed``) of procedural object ``kind`` (``object_seed``,
    largest side ``size``) standing on a table at z = 0 around (0.4, 0, 0), plus ``table_points``
    points of a 30 x 30 cm table patch; every ``nan_every``-th row NaN (0 = none).
    Returns points, normals (N, 3) float64 (the table's normals +z). The one recipe of the
    planner's tests and of ``dex1b bench memory``."""
    from ..geometry.pointcloud import sample_surface
    from ..objects import make_object

    rng = np.random.default_rng(seed)
    p, n = sample_surface(make_object(kind, object_seed, size=size).mesh, points, seed=seed)
    p = p - [0.0, 0.0, p[:, 2].min()] + [0.4, 0.0, 0.0]
    t = np.c_[rng.uniform(0.25, 0.55, table_points), rng.uniform(-0.15, 0.15, table_points), np.zeros(table_points)]
    pts = np.vstack([p, t])
    nrm = np.vstack([n, np.tile([0.0, 0.0, 1.0], (table_points, 1))])
    if nan_every:
        pts[::nan_every] = np.nan
    return pts, nrm
