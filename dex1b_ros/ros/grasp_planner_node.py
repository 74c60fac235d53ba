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
Frames: outputs are in ``planning_frame``. No tf2 (not available as pip wheels): a cloud must be
    in the planning frame or in one of ``static_transforms`` (see :mod:`dex1b_ros.ros.frames`).
Concurrency: one plan at a time (a second request while busy fails fast with "busy"; action goals
    are rejected). The subscription, service and action server have their own callback groups and
    the node runs on a MultiThreadedExecutor, so a running plan never blocks caching clouds,
    answering the service, or accepting a cancel.
Bad input (empty cloud, NaN/inf, too many points, missing x/y/z fields, unknown frame, object too
    small/large): a failed result with a clear message; the node keeps serving.
"""
from __future__ import annotations

import sys
import threading
import time
import traceback
from dataclasses import dataclass

import numpy as np
from dex1b_msgs.action import PlanGrasps as PlanGraspsAction
from dex1b_msgs.msg import GraspArray
from dex1b_msgs.srv import PlanGrasps as PlanGraspsSrv
from geometry_msgs.msg import PoseStamped
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import PointCloud2
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import MarkerArray

from ..config_utils import ConfigError
from ..hands.config import HandConfig, load_hand_config
from ..perception.preprocess import CloudError, PreprocessConfig, preprocess_cloud
from ..planner.trajectory import GraspTrajectory, TrajectoryTiming, grasp_trajectory
from ..planner.types import Planner, PlanResult
from . import conversions as cv
from .frames import FrameError, lookup, parse_static_transforms
from .params import ParamSpec, declare, read, reject_runtime_changes, spin_node
from .planner_factory import PlannerParams, PlannerUnavailable, make_planner

NODE_NAME = "grasp_planner"
#: executor threads of ``main``: a plan, the subscription, the service, the action's goal/cancel
#: services and the driver timer must all be able to run at once.
EXECUTOR_THREADS = 5

_PRE = PreprocessConfig()
_TIM = TrajectoryTiming()
_PLN = PlannerParams()

#: Every parameter of the node (config/grasp_planner.yaml lists the same names; a test checks).
PARAMS: list[ParamSpec] = [
    # planner (see dex1b_ros/ros/planner_factory.py)
    ParamSpec("hand", _PLN.hand, "hand to plan for: a name from config/hands (leap | allegro)"),
    ParamSpec("hands_dir", _PLN.hands_dir, "directory holding the MuJoCo Menagerie hand folders; '' = default search"),
    ParamSpec("model_path", _PLN.model_path, "generator weights file; '' = the shipped model (optimizer alone if none)"),
    ParamSpec("device", _PLN.device, "torch device of the planner: cpu | cuda | cuda:N"),
    ParamSpec("num_samples", _PLN.num_samples, "grasp candidates sampled per plan"),
    ParamSpec("refine_steps", _PLN.refine_steps, "post-optimisation gradient steps per candidate"),
    ParamSpec("num_validate", _PLN.num_validate, "best candidates simulated in MuJoCo (0 = no validation)"),
    ParamSpec("top_k", _PLN.top_k, "ranked grasps returned per plan (a request's num_grasps <= 0 uses this)"),
    ParamSpec("torch_threads", _PLN.torch_threads, "torch CPU threads of the planner (0 = torch default; 1 is fastest "
              "for the default batch on 2 cores)"),
    ParamSpec("warmup", _PLN.warmup, "plan once on a synthetic cloud while loading so the first request is not slow"),
    ParamSpec("planner_wait_timeout", 120.0, "s, how long a request waits for the planner to finish loading"),
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
    ParamSpec("wrist_pose_topic", "grasp_wrist_pose", "geometry_msgs/PoseStamped wrist (palm frame) target for the arm"),
    ParamSpec("markers_topic", "grasp_markers", "visualization_msgs/MarkerArray for RViz"),
    ParamSpec("markers_top_n", 5, "grasps drawn in RViz"),
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
    # preprocessing (dex1b_ros/perception/preprocess.py PreprocessConfig)
    ParamSpec("preprocess.crop_min", [-1.0, -1.0, -0.5], "m, lower corner of the crop box in the planning frame"),
    ParamSpec("preprocess.crop_max", [1.0, 1.0, 1.5], "m, upper corner of the crop box in the planning frame"),
    ParamSpec("preprocess.max_input_points", _PRE.max_input_points, "hard cap: clouds with more points are rejected"),
    ParamSpec("preprocess.downsample_above", _PRE.downsample_above, "larger clouds are randomly subsampled to this"),
    ParamSpec("preprocess.remove_plane", _PRE.remove_plane, "remove the support plane (table) and what lies below it"),
    ParamSpec("preprocess.plane_distance", _PRE.plane_distance, "m, RANSAC inlier distance of the support plane"),
    ParamSpec("preprocess.plane_iterations", _PRE.plane_iterations, "RANSAC iterations"),
    ParamSpec("preprocess.plane_min_inlier_fraction", _PRE.plane_min_inlier_fraction,
              "a plane holding fewer of the points is not removed"),
    ParamSpec("preprocess.plane_max_tilt_deg", _PRE.plane_max_tilt_deg, "deg, max tilt of a support plane from +z"),
    ParamSpec("preprocess.voxel_size", _PRE.voxel_size, "m, voxel downsampling cell (0 = off)"),
    ParamSpec("preprocess.max_cluster_points", _PRE.max_cluster_points, "voxel cell doubles until at most this many"),
    ParamSpec("preprocess.outlier_neighbors", _PRE.outlier_neighbors, "statistical outlier neighbours (0 = off)"),
    ParamSpec("preprocess.outlier_std_ratio", _PRE.outlier_std_ratio, "statistical outlier std ratio"),
    ParamSpec("preprocess.cluster_eps", _PRE.cluster_eps, "m, DBSCAN radius; the largest cluster is the object (0 = off)"),
    ParamSpec("preprocess.cluster_min_points", _PRE.cluster_min_points, "DBSCAN core-point neighbours"),
    ParamSpec("preprocess.min_points", _PRE.min_points, "fewer object points than this -> failed plan"),
    ParamSpec("preprocess.max_output_points", _PRE.max_output_points, "object points passed to the planner, at most"),
    ParamSpec("preprocess.min_extent", _PRE.min_extent, "m, object smaller than this (largest side) -> failed plan"),
    ParamSpec("preprocess.max_extent", _PRE.max_extent, "m, object larger than this (largest side) -> failed plan"),
    ParamSpec("preprocess.seed", _PRE.seed, "seed of the random preprocessing steps"),
]


@dataclass
class PlanOutcome:
    """What one plan produced (filled into the service response / action result)."""

    success: bool
    message: str
    grasps: GraspArray
    trajectory: JointTrajectory
    wrist_pose: PoseStamped


class _Busy(Exception):
    pass


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
        p = read(self, PARAMS)
        reject_runtime_changes(self, PARAMS)
        self.p = p
        self._configure(p)
        self.plans_done = 0            # finished plans (any outcome), for tests and diagnostics
        self.clouds_received = 0       # clouds received on the topic
        self._latest_cloud: PointCloud2 | None = None
        self._cloud_lock = threading.Lock()
        self._plan_lock = threading.Lock()
        self._stream: tuple[float, GraspTrajectory] | None = None
        self._stream_lock = threading.Lock()

        # --- planner ---------------------------------------------------------------------------
        self._planner: Planner | None = planner
        self._planner_error: str | None = None
        self._planner_ready = threading.Event()
        if planner is not None:
            self._check_planner(planner)
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
        def sub(prefix, cls, section):
            kw = {k[len(prefix):]: v for k, v in p.items() if k.startswith(prefix)}
            try:
                return cls(**kw)
            except ConfigError as e:
                raise ConfigError(f"parameter {section}.{e}") from None

        try:
            self.planner_params = PlannerParams(**{k: p[k] for k in PlannerParams.__dataclass_fields__})
        except ConfigError as e:
            raise ConfigError(f"parameter {e}") from None
        self.timing = sub("trajectory.", TrajectoryTiming, "trajectory")
        self.preprocess = sub("preprocess.", PreprocessConfig, "preprocess")
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
        if p["markers_top_n"] < 0:
            raise ConfigError(f"parameter markers_top_n: must be >= 0, got {p['markers_top_n']}")
        if p["planner_wait_timeout"] < 0:
            raise ConfigError(f"parameter planner_wait_timeout: must be >= 0 s, got {p['planner_wait_timeout']}")
        for k in ("cloud_topic", "service_name", "action_name", "grasps_topic", "trajectory_topic",
                  "wrist_pose_topic", "markers_topic"):
            if not p[k]:
                raise ConfigError(f"parameter {k}: must not be empty")

    def _check_planner(self, planner: Planner) -> None:
        if list(planner.joint_names) != list(self.hand.joint_names):
            raise ConfigError(f"planner joint_names {list(planner.joint_names)} differ from hand "
                              f"{self.hand.name!r} joint_names {self.hand.joint_names} (driver order)")

    def _load_planner(self) -> None:
        t0 = time.monotonic()
        try:
            planner = make_planner(self.planner_params)
            self._check_planner(planner)
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
        return self._plan_lock.locked()

    def latest_cloud(self) -> PointCloud2 | None:
        with self._cloud_lock:
            return self._latest_cloud

    def _empty_outputs(self, header) -> tuple[GraspArray, JointTrajectory, PoseStamped]:
        return GraspArray(header=header), JointTrajectory(header=header), PoseStamped(header=header)

    def plan(self, cloud: PointCloud2 | None, hand: str = "", num_grasps: int = 0, execute: bool = False,
             feedback=None, cancel=None) -> PlanOutcome:
        """Plan for ``cloud`` (None/empty: the latest cached cloud). Never raises for bad input.

        Raises _Busy when another plan is running (callers turn it into their own failure)."""
        if not self._plan_lock.acquire(blocking=False):
            raise _Busy()
        try:
            return self._plan_locked(cloud, hand, num_grasps, execute, feedback, cancel)
        finally:
            self.plans_done += 1
            self._plan_lock.release()

    def _plan_locked(self, cloud, hand, num_grasps, execute, feedback, cancel) -> PlanOutcome:
        t0 = time.monotonic()
        fb = feedback or (lambda stage, frac, detail: None)
        cancel = cancel or (lambda: False)
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
        try:
            arrays = cv.pointcloud2_to_xyz(cloud)
            T = lookup(arrays.frame_id, self.planning_frame, self.static)
            pre = preprocess_cloud(arrays.points, arrays.normals, T, self.preprocess)
        except (cv.CloudFormatError, FrameError, CloudError) as e:
            return failed(f"bad cloud: {e}")
        except Exception as e:
            self.get_logger().error(traceback.format_exc())
            return failed(f"bad cloud: preprocessing failed: {type(e).__name__}: {e}")
        t_pre = time.monotonic() - t0
        fb("preprocess", 0.05, f"{len(pre.points)} object points, extent "
                               f"{np.round(pre.extent * 1000).astype(int).tolist()} mm")
        if cancel():
            return failed("cancelled")

        if not self._planner_ready.is_set():
            fb("preprocess", 0.05, "waiting for the planner to finish loading")
            deadline = time.monotonic() + self.p["planner_wait_timeout"]
            while not self._planner_ready.wait(0.05):
                if cancel():
                    return failed("cancelled")
                if time.monotonic() > deadline:
                    return failed(f"planner still loading after {self.p['planner_wait_timeout']} s")
        if self._planner is None:
            return failed(self._planner_error or "planner unavailable")

        n = int(num_grasps) if num_grasps and num_grasps > 0 else self.planner_params.top_k
        try:
            kw = {} if pre.plane is None else {"support_plane": pre.plane}
            result: PlanResult = self._planner.plan(pre.points, pre.normals, n, progress=fb, cancel=cancel, **kw)
        except Exception as e:
            self.get_logger().error(f"planner raised:\n{traceback.format_exc()}")
            return failed(f"planner error: {type(e).__name__}: {e}")
        if not isinstance(result, PlanResult):
            return failed(f"planner error: plan() returned {type(result).__name__}, not PlanResult")
        if cancel():
            return failed("cancelled" + (f" ({result.message})" if result.message else ""))
        result.timings.setdefault("preprocess", t_pre)
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
               f"(validated={best.validated}, sim_success={best.sim_success}), {total:.2f} s"
               + (f"; {result.message}" if result.message else ""))
        self.get_logger().info(msg)
        self.get_logger().info("stage seconds: " + ", ".join(f"{k} {v:.3f}" for k, v in result.timings.items()))
        fb("publish", 1.0, msg)
        return PlanOutcome(True, msg, grasps, traj_msg, pose)

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
        try:
            self.plan(msg, execute=self.p["execute_on_cloud"])
        except _Busy:
            pass
        except Exception:  # never let a callback kill the executor
            self.get_logger().error(f"plan on cloud failed:\n{traceback.format_exc()}")

    def _on_service(self, req: PlanGraspsSrv.Request, res: PlanGraspsSrv.Response) -> PlanGraspsSrv.Response:
        try:
            out = self.plan(req.cloud, req.hand, req.num_grasps, req.execute,
                            cancel=lambda: not self.context.ok())
        except _Busy:
            res.success, res.message = False, "busy: another plan is running; retry later or cancel it"
            return res
        except Exception as e:
            self.get_logger().error(traceback.format_exc())
            res.success, res.message = False, f"internal error: {type(e).__name__}: {e}"
            return res
        res.success, res.message = out.success, out.message
        res.grasps, res.trajectory, res.wrist_pose = out.grasps, out.trajectory, out.wrist_pose
        return res

    def _on_goal(self, goal) -> GoalResponse:
        if self.busy:
            self.get_logger().warning("action goal rejected: another plan is running")
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
        except _Busy:
            result.success, result.message = False, "busy: another plan is running"
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


def main(args=None) -> int:
    """Console script ``grasp_planner`` (accepts ``--ros-args --params-file config/grasp_planner.yaml``)."""
    return spin_node(GraspPlannerNode, NODE_NAME, EXECUTOR_THREADS, args, (ConfigError,))


if __name__ == "__main__":
    sys.exit(main())
