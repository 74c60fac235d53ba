"""`dex1b bench plan-quality` end to end on one object and one view (real planner, real MuJoCo)."""
import pytest

from dex1b_ros.planner.bench_quality import main


@pytest.mark.slow
def test_plan_quality_tiny_run(capsys):
    assert main(["--hands", "leap", "--objects", "proc:box:80", "--views", "1", "--num-samples", "16",
                 "--refine-steps", "5", "--num-validate", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    row = [l for l in out if l.startswith("leap")]
    assert len(row) == 1 and row[0].split()[1] == "1"       # one plan, counted
    assert "%" in row[0]


@pytest.mark.slow
def test_plan_quality_overrides_and_object_sets(capsys):
    assert main(["--hands", "leap", "--objects", "val", "--max-objects", "1", "--views", "1", "--num-samples", "16",
                 "--refine-steps", "5", "--num-validate", "2", "--set", "validation.check=lift"]) == 0
    out = capsys.readouterr().out
    assert "1 objects x 1 single views" in out and "# overrides: validation.check=lift" in out
    assert "lift, weight" in out     # the stricter lift (gravity on from the start) is reported too
    with pytest.raises(SystemExit):
        main(["--hands", "leap", "--objects", "proc:box:80", "--set", "validation.check=sideways"])
    assert "check" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--hands", "leap", "--set", "no_equals_sign"])
    assert "KEY=VALUE" in capsys.readouterr().err
