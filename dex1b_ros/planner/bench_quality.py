"""Plan quality benchmark: ``dex1b bench plan-quality`` (a benchmark, not a test; no ROS).

What a robot gets from the node: for each object and camera view, ``GraspPipeline.plan`` (the
node's planner, with the node's settings: ``PlannerConfig`` from ``config/grasp_planner.yaml``,
unless overridden here) runs on one simulated single-view cloud of the object standing on a table
(the planner is told the table plane, as it is when its preprocessing finds the table; its
preprocessing then cleans the view as the node's does). The grasp it returns FIRST (the one the
node executes) is then simulated on the TRUE object mesh: the DexGraspBench six-direction test
and the tabletop lift (``GraspValidator``). Also counted: how often that grasp had passed the
planner's own MuJoCo check (run on its guess of the object, the completed view, as a tabletop lift), and
how often it was the planner's verdict ``predicted_success`` (that check passed and, with an evaluator,
``evaluator_prob`` >= the verdict threshold, ``GraspPipeline.verdict_threshold``) and how many of
those the true object lifted: the precision of the node's "validated".
A stricter lift is reported too ("lift, weight"): gravity on from the start (the object's weight
rests on the table while the hand closes, as in ``sim_hand`` and the real world) and no extra
force; the protocol's lift (gravity off, a -z force of 10 x mass after closing) is up to ~25 %
more forgiving.

With ``--set ranking.evaluator=<dir>`` (a learned grasp evaluator, ``dex1b train-evaluator``) the
candidates are ranked by its probability and a second line per hand reports it: how many first
grasps it predicted good (``evaluator_prob >= ranking.evaluator_threshold``) and how many of those
the true object held / lifted (its precision), and a threshold sweep of that precision (the
ranking does not depend on the threshold, so one run on ``--objects val`` chooses it);
``--scores FILE`` writes every plan's first-grasp probability and verdicts as JSON.

Objects: the held-out set by default (``config/objects/heldout.yaml``: 24 unseen test-split
objects, 13 of them strongly non-convex), each simulated as its convex decomposition; views: camera
0.5 m away, 15-60 deg above the object, random azimuth (the evaluation's views, seeded).
"""
from __future__ import annotations

import argparse
import functools
import time

import numpy as np
import torch


def bench_view_seed(object_index: int, view: int, seed: int = 0) -> int:
    """The camera seed of view ``view`` of the ``object_index``-th object of a plan-quality run
    (``--seed seed``): studies that revisit a run's views use the same formula."""
    return seed + 1000 * object_index + view


def view_scene(mesh, hand: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The benchmark's observation of ``mesh`` (object frame, m): one simulated single-view cloud
    (the evaluation's camera, :func:`dex1b_ros.eval.clouds.make_cloud` ``"partial"`` with
    ``EvalConfig(hand=hand)``, camera seed ``seed``) and the table plane under the object.
    Returns (points (N, 3), normals (N, 3), support plane (4,))."""
    from ..eval.run import make_cloud, table_plane
    p, n = make_cloud(mesh, "partial", _eval_config(hand), seed=seed)
    return p, n, table_plane(mesh)


@functools.lru_cache(maxsize=None)
def _eval_config(hand: str):
    """``EvalConfig(hand=hand)``, built once per process (it reads config/grasp_planner.yaml: a long
    run keeps the settings it started with even if the file is edited meanwhile)."""
    from ..eval.run import EvalConfig
    return EvalConfig(hand=hand)


def true_verdicts(truth, wrist_pos, wrist_quat, pregrasp, grasp, squeeze) -> tuple[np.ndarray, np.ndarray]:
    """(held, lifted) (B,) bool of B grasps (object frame; m, wxyz, rad; (B, ...) arrays) simulated on the
    TRUE object by ``truth`` (a ``GraspValidator`` of the object's mesh): the six-direction
    free-space test and the tabletop lift."""
    args = [np.asarray(x, dtype=np.float64) for x in (wrist_pos, wrist_quat, pregrasp, grasp, squeeze)]
    return (np.asarray(truth.validate(*args).success, bool),
            np.asarray(truth.validate_tabletop(*args).success, bool))


def _frac(ok: np.ndarray, among: np.ndarray) -> str:
    """'k/n': how many of the ``among`` plans are ``ok`` ('-' when none)."""
    return f"{(ok & among).sum()}/{among.sum()}" if among.any() else "-"


def precision_lower_bound(k: int, m: int, confidence: float) -> float:
    """One-sided lower confidence bound of a precision k/m (Wilson score interval; ``confidence`` in
    [0, 1); 0 gives k/m itself). E.g. 32/35 at 0.8: 0.866; 30/30 at 0.8: 0.977."""
    if m <= 0:
        return 0.0
    if confidence <= 0.0:
        return k / m
    from statistics import NormalDist
    z = NormalDist().inv_cdf(confidence)
    p, z2 = k / m, z * z
    centre = p + z2 / (2 * m)
    half = z * np.sqrt(p * (1 - p) / m + z2 / (4 * m * m))
    return float((centre - half) / (1 + z2 / m))


def choose_verdict_threshold(prob: np.ndarray, passed: np.ndarray, lifted: np.ndarray, precision: float,
                     min_count: int, confidence: float = 0.0) -> tuple[float, int, int, bool] | None:
    """The lowest threshold t (one of the plans' probabilities) at which the plans that ``passed``
    (bool (P,)) with ``prob >= t`` ((P,) evaluator probabilities, NaN = none) were ``lifted`` with at
    least ``precision``, over at least ``min_count`` plans: (t, lifted, predicted, True). With
    ``confidence`` > 0 the precision must hold with that one-sided confidence
    (:func:`precision_lower_bound` >= ``precision``: a margin for the few plans a threshold rests on;
    the lowest t that just reaches the point estimate is biased upwards, being chosen for it). When no t
    reaches it: the t of the highest (bound on) precision over at least ``min_count`` plans (the
    lowest such), flagged False; None when fewer than ``min_count`` plans passed."""
    p = np.nan_to_num(np.asarray(prob, dtype=np.float64), nan=-1.0)
    best = None
    for t in np.unique(p[passed & (p >= 0)]):          # ascending: the lowest that qualifies
        sel = passed & (p >= t)
        k, m = int((lifted & sel).sum()), int(sel.sum())
        if m < min_count:
            break
        lb = precision_lower_bound(k, m, confidence)
        if lb >= precision - 1e-12:
            return float(t), k, m, True
        if best is None or lb > best[0]:
            best = (lb, (float(t), k, m, False))
    return None if best is None else best[1]


def _calibrate(pipe, a, hand: str, prob, own, lift) -> None:
    """``--calibrate``: write the chosen verdict threshold into the evaluator's model card."""
    from ..evaluator.io import update_card
    path = pipe.evaluator_path(pipe.config.ranking.evaluator)
    got = choose_verdict_threshold(prob, own, lift, a.calibrate, a.calibrate_min, a.calibrate_confidence)
    if not path:
        print(f"{'':8s} calibrate: no evaluator ranks these plans (ranking.evaluator); nothing written", flush=True)
        return
    if got is None:
        print(f"{'':8s} calibrate: fewer than {a.calibrate_min} plans passed the check; card unchanged", flush=True)
        return
    t, k, m, reached = got
    card = update_card(path, {
        "verdict_threshold": round(t, 4), "verdict_precision": round(k / m, 3), "verdict_target": a.calibrate,
        "verdict_confidence": a.calibrate_confidence,
        "verdict_precision_lower_bound": round(precision_lower_bound(k, m, a.calibrate_confidence), 3),
        "verdict_target_reached": reached,
        "verdict_head": pipe.evaluator_head(),
        "verdict_rule": (f"lowest evaluator_prob (ranking.evaluator_head: {pipe.evaluator_head()}; "
                         f"free_space on clouds without a table) at which the planner's first grasps that passed "
                         f"its MuJoCo check were lifted by the true object with precision >= {a.calibrate:g} "
                         f"at one-sided confidence {a.calibrate_confidence:g} (Wilson lower bound; 0 = the "
                         f"observed precision; >= {a.calibrate_min} plans); if none does, the one of the "
                         f"highest bound"),
        "verdict_calibration": {"objects": a.spec, "plans": len(prob), "views": a.views, "seed": a.seed,
                                "lifted_of_predicted": f"{k}/{m}", "date": time.strftime("%Y-%m-%d"),
                                "command": f"dex1b bench plan-quality --hands {hand} --objects {a.spec}"
                                           + (f" --max-objects {a.max_objects}" if a.max_objects else "")
                                           + "".join(f" --set {kv}" for kv in a.overrides)
                                           + f" --calibrate {a.calibrate:g}"
                                           + f" --calibrate-confidence {a.calibrate_confidence:g}"}})
    print(f"{'':8s} calibrate: verdict_threshold {t:.4f} (lifted {k}/{m} on {a.spec}, lower bound "
          f"{precision_lower_bound(k, m, a.calibrate_confidence):.3f} at confidence {a.calibrate_confidence:g}"
          + ("" if reached else f"; precision {a.calibrate:g} not reached, the highest") + f") -> {card}", flush=True)


def main(argv=None) -> int:
    from .config import load_planner_config, planner_config
    d = load_planner_config()   # the node's settings
    ap = argparse.ArgumentParser(prog="dex1b bench plan-quality", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hands", nargs="+", default=["leap", "allegro"])
    ap.add_argument("--objects", default="heldout",
                    help="split name (train/val/test), object set (heldout, valbroad, valbroad2), a union of them "
                         "(valbroad+valbroad2) or comma-separated object ids (default: the held-out set, "
                         "config/objects/heldout.yaml). Tune on val or valbroad[+valbroad2] (from the val "
                         "split), report on heldout")
    ap.add_argument("--max-objects", type=int, default=None,
                    help="a deterministic spread of at most this many of them (alternating sources and kinds)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a planner setting (PlannerConfig dotted name, YAML value), e.g. "
                         "--set validation.check=lift; repeatable")
    ap.add_argument("--views", type=int, default=3, help="camera views per object")
    ap.add_argument("--num-samples", type=int, default=d.sampling.num_samples, help="(node default)")
    ap.add_argument("--refine-steps", type=int, default=d.refinement.refine_steps, help="(node default)")
    ap.add_argument("--num-validate", type=int, default=d.validation.num_validate, help="(node default)")
    ap.add_argument("--threads", type=int, default=max(d.torch_threads, 1), help="torch threads (node default)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the camera views")
    ap.add_argument("--scores", default=None, metavar="FILE",
                    help="write per plan: object, view, first grasp's evaluator_prob, held, lifted, passed own "
                         "check (JSON)")
    ap.add_argument("--calibrate", type=float, default=None, metavar="PRECISION",
                    help="choose the evaluator's verdict threshold: the lowest evaluator_prob at which the first "
                         "grasps that passed the planner's check were lifted by the true object with at least this "
                         "precision (and at least --calibrate-min of them), and write it into the evaluator's "
                         "model card (verdict_threshold; ranking.evaluator_threshold 0 uses it). Only on "
                         "validation objects (e.g. --objects valbroad, the held-out set's twin from the val "
                         "split): never calibrate on the objects you report on")
    ap.add_argument("--calibrate-min", type=int, default=5, help="fewest predicted grasps a threshold may rest on")
    ap.add_argument("--calibrate-confidence", type=float, default=0.8, metavar="C",
                    help="the precision must hold with this one-sided confidence (Wilson lower bound of "
                         "lifted / predicted >= --calibrate): a margin, since the threshold that just reaches "
                         "the target on the validation plans overstates it on new objects; 0 = the observed "
                         "precision (the rule before 2026-12-04)")
    a = ap.parse_args(argv)
    a.spec = spec = a.objects
    if a.calibrate is not None and not 0.0 < a.calibrate <= 1.0:
        ap.error(f"--calibrate: a precision in (0, 1], got {a.calibrate}")
    if not 0.0 <= a.calibrate_confidence < 1.0:
        ap.error(f"--calibrate-confidence: a confidence in [0, 1), got {a.calibrate_confidence}")
    torch.set_num_threads(a.threads)
    over = {"sampling.num_samples": a.num_samples, "refinement.refine_steps": a.refine_steps,
            "validation.num_validate": a.num_validate}
    over["ranking.top_k"] = min(d.ranking.top_k, a.num_samples)
    import yaml
    for kv in a.overrides:
        key, sep, val = kv.partition("=")
        if not sep or not key.strip():
            ap.error(f"--set {kv!r}: expected KEY=VALUE, e.g. validation.check=lift")
        over[key.strip()] = yaml.safe_load(val)
    from ..eval.objects import _ids_from_spec, spread
    try:
        a.objects = spread(_ids_from_spec(a.objects, []), a.max_objects)
    except ValueError as e:
        ap.error(str(e))
    if a.calibrate is not None:
        from ..objects.splits import load_split
        outside = sorted(set(a.objects) - set(load_split("val")))
        if outside:
            ap.error(f"--calibrate needs validation objects (--objects val, valbroad, valbroad+valbroad2); "
                     f"{spec!r} has {len(outside)} others, e.g. {outside[0]}: thresholds are never chosen on "
                     "reported objects")

    from ..objects import load_object
    from ..validate import GraspValidator, ValidatorConfig
    from .pipeline import GraspPipeline
    weight = ValidatorConfig(gravity=True, tabletop_force_scale=0.0)   # the stricter lift

    print(f"# plan quality: {len(a.objects)} objects x {a.views} single views on a table; the planner's first "
          f"grasp simulated on the TRUE object; {a.num_samples} samples, {a.refine_steps} refinement steps, "
          f"{a.num_validate} checked; {a.threads} torch thread(s)")
    if a.overrides:
        print("# overrides: " + ", ".join(a.overrides))
    print(f"{'hand':8s} {'plans':>5s} {'holds (6 dir)':>14s} {'tabletop lift':>14s} {'passed own check':>17s} "
          f"{'held | passed':>14s} {'lift | passed':>14s} {'plan s p50':>11s} {'lift, weight':>13s} "
          f"{'lift | predicted':>17s}")
    from tqdm import tqdm
    all_rows = []
    for hand in a.hands:
        try:
            pipe = GraspPipeline(config=planner_config({**over, "hand": hand}, d))
        except Exception as e:  # noqa: BLE001 - a bad --set names its field
            ap.error(f"hand {hand}: {e}")
        bar = tqdm(total=len(a.objects) * a.views, desc=f"plan-quality {hand}", unit="plan", leave=False)
        held, lift, own, lat, prob, rows, liftw, pred = [], [], [], [], [], [], [], []
        for oi, oid in enumerate(a.objects):
            mesh = load_object(oid).mesh
            with GraspValidator(pipe.hand.cfg, mesh) as truth, \
                    GraspValidator(pipe.hand.cfg, mesh, config=weight) as truth_w:
                for v in range(a.views):
                    p, n, plane = view_scene(mesh, hand, seed=bench_view_seed(oi, v, a.seed))
                    t = time.perf_counter()
                    r = pipe.plan(p, n, support_plane=plane)
                    lat.append(time.perf_counter() - t)
                    bar.update()
                    if not r.success or not r.grasps:
                        held.append(False), lift.append(False), own.append(False), prob.append(float("nan"))
                        liftw.append(False), pred.append(False)
                        rows.append({"hand": hand, "object": oid, "view": v, "planned": False})
                        continue
                    g = r.grasps[0]
                    first = [np.asarray(x, dtype=np.float64)[None]
                             for x in (g.wrist_pos, g.wrist_quat, g.pregrasp, g.grasp, g.squeeze)]
                    h, li = true_verdicts(truth, *first)
                    held.append(bool(h[0]))
                    lift.append(bool(li[0]))
                    liftw.append(bool(truth_w.validate_tabletop(*first).success[0]))
                    own.append(bool(g.sim_success))
                    pred.append(bool(g.predicted_success))
                    prob.append(float("nan") if g.evaluator_prob is None else g.evaluator_prob)
                    rows.append({"hand": hand, "object": oid, "view": v, "planned": True, "evaluator_prob": prob[-1],
                                 "held": held[-1], "lifted": lift[-1], "lifted_with_weight": liftw[-1],
                                 "passed_own_check": own[-1], "predicted_success": pred[-1]})
        bar.close()
        held, lift, own, liftw, pred = (np.array(x) for x in (held, lift, own, liftw, pred))
        n = len(held)
        cond = f"{(held & own).sum()}/{own.sum()}" if own.any() else "-"
        cond_l = f"{(lift & own).sum()}/{own.sum()}" if own.any() else "-"
        print(f"{hand:8s} {n:5d} {held.sum():6d} = {held.mean():4.0%} {lift.sum():6d} = {lift.mean():4.0%} "
              f"{own.sum():8d} = {own.mean():4.0%} {cond:>14s} {cond_l:>14s} {np.median(lat):11.2f} "
              f"{liftw.sum():6d} = {liftw.mean():4.0%} {_frac(lift, pred):>17s}", flush=True)
        prob = np.array(prob)
        if np.isfinite(prob).any():
            pz = np.nan_to_num(prob, nan=-1.0)     # no plan, no probability: below every threshold
            thr = pipe.verdict_threshold()
            good = pz >= thr
            print(f"{'':8s} evaluator p >= {thr:g}: {good.sum()}/{n} first grasps; held | p>=thr "
                  f"{_frac(held, good)}, lift | p>=thr {_frac(lift, good)}, held | p>=thr & passed "
                  f"{_frac(held, good & own)}", flush=True)
            sweep = [f"{t:.2f}: {_frac(held, pz >= t)}"
                     for t in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)]
            print(f"{'':8s} held | p>=t sweep: " + ", ".join(sweep), flush=True)
            sweep = [f"{t:.2f}: {_frac(lift, own & (pz >= t))}"
                     for t in (0.8, 0.85, 0.9, 0.93, 0.95, 0.97)]
            print(f"{'':8s} lift | passed & p>=t sweep (the verdict's precision at threshold t): "
                  + ", ".join(sweep), flush=True)
            if a.calibrate is not None:
                _calibrate(pipe, a, hand, prob, own, lift)
        all_rows.extend(rows)
    if a.scores:
        import json
        from pathlib import Path
        Path(a.scores).parent.mkdir(parents=True, exist_ok=True)
        Path(a.scores).write_text(json.dumps({"objects": a.objects, "views": a.views, "overrides": a.overrides,
                                              "plans": all_rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
