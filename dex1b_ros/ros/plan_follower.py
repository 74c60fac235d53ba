"""``dex1b view --follow``: the ROS 2 side of the viewer (a thin adapter; the viewer is ROS-free).

A node ``plan_viewer`` subscribes to the planner's ``grasps`` (dex1b_msgs/GraspArray, RELIABLE,
as the node publishes it) and, optionally, to its input cloud (sensor_msgs/PointCloud2, best
effort: matches any publisher). Each GraspArray becomes a :class:`~dex1b_ros.viz.plan_file.SavedPlan`
(ranked grasps, the first one chosen, ``planner_info`` as the message) drawn with the latest
cloud when that cloud is in the grasps' frame; a cloud in another frame is left out (no tf here)
and the panel says so. The node publishes no completed shape or table, so those layers stay empty.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import PointCloud2

from dex1b_msgs.msg import GraspArray

from ..viz.plan_file import SavedPlan
from . import conversions as cv


def plan_from_msgs(grasps: GraspArray, cloud: PointCloud2 | None) -> SavedPlan:
    """GraspArray (+ the latest cloud) -> SavedPlan in the grasps' frame (m)."""
    gs = [cv.grasp_from_msg(m) for m in grasps.grasps]
    first = grasps.grasps[0] if grasps.grasps else None
    frame = grasps.header.frame_id
    points, note = np.zeros((0, 3)), ""
    if cloud is not None and not cv.cloud_is_empty(cloud):
        if cloud.header.frame_id in ("", frame):
            points = cv.pointcloud2_to_xyz(cloud, read_normals=False).points
        else:
            note = f" (cloud in frame {cloud.header.frame_id!r}, not {frame!r}: not drawn)"
    return SavedPlan(hand=first.hand if first else "", joint_names=list(first.joint_names) if first else [],
                     grasps=gs, points=points, scene_points=np.zeros((0, 3)), chosen=0 if gs else -1,
                     success=bool(gs), message=(grasps.planner_info or "") + note, frame_id=frame,
                     source="live (--follow)", created=cv.time_to_sec(grasps.header.stamp))


class PlanFollower(Node):
    """Calls ``on_plan(SavedPlan)`` for every GraspArray on ``grasps_topic``."""

    def __init__(self, on_plan, grasps_topic: str = "grasps", cloud_topic: str = "object_cloud", **kwargs):
        super().__init__("plan_viewer", **kwargs)
        self.on_plan = on_plan
        self._cloud: PointCloud2 | None = None
        self._lock = threading.Lock()
        self.plans = 0
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.create_subscription(GraspArray, grasps_topic, self._on_grasps, reliable)
        if cloud_topic:
            self.create_subscription(PointCloud2, cloud_topic, self._on_cloud, qos_profile_sensor_data)

    def _on_cloud(self, msg: PointCloud2) -> None:
        with self._lock:
            self._cloud = msg

    def _on_grasps(self, msg: GraspArray) -> None:
        with self._lock:
            cloud = self._cloud
        try:
            plan = plan_from_msgs(msg, cloud)
            self.on_plan(plan)
            self.plans += 1
            self.get_logger().info(f"plan {self.plans}: {len(plan.grasps)} grasps")
        except Exception as e:  # a bad message must not stop the viewer
            self.get_logger().error(f"cannot draw this plan: {type(e).__name__}: {e}")


def follow(viewer, grasps_topic: str = "grasps", cloud_topic: str = "object_cloud",
           exit_after: float | None = None) -> int:
    """Spin a :class:`PlanFollower` feeding ``viewer.show`` until Ctrl-C (or ``exit_after`` s)."""
    rclpy.init()
    node = PlanFollower(viewer.show, grasps_topic, cloud_topic)
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    t_end = None if exit_after is None else time.monotonic() + exit_after
    try:
        while rclpy.ok() and (t_end is None or time.monotonic() < t_end):
            ex.spin_once(timeout_sec=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        ex.shutdown()
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0
