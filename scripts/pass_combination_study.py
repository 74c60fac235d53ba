"""Can the candidates that pass the node's check be ordered better by combining what is known of them?
(offline replay on training plans; no ROS)

For each plan of a ``dex1b collect-plans`` folder: the candidates in the evaluator's order
(out-of-fold probabilities, ``scripts/evaluator_kfold.py --dump``), their check labels WITH the
check's measurements (``scripts/plan_check_labels.py``: disp_mm, n_links, n_contacts), the first
``K`` passes. A logistic regression on [logit p_free_space, logit p_lift, log(disp_mm + 0.1), n_links,
n_contacts / 10, position among the passes] is fitted on 4/5 of the objects (folds by sha256 of the
id) and picks among the first K passes of the other fifth's plans. Prints % of plans lifted by:
the first pass (``first``), the steadier of the first two (``steady``, the node's
``pass_order: steadiest``) and the regression's pick (``model``); plans without a pass count the
evaluator's first candidate in all three.

    .venv/bin/python scripts/pass_combination_study.py --hand leap --plans data/leap_plans_carved \\
        --check out/exp/check_plane2_leap.parquet --probs out/exp/kf_leap/shipped.parquet
"""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np


def _fit(X: np.ndarray, y: np.ndarray):
    """L2-regularised logistic regression on standardised features: (mean, std, weights) torch tensors."""
    import torch
    X = torch.tensor(X, dtype=torch.float32)
    y = torch.tensor(y, dtype=torch.float32)
    mu, sd = X.mean(0), X.std(0) + 1e-6
    w = torch.zeros(X.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=200)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(((X - mu) / sd) @ w + b, y) + 1e-3 * (w ** 2).sum()
        loss.backward()
        return loss
    opt.step(closure)
    return mu, sd, w


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hand", required=True)
    ap.add_argument("--plans", type=Path, required=True, help="a collect-plans folder")
    ap.add_argument("--check", type=Path, required=True, help="plan_check_labels.py output (with disp_mm)")
    ap.add_argument("--probs", type=Path, required=True, help="one evaluator_kfold.py --dump file")
    ap.add_argument("--k", type=int, nargs="+", default=[2, 3, 4], help="passes considered")
    a = ap.parse_args(argv)
    import torch
    from node_policy_study import replay_table  # (this folder: scripts/)

    d = replay_table(a.plans, a.check, a.probs)
    if "disp_mm" not in d.columns:
        ap.error(f"--check {a.check}: no disp_mm column (labels from an older plan_check_labels.py)")

    def logit(x):
        x = np.clip(np.asarray(x, np.float64), 1e-4, 1 - 1e-4)
        return np.log(x / (1 - x))

    for K in a.k:
        plans = []
        for (o, _), g in d.groupby(["object_id", "view"]):
            g = g.sort_values("p", ascending=False, kind="stable")
            ps = g[g.check_passed].iloc[:K]
            X = (np.stack([logit(ps.p_free_space), logit(ps.p_lift), np.log(ps.disp_mm.to_numpy() + 0.1),
                           ps.n_links, ps.n_contacts / 10, np.arange(len(ps))], 1) if len(ps) else np.zeros((0, 6)))
            plans.append(dict(X=X, y=ps.lifted.to_numpy().astype(float), top=bool(g.lifted.iloc[0]),
                              fold=int(hashlib.sha256(o.encode()).hexdigest(), 16) % 5))
        tot = {"first": 0.0, "steady": 0.0, "model": 0.0}
        for k in range(5):
            tr = [p for p in plans if p["fold"] != k and len(p["y"])]
            mu, sd, w = _fit(np.concatenate([p["X"] for p in tr]), np.concatenate([p["y"] for p in tr]))
            for p in (p for p in plans if p["fold"] == k):
                if not len(p["y"]):
                    for key in tot:
                        tot[key] += p["top"]
                    continue
                s = (((torch.tensor(p["X"], dtype=torch.float32) - mu) / sd) @ w).detach().numpy()
                tot["first"] += p["y"][0]
                tot["steady"] += p["y"][int(np.argmin(p["X"][:2, 2]))]
                tot["model"] += p["y"][int(np.argmax(s))]
        print(f"{a.hand} K={K}: lifted, % of {len(plans)} plans: "
              + ", ".join(f"{k} {100 * v / len(plans):.1f}" for k, v in tot.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
