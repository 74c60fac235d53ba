"""`dex1b collect-plans`: the planner's own candidates labelled on the true object, and training on them."""
from __future__ import annotations

import numpy as np
import pytest

from dex1b_ros.evaluator import collect

OBJ = "proc:book:0"   # a training object of data/leap (small, plans in ~2 s)


@pytest.fixture(scope="module")
def shard(tmp_path_factory):
    out = tmp_path_factory.mktemp("plans")
    assert collect.main(["--objects", OBJ, "--views", "1", "--top-k", "2", "--out", str(out), "--quiet"]) == 0
    return out / collect.shard_name(OBJ)


@pytest.mark.slow
def test_shard_rows_labels_and_metadata(shard):
    import json

    import pyarrow.parquet as pq
    t = pq.read_table(shard)
    assert t.num_rows == 2
    assert t.column("rank").to_pylist() == [0, 1]
    assert set(t.column("object_id").to_pylist()) == {OBJ}
    for k in ("held", "lifted", "accepted", "energy_total", "contact_distance_mm", "penetration_mm"):
        assert k in t.column_names
    cp = t.column("cloud_points").to_pylist()
    assert cp[1] is None and len(cp[0]) == 3 * 256
    meta = json.loads(t.schema.metadata[b"dex1b_collect"])
    assert meta["format"] == collect.COLLECT_VERSION and meta["top_k"] == 2
    assert len(meta["generator_sha256"]) == 64 and meta["planner_overrides"]["validation.num_validate"] == 0
    # resumable: an existing shard is skipped (not rewritten)
    mtime = shard.stat().st_mtime_ns
    assert collect.main(["--objects", OBJ, "--views", "1", "--top-k", "2", "--out", str(shard.parent), "--quiet"]) == 0
    assert shard.stat().st_mtime_ns == mtime


@pytest.mark.slow
def test_rows_are_what_plan_returns_and_the_view_rerenders(shard):
    """Rank 0 is the grasp GraspPipeline.plan returns first with the same settings; the stored cloud is
    reproduced exactly by re-rendering the view from its seed and re-running the planner's steps."""
    import pyarrow.parquet as pq

    from dex1b_ros.objects import load_object
    from dex1b_ros.planner.bench_quality import view_scene
    t = pq.read_table(shard)
    pipe = collect.make_pipeline("leap", 2)
    assert pipe.config.ranking.evaluator == ""    # energy order, whatever the node default
    seed = t.column("view_seed")[0].as_py()
    assert seed == collect.plan_view_seed(OBJ, 0)
    p, n, plane = view_scene(load_object(OBJ).mesh, "leap", seed)
    r = pipe.plan(p, n, support_plane=plane)
    assert r.success
    np.testing.assert_allclose(r.grasps[0].wrist_pos, np.asarray(t.column("trans")[0].as_py()), atol=1e-6)
    np.testing.assert_allclose(r.grasps[1].grasp, np.asarray(t.column("grasp")[1].as_py()), atol=1e-6)
    prep, gs, cand = collect.plan_candidates(pipe, p, n, plane)
    sel = np.random.default_rng(seed).choice(len(prep.points), 256, replace=False)
    stored = np.asarray(t.column("cloud_points")[0].as_py(), np.float32).reshape(-1, 3)
    np.testing.assert_allclose(stored, prep.points[sel].astype(np.float16), atol=0)


def test_refuses_validation_test_and_heldout_objects(capsys):
    from dex1b_ros.objects.splits import load_object_set
    bad = load_object_set("heldout")[0]
    with pytest.raises(SystemExit):
        collect.main(["--objects", f"{OBJ},{bad}", "--views", "1", "--quiet", "--out", "/nonexistent"])
    assert "refused" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.slow
def test_new_views_ranked_by_the_evaluator(tmp_path):
    """--first-view: other camera views than a first collection's (seeds of views 3 ...);
    --set ranking.evaluator=auto: the node's order, the evaluator named in the metadata."""
    import json

    import pyarrow.parquet as pq
    assert collect.main(["--objects", OBJ, "--views", "1", "--first-view", "3", "--top-k", "2", "--out",
                         str(tmp_path), "--quiet", "--set", "ranking.evaluator=auto"]) == 0
    t = pq.read_table(tmp_path / collect.shard_name(OBJ))
    assert set(t.column("view").to_pylist()) == {3}
    assert set(t.column("view_seed").to_pylist()) == {collect.plan_view_seed(OBJ, 3)}
    meta = json.loads(t.schema.metadata[b"dex1b_collect"])
    assert meta["first_view"] == 3 and len(meta["evaluator"]["sha256"]) == 64
    with pytest.raises(SystemExit):
        collect.main(["--objects", OBJ, "--first-view", "-1", "--out", str(tmp_path), "--quiet"])


def test_train_evaluator_reads_several_plan_folders():
    from pathlib import Path

    from dex1b_ros.evaluator.train import build_parser
    a = build_parser().parse_args(["--hand", "leap", "--plans", "data/leap_plans_table", "data/leap_plans_onpolicy"])
    assert a.plans == [Path("data/leap_plans_table"), Path("data/leap_plans_onpolicy")]


def test_training_on_plan_rows(shard, leap, tmp_path):
    from dex1b_ros.evaluator.collect import read_plans
    from dex1b_ros.evaluator.config import EvaluatorConfig
    from dex1b_ros.evaluator.data import make_plan_data
    from dex1b_ros.evaluator.train import train
    plans = read_plans(shard.parent)
    d, plan_id = make_plan_data(plans, "leap", leap.joint_names, [OBJ], 2)
    assert len(d.records) == 2 and d.points.shape == (1, 2, 256, 3) and (plan_id == 0).all()
    assert d.records.success.tolist() == plans.column("held").to_pylist()
    # two objects so that the split has a validation object: the same rows under a second id
    import pyarrow as pa
    other = plans.set_column(0, "object_id", pa.array(["proc:book:1"] * plans.num_rows))
    both = pa.concat_tables([plans, other])
    cfg = EvaluatorConfig(steps=3, batch=4, n_points=64, view_points=256, views_per_object=2, val_fraction=0.5)
    res = train(leap, None, cfg, progress=False, plans=both)
    assert res.val["per_plan"]["plans"] == 1 and res.val["records"] == 2
    assert d.plane.shape == (2, 4) and np.allclose(d.plane, np.stack(plans.column("support_plane").to_pylist()))
    # the plane-reading model trains on the same rows (each with its plan's table plane)
    from dataclasses import replace
    res = train(leap, None, replace(cfg, plane_features=True), progress=False, plans=both)
    assert res.model.plane and res.val["per_plan"]["plans"] == 1


def test_read_plans_checked_joins_each_folders_own_labels(shard, leap, tmp_path):
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    from dex1b_ros.evaluator.config import EvaluatorConfig
    from dex1b_ros.evaluator.data import make_plan_data
    from dex1b_ros.evaluator.train import train
    a, b = tmp_path / "a", tmp_path / "b"      # two folders with the same keys, labelled differently
    for f in (a, b):
        f.mkdir()
        shutil.copy(shard, f / shard.name)
    rows = collect.read_plans(a)
    key = {k: rows.column(k) for k in ("object_id", "view", "rank")}
    with pytest.raises(FileNotFoundError, match="a_check"):
        collect.read_plans_checked([a])
    rank = np.asarray(rows.column("rank").to_pylist())
    for f, passing in ((a, 0), (b, 1)):          # a: rank 0 passed; b: rank 1 passed
        collect.check_folder(f).mkdir()
        pq.write_table(pa.table({**key, "check_passed": pa.array(rank == passing)}),
                       collect.check_folder(f) / "checks-000.parquet")
    t = collect.read_plans_checked([a, b])
    assert t.num_rows == 4
    assert t.column("check_passed").to_pylist() == (rank == 0).tolist() + (rank == 1).tolist()
    d, _ = make_plan_data(t, "leap", leap.joint_names, [OBJ], 2)
    assert d.check.tolist() == t.column("check_passed").to_pylist()
    # training that ranks among checked candidates needs the labels
    cfg = EvaluatorConfig(steps=2, batch=4, n_points=64, view_points=256, views_per_object=2, val_fraction=0.5,
                          rank_weight=1.0, rank_checked=True)
    other = rows.set_column(0, "object_id", pa.array(["proc:book:1"] * rows.num_rows))
    with pytest.raises(ValueError, match="rank_checked"):
        train(leap, None, cfg, progress=False, plans=pa.concat_tables([rows, other]))
    # a row with no label is named
    pq.write_table(pa.table({k: v[:1] for k, v in key.items()} | {"check_passed": pa.array([True])}),
                   collect.check_folder(b) / "checks-000.parquet")
    with pytest.raises(ValueError, match="1 of 2 candidates have no check label"):
        collect.read_plans_checked([a, b])


@pytest.mark.slow
def test_compact_keeps_rows_and_resume(shard, tmp_path):
    import shutil
    shutil.copy(shard, tmp_path / shard.name)
    before = collect.read_plans(tmp_path).to_pylist()
    written = collect.compact(tmp_path, 8)
    assert [p.name for p in written] == ["plans-chunk-000.parquet"] and not (tmp_path / shard.name).exists()
    assert collect.read_plans(tmp_path).to_pylist() == before
    assert collect.done_objects(tmp_path) == {OBJ}
    assert "candidate rows 2" in collect.summary(tmp_path)


@pytest.mark.slow
def test_relabel_of_a_current_shard_reproduces_its_pregrasp_and_labels(shard, tmp_path, capsys):
    """The shard was collected by today's planner (pregrasp opened above the table), so relabelling it
    recomputes the same pregrasp from the stored grasp and plane, and the same verdicts; the old
    labels are kept beside the new ones, and the source is never rewritten."""
    import json
    import shutil

    import pyarrow.parquet as pq
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(shard, src / shard.name)
    mtime = (src / shard.name).stat().st_mtime_ns
    out = tmp_path / "out"
    assert collect.main(["--hand", "leap", "--relabel", str(src), "--out", str(out), "--quiet"]) == 0
    old, new = collect.read_plans(src).to_pylist(), collect.read_plans(out).to_pylist()
    assert len(new) == len(old) == 2 and (src / shard.name).stat().st_mtime_ns == mtime
    for a, b in zip(old, new):
        np.testing.assert_allclose(b["pregrasp"], a["pregrasp"], atol=1e-4)
        assert (b["held"], b["lifted"]) == (a["held"], a["lifted"])
        assert (b["held_v1"], b["lifted_v1"]) == (a["held"], a["lifted"])
        np.testing.assert_array_equal(b["grasp"], a["grasp"])
    meta = json.loads(pq.read_schema(out / shard.name).metadata[b"dex1b_collect"])
    assert meta["relabel"]["source"] == str(src)
    assert meta["object"]["relabel"]["pregrasp_changed"] == 0 and meta["object"]["relabel"]["candidates"] == 2
    assert collect.done_objects(out) == {OBJ}
    with pytest.raises(SystemExit):
        collect.main(["--hand", "leap", "--relabel", str(src), "--out", str(src)])
    assert "another folder" in capsys.readouterr().err
