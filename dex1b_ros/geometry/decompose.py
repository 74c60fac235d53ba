"""Convex decomposition of object meshes for the simulator (CoACD), cached on disk.

MuJoCo collides convex geoms only: a mesh geom is replaced by its convex hull. Simulating a
mug, a bowl or a banana as ONE hull puts a phantom wall across every concavity (fingers that
reach into the opening meet it, and grasps that touch nothing "hold"). The DexGraspBench
protocol simulates a convex decomposition instead; this module makes one with CoACD
(Wei et al., SIGGRAPH 2022; the ``coacd`` wheel), a kept library, instead of hand-written
code.

* Frames and units: parts are in the mesh's own frame (the object frame), meters.
* Nearly convex meshes (volume / hull volume >= ``convex_ratio``) are their hull: no CoACD.
* CoACD costs seconds to tens of seconds per mesh (measured in docs/validator.md), so every
  decomposition is computed once and cached by content hash (vertices, faces, settings) in
  ``$DEX1B_CACHE_DIR/decomp`` (default ``~/.cache/dex1b_ros/decomp``) as ``.npz`` (no pickle).
  A read-only or disabled cache (``DEX1B_CACHE_DIR=off``) only costs recomputation.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import astuple, dataclass
from pathlib import Path

import numpy as np
import trimesh

from ..config_utils import fail
from ..objects.mesh import MeshLike, as_trimesh
from ..resources import cache_dir

log = logging.getLogger(__name__)

_VERSION = "coacd-1"  # bump when the way parts are made changes (invalidates the cache)


@dataclass(frozen=True)
class DecompositionConfig:
    """How an object mesh becomes convex parts for the simulator.

    Defaults were chosen on YCB 025_mug / 024_bowl (train split) for speed at a stated
    error (docs/validator.md); CoACD's own defaults (resolution 2000, 150 MCTS iterations,
    20 nodes) took 3-7x longer for a similar union volume.
    """

    method: str = "coacd"          # coacd | hull (one convex hull: the old, fast, wrong-on-concave model)
    convex_ratio: float = 0.97     # -, volume / hull volume at or above this: the hull IS the decomposition
    threshold: float = 0.05        # -, CoACD concavity threshold (lower = more, tighter parts)
    max_parts: int = -1            # -, CoACD max_convex_hull (-1 = no limit)
    target_faces: int = 3000       # -, quadric-decimate the input to at most this many faces first (0 = never)
    resolution: int = 1000         # -, CoACD surface sampling resolution
    preprocess_resolution: int = 50  # -, CoACD manifold-remesh resolution (used when the mesh needs it)
    mcts_iterations: int = 40      # -, CoACD tree-search iterations
    mcts_nodes: int = 10           # -, CoACD tree-search nodes per level
    seed: int = 0                  # -, CoACD random seed (same seed, same parts)

    def __post_init__(self):
        if self.method not in ("coacd", "hull"):
            fail("method", f"expected coacd | hull, got {self.method!r}")
        if not 0.0 < self.convex_ratio <= 1.0:
            fail("convex_ratio", f"must be in (0, 1], got {self.convex_ratio}")
        if not 0.0 < self.threshold < 1.0:
            fail("threshold", f"must be in (0, 1), got {self.threshold}")
        if self.max_parts != -1 and self.max_parts < 1:
            fail("max_parts", f"must be -1 (no limit) or >= 1, got {self.max_parts}")
        for name in ("resolution", "preprocess_resolution", "mcts_iterations", "mcts_nodes"):
            if getattr(self, name) < 1:
                fail(name, f"must be >= 1, got {getattr(self, name)}")
        if self.target_faces < 0:
            fail("target_faces", f"must be >= 0 (0 = never decimate), got {self.target_faces}")


def hull_ratio(mesh: MeshLike) -> float:
    """Volume / convex-hull volume of a closed mesh (1 = convex; a mug ~0.3)."""
    tm = as_trimesh(mesh)
    hv = float(tm.convex_hull.volume)
    return float(tm.volume) / hv if hv > 0 else 1.0


def _key(tm: trimesh.Trimesh, cfg: DecompositionConfig) -> str:
    h = hashlib.sha256(_VERSION.encode())
    h.update(np.ascontiguousarray(tm.vertices, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(tm.faces, dtype=np.int64).tobytes())
    h.update(repr(astuple(cfg)).encode())
    return h.hexdigest()[:32]


def _cache_file(key: str) -> Path | None:
    root = cache_dir("decomp")
    return None if root is None else root / f"{key}.npz"


def _save(path: Path, parts: list[trimesh.Trimesh]) -> None:
    arrays = {}
    for i, p in enumerate(parts):
        arrays[f"v{i}"] = np.asarray(p.vertices, dtype=np.float64)
        arrays[f"f{i}"] = np.asarray(p.faces, dtype=np.int32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez_compressed(tmp, n=np.array(len(parts)), **arrays)
        os.replace(tmp, path)  # atomic: a concurrent reader sees the old or the new file
    except OSError as e:  # a read-only cache only costs recomputation
        log.debug("decomposition cache not written (%s): %s", path, e)


def _load(path: Path) -> list[trimesh.Trimesh] | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            return [trimesh.Trimesh(z[f"v{i}"], z[f"f{i}"], process=False) for i in range(int(z["n"]))]
    except (OSError, KeyError, ValueError):
        return None


def _decimate(tm: trimesh.Trimesh, target: int) -> trimesh.Trimesh:
    if target <= 0 or len(tm.faces) <= target:
        return tm
    import open3d as o3d

    om = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(tm.vertices), o3d.utility.Vector3iVector(tm.faces))
    om = om.simplify_quadric_decimation(int(target))
    out = trimesh.Trimesh(np.asarray(om.vertices), np.asarray(om.triangles), process=True)
    return out if len(out.faces) >= 4 else tm


def _coacd(tm: trimesh.Trimesh, cfg: DecompositionConfig) -> list[trimesh.Trimesh]:
    import coacd

    coacd.set_log_level("error")
    src = _decimate(tm, cfg.target_faces)
    raw = coacd.run_coacd(coacd.Mesh(np.asarray(src.vertices, dtype=np.float64), np.asarray(src.faces, dtype=np.int64)),
                          threshold=cfg.threshold, max_convex_hull=cfg.max_parts, preprocess_mode="auto",
                          preprocess_resolution=cfg.preprocess_resolution, resolution=cfg.resolution,
                          mcts_nodes=cfg.mcts_nodes, mcts_iterations=cfg.mcts_iterations, seed=cfg.seed)
    parts = []
    for v, f in raw:
        v = np.asarray(v, dtype=np.float64)
        if len(v) >= 4 and np.linalg.matrix_rank(v - v.mean(0), tol=1e-7) == 3:
            parts.append(trimesh.Trimesh(v, np.asarray(f), process=False).convex_hull)
    return parts


def convex_parts(mesh: MeshLike, config: DecompositionConfig | None = None) -> list[trimesh.Trimesh]:
    """Convex parts whose union approximates the closed ``mesh`` (object frame, meters).

    ``method="hull"`` or a nearly convex mesh: ``[convex hull]``. Otherwise CoACD, cached on
    disk by content hash (see module doc). Never empty: if CoACD returns nothing usable the
    hull is used (logged).
    """
    cfg = config or DecompositionConfig()
    tm = as_trimesh(mesh)
    if cfg.method == "hull" or hull_ratio(tm) >= cfg.convex_ratio:
        return [tm.convex_hull]
    key = _key(tm, cfg)
    path = _cache_file(key)
    if path is not None and path.is_file():
        parts = _load(path)
        if parts:
            return parts
    t0 = time.perf_counter()
    parts = _coacd(tm, cfg)
    if not parts:
        log.warning("CoACD gave no usable part for a %d-face mesh; using its convex hull", len(tm.faces))
        parts = [tm.convex_hull]
    log.info("convex decomposition: %d parts in %.1f s (%d faces)", len(parts), time.perf_counter() - t0,
             len(tm.faces))
    if path is not None:
        _save(path, parts)
    return parts


def decomposition_error(mesh: MeshLike, parts: list[trimesh.Trimesh], n_samples: int = 20000,
                        seed: int = 0) -> dict:
    """How well ``parts`` hug ``mesh`` (meters):

    * ``volume_ratio``: volume of the parts' union / mesh volume (``hull_volume_ratio``: the
      single hull's, for comparison);
    * ``excess_max_m`` / ``excess_p99_m``: how far the parts' surface sticks out of the mesh
      (phantom material a finger can meet), over ``n_samples`` samples of the union surface;
    * ``missing_max_m`` / ``missing_p99_m``: how far the mesh surface lies outside the parts
      (real material the simulator does not have), over samples of the mesh surface.

    The union is a manifold3d boolean; distances are exact SDFs (:func:`exact_signed_distance`).
    Internal slits between touching parts are inside the mesh and do not count."""
    from .sdf import exact_signed_distance

    tm = as_trimesh(mesh)
    union = parts[0] if len(parts) == 1 else trimesh.boolean.union(parts, engine="manifold")
    on_union, _ = trimesh.sample.sample_surface(union, n_samples, seed=seed)
    on_mesh, _ = trimesh.sample.sample_surface(tm, n_samples, seed=seed)
    excess = np.maximum(exact_signed_distance(tm, on_union), 0.0)
    missing = np.maximum(exact_signed_distance(union, on_mesh), 0.0)
    return {"parts": len(parts), "volume_ratio": float(union.volume / tm.volume),
            "hull_volume_ratio": float(tm.convex_hull.volume / tm.volume),
            "excess_max_m": float(excess.max()), "excess_p99_m": float(np.quantile(excess, 0.99)),
            "missing_max_m": float(missing.max()), "missing_p99_m": float(np.quantile(missing, 0.99))}
