"""sim_camera and sim_hand in-process over real rclpy (hardware stand-ins)."""

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from ros_fakes import wait_for
from sensor_msgs.msg import JointState, PointCloud2
from std_msgs.msg import Bool, String
from trajectory_msgs.msg import JointTrajectory

from dex1b_ros.hands import load_hand_config
from dex1b_ros.perception import preprocess_cloud
from dex1b_ros.planner.trajectory import GraspTrajectory, TrajectoryTiming
from dex1b_ros.ros import conversions as cv
from dex1b_ros.ros.frames import parse_static_transforms
from dex1b_ros.ros.sim_camera_node import SimCameraNode
from dex1b_ros.ros.sim_hand_node import SimHandNode
from dex1b_ros.ros.sim_world import matrix_to_pos_quat

pytestmark = [pytest.mark.ros, pytest.mark.timeout(60)]
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def test_sim_camera_one_shot_cloud_is_the_object_on_a_table(graph, ros_ctx):
    cam = graph.add(SimCameraNode(context=ros_ctx, parameter_overrides=[
        Parameter("rate_hz", value=0.0), Parameter("n_points", value=4000), Parameter("object_xy", value=[0.4, 0.1])]))
    probe = graph.add(_node(ros_ctx, "probe_cam"))
    got = []
    qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    probe.create_subscription(PointCloud2, "object_cloud", got.append, qos)
    wait_for(lambda: got, 15, what="a cloud from sim_camera")
    c = cv.pointcloud2_to_xyz(got[0])
    assert c.points.shape == (4000, 3) and c.normals is not None and c.frame_id == "world"
    assert abs(np.median(c.points[:, 2])) < 0.002               # most points: the table top, z = 0
    r = preprocess_cloud(c.points, c.normals)
    assert np.allclose(r.center[:2], [0.4, 0.1], atol=0.03)     # the mustard bottle, where it was placed
    assert 0.15 < r.extent[2] < 0.2
    assert cam.frames_published == 1


def test_sim_camera_camera_frame_matches_its_static_transform(ros_ctx):
    world = SimCameraNode(context=ros_ctx, node_name="cam_w")
    optical = SimCameraNode(context=ros_ctx, node_name="cam_o",
                            parameter_overrides=[Parameter("camera_frame", value="cam_optical")])
    pw, _ = world.render(3)
    po, _ = optical.render(3)
    pos, q = matrix_to_pos_quat(optical.T_world_cam)
    T = parse_static_transforms([f"cam_optical {pos[0]} {pos[1]} {pos[2]} {q[1]} {q[2]} {q[3]} {q[0]}"],
                                "world")["cam_optical"]
    np.testing.assert_allclose(po @ T[:3, :3].T + T[:3, 3], pw, atol=1e-9)
    assert po[:, 2].min() > 0.2                                 # optical z = depth in front of the camera
    world.destroy_node()
    optical.destroy_node()


def test_sim_hand_executes_trajectory_and_reports(graph, ros_ctx):
    cfg = load_hand_config("leap")
    hand = graph.add(SimHandNode(context=ros_ctx, parameter_overrides=[
        Parameter("real_time_factor", value=0.0), Parameter("lift_time", value=0.3),
        Parameter("hold_time", value=0.1), Parameter("pose_wait", value=5.0)]))
    probe = graph.add(_node(ros_ctx, "probe_hand"))
    got = {"js": [], "held": [], "status": []}
    probe.create_subscription(JointState, "joint_states", got["js"].append, RELIABLE)
    probe.create_subscription(Bool, "object_held", got["held"].append, RELIABLE)
    probe.create_subscription(String, "sim_hand_status", got["status"].append, RELIABLE)
    pub_pose = probe.create_publisher(PoseStamped, "grasp_wrist_pose", RELIABLE)
    pub_traj = probe.create_publisher(JointTrajectory, "grasp_trajectory", RELIABLE)
    wait_for(lambda: pub_traj.get_subscription_count() and pub_pose.get_subscription_count(), 10,
             what="sim_hand subscriptions")
    # the hand 30 cm above the object, fingers closing in free air: follows the trajectory, holds nothing
    q_end = np.asarray(cfg.open_pose) + 0.4
    traj = GraspTrajectory(cfg.joint_names, TrajectoryTiming(0.1, 0.3, 0.3, 0.1).times,
                           np.stack([cfg.open_pose, cfg.open_pose, q_end, q_end]))
    header = cv.header_msg("world", probe.get_clock().now().to_msg())
    pub_pose.publish(cv.pose_stamped_msg([0.5, 0.0, 0.5], [1, 0, 0, 0], header))
    pub_traj.publish(cv.trajectory_to_msg(traj, header))   # the node waits up to pose_wait for the pose
    # three topics: any may arrive first (joint states can still be in flight after the verdict)
    def reached():   # fingers reached the target (in a joint state received so far)
        return any(np.allclose(j.position, q_end, atol=0.05) for j in got["js"])
    wait_for(lambda: got["held"] and got["status"] and len(got["js"]) > 10 and reached(), 60,
             what="object_held, sim_hand_status and > 10 joint states reaching the target")
    assert got["held"][-1].data is False and "not held" in got["status"][-1].data
    assert list(got["js"][-1].name) == cfg.joint_names
    # a trajectory with the wrong joints is rejected with a message; the node keeps serving
    bad = cv.trajectory_to_msg(traj, header)
    bad.joint_names = [f"j{i}" for i in range(16)]
    pub_traj.publish(bad)
    wait_for(lambda: len(got["status"]) >= 2, 30, what="second status")
    assert "rejected trajectory" in got["status"][-1].data
    assert hand.executions == 2


def _node(ctx, name):
    return Node(name, context=ctx)
