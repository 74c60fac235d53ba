"""Helpers of the viewer tests: a small scene to plan on, and a hand-made saved plan."""
import numpy as np

from dex1b_ros.planner.types import PlannedGrasp
from dex1b_ros.viz.plan_file import SavedPlan

#: small budgets (as test/planner/test_pipeline.py's SMALL)
SMALL = {"sampling": {"num_samples": 32}, "refinement": {"synth_steps": 60}, "validation": {"num_validate": 4},
         "ranking": {"top_k": 3}}


def box_on_table(seed: int = 0):
    """A raw cloud in the planning frame (m): an 8 cm box standing on a table (z = 0) at x = 0.4,
    the table around it; normals included (as test/planner/test_pipeline.py's _scene)."""
    from dex1b_ros.geometry.pointcloud import sample_surface
    from dex1b_ros.objects import make_object

    rng = np.random.default_rng(seed)
    p, n = sample_surface(make_object("box", 0, size=0.08).mesh, 1500, seed=seed)
    p = p - [0.0, 0.0, p[:, 2].min()] + [0.4, 0.0, 0.0]
    t = np.c_[rng.uniform(0.25, 0.55, 1500), rng.uniform(-0.15, 0.15, 1500), np.zeros(1500)]
    return np.vstack([p, t]), np.vstack([n, np.tile([0.0, 0.0, 1.0], (1500, 1))])


def fake_plan(k: int = 3, joints: list[str] | None = None) -> SavedPlan:
    """A SavedPlan of ``k`` made-up grasps (no planner): for file-format tests."""
    joints = joints or [f"j{i}" for i in range(4)]
    rng = np.random.default_rng(0)
    gs = [PlannedGrasp(wrist_pos=rng.normal(size=3), wrist_quat=np.array([1.0, 0, 0, 0]),
                       pregrasp=rng.normal(size=len(joints)), grasp=rng.normal(size=len(joints)),
                       squeeze=rng.normal(size=len(joints)), score=3.0 - i, energy=0.1 * i, num_contacts=i,
                       validated=i < 2, sim_success=i == 0, grasp_type=f"type{i}", source="optimizer",
                       evaluator_prob=0.9 if i == 0 else None) for i in range(k)]
    return SavedPlan(hand="leap", joint_names=joints, grasps=gs, points=rng.normal(size=(50, 3)),
                     scene_points=rng.normal(size=(80, 3)), hull_vertices=np.eye(3),
                     hull_faces=np.array([[0, 1, 2]]), support_plane=np.array([0.0, 0.0, 1.0, 0.0]), chosen=1,
                     message="3 grasps", frame_id="world", source="test", timings={"total": 1.5})
