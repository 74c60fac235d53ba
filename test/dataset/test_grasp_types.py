"""Grasp types, entropy, associated-point weights and the rebalancing quota: exact and reproducible."""
import numpy as np
import pytest
import trimesh

from dex1b_ros.dataset import grasp_types as G


def _box(extents=(0.12, 0.06, 0.03)):
    return trimesh.creation.box(extents=extents)


def _rot(seed):
    from scipy.spatial.transform import Rotation
    return Rotation.random(random_state=seed).as_matrix()


def test_principal_frame_orders_axes_by_extent():
    f = G.principal_frame(_box())
    np.testing.assert_allclose(np.abs(f.axes), np.eye(3), atol=1e-9)   # long = x, mid = y, short = z
    assert f.std[0] > f.std[1] > f.std[2]


def test_principal_frame_is_deterministic_and_equivariant():
    # an asymmetric mesh (a box with a bump) so the skew fixes every sign
    m = trimesh.util.concatenate([_box(), trimesh.creation.box(extents=(0.02, 0.02, 0.02),
                                                              transform=trimesh.transformations.translation_matrix(
                                                                  [0.05, 0.025, 0.02]))])
    a, b = G.principal_frame(m), G.principal_frame(m.copy())
    np.testing.assert_array_equal(a.axes, b.axes)
    R = _rot(3)
    mr = m.copy()
    mr.apply_transform(np.block([[R, np.zeros((3, 1))], [np.zeros((1, 3)), np.ones((1, 1))]]))
    np.testing.assert_allclose(G.principal_frame(mr).axes, R @ a.axes, atol=1e-6)


def test_type_labels_and_bins():
    touch = np.array([[1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]], bool)
    labels = G.type_labels(touch, np.array([0, 2, 1]), np.array([1, -1, -1]), ["thumb", "index", "middle", "ring"])
    assert labels == ["thumb+index|long+", "none|short-", "thumb+index+middle+ring|mid-"]


def test_grasp_types_on_real_hand(leap):
    import torch

    from dex1b_ros.optim import ObjectField
    box = _box()
    field = ObjectField.from_mesh(box)
    frame = G.principal_frame(box)
    pose = __import__("dex1b_ros.hands", fromlist=["HandPose"]).HandPose(
        torch.tensor([[0.0, 0.0, 0.12], [0.0, 0.0, -0.12]], dtype=leap.dtype),
        torch.tensor([[1.0, 0, 0, 0, 1, 0], [1.0, 0, 0, 0, -1, 0]], dtype=leap.dtype),
        leap.open_pose_batch(2))
    t1 = G.grasp_types(leap, field, pose, frame)
    t2 = G.grasp_types(leap, field, pose, frame)
    assert t1 == t2 and len(t1) == 2
    assert all("|" in t for t in t1)
    assert t1[0].startswith("none|")          # hand 12 cm away: no finger touches


def test_entropy():
    assert G.type_entropy({}) == 0.0
    assert G.type_entropy({"a": 5}) == 0.0
    assert G.type_entropy({"a": 3, "b": 3}) == pytest.approx(1.0)
    assert G.type_entropy([1, 1, 1, 1]) == pytest.approx(2.0)


def test_associated_weights_formula():
    pts = np.array([[0.001, 0.001, 0.001], [0.015, 0.001, 0.001], [0.5, 0.5, 0.5]], np.float32)
    # voxel (0,0,0): 2 grasps of common type a (n_a = 6), voxel (1,0,0): 2 grasps of rare type b (n_b = 2)
    counts = {"a": 6, "b": 2}
    vox = [(0, 0, 0, "a", 2), (1, 0, 0, "b", 2)]
    w = G.associated_weights(pts, 0.01, vox, counts)
    mean = 4.0
    np.testing.assert_allclose(w, [1 / (1 + 2 * 6 / mean), 1 / (1 + 2 * 2 / mean), 1.0])
    assert w[1] > w[0]                          # the rare type's region is preferred
    np.testing.assert_array_equal(G.associated_weights(pts, 0.01, [], {}), np.ones(3))
    # equal type counts: Dex1B's 1 / (count + 1)
    w = G.associated_weights(pts, 0.01, [(0, 0, 0, "a", 3)], {"a": 3})
    assert w[0] == pytest.approx(1 / 4)


def test_voxel_index_matches_float64_floor():
    p = np.array([[-0.0001, 0.00999, 0.01]], np.float32)
    np.testing.assert_array_equal(G.voxel_index(p, 0.01), np.floor(p.astype(np.float64) / 0.01).astype(np.int64))


@pytest.mark.parametrize("cap,prior,chunks", [(10, 3, 3), (4, 0, 5), (5, 9, 2), (7, 0, 1)])
def test_type_quota_splits_the_remainder(cap, prior, chunks):
    q = [G.type_quota(prior, cap, c, chunks) for c in range(chunks)]
    assert sum(q) == max(0, cap - prior)
    assert max(q) - min(q) <= 1
    assert G.type_quota(prior, 0, 0, chunks) is None


def test_select_by_quota_keeps_lowest_energy():
    types = ["a", "a", "a", "b", "a"]
    energy = np.array([3.0, 1.0, 2.0, 9.0, 1.0])
    ok = np.array([1, 1, 1, 1, 0], bool)
    keep = G.select_by_quota(types, energy, ok, {"a": 2, "b": None})
    assert keep.tolist() == [False, True, True, True, False]
    assert G.select_by_quota(types, energy, ok, {"a": 0, "b": 0}).sum() == 0
