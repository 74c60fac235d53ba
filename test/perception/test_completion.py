"""Shape from one view (dex1b_ros/perception/completion.py): the completions and their measure."""
import numpy as np
import pytest
import torch
import trimesh

from dex1b_ros.config_utils import ConfigError
from dex1b_ros.geometry.pointcloud import look_at, render_partial_cloud
from dex1b_ros.perception.completion import (
    carve_by_view,
    column_parts,
    complete_by_symmetry,
    complete_view,
    completion_error,
    convex_hull_mesh,
    fit_vertical_axis,
    parts_volume_fraction,
    union_surface,
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


def _l_shape():
    """An L lying on the table z = 0: three 4 x 4 cm squares of a 8 x 8 cm one, 2 cm tall."""
    a = trimesh.creation.box([0.08, 0.04, 0.02])
    a.apply_translation([0.04, 0.02, 0.01])
    b = trimesh.creation.box([0.04, 0.04, 0.02])
    b.apply_translation([0.02, 0.06, 0.01])
    return trimesh.boolean.union([a, b], engine="manifold")


def test_columns_keep_an_l_open_where_the_hull_fills_it():
    mesh = _l_shape()
    p, n, plane = _view(mesh, elevation_deg=70)
    pts = complete_view(p, n, plane, "revolve")
    hull = estimate_object_mesh(pts)
    assert parts_volume_fraction(column_parts(pts, plane), hull) > 0.9   # the mirrored copy fills the corner
    keep = carve_by_view(pts, len(p), -n.mean(0))     # ... where the camera saw the table
    assert keep[:len(p)].all() and not keep.all()
    parts = column_parts(pts[keep], plane)
    assert len(parts) >= 4 and all(q.is_convex and q.is_volume for q in parts)
    frac = parts_volume_fraction(parts, hull)
    assert 0.6 < frac < 0.85              # the L: 3/4 of its square hull
    corner = np.array([[0.06, 0.06, 0.01]])  # the missing square's centre: inside the hull, in no column
    assert hull.contains(corner)[0] and not any(q.contains(corner)[0] for q in parts)
    inside = np.array([[0.02, 0.02, 0.01], [0.06, 0.02, 0.01], [0.02, 0.06, 0.01]])
    assert all(any(q.contains(inside[i:i + 1])[0] for q in parts) for i in range(3))
    assert min(q.bounds[0, 2] for q in parts) == pytest.approx(0.0, abs=1e-6)   # they stand on the table


def test_columns_of_a_box_fill_its_hull():
    box = trimesh.creation.box([0.06, 0.04, 0.05])
    box.apply_translation([0.0, 0.0, 0.025])
    p, n, plane = _view(box, elevation_deg=45)
    pts = complete_view(p, n, plane, "revolve")
    keep = carve_by_view(pts, len(p), -n.mean(0))
    assert keep.mean() > 0.9          # the mirrored back is behind the seen front
    frac = parts_volume_fraction(column_parts(pts[keep], plane), estimate_object_mesh(pts))
    assert frac > 0.9


def test_parts_volume_fraction_of_known_parts():
    hull = trimesh.creation.box([0.1, 0.1, 0.1])
    half = trimesh.creation.box([0.05, 0.1, 0.1])
    half.apply_translation([-0.025, 0.0, 0.0])
    assert parts_volume_fraction([half], hull) == pytest.approx(0.5, abs=0.03)
    assert parts_volume_fraction([half, half.copy()], hull) == pytest.approx(0.5, abs=0.03)   # union, not sum
    assert parts_volume_fraction([], hull) == 0.0


def test_config_names_the_check_shape_field():
    with pytest.raises(ConfigError, match="check_shape"):
        PrepareConfig(check_shape="voxels")
    with pytest.raises(ConfigError, match="columns_gate"):
        PrepareConfig(columns_gate=0.0)


def test_convex_hull_mesh_is_trimeshs_hull():
    pts = np.random.default_rng(0).normal(size=(80, 3))
    a, b = convex_hull_mesh(pts), trimesh.convex.convex_hull(pts)
    assert a.is_watertight and a.is_winding_consistent and a.volume > 0
    assert a.volume == pytest.approx(b.volume, rel=1e-9) and len(a.vertices) == len(b.vertices)


def test_union_surface_leaves_out_the_seams():
    a = trimesh.creation.box([0.04, 0.04, 0.04])
    b = a.copy()
    b.apply_translation([0.02, 0.0, 0.0])              # overlapping by half
    p, n = union_surface([a, b], 600)
    assert len(p) == 600 and np.allclose(np.linalg.norm(n, axis=1), 1.0)
    union = trimesh.creation.box([0.06, 0.04, 0.04])
    union.apply_translation([0.01, 0.0, 0.0])
    d = np.abs(trimesh.proximity.signed_distance(union, p))
    assert d.max() < 2e-4               # every sample on the union's outside (seams within the 0.1 mm tolerance)
    centre = union.bounds.mean(0)
    assert (np.einsum("ij,ij->i", p - centre, n) > 0).all()   # outward normals


def test_prepare_uses_columns_for_an_l_and_the_hull_for_a_box():
    from dex1b_ros.planner.pipeline import prepare_cloud
    cfg = PrepareConfig(check_shape="columns", columns_field=True, columns_gate=0.95)   # L: 48 / 56 of its hull
    p, n, plane = _view(_l_shape(), elevation_deg=70)
    prep = prepare_cloud(p, n, cfg, support_plane=plane)
    assert prep.partial and prep.check_parts and prep.field.name == "columns"
    corner = torch.tensor([[0.05, 0.05, 0.01]])         # in the L's open corner, 1 cm from it: outside the columns
    assert float(prep.field.sdf(corner)[0]) > 0.003
    hull = prepare_cloud(p, n, PrepareConfig(), support_plane=plane)
    assert hull.check_parts is None and float(hull.field.sdf(corner)[0]) < 0   # the hull fills it
    only_check = prepare_cloud(p, n, PrepareConfig(check_shape="columns", columns_gate=0.95), support_plane=plane)
    assert only_check.check_parts and only_check.field.name != "columns"        # the default: the check only
    box = trimesh.creation.box([0.06, 0.04, 0.05])
    box.apply_translation([0.0, 0.0, 0.025])
    p, n, plane = _view(box, elevation_deg=45)
    assert prepare_cloud(p, n, cfg, support_plane=plane).check_parts is None     # convex: gated out
    assert prepare_cloud(p, n, cfg).check_parts is None                          # no table: no columns


def test_completion_error_of_parts_is_that_of_their_union():
    mesh = _l_shape()
    a = trimesh.creation.box([0.08, 0.04, 0.02])
    a.apply_translation([0.04, 0.02, 0.01])
    b = trimesh.creation.box([0.04, 0.08, 0.02])
    b.apply_translation([0.02, 0.04, 0.01])              # overlapping in one square: the L exactly
    e = completion_error(mesh, [a, b])
    assert e["iou"] > 0.98 and e["chamfer_mm"] < 1.5 and 0.98 < e["vol_ratio"] < 1.02
    assert completion_error(mesh, mesh.convex_hull)["iou"] == pytest.approx(48 / 56, abs=0.02)   # hull cuts the corner


def test_prepare_carve_drops_the_guessed_points_the_camera_saw_past():
    from dex1b_ros.planner.pipeline import prepare_cloud
    p, n, plane = _view(_l_shape(), elevation_deg=70)
    plain = prepare_cloud(p, n, PrepareConfig(carve=False), support_plane=plane)
    carved = prepare_cloud(p, n, PrepareConfig(), support_plane=plane)        # the default
    k = len(plain.points)
    np.testing.assert_array_equal(carved.hull_points[:k], plain.hull_points[:k])     # the view itself stays
    assert len(carved.hull_points) < len(plain.hull_points)
    truth = _l_shape()
    assert (completion_error(truth, carved.hull_mesh)["acc_mm"]
            < completion_error(truth, plain.hull_mesh)["acc_mm"])                   # invents less


def test_columns_of_a_long_thin_bar_stay_in_their_cells():
    """Cells are keyed by both grid indices: a bar 4 x longer along y than x gives columns that each
    span about one cell (an earlier key merged cells of different rows into one hull)."""
    bar = trimesh.creation.box([0.16, 0.03, 0.02])        # long along x: the grid's second index
    bar.apply_translation([0.0, 0.0, 0.01])
    pts = trimesh.sample.sample_surface(bar, 4000, seed=0)[0]
    parts = column_parts(pts, np.array([0.0, 0.0, 1.0, 0.0]))
    side = 0.16 / 8
    assert len(parts) >= 8
    assert max(np.ptp(q.vertices[:, 1]) for q in parts) <= 1.5 * side + 1e-9
    assert max(np.ptp(q.vertices[:, 0]) for q in parts) <= 1.5 * side + 1e-9


def test_fill_below_gives_a_ball_its_unseen_under_side_and_leaves_a_can_alone():
    """A ball seen from 40 deg above: its lowest seen point floats above the table and the revolve
    guess is a cut ball; ``fill_below`` mirrors the upper part about the equator, down to the table.
    A can reaches the table in the view: nothing is added."""
    ball = trimesh.creation.icosphere(subdivisions=4, radius=0.045)
    p, n, plane = _view(ball, elevation_deg=40)
    plain = complete_view(p, n, plane, "revolve")
    filled = complete_view(p, n, plane, "revolve", fill_below=0.005)
    assert len(filled) > len(plain) and (filled[:len(p)] == p).all()
    assert filled[:, 2].min() < plain[:, 2].min() - 0.005 and filled[:, 2].min() >= ball.bounds[0, 2] - 1e-9
    e0 = completion_error(ball, estimate_object_mesh(plain))
    e1 = completion_error(ball, estimate_object_mesh(filled))
    assert e1["iou"] > e0["iou"] + 0.05 and abs(e1["vol_ratio"] - 1) < abs(e0["vol_ratio"] - 1)
    can = trimesh.creation.cylinder(radius=0.04, height=0.12, sections=64)
    p, n, plane = _view(can, elevation_deg=15)
    np.testing.assert_array_equal(complete_view(p, n, plane, "revolve", fill_below=0.005),
                                  complete_view(p, n, plane, "revolve"))


def test_view_direction_cap_sees_past_a_dominant_face():
    """A view whose normals are mostly one face turned to the side (+x, 900 of them) plus some
    facing up (+z, 100): a camera 45 deg above (looking along -(x + z)/sqrt 2) sees both. Minus the
    mean normal leans toward the big face (39 deg off); the cap estimate is near the bisector (4)."""
    from dex1b_ros.perception.completion import view_direction
    n = np.r_[np.tile([1.0, 0, 0], (900, 1)), np.tile([0, 0, 1.0], (100, 1))]
    true = -np.array([1.0, 0, 1.0]) / np.sqrt(2)
    ang = {m: np.degrees(np.arccos(view_direction(n, m) @ true)) for m in ("mean", "cap")}
    assert ang["mean"] > 30 and ang["cap"] < 5
    np.testing.assert_allclose(np.linalg.norm(view_direction(n, "cap")), 1.0)
    with pytest.raises(ValueError, match="mean or cap"):
        view_direction(n, "median")
