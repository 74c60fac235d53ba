"""Benchmark of the grasp validator: tests/s per hand on 1 and N processes, and verdict
agreement of the fast mode with the slow reference (no early exit, closing re-simulated for
every direction) on a fixed, seeded set of grasps.

    python -m dex1b_ros.validate.bench [--hands leap allegro] [--n 48] [--workers 1 2] [--seed 0]

Grasp set (deterministic, :func:`sample_grasps`): per object (a cylinder, a box, a flat box),
wrist poses whose palm faces the object centre from a random direction with a random roll
and a stand-off of 0-3 cm, fingers closed until contact with
:func:`~dex1b_ros.validate.close_fingers_until_contact` from the open pose toward a power-grasp
pose. It mixes passing grasps, slips, ejections and pre-filter rejections like a planner's
raw output does.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import mujoco
import numpy as np
import trimesh

from ..hands import load_hand_config, load_hand_spec
from .config import ValidatorConfig
from .validator import GraspValidator, close_fingers_until_contact

#: Closed (power-grasp) pose per hand, driver order; the sweep stops each finger at contact.
CLOSED_POSE = {
    "leap": [1.6, 0.0, 1.6, 1.4] * 3 + [1.6, 1.2, 0.6, 0.8],
    "allegro": [0.0, 1.4, 1.4, 1.2] * 3 + [1.3, 0.8, 1.0, 1.0],
}


def bench_objects() -> dict[str, trimesh.Trimesh]:
    """Fixed test objects (object frame at the centre, metres): three convex primitives and
    two concave test-split objects simulated as their convex decomposition."""
    from ..objects import make_object

    return {"cylinder": trimesh.creation.cylinder(radius=0.03, height=0.14, sections=32),
            "box": trimesh.creation.box(extents=[0.05, 0.06, 0.12]),
            "flatbox": trimesh.creation.box(extents=[0.09, 0.04, 0.03]),
            "mug": make_object("mug", 80).mesh,
            "banana": make_object("banana", 80).mesh}


def decomposition_rows(objs: dict[str, trimesh.Trimesh], config: ValidatorConfig) -> list[tuple]:
    """Per object: parts, seconds to decompose with a cold cache, seconds with the disk
    cache, and how well the parts hug the mesh (decompose.decomposition_error)."""
    import os
    import tempfile

    from ..geometry.decompose import CACHE_ENV, convex_parts, decomposition_error

    rows = []
    old = os.environ.get(CACHE_ENV)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[CACHE_ENV] = tmp
        try:
            for name, mesh in objs.items():
                t0 = time.perf_counter()
                parts = convex_parts(mesh, config.decomposition)
                cold = time.perf_counter() - t0
                t0 = time.perf_counter()
                convex_parts(mesh, config.decomposition)
                warm = time.perf_counter() - t0
                e = decomposition_error(mesh, parts, n_samples=10000)
                rows.append((name, len(parts), cold, warm, e["volume_ratio"], e["hull_volume_ratio"],
                             e["excess_max_m"] * 1e3, e["missing_max_m"] * 1e3))
        finally:
            if old is None:
                os.environ.pop(CACHE_ENV, None)
            else:
                os.environ[CACHE_ENV] = old
    return rows


def _quat_wxyz(R: np.ndarray) -> np.ndarray:
    w = np.sqrt(max(1e-12, 1.0 + R[0, 0] + R[1, 1] + R[2, 2])) / 2
    if w > 1e-3:
        return np.array([w, (R[2, 1] - R[1, 2]) / (4 * w), (R[0, 2] - R[2, 0]) / (4 * w),
                         (R[1, 0] - R[0, 1]) / (4 * w)])
    i = int(np.argmax(np.diag(R)))
    j, k = (i + 1) % 3, (i + 2) % 3
    s = np.sqrt(max(1e-12, 1.0 + R[i, i] - R[j, j] - R[k, k])) * 2
    q = np.zeros(4)
    q[0] = (R[k, j] - R[j, k]) / s
    q[1 + i] = s / 4
    q[1 + j] = (R[j, i] + R[i, j]) / s
    q[1 + k] = (R[k, i] + R[i, k]) / s
    return q / np.linalg.norm(q)


def _perp(v: np.ndarray, hint: np.ndarray | None = None) -> np.ndarray:
    """Unit vector orthogonal to unit ``v`` (the part of ``hint`` orthogonal to it, if usable)."""
    e = np.eye(3)[int(np.argmin(np.abs(v)))] if hint is None else np.asarray(hint, np.float64)
    p = e - v * (v @ e)
    if np.linalg.norm(p) < 1e-6:
        return _perp(v)
    return p / np.linalg.norm(p)


def palm_facing_pose(palm_center: np.ndarray, approach: np.ndarray, toward: np.ndarray, roll: float,
                     distance: float, palm_axis=None, object_axis=None) -> tuple[np.ndarray, np.ndarray]:
    """Wrist pose (pos (3,) m, quat (4,) wxyz, object frame) whose palm ``approach`` (palm
    frame unit vector) points along ``toward`` (object-frame unit vector, the direction from
    the palm to the object origin), with ``palm_axis`` (palm frame) mapped onto ``object_axis``
    (object frame) (both made orthogonal to the approach; arbitrary when None), then rolled by
    ``roll`` rad about the approach; the palm centre (palm frame, m) is ``distance`` m from the
    object origin."""
    a = approach / np.linalg.norm(approach)
    u = toward / np.linalg.norm(toward)
    pa, pu = _perp(a, palm_axis), _perp(u, object_axis)
    c, s = np.cos(roll), np.sin(roll)
    pu = c * pu + s * np.cross(u, pu)
    P = np.stack([a, pa, np.cross(a, pa)], 1)
    O = np.stack([u, pu, np.cross(u, pu)], 1)
    R = O @ P.T
    t = -u * distance - R @ palm_center
    return t, _quat_wxyz(R)


@dataclass
class PalmFrame:
    """Palm geometry of a hand in the palm (wrist) frame, from its MuJoCo model.

    center (3,) m: centre of the palm's collision boxes moved along ``approach`` onto their
    support plane (the palm surface); approach (3,) unit: mean direction in which the tips
    of ``palm.approach_joints``' fingers move when those joints flex (where the palm faces);
    spread (3,) unit: along the row of non-thumb fingertips at the open pose."""

    center: np.ndarray
    approach: np.ndarray
    spread: np.ndarray


def palm_frame(hand: str) -> PalmFrame:
    """:class:`PalmFrame` of a hand (MuJoCo kinematics only, ~10 ms)."""
    cfg = load_hand_config(hand)
    _, spec = load_hand_spec(cfg)
    m = spec.compile()
    d = mujoco.MjData(m)
    jadr = {j: m.jnt_qposadr[m.joint(j).id] for j in cfg.joint_names}
    tips = [m.body(b).id for f, b in cfg.fingertips.items() if f != "thumb"]

    def tip_pos(q):
        for j, v in zip(cfg.joint_names, q):
            d.qpos[jadr[j]] = v
        mujoco.mj_kinematics(m, d)
        return d.xpos[tips].copy()

    q0 = np.asarray(cfg.open_pose, np.float64)
    q1 = q0.copy()
    for j in cfg.palm.approach_joints:
        q1[cfg.joint_names.index(j)] += 0.2 * cfg.contacts.flex_sign
    p0, p1 = tip_pos(q0), tip_pos(q1)
    move = p1 - p0
    a = (move / np.linalg.norm(move, axis=1, keepdims=True)).mean(0)
    a /= np.linalg.norm(a)
    _, _, vt = np.linalg.svd(p0 - p0.mean(0))
    palm = m.body(cfg.root_body).id
    corners = []
    for g in range(m.ngeom):
        if m.geom_bodyid[g] == palm and (m.geom_contype[g] or m.geom_conaffinity[g]):
            c, h = m.geom_aabb[g, :3], m.geom_aabb[g, 3:]
            local = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * h + c
            corners.append(local @ d.geom_xmat[g].reshape(3, 3).T + d.geom_xpos[g])
    corners = np.concatenate(corners)
    mid = (corners.min(0) + corners.max(0)) / 2
    center = mid + a * np.max((corners - mid) @ a)
    return PalmFrame(center=center, approach=a, spread=vt[0])


def sample_grasps(hand: str, mesh: trimesh.Trimesh, n: int, seed: int, config: ValidatorConfig | None = None,
                  aligned: float = 0.5):
    """``n`` seeded grasps of ``hand`` on ``mesh``. A fraction ``aligned`` approaches
    perpendicular to the object's longest axis with the finger row along it (+-20 deg), the
    rest from uniformly random directions and rolls. The palm plane is put 0.2-2 cm outside
    the object's support plane, then the fingers close until contact (see module docstring).
    Returns dict of arrays: wrist_pos (n,3), wrist_quat (n,4), pregrasp/grasp/squeeze (n,J)."""
    cfg = load_hand_config(hand)
    pf = palm_frame(hand)
    c, a, spread = pf.center, pf.approach, pf.spread
    verts = np.asarray(mesh.convex_hull.vertices)
    _, _, vt = np.linalg.svd(verts - verts.mean(0))
    long_axis = vt[0]
    rng = np.random.default_rng(seed)
    open_q, closed = np.asarray(cfg.open_pose), np.asarray(CLOSED_POSE[hand])
    out = {k: [] for k in ("wrist_pos", "wrist_quat", "pregrasp", "grasp", "squeeze")}
    for i in range(n):
        if i < aligned * n:
            u = _perp(long_axis, rng.normal(size=3))
            roll = np.radians(rng.uniform(-20, 20)) + np.pi * rng.integers(2)
            t, q = None, (u, roll, spread, long_axis)
        else:
            u = rng.normal(size=3)
            u /= np.linalg.norm(u)
            q = (u, rng.uniform(-np.pi, np.pi), None, None)
        dist = float(np.max(verts @ -u)) + rng.uniform(0.002, 0.02)
        t, q = palm_facing_pose(c, a, q[0], q[1], dist, q[2], q[3])
        g = close_fingers_until_contact(cfg, mesh, t, q, open_q, closed, config)
        for k, v in (("wrist_pos", t), ("wrist_quat", q), ("pregrasp", g.pregrasp), ("grasp", g.grasp),
                     ("squeeze", g.squeeze)):
            out[k].append(v)
    return {k: np.array(v) for k, v in out.items()}


def _run(hand: str, objs: dict, grasps: dict, config: ValidatorConfig, workers: int):
    """Validate every object's grasps; returns (verdicts concatenated, seconds, n)."""
    cfg = load_hand_config(hand)
    verdicts, seconds, n = [], 0.0, 0
    for name, mesh in objs.items():
        g = grasps[name]
        with GraspValidator(cfg, mesh, config, workers=workers) as v:
            if workers > 1:  # start the pool (and compile in each worker) outside the timing
                v.validate(*(x[:workers] for x in g.values()))
            t0 = time.perf_counter()
            r = v.validate(g["wrist_pos"], g["wrist_quat"], g["pregrasp"], g["grasp"], g["squeeze"])
            seconds += time.perf_counter() - t0
        verdicts.append(r)
        n += len(r)
    return verdicts, seconds, n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="dex1b bench validate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--hands", nargs="+", default=["leap", "allegro"])
    ap.add_argument("--n", type=int, default=48, help="grasps per object")
    ap.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    fast = ValidatorConfig()
    ref = fast.reference()
    objs = bench_objects()
    rows = []
    for hand in args.hands:
        grasps = {name: sample_grasps(hand, m, args.n, args.seed + i) for i, (name, m) in enumerate(objs.items())}
        ref_res, ref_s, n = _run(hand, objs, grasps, ref, 1)
        ref_ok = np.concatenate([r.success for r in ref_res])
        rej = np.concatenate([r.rejected_by_prefilter for r in ref_res])
        rows.append((hand, "reference", 1, n, ref_s, n / ref_s, int(ref_ok.sum()), int(rej.sum()), "-"))
        for w in args.workers:
            res, s, n = _run(hand, objs, grasps, fast, w)
            ok = np.concatenate([r.success for r in res])
            agree = f"{int((ok == ref_ok).sum())}/{n}"
            rows.append((hand, "fast", w, n, s, n / s, int(ok.sum()), int(rej.sum()), agree))
        # worst case for the fast mode: only grasps that pass (all six directions simulated)
        passing = {name: {k: v[r.success] for k, v in grasps[name].items()} for name, r in zip(objs, ref_res)}
        keep = {name: m for name, m in objs.items() if len(passing[name]["wrist_pos"])}
        for w in args.workers:
            res, s, n = _run(hand, keep, passing, fast, w)
            ok = np.concatenate([r.success for r in res])
            rows.append((hand, "fast, passing only", w, n, s, n / s, int(ok.sum()), 0, f"{int(ok.sum())}/{n}"))
    print("object | parts | decompose s (cold) | s (cached) | union/mesh volume | hull/mesh volume | "
          "excess max mm | missing max mm")
    print(" | ".join("---" for _ in range(8)))
    for r in decomposition_rows(objs, fast):
        print(f"{r[0]} | {r[1]} | {r[2]:.2f} | {r[3]:.3f} | {r[4]:.3f} | {r[5]:.2f} | {r[6]:.1f} | {r[7]:.1f}")
    print()
    head = ("hand", "mode", "workers", "grasps", "seconds", "tests/s", "success", "rejected", "agree w/ ref")
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for r in rows:
        print(" | ".join([r[0], r[1], str(r[2]), str(r[3]), f"{r[4]:.2f}", f"{r[5]:.1f}", str(r[6]), str(r[7]), r[8]]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
