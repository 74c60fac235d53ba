"""Fixtures of the viewer tests: one real saved plan per session (an 8 cm box on a table,
planned with small budgets as in test/planner/test_pipeline.py)."""
import pytest
from viz_helpers import SMALL, box_on_table

from dex1b_ros.viz.plan_file import save_result


@pytest.fixture(scope="session")
def planned(tmp_path_factory):
    """(PlanResult planned with keep_scene=True, the raw cloud, path of its saved plan)."""
    from dex1b_ros.planner.config import planner_config
    from dex1b_ros.planner.pipeline import GraspPipeline

    pts, nrm = box_on_table()
    r = GraspPipeline(config=planner_config(SMALL)).plan(pts, nrm, keep_scene=True)
    assert r.success and r.grasps, r.message
    path = save_result(r, tmp_path_factory.mktemp("plans"), frame_id="world", source="test", stem="box")
    return r, pts, path
