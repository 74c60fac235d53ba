"""Does storing the joint vectors as float16 (grasp-record schema v3) change what the simulator says?
(docs/dataset.md, "Schema v3"). Replays stored float32 grasps (a schema-v2 round) of ``--objects``
training objects of a round (evenly spaced in sorted ids: every kind), at most ``--per-object`` grasps each, in the
free-space six-direction test twice: as stored (float32; also checks that the replay reproduces the
stored verdict) and with pregrasp / grasp / squeeze rounded to float16. Prints the verdict
agreement and the flips.

    .venv/bin/python scripts/float16_check.py --hand leap --round 6 --objects 20 --per-object 15
"""
import argparse
import time

import duckdb
import numpy as np

from dex1b_ros.dataset import stages as S


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hand", default="leap")
    ap.add_argument("--round", type=int, default=6)
    ap.add_argument("--objects", type=int, default=20)
    ap.add_argument("--per-object", type=int, default=15)
    a = ap.parse_args(argv)
    con = duckdb.connect()
    con.execute(f"CREATE VIEW g AS SELECT * FROM read_parquet('data/{a.hand}/grasps/round={a.round}/*/*.parquet', "
                "hive_partitioning = false)")
    ids = [r[0] for r in con.execute("SELECT DISTINCT object_id FROM g WHERE success IS NOT NULL "
                                     "ORDER BY object_id").fetchall()]
    objs = [ids[i] for i in np.unique(np.linspace(0, len(ids) - 1, a.objects).round().astype(int))]
    stored, f32, f16, err = [], [], [], []
    t0 = time.perf_counter()
    for obj in objs:
        rows = con.execute(f"SELECT trans, quat, pregrasp, grasp, squeeze, success FROM g WHERE object_id = ? "
                           f"AND success IS NOT NULL ORDER BY hash(grasp) LIMIT {int(a.per_object)}", [obj]).fetchall()
        tr, qu, pre, gr, sq = (np.array([r[i] for r in rows], np.float32) for i in range(5))
        v = S._validator(a.hand, obj, None)
        half = [x.astype(np.float16).astype(np.float32) for x in (pre, gr, sq)]
        err.append(max(float(np.abs(h - x).max()) for h, x in zip(half, (pre, gr, sq))))
        stored += [bool(r[5]) for r in rows]
        f32 += list(v.validate(tr, qu, pre, gr, sq).success)
        f16 += list(v.validate(tr, qu, *half).success)
        print(f"{obj}: {len(rows)} grasps, {time.perf_counter() - t0:.0f} s", flush=True)
    stored, f32, f16 = (np.asarray(x, bool) for x in (stored, f32, f16))
    n = len(stored)
    print(f"\n{a.hand} round {a.round}: {n} grasps on {len(objs)} objects; largest joint rounding "
          f"{1000 * max(err):.2f} mrad")
    print(f"replay float32 agrees with the stored verdict: {int((f32 == stored).sum())}/{n}")
    print(f"float16 agrees with the float32 replay:       {int((f16 == f32).sum())}/{n} "
          f"(pass -> fail {int((f32 & ~f16).sum())}, fail -> pass {int((~f32 & f16).sum())}); "
          f"passes {int(f32.sum())} -> {int(f16.sum())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
