"""ROS 2 node ``sim_camera``: a simulated depth camera publishing a partial, noisy PointCloud2.

    sim_camera --ros-args --params-file config/sim_camera.yaml
    sim_camera --ros-args -p object:=ycb:011_banana -p rate_hz:=0.0     # one-shot

The object (``object``: ``ycb:<name>``, ``proc:<kind>:<seed>`` or a mesh path) stands on a table
in the world/planning frame (see :mod:`dex1b_ros.ros.sim_world` for every frame); the camera
looks at it from ``camera_distance`` / ``camera_elevation_deg`` / ``camera_azimuth_deg``. Each
cloud is ray cast (``render_partial_cloud``: only the seen surface, noise along the rays,
dropout), with a fresh noise seed per frame, and carries x, y, z, normal_x/y/z (float32).

Frames: by default the points are expressed in ``frame_id`` (the planning frame, e.g. ``world``).
With ``camera_frame`` set, they are expressed in that optical frame instead and the node logs
the ``static_transforms`` entry the planner needs for it.
``rate_hz`` > 0 publishes periodically; 0 publishes once (transient-local, so late subscribers
with that durability still get it) and keeps the node alive.
"""
from __future__ import annotations

import sys
import time

import numpy as np
import trimesh
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import PointCloud2

from ..config_utils import ConfigError
from ..geometry.pointcloud import render_partial_cloud
from ..objects import load_object
from . import conversions as cv
from .params import ParamNode, ParamSpec, spin_node
from .sim_world import camera_pose_world, matrix_to_pos_quat, place_on_table, table_mesh

NODE_NAME = "sim_camera"

PARAMS: list[ParamSpec] = [
    ParamSpec("object", "ycb:006_mustard_bottle", "object id: ycb:<name> | proc:<kind>:<seed> | mesh file path"),
    ParamSpec("object_xy", [0.5, 0.0], "m, (x, y) of the object's bounding-box centre on the table, world frame"),
    ParamSpec("object_yaw", 0.0, "rad, rotation of the object about world z"),
    ParamSpec("table_z", 0.0, "m, height of the table top in the world frame"),
    ParamSpec("with_table", True, "also ray cast the table (the planner's preprocessing removes it)"),
    ParamSpec("table_size", 0.4, "m, side of the square table patch that is rendered"),
    ParamSpec("frame_id", "world", "world/planning frame the scene is built in (header.frame_id of the cloud)"),
    ParamSpec("camera_frame", "", "if set: publish in this camera optical frame instead of frame_id"),
    ParamSpec("camera_distance", 0.6, "m, camera distance from the object's bounding-box centre"),
    ParamSpec("camera_elevation_deg", 40.0, "deg, camera elevation above the table plane"),
    ParamSpec("camera_azimuth_deg", 200.0, "deg, camera azimuth about world z (0 = on the +x side)"),
    ParamSpec("image_width", 320, "px, simulated depth image width"),
    ParamSpec("image_height", 240, "px, simulated depth image height"),
    ParamSpec("fov_deg", 55.0, "deg, horizontal field of view"),
    ParamSpec("noise_std", 0.001, "m, gaussian depth noise along each ray"),
    ParamSpec("dropout", 0.0, "fraction of returns removed at random, [0, 1)"),
    ParamSpec("n_points", 8000, "points per cloud (returns are thinned or repeated to this)"),
    ParamSpec("rate_hz", 1.0, "Hz, publishing rate; 0 = publish once"),
    ParamSpec("topic", "object_cloud", "output sensor_msgs/PointCloud2 topic"),
    ParamSpec("seed", 0, "noise seed of the first frame (frame i uses seed + i)"),
]


class SimCameraNode(ParamNode, Node):
    """See the module doc. Raises ConfigError for invalid parameters."""

    PARAMS = PARAMS

    def __init__(self, node_name: str = NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)

    def _setup(self) -> None:
        p = self.p
        if len(p["object_xy"]) != 2:
            raise ConfigError(f"parameter object_xy: expected 2 numbers, got {p['object_xy']}")
        for k in ("camera_distance", "n_points", "image_width", "image_height", "fov_deg"):
            if p[k] <= 0:
                raise ConfigError(f"parameter {k}: must be > 0, got {p[k]}")
        if p["rate_hz"] < 0 or not 0 <= p["dropout"] < 1 or p["noise_std"] < 0:
            raise ConfigError("parameters rate_hz >= 0, 0 <= dropout < 1 and noise_std >= 0 are required")
        if not p["frame_id"]:
            raise ConfigError("parameter frame_id: must not be empty")
        try:
            obj = load_object(p["object"])
        except Exception as e:
            raise ConfigError(f"parameter object: cannot load {p['object']!r}: {e}") from None
        self.mesh = obj.mesh
        self.T_world_obj = place_on_table(self.mesh, p["object_xy"], p["object_yaw"], p["table_z"])
        scene = self.mesh
        if p["with_table"]:
            scene = trimesh.util.concatenate([self.mesh, table_mesh(self.T_world_obj, p["table_size"], p["table_z"],
                                                                    p["object_xy"])])
        self.scene = scene
        center_world = self.T_world_obj[:3, :3] @ self.mesh.bounds.mean(axis=0) + self.T_world_obj[:3, 3]
        self.T_world_cam = camera_pose_world(center_world, p["camera_distance"], p["camera_elevation_deg"],
                                             p["camera_azimuth_deg"])
        self.T_obj_cam = np.linalg.inv(self.T_world_obj) @ self.T_world_cam
        self.frame = p["camera_frame"] or p["frame_id"]
        if p["camera_frame"]:
            pos, q = matrix_to_pos_quat(self.T_world_cam)
            self.get_logger().info(
                f"publishing in {p['camera_frame']!r}; give the planner static_transforms: ['{p['camera_frame']} "
                f"{pos[0]:.6f} {pos[1]:.6f} {pos[2]:.6f} {q[1]:.6f} {q[2]:.6f} {q[3]:.6f} {q[0]:.6f}']")
        qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=(DurabilityPolicy.TRANSIENT_LOCAL if p["rate_hz"] == 0
                                     else DurabilityPolicy.VOLATILE))
        self.pub = self.create_publisher(PointCloud2, p["topic"], qos)
        self.frames_published = 0
        self._group = MutuallyExclusiveCallbackGroup()
        period = 1.0 / p["rate_hz"] if p["rate_hz"] > 0 else 0.2
        self.timer = self.create_timer(period, self._tick, callback_group=self._group)
        self.get_logger().info(f"sim_camera: {p['object']} at {p['object_xy']} on table z={p['table_z']} in "
                               f"{p['frame_id']!r}, {p['n_points']} points on {p['topic']!r} "
                               f"({'once' if p['rate_hz'] == 0 else str(p['rate_hz']) + ' Hz'})")

    def render(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """One frame: (N, 3) points and normals in the output frame (world or camera)."""
        p = self.p
        pc = render_partial_cloud(self.scene, p["n_points"], seed=seed, camera_pose=self.T_obj_cam,
                                  noise_std=p["noise_std"], dropout=p["dropout"], width=p["image_width"],
                                  height=p["image_height"], fov_deg=p["fov_deg"], resample="random")
        T = self.T_world_obj if not p["camera_frame"] else np.linalg.inv(self.T_world_cam) @ self.T_world_obj
        pts = pc.points.astype(np.float64) @ T[:3, :3].T + T[:3, 3]
        nrm = pc.normals.astype(np.float64) @ T[:3, :3].T
        return pts, nrm

    def _tick(self) -> None:
        if self.p["rate_hz"] == 0 and self.frames_published:
            self.timer.cancel()
            return
        t0 = time.monotonic()
        try:
            pts, nrm = self.render(self.p["seed"] + self.frames_published)
        except ValueError as e:
            self.get_logger().error(f"render failed: {e}")
            return
        msg = cv.xyz_to_pointcloud2(pts, nrm, frame_id=self.frame, stamp=self.get_clock().now().to_msg())
        self.pub.publish(msg)
        self.frames_published += 1
        self.get_logger().debug(f"cloud {self.frames_published}: {len(pts)} points ({time.monotonic() - t0:.2f} s)")


def main(args=None) -> int:
    """Console script ``sim_camera`` (accepts ``--ros-args --params-file config/sim_camera.yaml``)."""
    return spin_node(SimCameraNode, NODE_NAME, 2, args, (ConfigError,))


if __name__ == "__main__":
    sys.exit(main())
