"""Rotation helpers (torch, batched, differentiable). Thin, documented wrappers over
``pytorch_kinematics.transforms`` so the whole project shares one convention.

Conventions
- Rotation matrices ``R``: (..., 3, 3), acting on column vectors: ``x_parent = R @ x_child``.
- Quaternions: (..., 4) scalar first ``(w, x, y, z)`` (MuJoCo's and ROS' order differ:
  ROS ``geometry_msgs/Quaternion`` is (x, y, z, w); convert at the message boundary).
- 6D representation (Zhou et al. 2019, continuous): (..., 6) = the first two ROWS of ``R``
  (pytorch3d convention); decoding uses Gram-Schmidt, so any non-degenerate 6-vector maps
  to a valid rotation.
- Axis-angle: (..., 3), direction = axis, norm = angle in radians.
"""
from __future__ import annotations

import torch
from pytorch_kinematics import transforms as _tf

rot6d_to_matrix = _tf.rotation_6d_to_matrix
matrix_to_rot6d = _tf.matrix_to_rotation_6d
quat_to_matrix = _tf.quaternion_to_matrix
matrix_to_quat = _tf.matrix_to_quaternion
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
