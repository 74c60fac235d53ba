"""ROS 2 node ``grasp_planner``: a thin adapter over a :class:`~dex1b_ros.planner.types.Planner`.

    grasp_planner --ros-args --params-file config/grasp_planner.yaml
    grasp_planner --ros-args --params-file config/grasp_planner.yaml -p hand:=allegro

Inputs
    ``cloud_topic`` (sensor_msgs/PointCloud2): cached; planned on arrival when ``plan_on_cloud``.
    ``service_name`` (dex1b_msgs/srv/PlanGrasps) and ``action_name`` (dex1b_msgs/action/PlanGrasps,
    feedback per stage, cancel). An empty request cloud means "the latest cloud on the topic".
Outputs (every plan): ``grasps_topic`` (dex1b_msgs/GraspArray, ranked) and ``markers_topic``
    (visualization_msgs/MarkerArray). When the request says ``execute`` (topic plans:
    ``execute_on_cloud``): ``trajectory_topic`` (trajectory_msgs/JointTrajectory, sim convention,
    open -> pregrasp -> grasp -> squeeze), ``wrist_pose_topic`` (geometry_msgs/PoseStamped, wrist =
    palm frame target for the arm), and the hand-driver command (``output_adapter``): LEAP
    sensor_msgs/JointState on ``cmd_leap`` (sim + pi), Allegro std_msgs/Float64MultiArray on
    ``/allegro_hand_position_controller/commands`` (both streamed along the trajectory at
    ``driver_rate_hz``), or the whole JointTrajectory in driver convention.
What the node does: converts the message, transforms the points into the planning frame, hands
    them to the planner (which owns perception: preprocessing, preparation, sampling, refinement,
    ranking, MuJoCo check; ``GraspPipeline.plan``) and publishes the result.
Parameters: every :class:`~dex1b_ros.planner.config.PlannerConfig` field is a parameter (nesting
    with dots: ``sampling.num_samples``), with its range and description; those that need a new
    planner (hand, hands_dir, model_path, device, torch_threads, warmup) are read-only, the others
    can be set at run time (``ros2 param set``) and apply from the next plan. The node's own
    parameters (topics, frames, trajectory timing, outputs) are read at start-up.
Frames: outputs are in ``planning_frame``. No tf2 (not available as pip wheels): a cloud must be
    in the planning frame or in one of ``static_transforms`` (see :mod:`dex1b_ros.ros.frames`).
Concurrency: one plan at a time; ``busy_policy`` says what a request does meanwhile: ``reject``
    (fail fast with "busy"; action goals are rejected), ``queue`` (wait for the running plan; one
    waiting request at most, later ones rejected), ``preempt`` (cancel the running plan, which
    fails with "preempted by a newer request", and run the new one). Topic-triggered plans only
    start when idle. The subscription, service and action server have their own callback groups
    and the node runs on a MultiThreadedExecutor, so a running plan never blocks caching clouds,
    answering the service, or accepting a cancel.
Bad input (empty cloud, NaN/inf, too many points, missing x/y/z fields, unknown frame, object too
    small/large): a failed result with a clear message; the node keeps serving.
"""
from __future__ import annotations

import inspect
import sys
import threading
import time
import traceback
from dataclasses import dataclass

import numpy as np
from geometry_msgs.msg import PoseStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import PointCloud2
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import MarkerArray

from dex1b_msgs.action import PlanGrasps as PlanGraspsAction
from dex1b_msgs.msg import GraspArray
from dex1b_msgs.srv import PlanGrasps as PlanGraspsSrv

from ..config_utils import ConfigError
from ..hands.config import HandConfig, load_hand_config
from ..perception.preprocess import transform_points
from ..planner.config import PlannerConfig, from_flat
from ..planner.trajectory import GraspTrajectory, TrajectoryTiming, grasp_trajectory
from ..planner.types import Planner, PlanResult
from . import conversions as cv
from .frames import FrameError, lookup, parse_static_transforms
from .params import ParamSpec, declare, planner_param_specs, read, reject_runtime_changes, spin_node
from .planner_factory import PlannerUnavailable, make_planner

NODE_NAME = "grasp_planner"
#: executor threads of ``main``: a plan, a queued request, the subscription, the service, the
#: action's goal/cancel services and the driver timer must all be able to run at once.
EXECUTOR_THREADS = 6
BUSY_POLICIES = ("reject", "queue", "preempt")

_TIM = TrajectoryTiming()

#: The planner's parameters: one per PlannerConfig field (dex1b_ros/planner/config.py), generated.
PLANNER_PARAMS: list[ParamSpec] = planner_param_specs()

#: The node's own parameters (read at start-up).
NODE_PARAMS: list[ParamSpec] = [
    ParamSpec("planner_wait_timeout", 120.0, "s, how long a request waits for the planner to finish loading"),
    ParamSpec("busy_policy", "reject", "a request while another plan runs: reject (fail at once with 'busy') | "
              "queue (wait for it; one waiting request at most, later ones rejected) | preempt (cancel the "
              "running plan, which fails with 'preempted', and run the new one); topic plans only start when idle"),
    # frames
    ParamSpec("planning_frame", "world", "frame of every output; z up (the support plane is horizontal in it)"),
    ParamSpec("static_transforms", [], "poses of other cloud frames in the planning frame, one string each: "
              "'frame_id x y z qx qy qz qw' (m, ROS quaternion order)", array_of=str),
    # inputs
    ParamSpec("cloud_topic", "object_cloud", "input sensor_msgs/PointCloud2 topic"),
    ParamSpec("cloud_reliable", False, "subscribe to the cloud with RELIABLE QoS (false = best effort, "
              "which matches both kinds of publisher)"),
    ParamSpec("plan_on_cloud", False, "plan on every cloud arriving while idle (false = only cache the latest)"),
    ParamSpec("execute_on_cloud", True, "plans triggered by the topic also publish trajectory, wrist pose and driver "
              "command"),
    ParamSpec("service_name", "plan_grasps", "dex1b_msgs/srv/PlanGrasps service"),
    ParamSpec("action_name", "plan_grasps_action", "dex1b_msgs/action/PlanGrasps action (feedback, cancel)"),
    # outputs
    ParamSpec("grasps_topic", "grasps", "dex1b_msgs/GraspArray output (ranked, best first)"),
    ParamSpec("trajectory_topic", "grasp_trajectory", "trajectory_msgs/JointTrajectory of the chosen grasp, "
              "simulation convention"),
    ParamSpec("wrist_pose_topic", "grasp_wrist_pose",
              "geometry_msgs/PoseStamped wrist (palm frame) target for the arm"),
    ParamSpec("markers_topic", "grasp_markers", "visualization_msgs/MarkerArray for RViz"),
    ParamSpec("markers_top_n", 5, "grasps drawn in RViz"),
    ParamSpec("save_plans_dir", "", "write every plan (cloud, completed shape, table, ranked grasps) to this folder "
              "as a saved-plan .npz for `dex1b view FILE`; '' = off"),
    ParamSpec("output_adapter", "auto", "hand-driver command: auto (the hand config's driver.command_type) | none | "
              "joint_state | float64_multi_array | joint_trajectory"),
    ParamSpec("driver_command_topic", "", "hand-driver command topic; '' = the hand config's driver.command_topic "
              "(LEAP cmd_leap, Allegro /allegro_hand_position_controller/commands)"),
    ParamSpec("driver_rate_hz", 30.0, "Hz, rate of streamed joint_state / float64_multi_array commands (LEAP: < 90)"),
    # trajectory timing (dex1b_ros/planner/trajectory.py TrajectoryTiming)
    ParamSpec("trajectory.open_time", _TIM.open_time, "s, time_from_start of the open waypoint"),
    ParamSpec("trajectory.pregrasp_duration", _TIM.pregrasp_duration, "s, open -> pregrasp"),
    ParamSpec("trajectory.grasp_duration", _TIM.grasp_duration, "s, pregrasp -> grasp"),
    ParamSpec("trajectory.squeeze_duration", _TIM.squeeze_duration, "s, grasp -> squeeze"),
]

#: Every parameter of the node (config/grasp_planner.yaml lists the same names; a test checks).
PARAMS: list[ParamSpec] = PLANNER_PARAMS + NODE_PARAMS


@dataclass
class PlanOutcome:
    """What one plan produced (filled into the service response / action result)."""

    success: bool
    message: str
    grasps: GraspArray
    trajectory: JointTrajectory
    wrist_pose: PoseStamped


class _Busy(Exception):
    """Another plan runs and the busy policy turns this request away (the message says why)."""


class _Preempted(Exception):
    """A newer request took over while this one waited (busy_policy preempt)."""


class GraspPlannerNode(Node):
    """The ``grasp_planner`` node.

    Args:
        planner: a ready :class:`Planner` (tests inject one). None: built by
            :func:`~dex1b_ros.ros.planner_factory.make_planner` from the parameters in a background
            thread; until it is ready requests wait (``planner_wait_timeout``), and if it fails every
            request gets that error as its failure message (the node keeps serving).
        **kwargs: passed to ``rclpy.node.Node`` (``context``, ``parameter_overrides``, ``cli_args``...).
    Raises ConfigError when a parameter is invalid (the message names it).
    """

    def __init__(self, planner: Planner | None = None, node_name: str = NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)
        try:
            self._setup(planner)
        except BaseException:
            self.destroy_node()  # leave no half-built node (and its services) in the graph
            raise

    def _setup(self, planner: Planner | None) -> None:
        declare(self, PARAMS)
        self._warn_undeclared_overrides()
        p = read(self, PARAMS)
        reject_runtime_changes(self, NODE_PARAMS)
        self.p = p
        self._configure(p)
        self.plans_done = 0            # finished plans (any outcome), for tests and diagnostics
        self.clouds_received = 0       # clouds received on the topic
        self._latest_cloud: PointCloud2 | None = None
        self._cloud_lock = threading.Lock()
        # admission (busy_policy): one plan runs; ``_waiting`` requests wait for it (queue: <= 1);
        # preempt: a request numbered ``_preempt_by`` asks every older one to stop / give up
        self._admit = threading.Condition()
        self._running = False
        self._waiting = 0
        self._ticket = 0
        self._preempt_by = 0
        self._stream: tuple[float, GraspTrajectory] | None = None
        self._stream_lock = threading.Lock()

        # --- planner ---------------------------------------------------------------------------
        self._planner: Planner | None = planner
        self._planner_error: str | None = None
        self._planner_ready = threading.Event()
        self.add_on_set_parameters_callback(self._check_planner_params)
        self.add_post_set_parameters_callback(self._apply_planner_params)
        if planner is not None:
            self._check_planner(planner)
            self._push_config(planner)
            self._planner_ready.set()
        else:
            threading.Thread(target=self._load_planner, name="planner-loader", daemon=True).start()

        # --- callback groups: a running plan blocks none of the others ----------------------------
        self._cloud_group = ReentrantCallbackGroup()      # caching continues while a topic plan runs
        self._service_group = ReentrantCallbackGroup()
        self._action_group = ReentrantCallbackGroup()
        self._driver_group = MutuallyExclusiveCallbackGroup()

        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.pub_grasps = self.create_publisher(GraspArray, p["grasps_topic"], reliable)
        self.pub_traj = self.create_publisher(JointTrajectory, p["trajectory_topic"], reliable)
        self.pub_pose = self.create_publisher(PoseStamped, p["wrist_pose_topic"], reliable)
        self.pub_markers = self.create_publisher(MarkerArray, p["markers_topic"], reliable)
        self.pub_driver = None
        msg_type = cv.adapter_message_type(self.adapter)
        if msg_type is not None:
            self.pub_driver = self.create_publisher(msg_type, self.driver_topic, reliable)
        cloud_qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE) if p["cloud_reliable"] else \
            qos_profile_sensor_data
        self.sub_cloud = self.create_subscription(PointCloud2, p["cloud_topic"], self._on_cloud, cloud_qos,
                                                  callback_group=self._cloud_group)
        self.srv = self.create_service(PlanGraspsSrv, p["service_name"], self._on_service,
                                       callback_group=self._service_group)
        self.action = ActionServer(self, PlanGraspsAction, p["action_name"], execute_callback=self._on_action,
                                   goal_callback=self._on_goal, cancel_callback=self._on_cancel,
                                   callback_group=self._action_group)
        if self.pub_driver is not None and self.adapter != "joint_trajectory":
            self.driver_timer = self.create_timer(1.0 / p["driver_rate_hz"], self._on_driver_timer,
                                                  callback_group=self._driver_group)
        self.get_logger().info(
            f"grasp_planner: hand {self.hand.name!r}, planning frame {self.planning_frame!r}, cloud topic "
            f"{p['cloud_topic']!r} (plan_on_cloud={p['plan_on_cloud']}), service {p['service_name']!r}, action "
            f"{p['action_name']!r}, driver adapter {self.adapter!r} on {self.driver_topic!r}")

    # ------------------------------------------------------------------------------------------
    # configuration
    # ------------------------------------------------------------------------------------------
    def _configure(self, p: dict) -> None:
        try:
            self.config: PlannerConfig = from_flat({s.name: p[s.name] for s in PLANNER_PARAMS})
        except ConfigError as e:
            raise ConfigError(f"parameter {e}") from None
        try:
            self.timing = TrajectoryTiming(**{k[len("trajectory."):]: v for k, v in p.items()
                                              if k.startswith("trajectory.")})
        except ConfigError as e:
            raise ConfigError(f"parameter trajectory.{e}") from None
        if p["busy_policy"] not in BUSY_POLICIES:
            raise ConfigError(f"parameter busy_policy: expected one of {list(BUSY_POLICIES)}, got {p['busy_policy']!r}")
        self.busy_policy = p["busy_policy"]
        try:
            self.hand: HandConfig = load_hand_config(p["hand"])
        except ConfigError as e:
            raise ConfigError(f"parameter hand: {e}") from None
        self.planning_frame = p["planning_frame"].strip()
        if not self.planning_frame:
            raise ConfigError("parameter planning_frame: must not be empty")
        try:
            self.static = parse_static_transforms(p["static_transforms"], self.planning_frame)
        except FrameError as e:
            raise ConfigError(f"parameter {e}") from None
        try:
            self.adapter = cv.resolve_adapter(p["output_adapter"], self.hand)
        except ValueError as e:
            raise ConfigError(f"parameter {e}") from None
        self.driver_topic = p["driver_command_topic"] or self.hand.driver.command_topic
        if self.adapter != "none" and not self.driver_topic:
            raise ConfigError(f"parameter driver_command_topic: empty, and hand {self.hand.name!r} has no "
                              "driver.command_topic")
        if not 0.5 <= p["driver_rate_hz"] <= 500:
            raise ConfigError(f"parameter driver_rate_hz: must be in [0.5, 500] Hz, got {p['driver_rate_hz']}")
        self.save_plans_dir = p["save_plans_dir"].strip()
        if p["markers_top_n"] < 0:
            raise ConfigError(f"parameter markers_top_n: must be >= 0, got {p['markers_top_n']}")
        if p["planner_wait_timeout"] < 0:
            raise ConfigError(f"parameter planner_wait_timeout: must be >= 0 s, got {p['planner_wait_timeout']}")
        for k in ("cloud_topic", "service_name", "action_name", "grasps_topic", "trajectory_topic",
                  "wrist_pose_topic", "markers_topic"):
            if not p[k]:
                raise ConfigError(f"parameter {k}: must not be empty")

    #: planner parameters before PlannerConfig (flat names) -> their name now
    RENAMED = {"num_samples": "sampling.num_samples", "refine_steps": "refinement.refine_steps",
               "num_validate": "validation.num_validate", "top_k": "ranking.top_k", "preprocess.seed": "seed"}

    def _warn_undeclared_overrides(self) -> None:
        """A params file or override naming no declared parameter is ignored by ROS: say so (an
        older params file's ``num_samples`` is ``sampling.num_samples`` now)."""
        declared = {s.name for s in PARAMS}
        for name in sorted(set(getattr(self, "_parameter_overrides", {})) - declared):
            if name in ("use_sim_time", "qos_overrides") or name.startswith("qos_overrides."):
                continue
            hint = f"; it is {self.RENAMED[name]!r} now" if name in self.RENAMED else ""
            self.get_logger().warning(f"parameter {name!r} is not a parameter of this node and is ignored{hint} "
                                      "(config/grasp_planner.yaml lists them all)")

    def _check_planner(self, planner: Planner) -> None:
        if list(planner.joint_names) != list(self.hand.joint_names):
            raise ConfigError(f"planner joint_names {list(planner.joint_names)} differ from hand "
                              f"{self.hand.name!r} joint_names {self.hand.joint_names} (driver order)")

    def _push_config(self, planner: Planner) -> None:
        """Give the planner the node's PlannerConfig (planners without ``configure`` keep their own)."""
        if hasattr(planner, "configure") and getattr(planner, "config", None) != self.config:
            planner.configure(self.config)

    def _check_planner_params(self, params: list[Parameter]) -> SetParametersResult:
        """Before a run-time ``set``: the planner parameters must still make a valid PlannerConfig."""
        names = {s.name for s in PLANNER_PARAMS}
        changed = {q.name: q.value for q in params if q.name in names}
        if changed:
            try:
                from_flat(changed, self.config)
            except ConfigError as e:
                return SetParametersResult(successful=False, reason=f"invalid planner configuration: {e}")
        return SetParametersResult(successful=True)

    def _apply_planner_params(self, params: list[Parameter]) -> None:
        """After a run-time ``set``: the next plan uses the new PlannerConfig (a running one keeps its own)."""
        names = {s.name for s in PLANNER_PARAMS}
        changed = {q.name: q.value for q in params if q.name in names}
        if not changed:
            return
        self.config = from_flat(changed, self.config)
        self.p.update(changed)
        if self._planner is not None:
            self._push_config(self._planner)
        self.get_logger().info("planner parameters changed (from the next plan on): "
                               + ", ".join(f"{k}={v}" for k, v in changed.items()))

    def _load_planner(self) -> None:
        t0 = time.monotonic()
        try:
            planner = make_planner(self.config)
            self._check_planner(planner)
            self._push_config(planner)   # parameters set while it loaded
            self._planner = planner
            self.get_logger().info(f"planner ready ({time.monotonic() - t0:.1f} s): "
                                   f"{type(planner).__name__} for hand {self.hand.name!r}")
        except (PlannerUnavailable, ConfigError) as e:
            self._planner_error = f"planner unavailable: {e}"
            self.get_logger().error(f"{self._planner_error}. The node keeps running; every plan request fails "
                                    "with this message.")
        except Exception as e:  # keep the node alive and say why
            self._planner_error = f"planner unavailable: {type(e).__name__}: {e}"
            self.get_logger().error(f"{self._planner_error}\n{traceback.format_exc()}")
        finally:
            self._planner_ready.set()

    # ------------------------------------------------------------------------------------------
    # the plan (shared by topic, service, action)
    # ------------------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._running

    @property
    def waiting(self) -> int:
        """Requests waiting for the running plan (busy_policy queue / preempt)."""
        return self._waiting

    def latest_cloud(self) -> PointCloud2 | None:
        with self._cloud_lock:
            return self._latest_cloud

    def _empty_outputs(self, header) -> tuple[GraspArray, JointTrajectory, PoseStamped]:
        return GraspArray(header=header), JointTrajectory(header=header), PoseStamped(header=header)

    def plan(self, cloud: PointCloud2 | None, hand: str = "", num_grasps: int = 0, execute: bool = False,
             feedback=None, cancel=None, policy: str | None = None) -> PlanOutcome:
        """Plan for ``cloud`` (None/empty: the latest cached cloud). Never raises for bad input.

        While another plan runs, ``policy`` (default: the ``busy_policy`` parameter) decides:
        ``reject`` raises _Busy; ``queue`` waits for it (raises _Busy when a request already
        waits); ``preempt`` asks it to stop and waits for it (raises _Preempted when a newer
        request comes first). A waiting request whose ``cancel()`` turns true fails "cancelled"."""
        policy = policy or self.busy_policy
        cancel = cancel or (lambda: False)
        with self._admit:
            self._ticket += 1
            me = self._ticket
            if self._running:
                if policy == "reject":
                    raise _Busy("busy: another plan is running; retry later or cancel it (busy_policy reject)")
                if policy == "queue" and self._waiting:
                    raise _Busy("busy: another plan is running and a request is already waiting for it "
                                "(busy_policy queue)")
                if policy == "preempt":
                    self._preempt_by = me
                    self._admit.notify_all()
                self._waiting += 1
                try:
                    while self._running:
                        if self._preempt_by > me:
                            raise _Preempted("preempted by a newer request before it started (busy_policy preempt)")
                        if cancel():
                            return self._not_started("cancelled while waiting for the running plan")
                        self._admit.wait(0.02)
                finally:
                    self._waiting -= 1
                    self._admit.notify_all()
                if self._preempt_by > me:
                    raise _Preempted("preempted by a newer request before it started (busy_policy preempt)")
            self._running = True
        preempted = lambda: self._preempt_by > me  # noqa: E731
        try:
            out = self._plan_locked(cloud, hand, num_grasps, execute, feedback,
                                    lambda: cancel() or preempted())
            if preempted() and not out.success:
                out.message = f"preempted by a newer request ({out.message})"
            return out
        finally:
            with self._admit:
                self.plans_done += 1
                self._running = False
                self._admit.notify_all()

    def _not_started(self, msg: str) -> PlanOutcome:
        header = cv.header_msg(self.planning_frame, self.get_clock().now().to_msg())
        g, t, w = self._empty_outputs(header)
        g.planner_info = msg
        return PlanOutcome(False, msg, g, t, w)

    def _plan_locked(self, cloud, hand, num_grasps, execute, feedback, cancel) -> PlanOutcome:
        t0 = time.monotonic()
        fb = feedback or (lambda stage, frac, detail: None)
        header = cv.header_msg(self.planning_frame, self.get_clock().now().to_msg())

        def failed(msg: str) -> PlanOutcome:
            self.get_logger().warning(f"plan failed: {msg}")
            g, t, w = self._empty_outputs(header)
            g.planner_info = msg
            self.pub_grasps.publish(g)
            return PlanOutcome(False, msg, g, t, w)

        if hand and hand != self.hand.name:
            return failed(f"this node plans for hand {self.hand.name!r}; the request asked for {hand!r}")
        if cv.cloud_is_empty(cloud):
            cloud = self.latest_cloud()
            if cloud is None:
                return failed(f"the request has an empty cloud and no cloud has been received on "
                              f"{self.sub_cloud.topic_name!r} yet")
        fb("preprocess", 0.0, f"{cloud.width * cloud.height} points in frame {cloud.header.frame_id!r}")
        # the node's part: message -> arrays in the planning frame; the planner does the rest
        try:
            arrays = cv.pointcloud2_to_xyz(cloud)
            T = lookup(arrays.frame_id, self.planning_frame, self.static)
            points, normals = arrays.points, arrays.normals
            if not np.array_equal(T, np.eye(4)):
                points, normals = transform_points(points, T, normals)
        except (cv.CloudFormatError, FrameError) as e:
            return failed(f"bad cloud: {e}")
        except Exception as e:
            self.get_logger().error(traceback.format_exc())
            return failed(f"bad cloud: conversion failed: {type(e).__name__}: {e}")
        t_convert = time.monotonic() - t0
        if cancel():
            return failed("cancelled")

        if not self._planner_ready.is_set():
            fb("preprocess", 0.01, "waiting for the planner to finish loading")
            deadline = time.monotonic() + self.p["planner_wait_timeout"]
            while not self._planner_ready.wait(0.05):
                if cancel():
                    return failed("cancelled")
                if time.monotonic() > deadline:
                    return failed(f"planner still loading after {self.p['planner_wait_timeout']} s")
        if self._planner is None:
            return failed(self._planner_error or "planner unavailable")

        # keep_scene: what the planner prepared, for the saved plan (planners without the argument: the cloud only)
        keep = {"keep_scene": True} if self.save_plans_dir and _accepts(self._planner.plan, "keep_scene") else {}
        try:
            result: PlanResult = self._planner.plan(points, normals, max(int(num_grasps or 0), 0), progress=fb,
                                                    cancel=cancel, **keep)
        except Exception as e:
            self.get_logger().error(f"planner raised:\n{traceback.format_exc()}")
            return failed(f"planner error: {type(e).__name__}: {e}")
        if not isinstance(result, PlanResult):
            return failed(f"planner error: plan() returned {type(result).__name__}, not PlanResult")
        if self.save_plans_dir:
            self._save_plan(result, points)
        if cancel():
            return failed("cancelled" + (f" ({result.message})" if result.message else ""))
        result.timings.setdefault("convert", t_convert)
        try:
            grasps = cv.plan_result_to_msg(result, header, hand=self.hand.name, joint_names=self.hand.joint_names)
            if result.success and not result.grasps:
                return failed(f"planner reported success but returned no grasps ({result.message})")
            if not result.success:
                msg = result.message or "planner failed without a message"
                self.get_logger().warning(f"plan failed: {msg}")
                self.pub_grasps.publish(grasps)
                _, t, w = self._empty_outputs(header)
                return PlanOutcome(False, msg, grasps, t, w)
            best = result.grasps[0]
            traj = grasp_trajectory(best, self.hand.open_pose, self.hand.joint_names, self.timing)
            traj_msg = cv.trajectory_to_msg(traj, header)
            pose = cv.pose_stamped_msg(best.wrist_pos, best.wrist_quat, header)
            markers = cv.grasp_markers(result, header, top_n=self.p["markers_top_n"])
        except (ValueError, TypeError) as e:
            return failed(f"planner returned an invalid result: {e}")
        fb("publish", 0.99, f"{len(result.grasps)} grasps, best score {best.score:.3f}")
        self.pub_grasps.publish(grasps)
        self.pub_markers.publish(markers)
        if execute:
            self.pub_pose.publish(pose)
            self.pub_traj.publish(traj_msg)
            self._start_driver(traj, header)
        total = time.monotonic() - t0
        msg = (f"{len(result.grasps)} grasp(s) for {self.hand.name}, best score {best.score:.3f} "
               f"(validated={best.validated}, sim_success={best.sim_success}, "
               f"predicted_success={best.predicted_success}), {total:.2f} s"
               + (f"; {result.message}" if result.message else ""))
        self.get_logger().info(msg)
        self.get_logger().info("stage seconds: " + ", ".join(f"{k} {v:.3f}" for k, v in result.timings.items()))
        fb("publish", 1.0, msg)
        return PlanOutcome(True, msg, grasps, traj_msg, pose)

    def _save_plan(self, result: PlanResult, points: np.ndarray) -> None:
        """``save_plans_dir``: the plan as a saved-plan file (dex1b_ros.viz.plan_file); a failure only warns."""
        from ..viz.plan_file import save_result
        try:
            path = save_result(result, self.save_plans_dir, points=points, frame_id=self.planning_frame,
                               source=f"node {self.get_fully_qualified_name()}")
            self.get_logger().info(f"plan saved: {path} (dex1b view {path})")
        except Exception as e:  # a full disk must not fail the plan
            self.get_logger().warning(f"save_plans_dir: cannot save the plan in {self.save_plans_dir!r}: "
                                      f"{type(e).__name__}: {e}")

    # ------------------------------------------------------------------------------------------
    # driver adapter
    # ------------------------------------------------------------------------------------------
    def _start_driver(self, traj: GraspTrajectory, header) -> None:
        if self.pub_driver is None:
            return
        if self.adapter == "joint_trajectory":
            self.pub_driver.publish(cv.driver_trajectory(traj, self.hand, header))
            return
        with self._stream_lock:
            self._stream = (time.monotonic(), traj)
        self._on_driver_timer()  # first command now, the rest from the timer

    def _on_driver_timer(self) -> None:
        with self._stream_lock:
            if self._stream is None:
                return
            t0, traj = self._stream
            t = time.monotonic() - t0
            if t >= traj.duration:
                self._stream = None
            q = traj.sample(min(t, traj.duration))
        header = cv.header_msg(self.planning_frame, self.get_clock().now().to_msg())
        self.pub_driver.publish(cv.driver_command(q, self.hand, self.adapter, header))

    # ------------------------------------------------------------------------------------------
    # callbacks
    # ------------------------------------------------------------------------------------------
    def _on_cloud(self, msg: PointCloud2) -> None:
        with self._cloud_lock:
            self._latest_cloud = msg
            self.clouds_received += 1
        if not self.p["plan_on_cloud"]:
            return
        if self.busy:
            self.get_logger().debug("cloud cached; a plan is already running")
            return
        try:   # topic plans only start when idle: they never wait, queue or preempt
            self.plan(msg, execute=self.p["execute_on_cloud"], policy="reject")
        except (_Busy, _Preempted):
            pass
        except Exception:  # never let a callback kill the executor
            self.get_logger().error(f"plan on cloud failed:\n{traceback.format_exc()}")

    def _on_service(self, req: PlanGraspsSrv.Request, res: PlanGraspsSrv.Response) -> PlanGraspsSrv.Response:
        try:
            out = self.plan(req.cloud, req.hand, req.num_grasps, req.execute,
                            cancel=lambda: not self.context.ok())
        except (_Busy, _Preempted) as e:
            res.success, res.message = False, str(e)
            return res
        except Exception as e:
            self.get_logger().error(traceback.format_exc())
            res.success, res.message = False, f"internal error: {type(e).__name__}: {e}"
            return res
        res.success, res.message = out.success, out.message
        res.grasps, res.trajectory, res.wrist_pose = out.grasps, out.trajectory, out.wrist_pose
        return res

    def _on_goal(self, goal) -> GoalResponse:
        """reject: no goal while a plan runs; queue: none while one already waits; preempt: always
        (the running plan is asked to stop when the goal executes)."""
        if self.busy and (self.busy_policy == "reject" or (self.busy_policy == "queue" and self._waiting)):
            self.get_logger().warning(f"action goal rejected: another plan is running (busy_policy "
                                      f"{self.busy_policy})")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _on_cancel(self, goal_handle) -> CancelResponse:
        self.get_logger().info("cancel requested")
        return CancelResponse.ACCEPT

    def _on_action(self, goal_handle) -> PlanGraspsAction.Result:
        g = goal_handle.request

        def feedback(stage: str, frac: float, detail: str) -> None:
            fbm = PlanGraspsAction.Feedback(stage=str(stage), progress=float(np.clip(frac, 0.0, 1.0)),
                                            detail=str(detail))
            try:
                goal_handle.publish_feedback(fbm)
            except Exception:  # goal already finished / node shutting down
                pass

        result = PlanGraspsAction.Result()
        try:
            out = self.plan(g.cloud, g.hand, g.num_grasps, g.execute, feedback=feedback,
                            cancel=lambda: goal_handle.is_cancel_requested or not self.context.ok())
        except (_Busy, _Preempted) as e:
            result.success, result.message = False, str(e)
            goal_handle.abort()
            return result
        except Exception as e:
            self.get_logger().error(traceback.format_exc())
            result.success, result.message = False, f"internal error: {type(e).__name__}: {e}"
            goal_handle.abort()
            return result
        result.success, result.message = out.success, out.message
        result.grasps, result.trajectory, result.wrist_pose = out.grasps, out.trajectory, out.wrist_pose
        if goal_handle.is_cancel_requested:
            result.success = False
            if not result.message.startswith("cancelled"):
                result.message = f"cancelled ({result.message})"
            goal_handle.canceled()
        elif out.success:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        return result

    def destroy_node(self):
        if getattr(self, "action", None) is not None:
            self.action.destroy()
            self.action = None
        return super().destroy_node()


def _accepts(fn, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def main(args=None) -> int:
    """Console script ``grasp_planner`` (accepts ``--ros-args --params-file config/grasp_planner.yaml``)."""
    return spin_node(GraspPlannerNode, NODE_NAME, EXECUTOR_THREADS, args, (ConfigError,))


if __name__ == "__main__":
    sys.exit(main())
