"""Saved plans: one plan of the grasp planner in one ``.npz`` file (no ROS, no pickle).

What ``dex1b view`` shows and what the node (``save_plans_dir``) and ``dex1b eval``
(``--save-plans``) write. Everything is in the planning frame, metres and radians; quaternions
are (w, x, y, z); joint vectors in the hand driver's order (``joint_names``), simulation
convention (as in :class:`~dex1b_ros.planner.types.PlannedGrasp`).

The file is ``numpy.savez_compressed`` of plain arrays plus one JSON string, and loads with
``allow_pickle=False``:

==================  ===========  =====================================================================
key                 shape/dtype  meaning
==================  ===========  =====================================================================
``meta``            str (JSON)   ``format`` ("dex1b-plan"), ``version``, ``hand``, ``joint_names``,
                                 ``success``, ``message``, ``info``, ``chosen`` (index of the grasp the
                                 planner picked, -1 = none), ``frame_id``, ``source``, ``created``
                                 (unix s), ``partial``, ``timings`` (s per stage), per grasp
                                 ``grasp_type`` and ``grasp_source`` (lists of K strings)
``points``          (N, 3) f4    the object's points (after preprocessing; else the cloud as given)
``scene_points``    (M, 3) f4    the whole cloud as given (finite points, at most 20,000), may be empty
``hull_vertices``   (V, 3) f8    the completed object the planner assumed (convex hull); (0, 3) = none
``hull_faces``      (F, 3) i4    its triangles
``support_plane``   (4,) f8      [a, b, c, d], unit normal up; all NaN = none known
``wrist_pos``       (K, 3) f8    palm-frame origin of each grasp (ranked, best first)
``wrist_quat``      (K, 4) f8    palm-frame orientation (w, x, y, z)
``pregrasp``        (K, J) f8    rad, open approach posture
``grasp``           (K, J) f8    rad, fingers on the surface
``squeeze``         (K, J) f8    rad, pressed into the object
``score``           (K,) f8      ranking score, higher is better
``energy``          (K,) f8      optimizer energy
``validated``       (K,) bool    checked in MuJoCo
``sim_success``     (K,) bool    MuJoCo verdict (meaningful when validated)
``num_contacts``    (K,) i4      contacts in simulation, -1 = not simulated
``evaluator_prob``  (K,) f8      learned evaluator's success probability; NaN = none (optional key)
==================  ===========  =====================================================================
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..planner.types import PlannedGrasp, PlanResult

FORMAT = "dex1b-plan"
VERSION = 1
SUFFIX = ".npz"
#: the whole cloud is subsampled to at most this many points in a saved plan
MAX_SCENE_POINTS = 20000

_EMPTY3 = np.zeros((0, 3))


class PlanFileError(ValueError):
    """A file that is not a readable saved plan (the message names the file and what is wrong)."""


@dataclass
class SavedPlan:
    """One plan as saved (see the module docstring for frames, shapes and units)."""

    hand: str
    joint_names: list[str]
    grasps: list[PlannedGrasp]
    points: np.ndarray = field(default_factory=lambda: _EMPTY3.copy())
    scene_points: np.ndarray = field(default_factory=lambda: _EMPTY3.copy())
    hull_vertices: np.ndarray = field(default_factory=lambda: _EMPTY3.copy())
    hull_faces: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int32))
    support_plane: np.ndarray | None = None
    chosen: int = 0
    success: bool = True
    message: str = ""
    info: str = ""
    frame_id: str = ""
    source: str = ""
    partial: bool = False
    created: float = field(default_factory=time.time)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def chosen_grasp(self) -> PlannedGrasp | None:
        return self.grasps[self.chosen] if 0 <= self.chosen < len(self.grasps) else None


def _finite_subset(points, limit: int, seed: int = 0) -> np.ndarray:
    if points is None:
        return _EMPTY3.copy()
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    p = p[np.isfinite(p).all(1)]
    if len(p) > limit:
        p = p[np.sort(np.random.default_rng(seed).choice(len(p), limit, replace=False))]
    return p


def from_result(result: PlanResult, points: np.ndarray | None = None, frame_id: str = "",
                source: str = "") -> SavedPlan:
    """A :class:`SavedPlan` of ``result``. Its ``scene`` (``plan(keep_scene=True)``) gives the
    object points, completed shape and support plane; ``points`` (N, 3) m, the cloud given to the
    planner, fills in the cloud when the result has no scene (any planner). The chosen grasp is
    the first (the planner ranks best first), none when the plan failed without grasps."""
    sc = result.scene
    raw = points if points is not None else (sc.raw_points if sc is not None else None)
    scene_points = _finite_subset(raw, MAX_SCENE_POINTS)
    obj = _finite_subset(sc.object_points, 10 ** 6) if sc is not None and len(sc.object_points) else scene_points
    return SavedPlan(
        hand=result.hand, joint_names=list(result.joint_names), grasps=list(result.grasps), points=obj,
        scene_points=scene_points,
        hull_vertices=sc.hull_vertices if sc is not None else _EMPTY3.copy(),
        hull_faces=sc.hull_faces if sc is not None else np.zeros((0, 3), np.int32),
        support_plane=sc.support_plane if sc is not None else None,
        chosen=0 if result.grasps else -1, success=result.success, message=result.message, info=result.info,
        frame_id=frame_id, source=source, partial=bool(sc is not None and sc.partial),
        timings={k: float(v) for k, v in result.timings.items()})


def save_plan(plan: SavedPlan, path: str | Path) -> Path:
    """Write ``plan`` to ``path`` (``.npz`` added when missing; parent folders made). Written to a
    temporary name first, then renamed: a reader never sees half a file."""
    path = Path(path)
    if path.suffix != SUFFIX:
        path = path.with_name(path.name + SUFFIX)
    path.parent.mkdir(parents=True, exist_ok=True)
    g = plan.grasps
    J = len(plan.joint_names)

    def stack(key, width):
        return np.array([np.asarray(getattr(x, key), dtype=np.float64) for x in g]).reshape(len(g), width)

    meta = dict(format=FORMAT, version=VERSION, hand=plan.hand, joint_names=list(plan.joint_names),
                success=bool(plan.success), message=plan.message, info=plan.info, chosen=int(plan.chosen),
                frame_id=plan.frame_id, source=plan.source, created=float(plan.created), partial=bool(plan.partial),
                timings={k: float(v) for k, v in plan.timings.items()},
                grasp_type=[x.grasp_type for x in g], grasp_source=[x.source for x in g])
    arrays = dict(
        meta=np.array(json.dumps(meta)),
        points=np.asarray(plan.points, np.float32).reshape(-1, 3),
        scene_points=np.asarray(plan.scene_points, np.float32).reshape(-1, 3),
        hull_vertices=np.asarray(plan.hull_vertices, np.float64).reshape(-1, 3),
        hull_faces=np.asarray(plan.hull_faces, np.int32).reshape(-1, 3),
        support_plane=(np.full(4, np.nan) if plan.support_plane is None
                       else np.asarray(plan.support_plane, np.float64).reshape(4)),
        wrist_pos=stack("wrist_pos", 3), wrist_quat=stack("wrist_quat", 4),
        pregrasp=stack("pregrasp", J), grasp=stack("grasp", J), squeeze=stack("squeeze", J),
        score=np.array([x.score for x in g], np.float64), energy=np.array([x.energy for x in g], np.float64),
        validated=np.array([x.validated for x in g], bool), sim_success=np.array([x.sim_success for x in g], bool),
        num_contacts=np.array([x.num_contacts for x in g], np.int32))
    if any(x.evaluator_prob is not None for x in g):
        arrays["evaluator_prob"] = np.array([np.nan if x.evaluator_prob is None else x.evaluator_prob for x in g])
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    os.replace(tmp, path)
    return path


def save_result(result: PlanResult, folder: str | Path, points: np.ndarray | None = None, frame_id: str = "",
                source: str = "", stem: str | None = None) -> Path:
    """Save ``result`` as ``folder/<stem>.npz``; ``stem`` defaults to ``plan-YYYYmmdd-HHMMSS-mmm``
    (local time; a counter is appended if that name exists)."""
    folder = Path(folder)
    if stem is None:
        t = time.time()
        stem = time.strftime("plan-%Y%m%d-%H%M%S", time.localtime(t)) + f"-{int(t * 1000) % 1000:03d}"
    path, i = folder / f"{stem}{SUFFIX}", 1
    while path.exists():
        path, i = folder / f"{stem}-{i}{SUFFIX}", i + 1
    return save_plan(from_result(result, points, frame_id, source), path)


def _array(z, key: str, path: Path, shape: tuple, required: bool = True):
    if key not in z.files:
        if required:
            raise PlanFileError(f"{path}: not a saved plan: no array {key!r}")
        return None
    a = z[key]
    if len(shape) != a.ndim or any(s is not None and s != n for s, n in zip(shape, a.shape)):
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise PlanFileError(f"{path}: array {key!r} has shape {a.shape}, expected {want}")
    return a


def load_plan(path: str | Path) -> SavedPlan:
    """Read a plan saved by :func:`save_plan`. FileNotFoundError when ``path`` does not exist;
    :class:`PlanFileError` (naming the file and the field) when it is not a valid saved plan."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: plan file not found" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        z = np.load(path, allow_pickle=False)
        files = z.files
    except Exception as e:  # noqa: BLE001 - numpy raises many kinds for a non-npz file
        raise PlanFileError(f"{path}: not a saved plan (.npz): {type(e).__name__}: {e}") from None
    with z:
        if "meta" not in files:
            raise PlanFileError(f"{path}: not a saved plan: no 'meta' entry (has {sorted(files)})")
        try:
            meta = json.loads(str(z["meta"]))
        except (ValueError, TypeError) as e:
            raise PlanFileError(f"{path}: 'meta' is not JSON: {e}") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise PlanFileError(f"{path}: not a saved plan: meta.format is "
                                f"{meta.get('format') if isinstance(meta, dict) else None!r}, expected {FORMAT!r}")
        if int(meta.get("version", -1)) > VERSION:
            raise PlanFileError(f"{path}: plan format version {meta['version']} is newer than this reader's "
                                f"({VERSION}); update dex1b_ros")
        for k in ("hand", "joint_names"):
            if k not in meta:
                raise PlanFileError(f"{path}: meta has no {k!r}")
        names = list(meta["joint_names"])
        J = len(names)
        pos = _array(z, "wrist_pos", path, (None, 3))
        K = len(pos)
        a = {k: _array(z, k, path, shape) for k, shape in (
            ("wrist_quat", (K, 4)), ("pregrasp", (K, J)), ("grasp", (K, J)), ("squeeze", (K, J)),
            ("score", (K,)), ("validated", (K,)), ("sim_success", (K,)))}
        opt = {k: _array(z, k, path, shape, required=False) for k, shape in (
            ("energy", (K,)), ("num_contacts", (K,)), ("evaluator_prob", (K,)))}
        points = _array(z, "points", path, (None, 3)).astype(np.float64)
        scene = _array(z, "scene_points", path, (None, 3), required=False)
        hv = _array(z, "hull_vertices", path, (None, 3), required=False)
        hf = _array(z, "hull_faces", path, (None, 3), required=False)
        plane = _array(z, "support_plane", path, (4,), required=False)
    if hf is not None and len(hf) and (hv is None or hf.min() < 0 or hf.max() >= len(hv)):
        raise PlanFileError(f"{path}: hull_faces index outside hull_vertices ({0 if hv is None else len(hv)})")
    types = list(meta.get("grasp_type") or [""] * K)
    sources = list(meta.get("grasp_source") or [""] * K)
    if len(types) != K or len(sources) != K:
        raise PlanFileError(f"{path}: meta.grasp_type/grasp_source have {len(types)}/{len(sources)} entries "
                            f"for {K} grasps")
    grasps = []
    for i in range(K):
        ev = opt["evaluator_prob"]
        grasps.append(PlannedGrasp(
            wrist_pos=pos[i].astype(np.float64), wrist_quat=a["wrist_quat"][i].astype(np.float64),
            pregrasp=a["pregrasp"][i].astype(np.float64), grasp=a["grasp"][i].astype(np.float64),
            squeeze=a["squeeze"][i].astype(np.float64), score=float(a["score"][i]),
            energy=float(opt["energy"][i]) if opt["energy"] is not None else float("nan"),
            num_contacts=int(opt["num_contacts"][i]) if opt["num_contacts"] is not None else -1,
            validated=bool(a["validated"][i]), sim_success=bool(a["sim_success"][i]),
            grasp_type=str(types[i]), source=str(sources[i]),
            evaluator_prob=None if ev is None or not np.isfinite(ev[i]) else float(ev[i])))
    chosen = int(meta.get("chosen", 0 if K else -1))
    if not -1 <= chosen < K and not (K == 0 and chosen == 0):
        raise PlanFileError(f"{path}: meta.chosen is {chosen}, but the file has {K} grasps")
    return SavedPlan(
        hand=str(meta["hand"]), joint_names=names, grasps=grasps, points=points,
        scene_points=_EMPTY3.copy() if scene is None else scene.astype(np.float64),
        hull_vertices=_EMPTY3.copy() if hv is None else hv.astype(np.float64),
        hull_faces=np.zeros((0, 3), np.int32) if hf is None else hf.astype(np.int32),
        support_plane=None if plane is None or not np.isfinite(plane).all() else plane.astype(np.float64),
        chosen=chosen, success=bool(meta.get("success", True)), message=str(meta.get("message", "")),
        info=str(meta.get("info", "")), frame_id=str(meta.get("frame_id", "")), source=str(meta.get("source", "")),
        partial=bool(meta.get("partial", False)), created=float(meta.get("created", 0.0)),
        timings={str(k): float(v) for k, v in dict(meta.get("timings") or {}).items()})
