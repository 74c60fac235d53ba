"""The simulated tabletop shared by ``sim_camera`` and ``sim_hand`` (no rclpy import).

Frames (both nodes must be given the same ``object``, ``object_xy``, ``object_yaw``, ``table_z``):

- ``world`` = the planning frame (``planning_frame`` / ``frame_id`` parameters), z up. The table
  top is the plane z = ``table_z``.
- ``object``: the mesh's own frame. The object stands upright (mesh +z = world +z) on the table,
  rotated by ``object_yaw`` about z, with its bounding-box centre above ``object_xy``:
  ``T_world_object`` from :func:`place_on_table`.
- camera (``sim_camera``): OpenCV optical axes (x right, y down, z forward), at
  ``camera_distance`` from the object's bounding-box centre, ``camera_elevation_deg`` above the
  table plane, ``camera_azimuth_deg`` about world z (0 = on the +x side looking toward -x).
"""
from __future__ import annotations

import numpy as np
import trimesh

from ..geometry.pointcloud import look_at
from ..rotation import matrix_to_pose_np, pose_to_matrix_np


def yaw_matrix(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def place_on_table(mesh: trimesh.Trimesh, xy=(0.5, 0.0), yaw: float = 0.0, table_z: float = 0.0) -> np.ndarray:
    """(4, 4) T_world_object: the object upright on the table (lowest vertex at ``table_z``),
    yawed by ``yaw`` rad, its bounding-box centre above ``xy`` (m, world)."""
    lo, hi = mesh.bounds
    c = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]])
    R = yaw_matrix(yaw)
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = np.array([xy[0], xy[1], table_z]) - R @ c
    return T


def camera_pose_world(target, distance: float, elevation_deg: float, azimuth_deg: float) -> np.ndarray:
    """(4, 4) camera-to-world pose (OpenCV axes) of a camera looking at ``target`` (3,) m."""
    el, az = np.radians(elevation_deg), np.radians(azimuth_deg)
    d = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    return look_at(np.asarray(target, float) + distance * d, np.asarray(target, float))


def table_mesh(T_world_object: np.ndarray, size: float, table_z: float, center_xy) -> trimesh.Trimesh:
    """A ``size`` x ``size`` x 2 cm box whose top is the table plane, in the OBJECT frame."""
    box = trimesh.creation.box(extents=[size, size, 0.02])
    box.apply_translation([center_xy[0], center_xy[1], table_z - 0.01])
    box.apply_transform(np.linalg.inv(T_world_object))
    return box


def matrix_to_pos_quat(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(4, 4) -> ((3,), (4,) w, x, y, z with w >= 0)."""
    return matrix_to_pose_np(T)


def pos_quat_to_matrix(pos, quat_wxyz) -> np.ndarray:
    """(3,) m and (4,) (w, x, y, z) (normalised; ValueError if zero) -> (4, 4)."""
    return pose_to_matrix_np(pos, quat_wxyz)
