"""``dex1b eval`` end to end (tiny) and its configuration errors."""
import csv
import json
import math

import pytest

from dex1b_ros.config_utils import ConfigError
from dex1b_ros.eval.run import METHODS, EvalConfig, build_parser, config_from_args, main

TINY = ["--objects", "proc:box:80", "--inputs", "full", "--budget", "0.5", "--synth-batch", "8",
        "--synth-steps", "20", "--gen-batch", "16", "--refine-steps", "10", "--num-validate", "4",
        "--eval-grasps", "4", "--diversity-grasps", "3", "--threads", "1", "--no-plots"]


@pytest.mark.parametrize("field,value,msg", [
    ("budget", 0.0, "budget: must be > 0"),
    ("inputs", ["full", "stereo"], "inputs: choose from"),
    ("diversity_grasps", 50, "diversity_grasps: must be <= eval_grasps"),
    ("eval_grasps", 0, "eval_grasps: must be >= 1"),
    ("max_objects", 0, "max_objects: must be >= 1"),
    ("planner", {"prepare": {"partial_shell": 0.0}}, "planner.prepare.partial_shell: must be > 0"),
    ("planner", {"sampling.num_samples": 0}, "planner.sampling.num_samples: must be >= 1"),
    ("planner", {"samplng": {}}, "planner.samplng: unknown field"),
    ("planner", {"validation.num_validate": 0}, "planner.validation.num_validate: must be >= 1 for row 4"),
])
def test_config_errors_name_the_field(field, value, msg):
    with pytest.raises(ConfigError, match=msg):
        EvalConfig(**{field: value})


def test_cli_overrides_yaml(tmp_path):
    y = tmp_path / "e.yaml"
    y.write_text("hand: leap\nbudget: 5.0\nmax_objects: 3\n")
    cfg = config_from_args(build_parser().parse_args(["--config", str(y), "--budget", "7", "--inputs", "partial"]))
    assert (cfg.budget, cfg.max_objects, cfg.inputs) == (7.0, 3, ["partial"])
    y.write_text("budjet: 5\n")
    with pytest.raises(ConfigError, match="e.yaml: budjet: unknown field"):
        config_from_args(build_parser().parse_args(["--config", str(y)]))


def test_planner_settings_are_the_nodes_unless_overridden(tmp_path):
    """EvalConfig holds no planner defaults of its own: the planner is the node's PlannerConfig
    (config/grasp_planner.yaml), overridden only by a `planner:` section or the CLI."""
    from dex1b_ros.planner.config import load_planner_config, planner_config
    node = load_planner_config()
    assert EvalConfig().planner_config == planner_config({"hand": "leap"}, node)
    assert EvalConfig(hand="allegro").planner_config.hand == "allegro"
    for k in ("gen_batch", "refine_steps", "num_validate", "field_resolution", "partial_shell", "temperature"):
        assert not hasattr(EvalConfig(), k), k
    y = tmp_path / "e.yaml"
    y.write_text("planner:\n  sampling: {num_samples: 128}\n  prepare.field_resolution: 24\n")
    cfg = config_from_args(build_parser().parse_args(["--config", str(y), "--refine-steps", "7",
                                                      "--planner", "sampling.temperature=0.5"]))
    pc = cfg.planner_config
    assert (pc.sampling.num_samples, pc.prepare.field_resolution, pc.refinement.refine_steps,
            pc.sampling.temperature) == (128, 24, 7, 0.5)
    assert pc.validation.num_validate == node.validation.num_validate     # not overridden: the node's


def test_older_configs_with_top_level_planner_keys_still_load_with_a_warning(tmp_path):
    from dex1b_ros.eval.run import LEGACY_PLANNER_KEYS
    warnings = []
    y = tmp_path / "old.yaml"
    y.write_text("hand: leap\ngen_batch: 256\nrefine_steps: 100\nnum_validate: 16\nfield_resolution: 40\n")
    cfg = config_from_args(build_parser().parse_args(["--config", str(y)]), warn=warnings.append)
    pc = cfg.planner_config
    assert (pc.sampling.num_samples, pc.refinement.refine_steps, pc.validation.num_validate) == (256, 100, 16)
    assert len(warnings) == 1 and "sampling.num_samples=256" in warnings[0] and "the node's" in warnings[0]
    y.write_text("gen_batch: 256\nplanner: {sampling.num_samples: 128}\n")
    with pytest.raises(ConfigError, match="gen_batch: given twice"):
        config_from_args(build_parser().parse_args(["--config", str(y)]), warn=warnings.append)
    assert set(LEGACY_PLANNER_KEYS) >= {"gen_batch", "refine_steps", "num_validate"}
    from dex1b_ros import resources
    results = resources.config_dir("eval", "results.yaml", must_exist=False)
    if results.is_file():   # the shipped eval config loads
        config_from_args(build_parser().parse_args(["--config", str(results)]), warn=warnings.append)


def test_unusable_objects_exit_2_with_the_reason(tmp_path, capsys):
    import trimesh
    trimesh.creation.box((0.6, 0.1, 0.1)).export(tmp_path / "plank.stl")
    assert main(["--objects", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "plank.stl: too big for a hand" in err


@pytest.mark.slow
def test_tiny_end_to_end(tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(TINY + ["--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "1 optimization only" in text and "4 3 + validator filter" in text and "aim: full:" in text
    rows = list(csv.DictReader((out / "results.csv").read_text().splitlines()))
    assert [r["method"] for r in rows] == list(METHODS)
    for r in rows:
        assert int(r["evaluated"]) <= min(4, int(r["produced"]))
        assert 0.0 <= float(r["success"]) <= 1.0 or math.isnan(float(r["success"]))
        assert float(r["cpu"]) > 0
    by = {r["method"]: r for r in rows}
    assert int(by["generator"]["produced"]) == int(by["gen+refine"]["produced"])     # same samples
    assert int(by["gen+refine+filter"]["produced"]) <= 4 * int(by["gen+refine"]["produced"]) // 16
    # row 4 is charged at least what row 3 was (its chain includes the filter)
    assert float(by["gen+refine+filter"]["cpu"]) >= float(by["gen+refine"]["cpu"])
    assert float(by["generator"]["cpu"]) < float(by["gen+refine"]["cpu"])
    assert (out / "results.md").read_text().count("|") > 50
    assert json.loads((out / "results.json").read_text())["config"]["budget"] == 0.5
    assert len((out / "per_object.csv").read_text().splitlines()) == 1 + len(METHODS)


@pytest.mark.slow
def test_missing_generator_skips_rows_2_to_4(tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(TINY + ["--model", str(tmp_path / "no_model"), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "rows 2-4 skipped for leap: no generator model" in text
    assert "no generator rows (no model), aims not testable" in text
    assert [r["method"] for r in csv.DictReader((out / "results.csv").read_text().splitlines())] == ["baseline"]


def test_eval_preprocessing_settings_are_the_nodes():
    from dex1b_ros.eval.run import pipeline_config
    from dex1b_ros.planner.config import load_planner_config
    assert pipeline_config(EvalConfig()) == load_planner_config().prepare     # the node's prepare step
    pc = pipeline_config(EvalConfig(planner={"prepare": {"field_resolution": 24, "partial_threshold": 0.4,
                                                          "partial_shell": 0.01}}))
    assert (pc.field_resolution, pc.partial_threshold, pc.partial_shell) == (24, 0.4, 0.01)
    assert not hasattr(EvalConfig(), "complete_partial")


def _box_inputs(cfg, kinds=("full", "partial", "partial+table")):
    import trimesh

    from dex1b_ros.eval.run import make_cloud, table_plane
    mesh = trimesh.creation.box((0.06, 0.06, 0.1))
    return mesh, {k: (*make_cloud(mesh, k, cfg, seed=0), table_plane(mesh) if k.endswith("+table") else None)
                  for k in kinds}


def _sdf_at(field, x):
    import numpy as np
    import torch
    return float(field.sdf(torch.as_tensor(np.asarray([x]), dtype=torch.float32))[0])


def test_node_preparation_of_the_eval_clouds():
    import numpy as np

    from dex1b_ros.eval.run import pipeline_config
    from dex1b_ros.planner.pipeline import prepare_cloud
    cfg = EvalConfig(cloud_points=256, planner={"prepare.field_resolution": 24})
    mesh, clouds = _box_inputs(cfg)
    np.testing.assert_allclose(clouds["partial+table"][2], [0, 0, 1, 0.05])
    full = prepare_cloud(*clouds["full"][:2], pipeline_config(cfg))
    assert not full.partial and len(full.hull_points) == 256    # a full cloud is left alone
    for kind in ("partial", "partial+table"):
        p, n, plane = clouds[kind]
        prep = prepare_cloud(p, n, pipeline_config(cfg), support_plane=plane)
        assert prep.partial and len(prep.points) == 256 and len(prep.hull_points) > 256
        np.testing.assert_array_equal(prep.points, p)          # field and generator: the view as seen
        assert prep.field.name == "completed view"                 # the completed hull's SDF (node default)
        assert _sdf_at(prep.field, mesh.bounds.mean(0)) < -0.01     # solid inside the box
        shell = prepare_cloud(p, n, pipeline_config(EvalConfig(cloud_points=256, planner={"prepare": {
            "field_resolution": 24, "single_view_field": "shell"}})), support_plane=plane)
        assert shell.field.grid.values.min().item() >= -cfg.planner_config.prepare.partial_shell - 1e-6   # shell
        assert (prep.field.plane is not None) == (plane is not None)
        np.testing.assert_allclose(np.linalg.norm(prep.normals, axis=1), 1, atol=1e-6)
        if plane is not None:
            assert (prep.hull_points[256:, 2] > -0.05).all()   # no mirrored point below the table


def test_evaluate_object_gives_every_method_the_nodes_prepared_cloud(monkeypatch):
    import numpy as np
    import trimesh

    import dex1b_ros.eval.methods as methods
    import dex1b_ros.eval.run as run
    from dex1b_ros.planner.pipeline import prepare_cloud
    cfg = EvalConfig(cloud_points=256, planner={"prepare.field_resolution": 24})
    calls = []   # _run_methods patched where evaluate_object looks it up (run re-exports both)
    monkeypatch.setattr(methods, "_run_methods", lambda ctx, cfg, prepared, seed, prep_cpu:
                        calls.append((prepared, prep_cpu)) or {})

    class Obj:
        mesh = trimesh.creation.box((0.06, 0.06, 0.1))

    assert run.evaluate_object("proc:box", Obj(), cfg) == []
    assert len(calls) == 3
    for kind, (prep, prep_cpu) in zip(cfg.inputs, calls):
        p, n = run.make_cloud(Obj.mesh, kind, cfg, run._seed(cfg.seed, "proc:box", kind.split("+")[0]))
        plane = run.table_plane(Obj.mesh) if kind.endswith("+table") else None
        ref = prepare_cloud(p, n, run.pipeline_config(cfg), support_plane=plane)
        assert prep.partial == ref.partial == (kind != "full")
        np.testing.assert_array_equal(prep.points, ref.points)
        np.testing.assert_array_equal(prep.hull_points, ref.hull_points)
        assert prep.field.grid.values.equal(ref.field.grid.values)          # same field as the node's
        assert (prep.field.plane is not None) == (plane is not None)
        assert prep_cpu > 0                                                  # field building is charged


@pytest.mark.slow
def test_run_methods_condition_on_the_view_and_filter_on_the_mirrored_hull(monkeypatch):
    import numpy as np

    import dex1b_ros.optim as optim
    import dex1b_ros.perception.preprocess as pre
    from dex1b_ros.eval.run import _context, _run_methods, pipeline_config
    from dex1b_ros.planner.pipeline import prepare_cloud
    cfg = EvalConfig(cloud_points=256, budget=0.01, synth_batch=4, synth_steps=2,
                     planner={"prepare.field_resolution": 24, "sampling.num_samples": 8,
                              "refinement.refine_steps": 2, "validation.num_validate": 2})
    ctx = _context(cfg)
    if ctx["gen"] is None:
        pytest.skip("no generator model for leap")
    _, clouds = _box_inputs(cfg, ("partial+table",))
    p, n, plane = clouds["partial+table"]
    prep = prepare_cloud(p, n, pipeline_config(cfg), support_plane=plane)
    seen = {"fields": [], "sampled": [], "hull": []}
    real_opt, real_mesh, gen = optim.GraspOptimizer, pre.estimate_object_mesh, ctx["gen"]

    class Gen:
        def sample(self, points, normals, *a, **k):
            seen["sampled"].append(np.array(points))
            return gen.sample(points, normals, *a, **k)

    def opt(hand, field_, *a, **k):
        seen["fields"].append(field_)
        return real_opt(hand, field_, *a, **k)

    def mesh(points, *a, **k):
        seen["hull"].append(np.array(points))
        return real_mesh(points, *a, **k)

    monkeypatch.setattr(optim, "GraspOptimizer", opt)
    monkeypatch.setattr(pre, "estimate_object_mesh", mesh)
    out = _run_methods(dict(ctx, gen=Gen()), cfg, prep, seed=0, prep_cpu=0.0)
    assert set(out) == {"baseline", "generator", "gen+refine", "gen+refine+filter"}
    assert len(seen["fields"]) == 1 and seen["fields"][0] is prep.field   # rows 1, 3, 4: the node's field
    assert len(seen["sampled"]) == out["generator"]["rounds"] >= 1
    for q in seen["sampled"]:
        np.testing.assert_array_equal(q, prep.points)              # conditioned on the unmirrored view
    assert len(seen["hull"]) == 1
    np.testing.assert_array_equal(seen["hull"][0], prep.hull_points)   # row 4 filters on the mirrored hull
