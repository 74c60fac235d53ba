"""grasp_executive in-process over real rclpy: the real grasp_planner node (fake planner returning
a grasp that sim_hand holds), the real sim_hand (MuJoCo) and the executive; the first attempt is
perturbed 30 cm up so it misses, the monitor must see the miss from the joint states and the
second attempt must hold (agreeing with sim_hand's object_held)."""
import json
import time
from pathlib import Path

import numpy as np
import pytest
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_fakes import FakePlanner, box_cloud, future_result, wait_for
from std_msgs.msg import String

from dex1b_msgs.srv import PlanGrasps as PlanGraspsSrv
from dex1b_ros.config_utils import ConfigError
from dex1b_ros.planner.types import PlannedGrasp
from dex1b_ros.ros import conversions as cv
from dex1b_ros.ros.grasp_executive_node import GraspExecutiveNode
from dex1b_ros.ros.grasp_planner_node import GraspPlannerNode
from dex1b_ros.ros.sim_hand_node import SimHandNode

pytestmark = [pytest.mark.ros]
HELD = json.loads((Path(__file__).parent / "data_held_grasp.json").read_text())


class HeldGraspPlanner(FakePlanner):
    """Every plan returns the recorded grasp that sim_hand holds (twice: candidates 1 and 2)."""

    def grasp(self, i, centroid):
        return PlannedGrasp(wrist_pos=np.array(HELD["wrist_pos"]), wrist_quat=np.array(HELD["wrist_quat_wxyz"]),
                            pregrasp=np.array(HELD["pregrasp"]), grasp=np.array(HELD["grasp"]),
                            squeeze=np.array(HELD["squeeze"]), score=1.0 - 0.1 * i, energy=0.0,
                            contact_distance_mm=1.0, penetration_mm=0.0, self_penetration_mm=0.0, num_contacts=4,
                            validated=True, sim_success=True, grasp_type="recorded", source="HeldGraspPlanner")


def test_executive_config_errors_name_the_parameter(ros_ctx):
    with pytest.raises(ConfigError, match="monitor.miss_threshold"):
        GraspExecutiveNode(context=ros_ctx, parameter_overrides=[Parameter("monitor.miss_threshold", value=-1.0)])
    with pytest.raises(ConfigError, match="perturb_first"):
        GraspExecutiveNode(context=ros_ctx, parameter_overrides=[Parameter("perturb_first", value=[0.1])])


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_first_attempt_perturbed_misses_then_the_next_candidate_holds(graph, ros_ctx):
    graph.add(GraspPlannerNode(HeldGraspPlanner("leap"), context=ros_ctx))
    graph.add(SimHandNode(context=ros_ctx, parameter_overrides=[Parameter("real_time_factor", value=0.0)]))
    ex = graph.add(GraspExecutiveNode(context=ros_ctx, parameter_overrides=[
        Parameter("perturb_first", value=[0.0, 0.0, 0.3]), Parameter("frame_wait", value=0.0),
        Parameter("num_grasps", value=2)]))
    probe = graph.add(Node("probe_exec", context=ros_ctx))
    status = []
    probe.create_subscription(String, "grasp_executive_status", lambda m: status.append(m.data),
                              QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
    cli = probe.create_client(PlanGraspsSrv, "grasp_and_verify")
    wait_for(lambda: cli.service_is_ready() and ex.client.server_is_ready(), 20, what="executive + planner")
    req = PlanGraspsSrv.Request(cloud=cv.xyz_to_pointcloud2(box_cloud(), frame_id="world"), num_grasps=2)
    res = future_result(cli.call_async(req), 200, what="grasp_and_verify")
    assert res.success, res.message
    wait_for(lambda: any("result: HELD" in s for s in status), 10, what="the result status")
    attempts = [s for s in status if "attempt" in s and "result" not in s]
    assert len(attempts) == 2, status
    assert "MISSED" in attempts[0] and "object_held=False (agrees)" in attempts[0], attempts[0]
    assert "candidate 2/2" in attempts[1] and "HELD" in attempts[1] and "object_held=True (agrees)" in attempts[1]
    assert "the wrist carries +0.9" in attempts[1], attempts[1]      # sim_hand's wrench: the 0.1 kg bottle, 0.98 N
    assert res.wrist_pose.pose.position.z == pytest.approx(HELD["wrist_pos"][2])   # the unperturbed one


@pytest.mark.timeout(120)
def test_a_starting_system_spends_no_attempt_and_no_candidate(graph, ros_ctx):
    """The planner has no camera frame yet: the executive asks again (cloud_wait) instead of spending
    attempt 1; then the first EXECUTION runs candidate 1 (not candidate 2). A driver that subscribes
    but never reports joint states gives "unknown" (execution_timeout) and the next candidate."""
    from geometry_msgs.msg import PoseStamped
    from sensor_msgs.msg import JointState, PointCloud2
    from trajectory_msgs.msg import JointTrajectory

    graph.add(GraspPlannerNode(FakePlanner("leap"), context=ros_ctx,
                               parameter_overrides=[Parameter("cloud_reliable", value=True)]))
    ex = graph.add(GraspExecutiveNode(context=ros_ctx, parameter_overrides=[
        Parameter("frame_wait", value=0.2), Parameter("cloud_wait", value=20.0), Parameter("num_grasps", value=2),
        Parameter("max_attempts", value=2), Parameter("execution_timeout", value=0.5),
        Parameter("ground_truth_wait", value=0.0), Parameter("held_topic", value="")]))
    probe = graph.add(Node("probe_start", context=ros_ctx))
    rel = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    status = []
    probe.create_subscription(String, "grasp_executive_status", lambda m: status.append(m.data), rel)
    probe.create_subscription(JointTrajectory, "grasp_trajectory", lambda m: None, rel)   # a mute "driver"
    probe.create_subscription(PoseStamped, "grasp_wrist_pose", lambda m: None, rel)
    probe.create_publisher(JointState, "joint_states", rel)
    cam = probe.create_publisher(PointCloud2, "object_cloud", rel)
    cli = probe.create_client(PlanGraspsSrv, "grasp_and_verify")
    wait_for(lambda: cli.service_is_ready() and ex.client.server_is_ready(), 20, what="executive + planner")
    fut = cli.call_async(PlanGraspsSrv.Request())      # empty cloud: the planner's latest, none yet
    time.sleep(1.0)                                    # the executive is asking again meanwhile
    cam.publish(cv.xyz_to_pointcloud2(box_cloud(), frame_id="world"))
    res = future_result(fut, 60, what="grasp_and_verify")
    assert not res.success
    attempts = res.message.split(" | ")
    assert len(attempts) == 2, res.message
    assert attempts[0].startswith("attempt 1: candidate 1/2") and "UNKNOWN" in attempts[0], attempts[0]
    assert attempts[1].startswith("attempt 2: candidate 2/2"), attempts[1]


@pytest.mark.timeout(60)
def test_no_hand_driver_is_said_and_costs_no_candidate(graph, ros_ctx):
    graph.add(GraspPlannerNode(FakePlanner("leap"), context=ros_ctx))
    ex = graph.add(GraspExecutiveNode(context=ros_ctx, parameter_overrides=[
        Parameter("frame_wait", value=0.0), Parameter("driver_wait", value=0.3), Parameter("max_attempts", value=1),
        Parameter("held_topic", value="")]))
    probe = graph.add(Node("probe_nodriver", context=ros_ctx))
    cli = probe.create_client(PlanGraspsSrv, "grasp_and_verify")
    wait_for(lambda: cli.service_is_ready() and ex.client.server_is_ready(), 20, what="executive + planner")
    req = PlanGraspsSrv.Request(cloud=cv.xyz_to_pointcloud2(box_cloud(), frame_id="world"))
    res = future_result(cli.call_async(req), 30, what="grasp_and_verify")
    assert not res.success and "attempt 1: no hand driver after 0.3 s" in res.message, res.message
    assert "'joint_states'" in res.message, res.message
