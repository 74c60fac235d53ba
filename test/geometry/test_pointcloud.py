"""Surface sampling and simulated partial depth views."""
import time

import numpy as np
import pytest

from dex1b_ros.geometry import exact_signed_distance, look_at, render_partial_cloud, sample_surface
from dex1b_ros.geometry import pointcloud as pc_mod
from dex1b_ros.objects import load_ycb, make_object


@pytest.fixture(scope="module")
def banana():
    return load_ycb("011_banana")


@pytest.mark.parametrize("fps", [False, True])
def test_sample_surface(banana, fps):
    p, n = sample_surface(banana, 1000, seed=3, fps=fps)
    assert p.shape == (1000, 3) and n.shape == (1000, 3) and p.dtype == np.float32
    assert np.abs(exact_signed_distance(banana, p)).max() < 1e-5  # on the surface
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-5)
    p2, n2 = sample_surface(banana, 1000, seed=3, fps=fps)
    assert np.array_equal(p, p2) and np.array_equal(n, n2)
    assert not np.array_equal(p, sample_surface(banana, 1000, seed=4, fps=fps)[0])


def test_fps_covers_more_evenly(banana):
    """FPS leaves no big gaps: max nearest-neighbour gap shrinks vs plain random sampling."""
    from scipy.spatial import cKDTree

    dense, _ = sample_surface(banana, 20000, seed=0)
    gaps = [cKDTree(sample_surface(banana, 256, seed=1, fps=f)[0]).query(dense)[0].max() for f in (False, True)]
    assert gaps[1] < 0.7 * gaps[0]


def test_partial_cloud_sphere_far_side_absent():
    sphere = make_object("sphere", 0, size=0.08)  # centred at the origin, r = 0.04
    r, D = 0.04, 0.5
    eye = np.array([0.0, -D, 0.0])
    cloud = render_partial_cloud(sphere, 1500, seed=0, camera_pose=look_at(eye, np.zeros(3)))
    p = cloud.points
    assert p.shape == (1500, 3) and cloud.normals.shape == (1500, 3)
    u = eye / D
    # visible cap from distance D: (p . u) >= r^2 / D (tolerance: tessellation)
    assert (p @ u).min() > r * r / D - 2e-3
    assert (p @ u).min() > 0  # nothing from the far hemisphere
    assert np.all(np.einsum("ij,ij->i", cloud.normals, eye - p) > 0)  # front faces only
    np.testing.assert_allclose(cloud.camera_position, eye)


def test_partial_cloud_exact_count_determinism_noise_dropout(banana):
    a = render_partial_cloud(banana, 2048, seed=5)
    b = render_partial_cloud(banana, 2048, seed=5)
    assert a.points.shape == (2048, 3) and np.array_equal(a.points, b.points)
    assert np.array_equal(a.camera_pose, b.camera_pose)
    d = np.linalg.norm(a.camera_position - banana.center)
    assert 0.4 <= d <= 0.7
    assert (a.depth > 0).sum() == a.n_visible
    assert np.abs(exact_signed_distance(banana, a.points)).max() < 1e-5
    noisy = render_partial_cloud(banana, 2048, seed=5, noise_std=0.002, dropout=0.5)
    assert noisy.n_visible < 0.6 * a.n_visible
    err = np.abs(exact_signed_distance(banana, noisy.points))
    assert 5e-4 < err.mean() < 3e-3
    few = render_partial_cloud(banana, 5 * a.n_visible, seed=5)  # padded by repetition
    assert few.points.shape == (5 * a.n_visible, 3)
    assert len(np.unique(few.points, axis=0)) == a.n_visible


def test_partial_cloud_speed(banana):
    render_partial_cloud(banana, 2048, seed=0)
    t = time.perf_counter()
    for s in range(5):
        render_partial_cloud(load_ycb("006_mustard_bottle"), 2048, seed=s)
    assert (time.perf_counter() - t) / 5 < 0.5


def test_trimesh_raycast_fallback_matches_open3d(banana, monkeypatch):
    pose = look_at(np.array([0.3, 0.2, 0.4]), banana.center)
    a = render_partial_cloud(banana, 500, seed=0, camera_pose=pose, width=160, height=120)
    monkeypatch.setattr(pc_mod, "_o3d", None)
    b = render_partial_cloud(banana, 500, seed=0, camera_pose=pose, width=160, height=120)
    assert abs(a.n_visible - b.n_visible) <= 2
    np.testing.assert_allclose(a.depth, b.depth, atol=1e-4)
