"""Static frames of the planner node (no tf2 here: no ``tf2_ros`` wheels exist for pip ROS 2).

``ros-jazzy-tf2-ros-py`` is not obtainable on this machine kind (checked with
``pip download --no-deps ros-jazzy-tf2-ros-py``: no matching distribution), so the node
accepts a cloud only when its ``header.frame_id`` is the planning frame or one of a list of
static transforms given as parameters. Each entry is one string::

    "<frame_id> x y z qx qy qz qw"

= the pose of ``frame_id`` in the planning frame (metres; ROS quaternion order x, y, z, w),
i.e. ``p_planning = R p_frame + t``, the same numbers as
``ros2 run tf2_ros static_transform_publisher --x x ... --frame-id <planning> --child-frame-id <frame_id>``.
No rclpy import here.
"""
from __future__ import annotations

import numpy as np

from ..rotation import quat_xyzw_to_matrix_np


class FrameError(ValueError):
    """Unknown frame or malformed static-transform parameter."""


def quat_xyzw_to_matrix(q) -> np.ndarray:
    """(4,) ROS order (x, y, z, w) -> (3, 3) rotation; normalises, rejects a zero quaternion."""
    xyzw = [float(v) for v in q]
    try:
        return quat_xyzw_to_matrix_np(xyzw)
    except ValueError:
        raise FrameError(f"quaternion {list(q)} is not a rotation") from None


def parse_static_transforms(entries: list[str], planning_frame: str) -> dict[str, np.ndarray]:
    """``["frame x y z qx qy qz qw", ...]`` -> {frame: (4, 4) T_planning_frame}.

    Raises FrameError naming the bad entry (wrong token count, non-numbers, zero quaternion,
    a duplicate frame, or the planning frame itself).
    """
    out: dict[str, np.ndarray] = {}
    for i, e in enumerate(entries or []):
        tok = str(e).split()
        if len(tok) != 8:
            raise FrameError(f"static_transforms[{i}] = {e!r}: expected 'frame_id x y z qx qy qz qw' (8 tokens), "
                             f"got {len(tok)}")
        name = tok[0]
        try:
            vals = [float(v) for v in tok[1:]]
        except ValueError:
            raise FrameError(f"static_transforms[{i}] = {e!r}: x y z qx qy qz qw must be numbers") from None
        if not np.all(np.isfinite(vals)):
            raise FrameError(f"static_transforms[{i}] = {e!r}: values must be finite")
        if name == planning_frame:
            raise FrameError(f"static_transforms[{i}]: frame {name!r} is the planning frame itself")
        if name in out:
            raise FrameError(f"static_transforms[{i}]: frame {name!r} given twice")
        T = np.eye(4)
        try:
            T[:3, :3] = quat_xyzw_to_matrix(vals[3:])
        except FrameError as err:
            raise FrameError(f"static_transforms[{i}] = {e!r}: {err}") from None
        T[:3, 3] = vals[:3]
        out[name] = T
    return out


def lookup(frame_id: str, planning_frame: str, static: dict[str, np.ndarray]) -> np.ndarray:
    """(4, 4) pose of ``frame_id`` in the planning frame (identity for the planning frame itself).

    Leading '/' are ignored (ROS 1 style names). Raises FrameError for an unknown frame, listing
    the known ones.
    """
    f = (frame_id or "").lstrip("/")
    if f == planning_frame.lstrip("/"):
        return np.eye(4)
    for k, T in static.items():
        if k.lstrip("/") == f:
            return T
    known = [planning_frame] + sorted(static)
    if not f:
        raise FrameError(f"cloud has an empty header.frame_id; expected one of: {', '.join(known)}")
    raise FrameError(f"unknown frame {frame_id!r}: no transform to the planning frame {planning_frame!r} "
                     f"(known frames: {', '.join(known)}; add it to the static_transforms parameter as "
                     f"'{f} x y z qx qy qz qw')")
