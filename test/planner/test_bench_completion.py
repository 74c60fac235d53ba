"""`dex1b bench completion` end to end on one object and one view (the planner's own perception)."""
import json

import pytest

from dex1b_ros.planner.bench_completion import main


def test_completion_bench_one_view(capsys, tmp_path):
    out = tmp_path / "c.json"
    assert main(["--objects", "proc:cylinder:81", "--views", "1", "--methods", "mirror", "revolve",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    rows = {l.split()[0]: l.split() for l in text.splitlines() if l and not l.startswith("#")}
    assert {"seen", "mirror", "revolve", "true"} <= set(rows)
    data = json.loads(out.read_text())["rows"]
    by = {r["method"]: r for r in data}
    assert by["true hull"]["iou"] > 0.95                    # the stick: a convex can is its own hull
    assert by["revolve"]["iou"] > by["mirror"]["iou"]       # a can seen from the side: turning beats mirroring
    assert 0 < by["revolve"]["chamfer_mm"] < by["seen hull"]["chamfer_mm"]


def test_completion_bench_refuses_an_unknown_method(capsys):
    with pytest.raises(SystemExit):
        main(["--objects", "proc:cylinder:81", "--methods", "nerf"])
    assert "nerf" in capsys.readouterr().err


def test_completion_bench_columns_rows(capsys, tmp_path):
    """--columns: the check's guess with prepare.check_shape columns; an L-shaped part seen from above is
    guessed far better by its columns than by any convex hull (the true hull included)."""
    out = tmp_path / "c.json"
    assert main(["--objects", "proc:lshape:61", "--views", "1", "--methods", "revolve", "--columns",
                 "--json", str(out)]) == 0
    by = {r["method"]: r for r in json.loads(out.read_text())["rows"]}
    assert set(by) == {"seen hull", "revolve", "revolve columns", "true hull"}
    assert by["revolve columns"]["iou"] > by["true hull"]["iou"] > by["revolve"]["iou"]
    assert "revolve columns" in capsys.readouterr().out
