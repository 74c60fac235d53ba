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
    with pytest.raises(ConfigError, match="budjet: unknown field"):
        config_from_args(build_parser().parse_args(["--config", str(y)]))


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


def test_prepare_cloud_mirrors_a_single_view_and_respects_the_table():
    import numpy as np
    import trimesh

    from dex1b_ros.eval.run import make_cloud, prepare_cloud, table_plane
    mesh = trimesh.creation.box((0.06, 0.06, 0.1))
    cfg = EvalConfig(cloud_points=256)
    p, n = make_cloud(mesh, "full", cfg, seed=0)
    q, m, done = prepare_cloud(p, n, cfg)
    assert not done and len(q) == 256                       # a full cloud is left alone
    p, n = make_cloud(mesh, "partial", cfg, seed=0)
    plane = table_plane(mesh)
    np.testing.assert_allclose(plane, [0, 0, 1, 0.05])
    q, m, done = prepare_cloud(p, n, cfg, plane)
    assert done and len(q) > 256
    assert (q[256:, 2] > -0.05).all()                       # no mirrored point below the table
    np.testing.assert_allclose(np.linalg.norm(m, axis=1), 1, atol=1e-6)
