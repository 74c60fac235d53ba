"""Compare grasp-evaluator settings by K-fold over objects on the planner's own candidates (no ROS).

For each variant (EvaluatorConfig fields as JSON) and each fold k of K (objects by sha256 of the
id, mod K): train on every plan row of ``--train`` whose object is not in fold k, then rank the
``--eval`` plans of fold-k objects (accepted first, then the evaluator: free-space head, lift
head, product) and count how often the first candidate held / lifted the TRUE object. Every
eval plan is scored exactly once, by a model that never saw its object. Baselines in the same
rows: ``energy`` = each plan's stored rank 0 (for on-policy collections, the order of the
evaluator that collected them) and ``any`` = the ceiling (some candidate held / lifted).

    .venv/bin/python scripts/evaluator_kfold.py --hand leap \
        --train data/leap_plans_table data/leap_plans_onpolicy data/leap_plans_balanced data/leap_plans_carved \
        --eval data/leap_plans_balanced data/leap_plans_carved \
        --variants '{"shipped": {"rank_weight": 1.0, "plane_features": true, "steps": 3000},
                     "ensemble3": {"rank_weight": 1.0, "plane_features": true, "ensemble": 3}}'

(the 2026-12-05 comparison, docs/RESULTS.md; "ensemble": N averages the probabilities of N models
with seeds seed .. seed + N - 1; each line also reports ``both_unfiltered``: the product of both
heads without the energy filter's accepted first, the node's default order.)

~40-80 s per fold and variant on one core (1500 steps).
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import time
from pathlib import Path

import numpy as np


def fold_of(object_id: str, k: int) -> int:
    return int(hashlib.sha256(object_id.encode()).hexdigest(), 16) % k


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hand", required=True)
    ap.add_argument("--train", type=Path, nargs="+", required=True, help="collect-plans folders to train on")
    ap.add_argument("--eval", type=Path, nargs="+", required=True,
                    help="collect-plans folder(s) whose plans are ranked")
    ap.add_argument("--variants", default='{"base": {}}', help="JSON {name: {EvaluatorConfig field: value}}")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--dump", type=Path, default=None, metavar="DIR",
                    help="also write each variant's out-of-fold probabilities of every --eval row to "
                         "DIR/<variant>.parquet (object_id, view, rank, p_free_space, p_lift)")
    a = ap.parse_args(argv)
    if a.dump is not None and len(a.eval) > 1:
        ap.error("--dump: give one --eval folder (rows are keyed by object_id, view, rank, which folders share)")

    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    from dex1b_ros.evaluator.collect import read_plans, read_plans_checked
    from dex1b_ros.evaluator.config import EvaluatorConfig
    from dex1b_ros.evaluator.data import make_plan_data
    from dex1b_ros.evaluator.train import plan_metrics, predict_records, prepare, train
    from dex1b_ros.hands import load_hand
    torch.set_num_threads(1)
    hand = load_hand(a.hand)
    variants = json.loads(a.variants)
    if any(v.get("rank_checked") for v in variants.values()):   # each folder joined with <folder>_check
        plans = read_plans_checked(a.train)
    else:
        plans = read_plans([s for p in a.train for s in sorted(p.rglob("plans-*.parquet"))])
    ev_plans = read_plans([s for p in a.eval for s in sorted(p.rglob("plans-*.parquet"))])
    fo = np.array([fold_of(o, a.folds) for o in plans.column("object_id").to_pylist()])
    eids = sorted(set(ev_plans.column("object_id").to_pylist()))
    for name, over in variants.items():   # "ensemble": N averages N seeds' models
        tot: dict[str, int] = {}
        dumped = []
        for k in range(a.folds):
            over = dict(over)
            n_models = int(over.pop("ensemble", 1))     # > 1: the mean probability of models with seeds seed ...
            cfg = EvaluatorConfig(**{"steps": 1500, **over})
            t = time.time()
            va = [o for o in eids if fold_of(o, a.folds) == k]
            d, pid = make_plan_data(ev_plans, hand.name, list(hand.joint_names), va, cfg.views_per_object)
            prob = 0.0
            inputs = prepare(hand, d, cfg.plane_features, cfg.energy_features)
            for m in range(n_models):
                cm = dataclasses.replace(cfg, seed=cfg.seed + m)
                res = train(hand, None, cm, progress=False, log=lambda *x: None, plans=plans.filter(fo != k))
                prob = prob + predict_records(res.model, inputs, cfg.n_points, seed=1) / n_models
            ids = np.asarray(ev_plans.column("object_id").to_pylist(), dtype=object)
            sub = ev_plans.filter(np.isin(ids, d.objects))
            pm = plan_metrics(prob, d, pid, np.asarray(sub.column("accepted").to_pylist(), bool),
                              np.asarray(sub.column("rank").to_pylist(), np.int64))
            for key, v in pm.items():
                tot[key] = tot.get(key, 0) + v
            if a.dump is not None:
                dumped.append(sub.select(["object_id", "view", "rank"]).append_column(
                    "p_free_space", pa.array(prob[:, 0], pa.float32())).append_column(
                    "p_lift", pa.array(prob[:, 1], pa.float32())))
            print(f"{name} fold {k}: {time.time() - t:.0f} s, {json.dumps(pm)}", flush=True)
        if a.dump is not None:
            a.dump.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.concat_tables(dumped), a.dump / f"{name}.parquet")
        n = max(tot["plans"], 1)
        print(f"{name}: {tot['plans']} plans; first candidate held / lifted, %: "
              + ", ".join(f"{r} {100 * tot[f'first_held_{r}'] / n:.1f} / {100 * tot[f'first_lifted_{r}'] / n:.1f}"
                          for r in ("energy", "evaluator", "lift_head", "both", "both_unfiltered"))
              + f"; any {100 * tot['any_candidate_held'] / n:.1f} / {100 * tot['any_candidate_lifted'] / n:.1f}",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
