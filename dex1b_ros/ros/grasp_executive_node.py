"""ROS 2 node ``grasp_executive``: closed-loop grasping (plan -> execute -> check -> replan).

    grasp_executive --ros-args --params-file config/grasp_executive.yaml

Service ``service_name`` (dex1b_msgs/srv/PlanGrasps, the planner's own type; the request's cloud,
hand and num_grasps are passed on, ``execute`` is implied): up to ``max_attempts`` times

1. ask the planner (``action_name``, dex1b_msgs/action/PlanGrasps, ``execute=false``) for
   ``num_grasps`` ranked grasps on the latest camera frame (waiting ``frame_wait`` s first, so a
   replan sees a fresh frame);
2. execute candidate k = executions so far (the NEXT candidate after each miss; the last one when
   fewer came back), once the hand driver is up (something subscribes to the trajectory and
   publishes joint states; ``driver_wait`` s at most): publish its wrist pose
   (``wrist_pose_topic``) and its open -> pregrasp -> grasp -> squeeze trajectory
   (``trajectory_topic``, sim convention, timing ``trajectory.*``), both stamped now; on the
   first execution the wrist is offset by ``perturb_first`` (m, planning frame; a test/demo knob
   to force a miss);
3. watch ``joint_states_topic`` (sensor_msgs/JointState, sim convention; t = stamp - trajectory
   stamp) with :class:`~dex1b_ros.planner.grasp_monitor.GraspMonitor` (``monitor.*``) until
   ``observe_time`` s after the squeeze (the lift and hold) or ``execution_timeout``;
4. "held": done; "missed" / "slipped" / "unknown": next attempt.

A planner that has not received a camera frame yet (it says "no cloud has been received") is
asked again every ``frame_wait`` s for up to ``cloud_wait`` s before that counts as a failed
attempt: a system that is still starting does not spend an attempt (nor its best candidate).

Each attempt's verdict goes to ``status_topic`` (std_msgs/String) and the log; when
``held_topic`` is set (sim_hand's ``object_held``), its ground truth is waited for (bounded) and
reported next to the monitor's verdict. The response: success = the monitor said held, message =
the attempts, grasps = the executed grasp, trajectory and wrist_pose = what was executed.

Why a node and not the demo client: the loop needs nothing from the demo (any client can call
the service, the demo is one), and it is where a real robot's executive would live. The planner
is unchanged: it is asked for candidates only and this node executes the k-th one. A real hand
driver's command (cmd_leap, ...) is not produced here: only the sim-convention trajectory.
"""
from __future__ import annotations

import sys
import threading
import time

import numpy as np
from geometry_msgs.msg import PoseStamped, WrenchStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, String
from trajectory_msgs.msg import JointTrajectory

from dex1b_msgs.action import PlanGrasps as PlanGraspsAction
from dex1b_msgs.msg import GraspArray
from dex1b_msgs.srv import PlanGrasps as PlanGraspsSrv

from ..config_utils import ConfigError
from ..hands.config import load_hand_config
from ..planner.grasp_monitor import GraspMonitor, MonitorConfig
from ..planner.trajectory import TrajectoryTiming, grasp_trajectory
from . import conversions as cv
from .actions import LockedActionClient
from .params import ParamNode, ParamSpec, spin_node

NODE_NAME = "grasp_executive"
_TIM = TrajectoryTiming()
_MON = MonitorConfig()

PARAMS: list[ParamSpec] = [
    ParamSpec("hand", "leap", "hand (open pose and joint names of the trajectory): leap | allegro"),
    ParamSpec("service_name", "grasp_and_verify", "dex1b_msgs/srv/PlanGrasps service that runs the closed loop"),
    ParamSpec("action_name", "plan_grasps_action", "the planner's dex1b_msgs/action/PlanGrasps action"),
    ParamSpec("num_grasps", 5, "ranked candidates requested per plan (the k-th execution runs candidate k)"),
    ParamSpec("max_attempts", 3, "plans + executions before giving up"),
    ParamSpec("frame_wait", 1.0, "s, wait before each plan so that a replan sees a fresh camera frame"),
    ParamSpec("plan_timeout", 180.0, "s, longest wait for one plan"),
    ParamSpec("cloud_wait", 30.0, "s, how long a planner without a camera frame yet is asked again (every "
              "frame_wait) before the attempt counts as failed"),
    ParamSpec("driver_wait", 30.0, "s, longest wait for the hand driver (a subscriber to trajectory_topic and a "
              "publisher of joint_states_topic) before an execution"),
    ParamSpec("execution_timeout", 60.0, "s, longest wait for the joint states of one execution"),
    ParamSpec("observe_time", 1.5, "s after the squeeze to watch the joint states (the lift + hold)"),
    ParamSpec("ground_truth_wait", 5.0, "s, how long to wait for held_topic after an execution"),
    ParamSpec("perturb_first", [0.0, 0.0, 0.0], "m, (x, y, z) offset of the FIRST attempt's wrist in the planning "
              "frame (forces a miss in demos/tests; [0, 0, 0] = off)"),
    ParamSpec("joint_states_topic", "joint_states", "input sensor_msgs/JointState (sim convention)"),
    ParamSpec("wrench_topic", "wrist_wrench", "input geometry_msgs/WrenchStamped: the wrist's load, zeroed with the "
              "hand hanging free, z up (sim_hand's; a wrist F/T sensor's); the lift must carry monitor.min_load; "
              "'' = none (fingers only)"),
    ParamSpec("held_topic", "object_held", "input std_msgs/Bool ground truth (sim_hand); '' = none"),
    ParamSpec("trajectory_topic", "grasp_trajectory", "output trajectory_msgs/JointTrajectory (sim convention)"),
    ParamSpec("wrist_pose_topic", "grasp_wrist_pose", "output geometry_msgs/PoseStamped wrist (palm) target"),
    ParamSpec("status_topic", "grasp_executive_status", "output std_msgs/String, one line per attempt and result"),
    ParamSpec("trajectory.open_time", _TIM.open_time, "s, time_from_start of the open waypoint"),
    ParamSpec("trajectory.pregrasp_duration", _TIM.pregrasp_duration, "s, open -> pregrasp"),
    ParamSpec("trajectory.grasp_duration", _TIM.grasp_duration, "s, pregrasp -> grasp"),
    ParamSpec("trajectory.squeeze_duration", _TIM.squeeze_duration, "s, grasp -> squeeze"),
    ParamSpec("monitor.miss_threshold", _MON.miss_threshold, "rad, smallest squeeze offset of a judged joint "
              "(with miss_fraction 0: closure past the grasp posture = missed)"),
    ParamSpec("monitor.miss_fraction", _MON.miss_fraction, "closure past the grasp posture, as a fraction of the "
              "squeeze offset, that means missed (0 = use miss_threshold)"),
    ParamSpec("monitor.slip_threshold", _MON.slip_threshold, "rad, further closure after the lift = slipped"),
    ParamSpec("monitor.min_fingers", _MON.min_fingers, "touching fingers that must agree"),
    ParamSpec("monitor.settle_time", _MON.settle_time, "s after the squeeze before the miss check"),
    ParamSpec("monitor.slip_after", _MON.slip_after, "s after the squeeze before the slip check (the lift)"),
    ParamSpec("monitor.window", _MON.window, "s of samples averaged per decision"),
    ParamSpec("monitor.min_load", _MON.min_load, "N, with wrench_topic: the least weight the lift must carry to "
              "confirm a hold (0 = no load check)"),
]


class GraspExecutiveNode(ParamNode, Node):
    """See the module doc. Raises ConfigError for invalid parameters."""

    PARAMS = PARAMS

    def __init__(self, node_name: str = NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)

    def _setup(self) -> None:
        p = self.p
        for k in ("num_grasps", "max_attempts"):
            if p[k] < 1:
                raise ConfigError(f"parameter {k}: must be >= 1, got {p[k]}")
        for k in ("frame_wait", "ground_truth_wait", "cloud_wait", "driver_wait"):
            if p[k] < 0:
                raise ConfigError(f"parameter {k}: must be >= 0, got {p[k]}")
        for k in ("plan_timeout", "execution_timeout", "observe_time"):
            if p[k] <= 0:
                raise ConfigError(f"parameter {k}: must be > 0, got {p[k]}")
        if len(p["perturb_first"]) != 3:
            raise ConfigError(f"parameter perturb_first: expected 3 numbers (m), got {p['perturb_first']}")
        try:
            self.hand = load_hand_config(p["hand"])
        except ConfigError as e:
            raise ConfigError(f"parameter hand: {e}") from None
        sub = {k.split(".", 1)[1]: v for k, v in p.items() if k.startswith("trajectory.")}
        try:
            self.timing = TrajectoryTiming(**sub)
        except ConfigError as e:
            raise ConfigError(f"parameter trajectory.{e}") from None
        sub = {k.split(".", 1)[1]: v for k, v in p.items() if k.startswith("monitor.")}
        try:
            self.monitor_config = MonitorConfig(**sub)
        except ConfigError as e:
            raise ConfigError(f"parameter monitor.{e}") from None

        rel = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        io = ReentrantCallbackGroup()
        self._lock = threading.Lock()
        self._monitor: GraspMonitor | None = None
        self._t0_ns = 0
        self._held: list[bool] = []
        self.create_subscription(JointState, p["joint_states_topic"], self._on_js,
                                 QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE), callback_group=io)
        if p["wrench_topic"]:
            self.create_subscription(WrenchStamped, p["wrench_topic"], self._on_wrench,
                                     QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE), callback_group=io)
        if p["held_topic"]:
            self.create_subscription(Bool, p["held_topic"], lambda m: self._held.append(bool(m.data)), rel,
                                     callback_group=io)
        self.pub_traj = self.create_publisher(JointTrajectory, p["trajectory_topic"], rel)
        self.pub_pose = self.create_publisher(PoseStamped, p["wrist_pose_topic"], rel)
        self.pub_status = self.create_publisher(String, p["status_topic"], rel)
        self.client = LockedActionClient(self, PlanGraspsAction, p["action_name"], callback_group=io)
        self.srv = self.create_service(PlanGraspsSrv, p["service_name"], self._on_service,
                                       callback_group=MutuallyExclusiveCallbackGroup())
        self.get_logger().info(f"grasp_executive: {self.hand.name}, up to {p['max_attempts']} attempts; "
                               f"service {p['service_name']!r}")

    # ------------------------------------------------------------------------------------------
    def _since_start(self, stamp) -> float:
        """s from the running execution's start to ``stamp`` (negative: from before it). Under the lock."""
        return (stamp.sec * 1_000_000_000 + stamp.nanosec - self._t0_ns) * 1e-9

    def _on_js(self, msg: JointState) -> None:
        with self._lock:
            t = self._since_start(msg.header.stamp)
            if self._monitor is None or t < 0:
                return   # no execution, or a sample from before this one
            try:
                self._monitor.update(t, msg.position, list(msg.name))
            except ValueError as e:
                self.get_logger().warning(f"joint state ignored: {e}", throttle_duration_sec=5.0)

    def _on_wrench(self, msg: WrenchStamped) -> None:
        with self._lock:
            t = self._since_start(msg.header.stamp)
            if self._monitor is not None and t >= 0:
                self._monitor.update_load(t, -float(msg.wrench.force.z))    # z up: a hanging load pulls down

    def _status(self, text: str, warn: bool = False) -> None:
        # one call site per severity: rclpy raises "Logger severity cannot be changed between calls"
        # when one line logs at two severities (it killed the executor's spin thread after a miss)
        if warn:
            self.get_logger().warning(text)
        else:
            self.get_logger().info(text)
        self.pub_status.publish(String(data=text))

    def _plan(self, req) -> tuple[bool, str, GraspArray | None]:
        if not self.client.wait_for_server(timeout_sec=min(self.p["plan_timeout"], 30.0)):
            return False, f"planner action {self.p['action_name']!r} not available", None
        goal = PlanGraspsAction.Goal(cloud=req.cloud, hand=req.hand, execute=False,
                                     num_grasps=req.num_grasps if req.num_grasps > 0 else self.p["num_grasps"])
        fut = self.client.send_goal_async(goal)
        end = time.monotonic() + self.p["plan_timeout"]
        while not fut.done():
            if time.monotonic() > end:
                return False, "planner did not answer the goal", None
            time.sleep(0.01)
        handle = fut.result()
        if not handle.accepted:
            return False, "planner rejected the goal (busy?)", None
        rfut = handle.get_result_async()
        while not rfut.done():
            if time.monotonic() > end:
                handle.cancel_goal_async()
                return False, f"plan took longer than plan_timeout = {self.p['plan_timeout']} s", None
            time.sleep(0.02)
        r = rfut.result().result
        return bool(r.success and r.grasps.grasps), r.message, r.grasps

    def _plan_when_ready(self, req) -> tuple[bool, str, GraspArray | None]:
        """``_plan``, asked again every ``frame_wait`` s (at most ``cloud_wait`` s) while the planner
        has no camera frame yet."""
        end = time.monotonic() + self.p["cloud_wait"]
        while True:
            ok, msg, grasps = self._plan(req)
            if ok or "no cloud has been received" not in msg or time.monotonic() >= end:
                return ok, msg, grasps
            time.sleep(max(self.p["frame_wait"], 0.1))

    def _driver_ready(self) -> bool:
        """Wait (at most ``driver_wait`` s) until something subscribes to the trajectory and the wrist
        pose and publishes joint states: an execution before that would go unheard."""
        end = time.monotonic() + self.p["driver_wait"]
        while True:
            up = (self.pub_traj.get_subscription_count() > 0 and self.pub_pose.get_subscription_count() > 0
                  and self.count_publishers(self.p["joint_states_topic"]) > 0)
            if up or time.monotonic() >= end:
                return up
            time.sleep(0.05)

    def execute_and_watch(self, grasp_msg, offset) -> tuple[str, str, bool | None, object, PoseStamped]:
        """Publish the grasp's wrist pose (+ ``offset`` m) and trajectory, watch the joint states.
        Returns (monitor state, reason, ground truth or None, trajectory msg, pose msg)."""
        g = cv.grasp_from_msg(grasp_msg)
        traj = grasp_trajectory(g, self.hand.open_pose, self.hand.joint_names, self.timing)
        stamp = self.get_clock().now()
        header = cv.header_msg(grasp_msg.wrist_pose.header.frame_id, stamp.to_msg())
        pose = cv.pose_stamped_msg(np.asarray(g.wrist_pos) + np.asarray(offset, dtype=np.float64), g.wrist_quat,
                                   header)
        traj_msg = cv.trajectory_to_msg(traj, header)
        mon = GraspMonitor(traj, self.monitor_config)
        with self._lock:
            self._monitor, self._t0_ns = mon, stamp.nanoseconds
            n_held = len(self._held)
        self.pub_pose.publish(pose)
        self.pub_traj.publish(traj_msg)
        t_end = traj.duration + self.p["observe_time"] - 0.05
        deadline = time.monotonic() + self.p["execution_timeout"]
        while time.monotonic() < deadline:
            with self._lock:
                if mon.last_time >= t_end:
                    break
            time.sleep(0.02)
        with self._lock:
            self._monitor = None
            v = mon.verdict()
        truth = None
        if self.p["held_topic"]:
            deadline = time.monotonic() + self.p["ground_truth_wait"]
            while len(self._held) <= n_held and time.monotonic() < deadline:
                time.sleep(0.02)
            truth = self._held[-1] if len(self._held) > n_held else None
        return v.state, f"{v.reason} [{mon.samples} joint states]", truth, traj_msg, pose

    def _on_service(self, req, res):
        p = self.p
        lines = []
        executed = 0
        for attempt in range(1, p["max_attempts"] + 1):
            time.sleep(p["frame_wait"])   # a fresh camera frame for the (re)plan
            ok, msg, grasps = self._plan_when_ready(req)
            if not ok:
                lines.append(f"attempt {attempt}: plan failed: {msg}")
                self._status(f"[grasp_executive] {lines[-1]}", warn=True)
                continue
            if not self._driver_ready():
                lines.append(f"attempt {attempt}: no hand driver after {p['driver_wait']:g} s (nothing subscribes "
                             f"to {self.pub_traj.topic_name!r} / publishes {p['joint_states_topic']!r})")
                self._status(f"[grasp_executive] {lines[-1]}", warn=True)
                continue
            k = min(executed, len(grasps.grasps) - 1)
            offset = p["perturb_first"] if executed == 0 else [0.0, 0.0, 0.0]
            executed += 1
            state, reason, truth, traj_msg, pose = self.execute_and_watch(grasps.grasps[k], offset)
            gt = "" if truth is None and not p["held_topic"] else (
                f"; ground truth {p['held_topic']}={truth}" + ("" if truth is None else
                                                               (" (agrees)" if truth == (state == "held")
                                                                else " (DISAGREES)")))
            pert = f", wrist offset {list(offset)} m" if any(offset) else ""
            lines.append(f"attempt {attempt}: candidate {k + 1}/{len(grasps.grasps)}{pert}: monitor says "
                         f"{state.upper()} ({reason}){gt}")
            self._status(f"[grasp_executive] {lines[-1]}", warn=state != "held")
            if state == "held":
                res.success = True
                res.grasps = GraspArray(header=grasps.header, grasps=[grasps.grasps[k]],
                                        planner_info=grasps.planner_info)
                res.trajectory, res.wrist_pose = traj_msg, pose
                break
        res.message = " | ".join(lines)
        self._status(f"[grasp_executive] result: {'HELD' if res.success else 'FAILED'} after {len(lines)} "
                     f"attempt(s)", warn=not res.success)
        return res


def main(args=None) -> int:
    """Console script ``grasp_executive`` (``--ros-args --params-file config/grasp_executive.yaml``)."""
    return spin_node(GraspExecutiveNode, NODE_NAME, 4, args, (ConfigError, FileNotFoundError))


if __name__ == "__main__":
    sys.exit(main())
