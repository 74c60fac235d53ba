"""End to end: a real build subprocess killed with SIGKILL (twice) and re-run ends with every shard
exactly once, nothing corrupt, and the same records as an uninterrupted build."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import assert_same_shards, shard_files, write_config

from dex1b_ros.dataset import read_records
from dex1b_ros.dataset.build import format_summary, plan_grasp_tasks, run_build
from dex1b_ros.dataset.store import Layout, Manifest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _cmd(cfg_file):
    return [sys.executable, "-m", "dex1b_ros.dataset.build", "--config", str(cfg_file), "--quiet", "--no-report"]


def _run_until(cmd, root: Path, pattern: str, timeout=120.0) -> bool:
    """Start the build, SIGKILL it as soon as ``pattern`` exists under root. True if it was killed."""
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t0 = time.monotonic()
    try:
        while p.poll() is None and time.monotonic() - t0 < timeout:
            if list(root.glob(pattern)):
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
                return True
            time.sleep(0.05)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, p.stderr.read().decode()[-3000:]
    return False


def _assert_no_partial(root: Path):
    for f in shard_files(root):
        read_records(f)                                          # every final-name shard is complete


def test_kill_and_resume(tmp_path, micro):
    cfg = micro("killed", workers=2)
    root = cfg.out
    cmd = _cmd(write_config(cfg, tmp_path / "micro.yaml"))
    killed = []
    for pattern in ("manifest/round=0/hand=leap/r0-*.json", "manifest/round=1/hand=leap/r1-train.json"):
        killed.append(_run_until(cmd, root, pattern))
        _assert_no_partial(root)
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "already done" in r.stdout
    assert any(killed), "the build finished before it could be killed"

    # every planned task is done, its shard exists once, nothing else is there
    L = Layout(Path(root).resolve(), cfg.hand)
    M = Manifest(L)
    entries = M.entries()
    grasp = [e for e in entries if e["stage"] != "train"]
    want = {t.task_id for r_ in (0, 1) for t in plan_grasp_tasks(cfg, L, r_, cfg.objects.resolve(),
                                                                  M.read(1, "r1-train"))}
    assert {e["task_id"] for e in grasp} == want
    assert {e["task_id"] for e in entries if e["stage"] == "train"} == {"r1-train"}
    assert sorted(str(p.relative_to(L.root)) for p in shard_files(L.root)) == \
        sorted(o["path"] for e in grasp for o in e["outputs"])
    assert all(M.is_done(e["round"], e["task_id"], verify=True) for e in entries)
    hidden = [p for p in L.root.rglob(".*") if p.name != ".lock"]
    assert hidden == [], hidden

    # same records as an uninterrupted build of the same config (in this process)
    ref = run_build(micro("reference"), progress=False, report=False, log=lambda *_: None)
    assert_same_shards(L.root, ref.root)
    got = json.loads((L.root / "manifest/round=1/hand=leap/r1-train.json").read_text())
    assert got["weights_sha256"] == ref.train[0]["weights_sha256"]
    # the generator's card names its shards relative to the dataset folder (a clone elsewhere reads them)
    card = yaml.safe_load((L.root / "generators/round=1/hand=leap/model_card.yaml").read_text())
    shards = card["data"]["shards"]
    assert shards and all(not Path(x).is_absolute() and (L.root / x).is_file() for x in shards), shards[:3]
    assert "total kept valid grasps" in format_summary(ref)


def test_rerun_of_finished_build_runs_nothing(tmp_path, micro):
    cfg = micro("again", rounds=1, objects={"ids": ["proc:box:0"]})
    s1 = run_build(cfg, progress=False, report=True, log=lambda *_: None)
    assert s1.tasks_run == s1.tasks_total == 1
    for name in ("summary.json", "rounds.csv", "types.csv", "success_per_round.png", "grasp_types.png",
                 "penetration.png"):
        assert (s1.report / name).is_file(), name
    s2 = run_build(cfg, progress=False, report=False, log=lambda *_: None)
    assert s2.tasks_run == 0 and s2.rounds == s1.rounds
    # the dataset card: counts from the manifest, process CPU recorded by every task
    from dex1b_ros.dataset.card import card_text
    entries = [json.loads(p.read_text()) for p in Path(cfg.out).rglob("manifest/**/*.json")]
    assert entries and all(sum(e["cpu_seconds"].values()) > 0 for e in entries)
    text = card_text(cfg, "micro.yaml")
    valid = sum(e["valid"] for e in entries)
    assert f"Valid grasps (free-space six-direction test) so far: **{valid}**" in text
    assert "1 training objects" in text and "valid per process-CPU-s" in text and "SELECT" in text


def test_keep_generators_last_retires_what_the_build_no_longer_reads(tmp_path, micro):
    cfg = micro("retire", rounds=3, objects={"ids": ["proc:box:0"]}, keep_generators="last")
    logs = []
    s1 = run_build(cfg, progress=False, report=False, log=logs.append)
    L = Layout(Path(cfg.out).resolve(), cfg.hand)
    g1, g2 = L.root / L.generator_rel(1), L.root / L.generator_rel(2)
    assert not (g1 / "dexsimple.safetensors").exists() and (g1 / "model_card.yaml").is_file()
    assert (g2 / "dexsimple.safetensors").is_file()            # the last one stays: a longer build starts from it
    rec = json.loads((g1 / "RETIRED.json").read_text())
    entry = Manifest(L).read(1, "r1-train")
    assert rec["weights_sha256"] == entry["weights_sha256"]
    assert [f["sha256"] for f in rec["files"]] == [o["sha256"] for o in entry["outputs"]
                                                   if o["path"].endswith(".safetensors")]
    assert any("retired the round 1 generator" in m for m in logs)
    # the train task stays done (also with --verify): a re-run trains nothing and rewrites nothing
    assert Manifest(L).is_done(1, "r1-train", verify=True)
    s2 = run_build(cfg, progress=False, verify=True, report=False, log=lambda *_: None)
    assert s2.tasks_run == 0 and s2.rounds == s1.rounds
    # a RETIRED.json that does not name the file (another digest) does not excuse a missing output
    rec["files"][0]["sha256"] = "0" * 64
    (g1 / "RETIRED.json").write_text(json.dumps(rec))
    assert not Manifest(L).is_done(1, "r1-train")


def test_seal_from_round_one_file_per_round_same_records(tmp_path, micro):
    """A sealed round holds the same rows as its task shards did, the build's statistics do not
    change, the tasks stay done (also with --verify), and sealing again only cleans up."""
    from dex1b_ros.dataset import stats as S
    from dex1b_ros.dataset.store import seal_round

    ref = micro("plain", rounds=2)
    run_build(ref, progress=False, report=False, log=lambda *_: None)
    cfg = micro("sealed", rounds=2, seal_from_round=0)
    logs = []
    s1 = run_build(cfg, progress=False, report=False, log=logs.append)
    A, B = Layout(Path(ref.out).resolve(), "leap"), Layout(Path(cfg.out).resolve(), "leap")
    names = [p.name for p in shard_files(B.root)]
    assert names == ["round-0.parquet", "round-1.parquet"], names
    assert any("sealed round 0" in m for m in logs)
    # the same records, in task-id order (round 1 read round 0's sealed file to train its generator)
    for r in (0, 1):
        a = read_records(sorted((A.root / f"grasps/round={r}/hand=leap").glob("*.parquet")))
        b = read_records(B.root / B.sealed_rel(r))
        assert len(a) == len(b) and list(a.object_id) == list(b.object_id)
        for k in ("trans", "grasp", "squeeze", "success", "lift_success", "grasp_type"):
            assert list(map(str, getattr(a, k))) == list(map(str, getattr(b, k))), k
    assert len(read_records(B.root / B.sealed_rel(0))) > 0
    # statistics read the sealed file (round table, types): the same as unsealed
    assert S.round_table(A) == S.round_table(B)
    assert S.types_per_round(A) == S.types_per_round(B)
    assert S.shard_paths(B, [0]) == [str(B.root / B.sealed_rel(0))]
    from dex1b_ros.dataset.card import card_text
    assert "2 shards" in card_text(cfg, "micro.yaml") and "Rounds 0, 1 are sealed" in card_text(cfg, "micro.yaml")
    # every task stays done: a re-run (verified) runs nothing
    s2 = run_build(cfg, progress=False, verify=True, report=False, log=lambda *_: None)
    assert s2.tasks_run == 0 and s2.rounds == s1.rounds
    # sealing again only deletes a task shard left behind (e.g. killed between seal and delete)
    M = Manifest(B)
    seal = M.seal(0)
    left = next(iter(seal["tasks"]))
    (B.root / left).write_bytes(b"x" * 10)
    assert seal_round(B, M, 0, []) == 10 and not (B.root / left).exists()
    # a seal that does not list the task's shard (another digest) does not make the task done
    t = next(e for e in M.entries(0) if e.get("stage") == "seed")
    assert M.is_done(0, t["task_id"], verify=True)
    seal["tasks"][t["outputs"][0]["path"]]["sha256"] = "0" * 64
    M.write(0, seal["task_id"], seal)
    assert not M.is_done(0, t["task_id"])
