"""ROS 2 node ``sim_hand``: a MuJoCo hand that executes grasp trajectories and reports the result.

    sim_hand --ros-args --params-file config/sim_hand.yaml
    sim_hand --ros-args --params-file config/sim_hand.yaml -p hand:=allegro -p real_time_factor:=0.0

Scene: built by the validator's scene builder (``dex1b_ros.validate.scene.build_scene`` with
``tabletop=True``): the hand (MjSpec from ``load_hand_spec``, palm = wrist frame) hangs from a
mocap body through a z slide servo, the object is a free body (the validator's object collision:
its convex decomposition by default; mass
``object_mass`` = 0.1 kg, friction 0.6) resting on a table plane. Gravity is on (a stand-in for the
real world), unlike the validator's protocol.

Frames: the object stands on the table exactly as in ``sim_camera`` (same ``object``,
``object_xy``, ``object_yaw``, ``table_z`` parameters; see :mod:`dex1b_ros.ros.sim_world`).
Incoming wrist poses are in ``frame_id`` (the planning frame); MuJoCo's world is the object frame.

Behaviour: the latest ``wrist_pose_topic`` pose (PoseStamped, preferably with the same stamp as
the trajectory, as the planner sends them) places the palm; on each ``trajectory_topic``
JointTrajectory (simulation convention, joint names of the hand config) the fingers start at its
first point and follow it (linear interpolation between points over time_from_start) through
the hand's position actuators, then the hand is lifted ``lift_height`` (10 cm) in ``lift_time``
and held ``hold_time``. ``joint_states_topic`` (sensor_msgs/JointState, simulation convention)
is published at ``joint_state_rate_hz`` of simulated time, stamped with the execution's start
time plus the simulated time (so stamps follow the hand's clock at any pace, like a real
driver's at real time); ``wrench_topic`` (geometry_msgs/WrenchStamped, same rate and stamps, frame
``frame_id``) is a wrist force sensor zeroed with the hand hanging free: force = minus the lift
servo's effort beyond the hand's own weight (force.z = -0.98 N while a 0.1 kg object hangs in the
hand, ~0 when the hand rose without it; not meaningful while the hand presses on the table or the
object before the lift); ``real_time_factor`` paces the
simulation (1 = real time, 2 = twice as fast, 0 = as fast as possible). Afterwards
``held_topic`` (std_msgs/Bool) says whether the object rose with the hand (at least
``held_min_rise`` x lift and still touching it) and ``status_topic`` (std_msgs/String) why.
"""
from __future__ import annotations

import sys
import threading
import time

import mujoco
import numpy as np
from geometry_msgs.msg import PoseStamped, WrenchStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Header, String
from trajectory_msgs.msg import JointTrajectory

from ..config_utils import ConfigError
from ..hands.config import load_hand_config
from ..objects import load_object
from ..planner.trajectory import GraspTrajectory
from ..validate.config import ValidatorConfig
from ..validate.scene import build_scene, set_hand
from . import conversions as cv
from .params import ParamNode, ParamSpec, spin_node
from .sim_world import matrix_to_pos_quat, place_on_table, pos_quat_to_matrix

NODE_NAME = "sim_hand"

PARAMS: list[ParamSpec] = [
    ParamSpec("hand", "leap", "hand to simulate: leap | allegro"),
    ParamSpec("hands_dir", "", "directory holding the MuJoCo Menagerie hand folders; '' = default search"),
    ParamSpec("object", "ycb:006_mustard_bottle", "object id (same as sim_camera's)"),
    ParamSpec("object_xy", [0.5, 0.0], "m, (x, y) of the object's bounding-box centre on the table, world frame"),
    ParamSpec("object_yaw", 0.0, "rad, rotation of the object about world z"),
    ParamSpec("table_z", 0.0, "m, table top height in the world frame"),
    ParamSpec("frame_id", "world", "world/planning frame that wrist poses must be given in"),
    ParamSpec("object_mass", 0.1, "kg, object mass"),
    ParamSpec("friction", 0.6, "object tangential friction coefficient"),
    ParamSpec("gravity", True, "gravity on (false: the validator's zero-g protocol)"),
    ParamSpec("trajectory_topic", "grasp_trajectory", "input trajectory_msgs/JointTrajectory (sim convention)"),
    ParamSpec("wrist_pose_topic", "grasp_wrist_pose", "input geometry_msgs/PoseStamped wrist (palm) pose"),
    ParamSpec("joint_states_topic", "joint_states", "output sensor_msgs/JointState (sim convention)"),
    ParamSpec("wrench_topic", "wrist_wrench", "output geometry_msgs/WrenchStamped: the wrist's load in frame_id, "
              "zeroed with the hand hanging free (force.z < 0: something hangs in the hand); '' = none"),
    ParamSpec("held_topic", "object_held", "output std_msgs/Bool after each execution"),
    ParamSpec("status_topic", "sim_hand_status", "output std_msgs/String after each execution"),
    ParamSpec("joint_state_rate_hz", 50.0, "Hz of simulated time"),
    ParamSpec("real_time_factor", 1.0, "simulated seconds per wall second; 0 = as fast as possible"),
    ParamSpec("pose_wait", 1.0, "s, how long to wait for a wrist pose stamped like the trajectory"),
    ParamSpec("lift_height", 0.1, "m, how far the hand is lifted after the trajectory"),
    ParamSpec("lift_time", 1.0, "s, duration of the lift"),
    ParamSpec("hold_time", 0.5, "s, hold after the lift before judging"),
    ParamSpec("held_min_rise", 0.5, "fraction of lift_height the object must rise to count as held"),
]


class SimHandNode(ParamNode, Node):
    """See the module doc. Raises ConfigError for invalid parameters, FileNotFoundError for a
    missing hand model."""

    PARAMS = PARAMS

    def __init__(self, node_name: str = NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)

    def _setup(self) -> None:
        p = self.p
        for k in ("joint_state_rate_hz", "lift_time", "object_mass"):
            if p[k] <= 0:
                raise ConfigError(f"parameter {k}: must be > 0, got {p[k]}")
        if p["real_time_factor"] < 0 or p["lift_height"] < 0 or p["hold_time"] < 0:
            raise ConfigError("parameters real_time_factor, lift_height, hold_time must be >= 0")
        if len(p["object_xy"]) != 2:
            raise ConfigError(f"parameter object_xy: expected 2 numbers, got {p['object_xy']}")
        try:
            self.hand = load_hand_config(p["hand"])
        except ConfigError as e:
            raise ConfigError(f"parameter hand: {e}") from None
        try:
            obj = load_object(p["object"])
        except Exception as e:
            raise ConfigError(f"parameter object: cannot load {p['object']!r}: {e}") from None
        self.mesh = obj.mesh
        self.T_world_obj = place_on_table(self.mesh, p["object_xy"], p["object_yaw"], p["table_z"])
        try:
            self.vcfg = ValidatorConfig(gravity=p["gravity"], object_mass=p["object_mass"], friction=p["friction"],
                                        lift_height=p["lift_height"] or 0.1, lift_time=p["lift_time"])
        except ConfigError as e:
            raise ConfigError(f"parameter {e}") from None
        self.scene = build_scene(self.hand, self.mesh, self.vcfg, tabletop=True, hands_dir=p["hands_dir"] or None)
        self.model = self.scene.model
        self.data = mujoco.MjData(self.model)
        self._pose: PoseStamped | None = None
        self._pose_lock = threading.Lock()
        self.executions = 0
        self.last_held: bool | None = None
        self.last_status = ""

        rel = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self._exec_group = MutuallyExclusiveCallbackGroup()    # one execution at a time
        self._io_group = ReentrantCallbackGroup()              # poses keep arriving meanwhile
        self.create_subscription(PoseStamped, p["wrist_pose_topic"], self._on_pose, rel, callback_group=self._io_group)
        self.create_subscription(JointTrajectory, p["trajectory_topic"], self._on_trajectory, rel,
                                 callback_group=self._exec_group)
        self.pub_js = self.create_publisher(JointState, p["joint_states_topic"], rel)
        self.pub_wrench = self.create_publisher(WrenchStamped, p["wrench_topic"], rel) if p["wrench_topic"] else None
        g = float(np.linalg.norm(self.model.opt.gravity))
        #: N, the lift servo's effort that holds the hand alone (the sensor's zero)
        self.hand_weight = float(self.model.body_subtreemass[self.model.body("hand_lift").id]) * g
        self.pub_held = self.create_publisher(Bool, p["held_topic"], rel)
        self.pub_status = self.create_publisher(String, p["status_topic"], rel)
        self.get_logger().info(f"sim_hand: {self.hand.name} + {p['object']} on the table at {p['object_xy']} "
                               f"(frame {p['frame_id']!r}); waiting for {p['trajectory_topic']!r}")

    # ------------------------------------------------------------------------------------------
    def _on_pose(self, msg: PoseStamped) -> None:
        with self._pose_lock:
            self._pose = msg

    def _pose_for(self, stamp) -> PoseStamped | None:
        end = time.monotonic() + self.p["pose_wait"]
        while True:
            with self._pose_lock:
                pose = self._pose
            if pose is not None and pose.header.stamp == stamp:
                return pose
            if time.monotonic() > end:
                if pose is not None:
                    self.get_logger().warning("no wrist pose with the trajectory's stamp; using the latest one")
                return pose
            time.sleep(0.01)

    def _finish(self, held: bool, status: str) -> None:
        self.last_held, self.last_status = held, status
        self.executions += 1
        if held:   # two call sites: rclpy refuses one log call site with two severities
            self.get_logger().info(status)
        else:
            self.get_logger().warning(status)
        self.pub_held.publish(Bool(data=bool(held)))
        self.pub_status.publish(String(data=status))

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        try:
            traj = self._reorder(cv.trajectory_from_msg(msg))
        except ValueError as e:
            return self._finish(False, f"rejected trajectory: {e}")
        pose = self._pose_for(msg.header.stamp)
        if pose is None:
            return self._finish(False, f"no wrist pose received on {self.p['wrist_pose_topic']!r}; "
                                       "cannot place the hand")
        if pose.header.frame_id.lstrip("/") != self.p["frame_id"].lstrip("/"):
            return self._finish(False, f"wrist pose in frame {pose.header.frame_id!r}, expected {self.p['frame_id']!r}")
        try:
            self._finish(*self.execute(traj, *cv.pose_to_arrays(pose.pose)))
        except Exception as e:  # keep serving
            self._finish(False, f"simulation failed: {type(e).__name__}: {e}")

    def _reorder(self, traj: GraspTrajectory) -> GraspTrajectory:
        names = self.hand.joint_names
        if traj.joint_names == names:
            return traj
        if sorted(traj.joint_names) != sorted(names):
            raise ValueError(f"joint names {traj.joint_names} do not match hand {self.hand.name!r}: {names}")
        idx = [traj.joint_names.index(n) for n in names]
        return GraspTrajectory(list(names), traj.times, traj.positions[:, idx], traj.labels)

    def execute(self, traj: GraspTrajectory, wrist_pos, wrist_quat) -> tuple[bool, str]:
        """Run the trajectory then the lift; returns (held, status). Blocking (paced by
        ``real_time_factor``). wrist pose in the world/planning frame, quat (w, x, y, z)."""
        s, m, d, p = self.scene, self.model, self.data, self.p
        T_obj_wrist = np.linalg.inv(self.T_world_obj) @ pos_quat_to_matrix(wrist_pos, wrist_quat)
        wp, wq = matrix_to_pos_quat(T_obj_wrist)
        mujoco.mj_resetData(m, d)
        set_hand(s, d, wp, wq, traj.positions[0])
        mujoco.mj_forward(m, d)
        dt = m.opt.timestep
        js_every = max(1, int(round(1.0 / (p["joint_state_rate_hz"] * dt))))
        rtf = p["real_time_factor"]
        wall0 = time.monotonic()
        self._stamp0 = self.get_clock().now()   # joint states: stamped start + simulated time
        n_traj = int(np.ceil(traj.duration / dt))
        n_lift = int(np.ceil(p["lift_time"] / dt)) if p["lift_height"] > 0 else 0
        n_hold = int(np.ceil(p["hold_time"] / dt))
        z0 = None
        for k in range(n_traj + n_lift + n_hold):
            t = (k + 1) * dt
            if k < n_traj:
                q = traj.sample(t)
                d.ctrl[s.hand_act] = np.clip(q, s.ctrl_lo, s.ctrl_hi)
            else:
                if z0 is None:
                    mujoco.mj_kinematics(m, d)
                    z0 = float(d.xpos[s.obj_body][2])
                if k < n_traj + n_lift:
                    d.ctrl[s.lift_act] = p["lift_height"] * (k - n_traj + 1) / n_lift
            mujoco.mj_step(m, d)
            if k % js_every == 0:
                self._publish_js(d)
            if rtf > 0:
                lag = t / rtf - (time.monotonic() - wall0)
                if lag > 0.002:
                    time.sleep(lag)
            if not self.context.ok():
                return False, "shutdown during execution"
        self._publish_js(d)
        mujoco.mj_kinematics(m, d)
        if z0 is None:
            z0 = float(d.xpos[s.obj_body][2])
        rise = float(d.xpos[s.obj_body][2]) - z0
        n = d.ncon
        g1, g2 = d.contact.geom1[:n].astype(int), d.contact.geom2[:n].astype(int)
        touching = bool(np.any((s.is_hand_geom[g1] & s.is_obj_geom[g2]) | (s.is_hand_geom[g2] & s.is_obj_geom[g1])))
        lift = float(d.qpos[s.lift_qpos])
        held = p["lift_height"] > 0 and rise >= p["held_min_rise"] * p["lift_height"] and touching
        status = (f"{'held' if held else 'not held'}: object rose {rise * 100:.1f} cm while the hand rose "
                  f"{lift * 100:.1f} cm; hand-object contact: {touching}")
        return held, status

    def _publish_js(self, d) -> None:
        s = self.scene
        stamp = (self._stamp0 + Duration(nanoseconds=int(round(d.time * 1e9)))).to_msg()
        msg = JointState(header=Header(stamp=stamp, frame_id=""),
                         name=list(self.hand.joint_names), position=[float(v) for v in d.qpos[s.hand_qpos]],
                         velocity=[float(v) for v in d.qvel[s.hand_dof]])
        self.pub_js.publish(msg)
        if self.pub_wrench is not None:
            w = WrenchStamped(header=Header(stamp=stamp, frame_id=self.p["frame_id"]))
            w.wrench.force.z = -(float(d.qfrc_actuator[s.lift_dof]) - self.hand_weight)
            self.pub_wrench.publish(w)


def main(args=None) -> int:
    """Console script ``sim_hand`` (accepts ``--ros-args --params-file config/sim_hand.yaml``)."""
    return spin_node(SimHandNode, NODE_NAME, 3, args, (ConfigError, FileNotFoundError))


if __name__ == "__main__":
    sys.exit(main())
