"""Train the grasp evaluator: ``dex1b train-evaluator`` (no ROS).

Reproduces the shipped model (trained on the planner's own candidates, ``dex1b collect-plans``:
relabelled with the table-aware pregrasp, the node's on-policy check window, and that window with
the balanced squeeze; support-plane features, listwise ranking loss)::

    dex1b train-evaluator --hand leap --plans data/leap_plans_table data/leap_plans_onpolicy \
        data/leap_plans_balanced --out models/leap/evaluator --steps 1500 --rank-weight 1.0 --plane-features

(the first model, on the dataset's records: ``--data data/leap`` instead of ``--plans``, 2500 steps;
``--plans`` and ``--data`` together train on both.)

Data: every simulated record of the shards under ``--data`` (searched recursively for
``*.parquet``; schema :mod:`dex1b_ros.records`): free-space successes and failures, and the
tabletop lift verdicts. Each training sample is one record seen through ONE of the object's
``views_per_object`` cached single-view clouds (:mod:`.data`), ``n_points`` of its points, in
the grasp's wrist frame (:func:`~dex1b_ros.evaluator.model.grasp_features`). Loss: binary cross
entropy per head, positives weighted by negatives / positives (capped at ``max_pos_weight``);
the lift head weighs ``lift_weight``.

Validation: ``val_fraction`` of the objects (by id, never their records in training); one fixed
view per record. Reported: AUC of each head, and for the free-space head the decision threshold
(the lowest probability at which validation precision reaches ``target_precision``) with its
precision / recall, and the simulations per valid grasp a dataset builder would run when it only
simulated grasps above the threshold. Output in ``--out``: ``evaluator.safetensors`` +
``model_card.yaml`` (:mod:`.io`). Seeds: ``seed`` fixes the split, the sampling and the
initialisation (1 torch thread: the same model bit for bit).
"""
from __future__ import annotations

import argparse
import hashlib
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..config_utils import to_dict
from .config import EvaluatorConfig
from .data import EvalData, make_data, split_objects
from .model import HEADS, GraspEvaluator, grasp_features, palm_fingertips


# ---------------------------------------------------------------------- metrics
def auc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve (rank statistic, ties averaged); NaN with one class only."""
    label = np.asarray(label, bool)
    npos, nneg = int(label.sum()), int((~label).sum())
    if npos == 0 or nneg == 0:
        return float("nan")
    from scipy.stats import rankdata
    r = rankdata(score)
    return float((r[label].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def pr_at(score: np.ndarray, label: np.ndarray, thr: float) -> dict:
    """Precision, recall and count of ``score >= thr``."""
    label = np.asarray(label, bool)
    pred = score >= thr
    tp = int((pred & label).sum())
    return {"threshold": round(float(thr), 4), "predicted": int(pred.sum()),
            "precision": round(tp / max(int(pred.sum()), 1), 4), "recall": round(tp / max(int(label.sum()), 1), 4)}


def choose_threshold(score: np.ndarray, label: np.ndarray, target: float, min_predicted: int = 20) -> float:
    """The lowest score at which precision of ``score >= t`` reaches ``target`` with at least
    ``min_predicted`` predicted positives; when none does, the threshold of the highest precision."""
    order = np.argsort(-score, kind="stable")
    s, y = score[order], np.asarray(label, bool)[order]
    prec = np.cumsum(y) / np.arange(1, len(y) + 1)
    ok = np.flatnonzero((prec >= target) & (np.arange(1, len(y) + 1) >= min_predicted))
    if len(ok):
        return float(s[ok[-1]])
    i = int(np.argmax(np.where(np.arange(1, len(y) + 1) >= min_predicted, prec, -1)))
    return float(s[i])


# ---------------------------------------------------------------------- batches
@dataclass
class Prepared:
    """EvalData plus per-record palm-frame fingertips (grasp, squeeze) and torch copies."""

    data: EvalData
    tips_g: torch.Tensor      # (N, F, 3) m
    tips_s: torch.Tensor
    trans: torch.Tensor       # (N, 3)
    quat: torch.Tensor        # (N, 4)
    qg: torch.Tensor          # (N, J)
    qs: torch.Tensor
    plane: torch.Tensor | None = None   # (N, 4) support planes when the model reads them
    energy: torch.Tensor | None = None  # (N, N_ENERGY) energy features when the model reads them


@torch.no_grad()
def prepare(hand, data: EvalData, plane: bool = False, energy: bool = False) -> Prepared:
    """``data`` with its fingertips; ``plane`` / ``energy``: keep the rows' support planes / energy
    features (the model reads them; ValueError when the data has none)."""
    if plane and data.plane is None:
        raise ValueError("plane_features: the training data has no support planes (the dataset's records are "
                         "free-floating; use --plans only)")
    if energy and data.energy is None:
        raise ValueError("energy_features: the training data has no planner energies (the dataset's records are "
                         "not the planner's candidates; use --plans only)")
    r = data.records
    qg = torch.as_tensor(r.grasp, dtype=torch.float32)
    qs = torch.as_tensor(r.squeeze, dtype=torch.float32)
    tg = torch.cat([palm_fingertips(hand, qg[i:i + 4096].to(hand.dtype)) for i in range(0, len(qg), 4096)]).float()
    ts = torch.cat([palm_fingertips(hand, qs[i:i + 4096].to(hand.dtype)) for i in range(0, len(qs), 4096)]).float()
    return Prepared(data, tg, ts, torch.as_tensor(r.trans, dtype=torch.float32),
                    torch.as_tensor(r.quat, dtype=torch.float32), qg, qs,
                    torch.as_tensor(data.plane, dtype=torch.float32) if plane else None,
                    torch.as_tensor(data.energy, dtype=torch.float32) if energy else None)


def batch_features(p: Prepared, rows: np.ndarray, views: np.ndarray, n_points: int, rng: np.random.Generator):
    """Network inputs of records ``rows`` seen through views ``views`` (random n_points subset each)."""
    d = p.data
    P = d.points.shape[2]
    pick = np.argsort(rng.random((len(rows), P)), axis=1)[:, :n_points]          # (B, n) distinct
    obj = d.view_idx[rows]
    pts = torch.as_tensor(d.points[obj[:, None], views[:, None], pick])           # (B, n, 3)
    nrm = torch.as_tensor(d.normals[obj[:, None], views[:, None], pick])
    t = torch.as_tensor(rows)
    return grasp_features(pts, nrm, p.trans[t], p.quat[t], p.qg[t], p.qs[t], p.tips_g[t], p.tips_s[t],
                          None if p.plane is None else p.plane[t], None if p.energy is None else p.energy[t])


@torch.no_grad()
def predict_records(model: GraspEvaluator, p: Prepared, n_points: int, seed: int = 0, chunk: int = 512) -> np.ndarray:
    """(N, 2) probabilities of every record, each through one fixed view (record index mod views)."""
    model.eval()
    rng = np.random.default_rng(seed)
    V = p.data.points.shape[1]
    out = []
    for i in range(0, len(p.trans), chunk):
        rows = np.arange(i, min(i + chunk, len(p.trans)))
        out.append(torch.sigmoid(model(*batch_features(p, rows, rows % V, n_points, rng))).numpy())
    return np.concatenate(out) if out else np.zeros((0, len(HEADS)), np.float32)


def metrics(prob: np.ndarray, data: EvalData, target: float, thr: float | None = None) -> dict:
    """Validation metrics (see the module doc); ``thr`` None = choose it here."""
    free = data.records.success.astype(bool)
    lift = data.records.lift_success.astype(bool)
    tested = data.records.lift_tested.astype(bool)
    if thr is None:
        thr = choose_threshold(prob[:, 0], free, target)
    at = pr_at(prob[:, 0], free, thr)
    base = float(free.mean()) if len(free) else float("nan")
    out = {"records": int(len(free)), "objects": len(data.objects), "free_space_positives": int(free.sum()),
           "lift_positives": int((lift & tested).sum()),
           "auc_free_space": round(auc(prob[:, 0], free), 4),
           "auc_lift": round(auc(prob[tested, 1], lift[tested]), 4),
           "at_threshold": at, "at_0.5": pr_at(prob[:, 0], free, 0.5),
           # a builder simulating only grasps above the threshold: simulations per valid grasp
           "builder": {"sims_per_valid_all": round(1 / max(base, 1e-9), 3),
                       "sims_per_valid_filtered": round(1 / max(at["precision"], 1e-9), 3),
                       "simulations_saved": round(1 - base / max(at["precision"], 1e-9), 4),
                       "valid_kept": at["recall"]}}
    # lift head: precision of its top 1 % / top 50 predictions
    if tested.any():
        k = max(1, min(50, int(tested.sum()) // 100))
        top = np.argsort(-prob[tested, 1])[:k]
        out["lift_top_precision"] = {"k": int(k), "precision": round(float(lift[tested][top].mean()), 4)}
    return out


# ---------------------------------------------------------------------- training
@dataclass
class TrainResult:
    model: GraspEvaluator
    cfg: EvaluatorConfig
    history: list[dict]
    val: dict
    data: dict
    seconds: float
    threshold: float
    val_prob: np.ndarray


def plan_metrics(prob: np.ndarray, data: EvalData, plan_id: np.ndarray, accepted: np.ndarray,
                 rank: np.ndarray) -> dict:
    """Per plan (the candidates of one single-view plan, :mod:`.collect`): how often the grasp the
    planner would put first holds / lifts the true object, ranked by energy (rank 0) or by the
    evaluator (energy-filter accepted first, then the free-space probability, as
    ``ranking.accepted_first: always`` does; ``*_lift_head`` / ``*_both``: by the lift head's probability / the
    product of both, ``ranking.evaluator_head``), and how often any candidate holds / lifts (the
    ceiling). ``*_both_unfiltered``: by the product alone, accepted or not
    (the node's default, ``ranking.accepted_first: energy``)."""
    held = data.records.success.astype(bool)
    lifted = data.records.lift_success.astype(bool)
    scores = {"evaluator": prob[:, 0], "lift_head": prob[:, 1], "both": prob[:, 0] * prob[:, 1]}
    out = dict.fromkeys(["plans", "first_held_energy", "first_lifted_energy", "any_candidate_held",
                         "any_candidate_lifted"], 0)
    for k in [*scores, "both_unfiltered"]:
        out[f"first_held_{k}"] = out[f"first_lifted_{k}"] = 0
    for g in np.unique(plan_id):
        i = np.flatnonzero(plan_id == g)
        first_e = i[np.argmin(rank[i])]
        out["plans"] += 1
        out["first_held_energy"] += int(held[first_e])
        out["first_lifted_energy"] += int(lifted[first_e])
        out["any_candidate_held"] += int(held[i].any())
        out["any_candidate_lifted"] += int(lifted[i].any())
        for k, s in scores.items():
            first = i[np.lexsort((-s[i], ~accepted[i]))[0]]
            out[f"first_held_{k}"] += int(held[first])
            out[f"first_lifted_{k}"] += int(lifted[first])
        first = i[np.argmax(scores["both"][i])]
        out["first_held_both_unfiltered"] += int(held[first])
        out["first_lifted_both_unfiltered"] += int(lifted[first])
    return out


def train(hand, records, cfg: EvaluatorConfig, progress: bool = True, log=print, plans=None) -> TrainResult:
    """Train on ``records`` (GraspRecords of ``hand``, or None) and/or ``plans`` (a pyarrow Table of
    ``dex1b collect-plans`` candidate rows, each seen through its own plan's cloud); validation
    objects held out by ``cfg`` (one split of the union of their objects). With ``plans`` the
    threshold and the reported validation are those of the validation objects' plan rows (the
    records' validation is reported too, under ``records``)."""
    from tqdm import tqdm

    from .data import concat_data, make_plan_data
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    objects = set()
    if records is not None:
        objects |= set(np.asarray(records.object_id)[records.validated].tolist())
    if plans is not None:
        objects |= set(plans.column("object_id").to_pylist())
    tr_obj, va_obj = split_objects(sorted(objects), cfg.val_fraction, cfg.seed)
    names = list(hand.joint_names)

    def data_of(objs, which):
        """(EvalData, each row's plan id (N,): -1 on dataset records)."""
        parts, pids = [], []
        if records is not None and which in ("all", "records"):
            parts.append(make_data(records, objs, cfg.views_per_object, cfg.view_points, progress))
            pids.append(np.full(len(parts[-1].records), -1, np.int64))
        if plans is not None and which in ("all", "plans"):
            d, pid = make_plan_data(plans, hand.name, names, objs, cfg.views_per_object)
            parts.append(d)
            pids.append(pid)
        return concat_data(parts, cfg.seed), np.concatenate(pids) if pids else np.zeros(0, np.int64)

    pf, ef = cfg.plane_features, cfg.energy_features
    tr_data, tr_pid = data_of(tr_obj, "all")
    tr = prepare(hand, tr_data, pf, ef)
    va_plan_id = None
    va_rec = None
    if plans is not None:
        vd, va_plan_id = data_of(va_obj, "plans")
        va = prepare(hand, vd, pf, ef)
        if records is not None:
            va_rec = prepare(hand, data_of(va_obj, "records")[0], pf)
    else:
        va = prepare(hand, data_of(va_obj, "records")[0], pf, ef)
    y_free = torch.as_tensor(tr.data.free)
    y_lift = torch.as_tensor(tr.data.lift)
    m_lift = torch.as_tensor(tr.data.records.lift_tested.astype(np.float32))

    def pos_weight(y, m):
        pos = float((y * m).sum())
        neg = float(((1 - y) * m).sum())
        return min(neg / max(pos, 1.0), cfg.max_pos_weight)

    w_free, w_lift = pos_weight(y_free, torch.ones_like(y_free)), pos_weight(y_lift, m_lift)
    if cfg.rank_checked and tr.data.check is None:
        raise ValueError("rank_checked: the training plans have no check labels (read them with "
                         "collect.read_plans_checked: <plans folder>_check, scripts/plan_check_labels.py)")
    keep = tr.data.check if cfg.rank_checked else None
    ranked = (_rank_groups(tr_pid, tr.data.free, tr.data.lift, keep) if cfg.rank_weight > 0
              else np.zeros((0, 1), np.int64))
    if cfg.rank_weight > 0 and len(ranked) == 0:
        raise ValueError("rank_weight > 0: no training plan has both a held / lifted and a failed candidate "
                         "(the ranking loss needs --plans)")
    model = GraspEvaluator(len(hand.joint_names), len(hand.tip_names), cfg.width, plane=pf, energy=ef,
                           finger_pool=cfg.finger_pool)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * min(s / cfg.steps, 1.0))))
    bce = nn.functional.binary_cross_entropy_with_logits
    V = cfg.views_per_object
    N = len(tr.trans)
    history = []
    log_every = max(1, min(100, cfg.steps // 10))
    bar = tqdm(range(1, cfg.steps + 1), desc="train-evaluator", unit="step", disable=not progress)
    run = {"loss": 0.0, "free": 0.0, "lift": 0.0, "n": 0}
    for step in bar:
        model.train()
        rows = rng.integers(N, size=cfg.batch)
        pp, pg = batch_features(tr, rows, rng.integers(V, size=cfg.batch), cfg.n_points, rng)
        logit = model(pp, pg)
        r = torch.as_tensor(rows)
        lf = bce(logit[:, 0], y_free[r], pos_weight=torch.tensor(w_free))
        ll = (bce(logit[:, 1], y_lift[r], pos_weight=torch.tensor(w_lift), reduction="none") * m_lift[r]).sum() \
            / m_lift[r].sum().clamp(min=1.0)
        loss = lf + cfg.lift_weight * ll
        if len(ranked):
            g = ranked[rng.integers(len(ranked), size=cfg.rank_plans)]              # (P, M) rows, -1 = pad
            sel = g >= 0
            rr = g[sel]
            lg = model(*batch_features(tr, rr, rng.integers(V, size=len(rr)), cfg.n_points, rng))
            loss = loss + cfg.rank_weight * (_listwise(lg[:, 0], y_free[rr], sel)
                                             + cfg.lift_weight * _listwise(lg[:, 1], y_lift[rr], sel))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        run["loss"] += float(loss.detach())
        run["free"] += float(lf.detach())
        run["lift"] += float(ll.detach())
        run["n"] += 1
        if step % log_every == 0 or step == cfg.steps:
            row = {"step": step, **{k: round(run[k] / run["n"], 5) for k in ("loss", "free", "lift")},
                   "seconds": round(time.perf_counter() - t0, 1)}
            history.append(row)
            bar.set_postfix(loss=row["loss"], free=row["free"])
            run = {"loss": 0.0, "free": 0.0, "lift": 0.0, "n": 0}
    bar.close()
    prob = predict_records(model, va, cfg.n_points, seed=cfg.seed + 1)
    val = metrics(prob, va.data, cfg.target_precision)
    thr = val["at_threshold"]["threshold"]
    if va_plan_id is not None:
        sub = plans.filter(np.isin(np.asarray(plans.column("object_id").to_pylist(), dtype=object), va.data.objects))
        val["source"] = "plans (the planner's candidates on the validation objects' single views)"
        val["per_plan"] = plan_metrics(prob, va.data, va_plan_id,
                                       np.asarray(sub.column("accepted").to_pylist(), bool),
                                       np.asarray(sub.column("rank").to_pylist(), np.int64))
        if va_rec is not None:
            pr = predict_records(model, va_rec, cfg.n_points, seed=cfg.seed + 1)
            val["dataset_records"] = metrics(pr, va_rec.data, cfg.target_precision, thr)
    n_rec = 0 if records is None else int(len(records))
    info = {"records_total": n_rec, "simulated": 0 if records is None else int(records.validated.sum()),
            "plan_rows": 0 if plans is None else int(plans.num_rows),
            "train_records": int(len(tr.trans)), "val_records": int(len(va.trans)),
            "train_objects": len(tr.data.objects), "val_objects": va.data.objects,
            "pos_weight": {"free_space": round(w_free, 3), "lift": round(w_lift, 3)},
            "train_free_space_positives": int(y_free.sum()), "train_lift_positives": int((y_lift * m_lift).sum())}
    return TrainResult(model, cfg, history, val, info, time.perf_counter() - t0, thr, prob)


def _rank_groups(plan_id: np.ndarray, free: np.ndarray, lift: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """(G, M) int64 row indices of the plans (plan id >= 0) with both a positive and a negative in
    either head, padded with -1 to the largest plan's M rows. ``keep`` (N,) bool: only those rows
    (e.g. the candidates that passed the node's check) count, as candidates and as the plan's
    positives / negatives."""
    rows = np.flatnonzero((plan_id >= 0) & (True if keep is None else np.asarray(keep, bool)))
    rows = rows[np.argsort(plan_id[rows], kind="stable")]                 # grouped by plan, one sort
    cut = np.flatnonzero(np.diff(plan_id[rows])) + 1
    groups = [i for i in np.split(rows, cut) if len(i)
              and (0 < free[i].sum() < len(i) or 0 < lift[i].sum() < len(i))]
    M = max((len(i) for i in groups), default=1)
    out = np.full((len(groups), M), -1, np.int64)
    for k, i in enumerate(groups):
        out[k, :len(i)] = i
    return out


def _listwise(logit: torch.Tensor, y: torch.Tensor, sel: np.ndarray) -> torch.Tensor:
    """Listwise ranking loss of plans laid out as ``sel`` (P, M) bool (True = a candidate; ``logit``
    and ``y`` are those candidates in row-major order): per plan with a positive and a negative,
    -log(the softmax mass of its positives among its candidates); mean over those plans (0 if none).
    Pushes each plan's good candidates above its bad ones, which is what choosing the first grasp of
    a plan needs (the binary loss also separates easy objects from hard ones, which ranking within a
    plan does not use)."""
    m = torch.as_tensor(sel)
    L = torch.full(m.shape, float("-inf"), dtype=logit.dtype)
    L = L.masked_scatter(m, logit)
    Y = torch.zeros(m.shape, dtype=torch.bool).masked_scatter(m, y > 0.5)
    ok = Y.any(1) & (m & ~Y).any(1)
    if not bool(ok.any()):
        return logit.sum() * 0.0
    L, Y = L[ok], Y[ok]
    pos = torch.where(Y, L, torch.full_like(L, float("-inf")))
    return (torch.logsumexp(L, 1) - torch.logsumexp(pos, 1)).mean()


def score_plans(hand, path: Path, plans, cfg: EvaluatorConfig) -> int:
    """``--score``: an evaluator's AUC and per-plan figures on the validation objects' plan rows."""
    from .io import load_evaluator
    ev = load_evaluator(path, hand)
    objs = sorted(set(plans.column("object_id").to_pylist()))
    _, va_obj = split_objects(objs, cfg.val_fraction, cfg.seed)
    ids = np.asarray(plans.column("object_id").to_pylist(), dtype=object)
    t = plans.filter(np.isin(ids, va_obj))
    ids = np.asarray(t.column("object_id").to_pylist(), dtype=object)
    view = np.asarray(t.column("view").to_pylist())
    rank = np.asarray(t.column("rank").to_pylist())
    col = {k: t.column(k).to_pylist()
           for k in ("trans", "quat", "grasp", "squeeze", "cloud_points", "cloud_normals", "support_plane")}
    keys = [f"{o}/{v}" for o, v in zip(ids, view)]
    plan_id = np.unique(keys, return_inverse=True)[1]
    from .data import plan_energy
    energy = plan_energy(t) if ev.needs_energy else None
    prob = np.zeros((len(keys), 2), np.float32)
    for g in np.unique(plan_id):
        i = np.flatnonzero(plan_id == g)
        c = i[rank[i] == 0][0]
        P = np.asarray(col["cloud_points"][c], np.float32).reshape(-1, 3)
        N = np.asarray(col["cloud_normals"][c], np.float32).reshape(-1, 3)
        x = {k: np.asarray([col[k][j] for j in i], np.float64) for k in ("trans", "quat", "grasp", "squeeze")}
        prob[i] = ev.predict(hand, P, N, x["trans"], x["quat"], x["grasp"], x["squeeze"], seed=int(g),
                             plane=np.asarray(col["support_plane"][c], np.float64),
                             energy=energy[i] if ev.needs_energy else None)
    held = np.asarray(t.column("held").to_pylist(), bool)
    lifted = np.asarray(t.column("lifted").to_pylist(), bool)
    from .data import plan_records
    rec = plan_records(t, hand.name, hand.joint_names)
    pm = plan_metrics(prob, EvalData(rec, va_obj, plan_id, np.zeros((1, 1, 1, 3)), np.zeros((1, 1, 1, 3))), plan_id,
                      np.asarray(t.column("accepted").to_pylist(), bool), rank)
    print(f"{path}: validation plan rows ({len(va_obj)} objects, {len(held)} candidates, {pm['plans']} plans): "
          f"AUC held {auc(prob[:, 0], held):.4f}, AUC lifted (lift head) {auc(prob[:, 1], lifted):.4f}; first grasp "
          f"held: energy ranking {pm['first_held_energy']}, evaluator ranking {pm['first_held_evaluator']}; lifted "
          f"{pm['first_lifted_energy']} -> {pm['first_lifted_evaluator']}; some candidate held "
          f"{pm['any_candidate_held']}")
    return 0


def data_digest(shards: list[Path]) -> str:
    """sha256 over the shards' relative paths and contents (sorted): the dataset's content hash."""
    h = hashlib.sha256()
    for s in shards:
        h.update(s.name.encode())
        h.update(s.read_bytes())
    return h.hexdigest()


def _rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def build_parser(prog: str = "dex1b train-evaluator") -> argparse.ArgumentParser:
    from ..cli_config import add_training_args

    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hand", required=True, help="hand name (config/hands/<hand>.yaml), e.g. leap")
    ap.add_argument("--data", type=Path, default=None,
                    help="dataset folder (searched recursively for *.parquet shards) or one shard, e.g. data/leap")
    ap.add_argument("--plans", type=Path, nargs="+", default=None,
                    help="folder(s) of `dex1b collect-plans` shards (the planner's own candidates labelled on the "
                         "true object), e.g. data/leap_plans; alone or with --data (at least one of the two)")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default models/<hand>/evaluator)")
    ap.add_argument("--score", type=Path, default=None, metavar="DIR",
                    help="train nothing: score the evaluator in DIR on the --plans rows of the validation objects "
                         "(the split of --plans' objects by --val-fraction / --seed), one plan's cloud for all its "
                         "candidates as the planner does; prints AUC and the per-plan first-grasp figures")
    add_training_args(ap, EvaluatorConfig, title="EvaluatorConfig (every field; overrides --config)",
                      config_help="EvaluatorConfig YAML; the flags below override it")
    return ap


def main(argv=None) -> int:
    from ..cli_config import parse_training_args
    from ..hands import load_hand
    from ..records import read_records
    from .io import save_evaluator

    argv = list(sys.argv[1:] if argv is None else argv)
    ap = build_parser()
    a, cfg = parse_training_args(ap, EvaluatorConfig, argv)
    if a.data is None and a.plans is None:
        ap.error("give --data and/or --plans")
    hand = load_hand(a.hand, hands_dir=a.hands_dir)
    shards, records, plans, plan_shards = [], None, None, []
    if a.data is not None:
        shards = sorted(a.data.rglob("*.parquet")) if a.data.is_dir() else [a.data]
        if not shards:
            raise FileNotFoundError(f"--data {a.data}: no *.parquet shards there")
        records = read_records(shards)
        if records.hand != hand.name:
            ap.error(f"--data {a.data}: records of hand {records.hand!r}, not {hand.name!r}")
    if a.plans is not None:
        from .collect import check_folder, read_plans, read_plans_checked
        plan_shards = [s for p in a.plans for s in (sorted(p.rglob("plans-*.parquet")) if p.is_dir() else [p])]
        if cfg.rank_checked:   # each folder's candidates with their check labels (<folder>_check)
            bad = [p for p in a.plans if not p.is_dir()]
            if bad:
                ap.error(f"--rank-checked: --plans must be folders (their labels are in <folder>_check), got {bad[0]}")
            plans = read_plans_checked(a.plans)
            plan_shards += [s for p in a.plans for s in sorted(check_folder(p).glob("checks-*.parquet"))]
        else:
            plans = read_plans(plan_shards)
    if a.score is not None:
        if plans is None or records is not None:
            ap.error("--score needs --plans (and no --data)")
        return score_plans(hand, a.score, plans, cfg)
    c0 = time.process_time()
    res = train(hand, records, cfg, progress=not a.quiet, plans=plans)
    cpu = time.process_time() - c0
    out = a.out or Path("models") / hand.name / "evaluator"
    card = {
        "name": "grasp evaluator (single view, wrist frame)",
        "hand": hand.name, "joint_names": list(hand.joint_names),
        "frames": "cloud and fingertips in the grasp's wrist (palm) frame, decimetres; grasps as in the records "
                  "(m, rad, wxyz)",
        "heads": {"free_space": "P(the grasp holds the true object against forces in six directions)",
                  "lift": "P(the grasp lifts the object off a table, resting in its stable pose)"},
        "threshold": res.threshold,
        "threshold_rule": f"lowest free-space probability with validation precision >= {cfg.target_precision}",
        "data": {**({"root": _rel(a.data), "shards": len(shards), "sha256": data_digest(shards)} if shards else {}),
                 **({"plans_root": " ".join(_rel(p) for p in a.plans), "plan_shards": len(plan_shards),
                     "plans_sha256": data_digest(plan_shards)} if plan_shards else {}), **res.data},
        "validation": res.val,
        "training": {"steps": cfg.steps, "seconds": round(res.seconds, 1), "cpu_seconds": round(cpu, 1),
                     "torch_threads": a.threads, "last": res.history[-1] if res.history else {}},
        "training_command": "dex1b train-evaluator " + shlex.join(argv),
        "config": to_dict(cfg),
    }
    save_evaluator(res.model, card, out)
    v = res.val
    at = v["at_threshold"]
    print(f"trained evaluator for {hand.name}: {res.data['train_records']} records on {res.data['train_objects']} "
          f"objects, {cfg.steps} steps, {res.seconds:.0f} s wall / {cpu:.0f} CPU-s")
    print(f"validation ({v['objects']} objects, {v['records']} records): AUC free-space {v['auc_free_space']}, "
          f"lift {v['auc_lift']} ({v['lift_positives']} lift positives); threshold {at['threshold']}: precision "
          f"{at['precision']}, recall {at['recall']} ({at['predicted']} predicted)")
    if "per_plan" in v:
        pp = v["per_plan"]
        print(f"validation plans ({pp['plans']}): first grasp held by energy ranking {pp['first_held_energy']}, by "
              f"evaluator ranking {pp['first_held_evaluator']} (lifted {pp['first_lifted_energy']} -> "
              f"{pp['first_lifted_evaluator']}; by the lift head {pp['first_lifted_lift_head']}); some candidate "
              f"held in {pp['any_candidate_held']}, lifted in {pp['any_candidate_lifted']}")
    if "dataset_records" in v:
        dr = v["dataset_records"]
        print(f"validation dataset records ({dr['records']}): AUC free-space "
              f"{dr['auc_free_space']}")
    print(f"wrote {out}/evaluator.safetensors and {out}/model_card.yaml")
    return 0


__all__ = ["TrainResult", "auc", "build_parser", "choose_threshold", "main", "metrics", "plan_metrics", "pr_at",
           "score_plans", "train"]

if __name__ == "__main__":
    sys.exit(main())
