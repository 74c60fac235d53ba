"""Grasp-record schema: round trip, encodings, versions (v2 float32 joints, v3 float16), atomic write."""
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dex1b_ros import records as S
from dex1b_ros.dataset import (
    SCHEMA_VERSION,
    GraspRecords,
    SchemaError,
    empty_records,
    read_records,
    temp_path,
    write_records,
)

J = 16
NAMES = tuple(f"j{i}" for i in range(J))


def make_records(n=7, seed=0, hand="leap", validated=True) -> GraspRecords:
    rng = np.random.default_rng(seed)
    f = lambda *s: rng.normal(size=s).astype(np.float32)  # noqa: E731
    q = f(n, 4)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    v = np.full(n, validated)
    v[0] = False                                  # one not validated: nulls
    return GraspRecords(
        object_id=np.array([f"ycb:obj{i % 3}" for i in range(n)], object), hand=hand, joint_names=NAMES,
        round=np.arange(n, dtype=np.int16), trans=f(n, 3), quat=q, pregrasp=f(n, J), grasp=f(n, J),
        squeeze=f(n, J), energy={k: f(n) for k in S.ENERGY_TERMS}, validated=v, success=v & (rng.random(n) > 0.5),
        penetration_mm=np.where(v, np.abs(f(n)), np.nan).astype(np.float32),
        n_contacts=np.where(v, rng.integers(0, 9, n), -1).astype(np.int16), no_real_contact=v & (rng.random(n) > 0.7),
        failure=np.array(["", "slip:+x", "no_real_contact", "penetration"] * n, object)[:n],
        lift_tested=v.copy(), lift_success=v & (rng.random(n) > 0.5), stable_pose=np.where(v, 1, -1).astype(np.int16),
        grasp_type=np.array(["thumb+index+middle"] * n, object), assoc_point=f(n, 3),
        generator_version=np.array(["test/1"] * n, object))


class _Res:
    """A ValidationResult stand-in with a length."""

    def __init__(self, ns):
        self.__dict__.update({k: v for k, v in vars(ns).items() if k != "__len__"})

    def __len__(self):
        return len(self.success)


def assert_same(a: GraspRecords, b: GraspRecords, joints_exact=False):
    """Equal records; the joint vectors within float16 rounding (schema v3) unless ``joints_exact``."""
    assert (a.hand, a.joint_names) == (b.hand, b.joint_names)
    for k in ("object_id", "grasp_type", "generator_version", "failure"):
        assert list(getattr(a, k)) == list(getattr(b, k)), k
    for k in ("round", "trans", "quat", "validated", "success", "n_contacts",
              "no_real_contact", "lift_tested", "lift_success", "stable_pose", "assoc_point"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k), err_msg=k)
    for k in ("pregrasp", "grasp", "squeeze"):
        x, y = getattr(a, k), getattr(b, k)
        assert y.dtype == np.float32, k
        if joints_exact:
            np.testing.assert_array_equal(x, y, err_msg=k)
        else:   # float16: 11 significant bits, half a unit in the last place at most
            np.testing.assert_allclose(y, x, rtol=2.0 ** -11, atol=2.0 ** -25, err_msg=k)
    np.testing.assert_array_equal(a.penetration_mm, b.penetration_mm)  # NaN == NaN here
    for k in S.ENERGY_TERMS:
        np.testing.assert_array_equal(a.energy[k], b.energy[k])


def test_round_trip(tmp_path):
    r = make_records()
    p = write_records(r, tmp_path / "a.parquet")
    back = read_records(p)
    assert_same(r, back)
    assert back.trans.dtype == np.float32 and back.grasp.shape == (7, J)
    assert not back.validated[0] and np.isnan(back.penetration_mm[0]) and back.n_contacts[0] == -1


def test_folder_and_concat(tmp_path):
    a, b = make_records(5, 1), make_records(3, 2)
    write_records(a, tmp_path / "part-a.parquet")
    write_records(b, tmp_path / "part-b.parquet")
    write_records(empty_records("leap", NAMES), tmp_path / "part-c.parquet")
    back = read_records(tmp_path)
    assert len(back) == 8
    assert_same(GraspRecords.concat([a, b]), back)


def test_file_layout(tmp_path):
    p = write_records(make_records(), tmp_path / "a.parquet")
    f = pq.ParquetFile(p)
    meta = f.schema_arrow.metadata
    assert int(meta[b"dex1b.schema_version"]) == SCHEMA_VERSION
    assert meta[b"dex1b.hand"] == b"leap"
    rg = f.metadata.row_group(0)
    enc = {rg.column(i).path_in_schema: rg.column(i).encodings for i in range(rg.num_columns)}
    assert rg.column(0).compression == "ZSTD"
    assert "BYTE_STREAM_SPLIT" in enc["trans.list.element"] and "BYTE_STREAM_SPLIT" in enc["energy_total"]
    assert "RLE_DICTIONARY" in enc["object_id"] and "RLE_DICTIONARY" in enc["hand"]
    assert "RLE_DICTIONARY" not in enc["grasp_type"]      # dictionary only on ids


def v2_table(r: GraspRecords) -> pa.Table:
    """``r`` as a schema-version-2 file stores it (joints float32), for the reader's old-shard path."""
    t = r.to_table()
    v2 = S.grasp_schema(r.n_joints, r.hand, r.joint_names, version=2)
    cols = {c: pa.FixedSizeListArray.from_arrays(pa.array(getattr(r, c).reshape(-1)), r.n_joints)
            for c in ("pregrasp", "grasp", "squeeze")}
    return pa.Table.from_arrays([cols.get(f.name, t.column(f.name)) for f in v2], schema=v2)


def test_v3_stores_joints_as_float16_within_a_milliradian(tmp_path):
    r = make_records(200, 3)
    rng = np.random.default_rng(4)
    for c in ("pregrasp", "grasp", "squeeze"):     # the joint range of a real hand: within +-pi
        setattr(r, c, rng.uniform(-np.pi, np.pi, (200, J)).astype(np.float32))
    p = write_records(r, tmp_path / "a.parquet")
    f = pq.ParquetFile(p)
    assert f.schema_arrow.field("grasp").type.value_type == pa.float16()
    assert f.schema_arrow.field("trans").type.value_type == pa.float32()     # the wrist keeps float32
    back = read_records(p)
    assert_same(r, back)
    err = max(np.abs(getattr(back, c) - getattr(r, c)).max() for c in ("pregrasp", "grasp", "squeeze"))
    assert 0 < err <= 2.0 ** -10        # rounded, and within 0.98 mrad (spacing 2**-9 in [2, 4))
    # the point of v3: a smaller file than the same rows as version 2
    pq.write_table(v2_table(r), tmp_path / "v2.parquet", compression="zstd",
                   use_byte_stream_split=S.float_column_paths(v2_table(r).schema))
    assert p.stat().st_size < 0.75 * (tmp_path / "v2.parquet").stat().st_size


def test_version_2_shards_still_read_exactly_and_mix_with_v3(tmp_path):
    """data/ is append-only: its shards written as version 2 stay, next to new version-3 ones."""
    a, b = make_records(5, 1), make_records(4, 2)
    pq.write_table(v2_table(a), tmp_path / "part-a.parquet")
    write_records(b, tmp_path / "part-b.parquet")
    assert int(pq.read_schema(tmp_path / "part-a.parquet").metadata[b"dex1b.schema_version"]) == 2
    assert_same(a, read_records(tmp_path / "part-a.parquet"), joints_exact=True)
    back = read_records(tmp_path)
    assert len(back) == 9 and back.grasp.dtype == np.float32
    assert_same(a, back.select(np.arange(9) < 5), joints_exact=True)
    assert_same(b, back.select(np.arange(9) >= 5))
    # DuckDB (the dataset card's queries) reads both as one FLOAT[] column
    got = duckdb.sql(f"SELECT count(*), any_value(typeof(grasp)), sum(grasp[1]) "
                     f"FROM read_parquet('{tmp_path}/*.parquet')").fetchall()[0]
    assert got[:2] == (9, "FLOAT[16]") or got[:2] == (9, "FLOAT[]")
    assert got[2] == pytest.approx(float(back.grasp[:, 0].sum()), abs=1e-4)


def test_unknown_version_refused_by_the_schema():
    with pytest.raises(SchemaError, match="schema version 1"):
        S.grasp_schema(J, version=1)


def test_other_version_refused(tmp_path):
    r = make_records()
    t = r.to_table()
    md = dict(t.schema.metadata)
    md[b"dex1b.schema_version"] = b"999"
    pq.write_table(t.replace_schema_metadata(md), tmp_path / "v.parquet")
    with pytest.raises(SchemaError, match="schema version 999"):
        read_records(tmp_path / "v.parquet")


def test_bad_shape_names_column():
    r = make_records()
    r.grasp = r.grasp[:, :5]
    with pytest.raises(SchemaError, match="column grasp"):
        r.to_table()


def test_atomic_write_crash_leaves_no_partial_file(tmp_path, monkeypatch):
    final = tmp_path / "part-x.parquet"

    def crash(table, where, **kw):
        with open(where, "wb") as f:
            f.write(b"PAR1 half a file")
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(S.pq, "write_table", crash)
    with pytest.raises(KeyboardInterrupt):
        write_records(make_records(), final)
    assert not final.exists()
    assert not temp_path(final).exists()


def test_atomic_write_keeps_previous_file_on_crash(tmp_path, monkeypatch):
    final = tmp_path / "part-x.parquet"
    write_records(make_records(3, 5), final)
    before = final.read_bytes()
    monkeypatch.setattr(S.pq, "write_table", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        write_records(make_records(9, 6), final)
    assert final.read_bytes() == before
    assert len(read_records(final)) == 3


def test_records_from_graspset():
    from types import SimpleNamespace

    from dex1b_ros.optim import GraspSet
    n = 4
    rng = np.random.default_rng(0)
    gs = GraspSet("leap", rng.normal(size=(n, 3)), np.tile([1.0, 0, 0, 0], (n, 1)), *(rng.normal(size=(n, J)),) * 3,
                  {k: rng.random(n) for k in ("total", "dis", "pen", "spen", "joints", "fc", "align")},
                  rng.random(n), rng.random(n), np.ones((n, 4), bool), np.ones(n, bool))
    val = SimpleNamespace(success=np.array([1, 0, 1, 0], bool), penetration_mm=np.ones(n), n_contacts=np.full(n, 3),
                          no_real_contact=np.array([0, 1, 0, 0], bool),
                          rejected_by_prefilter=np.array([0, 0, 0, 1], bool),
                          failed_directions=np.zeros((n, 6), bool), directions=("+x", "-x", "+y", "-y", "+z", "-z"))
    lift = SimpleNamespace(success=np.array([1, 0, 0, 0], bool))
    r = S.records_from_graspset(gs, "proc:box:3", NAMES, validation=_Res(val), assoc_point=np.zeros((n, 3)),
                                grasp_type=["a", "b", "c", "d"], generator_version="optim-synth/1", lift=lift,
                                stable_pose=2)
    assert len(r) == n and r.validated.all() and list(r.success) == [True, False, True, False]
    assert list(r.failure) == ["", "no_real_contact", "", "penetration"]
    assert r.lift_tested.all() and list(r.lift_success) == [True, False, False, False] and (r.stable_pose == 2).all()
    assert list(r.object_id) == ["proc:box:3"] * n and list(r.grasp_type) == ["a", "b", "c", "d"]
    r.check()
    with pytest.raises(SchemaError, match="joint names"):
        S.records_from_graspset(gs, "x", NAMES[:3])
