"""``dex1b view --follow``'s ROS side: GraspArray (+ cloud) -> the viewer's SavedPlan."""
import numpy as np

from dex1b_ros.planner.types import PlannedGrasp, PlanResult
from dex1b_ros.ros import conversions as cv
from dex1b_ros.ros.plan_follower import plan_from_msgs


def test_grasp_array_and_cloud_become_a_plan():
    names = [f"j{i}" for i in range(4)]
    g = PlannedGrasp(wrist_pos=np.array([0.4, 0.0, 0.1]), wrist_quat=np.array([1.0, 0, 0, 0]),
                     pregrasp=np.zeros(4), grasp=np.full(4, 0.5), squeeze=np.full(4, 0.6), score=2.5,
                     validated=True, sim_success=True, grasp_type="thumb+index")
    header = cv.header_msg("world")
    msg = cv.plan_result_to_msg(PlanResult(True, "1 grasp", hand="leap", joint_names=names, grasps=[g]), header)
    pts = np.random.default_rng(0).normal(size=(30, 3))
    plan = plan_from_msgs(msg, cv.xyz_to_pointcloud2(pts, frame_id="world"))
    assert plan.hand == "leap" and plan.joint_names == names and plan.chosen == 0 and plan.frame_id == "world"
    np.testing.assert_allclose(plan.points, pts, atol=1e-6)
    np.testing.assert_allclose(plan.grasps[0].grasp, g.grasp)
    assert plan.grasps[0].sim_success and "1 grasp" in plan.message
    other = plan_from_msgs(msg, cv.xyz_to_pointcloud2(pts, frame_id="camera"))
    assert len(other.points) == 0 and "not drawn" in other.message     # no tf: a cloud in another frame is left out
