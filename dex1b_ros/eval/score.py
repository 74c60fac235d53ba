"""Scoring of ``dex1b eval``: the output grasps of a row simulated on the TRUE object mesh
(six-direction MuJoCo test, tabletop lift, exact penetration, diversity, grasp types), and the
per-object records aggregated into one summary row per (input, method). The metrics themselves
are in :mod:`dex1b_ros.eval.metrics`."""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from .config import INPUTS, METHOD_TITLES, METHODS, EvalConfig
from .metrics import (
    Counts,
    active_finger_labels,
    label_entropy,
    pca_cumulative_variance,
    pose_features,
)


def _evaluate_row(ctx: dict, cfg: EvalConfig, obj, truth: dict, gs, idx: np.ndarray) -> dict:
    """Simulate ``gs[idx]`` on the true mesh; penetration, contacts, diversity, types."""
    from ..dataset.grasp_types import grasp_types
    from ..optim.metrics import exact_grasp_metrics

    hand = ctx["hand"]
    rec = {"evaluated": len(idx), "success": [], "lift": [], "rejected": 0, "pen_mm": [], "sim_pen_mm": [],
           "contacts": [], "real_links": [], "pca": math.nan, "entropy": math.nan, "types": []}
    if len(idx) == 0:
        return rec
    sub = gs.select(idx)
    v = truth["validator"]
    r6 = v.validate(sub.trans, sub.quat, sub.pregrasp, sub.grasp, sub.squeeze)
    rt = v.validate_tabletop(sub.trans, sub.quat, sub.pregrasp, sub.grasp, sub.squeeze)
    ex = exact_grasp_metrics(hand, obj.mesh, sub)
    ok = ~r6.rejected_by_prefilter
    rec.update(success=r6.success.tolist(), lift=rt.success.tolist(), rejected=int(r6.rejected_by_prefilter.sum()),
               pen_mm=(ex["penetration"] * 1e3).tolist(), sim_pen_mm=r6.penetration_mm.tolist(),
               contacts=r6.n_contacts[ok].tolist(), real_links=r6.n_real_contact_links[ok].tolist())
    nd = cfg.diversity_grasps
    if len(idx) >= nd:
        d = sub.select(np.arange(nd))
        rec["pca"] = pca_cumulative_variance(pose_features(d.trans, d.quat, d.grasp), cfg.pca_k)
        try:
            types = grasp_types(hand, truth["field"], d.pose(hand), truth["frame"], cfg.type_contact_mm * 1e-3)
        except Exception as e:  # noqa: BLE001 - fall back to the documented definition, and say so
            types = [f"active:{t}" for t in active_finger_labels(d.active, hand.tip_names)]
            rec["types_note"] = f"grasp_types failed ({type(e).__name__}: {e}); types = active-finger sets"
        rec["types"] = types
        rec["entropy"] = label_entropy(types)
    return rec


def _mean(x) -> float:
    x = [v for v in x if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(x)) if x else math.nan


def aggregate(records: list[dict]) -> list[dict]:
    """One summary row per (input, method) in METHODS order (see module doc for each column)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["input"], r["method"])].append(r)
    rows = []
    for kind in INPUTS:
        for m in METHODS:
            rs = groups.get((kind, m))
            if not rs:
                continue
            c = Counts()
            for r in rs:
                c.add_object(r["produced"], np.array(r["success"], bool), np.array(r["lift"], bool), r["cpu"])
            pen = [v for r in rs for v in r["pen_mm"]]
            rows.append({
                "input": kind, "method": m, "title": METHOD_TITLES[m], "objects": c.objects, "produced": c.produced,
                "evaluated": c.evaluated, "success": c.success_rate, "lift": c.lift_rate,
                "rejected": sum(r["rejected"] for r in rs) / max(c.evaluated, 1),
                "pen_mean_mm": _mean(pen), "pen_max_mm": float(max(pen)) if pen else math.nan,
                "contacts": _mean([v for r in rs for v in r["contacts"]]),
                "real_links": _mean([v for r in rs for v in r["real_links"]]),
                "pca": _mean([r["pca"] for r in rs]), "entropy": _mean([r["entropy"] for r in rs]),
                "diversity_objects": sum(not math.isnan(r["pca"]) for r in rs),
                "valid": c.valid_estimate, "cpu": c.cpu_seconds, "cpu_per_valid": c.cpu_per_valid})
    return rows
