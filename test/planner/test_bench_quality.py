"""`dex1b bench plan-quality` end to end on one object and one view (real planner, real MuJoCo)."""
import numpy as np
import pytest

from dex1b_ros.planner.bench_quality import choose_verdict_threshold, main


def test_verdict_threshold_is_the_lowest_with_the_precision():
    prob = np.array([0.5, 0.6, 0.7, 0.8, 0.9, 0.95, np.nan, 0.99])
    passed = np.array([1, 1, 1, 1, 1, 1, 0, 0], bool)
    lifted = np.array([0, 1, 0, 1, 1, 1, 0, 1], bool)
    # passed & p >= 0.6: 4/5 lifted; >= 0.7: 3/4; >= 0.8: 3/3
    assert choose_verdict_threshold(prob, passed, lifted, 0.9, 1) == (0.8, 3, 3, True)
    assert choose_verdict_threshold(prob, passed, lifted, 0.75, 1) == (0.6, 4, 5, True)
    # too few plans above 0.8 for 0.9: the highest precision over >= 4 plans, flagged
    assert choose_verdict_threshold(prob, passed, lifted, 0.9, 4) == (0.6, 4, 5, False)
    assert choose_verdict_threshold(prob, np.zeros(8, bool), lifted, 0.5, 1) is None


def test_calibrate_only_on_val(capsys):
    with pytest.raises(SystemExit):
        main(["--hands", "leap", "--calibrate", "0.9"])      # default: the held-out set
    assert "validation objects" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--hands", "leap", "--objects", "ycb:002_master_chef_can", "--calibrate", "0.9"])
    assert "ycb:002_master_chef_can" in capsys.readouterr().err


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
