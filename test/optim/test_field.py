"""ObjectField.carved: space the camera saw through is outside the object."""
import numpy as np
import torch
import trimesh

from dex1b_ros.optim import ObjectField


def test_carved_opens_what_the_camera_saw_through():
    """A 10 cm cube seen from above (view -z) on the half x < 0 of its top only (the other half:
    nothing seen along those lines of sight, as if the camera saw past them). Below the seen half the
    hull's inside stays inside; below the unseen half it becomes outside (positive); above the top
    nothing changes sign; the lid's surface samples over the unseen half are dropped."""
    box = trimesh.creation.box((0.1, 0.1, 0.1))
    hull = ObjectField.from_mesh(box, resolution=24, n_points=512, single_shell=True)
    g = np.mgrid[-0.045:0.0:0.005, -0.045:0.05:0.005].reshape(2, -1).T
    seen = np.c_[g, np.full(len(g), 0.05)]                                # top face, x < 0
    carved = hull.carved(seen, np.array([0.0, 0.0, -1.0]), radius=0.01)
    q = torch.tensor([[-0.025, 0.0, 0.0],    # under the seen half: solid
                      [0.03, 0.0, 0.0],      # under the half nothing was seen along: seen through
                      [-0.025, 0.0, 0.07]])  # above the top: outside either way
    h, c = hull.sdf(q), carved.sdf(q)
    assert h[0] < -0.02 and abs(c[0] - h[0]) < 1e-6
    assert h[1] < -0.01 and c[1] > 0.01
    assert h[2] > 0 and c[2] > 0
    top_unseen = (hull.points[:, 2] > 0.049) & (hull.points[:, 0] > 0.015)
    assert top_unseen.any()
    kept_top_unseen = (carved.points[:, 2] > 0.049) & (carved.points[:, 0] > 0.015)
    assert not kept_top_unseen.any() and len(carved.points) < len(hull.points)
    assert carved.points.shape == carved.normals.shape


def test_sdf_grid_node_points_are_in_the_order_of_its_values():
    """node_points()[i] is where values.flatten()[i] was computed (a box with three different sides,
    so x, y and z cannot be confused)."""
    from dex1b_ros.geometry.sdf import exact_signed_distance
    box = trimesh.creation.box((0.10, 0.06, 0.03))
    f = ObjectField.from_mesh(box, resolution=12, n_points=64, single_shell=True)
    nodes = f.grid.node_points()
    assert nodes.shape == (f.grid.values.numel(), 3)
    np.testing.assert_allclose(f.grid.values.flatten().numpy(),
                               exact_signed_distance(box, nodes, single_shell=True), atol=1e-6)
