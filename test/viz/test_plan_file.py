"""Saved plans (dex1b_ros/viz/plan_file.py): round trip, what the planner keeps, clear errors,
and the writers (the node's save_plans_dir is tested in test/ros; dex1b eval --save-plans here)."""
import json

import numpy as np
import pytest
from viz_helpers import SMALL, box_on_table, fake_plan

from dex1b_ros.viz.plan_file import FORMAT, PlanFileError, from_result, load_plan, save_plan


def test_round_trip_keeps_every_field(tmp_path):
    plan = fake_plan()
    path = save_plan(plan, tmp_path / "a")          # .npz added
    assert path.name == "a.npz" and not list(tmp_path.glob(".*tmp"))
    back = load_plan(path)
    for k in ("hand", "joint_names", "chosen", "success", "message", "frame_id", "source", "timings"):
        assert getattr(back, k) == getattr(plan, k), k
    for k in ("points", "scene_points", "hull_vertices", "hull_faces", "support_plane"):
        np.testing.assert_allclose(getattr(back, k), getattr(plan, k), atol=1e-6, err_msg=k)
    for a, b in zip(back.grasps, plan.grasps):
        for k in ("wrist_pos", "wrist_quat", "pregrasp", "grasp", "squeeze"):
            np.testing.assert_allclose(getattr(a, k), getattr(b, k))
        for k in ("score", "energy", "num_contacts", "validated", "sim_success", "grasp_type", "source",
                  "evaluator_prob"):
            assert getattr(a, k) == getattr(b, k), k
    with np.load(path, allow_pickle=False) as z:     # plain arrays + JSON, no pickle
        assert json.loads(str(z["meta"]))["format"] == FORMAT


def test_optional_fields_may_be_absent(tmp_path):
    plan = fake_plan()
    for g in plan.grasps:
        g.evaluator_prob = None
    plan.support_plane = None
    path = save_plan(plan, tmp_path / "b.npz")
    with np.load(path) as z:
        assert "evaluator_prob" not in z.files
    back = load_plan(path)
    assert back.support_plane is None and all(g.evaluator_prob is None for g in back.grasps)


def test_errors_name_the_file_and_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz: plan file not found"):
        load_plan(tmp_path / "nope.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(PlanFileError, match="text.npz: not a saved plan"):
        load_plan(tmp_path / "text.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(PlanFileError, match="other.npz: not a saved plan: no 'meta'"):
        load_plan(tmp_path / "other.npz")
    path = save_plan(fake_plan(), tmp_path / "c.npz")
    with np.load(path) as z:
        arrays = dict(z)
    arrays["grasp"] = arrays["grasp"][:, :2]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(PlanFileError, match=r"bad.npz: array 'grasp' has shape \(3, 2\), expected \(3, 4\)"):
        load_plan(tmp_path / "bad.npz")


def test_the_planner_keeps_its_scene_only_when_asked(planned):
    r, pts, path = planned
    sc = r.scene
    assert sc is not None and len(sc.object_points) > 100 and len(sc.hull_faces) > 4
    assert sc.support_plane is not None and abs(sc.support_plane[2]) > 0.99          # the table, z up
    assert sc.object_points[:, 2].min() > 0.0 and sc.hull_faces.max() < len(sc.hull_vertices)
    back = load_plan(path)
    assert back.hand == "leap" and back.joint_names == r.joint_names and back.chosen == 0
    assert len(back.grasps) == len(r.grasps) and back.grasps[0].score == r.grasps[0].score
    assert len(back.scene_points) == np.isfinite(pts).all(1).sum()   # the whole cloud, NaN rows dropped
    assert back.hull_faces.shape == sc.hull_faces.shape and back.support_plane is not None


def test_default_plans_keep_no_scene(planned):
    from dex1b_ros.planner.config import planner_config
    from dex1b_ros.planner.pipeline import GraspPipeline

    pipe = GraspPipeline(config=planner_config({**SMALL, "validation": {"num_validate": 0}}))
    r = pipe.plan(*box_on_table())
    assert r.success and r.scene is None
    bad = pipe.plan(np.zeros((5, 3)), keep_scene=True)     # a failed plan still says what it saw
    assert not bad.success and bad.scene is not None and len(bad.scene.object_points) == 0
    p = from_result(bad, points=np.zeros((5, 3)))
    assert p.chosen == -1 and len(p.scene_points) == 5


@pytest.mark.slow
def test_eval_saves_plans(tmp_path, capsys):
    from dex1b_ros.eval.run import main
    tiny = ["--objects", "proc:box:80", "--inputs", "partial+table", "--budget", "0.5", "--synth-batch", "8",
            "--synth-steps", "20", "--gen-batch", "16", "--refine-steps", "10", "--num-validate", "4",
            "--eval-grasps", "4", "--diversity-grasps", "3", "--threads", "1", "--no-plots"]
    out = tmp_path / "eval"
    assert main(tiny + ["--out", str(out), "--save-plans"]) == 0
    files = sorted((out / "plans").glob("*.npz"))
    assert [f.name for f in files] == ["proc_box_80-partial+table.npz"]
    plan = load_plan(files[0])
    assert plan.source == "dex1b eval" and plan.partial and plan.support_plane is not None
    assert len(plan.points) > 100 and len(plan.hull_faces) > 4 and plan.grasps
