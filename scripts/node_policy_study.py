"""How the node picks its first grasp, replayed offline on training plans (no ROS).

Joins a ``dex1b collect-plans`` folder (each candidate's outcome on the TRUE object), its check
labels (``scripts/plan_check_labels.py``: did the node's MuJoCo check on its guess pass) and
out-of-fold evaluator probabilities (``scripts/evaluator_kfold.py --dump``), and counts how often
the first grasp lifts / holds the true object under:

* ``top1``: the evaluator's first candidate (what ``evaluator_kfold.py`` reports);
* ``node``: the first candidate in the evaluator's order that passed the check, else the
  evaluator's first (the node: ``validate_stop_after: 1``, passes first);
* ``node lift head`` / ``node free head``: the same by one head's probability instead of the product;
* ``soft l``: the highest p x (1 if passed else l): a failed check only discounts (l = 0 is ``node``);
* ``k passes, disp`` / ``k passes, links``: check on past the first pass, up to the k-th, and take the
  pass the check measured best: the object's smallest displacement / the most hand links in real
  contact (labels with ``disp_mm`` / ``n_links`` columns; the mean number of candidates checked is printed);
* ``k passes, robust`` (with ``--robust``: labels of the same check on jittered candidates,
  ``plan_check_labels.py --jitter-mm/--jitter-rad``): of the first k passes, those that also passed
  jittered first, then the smallest displacement (the node would simulate each pass once more);
* ``oracle passed`` / ``oracle``: some passing candidate / some candidate lifts (ceilings).

    .venv/bin/python scripts/node_policy_study.py --hand leap --plans data/leap_plans_carved \\
        --check out/exp/check_leap.parquet --probs out/exp/kf_leap
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

KEY = ["object_id", "view", "rank"]


def replay_table(plans: Path, check: Path, probs: Path | None = None):
    """The candidates of a collect-plans folder (held, lifted) joined with their check labels
    (``plan_check_labels.py`` output) and, given ``probs`` (one ``evaluator_kfold.py --dump`` file), the
    evaluator's probabilities and ``p`` = their product; a pandas DataFrame, one row per candidate."""
    import pandas as pd
    import pyarrow.parquet as pq
    t = pd.concat([pq.read_table(f, columns=KEY + ["held", "lifted"]).to_pandas()
                   for f in sorted(Path(plans).rglob("plans-*.parquet"))])
    d = t.merge(pq.read_table(check).to_pandas(), on=KEY)
    if probs is not None:
        d = d.merge(pq.read_table(probs).to_pandas(), on=KEY)
        d["p"] = d.p_free_space * d.p_lift
    return d


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hand", required=True)
    ap.add_argument("--plans", type=Path, required=True)
    ap.add_argument("--check", type=Path, required=True)
    ap.add_argument("--probs", type=Path, required=True, help="folder of evaluator_kfold.py --dump files")
    ap.add_argument("--soft", type=float, nargs="*", default=[0.02, 0.05, 0.1, 0.2])
    ap.add_argument("--robust", type=Path, default=None,
                    help="labels of the same check on jittered candidates (plan_check_labels.py --jitter-*)")
    a = ap.parse_args(argv)
    import pandas as pd
    import pyarrow.parquet as pq
    d = replay_table(a.plans, a.check)
    key = ["object_id", "view"]
    ok = d.check_passed
    print(f"{a.hand}: {d.groupby(key).ngroups} plans, {len(d)} candidates; check passed {ok.mean():.1%}, "
          f"lifted | passed {d[ok].lifted.mean():.1%}, lifted | failed {d[~ok].lifted.mean():.1%}")
    if a.robust is not None:
        j = pq.read_table(a.robust).to_pandas()[KEY + ["check_passed"]].rename(columns={"check_passed": "robust"})
        d = d.merge(j, on=KEY)
        ok = d.check_passed
        rb = ok & d.robust
        print(f"  jittered check: passes that pass again {rb.sum()}/{ok.sum()}; lifted | passed and passed again "
              f"{d[rb].lifted.mean():.1%}, lifted | passed, not again {d[ok & ~d.robust].lifted.mean():.1%}")

    def first(g: pd.DataFrame, score: np.ndarray, lam: float = 0.0):
        """The candidate with the highest score x (1 if passed else lam); the highest score when none passed."""
        passed = g.check_passed.to_numpy()
        s = score * np.where(passed, 1.0, lam) if passed.any() else score
        return g.iloc[int(np.argmax(s))]

    measured = "disp_mm" in d.columns      # labels that also hold what the check measured

    def among_passes(g: pd.DataFrame, score: np.ndarray, k: int, by: str):
        """Of the first ``k`` passes in the order of ``score``, the one the check liked best (``by``: the
        smallest displacement 'disp', the most links in real contact 'links', then the order); the
        first candidate by score when none passed. Also how many candidates were checked."""
        order = np.argsort(-score, kind="stable")
        passed = g.check_passed.to_numpy()[order]
        pos = np.flatnonzero(passed)
        if not len(pos):
            return g.iloc[int(order[0])], len(order)
        top = order[pos[:k]]
        if by == "disp":
            j = top[np.argmin(g.disp_mm.to_numpy()[top])]
        elif by == "robust":    # passed jittered first, then the smallest displacement
            j = top[np.lexsort((g.disp_mm.to_numpy()[top], ~g.robust.to_numpy()[top]))[0]]
        else:
            j = top[np.argmax(g.n_links.to_numpy()[top])]
        return g.iloc[int(j)], int(pos[:k][-1]) + 1

    extra = [(k, by) for k in (2, 3) for by in ("disp", "links")] if measured else []
    if a.robust is not None:
        extra += [(k, "robust") for k in (2, 3, 4)]     # k = 1 is the node's first pass: nothing to reorder
    rows = []
    for f in sorted(a.probs.glob("*.parquet")):
        e = d.merge(pq.read_table(f).to_pandas(), on=KEY)
        e["p"] = e.p_free_space * e.p_lift
        res = {"variant": f.stem, "plans": 0, "top1": 0, "node": 0, "node lift head": 0, "node free head": 0,
               **{f"soft {x:g}": 0 for x in a.soft}, **{f"{k} passes, {by}": 0 for k, by in extra},
               "oracle passed": 0, "oracle": 0}
        checked = dict.fromkeys(res, 0)    # candidates simulated, summed over plans
        held = dict.fromkeys(res, 0)
        for _, g in e.groupby(key):
            p = g.p.to_numpy()
            res["plans"] += 1
            picks = {"top1": g.iloc[int(np.argmax(p))], "node": first(g, p),
                     "node lift head": first(g, g.p_lift.to_numpy()),
                     "node free head": first(g, g.p_free_space.to_numpy())}
            picks.update({f"soft {x:g}": first(g, p, x) for x in a.soft})
            for k, by in extra:
                picks[f"{k} passes, {by}"], n_checked = among_passes(g, p, k, by)
                checked[f"{k} passes, {by}"] += n_checked
            if measured:
                checked["node"] += among_passes(g, p, 1, "disp")[1]
            for k, r in picks.items():
                res[k] += bool(r.lifted)
                held[k] += bool(r.held)
            res["oracle passed"] += bool((g.lifted & g.check_passed).any())
            res["oracle"] += bool(g.lifted.any())
        rows.append(res)
        n = res["plans"]
        print(f"  {f.stem:10s} lifted (held), % of {n}: " + ", ".join(
            f"{k} {100 * v / n:.1f}" + (f" ({100 * held[k] / n:.1f})" if k in held and held[k] else "")
            for k, v in res.items() if k not in ("variant", "plans")))
        if extra:
            print("  " + " " * 10 + " candidates checked per plan: " + ", ".join(
                f"{k} {v / n:.1f}" for k, v in checked.items() if v))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
