"""Shape from one view (dex1b_ros/perception/completion.py): the completions and their measure."""
import numpy as np
import pytest
import trimesh

from dex1b_ros.config_utils import ConfigError
from dex1b_ros.geometry.pointcloud import look_at, render_partial_cloud
from dex1b_ros.perception.completion import (
    complete_by_symmetry,
    complete_view,
    completion_error,
    fit_vertical_axis,
)
from dex1b_ros.perception.preprocess import estimate_object_mesh
from dex1b_ros.planner.config import PrepareConfig

UP = np.array([0.0, 0.0, 1.0])


def _view(mesh, elevation_deg: float, azimuth_deg: float = 30.0, seed: int = 0):
    """One camera view 0.5 m away of ``mesh`` standing on the table z = min z; (points, normals, plane)."""
    el, az = np.radians(elevation_deg), np.radians(azimuth_deg)
    c = mesh.bounds.mean(0)
    eye = c + 0.5 * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    pc = render_partial_cloud(mesh, 1500, seed=seed, camera_pose=look_at(eye, c))
    return pc.points, pc.normals, np.array([0.0, 0.0, 1.0, -mesh.bounds[0, 2]])


def test_completion_error_of_a_mesh_against_itself_and_a_shifted_copy():
    box = trimesh.creation.box([0.06, 0.04, 0.1])
    same = completion_error(box, box)
    assert same["chamfer_mm"] < 1.5 and same["iou"] > 0.99 and 0.98 < same["vol_ratio"] < 1.02
    moved = box.copy()
    moved.apply_translation([0.02, 0.0, 0.0])   # a third of the box's x extent: IoU 0.04 / 0.08
    off = completion_error(box, moved)
    assert off["iou"] == pytest.approx(0.5, abs=0.03)
    assert off["chamfer_mm"] > same["chamfer_mm"] + 3


def test_revolve_completes_a_can_seen_from_the_side_better_than_mirroring():
    can = trimesh.creation.cylinder(radius=0.04, height=0.12, sections=64)
    p, n, plane = _view(can, elevation_deg=15)
    axis = fit_vertical_axis(p, n, UP)
    assert axis is not None
    centre, inliers = axis
    assert np.linalg.norm(centre[:2] - can.bounds.mean(0)[:2]) < 0.003
    side = np.abs(n[:, 2]) < 0.5
    assert inliers[side].mean() > 0.95 and not inliers[~side].any()   # the flat top has no horizontal normal
    err = {m: completion_error(can, estimate_object_mesh(complete_view(p, n, plane, m))) for m in
           ("mirror", "side", "revolve")}
    assert err["revolve"]["iou"] > 0.85
    assert err["revolve"]["iou"] > err["mirror"]["iou"] + 0.05
    assert err["side"]["iou"] >= err["mirror"]["iou"] - 0.01


@pytest.mark.parametrize("shape", ["box", "ellipsoid"])
def test_a_box_or_an_ellipsoid_is_not_taken_for_a_round_object(shape):
    if shape == "box":
        mesh = trimesh.creation.box([0.08, 0.05, 0.12])
    else:
        mesh = trimesh.creation.icosphere(subdivisions=4, radius=0.04)
        mesh.apply_scale([1.0, 0.55, 0.8])
    p, n, _ = _view(mesh, elevation_deg=30)
    assert fit_vertical_axis(p, n, UP) is None


def test_completed_points_keep_the_view_first_and_stay_above_the_table():
    can = trimesh.creation.cylinder(radius=0.03, height=0.08, sections=32)
    p, n, plane = _view(can, elevation_deg=40)
    for method in ("mirror", "side", "revolve"):
        for drop in (False, True):
            out = complete_view(p, n, plane, method, drop)
            np.testing.assert_array_equal(out[:len(p)], p)
            assert (out[:, 2] >= can.bounds[0, 2] - 1e-9).all()
    dropped = complete_view(p, n, plane, "mirror", drop=True)
    assert np.isclose(dropped[:, 2], can.bounds[0, 2] + 1e-3).sum() >= len(p)
    with pytest.raises(ValueError, match="completion"):
        complete_view(p, n, plane, "guess")


def test_mirror_plane_at_a_given_depth():
    p = np.array([[0.0, 0.0, 0.0], [0.01, 0.0, 0.02]])
    n = np.tile([-1.0, 0.0, 0.0], (2, 1))
    out, _ = complete_by_symmetry(p, n, np.array([1.0, 0.0, 0.0]), plane_at=0.03)
    # the plane lies 3 cm behind the centroid (x = 0.005): x -> 2 * 0.035 - x
    np.testing.assert_allclose(out[2:, 0], [0.07, 0.06])


def test_config_names_the_completion_field():
    with pytest.raises(ConfigError, match="completion"):
        PrepareConfig(completion="nerf")
