"""Layout, atomic shard/JSON writes, manifest completeness, stale-temp cleanup, the build lock."""
import json

import pytest

from dex1b_ros.config_utils import ConfigError
from dex1b_ros.dataset import empty_records, read_records
from dex1b_ros.dataset import store as ST
from dex1b_ros.dataset.build import _check_build_json

NAMES = tuple(f"j{i}" for i in range(16))


def _records(n=5):
    from test_schema import make_records  # test/dataset is on sys.path (pytest rootdir import mode)
    return make_records(n)


def test_ids_and_layout(tmp_path):
    L = ST.Layout(tmp_path, "leap")
    assert ST.grasp_task_id(1, "ycb:011_banana", 3) == "r1-ycb_011_banana-c003"
    assert L.shard_rel(1, "r1-x-c000") == "grasps/round=1/hand=leap/part-r1-x-c000.parquet"
    assert L.manifest_path(0, "t").relative_to(tmp_path).as_posix() == "manifest/round=0/hand=leap/t.json"


def test_write_shard_atomic_and_unique_temp(tmp_path, monkeypatch):
    final = tmp_path / "grasps" / "part-a.parquet"
    size, digest = ST.write_shard(_records(), final)
    assert final.stat().st_size == size and ST.file_digest(final) == (size, digest)
    assert len(read_records(final)) == 5
    before = final.read_bytes()
    seen = []

    def crash(records, path, **kw):
        seen.append(path)
        path.write_bytes(b"PAR1 partial")
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(ST, "write_records", crash)
    with pytest.raises(KeyboardInterrupt):
        ST.write_shard(_records(9), final)
    assert final.read_bytes() == before                         # old complete file untouched
    assert seen[0].name.startswith(".part-a.parquet.") and seen[0].name.endswith(".part")
    assert not seen[0].exists()
    assert sorted(p.name for p in final.parent.iterdir()) == ["part-a.parquet"]


def test_manifest_done_needs_entry_and_intact_shard(tmp_path):
    L = ST.Layout(tmp_path, "leap")
    M = ST.Manifest(L)
    rel = L.shard_rel(0, "r0-a-c000")
    assert not M.is_done(0, "r0-a-c000")
    size, digest = ST.write_shard(empty_records("leap", NAMES), tmp_path / rel)
    assert not M.is_done(0, "r0-a-c000")                         # orphan shard: not done
    M.write(0, "r0-a-c000", {"task_id": "r0-a-c000", "stage": "seed", "round": 0,
                               "outputs": [{"path": rel, "bytes": size, "sha256": digest}]})
    assert M.is_done(0, "r0-a-c000") and M.is_done(0, "r0-a-c000", verify=True)
    assert [e["task_id"] for e in M.entries()] == ["r0-a-c000"]
    # a shard of the right size but other bytes is caught by verify only
    data = bytearray((tmp_path / rel).read_bytes())
    data[10] ^= 0xFF
    (tmp_path / rel).write_bytes(bytes(data))
    assert M.is_done(0, "r0-a-c000") and not M.is_done(0, "r0-a-c000", verify=True)
    (tmp_path / rel).unlink()
    assert not M.is_done(0, "r0-a-c000")
    # a torn manifest entry (not JSON) counts as not done
    L.manifest_path(0, "r0-b-c000").write_text('{"task_id": ')
    assert not M.is_done(0, "r0-b-c000")


def _done_task(L, M, r, name, n):
    tid = ST.grasp_task_id(r, name, 0)
    rec = _records(n)
    rec.round[:] = r
    rel = L.shard_rel(r, tid)
    size, digest = ST.write_shard(rec, L.root / rel)
    M.write(r, tid, {"task_id": tid, "stage": "generate", "round": r,
                     "outputs": [{"path": rel, "bytes": size, "sha256": digest}]})
    return tid, rec


def test_seal_round_one_file_tasks_stay_done(tmp_path):
    from dex1b_ros.dataset import stats as S
    L = ST.Layout(tmp_path, "leap")
    M = ST.Manifest(L)
    (ta, ra), (tb, rb) = _done_task(L, M, 1, "proc:b", 4), _done_task(L, M, 1, "proc:a", 3)
    assert ST.seal_round(L, M, 1, [ta, tb, "r1-missing-c000"]) == 0     # a task not done: not sealed
    assert M.seal(1) is None
    task_bytes = sum((tmp_path / L.shard_rel(1, t)).stat().st_size for t in (ta, tb))
    assert ST.seal_round(L, M, 1, [ta, tb]) == task_bytes
    assert sorted(p.name for p in (tmp_path / "grasps/round=1/hand=leap").iterdir()) == ["round-1.parquet"]
    back = read_records(tmp_path / L.sealed_rel(1))
    assert len(back) == 7 and list(back.object_id) == list(rb.object_id) + list(ra.object_id)   # task-id order
    assert M.is_done(1, ta) and M.is_done(1, tb, verify=True)
    assert S.shard_paths(L) == [str(tmp_path / L.sealed_rel(1))]
    assert ST.seal_round(L, M, 1, [ta, tb]) == 0                          # idempotent
    # the sealed file corrupted (same size): verify catches it, the plain check does not
    f = tmp_path / L.sealed_rel(1)
    data = bytearray(f.read_bytes())
    data[10] ^= 0xFF
    f.write_bytes(bytes(data))
    M2 = ST.Manifest(L)
    assert M2.is_done(1, ta) and not M2.is_done(1, ta, verify=True)
    f.unlink()
    assert not M2.is_done(1, ta)                                          # nothing holds the rows any more


def test_remove_stale_temps(tmp_path):
    d = tmp_path / "grasps" / "round=0"
    d.mkdir(parents=True)
    (d / ".part-x.parquet.123-ab.part").write_bytes(b"x")
    (d / "..part-x.parquet.123-ab.part.tmp").write_bytes(b"x")
    (tmp_path / "generators").mkdir()
    (tmp_path / "generators" / ".tmp-round=1").mkdir()
    (d / "part-y.parquet").write_bytes(b"keep")
    (tmp_path / ".lock").write_text("")
    gone = ST.remove_stale_temps(tmp_path)
    assert len(gone) == 3
    assert (d / "part-y.parquet").exists() and (tmp_path / ".lock").exists()


def test_build_lock_is_exclusive(tmp_path):
    with ST.BuildLock(tmp_path):
        with pytest.raises(RuntimeError, match="another build"):
            with ST.BuildLock(tmp_path):
                pass
    with ST.BuildLock(tmp_path):                                  # released
        pass


def test_other_config_on_same_folder_refused(tmp_path, micro):
    cfg = micro()
    _check_build_json(cfg, tmp_path)
    _check_build_json(cfg, tmp_path)                             # same config: fine
    assert json.loads((tmp_path / "build.json").read_text())["content_hash"] == cfg.content_hash()
    import dataclasses
    assert dataclasses.replace(cfg, workers=2, engine="ray").content_hash() == cfg.content_hash()
    with pytest.raises(ConfigError, match="another config"):
        _check_build_json(dataclasses.replace(cfg, seed=99), tmp_path)


def test_more_rounds_extend_a_build(tmp_path, micro):
    import dataclasses
    cfg = micro()
    _check_build_json(cfg, tmp_path)
    h0 = cfg.content_hash()
    more = dataclasses.replace(cfg, rounds=cfg.rounds + 2)
    said = []
    _check_build_json(more, tmp_path, log=said.append)
    bj = json.loads((tmp_path / "build.json").read_text())
    assert bj["content_hash"] == more.content_hash() != h0
    assert bj["extended_from"] == [{"content_hash": h0, "rounds": cfg.rounds}]
    assert "extending the build" in said[0]
    _check_build_json(cfg, tmp_path)                             # fewer rounds: a prefix, accepted as is
    assert json.loads((tmp_path / "build.json").read_text())["content_hash"] == more.content_hash()
    with pytest.raises(ConfigError, match="only `rounds` may grow"):   # more rounds AND another seed
        _check_build_json(dataclasses.replace(more, rounds=9, seed=5), tmp_path)
