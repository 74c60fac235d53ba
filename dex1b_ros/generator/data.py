"""Training data for DexSimple: grasp shards -> per-object clouds -> batches (no ROS).

Records come from Parquet shards (:mod:`dex1b_ros.records`); by default only the
validated-successful ones. Records of objects in the ``val`` split are held out for
validation, every other object trains (:func:`split_records`). Each step takes
``objects_per_batch`` objects; each is seen either as its full surface (farthest-point samples)
or as one of ``views_per_object`` simulated single-view depth clouds (``render_partial_cloud``;
rendered once per object and view, cached in memory), so the model works from one camera.
With a partial view, only grasps whose associated point lies within ``visible_tol`` of the
visible points are used, and their associated point is the nearest visible point. A random
rotation (``rotation_augment``) is applied to cloud and grasps together
(:func:`make_batch`). Frames: object mesh frame; metres.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..hands import HandPose
from ..records import GraspRecords, read_records
from ..rotation import matrix_to_rot6d, quat_to_matrix, random_rotations
from .model import DexSimple


def shard_paths(sources: Iterable[str | Path]) -> list[Path]:
    """Shard files of ``sources`` (each a ``.parquet`` file or a folder of ``*.parquet``,
    sorted); a folder without shards raises FileNotFoundError naming it."""
    out: list[Path] = []
    for d in map(Path, sources):
        found = sorted(d.glob("*.parquet")) if d.is_dir() else [d]
        if not found:
            raise FileNotFoundError(f"--data {d}: no *.parquet shards there")
        out += found
    return out


def read_shards(shards: str | Path | Iterable[str | Path]) -> GraspRecords:
    """All records of one shard or a list of shards (one hand)."""
    return read_records(shards if isinstance(shards, (str, Path)) else [Path(s) for s in shards])


def split_records(records: GraspRecords, only_success: bool) -> tuple[GraspRecords, GraspRecords, dict]:
    """(train, val, info): records of ``val``-split objects are held out; with
    ``only_success`` only validated-successful records are kept."""
    from ..objects import load_split
    val_ids = set(load_split("val"))
    keep = records.validated & records.success if only_success else np.ones(len(records), bool)
    ids = np.asarray(records.object_id)
    is_val = np.array([o in val_ids for o in ids], bool)
    tr, va = records.select(keep & ~is_val), records.select(keep & is_val)
    info = {"records_total": int(len(records)), "records_used": int(keep.sum()),
            "train_records": int(len(tr)), "val_records": int(len(va)),
            "train_objects": sorted(set(tr.object_id.tolist())), "val_objects": sorted(set(va.object_id.tolist()))}
    return tr, va, info


class CloudCache:
    """Per object: full-surface samples and lazily rendered partial views (object frame, m)."""

    def __init__(self, n_points: int, views: int, seed: int = 0, geom_points: int = 512, sdf_resolution: int = 40):
        self.n_points, self.views, self.seed, self.geom_points = n_points, views, seed, geom_points
        self.sdf_resolution = sdf_resolution
        self._mesh, self._full, self._partial, self._geom, self._sdf = {}, {}, {}, {}, {}

    def mesh(self, object_id: str):
        if object_id not in self._mesh:
            from ..objects import load_object
            self._mesh[object_id] = load_object(object_id).mesh
        return self._mesh[object_id]

    def full(self, object_id: str) -> tuple[np.ndarray, np.ndarray]:
        if object_id not in self._full:
            from ..geometry.pointcloud import sample_surface
            self._full[object_id] = sample_surface(self.mesh(object_id), self.n_points, seed=self.seed, fps=True)
        return self._full[object_id]

    def geom(self, object_id: str) -> np.ndarray:
        """(geom_points, 3) farthest-point surface samples for the SDF and contact terms."""
        if object_id not in self._geom:
            from ..geometry.pointcloud import sample_surface
            self._geom[object_id] = sample_surface(self.mesh(object_id), self.geom_points, seed=self.seed + 1,
                                                   fps=True)[0]
        return self._geom[object_id]

    def sdf(self, object_id: str):
        """The object's exact SDF on a grid (``SDFGrid``, object frame; ``sdf_resolution`` samples
        along the longest axis, 2 cm padding): built once per object (~0.1 s at 40)."""
        if object_id not in self._sdf:
            from ..geometry.sdf import SDFGrid
            self._sdf[object_id] = SDFGrid.from_mesh(self.mesh(object_id), resolution=self.sdf_resolution)
        return self._sdf[object_id]

    def partial(self, object_id: str, view: int) -> tuple[np.ndarray, np.ndarray]:
        key = (object_id, view)
        if key not in self._partial:
            from ..geometry.pointcloud import render_partial_cloud
            s = int.from_bytes(hashlib.sha256(f"{object_id}/{view}/{self.seed}".encode()).digest()[:4], "little")
            c = render_partial_cloud(self.mesh(object_id), self.n_points, seed=s)
            self._partial[key] = (c.points, c.normals)
        return self._partial[key]


class GraspData:
    """Records grouped by object, with per-(object, cloud) associated-point lookups cached."""

    def __init__(self, records: GraspRecords, clouds: CloudCache, visible_tol: float):
        self.records = records
        self.clouds = clouds
        self.visible_tol = visible_tol
        ids = np.asarray(records.object_id)
        self.objects = sorted(set(ids.tolist()))
        self.rows = {o: np.flatnonzero(ids == o) for o in self.objects}
        R = quat_to_matrix(torch.as_tensor(records.quat, dtype=torch.float64))
        self.rot = R.numpy()                                           # (N, 3, 3)
        self._lookup = {}

    def lookup(self, object_id: str, view: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(points, normals, eligible rows, nearest cloud index per eligible row) of one cloud;
        view None = the full surface."""
        key = (object_id, view)
        if key not in self._lookup:
            pts, nrm = self.clouds.full(object_id) if view is None else self.clouds.partial(object_id, view)
            rows = self.rows[object_id]
            ap = self.records.assoc_point[rows].astype(np.float64)
            d2 = ((ap[:, None, :] - pts[None].astype(np.float64)) ** 2).sum(-1)
            near = d2.argmin(1)
            ok = np.sqrt(d2[np.arange(len(rows)), near]) < (np.inf if view is None else self.visible_tol)
            ok &= np.isfinite(ap).all(1)
            self._lookup[key] = (pts, nrm, rows[ok], near[ok])
        return self._lookup[key]

    def __len__(self):
        return len(self.records)


def augment_rotations(n: int, mode: str, rng: np.random.Generator) -> np.ndarray:
    """(n, 3, 3) rotations: identity (``none``), uniform about z (``z``) or uniform on SO(3) (``so3``)."""
    if mode == "none":
        return np.broadcast_to(np.eye(3), (n, 3, 3)).copy()
    if mode == "z":
        a = rng.uniform(0, 2 * np.pi, n)
        c, s = np.cos(a), np.sin(a)
        R = np.zeros((n, 3, 3))
        R[:, 0, 0], R[:, 0, 1], R[:, 1, 0], R[:, 1, 1], R[:, 2, 2] = c, -s, s, c, 1
        return R
    g = torch.Generator().manual_seed(int(rng.integers(2**62)))
    return random_rotations(n, generator=g, dtype=torch.float64).numpy()


_rotations = augment_rotations  # old name


class MeshSDF:
    """Exact signed distance of a batch's objects, queried in the batch's frames (training only).

    Cloud k shows object ``objects[k]`` rotated by ``rot[k]`` (cloud = object @ rot.T) and centred
    at ``centre[k]``; ``__call__(points (B, S, 3), cloud_idx (B,))`` takes points relative to their
    cloud's centre and returns the object's signed distance there (B, S) (m, negative inside;
    trilinear in an ``SDFGrid``, differentiable w.r.t. the points).
    """

    def __init__(self, grids: list, rot: torch.Tensor, centre: torch.Tensor):
        self.grids, self.rot, self.centre = grids, rot, centre

    def __call__(self, points: torch.Tensor, cloud_idx: torch.Tensor) -> torch.Tensor:
        rot, centre = self.rot.to(points.dtype), self.centre.to(points.dtype)
        obj = (points + centre[cloud_idx][:, None]) @ rot[cloud_idx]                # back to the object frame
        out = torch.empty(points.shape[:-1], dtype=points.dtype, device=points.device)
        for k in torch.unique(cloud_idx).tolist():                                  # one query per object (K)
            m = cloud_idx == k
            out[m] = self.grids[k].query(obj[m], with_grad=False)[0].to(points.dtype)
        return out


@dataclass
class Batch:
    x: torch.Tensor          # (K, P, 6) prepared clouds
    centre: torch.Tensor     # (K, 3) m
    cloud_idx: torch.Tensor  # (B,)
    point_idx: torch.Tensor  # (B,)
    g: torch.Tensor          # (B, 9 + J) target pose vectors
    geom: torch.Tensor       # (K, Q, 3) m full-surface points, same frame as the clouds
    mesh_sdf: MeshSDF | None = None  # the objects' exact SDFs in the batch's frames (with_sdf=True)
    table_z: torch.Tensor | None = None  # (K,) m, each cloud's table (z = 0 of a table scene) relative to its centre


def make_batch(model: DexSimple, data: GraspData, objects: list[str], per_object: list[int],
               partial: list[bool], rng: np.random.Generator, rotation_augment: str, views: int,
               with_sdf: bool = False, table: bool = False) -> Batch:
    """One batch: cloud k of ``objects[k]`` (partial view or full), ``per_object[k]`` grasps each;
    ``with_sdf`` adds the objects' exact SDFs (:class:`MeshSDF`); ``table``: the objects are table
    scenes (``generator.table``, table at z = 0, z up; needs rotations about z only) and the batch
    carries each cloud's table height."""
    if table and rotation_augment == "so3":
        raise ValueError("make_batch: table scenes need rotation_augment 'z' or 'none' (so3 would turn the table)")
    pts_l, nrm_l, geom_l, ci, pi, trans, rot, q = [], [], [], [], [], [], [], []
    Rs = augment_rotations(len(objects), rotation_augment, rng)
    recs = data.records
    for k, (o, m, part) in enumerate(zip(objects, per_object, partial)):
        view = int(rng.integers(views)) if part else None
        pts, nrm, rows, near = data.lookup(o, view)
        if len(rows) == 0:                      # nothing visible in this view: use the full surface
            pts, nrm, rows, near = data.lookup(o, None)
        pick = rng.integers(len(rows), size=m)
        A = Rs[k]
        pts_l.append(pts @ A.T)
        nrm_l.append(nrm @ A.T)
        geom_l.append(data.clouds.geom(o) @ A.T)
        ci.append(np.full(m, k))
        pi.append(near[pick])
        r = rows[pick]
        trans.append(recs.trans[r].astype(np.float64) @ A.T)
        rot.append(A[None] @ data.rot[r])
        q.append(recs.grasp[r])
    dev, dt = model.to_mu.weight.device, model.to_mu.weight.dtype

    def T(a, d=dt):
        return torch.as_tensor(np.concatenate(a) if isinstance(a, list) else a, dtype=d, device=dev)

    x, centre = model.prepare_cloud(torch.as_tensor(np.stack(pts_l), dtype=dt, device=dev),
                                    torch.as_tensor(np.stack(nrm_l), dtype=dt, device=dev))
    cloud_idx = T(ci, torch.long)
    pose = HandPose(T(trans), matrix_to_rot6d(T(rot)), T(q))
    g = model.pose_to_vector(pose, centre[cloud_idx])
    mesh_sdf = None
    if with_sdf:
        mesh_sdf = MeshSDF([data.clouds.sdf(o).to(dev) for o in objects], T(np.stack(Rs)), centre)
    return Batch(x, centre, cloud_idx, T(pi, torch.long), g, torch.as_tensor(np.stack(geom_l), dtype=dt, device=dev),
                 mesh_sdf, -centre[:, 2].clone() if table else None)


__all__ = ["Batch", "CloudCache", "GraspData", "MeshSDF", "augment_rotations", "make_batch", "read_shards",
           "shard_paths", "split_records"]
