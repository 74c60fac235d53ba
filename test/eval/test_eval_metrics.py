"""Metrics of the evaluation harness on constructed cases (no simulation)."""
import itertools
import math

import numpy as np
import pytest
import torch

from dex1b_ros.eval.metrics import (
    Counts,
    active_finger_labels,
    cpu_seconds_per_valid,
    label_entropy,
    pca_cumulative_variance,
    pose_features,
    quat_to_axis_angle,
)
from dex1b_ros.eval.run import aggregate, check_aims
from dex1b_ros.rotation import axis_angle_to_matrix, matrix_to_quat, random_rotations

J = 16


def _random_grasps(n, rng):
    q = matrix_to_quat(random_rotations(n, torch.Generator().manual_seed(int(rng.integers(1 << 30))),
                                        dtype=torch.float64)).numpy()
    return rng.uniform(-0.1, 0.1, (n, 3)), q, rng.uniform(-0.3, 1.5, (n, J))


# ------------------------------------------------------------------------ PCA diversity
def test_identical_grasps_are_degenerate():
    rng = np.random.default_rng(0)
    t, q, j = _random_grasps(1, rng)
    x = pose_features(np.repeat(t, 50, 0), np.repeat(q, 50, 0), np.repeat(j, 50, 0))
    for k in (1, 3, 10):
        assert pca_cumulative_variance(x, k) == 1.0
    assert pca_cumulative_variance(x[:1], 1) == 1.0           # a single grasp too
    assert pca_cumulative_variance(np.zeros((0, 22)), 3) == 1.0


def test_one_varying_dimension_is_fully_explained_by_one_component():
    x = np.zeros((40, 22))
    x[:, 5] = np.linspace(-1, 1, 40)
    assert pca_cumulative_variance(x, 1) == pytest.approx(1.0)


def test_random_grasps_are_spread():
    rng = np.random.default_rng(1)
    x = pose_features(*_random_grasps(3000, rng))
    v3 = pca_cumulative_variance(x, 3)
    assert v3 < 0.25                      # ~3 / 22 for independent standardised features
    assert v3 == pytest.approx(3 / 22, abs=0.08)
    assert pca_cumulative_variance(x, 22) == pytest.approx(1.0)
    # monotone in k
    vals = [pca_cumulative_variance(x, k) for k in range(1, 23)]
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(vals))


def test_clustered_is_less_diverse_than_random():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(200, 2))                       # 2 latent factors driving all 22 features
    mix = rng.normal(size=(2, 22))
    clustered = base @ mix + 1e-3 * rng.normal(size=(200, 22))
    assert pca_cumulative_variance(clustered, 2) > 0.99
    assert pca_cumulative_variance(rng.normal(size=(200, 22)), 2) < 0.3


def test_standardisation_makes_units_irrelevant():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(100, 22))
    y = x * rng.uniform(1e-3, 1e3, 22) + rng.normal(size=22)
    assert pca_cumulative_variance(x, 3) == pytest.approx(pca_cumulative_variance(y, 3), rel=1e-9)


def test_pca_rejects_bad_input():
    with pytest.raises(ValueError, match="k must be"):
        pca_cumulative_variance(np.zeros((3, 4)), 0)
    with pytest.raises(ValueError, match="features must be"):
        pca_cumulative_variance(np.zeros(5), 1)


def test_axis_angle_matches_the_project_rotation_convention():
    rng = np.random.default_rng(4)
    _, q, _ = _random_grasps(200, rng)
    aa = quat_to_axis_angle(q)
    assert np.all(np.linalg.norm(aa, axis=1) <= math.pi + 1e-9)
    R = axis_angle_to_matrix(torch.as_tensor(aa))
    from dex1b_ros.rotation import quat_to_matrix
    assert torch.allclose(R, quat_to_matrix(torch.as_tensor(q)), atol=1e-9)
    np.testing.assert_allclose(quat_to_axis_angle(-q), aa, atol=1e-12)      # q and -q: same rotation
    np.testing.assert_allclose(quat_to_axis_angle(np.array([[1.0, 0, 0, 0]])), [[0, 0, 0]])
    c = math.cos(math.pi / 4)
    np.testing.assert_allclose(quat_to_axis_angle(np.array([[c, 0, 0, c]])), [[0, 0, math.pi / 2]], atol=1e-12)


def test_pose_features_layout():
    t = np.array([[0.1, 0.2, 0.3]])
    x = pose_features(t, np.array([[1.0, 0, 0, 0]]), np.arange(J, dtype=float)[None])
    assert x.shape == (1, 6 + J)
    np.testing.assert_allclose(x[0, :3], t[0])
    np.testing.assert_allclose(x[0, 3:6], 0)
    np.testing.assert_allclose(x[0, 6:], np.arange(J))


# ------------------------------------------------------------------------ type entropy
def test_label_entropy():
    assert label_entropy([]) == 0.0
    assert label_entropy(["a"] * 7) == 0.0
    assert label_entropy(["a", "b"]) == pytest.approx(1.0)
    assert label_entropy(list("abcd") * 3) == pytest.approx(2.0)
    assert label_entropy(list("aaab")) == pytest.approx(-(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25)))
    # order and label type do not matter
    assert label_entropy([("x", 1), ("y", 2), ("x", 1)]) == pytest.approx(label_entropy(["b", "a", "b"]))


def test_active_finger_labels():
    act = np.array([[1, 1, 0, 1], [0, 0, 0, 0]], bool)
    assert active_finger_labels(act, ["index", "middle", "ring", "thumb"]) == ["index+middle+thumb", "none"]


# ------------------------------------------------------------------------ success counting and cost
def test_cpu_per_valid_zero_valid_is_inf():
    assert cpu_seconds_per_valid(10.0, 0) == math.inf
    assert cpu_seconds_per_valid(0.0, 0) == math.inf
    assert cpu_seconds_per_valid(10.0, 4) == pytest.approx(2.5)
    assert cpu_seconds_per_valid(10.0, 0.5) == pytest.approx(20.0)   # an estimated count may be fractional
    with pytest.raises(ValueError):
        cpu_seconds_per_valid(-1.0, 3)


def test_counts_success_and_valid_estimate():
    c = Counts()
    assert math.isnan(c.success_rate) and c.cpu_per_valid == math.inf
    # object A: 100 produced, 4 simulated, 1 passed -> 25 valid estimated
    c.add_object(100, [True, False, False, False], [False, False, False, True], cpu_seconds=10.0)
    # object B: 3 produced, all simulated, 2 passed -> exactly 2 valid
    c.add_object(3, [True, True, False], [True, False, False], cpu_seconds=4.0)
    assert (c.produced, c.evaluated, c.success, c.lift, c.objects) == (103, 7, 3, 2, 2)
    assert c.success_rate == pytest.approx(3 / 7)
    assert c.lift_rate == pytest.approx(2 / 7)
    assert c.valid_estimate == pytest.approx(27.0)
    assert c.cpu_per_valid == pytest.approx(14.0 / 27.0)
    c2 = Counts()
    c2.add_object(50, [False] * 5, [False] * 5, cpu_seconds=3.0)
    c2.add_object(0, [], [], cpu_seconds=1.0)                  # nothing produced: counted, no valid
    assert c2.success_rate == 0.0 and c2.valid_estimate == 0.0 and c2.cpu_per_valid == math.inf
    assert c2.cpu_seconds == 4.0


def test_counts_rejects_inconsistent_input():
    with pytest.raises(ValueError, match="only 2 were produced"):
        Counts().add_object(2, [True, True, True], [False] * 3, 1.0)
    with pytest.raises(ValueError, match="same length"):
        Counts().add_object(5, [True], [False, False], 1.0)


def _rec(method, kind, produced, success, cpu, pca=0.5, entropy=1.0, pen=0.5):
    n = len(success)
    return {"object": "o", "input": kind, "method": method, "produced": produced, "evaluated": n, "success": success,
                "lift": [False] * n, "rejected": 0, "pen_mm": [pen] * n, "contacts": [3] * n, "real_links": [2] * n,
                "pca": pca, "entropy": entropy, "cpu": cpu}


def test_aggregate_and_aims():
    recs = [_rec("baseline", "full", 64, [True] + [False] * 9, cpu=100.0, pca=0.40),
            _rec("gen+refine", "full", 256, [True] * 9 + [False], cpu=10.0, pca=0.35, pen=0.4),
            _rec("baseline", "partial", 64, [False] * 10, cpu=100.0),
            _rec("gen+refine", "partial", 256, [False] * 10, cpu=10.0, pca=0.6, pen=2.0)]
    rows = aggregate(recs)
    assert [(r["input"], r["method"]) for r in rows] == [("full", "baseline"), ("full", "gen+refine"),
                                                         ("partial", "baseline"), ("partial", "gen+refine")]
    b, g = rows[0], rows[1]
    assert b["valid"] == pytest.approx(6.4) and g["valid"] == pytest.approx(230.4)
    assert b["cpu_per_valid"] == pytest.approx(100 / 6.4)
    assert rows[2]["cpu_per_valid"] == math.inf
    aims = check_aims(rows)
    full = [a for a in aims if a.startswith("full")]
    assert "MET (90.0%, 0.40 mm)" in full[0]
    assert full[1].split(":")[1].strip().startswith("at least as diverse") and "MET (0.350 vs 0.400)" in full[1]
    assert "MET" in full[2] and "NOT MET" not in full[2]          # (100/6.4) / (10/230.4) = 360x
    part = [a for a in aims if a.startswith("partial")]
    assert "NOT MET" in part[0] and "NOT MET" in part[1]
    assert "NOT TESTABLE" in part[2]
