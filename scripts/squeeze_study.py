"""Why dataset grasps fail in MuJoCo, and what the squeeze construction changes (docs/RESULTS.md,
"Why grasps failed"). Replays stored grasps of a dataset build round on the first ``--objects``
training objects (a fixed hash order), at most ``--per-object`` grasps each:

* ``phases``: the object's displacement (mm) after pregrasp -> grasp and after grasp -> squeeze,
  split by the hand-object contacts left at the end of the squeeze (stored ``n_contacts``);
* ``squeeze``: the pass rate (free-space six-direction test) of the same grasps with only the
  squeeze changed: as stored, and the balanced squeeze with its largest joint offset 0.08, 0.16
  and 0.24 rad (``GraspOptimizer.squeeze_balanced``).

    .venv/bin/python scripts/squeeze_study.py --hand leap --round 2 --objects 20 --per-object 30
"""
import argparse
import time

import duckdb
import mujoco
import numpy as np
import torch

from dex1b_ros.dataset import stages as S
from dex1b_ros.hands.model import HandPose
from dex1b_ros.optim import GraspOptimizer
from dex1b_ros.rotation import matrix_to_rot6d, quat_to_matrix

DELTAS = (0.08, 0.16, 0.24)


def rows_of(con, obj: str, n: int):
    rows = con.execute(f"SELECT trans, quat, pregrasp, grasp, squeeze, n_contacts, success FROM g "
                       f"WHERE object_id = ? AND success IS NOT NULL LIMIT {int(n)}", [obj]).fetchall()
    cols = [np.array([r[i] for r in rows], np.float32) for i in range(5)]
    return cols, np.array([r[5] for r in rows]), np.array([r[6] for r in rows])


def phases(hand_name: str, obj: str, cols, contacts) -> list[tuple[int, float, float]]:
    """(n_contacts, mm after the grasp phase, mm after the squeeze phase) per grasp."""
    sim = S._validator(hand_name, obj, None)._sim(False)
    m, d, c, s = sim.m, sim.d, sim.c, sim.s
    out = []
    for tr, qu, pre, gr, sq, nc in zip(*cols, contacts):
        sim.place(tr.astype(float), qu.astype(float), pre.astype(float))
        disp = []
        for a, b, T in ((pre, gr, c.pregrasp_to_grasp_time), (gr, sq, c.grasp_to_squeeze_time)):
            n = c.steps(T)
            for k in range(1, n + 1):
                d.ctrl[s.hand_act] = np.clip(a + (b - a) * (k / n), s.ctrl_lo, s.ctrl_hi)
                mujoco.mj_step(m, d)
            mujoco.mj_kinematics(m, d)
            disp.append(1000 * float(np.linalg.norm(d.xpos[s.obj_body])))   # the object starts at the origin
        out.append((int(nc), *disp))
    return out


def squeezes(hand_name: str, obj: str, cols) -> dict[str, np.ndarray]:
    """Pass/fail per grasp for the stored squeeze and each balanced one."""
    tr, qu, pre, gr, sq = cols
    hand = S._hand(hand_name, None)
    opt = GraspOptimizer(hand, S._field(obj))
    R = quat_to_matrix(torch.as_tensor(qu, dtype=hand.dtype))
    pose = HandPose(torch.as_tensor(tr, dtype=hand.dtype), matrix_to_rot6d(R), torch.as_tensor(gr, dtype=hand.dtype))
    p, _ = hand.contact_candidates(pose)
    _, near = opt.nearest_per_finger(opt.field.sdf(p))
    active = near < 0.005                                     # the builder's contact tolerance (5 mm)
    v = S._validator(hand_name, obj, None)
    out = {"stored": v.validate(tr, qu, pre, gr, sq).success}
    for delta in DELTAS:
        q_sq = opt.squeeze_balanced(pose, active, delta).numpy()
        out[f"balanced {delta:.2f}"] = v.validate(tr, qu, pre, gr, q_sq).success
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hand", default="leap")
    ap.add_argument("--round", type=int, default=2)
    ap.add_argument("--objects", type=int, default=20)
    ap.add_argument("--per-object", type=int, default=30)
    ap.add_argument("--study", choices=("phases", "squeeze", "both"), default="both")
    a = ap.parse_args(argv)
    con = duckdb.connect()
    con.execute(f"CREATE VIEW g AS SELECT * FROM read_parquet('data/{a.hand}/grasps/round={a.round}/*/*.parquet', "
                f"hive_partitioning = false)")
    objs = [r[0] for r in con.execute("SELECT DISTINCT object_id FROM g WHERE success IS NOT NULL "
                                      "ORDER BY hash(object_id) LIMIT ?", [a.objects]).fetchall()]
    t0 = time.time()
    ph, sq = [], {}
    for o in objs:
        cols, nc, _ = rows_of(con, o, a.per_object)
        if a.study in ("phases", "both"):
            ph += phases(a.hand, o, cols, nc)
        if a.study in ("squeeze", "both"):
            for k, v in squeezes(a.hand, o, cols).items():
                sq.setdefault(k, []).append(v)
        print(f"{o}: {len(nc)} grasps ({time.time() - t0:.0f} s)", flush=True)
    if ph:
        x = np.array(ph)
        print("\ncontacts after the squeeze | grasps | object moved, grasp phase (median, p75 mm) | squeeze phase")
        for name, mk in (("0", x[:, 0] <= 0), ("1-2", (x[:, 0] > 0) & (x[:, 0] < 3)), ("3+", x[:, 0] >= 3)):
            if mk.any():
                g, s = x[mk, 1], x[mk, 2]
                print(f"{name} | {mk.sum()} | {np.median(g):.1f}, {np.percentile(g, 75):.1f} | "
                      f"{np.median(s):.1f}, {np.percentile(s, 75):.1f}")
    if sq:
        print("\nsqueeze | pass rate of the same grasps")
        for k, v in sq.items():
            v = np.concatenate(v)
            print(f"{k} | {100 * v.mean():.1f} % of {len(v)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
