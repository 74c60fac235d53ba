"""The learned grasp evaluator: network, config, files, training signal, planner use."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dex1b_ros.config_utils import ConfigError, from_dict
from dex1b_ros.evaluator.config import EvaluatorConfig
from dex1b_ros.evaluator.model import HEADS, GraspEvaluator, grasp_features, palm_fingertips

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "models" / "leap" / "evaluator"


def _inputs(hand, B=5, N=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    pts = torch.randn(N, 3, generator=g, dtype=torch.float64) * 0.04
    nrm = torch.nn.functional.normalize(torch.randn(N, 3, generator=g, dtype=torch.float64), dim=1)
    trans = torch.randn(B, 3, generator=g, dtype=torch.float64) * 0.1
    quat = torch.nn.functional.normalize(torch.randn(B, 4, generator=g, dtype=torch.float64), dim=1)
    J = len(hand.joint_names)
    qg = torch.rand(B, J, generator=g, dtype=torch.float64).to(hand.dtype) * 0.5
    qs = qg + 0.05
    return pts, nrm, trans, quat, qg, qs


def test_output_shape_and_point_order_invariance(leap):
    pts, nrm, trans, quat, qg, qs = _inputs(leap)
    tg, ts = palm_fingertips(leap, qg), palm_fingertips(leap, qs)
    model = GraspEvaluator(len(leap.joint_names), len(leap.tip_names), width=32).eval()
    pp, pg = grasp_features(pts, nrm, trans, quat, qg, qs, tg, ts)
    F = len(leap.tip_names)
    assert pp.shape == (5, 64, 6 + F) and pg.shape == (5, 2 * len(leap.joint_names) + 6 * F)
    out = model(pp, pg)
    assert out.shape == (5, len(HEADS))
    perm = torch.randperm(64, generator=torch.Generator().manual_seed(1))
    out2 = model(*grasp_features(pts[perm], nrm[perm], trans, quat, qg, qs, tg, ts))
    torch.testing.assert_close(out, out2, rtol=1e-5, atol=1e-5)


def test_features_are_in_the_wrist_frame(leap):
    """Moving cloud and wrist together by one rigid motion leaves the features unchanged."""
    from dex1b_ros.rotation import matrix_to_quat, quat_to_matrix, random_rotations
    pts, nrm, trans, quat, qg, qs = _inputs(leap)
    tg, ts = palm_fingertips(leap, qg), palm_fingertips(leap, qs)
    A = random_rotations(1, generator=torch.Generator().manual_seed(3), dtype=torch.float64)[0]
    b = torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64)
    q2 = matrix_to_quat(A @ quat_to_matrix(quat))
    a = grasp_features(pts, nrm, trans, quat, qg, qs, tg, ts)
    m = grasp_features(pts @ A.T + b, nrm @ A.T, trans @ A.T + b, q2, qg, qs, tg, ts)
    for x, y in zip(a, m):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("data, field", [({"n_points": 0}, "n_points"), ({"val_fraction": 1.5}, "val_fraction"),
                                         ({"lr": "fast"}, "lr"), ({"no_such_field": 1}, "no_such_field"),
                                         ({"n_points": 600, "view_points": 512}, "n_points")])
def test_config_errors_name_the_field(data, field):
    with pytest.raises(ConfigError, match=field):
        from_dict(EvaluatorConfig, data)


def test_metrics_auc_and_threshold():
    from dex1b_ros.evaluator.train import auc, choose_threshold, pr_at
    y = np.array([0, 0, 1, 1, 0, 1, 1, 1], bool)
    s = np.array([0.1, 0.2, 0.3, 0.4, 0.45, 0.6, 0.7, 0.9])
    assert auc(s, y) == pytest.approx(13 / 15)
    t = choose_threshold(s, y, 0.99, min_predicted=1)
    assert t == pytest.approx(0.6) and pr_at(s, y, t)["precision"] == 1.0
    assert np.isnan(auc(s, np.ones(8, bool)))


def test_save_load_round_trip(leap, synthetic_hand, tmp_path):
    from dex1b_ros.config_utils import to_dict
    from dex1b_ros.evaluator.io import WEIGHTS_NAME, EvaluatorLoadError, load_evaluator, save_evaluator, update_card
    cfg = EvaluatorConfig(n_points=32, view_points=64, width=16)
    model = GraspEvaluator(len(leap.joint_names), len(leap.tip_names), cfg.width)
    save_evaluator(model, {"hand": "leap", "joint_names": list(leap.joint_names), "threshold": 0.8,
                           "config": to_dict(cfg)}, tmp_path / "ev")
    ev = load_evaluator(tmp_path / "ev", leap)
    assert ev.threshold == 0.8 and ev.cfg == cfg and ev.verdict_threshold is None
    # the planner's verdict threshold is calibrated later into the card; the weights' hash still holds
    update_card(tmp_path / "ev", {"verdict_threshold": 0.93, "verdict_precision": 0.9})
    assert load_evaluator(tmp_path / "ev", leap).verdict_threshold == 0.93
    update_card(tmp_path / "ev", {"verdict_threshold": 1.5})
    with pytest.raises(EvaluatorLoadError, match="verdict_threshold must be a probability"):
        load_evaluator(tmp_path / "ev", leap)
    update_card(tmp_path / "ev", {"verdict_threshold": None})
    for k, v in model.state_dict().items():
        torch.testing.assert_close(ev.model.state_dict()[k], v)
    pts, nrm, trans, quat, qg, qs = (x.numpy() for x in _inputs(leap, B=3))
    p = ev.predict(leap, pts, nrm, trans, quat, qg, qs, seed=0)
    assert p.shape == (3, 2) and ((p >= 0) & (p <= 1)).all()
    np.testing.assert_allclose(p, ev.predict(leap, pts, nrm, trans, quat, qg, qs, seed=0))
    with pytest.raises(EvaluatorLoadError, match="hand"):
        load_evaluator(tmp_path / "ev", synthetic_hand)
    w = tmp_path / "ev" / WEIGHTS_NAME
    w.write_bytes(w.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(EvaluatorLoadError, match="sha256"):
        load_evaluator(tmp_path / "ev", leap)
    with pytest.raises(EvaluatorLoadError, match="not found"):
        load_evaluator(tmp_path / "nothing", leap)


def test_training_learns_a_real_signal(leap, tmp_path, monkeypatch):
    """150 small steps on a handful of dataset rows (three objects, one held out): the free-space
    loss falls well below chance (memorising real rows through real rendered views)."""
    from dex1b_ros.evaluator.train import train
    from dex1b_ros.records import read_records
    shards = sorted((ROOT / "data" / "leap" / "grasps").rglob("*.parquet"))
    if not shards:
        pytest.skip("data/leap grasp shards are not in this checkout")
    monkeypatch.setenv("DEX1B_CACHE_DIR", str(tmp_path))
    rec = read_records(shards[:3])
    ids = np.asarray(rec.object_id)
    objs = sorted(set(ids[rec.validated].tolist()))[:3]
    keep = np.flatnonzero(rec.validated & np.isin(ids, objs))
    pos, neg = keep[rec.success[keep]][:12], keep[~rec.success[keep]][:12]
    mask = np.zeros(len(rec), bool)
    mask[np.concatenate([pos, neg])] = True
    # put the chosen rows on the training side whatever the split picks
    rec = rec.select(mask)
    cfg = EvaluatorConfig(n_points=64, view_points=128, views_per_object=1, steps=150, batch=16, lr=3e-3,
                          val_fraction=0.01, width=32, weight_decay=0.0, seed=0)
    res = train(leap, rec, cfg, progress=False)
    first, last = res.history[0]["free"], res.history[-1]["free"]
    assert len(pos) and len(neg)
    assert last < 0.4 and last < 0.6 * first, res.history


def test_train_evaluator_help_lists_every_config_field(capsys):
    import dataclasses

    from dex1b_ros import cli
    with pytest.raises(SystemExit) as e:
        cli.main(["train-evaluator", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    missing = [f.name for f in dataclasses.fields(EvaluatorConfig)
               if "--" + f.name.replace("_", "-") not in out]
    assert not missing


@pytest.mark.slow
def test_planner_fills_evaluator_prob():
    if not (SHIPPED / "evaluator.safetensors").is_file():
        pytest.skip(f"no shipped evaluator at {SHIPPED} (dex1b train-evaluator --hand leap --data data/leap)")
    from dex1b_ros.eval.run import EvalConfig, make_cloud, table_plane
    from dex1b_ros.objects import load_object
    from dex1b_ros.planner.config import planner_config
    from dex1b_ros.planner.pipeline import GraspPipeline
    mesh = load_object("proc:box:80").mesh
    p, n = make_cloud(mesh, "partial", EvalConfig(), seed=0)
    over = {"warmup": False, "sampling.num_samples": 16, "refinement.refine_steps": 5, "validation.num_validate": 2,
            "ranking.evaluator": str(SHIPPED)}
    pipe = GraspPipeline(config=planner_config(over))
    r = pipe.plan(p, n, support_plane=table_plane(mesh))
    assert r.grasps, r.message
    probs = [g.evaluator_prob for g in r.grasps]
    assert all(x is not None and 0.0 <= x <= 1.0 for x in probs)
    assert "evaluator" in r.timings and "predicted good by the evaluator" in r.message
    # without the option nothing is filled
    r0 = GraspPipeline(config=planner_config({**over, "ranking.evaluator": ""})).plan(p, n,
                                                                                     support_plane=table_plane(mesh))
    assert all(g.evaluator_prob is None for g in r0.grasps)


def test_plan_metrics_rank_accepted_first_then_by_each_head():
    from types import SimpleNamespace

    from dex1b_ros.evaluator.train import plan_metrics
    # two plans of 3 candidates; plan 0: the free-space head prefers c1 (held, not lifted), the lift
    # head prefers c2 (lifted); plan 1: c4 is the only accepted one and goes first whatever the heads say
    held = np.array([0, 1, 0, 0, 1, 1], bool)
    lifted = np.array([0, 0, 1, 0, 1, 0], bool)
    prob = np.array([[0.1, 0.1], [0.9, 0.2], [0.5, 0.9], [0.9, 0.9], [0.1, 0.1], [0.8, 0.8]], np.float32)
    accepted = np.array([1, 1, 1, 0, 1, 0], bool)
    rank = np.array([0, 1, 2, 0, 1, 2])
    pm = plan_metrics(prob, SimpleNamespace(records=SimpleNamespace(success=held, lift_success=lifted)),
                      np.array([0, 0, 0, 1, 1, 1]), accepted, rank)
    assert pm["plans"] == 2
    assert pm["first_held_energy"] == 0 and pm["first_lifted_energy"] == 0      # c0, c3 (rank 0)
    assert pm["first_held_evaluator"] == 2 and pm["first_lifted_evaluator"] == 1   # c1, c4
    assert pm["first_held_lift_head"] == 1 and pm["first_lifted_lift_head"] == 2   # c2, c4
    assert pm["first_lifted_both"] == 2                                            # 0.45 > 0.18: c2, then c4
    assert pm["first_lifted_both_unfiltered"] == 1 and pm["first_held_both_unfiltered"] == 0   # c2, c3 (0.81)
    assert pm["any_candidate_held"] == 2 and pm["any_candidate_lifted"] == 2


def test_plane_features_heights_and_up_direction(leap):
    """A wrist 10 cm above the table z = 0.02: height 1 dm; the up direction is the table normal
    seen from the wrist; fingertip heights are their world z minus the table's; and the features
    do not change when table, wrist and cloud move together."""
    from dex1b_ros.evaluator.model import plane_features
    from dex1b_ros.rotation import matrix_to_quat, quat_to_matrix, random_rotations
    pts, nrm, trans, quat, qg, qs = _inputs(leap)
    tg, ts = palm_fingertips(leap, qg), palm_fingertips(leap, qs)
    plane = torch.tensor([0.0, 0.0, 2.0, -0.04], dtype=torch.float64)        # z = 0.02, normal not unit
    trans = trans.clone()
    trans[:, 2] = 0.12
    f = plane_features(plane, trans, quat, tg, ts)
    F = len(leap.tip_names)
    assert f.shape == (5, 4 + 2 * F)
    R = quat_to_matrix(quat)
    torch.testing.assert_close(f[:, :3], R[:, 2, :].float(), rtol=1e-5, atol=1e-5)     # R^T z
    torch.testing.assert_close(f[:, 3], torch.ones(5), rtol=1e-5, atol=1e-5)
    world_tips = torch.einsum("bij,bfj->bfi", R, tg.double()) + trans[:, None]
    torch.testing.assert_close(f[:, 4:4 + F], ((world_tips[..., 2] - 0.02) * 10).float(), rtol=1e-4, atol=1e-4)
    A = random_rotations(1, generator=torch.Generator().manual_seed(5), dtype=torch.float64)[0]
    b = torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64)
    n2 = A @ plane[:3]
    plane2 = torch.cat([n2, (plane[3] - n2 @ b)[None]])                      # the same plane, moved
    a = grasp_features(pts, nrm, trans, quat, qg, qs, tg, ts, plane)
    m = grasp_features(pts @ A.T + b, nrm @ A.T, trans @ A.T + b, matrix_to_quat(A @ R), qg, qs, tg, ts, plane2)
    for x, y in zip(a, m):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-4)


def test_plane_model_round_trip_and_needs_a_plane(leap, tmp_path):
    from dex1b_ros.config_utils import to_dict
    from dex1b_ros.evaluator.io import load_evaluator, save_evaluator
    cfg = EvaluatorConfig(n_points=32, view_points=64, width=16, plane_features=True)
    model = GraspEvaluator(len(leap.joint_names), len(leap.tip_names), cfg.width, plane=True)
    save_evaluator(model, {"hand": "leap", "joint_names": list(leap.joint_names), "threshold": 0.8,
                           "config": to_dict(cfg)}, tmp_path / "ev")
    ev = load_evaluator(tmp_path / "ev", leap)
    assert ev.needs_plane and ev.card["network"]["plane"] is True
    pts, nrm, trans, quat, qg, qs = (x.numpy() for x in _inputs(leap, B=3))
    p = ev.predict(leap, pts, nrm, trans, quat, qg, qs, plane=np.array([0.0, 0.0, 1.0, 0.1]))
    assert p.shape == (3, 2) and ((p >= 0) & (p <= 1)).all()
    for bad in (None, [0.0, 0.0, 0.0, 1.0], [0.0, 0.0, float("nan"), 0.0], [1.0, 2.0]):
        with pytest.raises(ValueError, match="support plane"):
            ev.predict(leap, pts, nrm, trans, quat, qg, qs, plane=bad)
    # a card written before the plane features (no network.plane) loads as a model without them
    import yaml
    card = yaml.safe_load((tmp_path / "ev" / "model_card.yaml").read_text())
    old = GraspEvaluator(len(leap.joint_names), len(leap.tip_names), cfg.width)
    del card["network"]["plane"]
    save_evaluator(old, {k: v for k, v in card.items() if k not in ("format", "weights", "sha256", "network")},
                   tmp_path / "old")
    c = yaml.safe_load((tmp_path / "old" / "model_card.yaml").read_text())
    del c["network"]["plane"]
    (tmp_path / "old" / "model_card.yaml").write_text(yaml.safe_dump(c))
    assert not load_evaluator(tmp_path / "old", leap).needs_plane


def test_plane_features_refuse_data_without_planes(leap):
    """The dataset's records are free-floating (no table): a plane-reading model cannot train on them."""
    from dex1b_ros.evaluator.data import EvalData
    from dex1b_ros.evaluator.train import prepare
    with pytest.raises(ValueError, match="no support planes"):
        prepare(leap, EvalData(None, [], np.zeros(0, np.int64), np.zeros((0, 1, 1, 3)), np.zeros((0, 1, 1, 3))),
                plane=True)


def test_listwise_ranking_loss_and_groups():
    from dex1b_ros.evaluator.train import _listwise, _rank_groups
    plan = np.array([0, 0, 0, 1, 1, -1, 2, 2])
    free = np.array([1, 0, 0, 1, 1, 1, 0, 0], np.float32)      # plan 1 all good, plan 2 all bad: no ranking signal
    lift = np.array([0, 0, 1, 1, 1, 0, 0, 0], np.float32)
    g = _rank_groups(plan, free, lift)
    assert g.tolist() == [[0, 1, 2]]                            # records (-1) never form a plan
    sel = np.array([[True, True, True, False], [True, True, False, False]])
    y = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0])                  # plan A: first good; plan B: second good
    good = torch.tensor([3.0, 0.0, 0.0, 0.0, 3.0], requires_grad=True)
    bad = torch.tensor([0.0, 3.0, 0.0, 3.0, 0.0])
    lg, lb = _listwise(good, y, sel), _listwise(bad, y, sel)
    assert 0 < lg < 0.2 < lb                                     # -log softmax mass of the positives
    torch.testing.assert_close(lb, torch.tensor((np.log(2 + np.exp(3)) - 0 + np.log(1 + np.exp(3)) - 0) / 2,
                                                dtype=torch.float32))
    lg.backward()
    assert good.grad[0] < 0 and good.grad[1] > 0               # raise the good candidate, lower the bad
    # a plan without a positive (or without a negative) adds nothing
    assert _listwise(torch.zeros(3), torch.zeros(3), np.array([[True, True, True]])) == 0


def test_rank_groups_among_checked_candidates_only():
    from dex1b_ros.evaluator.train import _rank_groups
    plan = np.array([0, 0, 0, 0, 1, 1, 1])
    free = np.array([1, 0, 1, 0, 1, 0, 0], np.float32)
    lift = free.copy()
    passed = np.array([True, True, False, True, True, False, False])
    # plan 0: its passing candidates 0, 1, 3 (one good, two bad); plan 1: its only passing candidate is
    # good, so among the passing ones there is nothing to rank
    assert _rank_groups(plan, free, lift, passed).tolist() == [[0, 1, 3]]
    assert _rank_groups(plan, free, lift).tolist() == [[0, 1, 2, 3], [4, 5, 6, -1]]


def test_energy_features_scale_clip_and_missing_term():
    from dex1b_ros.evaluator.model import ENERGY_FEATURES, N_ENERGY, energy_features
    terms = {k: np.array([0.0, s, -1.0, np.nan]) for k, s in ENERGY_FEATURES}
    f = energy_features(terms, np.array([0.0, 0.01, 0.02, 0.0]), np.array([0.005, 0.0, 0.0, 0.0]))
    assert f.shape == (4, N_ENERGY) and f.dtype == np.float32
    np.testing.assert_allclose(f[1, :len(ENERGY_FEATURES)], np.log(2.0), rtol=1e-6)   # x = scale -> log 2
    assert (f[2, :len(ENERGY_FEATURES)] == 0).all() and (f[3] == 0).all()            # negative / NaN -> 0
    np.testing.assert_allclose(f[:, -2], np.log1p([0.0, 1.0, 2.0, 0.0]), rtol=1e-6)   # contact distance / 10 mm
    np.testing.assert_allclose(f[0, -1], np.log(2.0), rtol=1e-6)                       # penetration / 5 mm
    with pytest.raises(KeyError, match="table"):
        energy_features({k: v for k, v in terms.items() if k != "table"}, np.zeros(4), np.zeros(4))


def test_plan_energy_reads_the_collect_plans_columns():
    import pyarrow as pa

    from dex1b_ros.evaluator.data import plan_energy
    from dex1b_ros.evaluator.model import ENERGY_FEATURES, energy_features
    cols = {f"energy_{k}": [0.5 * s, 2 * s] for k, s in ENERGY_FEATURES}
    t = pa.table({**cols, "contact_distance_mm": [1.0, 30.0], "penetration_mm": [0.0, 7.5]})
    want = energy_features({k: np.array(cols[f"energy_{k}"]) for k, _ in ENERGY_FEATURES}, np.array([1e-3, 3e-2]),
                           np.array([0.0, 7.5e-3]))
    np.testing.assert_allclose(plan_energy(t), want, rtol=1e-6)
    with pytest.raises(ValueError, match="energy_table"):
        plan_energy(t.drop(["energy_table"]))


def test_energy_model_round_trip_needs_energies_and_plans_with_them(leap, tmp_path):
    """A model that reads the refinement's energies: saved and loaded with them, refuses to score
    without them, and the planner hands them over (its candidates' energies)."""
    from dex1b_ros.config_utils import to_dict
    from dex1b_ros.evaluator.data import EvalData
    from dex1b_ros.evaluator.io import load_evaluator, save_evaluator
    from dex1b_ros.evaluator.model import N_ENERGY
    from dex1b_ros.evaluator.train import prepare
    cfg = EvaluatorConfig(n_points=32, view_points=64, width=16, plane_features=True, energy_features=True)
    model = GraspEvaluator(len(leap.joint_names), len(leap.tip_names), cfg.width, plane=True, energy=True)
    save_evaluator(model, {"hand": "leap", "joint_names": list(leap.joint_names), "threshold": 0.8,
                           "config": to_dict(cfg)}, tmp_path / "ev")
    ev = load_evaluator(tmp_path / "ev", leap)
    assert ev.needs_energy and ev.card["network"]["energy"] is True
    pts, nrm, trans, quat, qg, qs = (x.numpy() for x in _inputs(leap, B=3))
    plane = np.array([0.0, 0.0, 1.0, 0.1])
    e = np.random.default_rng(0).random((3, N_ENERGY)).astype(np.float32)
    p = ev.predict(leap, pts, nrm, trans, quat, qg, qs, plane=plane, energy=e)
    assert p.shape == (3, 2)
    e2 = e.copy()
    e2[:, -1] += 3.0                                            # the energies are read: other input, other output
    assert not np.allclose(p, ev.predict(leap, pts, nrm, trans, quat, qg, qs, plane=plane, energy=e2))
    for bad in (None, e[:2], np.full((3, N_ENERGY), np.nan)):
        with pytest.raises(ValueError, match="energies"):
            ev.predict(leap, pts, nrm, trans, quat, qg, qs, plane=plane, energy=bad)
    with pytest.raises(ValueError, match="no planner energies"):
        prepare(leap, EvalData(None, [], np.zeros(0, np.int64), np.zeros((0, 1, 1, 3)), np.zeros((0, 1, 1, 3))),
                energy=True)
    from dex1b_ros.eval.run import EvalConfig, make_cloud, table_plane
    from dex1b_ros.objects import load_object
    from dex1b_ros.planner.config import planner_config
    from dex1b_ros.planner.pipeline import GraspPipeline
    mesh = load_object("proc:box:80").mesh
    p, n = make_cloud(mesh, "partial", EvalConfig(), seed=0)
    over = {"warmup": False, "sampling.num_samples": 16, "refinement.refine_steps": 5, "validation.num_validate": 2,
            "ranking.evaluator": str(tmp_path / "ev")}
    r = GraspPipeline(config=planner_config(over)).plan(p, n, support_plane=table_plane(mesh))
    assert r.grasps and all(g.evaluator_prob is not None for g in r.grasps), r.message


def test_finger_pool_model_is_order_invariant_reads_the_points_near_each_tip_and_round_trips(leap, tmp_path):
    from dex1b_ros.config_utils import to_dict
    from dex1b_ros.evaluator.io import load_evaluator, save_evaluator
    torch.manual_seed(0)
    pts, nrm, trans, quat, qg, qs = _inputs(leap)
    tg, ts = palm_fingertips(leap, qg), palm_fingertips(leap, qs)
    model = GraspEvaluator(len(leap.joint_names), len(leap.tip_names), width=16, finger_pool=True).eval()
    pp, pg = grasp_features(pts, nrm, trans, quat, qg, qs, tg, ts)
    out = model(pp, pg)
    perm = torch.randperm(pp.shape[1])
    torch.testing.assert_close(out, model(pp[:, perm], pg), rtol=1e-5, atol=1e-5)
    # tip 0's pooled features follow the points near it, not the far ones: flip the normal of the
    # point nearest to it, then of the farthest
    base = model.pool_fingers(pp)[0, 0]
    d0 = pp[0, :, 6]
    for i, moves in ((d0.argmin(), True), (d0.argmax(), False)):
        pp2 = pp.clone()
        pp2[0, i, 3:6] = -pp2[0, i, 3:6]
        changed = (model.pool_fingers(pp2)[0, 0] - base).abs().max() > 1e-4 * (1 + base.abs().max())
        assert bool(changed) == moves
    cfg = EvaluatorConfig(n_points=32, view_points=64, width=16, finger_pool=True)
    save_evaluator(model, {"hand": "leap", "joint_names": list(leap.joint_names), "threshold": 0.8,
                           "config": to_dict(cfg)}, tmp_path / "ev")
    ev = load_evaluator(tmp_path / "ev", leap)
    assert ev.model.finger_pool and ev.card["network"]["finger_pool"] is True
    torch.testing.assert_close(ev.model(pp, pg), out)
