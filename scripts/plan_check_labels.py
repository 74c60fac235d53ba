"""The node's own MuJoCo check (on its GUESS of the object, the completed single view, as a tabletop
lift) for every stored candidate of a ``dex1b collect-plans`` folder, recomputed offline (no ROS).

Each plan's candidates are recomputed from its stored view seed with the node's current settings
(preprocess, prepare, sample, refine: deterministic) and matched to the stored ones by their
``candidate`` index (the stored wrist positions must agree: plans that do not reproduce are
counted); then every candidate of the stored window is checked (``validate_stop_after: 0``).

    .venv/bin/python scripts/plan_check_labels.py --hand leap --plans data/leap_plans_carved \\
        --out out/exp/check_leap.parquet

``--stored``: do not recompute the candidates (for collections made with older planner settings,
which no longer reproduce, or to try a check setting that does not change the candidates): check the
STORED candidate poses against the guess the node makes now of the same view (trans_diff is then NaN).
``--set KEY=VALUE ...``: planner settings (e.g. ``validation.check_table=plane``).
``--jitter-mm M --jitter-rad R`` (with ``--stored``): check every stored candidate moved by a random
wrist offset (normal, M mm per axis) and joint offset (normal, R rad per joint, the same for pregrasp,
grasp and squeeze), seeded by ``--jitter-seed`` and the plan: does a pass survive a small error?

Output: one row per stored candidate: object_id, view, rank, check_passed, trans_diff (m), and what the
check measured: disp_mm (the object's largest displacement; NaN if rejected before simulating),
n_links (hand links in real contact), n_contacts. ~2 s a
plan on one core (LEAP, 32 candidates). Used by scripts/node_policy_study.py.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hand", required=True)
    ap.add_argument("--plans", type=Path, required=True, help="a collect-plans folder")
    ap.add_argument("--out", type=Path, required=True, help="output .parquet")
    ap.add_argument("--stored", action="store_true",
                    help="check the stored candidate poses (no recomputation; for older collections)")
    ap.add_argument("--match", default="", metavar="REGEX", help="only the plans whose object_id matches (re.search)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="planner settings for the recomputation and the check, e.g. validation.check_table=plane "
                         "(VALUE read as YAML)")
    ap.add_argument("--jitter-mm", type=float, default=0.0, help="wrist offset sigma, mm (with --stored)")
    ap.add_argument("--jitter-rad", type=float, default=0.0, help="joint offset sigma, rad (with --stored)")
    ap.add_argument("--jitter-seed", type=int, default=0)
    a = ap.parse_args(argv)
    if (a.jitter_mm or a.jitter_rad) and not a.stored:
        ap.error("--jitter-mm / --jitter-rad need --stored")
    import yaml
    over = {}
    for kv in a.set:
        if "=" not in kv:
            ap.error(f"--set {kv!r}: expected KEY=VALUE")
        k, v = kv.split("=", 1)
        over[k] = yaml.safe_load(v)
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch
    from tqdm import tqdm

    from dex1b_ros.evaluator.collect import make_pipeline, read_plans
    from dex1b_ros.objects import load_object
    from dex1b_ros.planner.bench_quality import view_scene
    from dex1b_ros.planner.pipeline import _Run
    torch.set_num_threads(1)
    t = read_plans(sorted(a.plans.rglob("plans-*.parquet")))
    cols = ["object_id", "view", "view_seed", "rank", "candidate", "trans"]
    if a.stored:
        cols += ["quat", "pregrasp", "grasp", "squeeze", "penetration_mm", "accepted"]
    df = t.select(cols).to_pandas()
    if a.match:
        df = df[df.object_id.str.contains(a.match, regex=True)]
        if df.empty:
            ap.error(f"--match {a.match!r}: no plan's object_id matches")
    top_k = int(df["rank"].max()) + 1
    pipe = make_pipeline(a.hand, top_k, {**over, "validation.validate_stop_after": 0, "validation.num_validate": top_k})
    out = {k: [] for k in ("object_id", "view", "rank", "check_passed", "trans_diff", "disp_mm", "n_links",
                           "n_contacts")}
    bad = 0
    for (oid, v), g in tqdm(list(df.groupby(["object_id", "view"])), desc=f"check {a.hand}", unit="plan"):
        g = g.sort_values("rank")
        p, n, plane = view_scene(load_object(oid).mesh, a.hand, int(g.view_seed.iloc[0]))
        run = _Run.new(pipe.config)
        prep = pipe.prepare(run, pipe.preprocess(run, p, n, plane))
        if a.stored:
            from dex1b_ros.optim.optimizer import GraspSet

            x = {k: np.stack(g[k].to_numpy()).astype(np.float64) for k in ("trans", "quat", "pregrasp", "grasp",
                                                                           "squeeze")}
            B = len(g)
            if a.jitter_mm or a.jitter_rad:
                rng = np.random.default_rng([a.jitter_seed, int(g.view_seed.iloc[0]), int(v)])
                x["trans"] = x["trans"] + rng.normal(0.0, a.jitter_mm * 1e-3, x["trans"].shape)
                dq = rng.normal(0.0, a.jitter_rad, x["grasp"].shape)
                lo, hi = pipe.hand.lower_np, pipe.hand.upper_np
                for k in ("pregrasp", "grasp", "squeeze"):
                    x[k] = np.clip(x[k] + dq, lo, hi)
            gs = GraspSet(a.hand, x["trans"], x["quat"], x["pregrasp"], x["grasp"], x["squeeze"], {},
                          np.zeros(B), g.penetration_mm.to_numpy() * 1e-3,
                          np.zeros((B, len(pipe.hand.tip_names)), bool), g.accepted.to_numpy().astype(bool))
            cand, diff = np.arange(B), float("nan")
        else:
            gs, _ = pipe.refine(run, prep, pipe.sample(run, prep))
            cand = g.candidate.to_numpy()
            diff = float(np.abs(gs.trans[cand] - np.stack(g.trans.to_numpy())).max())
            bad += diff > 1e-4
        c = pipe.check(run, prep, gs, cand)
        for r, i in zip(g["rank"], cand):
            for k, x in zip(out, (oid, int(v), int(r), bool(c.success[i]), diff, float(c.disp_mm[i]), int(c.n_links[i]),
                                  int(c.n_contacts[i]))):
                out[k].append(x)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(out), a.out, compression="zstd")
    print(f"{a.hand}: {len(out['rank'])} candidates of {df.groupby(['object_id', 'view']).ngroups} plans checked; "
          f"{bad} plans did not reproduce (trans differs > 0.1 mm) -> {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
