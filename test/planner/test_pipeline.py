"""GraspPipeline end to end on a real cloud (small budgets), cancel and bad input."""
import numpy as np
import pytest

from dex1b_ros.geometry.pointcloud import sample_surface
from dex1b_ros.objects import make_object
from dex1b_ros.planner.pipeline import GraspPipeline, PipelineConfig


@pytest.fixture(scope="module")
def box_cloud():
    return sample_surface(make_object("box", 0, size=0.08).mesh, 1500, seed=0)


@pytest.fixture(scope="module")
def pipe():
    return GraspPipeline("leap", config=PipelineConfig(num_samples=32, synth_steps=60, num_validate=4, top_k=3))


def test_plan_returns_ranked_grasps_with_metrics(pipe, box_cloud):
    stages = []
    r = pipe.plan(box_cloud[0], box_cloud[1], progress=lambda s, f, d: stages.append((s, f)))
    assert "optimizer-only" in r.info or "generator" in r.info  # the mode is always stated
    assert len(r.grasps) == 3 and r.joint_names == pipe.joint_names
    g = r.grasps[0]
    assert g.wrist_pos.shape == (3,) and g.wrist_quat.shape == (4,) and abs(np.linalg.norm(g.wrist_quat) - 1) < 1e-4
    assert g.grasp.shape == (16,) and g.pregrasp.shape == (16,) and g.squeeze.shape == (16,)
    assert [x.score for x in r.grasps] == sorted([x.score for x in r.grasps], reverse=True)
    assert sum(x.validated for x in r.grasps) >= 1
    assert [s for s, _ in stages][0] == "preprocess" and stages[-1][0] == "publish"
    assert all(b >= a for (_, a), (_, b) in zip(stages, stages[1:]))  # progress never goes back
    assert set(r.timings) >= {"field", "refine", "validate", "total"}


def test_cancel_stops_the_plan(pipe, box_cloud):
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 5

    r = pipe.plan(box_cloud[0], box_cloud[1], cancel=cancel)
    assert not r.success and "cancel" in r.message


@pytest.mark.parametrize("points, why", [
    (np.zeros((0, 3)), "too few valid points"),
    (np.full((100, 3), np.nan), "too few valid points"),
    (np.zeros((10, 2)), "points must be (N, 3)"),
])
def test_bad_clouds_fail_with_a_clear_message(pipe, points, why):
    r = pipe.plan(points)
    assert not r.success and why in r.message
