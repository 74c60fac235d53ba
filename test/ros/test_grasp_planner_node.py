"""The grasp_planner node with injected fake planners, over real rclpy (loopback, own domain).

Covers: cloud topic -> GraspArray + JointTrajectory + PoseStamped + markers + driver command;
service; action with feedback; cancel mid-plan; a slow plan blocks neither the subscription,
the service, the parameter services nor goal handling; the busy policies (reject, queue,
preempt) for the service and the action; the planner's parameters (generated from
PlannerConfig: ranges, read-only, set at run time); bad inputs give failed results while the
node keeps serving; LEAP commands are sim + pi, Allegro commands are sim as Float64MultiArray.
No fixed sleeps: every wait is for a condition, bounded.
"""
import math

import numpy as np
import pytest
from action_msgs.msg import GoalStatus
from geometry_msgs.msg import PoseStamped
from rcl_interfaces.srv import GetParameters
from rclpy.action import ActionClient
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_fakes import (
    FakePlanner,
    GatedFakePlanner,
    RaisingFakePlanner,
    SlowFakePlanner,
    box_cloud,
    future_result,
    wait_for,
)
from sensor_msgs.msg import JointState, PointCloud2, PointField
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import MarkerArray

from dex1b_msgs.action import PlanGrasps as PlanGraspsAction
from dex1b_msgs.msg import GraspArray
from dex1b_msgs.srv import PlanGrasps as PlanGraspsSrv
from dex1b_ros.config_utils import ConfigError
from dex1b_ros.hands import load_hand_config
from dex1b_ros.ros import conversions as cv
from dex1b_ros.ros import grasp_planner_node as gpn
from dex1b_ros.ros.grasp_planner_node import GraspPlannerNode
from dex1b_ros.ros.planner_factory import PlannerUnavailable

pytestmark = [pytest.mark.ros, pytest.mark.timeout(60)]

FAST_TIMING = [Parameter("trajectory.open_time", value=0.05), Parameter("trajectory.pregrasp_duration", value=0.1),
               Parameter("trajectory.grasp_duration", value=0.1), Parameter("trajectory.squeeze_duration", value=0.05),
               Parameter("driver_rate_hz", value=50.0)]
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def make_node(ctx, planner, **params):
    overrides = list(FAST_TIMING) + [Parameter(k, value=v) for k, v in params.items()]
    return GraspPlannerNode(planner, context=ctx, parameter_overrides=overrides)


class Probe(Node):
    """Test-side node: publishes clouds, records every output, holds service/action clients."""

    def __init__(self, ctx, driver_type=JointState, driver_topic="cmd_leap"):
        super().__init__("probe", context=ctx)
        self.got = {k: [] for k in ("grasps", "traj", "pose", "markers", "driver")}
        self.create_subscription(GraspArray, "grasps", lambda m: self.got["grasps"].append(m), RELIABLE)
        self.create_subscription(JointTrajectory, "grasp_trajectory", lambda m: self.got["traj"].append(m), RELIABLE)
        self.create_subscription(PoseStamped, "grasp_wrist_pose", lambda m: self.got["pose"].append(m), RELIABLE)
        self.create_subscription(MarkerArray, "grasp_markers", lambda m: self.got["markers"].append(m), RELIABLE)
        self.create_subscription(driver_type, driver_topic, lambda m: self.got["driver"].append(m), RELIABLE)
        self.cloud_pub = self.create_publisher(PointCloud2, "object_cloud", RELIABLE)
        self.srv = self.create_client(PlanGraspsSrv, "plan_grasps")
        self.act = ActionClient(self, PlanGraspsAction, "plan_grasps_action")
        self.params = self.create_client(GetParameters, "/grasp_planner/get_parameters")

    def call(self, cloud=None, num_grasps=0, execute=False, hand="", timeout=15.0):
        assert self.srv.wait_for_service(timeout_sec=10.0), "plan_grasps service not available"
        req = PlanGraspsSrv.Request(num_grasps=num_grasps, execute=execute, hand=hand)
        if cloud is not None:
            req.cloud = cloud
        return future_result(self.srv.call_async(req), timeout, "service response")

    def wait_subscribers(self, pub, timeout=10.0):
        wait_for(lambda: pub.get_subscription_count() > 0, timeout, what="a subscriber to " + pub.topic_name)


def cloud_msg(points=None, frame="world", **kw):
    pts = box_cloud() if points is None else points
    return cv.xyz_to_pointcloud2(pts, frame_id=frame, **kw)


def test_cloud_topic_produces_all_outputs_and_leap_command_is_sim_plus_pi(graph, ros_ctx):
    fake = FakePlanner("leap")
    node = graph.add(make_node(ros_ctx, fake, plan_on_cloud=True))
    probe = graph.add(Probe(ros_ctx))
    probe.wait_subscribers(probe.cloud_pub)
    pts = box_cloud()
    probe.cloud_pub.publish(cloud_msg(pts))
    wait_for(lambda: all(probe.got[k] for k in ("grasps", "traj", "pose", "markers")), 10, what="all outputs")
    ga = probe.got["grasps"][-1]
    cfg = load_hand_config("leap")
    assert len(ga.grasps) == 5 and ga.header.frame_id == "world"
    g0 = ga.grasps[0]
    assert list(g0.joint_names) == cfg.joint_names and g0.hand == "leap"
    assert [g.score for g in ga.grasps] == sorted([g.score for g in ga.grasps], reverse=True)
    # the planner got the object only (table removed), in the planning frame
    got_pts = fake.calls[0]["points"]
    assert got_pts[:, 2].min() > 0.003 and abs(got_pts[:, 0].mean() - 0.5) < 0.03
    best = fake.grasp(0, got_pts.mean(axis=0))
    traj = probe.got["traj"][-1]
    assert list(traj.joint_names) == cfg.joint_names
    times = [cv.duration_to_sec(p.time_from_start) for p in traj.points]
    assert np.allclose(times, [0.05, 0.15, 0.25, 0.30])
    np.testing.assert_allclose(traj.points[0].positions, cfg.open_pose)
    np.testing.assert_allclose(traj.points[1].positions, best.pregrasp)
    np.testing.assert_allclose(traj.points[2].positions, best.grasp)
    np.testing.assert_allclose(traj.points[3].positions, best.squeeze)
    pose = probe.got["pose"][-1]
    np.testing.assert_allclose([pose.pose.position.x, pose.pose.position.y, pose.pose.position.z], best.wrist_pos,
                               atol=1e-9)
    assert pose.pose.orientation.w == pytest.approx(1.0)
    # markers: a DELETEALL then sphere + axes per grasp + a label
    mk = probe.got["markers"][-1].markers
    assert mk[0].action == mk[0].DELETEALL and len(mk) == 1 + 2 * 5 + 1
    # LEAP driver: JointState on cmd_leap, motor convention = sim + pi, streamed along the trajectory
    # on the node's timer: wait for the stream to reach the squeeze waypoint (a loaded machine delays it)
    wait_for(lambda: len(probe.got["driver"]) >= 2
             and np.allclose(probe.got["driver"][-1].position, best.squeeze + math.pi, atol=1e-9), 15,
             what="LEAP commands reaching the squeeze waypoint")
    cmds = list(probe.got["driver"])
    assert all(list(c.name) == cfg.joint_names for c in cmds)
    np.testing.assert_allclose(cmds[0].position, np.asarray(cfg.open_pose) + math.pi, atol=1e-9)
    np.testing.assert_allclose(cmds[-1].position, best.squeeze + math.pi, atol=1e-9)
    lo = np.minimum.reduce([np.asarray(p.positions) for p in traj.points]) + math.pi
    hi = np.maximum.reduce([np.asarray(p.positions) for p in traj.points]) + math.pi
    assert all(np.all(np.asarray(c.position) >= lo - 1e-9) and np.all(np.asarray(c.position) <= hi + 1e-9)
               for c in cmds)
    assert node.clouds_received == 1 and node.plans_done == 1


def test_service_plans_and_uses_cached_cloud(graph, ros_ctx):
    fake = FakePlanner("leap")
    node = graph.add(make_node(ros_ctx, fake, output_adapter="none"))
    probe = graph.add(Probe(ros_ctx))
    res = probe.call(cloud_msg(), num_grasps=3, execute=False)
    assert res.success, res.message
    assert len(res.grasps.grasps) == 3 and fake.calls[-1]["num_grasps"] == 3
    assert len(res.trajectory.points) == 4 and res.wrist_pose.header.frame_id == "world"
    assert not probe.got["traj"]  # execute=False: nothing sent to the hand
    # empty request cloud, nothing cached yet -> clear failure
    res = probe.call(None)
    assert not res.success and "no cloud has been received" in res.message
    # publish on the topic (plan_on_cloud false: cached only), then an empty request uses it
    probe.wait_subscribers(probe.cloud_pub)
    probe.cloud_pub.publish(cloud_msg(box_cloud(center=(0.3, 0.1, 0.0))))
    wait_for(lambda: node.clouds_received == 1, 5, what="cloud cached")
    res = probe.call(None, execute=True)
    assert res.success, res.message
    assert abs(fake.calls[-1]["points"][:, 0].mean() - 0.3) < 0.03
    wait_for(lambda: probe.got["traj"] and probe.got["pose"], 5, what="executed outputs")
    # a request for another hand is refused with a message
    res = probe.call(cloud_msg(), hand="allegro")
    assert not res.success and "plans for hand 'leap'" in res.message


def test_action_feedback_per_stage_and_result(graph, ros_ctx):
    graph.add(make_node(ros_ctx, FakePlanner("leap", delay=0.3), output_adapter="none"))
    probe = graph.add(Probe(ros_ctx))
    assert probe.act.wait_for_server(timeout_sec=10.0)
    fbs = []
    goal = PlanGraspsAction.Goal(cloud=cloud_msg(), num_grasps=2, execute=True)
    gh = future_result(probe.act.send_goal_async(goal, feedback_callback=lambda f: fbs.append(f.feedback)), 10,
                       "goal response")
    assert gh.accepted
    res = future_result(gh.get_result_async(), 15, "action result")
    assert res.status == GoalStatus.STATUS_SUCCEEDED
    assert res.result.success and len(res.result.grasps.grasps) == 2
    wait_for(lambda: {"publish"} <= {f.stage for f in fbs}, 3, what="final feedback")
    stages = [f.stage for f in fbs]
    for s in ("preprocess", "sample", "refine", "validate", "publish"):
        assert s in stages, stages
    prog = [f.progress for f in fbs]
    assert prog == sorted(prog) and 0.0 <= prog[0] and prog[-1] == pytest.approx(1.0)


def test_cancel_mid_plan_and_slow_plan_blocks_nothing(graph, ros_ctx):
    slow = SlowFakePlanner("leap", delay=40.0)   # longer than every bounded wait below: it must be cancelled
    node = graph.add(make_node(ros_ctx, slow, output_adapter="none"))
    probe = graph.add(Probe(ros_ctx))
    assert probe.act.wait_for_server(timeout_sec=10.0)
    fbs = []
    gh = future_result(probe.act.send_goal_async(PlanGraspsAction.Goal(cloud=cloud_msg()),
                                                 feedback_callback=lambda f: fbs.append(f.feedback)), 10)
    assert gh.accepted
    wait_for(slow.started.is_set, 10, what="the slow plan to start")
    assert node.busy
    # while it runs: the subscription still caches clouds ...
    probe.wait_subscribers(probe.cloud_pub)
    probe.cloud_pub.publish(cloud_msg())
    wait_for(lambda: node.clouds_received == 1, 3, what="cloud cached during a plan")
    # ... the service answers (busy) while the plan still runs ...
    res = probe.call(cloud_msg(), timeout=10.0)
    assert not res.success and "busy" in res.message and node.busy
    # ... the parameter services answer ...
    assert probe.params.wait_for_service(timeout_sec=5.0)
    pr = future_result(probe.params.call_async(GetParameters.Request(names=["hand"])), 3, "get_parameters")
    assert pr.values[0].string_value == "leap"
    # ... a second goal is rejected, not queued
    gh2 = future_result(probe.act.send_goal_async(PlanGraspsAction.Goal(cloud=cloud_msg())), 3)
    assert not gh2.accepted
    # cancel: the plan stops long before its 40 s
    cres = future_result(gh.cancel_goal_async(), 10, "cancel response")
    assert len(cres.goals_canceling) == 1
    res = future_result(gh.get_result_async(), 15, "cancelled result")
    assert res.status == GoalStatus.STATUS_CANCELED and not res.result.success
    assert "cancelled" in res.result.message
    # the node serves again
    slow.delay = 0.0
    res = probe.call(cloud_msg())
    assert res.success, res.message


BAD_CASES = {
    "empty": (lambda: cv.xyz_to_pointcloud2(np.zeros((0, 3)), frame_id="world"), "no cloud has been received"),
    "all_nan": (lambda: cloud_msg(np.full((500, 3), np.nan)), "finite points"),
    "missing_z": (lambda: _xy_only_cloud(), "missing field(s) z"),
    "unknown_frame": (lambda: cloud_msg(frame="kinect_rgb"), "unknown frame 'kinect_rgb'"),
    "too_many_points": (lambda: cloud_msg(np.random.default_rng(0).random((6000, 3))), "hard cap"),
    "too_small": (lambda: cloud_msg(box_cloud(size=(0.01, 0.01, 0.01), table=False)), "too small"),
    "only_table": (lambda: cloud_msg(box_cloud(size=(0.004, 0.004, 0.004))), "is there an object on the table"),
    "too_large": (lambda: cloud_msg(box_cloud(size=(0.1, 0.1, 0.45), n=4000, table=False)), "too large"),
    "bad_sizes": (lambda: _truncated_cloud(), "bytes, expected row_step*height"),
    "int_xyz": (lambda: _int_cloud(), "expected FLOAT32 or FLOAT64"),
}


def _xy_only_cloud():
    m = cloud_msg()
    m.fields = [f for f in m.fields if f.name != "z"]
    return m


def _truncated_cloud():
    m = cloud_msg()
    m.data = m.data[:-5]
    return m


def _int_cloud():
    m = cloud_msg()
    m.fields = [PointField(name=f.name, offset=f.offset, datatype=PointField.INT32, count=1) for f in m.fields]
    return m


def test_bad_inputs_fail_clearly_and_node_keeps_serving(graph, ros_ctx):
    fake = FakePlanner("leap")
    graph.add(make_node(ros_ctx, fake, output_adapter="none", **{"preprocess.max_input_points": 5000,
                                                                  "preprocess.downsample_above": 5000}))
    probe = graph.add(Probe(ros_ctx))
    for name, (make, expect) in BAD_CASES.items():
        res = probe.call(make())
        assert not res.success, name
        assert expect in res.message, (name, res.message)
        assert len(res.grasps.grasps) == 0 and len(res.trajectory.points) == 0
    assert not fake.calls  # every bad input was stopped before the planner
    # some NaN among enough valid points: dropped, and the plan succeeds
    pts = box_cloud()
    pts[::7] = np.nan
    res = probe.call(cloud_msg(pts))
    assert res.success, res.message
    assert np.isfinite(fake.calls[-1]["points"]).all()


def test_planner_exception_is_a_failed_result(graph, ros_ctx):
    graph.add(make_node(ros_ctx, RaisingFakePlanner("leap"), output_adapter="none"))
    probe = graph.add(Probe(ros_ctx))
    for _ in range(2):
        res = probe.call(cloud_msg())
        assert not res.success and "planner error: RuntimeError: fake planner exploded" in res.message
    assert probe.act.wait_for_server(timeout_sec=10.0)
    gh = future_result(probe.act.send_goal_async(PlanGraspsAction.Goal(cloud=cloud_msg())), 5)
    res = future_result(gh.get_result_async(), 10)
    assert res.status == GoalStatus.STATUS_ABORTED and "fake planner exploded" in res.result.message


def test_static_transform_frame_is_applied(graph, ros_ctx):
    fake = FakePlanner("leap")
    # camera frame: 1 m above the planning origin, rotated 180 deg about x (looking down)
    graph.add(make_node(ros_ctx, fake, output_adapter="none", static_transforms=["camera 0 0 1 1 0 0 0"]))
    probe = graph.add(Probe(ros_ctx))
    pts_world = box_cloud()
    pts_cam = (pts_world - [0, 0, 1]) * [1, -1, -1]   # inverse of the pose above
    res = probe.call(cloud_msg(pts_cam, frame="camera"))
    assert res.success, res.message
    got = fake.calls[-1]["points"]
    assert abs(got[:, 0].mean() - 0.5) < 0.03 and got[:, 2].min() > 0.003 and got[:, 2].max() < 0.11
    assert res.wrist_pose.header.frame_id == "world"


def test_allegro_float64_adapter_and_leap_trajectory_adapter(graph, ros_ctx):
    cfg = load_hand_config("allegro")
    fake = FakePlanner("allegro")
    graph.add(make_node(ros_ctx, fake, hand="allegro"))
    probe = graph.add(Probe(ros_ctx, Float64MultiArray, "/allegro_hand_position_controller/commands"))
    res = probe.call(cloud_msg(), execute=True)
    assert res.success, res.message
    squeeze = np.asarray(res.trajectory.points[-1].positions)
    # the stream runs on the node's timer: wait for it to reach the end (no fixed sleep: a loaded
    # machine delays the timer)
    wait_for(lambda: len(probe.got["driver"]) >= 2 and np.allclose(probe.got["driver"][-1].data, squeeze), 15,
             what="allegro commands reaching the squeeze waypoint")
    cmds = probe.got["driver"]
    assert all(len(c.data) == 16 for c in cmds)
    np.testing.assert_allclose(cmds[-1].data, squeeze, atol=1e-12)       # Allegro: no offset
    np.testing.assert_allclose(cmds[0].data, cfg.open_pose, atol=1e-12)


def test_leap_joint_trajectory_adapter_has_driver_convention(graph, ros_ctx):
    graph.add(make_node(ros_ctx, FakePlanner("leap"), output_adapter="joint_trajectory",
                        driver_command_topic="leap_trajectory"))
    probe = graph.add(Probe(ros_ctx, JointTrajectory, "leap_trajectory"))
    res = probe.call(cloud_msg(), execute=True)
    assert res.success, res.message
    wait_for(lambda: probe.got["driver"], 5, what="driver trajectory")
    d = probe.got["driver"][-1]
    for p_sim, p_drv in zip(res.trajectory.points, d.points):
        np.testing.assert_allclose(np.asarray(p_drv.positions), np.asarray(p_sim.positions) + math.pi)
        assert p_drv.time_from_start == p_sim.time_from_start


@pytest.mark.parametrize("name,value,expect", [
    ("sampling.num_samples", 0, "parameter sampling.num_samples: must be >= 1, got 0"),
    ("preprocess.voxel_size", 2.0, "parameter preprocess.voxel_size: must be in [0, 1), got 2.0"),
    ("ranking.top_k", 200, "ranking.top_k: must be <= sampling.num_samples (96)"),
    ("prepare.single_view_field", "mesh", "prepare.single_view_field: expected 'hull', 'shell' or 'carved'"),
    ("busy_policy", "lifo", "busy_policy: expected one of ['reject', 'queue', 'preempt']"),
    ("hand", "shadow", "unknown hand 'shadow'"),
    ("static_transforms", ["camera 0 0 1"], "static_transforms[0]"),
    ("output_adapter", "ros1", "output_adapter: expected one of"),
    ("trajectory.grasp_duration", -1.0, "trajectory.grasp_duration"),
    ("preprocess.crop_max", [0.0, 0.0], "preprocess.crop_max"),
    ("device", "tpu", "device: expected 'cpu' or 'cuda"),
])
def test_invalid_parameters_raise_config_errors_naming_them(ros_ctx, name, value, expect):
    with pytest.raises(ConfigError) as e:
        make_node(ros_ctx, FakePlanner("leap"), **{name: value})
    assert expect in str(e.value)


def test_unavailable_planner_fails_each_request_with_the_reason(graph, ros_ctx, monkeypatch):
    def no_planner(params):
        raise PlannerUnavailable("module dex1b_ros.planner.pipeline does not exist (test)")
    monkeypatch.setattr(gpn, "make_planner", no_planner)
    node = graph.add(make_node(ros_ctx, None, output_adapter="none"))
    probe = graph.add(Probe(ros_ctx))
    res = probe.call(cloud_msg())
    assert not res.success and "planner unavailable" in res.message and "(test)" in res.message
    assert node.context.ok()


# ------------------------------------------------------------------------------------ busy policy
def _call_async(probe, cloud=None):
    assert probe.srv.wait_for_service(timeout_sec=10.0), "plan_grasps service not available"
    req = PlanGraspsSrv.Request()
    if cloud is not None:
        req.cloud = cloud
    return probe.srv.call_async(req)


def test_busy_policy_queue_waits_for_one_and_rejects_the_next(graph, ros_ctx):
    gated = GatedFakePlanner("leap")
    node = graph.add(make_node(ros_ctx, gated, output_adapter="none", busy_policy="queue"))
    probe = graph.add(Probe(ros_ctx))
    first = _call_async(probe, cloud_msg())
    wait_for(lambda: gated.entered == 1, 10, what="the first plan to start")
    second = _call_async(probe, cloud_msg(box_cloud(center=(0.3, 0.1, 0.0))))
    wait_for(lambda: node.waiting == 1, 10, what="the second request to wait")
    third = future_result(_call_async(probe, cloud_msg()), 10, "the third (rejected) request")
    assert not third.success and "busy" in third.message and "already waiting" in third.message
    # an action goal is rejected too while one request waits
    assert probe.act.wait_for_server(timeout_sec=10.0)
    assert not future_result(probe.act.send_goal_async(PlanGraspsAction.Goal(cloud=cloud_msg())), 10).accepted
    assert not second.done() and gated.entered == 1          # still waiting, not running
    gated.release()
    r1 = future_result(first, 10, "first result")
    assert r1.success, r1.message
    wait_for(lambda: gated.entered == 2, 10, what="the queued request to start")
    gated.release()
    r2 = future_result(second, 10, "queued result")
    assert r2.success, r2.message
    assert abs(gated.calls[-1]["points"][:, 0].mean() - 0.3) < 0.03    # the queued request's own cloud
    assert node.plans_done == 2 and node.waiting == 0


def test_busy_policy_queue_action_goal_waits_and_can_be_cancelled_while_waiting(graph, ros_ctx):
    gated = GatedFakePlanner("leap")
    node = graph.add(make_node(ros_ctx, gated, output_adapter="none", busy_policy="queue"))
    probe = graph.add(Probe(ros_ctx))
    first = _call_async(probe, cloud_msg())
    wait_for(lambda: gated.entered == 1, 10, what="the first plan to start")
    assert probe.act.wait_for_server(timeout_sec=10.0)
    gh = future_result(probe.act.send_goal_async(PlanGraspsAction.Goal(cloud=cloud_msg())), 10)
    assert gh.accepted                                         # queued, not rejected
    wait_for(lambda: node.waiting == 1, 10, what="the goal to wait")
    future_result(gh.cancel_goal_async(), 10, "cancel response")
    res = future_result(gh.get_result_async(), 10, "cancelled result")
    assert res.status == GoalStatus.STATUS_CANCELED and "while waiting" in res.result.message
    assert gated.entered == 1                                  # it never reached the planner
    gated.release()
    assert future_result(first, 10).success


def test_busy_policy_preempt_cancels_the_running_plan(graph, ros_ctx):
    gated = GatedFakePlanner("leap")
    node = graph.add(make_node(ros_ctx, gated, output_adapter="none", busy_policy="preempt"))
    probe = graph.add(Probe(ros_ctx))
    assert probe.act.wait_for_server(timeout_sec=10.0)
    gh = future_result(probe.act.send_goal_async(PlanGraspsAction.Goal(cloud=cloud_msg())), 10)
    assert gh.accepted
    wait_for(lambda: gated.entered == 1, 10, what="the first plan to start")
    newer = _call_async(probe, cloud_msg(box_cloud(center=(0.3, 0.1, 0.0))))
    old = future_result(gh.get_result_async(), 10, "the preempted goal's result")
    assert old.status == GoalStatus.STATUS_ABORTED and not old.result.success
    assert old.result.message.startswith("preempted by a newer request"), old.result.message
    assert gated.results[0].message == "cancelled by request"       # the planner itself was asked to stop
    wait_for(lambda: gated.entered == 2, 10, what="the newer request to start")
    gated.release()
    res = future_result(newer, 10, "the newer request's result")
    assert res.success, res.message
    assert abs(gated.calls[-1]["points"][:, 0].mean() - 0.3) < 0.03
    # with preempt, goals are accepted while busy (and preempt in turn)
    second = _call_async(probe, cloud_msg())
    wait_for(lambda: gated.entered == 3, 10, what="a third plan to start")
    third = _call_async(probe, cloud_msg())
    assert not future_result(second, 10).success
    wait_for(lambda: gated.entered == 4, 10, what="the fourth plan to start")
    gated.release()
    assert future_result(third, 10).success
    assert node.waiting == 0 and not node.busy


def test_busy_policy_preempt_skips_a_waiting_request_for_a_newer_one(graph, ros_ctx):
    """Several requests arrive during a plan: only the newest runs; the ones between give way."""
    gated = GatedFakePlanner("leap", ignore_cancel=True)   # a step that cannot stop: runs until released
    node = graph.add(make_node(ros_ctx, gated, output_adapter="none", busy_policy="preempt"))
    probe = graph.add(Probe(ros_ctx))
    first = _call_async(probe, cloud_msg())
    wait_for(lambda: gated.entered == 1, 10, what="the first plan to start")
    middle = _call_async(probe, cloud_msg())
    wait_for(lambda: node.waiting == 1, 10, what="the second request to wait")
    last = _call_async(probe, cloud_msg(box_cloud(center=(0.3, 0.1, 0.0))))
    r_middle = future_result(middle, 10)
    assert not r_middle.success and r_middle.message.startswith("preempted by a newer request before it started")
    gated.release()                                   # the first plan ends (its result is discarded)
    r_first = future_result(first, 10)
    assert not r_first.success and r_first.message.startswith("preempted by a newer request")
    wait_for(lambda: gated.entered == 2, 10, what="the newest request to start")
    gated.release()
    assert future_result(last, 10).success
    assert node.plans_done == 2                       # the middle one never ran


# ------------------------------------------------------------------------------------ planner parameters
def test_planner_parameters_come_from_planner_config_with_ranges_and_read_only(graph, ros_ctx):
    from dex1b_ros.planner.config import PlannerConfig, flat_fields
    fake = FakePlanner("leap")
    node = graph.add(make_node(ros_ctx, fake, output_adapter="none", **{"sampling.num_samples": 64}))
    for f in flat_fields():
        d = node.describe_parameter(f.name)
        assert d.description == f.description and d.read_only == (f.name in PlannerConfig.REBUILD)
        if f.range is not None and f.type is int:
            assert d.integer_range[0].from_value == f.range.closed(True)[0]
        if f.range is not None and f.type is float:
            assert d.floating_point_range[0].from_value == pytest.approx(f.range.closed(False)[0])
    # the node hands its config to the planner
    assert fake.config == node.config and node.config.sampling.num_samples == 64
    # set at run time: applies from the next plan on, validated as a whole
    r = node.set_parameters([Parameter("sampling.num_samples", value=48), Parameter("ranking.top_k", value=2)])
    assert all(x.successful for x in r)
    assert fake.config.sampling.num_samples == 48 and fake.config.ranking.top_k == 2
    probe = graph.add(Probe(ros_ctx))
    res = probe.call(cloud_msg())
    assert res.success and len(res.grasps.grasps) == 2
    bad = node.set_parameters([Parameter("ranking.top_k", value=100)])[0]
    assert not bad.successful and "ranking.top_k: must be <= sampling.num_samples (48)" in bad.reason
    bad = node.set_parameters([Parameter("sampling.num_samples", value=0)])[0]
    assert not bad.successful and "out of range" in bad.reason
    for name, value in (("hand", "allegro"), ("device", "cuda"), ("model_path", "/x.safetensors")):
        bad = node.set_parameters([Parameter(name, value=value)])[0]
        assert not bad.successful and "read-only" in bad.reason
    bad = node.set_parameters([Parameter("cloud_topic", value="other")])[0]
    assert not bad.successful and "read at start-up only" in bad.reason
    assert fake.config.ranking.top_k == 2 and node.p["cloud_topic"] == "object_cloud"


def test_an_old_parameter_name_is_reported_not_silently_ignored(ros_ctx, monkeypatch):
    """ROS ignores overrides of undeclared parameters: the node logs each with its new name."""
    node = GraspPlannerNode(FakePlanner("leap"), context=ros_ctx,
                            parameter_overrides=[Parameter("num_samples", value=64)])
    try:
        assert node.config.sampling.num_samples == 96                 # not applied ...
        seen = []

        class Log:
            def warning(self, msg):
                seen.append(msg)
        monkeypatch.setattr(node, "get_logger", lambda: Log())
        node._warn_undeclared_overrides()                               # ... and said so
        assert len(seen) == 1 and "'num_samples'" in seen[0] and "'sampling.num_samples' now" in seen[0]
    finally:
        node.destroy_node()
