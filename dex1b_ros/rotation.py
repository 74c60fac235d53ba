"""Rotation conversions for the whole project: one module, one convention.

Torch functions (batched, differentiable) are thin wrappers over
``pytorch_kinematics.transforms``; the numpy functions (suffix ``_np``, float64, any leading
batch shape) are plain numpy and give the same rotations.

Conventions
- Rotation matrices ``R``: (..., 3, 3), acting on column vectors: ``x_parent = R @ x_child``.
- Quaternions: (..., 4) **scalar first** ``(w, x, y, z)`` everywhere in this project (MuJoCo's
  order, and the order of the grasp records' ``quat`` column). Conversions to matrices
  normalise first; a zero or non-finite quaternion is an error (numpy).
- ROS ``geometry_msgs/Quaternion`` (and tf2, scipy by default) is **scalar last**
  ``(x, y, z, w)``. Convert only at that boundary, explicitly: :func:`quat_xyzw_to_wxyz`,
  :func:`quat_wxyz_to_xyzw`, :func:`quat_xyzw_to_matrix_np`.
- Quaternions made from matrices (:func:`matrix_to_quat_np`) have ``w >= 0`` (q and -q are
  the same rotation).
- 6D representation (Zhou et al. 2019, continuous): (..., 6) = the first two ROWS of ``R``
  (pytorch3d convention); decoding uses Gram-Schmidt, so any non-degenerate 6-vector maps
  to a valid rotation.
- Axis-angle: (..., 3), direction = axis, norm = angle in radians.
- Poses as (4, 4) homogeneous matrices ``T = [[R, t], [0, 1]]`` (metres).
"""
from __future__ import annotations

import numpy as np
import torch
from pytorch_kinematics import transforms as _tf

# ---------------------------------------------------------------------- torch
rot6d_to_matrix = _tf.rotation_6d_to_matrix
matrix_to_rot6d = _tf.matrix_to_rotation_6d
quat_to_matrix = _tf.quaternion_to_matrix          # (..., 4) (w, x, y, z) -> (..., 3, 3)
matrix_to_quat = _tf.matrix_to_quaternion          # (..., 3, 3) -> (..., 4) (w, x, y, z)
matrix_to_axis_angle = _tf.matrix_to_axis_angle


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle -> (..., 3, 3) rotation matrices."""
    return quat_to_matrix(_tf.axis_angle_to_quaternion(aa))


def random_rotations(n: int, generator: torch.Generator | None = None, dtype=torch.float32,
                     device=None) -> torch.Tensor:
    """(n, 3, 3) rotations uniformly distributed on SO(3) (normalised Gaussian quaternions)."""
    q = torch.randn(n, 4, generator=generator, dtype=dtype, device=device)
    q = q / q.norm(dim=-1, keepdim=True)
    return quat_to_matrix(q)


def rigid(R: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Homogeneous transforms (..., 4, 4) from rotations (..., 3, 3) and translations (..., 3)."""
    T = torch.zeros(*R.shape[:-2], 4, 4, dtype=R.dtype, device=R.device)
    T[..., :3, :3] = R
    T[..., :3, 3] = t
    T[..., 3, 3] = 1.0
    return T


def look_at_rotation(direction: torch.Tensor, up_hint: torch.Tensor | None = None) -> torch.Tensor:
    """(..., 3, 3) rotations whose third column (z axis) is ``direction`` (normalised)."""
    z = direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    if up_hint is None:
        up_hint = torch.tensor([0.0, 0.0, 1.0], dtype=z.dtype, device=z.device).expand_as(z)
        alt = torch.tensor([1.0, 0.0, 0.0], dtype=z.dtype, device=z.device).expand_as(z)
        near = (z * up_hint).sum(-1, keepdim=True).abs() > 0.95
        up_hint = torch.where(near, alt, up_hint)
    x = torch.cross(up_hint, z, dim=-1)
    x = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    y = torch.cross(z, x, dim=-1)
    return torch.stack([x, y, z], dim=-1)


# ---------------------------------------------------------------------- numpy
def rotation_to_z(up) -> np.ndarray:
    """(3, 3) float64 rotation taking the (3,) direction ``up`` (any length > 0) to +z (the
    shortest one; identity when ``up`` already points along +z)."""
    from scipy.spatial.transform import Rotation

    n = np.asarray(up, dtype=np.float64)[:3]
    n = n / np.linalg.norm(n)
    if n[2] > 1.0 - 1e-12:
        return np.eye(3)
    return Rotation.align_vectors([[0.0, 0.0, 1.0]], [n])[0].as_matrix()


def _unit_quat(q, what: str = "quaternion") -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    if q.shape[-1:] != (4,):
        raise ValueError(f"{what}: expected (..., 4) values, got shape {q.shape}")
    n = np.sqrt((q * q).sum(-1, keepdims=True))
    if not np.all(np.isfinite(n)) or np.any(n < 1e-9):
        raise ValueError(f"{what} {q.tolist()} is not a rotation (zero or non-finite)")
    return q / n


def quat_to_matrix_np(q_wxyz) -> np.ndarray:
    """(..., 4) quaternions (w, x, y, z) -> (..., 3, 3) rotation matrices (normalised first;
    ValueError for a zero or non-finite quaternion)."""
    w, x, y, z = np.moveaxis(_unit_quat(q_wxyz), -1, 0)
    R = np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
                  2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
                  2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1)
    return R.reshape(*R.shape[:-1], 3, 3)


def matrix_to_quat_np(R) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions (w, x, y, z) with w >= 0."""
    from scipy.spatial.transform import Rotation

    R = np.asarray(R, dtype=np.float64)
    q = Rotation.from_matrix(R.reshape(-1, 3, 3)).as_quat(canonical=True, scalar_first=True)
    return q.reshape(*R.shape[:-2], 4)


def quat_xyzw_to_wxyz(q_xyzw) -> np.ndarray:
    """ROS order (x, y, z, w) -> this project's (w, x, y, z) (..., 4); no normalisation."""
    q = np.asarray(q_xyzw, dtype=np.float64)
    return np.concatenate([q[..., 3:4], q[..., 0:3]], -1)


def quat_wxyz_to_xyzw(q_wxyz) -> np.ndarray:
    """This project's (w, x, y, z) -> ROS order (x, y, z, w) (..., 4); no normalisation."""
    q = np.asarray(q_wxyz, dtype=np.float64)
    return np.concatenate([q[..., 1:4], q[..., 0:1]], -1)


def quat_xyzw_to_matrix_np(q_xyzw) -> np.ndarray:
    """(..., 4) ROS-order quaternions (x, y, z, w) -> (..., 3, 3) (normalised; ValueError if zero)."""
    return quat_to_matrix_np(quat_xyzw_to_wxyz(q_xyzw))


def pose_to_matrix_np(pos, quat_wxyz) -> np.ndarray:
    """Position (..., 3) m and quaternion (..., 4) (w, x, y, z) -> (..., 4, 4) homogeneous pose."""
    R = quat_to_matrix_np(quat_wxyz)
    p = np.asarray(pos, dtype=np.float64)
    T = np.zeros(np.broadcast_shapes(R.shape[:-2], p.shape[:-1]) + (4, 4))
    T[..., :3, :3] = R
    T[..., :3, 3] = p
    T[..., 3, 3] = 1.0
    return T


def matrix_to_pose_np(T) -> tuple[np.ndarray, np.ndarray]:
    """(..., 4, 4) homogeneous pose -> (position (..., 3) m, quaternion (..., 4) (w, x, y, z), w >= 0)."""
    T = np.asarray(T, dtype=np.float64)
    return T[..., :3, 3].copy(), matrix_to_quat_np(T[..., :3, :3])


__all__ = ["axis_angle_to_matrix", "look_at_rotation", "matrix_to_axis_angle", "matrix_to_pose_np", "matrix_to_quat",
           "matrix_to_quat_np", "matrix_to_rot6d", "pose_to_matrix_np", "quat_to_matrix", "quat_to_matrix_np",
           "quat_wxyz_to_xyzw", "quat_xyzw_to_matrix_np", "quat_xyzw_to_wxyz", "random_rotations", "rigid",
           "rot6d_to_matrix"]
