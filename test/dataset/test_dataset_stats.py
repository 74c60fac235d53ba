"""DuckDB stats over shards listed in the manifest equal the same counts done in numpy."""
import numpy as np

from dex1b_ros.dataset import GraspRecords
from dex1b_ros.dataset import stats as S
from dex1b_ros.dataset import store as ST
from dex1b_ros.dataset.grasp_types import type_entropy, voxel_index

NAMES = tuple(f"j{i}" for i in range(16))
TYPES = ["thumb+index|long+", "thumb+index+middle|mid-", "none|short+"]


def _recs(n, round_, obj, seed) -> GraspRecords:
    rng = np.random.default_rng(seed)
    f = lambda *s: rng.normal(size=s).astype(np.float32)  # noqa: E731
    succ = rng.random(n) > 0.4
    q = f(n, 4)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return GraspRecords(
        object_id=np.array([obj] * n, object), hand="leap", joint_names=NAMES, round=np.full(n, round_, np.int16),
        trans=f(n, 3), quat=q, pregrasp=f(n, 16), grasp=f(n, 16), squeeze=f(n, 16),
        energy={k: f(n) for k in ("total", "dis", "pen", "spen", "fc")}, validated=np.ones(n, bool), success=succ,
        penetration_mm=np.abs(f(n)), n_contacts=np.full(n, 3, np.int16), no_real_contact=np.zeros(n, bool),
            failure=np.array([""] * n, object), lift_tested=np.ones(n, bool), lift_success=succ.copy(),
            stable_pose=np.zeros(n, np.int16),
        grasp_type=np.array([TYPES[i] for i in rng.integers(0, 3, n)], object),
        assoc_point=(f(n, 3) * 0.05), generator_version=np.array(["t"] * n, object))


def _build(tmp_path):
    L = ST.Layout(tmp_path, "leap")
    M = ST.Manifest(L)
    allrec = []
    for r in (0, 1):
        for i, obj in enumerate(["ycb:a", "proc:b:1"]):
            rec = _recs(40, r, obj, seed=10 * r + i)
            tid = ST.grasp_task_id(r, obj, 0)
            rel = L.shard_rel(r, tid)
            size, digest = ST.write_shard(rec, tmp_path / rel)
            ok = rec.success
            hist = {t: int((rec.grasp_type[ok] == t).sum()) for t in set(rec.grasp_type[ok])}
            M.write(r, tid, {"task_id": tid, "stage": "seed" if r == 0 else "generate", "round": r,
                             "proposed": 100, "prefiltered": 40, "validated": 40, "valid": int(ok.sum()),
                             "kept": int(ok.sum()), "rows": 40, "types_valid": hist,
                             "outputs": [{"path": rel, "bytes": size, "sha256": digest}]})
            allrec.append(rec)
    # an orphan shard (no manifest entry) must be ignored by every query
    ST.write_shard(_recs(50, 0, "ycb:a", 99), tmp_path / L.shard_rel(0, "r0-orphan-c000"))
    return L, GraspRecords.concat(allrec)


def test_type_counts_and_voxels(tmp_path):
    L, rec = _build(tmp_path)
    tc = S.type_counts(L, before_round=1)
    r0 = rec.select((rec.round == 0) & rec.success)
    for obj in ("ycb:a", "proc:b:1"):
        sel = r0.grasp_type[r0.object_id == obj]
        assert tc[obj] == {t: int((sel == t).sum()) for t in set(sel)}
    vc = S.voxel_counts(L, before_round=2, voxel=0.01)
    ok = rec.select(rec.success)
    for obj in ("ycb:a", "proc:b:1"):
        m = ok.object_id == obj
        vox = voxel_index(ok.assoc_point[m], 0.01)
        want = {}
        for (i, j, k), t in zip(vox.tolist(), ok.grasp_type[m]):
            want[(i, j, k, t)] = want.get((i, j, k, t), 0) + 1
        assert {(i, j, k, t): n for i, j, k, t, n in vc[obj]} == want


def test_round_table_and_types(tmp_path):
    L, rec = _build(tmp_path)
    rows = S.round_table(L)
    assert [r["round"] for r in rows] == [0, 1]
    for r in rows:
        sel = rec.round == r["round"]
        assert r["tasks"] == 2 and r["proposed"] == 200 and r["validated"] == 80
        assert r["valid"] == int(rec.success[sel].sum()) == r["stored_valid"]
        assert r["stored"] == 80
        assert abs(r["success_rate"] - r["valid"] / 80) < 1e-12
    ty = S.types_per_round(L)
    for t in ty:
        sel = (rec.round == t["round"]) & rec.success
        want = {x: int((rec.grasp_type[sel] == x).sum()) for x in set(rec.grasp_type[sel])}
        assert t["after"] == want == t["before"]
        assert abs(t["entropy_after"] - type_entropy(want)) < 1e-12
    pen = S.penetration(L)
    assert len(pen) == len(rec)


def test_empty_build(tmp_path):
    L = ST.Layout(tmp_path, "leap")
    assert S.type_counts(L, 3) == {} and S.round_table(L) == [] and S.types_per_round(L) == []
