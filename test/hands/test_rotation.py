"""dex1b_ros.rotation: numpy and torch conversions agree; one (w, x, y, z) convention; ROS helpers."""
import numpy as np
import pytest
import torch

from dex1b_ros import rotation as r


def _quats(n=64, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 4))


def test_numpy_equals_torch_and_round_trips():
    q = _quats()
    R = r.quat_to_matrix_np(q)
    np.testing.assert_allclose(R, r.quat_to_matrix(torch.as_tensor(q)).numpy(), atol=1e-12)
    np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    q2 = r.matrix_to_quat_np(R)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    np.testing.assert_allclose(q2, qn * np.sign(qn[:, :1]), atol=1e-12)
    assert (q2[:, 0] >= 0).all()


def test_convention_is_scalar_first():
    # 90 degrees about z: (w, x, y, z) = (cos 45, 0, 0, sin 45) maps x to y
    q = np.array([np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)])
    np.testing.assert_allclose(r.quat_to_matrix_np(q) @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    # the same rotation in ROS order (x, y, z, w)
    ros = r.quat_wxyz_to_xyzw(q)
    np.testing.assert_allclose(ros, [0, 0, np.sin(np.pi / 4), np.cos(np.pi / 4)])
    np.testing.assert_allclose(r.quat_xyzw_to_wxyz(ros), q)
    np.testing.assert_allclose(r.quat_xyzw_to_matrix_np(ros), r.quat_to_matrix_np(q))


def test_the_copies_it_replaces_agree():
    """Same numbers as MuJoCo's mju_quat2Mat (hands/collision.py's old copy), trimesh
    (ros/sim_world.py) and the closed forms in ros/frames.py and ros/conversions.py."""
    import mujoco
    import trimesh
    for q in _quats(16, 1):
        qn = q / np.linalg.norm(q)
        m = np.zeros(9)
        mujoco.mju_quat2Mat(m, qn)
        np.testing.assert_allclose(r.quat_to_matrix_np(q), m.reshape(3, 3), atol=1e-14)
        T = trimesh.transformations.quaternion_matrix(qn)
        T[:3, 3] = [0.1, 0.2, 0.3]
        np.testing.assert_allclose(r.pose_to_matrix_np([0.1, 0.2, 0.3], q), T, atol=1e-14)
        p, qq = r.matrix_to_pose_np(T)
        np.testing.assert_allclose(p, [0.1, 0.2, 0.3])
        np.testing.assert_allclose(qq, trimesh.transformations.quaternion_from_matrix(T), atol=1e-12)


@pytest.mark.parametrize("bad", [[0, 0, 0, 0], [np.nan, 0, 0, 1], [1, 0, 0]])
def test_bad_quaternions_are_errors(bad):
    with pytest.raises(ValueError):
        r.quat_to_matrix_np(bad)
