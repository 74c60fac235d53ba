"""Training data of the grasp evaluator (no ROS): dataset records + single views per object.

Records: every SIMULATED row of the grasp shards (``validated``: free-space success or failure,
and the tabletop lift verdict where tested; schema :mod:`dex1b_ros.records`). Grasps are in the
object's mesh frame as the dataset builder loaded it (``dex1b_ros.objects.load_object(id).mesh``,
the same resolver ``dex1b eval`` and ``dex1b bench plan-quality`` use), so the views below are
rendered from that same mesh.

Views: ``views_per_object`` simulated single depth views per object, rendered ONCE with the
evaluation's camera (:func:`dex1b_ros.eval.clouds.make_cloud`, ``"partial"``: 0.5 m away, 15-60 deg
above the object, random azimuth; seed from the object id and view index) and cached as ``.npz``
(no pickle) under ``$DEX1B_CACHE_DIR/evaluator_views`` (default ``~/.cache/dex1b_ros``; ``off``
disables the cache). Object frame, m.

Split: objects, not rows: a fixed share ``val_fraction`` of the objects (by sha256 order of the
id, seeded) is held out for validation and for choosing the decision threshold.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import re

import numpy as np

from ..records import GraspRecords
from ..resources import cache_dir

VIEWS_VERSION = "1"
"""Bump when the rendering of the cached views changes (it is part of the cache file name)."""


def view_seed(object_id: str, view: int) -> int:
    """The camera seed of view ``view`` of ``object_id`` (stable across runs and machines)."""
    return int.from_bytes(hashlib.sha256(f"dex1b-evaluator-view:{object_id}/{view}".encode()).digest()[:4], "little")


def render_views(object_id: str, views: int, points: int) -> tuple[np.ndarray, np.ndarray]:
    """(views, points, 3) float32 points and outward normals of ``views`` single views of the object
    (object frame, m); from the cache when there, else rendered and cached."""
    root = cache_dir("evaluator_views")
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", object_id) + f"-v{views}-p{points}-r{VIEWS_VERSION}.npz"
    path = None if root is None else root / name
    if path is not None and path.is_file():
        with np.load(path, allow_pickle=False) as z:
            if str(z["object_id"]) == object_id:
                return z["points"], z["normals"]
    from ..eval.clouds import make_cloud
    from ..eval.config import EvalConfig
    from ..objects import load_object
    mesh = load_object(object_id).mesh
    cfg = dataclasses.replace(EvalConfig(), cloud_points=points)
    P = np.zeros((views, points, 3), np.float32)
    N = np.zeros((views, points, 3), np.float32)
    for v in range(views):
        P[v], N[v] = make_cloud(mesh, "partial", cfg, seed=view_seed(object_id, v))
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
            np.savez(tmp, points=P, normals=N, object_id=np.array(object_id))
            os.replace(tmp, path)
        except OSError:   # a read-only cache only costs re-rendering
            pass
    return P, N


def split_objects(object_ids, val_fraction: float, seed: int = 0) -> tuple[list[str], list[str]]:
    """(train, val) object ids: the first ``round(val_fraction * n)`` (at least 1) in sha256 order of
    ``"<seed>:<id>"`` are validation objects."""
    ids = sorted(set(object_ids))
    order = sorted(ids, key=lambda o: hashlib.sha256(f"dex1b-evaluator-split:{seed}:{o}".encode()).hexdigest())
    n_val = max(1, round(val_fraction * len(ids)))
    return sorted(order[n_val:]), sorted(order[:n_val])


@dataclasses.dataclass
class EvalData:
    """The simulated records of some objects with their views (row-aligned arrays).

    view_idx (N,) int: each row's object's block in ``points`` / ``normals`` (O, V, P, 3) float32.
    plane (N, 4) float32 or None: each row's support plane [a, b, c, d] (normal up) in the rows'
    frame (the planner's candidates have one; the dataset's free-floating records do not).
    energy (N, N_ENERGY) float32 or None: each row's refinement energies against the planner's guess
    (:func:`~.model.energy_features`; the planner's candidates only).
    check (N,) bool or None: whether the node's own MuJoCo check on its guess passed each row (plan rows
    read with :func:`~.collect.read_plans_checked` only)."""

    records: GraspRecords
    objects: list[str]
    view_idx: np.ndarray
    points: np.ndarray
    normals: np.ndarray
    plane: np.ndarray | None = None
    energy: np.ndarray | None = None
    check: np.ndarray | None = None

    @property
    def free(self) -> np.ndarray:
        """(N,) float32 free-space success labels."""
        return self.records.success.astype(np.float32)

    @property
    def lift(self) -> np.ndarray:
        """(N,) float32 lift labels (0 where not tested; see ``lift_tested``)."""
        return self.records.lift_success.astype(np.float32)


def make_data(records: GraspRecords, objects: list[str], views: int, points: int, progress: bool = True) -> EvalData:
    """The simulated rows of ``records`` on ``objects``, with ``views`` rendered views each."""
    from tqdm import tqdm
    ids = np.asarray(records.object_id)
    keep = records.validated & np.isin(ids, objects)
    rec = records.select(keep)
    objs = sorted(set(np.asarray(rec.object_id).tolist()))
    P = np.zeros((len(objs), views, points, 3), np.float32)
    N = np.zeros_like(P)
    for k, o in enumerate(tqdm(objs, desc="views", unit="object", disable=not progress, leave=False)):
        P[k], N[k] = render_views(o, views, points)
    index = {o: k for k, o in enumerate(objs)}
    view_idx = np.array([index[o] for o in np.asarray(rec.object_id)], np.int64)
    return EvalData(rec, objs, view_idx, P, N)


# ---------------------------------------------------------------------- the planner's own candidates
def plan_records(table, hand: str, joint_names) -> GraspRecords:
    """GraspRecords of the candidate rows of ``dex1b collect-plans`` shards (a pyarrow Table,
    :func:`dex1b_ros.evaluator.collect.read_plans`): every row simulated (``validated``), free-space
    label = ``held``, lift tested everywhere, label = ``lifted``; energy terms from the planner's
    refinement; ``round`` = -1 (not a dataset round)."""
    from ..records import ENERGY_TERMS
    n = table.num_rows
    col = {k: table.column(k) for k in table.column_names}

    def vec(k, dt=np.float32):
        return np.stack(col[k].to_numpy(zero_copy_only=False)).astype(dt) if n else np.zeros((0, 0), dt)

    def flat(k, dt):
        return np.asarray(col[k].to_numpy(zero_copy_only=False), dt)

    held, lifted = flat("held", bool), flat("lifted", bool)
    return GraspRecords(
        object_id=np.asarray(col["object_id"].to_pylist(), dtype=object), hand=hand, joint_names=tuple(joint_names),
        round=np.full(n, -1, np.int16), trans=vec("trans"), quat=vec("quat"), pregrasp=vec("pregrasp"),
        grasp=vec("grasp"), squeeze=vec("squeeze"),
        energy={k: flat(f"energy_{k}", np.float32) for k in ENERGY_TERMS if f"energy_{k}" in col},
        validated=np.ones(n, bool), success=held, penetration_mm=flat("penetration_mm", np.float32),
        n_contacts=np.full(n, -1, np.int16), no_real_contact=np.zeros(n, bool),
        failure=np.array(["" if h else "held=False" for h in held], dtype=object),
        lift_tested=np.ones(n, bool), lift_success=lifted, stable_pose=np.full(n, -1, np.int16),
        grasp_type=np.full(n, "", dtype=object), assoc_point=np.zeros((n, 3), np.float32),
        generator_version=np.full(n, "planner", dtype=object))


def make_plan_data(table, hand: str, joint_names, objects: list[str], views: int) -> tuple[EvalData, np.ndarray]:
    """EvalData of the candidate rows of ``objects`` in ``table`` (collect-plans shards), each row seen
    through ITS OWN view: the planner's stored cloud of that plan (one block per object x view, the
    one cloud repeated ``views`` times so that any view index picks it). Also returns each row's plan
    id (N,) int (rows of one plan share it), for per-plan metrics."""
    ids = np.asarray(table.column("object_id").to_pylist(), dtype=object)
    keep = np.isin(ids, objects)
    table = table.filter(keep)
    ids = ids[keep]
    vw = np.asarray(table.column("view").to_numpy(zero_copy_only=False), np.int64)
    rank = np.asarray(table.column("rank").to_numpy(zero_copy_only=False), np.int64)
    keys = [f"{o}\x00{v}" for o, v in zip(ids, vw)]
    blocks = sorted(set(keys))
    index = {k: i for i, k in enumerate(blocks)}
    plan_id = np.array([index[k] for k in keys], np.int64)
    cp = table.column("cloud_points").to_pylist()
    cn = table.column("cloud_normals").to_pylist()
    first = {}
    for i, (k, r) in enumerate(zip(keys, rank)):
        if r == 0 and cp[i] is not None:
            first[k] = i
    missing = [k for k in blocks if k not in first]
    if missing:
        raise ValueError(f"plan shards: no stored cloud for {len(missing)} plans, e.g. {missing[0]!r}")
    P = min(len(cp[first[k]]) // 3 for k in blocks) if blocks else 1
    pts = np.zeros((len(blocks), views, P, 3), np.float32)
    nrm = np.zeros_like(pts)
    for b, k in enumerate(blocks):
        i = first[k]
        pts[b] = np.asarray(cp[i], np.float32).reshape(-1, 3)[:P]
        n = np.asarray(cn[i], np.float32).reshape(-1, 3)[:P]
        nrm[b] = n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    rec = plan_records(table, hand, joint_names)
    plane = (np.stack(table.column("support_plane").to_numpy(zero_copy_only=False)).astype(np.float32)
             if table.num_rows else np.zeros((0, 4), np.float32))
    check = (np.asarray(table.column("check_passed").to_pylist(), bool) if "check_passed" in table.column_names
             else None)
    return EvalData(rec, sorted(set(ids.tolist())), plan_id, pts, nrm, plane, plan_energy(table), check), plan_id


def plan_energy(table) -> np.ndarray:
    """(N, N_ENERGY) float32 :func:`~.model.energy_features` of collect-plans rows (their ``energy_<term>``,
    ``contact_distance_mm`` and ``penetration_mm`` columns)."""
    from .model import ENERGY_FEATURES, energy_features

    def col(k):
        if k not in table.column_names:
            raise ValueError(f"plan shards: no column {k!r} (needed by the evaluator's energy features)")
        return np.asarray(table.column(k).to_numpy(zero_copy_only=False), np.float64)
    return energy_features({k: col(f"energy_{k}") for k, _ in ENERGY_FEATURES}, col("contact_distance_mm") * 1e-3,
                           col("penetration_mm") * 1e-3)


def concat_data(parts: list[EvalData], seed: int = 0) -> EvalData:
    """One EvalData of several (records concatenated, view blocks stacked). Blocks with more points
    than the smallest are cut to a fixed random subset of that many; all must have the same number
    of views."""
    parts = [p for p in parts if len(p.records)]
    if len(parts) == 1:
        return parts[0]
    V = {p.points.shape[1] for p in parts}
    if len(V) != 1:
        raise ValueError(f"concat_data: different views per block: {sorted(V)}")
    P = min(p.points.shape[2] for p in parts)
    rng = np.random.default_rng(seed)
    pts, nrm, idx, off = [], [], [], 0
    for p in parts:
        sel = np.sort(rng.choice(p.points.shape[2], P, replace=False)) if p.points.shape[2] > P else slice(None)
        pts.append(p.points[:, :, sel])
        nrm.append(p.normals[:, :, sel])
        idx.append(p.view_idx + off)
        off += p.points.shape[0]
    plane = np.concatenate([p.plane for p in parts]) if all(p.plane is not None for p in parts) else None
    energy = np.concatenate([p.energy for p in parts]) if all(p.energy is not None for p in parts) else None
    check = np.concatenate([p.check for p in parts]) if all(p.check is not None for p in parts) else None
    return EvalData(GraspRecords.concat([p.records for p in parts]), sorted(set().union(*[p.objects for p in parts])),
                    np.concatenate(idx), np.concatenate(pts), np.concatenate(nrm), plane, energy, check)


__all__ = ["VIEWS_VERSION", "EvalData", "concat_data", "make_data", "make_plan_data", "plan_energy", "plan_records",
           "render_views", "split_objects", "view_seed"]
