"""`dex1b bench plan-quality` end to end on one object and one view (real planner, real MuJoCo)."""
import numpy as np
import pytest

from dex1b_ros.planner.bench_quality import choose_verdict_threshold, main, precision_lower_bound


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


def test_verdict_threshold_with_a_confidence_margin():
    assert precision_lower_bound(9, 10, 0.0) == 0.9
    assert precision_lower_bound(32, 35, 0.8) == pytest.approx(0.866, abs=1e-3)   # Wilson, one-sided z = 0.84
    assert precision_lower_bound(30, 30, 0.8) > 0.97 and precision_lower_bound(0, 0, 0.8) == 0.0
    assert precision_lower_bound(18, 20, 0.9) < precision_lower_bound(18, 20, 0.8) < 0.9
    # 40 plans passed; the 10 of highest probability all lifted, then 9 of the next 10, then 5 of 20
    prob = np.linspace(0.0, 1.0, 40)
    lifted = np.zeros(40, bool)
    lifted[30:] = True
    lifted[20:29] = True
    lifted[[0, 4, 8, 12, 16]] = True
    passed = np.ones(40, bool)
    t0, k0, m0, ok0 = choose_verdict_threshold(prob, passed, lifted, 0.9, 5)         # observed: 19/21
    assert ok0 and (k0, m0) == (19, 21) and t0 == pytest.approx(prob[19])
    t1, k1, m1, ok1 = choose_verdict_threshold(prob, passed, lifted, 0.9, 5, 0.8)    # with a margin
    assert ok1 and t1 > t0 and k1 == m1 and precision_lower_bound(k1, m1, 0.8) >= 0.9
    # unreachable: the highest bound, flagged
    t2, k2, m2, ok2 = choose_verdict_threshold(prob, passed, lifted, 0.99, 5, 0.8)
    assert not ok2 and k2 == m2 == 10


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
