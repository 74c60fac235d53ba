"""The node's ``save_plans_dir``: every plan as a saved-plan file for ``dex1b view``."""
import numpy as np
from rclpy.parameter import Parameter
from ros_fakes import FakePlanner, box_cloud

from dex1b_ros.ros import conversions as cv
from dex1b_ros.ros.grasp_planner_node import GraspPlannerNode
from dex1b_ros.viz.plan_file import load_plan


def test_node_saves_each_plan(ros_ctx, tmp_path):
    node = GraspPlannerNode(FakePlanner("leap"), context=ros_ctx, parameter_overrides=[
        Parameter("output_adapter", value="none"), Parameter("save_plans_dir", value=str(tmp_path / "plans"))])
    try:
        pts = box_cloud()
        out = node.plan(cv.xyz_to_pointcloud2(pts, frame_id="world"), num_grasps=2)
        assert out.success, out.message
        bad = node.plan(cv.xyz_to_pointcloud2(np.zeros((60, 3)), frame_id="world"))   # a failed plan too
        assert not bad.success
    finally:
        node.destroy_node()
    files = sorted((tmp_path / "plans").glob("plan-*.npz"))
    assert len(files) == 2
    plans = sorted((load_plan(f) for f in files), key=lambda p: -len(p.grasps))
    ok = plans[0]
    assert ok.hand == "leap" and len(ok.grasps) == 2 and ok.chosen == 0 and ok.frame_id == "world"
    assert len(ok.scene_points) == len(pts) and ok.source.startswith("node")   # planner without a scene: the cloud
    assert not plans[1].success and plans[1].chosen == -1 and "bad cloud" in plans[1].message
