"""An object resting on a horizontal table: its rest poses and grasps moved into them.

Frames: the object frame (the mesh's own, m) and a rest pose's *table frame*: z up, the table
top at z = 0, the object standing on it. A rest pose is a (4, 4) transform object frame ->
table frame. No ROS here.
"""
from __future__ import annotations

import numpy as np


def upright_pose(mesh) -> np.ndarray:
    """(4, 4) the object as loaded (its frame's z up: YCB's and the procedural shapes' natural
    standing pose, the one ``dex1b eval`` and ``dex1b bench plan-quality`` place on the table),
    lifted so that its lowest point touches z = 0."""
    T = np.eye(4)
    T[2, 3] = -float(np.asarray(mesh.bounds)[0, 2])
    return T


def rest_poses(mesh, min_prob: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """The object's stable resting poses on a horizontal table (``trimesh.poses.compute_stable_poses``:
    (K, 4, 4) transforms object frame -> table frame, z up, table at z = 0; (K,) probabilities),
    those with probability >= ``min_prob`` (the most probable one if none is), renormalised."""
    import trimesh

    T, prob = trimesh.poses.compute_stable_poses(mesh)
    keep = prob >= min_prob
    if not keep.any():
        keep = prob >= prob.max()
    return T[keep], prob[keep] / prob[keep].sum()


def to_rest_frame(T: np.ndarray, trans: np.ndarray, quat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wrist poses (B, 3) m, (B, 4) wxyz in the object frame -> the table frame of rest pose
    ``T`` (4, 4)."""
    from scipy.spatial.transform import Rotation

    R = T[:3, :3]
    r = Rotation.from_matrix(R) * Rotation.from_quat(np.asarray(quat, np.float64)[:, [1, 2, 3, 0]])
    return np.asarray(trans, np.float64) @ R.T + T[:3, 3], r.as_quat()[:, [3, 0, 1, 2]]


__all__ = ["rest_poses", "to_rest_frame", "upright_pose"]
