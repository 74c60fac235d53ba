"""One versioned Parquet schema for grasp records (no ROS).

This is the lowest layer that reads and writes grasp shards: the generator (training data, seed
shards) and the dataset builder both use it. (Moved here from ``dex1b_ros.dataset.schema``,
which re-exports it, so that ``generator`` does not import ``dataset``.)

A *grasp record* is one grasp of one hand on one object, with what made it and what the
validator said about it. Every shard (one Parquet file) holds records of ONE hand (all rows
have the same joint count J); it may hold many objects.

Columns (frames: the object's mesh frame; units: m, rad, mm where named):

=================  ==============================  ==========================================
column             arrow type                      meaning
=================  ==============================  ==========================================
object_id          dictionary<int32, string>       ``"ycb:011_banana"``, ``"proc:box:3"``, ...
hand               dictionary<int32, string>       hand name (``"leap"``)
round              int16                           Dex1B round that produced it (0 = seed)
trans              fixed_size_list<float32, 3>     wrist (palm-frame origin) position, m
quat               fixed_size_list<float32, 4>     wrist rotation, (w, x, y, z)
pregrasp           fixed_size_list<float16, J>     open joints, rad, driver order (float32 in version 2)
grasp              fixed_size_list<float16, J>     grasp joints, rad (float16: error <= 1 mrad, see below)
squeeze            fixed_size_list<float16, J>     squeeze joints, rad
energy_total ...   float32 (5 columns)             optimizer energies: total, dis, pen, spen, fc
success            bool (nullable)                 MuJoCo validator verdict (null: not validated)
penetration_mm     float32 (nullable)              validator hand-object penetration, mm
n_contacts         int16 (nullable)                validator contact count after squeezing
no_real_contact    bool (nullable)                 validator "squeezing air" flag
failure            string                          why it failed the free-space test ("" = passed or
                                                   not validated): "penetration" (pre-filter),
                                                   "no_real_contact", "slip:+x" ... (first direction)
lift_success       bool (nullable)                 tabletop lift verdict, the object resting in its
                                                   most probable stable pose (null: not tested)
stable_pose        int16                           stable-pose index used for the lift (-1: none)
grasp_type         string                          type label (seed data: the active fingers,
                                                   e.g. ``"thumb+index+middle"``)
assoc_point        fixed_size_list<float32, 3>     DexSimple associated point, object frame, m
generator_version  string                          what produced the record (``"optim-synth/1"``)
=================  ==============================  ==========================================

Vectors are stored as **fixed-size lists** (one column per vector, not one per component), so
J is part of the type and a reader gets an (N, k) array with one reshape.

File-level key-value metadata: ``dex1b.schema_version`` (:data:`SCHEMA_VERSION`),
``dex1b.hand`` and ``dex1b.joint_names`` (JSON list, driver order). Readers read every version in
:data:`READABLE_VERSIONS` (a dataset is append-only: its old shards keep their version) and refuse
others; in memory every float column is float32 whatever the file stores.

Versions: 2 stored the three joint vectors as float32; **3** stores them as float16 (IEEE half):
per-object task shards 385 -> 282 bytes a row, one file per round (a sealed build round) 134
(docs/dataset.md "Schema v3").
Joint angles lie within +-pi, where float16 spacing is at most 2**-9 rad: the stored angle is
within 1 mrad of the simulated one (0.1 mm at a 10 cm finger); below 2 rad (all of Allegro's
range, most of LEAP's: its joints reach 2.0-2.44 rad) within 0.5 mrad. Wrist pose, energies and
associated points stay float32 (the wrist's metres need the mantissa). DuckDB reads float16
columns as FLOAT, so its queries see one type across v2 and v3 shards.

Encoding: zstd; BYTE_STREAM_SPLIT on every float32 column (nested path
``<name>.list.element`` for the lists); dictionary encoding only on ``object_id`` and ``hand``.
No column statistics (min/max per column chunk): in a shard of ~50 rows they cost 29 bytes a row
(a tenth of it) and buy a reader nothing. Writes are atomic: the file is written to
``.<name>.tmp`` in the same folder and moved onto the final name with ``os.replace``, so a crash
never leaves a partial file at the final name.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA_VERSION = 3
"""The version written. Bump when a column is added, removed, changes meaning or storage type."""
READABLE_VERSIONS = (2, 3)
"""Versions :func:`read_records` accepts (2: joints float32; 3: joints float16)."""
_JOINT_TYPE = {2: pa.float32(), 3: pa.float16()}

META_VERSION = b"dex1b.schema_version"
META_HAND = b"dex1b.hand"
META_JOINTS = b"dex1b.joint_names"

ENERGY_TERMS = ("total", "dis", "pen", "spen", "fc")
_VECTORS = {"trans": 3, "quat": 4, "assoc_point": 3}     # fixed lengths; joints have J
_JOINT_COLS = ("pregrasp", "grasp", "squeeze")


class SchemaError(ValueError):
    """A file or a set of records does not follow the grasp-record schema."""


def grasp_schema(n_joints: int, hand: str = "", joint_names: Iterable[str] = (),
                 version: int = SCHEMA_VERSION) -> pa.Schema:
    """The arrow schema of grasp records for a hand with ``n_joints`` joints (metadata included),
    as written by schema ``version`` (one of :data:`READABLE_VERSIONS`)."""
    if version not in _JOINT_TYPE:
        raise SchemaError(f"schema version {version}: this code knows versions {READABLE_VERSIONS}")
    f32 = pa.float32()
    dict_str = pa.dictionary(pa.int32(), pa.string())
    vec = lambda k: pa.list_(f32, k)  # noqa: E731
    fields = [
        pa.field("object_id", dict_str, nullable=False),
        pa.field("hand", dict_str, nullable=False),
        pa.field("round", pa.int16(), nullable=False),
        pa.field("trans", vec(3), nullable=False),
        pa.field("quat", vec(4), nullable=False),
        *[pa.field(c, pa.list_(_JOINT_TYPE[version], n_joints), nullable=False) for c in _JOINT_COLS],
        *[pa.field(f"energy_{k}", f32) for k in ENERGY_TERMS],
        pa.field("success", pa.bool_()),
        pa.field("penetration_mm", f32),
        pa.field("n_contacts", pa.int16()),
        pa.field("no_real_contact", pa.bool_()),
        pa.field("failure", pa.string(), nullable=False),
        pa.field("lift_success", pa.bool_()),
        pa.field("stable_pose", pa.int16(), nullable=False),
        pa.field("grasp_type", pa.string(), nullable=False),
        pa.field("assoc_point", vec(3), nullable=False),
        pa.field("generator_version", pa.string(), nullable=False),
    ]
    meta = {META_VERSION: str(version).encode(), META_HAND: hand.encode(),
            META_JOINTS: json.dumps(list(joint_names)).encode()}
    return pa.schema(fields, metadata=meta)


def float_column_paths(schema: pa.Schema) -> list[str]:
    """Parquet column paths of the float32/64 columns (the BYTE_STREAM_SPLIT ones). Not float16:
    DuckDB 2.0 refuses BYTE_STREAM_SPLIT on it (a FIXED_LEN_BYTE_ARRAY column)."""
    out = []
    fl = lambda t: pa.types.is_floating(t) and not pa.types.is_float16(t)  # noqa: E731
    for f in schema:
        if fl(f.type):
            out.append(f.name)
        elif pa.types.is_fixed_size_list(f.type) and fl(f.type.value_type):
            out.append(f"{f.name}.list.element")
    return out


@dataclasses.dataclass
class GraspRecords:
    """N grasp records of one hand, as numpy arrays (column meanings: module docstring).

    Nullable validator columns use NaN (penetration_mm), -1 (n_contacts) and a separate
    ``validated`` mask (success / no_real_contact are False where not validated).
    """

    object_id: np.ndarray          # (N,) str (object dtype)
    hand: str
    joint_names: tuple[str, ...]
    round: np.ndarray              # (N,) int16
    trans: np.ndarray              # (N, 3) float32, m
    quat: np.ndarray               # (N, 4) float32, wxyz
    pregrasp: np.ndarray           # (N, J) float32, rad
    grasp: np.ndarray              # (N, J) float32, rad
    squeeze: np.ndarray            # (N, J) float32, rad
    energy: dict[str, np.ndarray]  # each (N,) float32, keys ENERGY_TERMS
    validated: np.ndarray          # (N,) bool
    success: np.ndarray            # (N,) bool
    penetration_mm: np.ndarray     # (N,) float32 (NaN: not validated)
    n_contacts: np.ndarray         # (N,) int16 (-1: not validated)
    no_real_contact: np.ndarray    # (N,) bool
    failure: np.ndarray            # (N,) str ("" = passed / not validated)
    lift_tested: np.ndarray        # (N,) bool
    lift_success: np.ndarray       # (N,) bool (False where not tested)
    stable_pose: np.ndarray        # (N,) int16 (-1 = none)
    grasp_type: np.ndarray         # (N,) str
    assoc_point: np.ndarray        # (N, 3) float32, m
    generator_version: np.ndarray  # (N,) str

    def __len__(self) -> int:
        return len(self.trans)

    @property
    def n_joints(self) -> int:
        return len(self.joint_names)

    def select(self, mask) -> "GraspRecords":
        m = np.asarray(mask)
        kw = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "energy":
                kw[f.name] = {k: e[m] for k, e in v.items()}
            elif isinstance(v, np.ndarray):
                kw[f.name] = v[m]
            else:
                kw[f.name] = v
        return GraspRecords(**kw)

    @staticmethod
    def concat(parts: list["GraspRecords"]) -> "GraspRecords":
        if not parts:
            raise SchemaError("concat: no records given")
        hands = {(p.hand, p.joint_names) for p in parts}
        if len(hands) != 1:
            raise SchemaError(f"concat: records of different hands/joint orders: {sorted(h for h, _ in hands)}")
        kw = {}
        for f in dataclasses.fields(GraspRecords):
            v = getattr(parts[0], f.name)
            if f.name == "energy":
                kw[f.name] = {k: np.concatenate([p.energy[k] for p in parts]) for k in v}
            elif isinstance(v, np.ndarray):
                kw[f.name] = np.concatenate([getattr(p, f.name) for p in parts])
            else:
                kw[f.name] = v
        return GraspRecords(**kw)

    # ------------------------------------------------------------------ arrow
    def check(self) -> None:
        """Raise SchemaError naming the first column with a wrong shape."""
        N, J = len(self.trans), self.n_joints
        want = {"object_id": (N,), "round": (N,), "trans": (N, 3), "quat": (N, 4), "pregrasp": (N, J),
                "grasp": (N, J), "squeeze": (N, J), "validated": (N,), "success": (N,), "penetration_mm": (N,),
                "n_contacts": (N,), "no_real_contact": (N,), "failure": (N,), "lift_tested": (N,),
                "lift_success": (N,), "stable_pose": (N,), "grasp_type": (N,), "assoc_point": (N, 3),
                "generator_version": (N,)}
        for k, shape in want.items():
            got = np.shape(getattr(self, k))
            if got != shape:
                raise SchemaError(f"column {k}: expected shape {shape}, got {got}")
        for k in ENERGY_TERMS:
            if np.shape(self.energy.get(k)) != (N,):
                raise SchemaError(f"column energy_{k}: expected shape {(N,)}, got {np.shape(self.energy.get(k))}")

    def to_table(self) -> pa.Table:
        self.check()
        J = self.n_joints
        schema = grasp_schema(J, self.hand, self.joint_names)
        vec = lambda a, k, dt=np.float32: pa.FixedSizeListArray.from_arrays(  # noqa: E731
            pa.array(np.ascontiguousarray(a, dtype=dt).reshape(-1)), k)
        v = self.validated
        cols = {
            "object_id": pa.array(np.asarray(self.object_id, dtype=object), pa.string()).dictionary_encode(),
            "hand": pa.array([self.hand] * len(self), pa.string()).dictionary_encode(),
            "round": pa.array(np.asarray(self.round, dtype=np.int16)),
            "trans": vec(self.trans, 3), "quat": vec(self.quat, 4),
            **{c: vec(getattr(self, c), J, np.float16) for c in _JOINT_COLS},
            **{f"energy_{k}": pa.array(np.asarray(self.energy[k], dtype=np.float32)) for k in ENERGY_TERMS},
            "success": pa.array(np.asarray(self.success, bool), mask=~v),
            "penetration_mm": pa.array(np.asarray(self.penetration_mm, np.float32), mask=~v),
            "n_contacts": pa.array(np.asarray(self.n_contacts, np.int16), mask=~v),
            "no_real_contact": pa.array(np.asarray(self.no_real_contact, bool), mask=~v),
            "failure": pa.array(np.asarray(self.failure, dtype=object), pa.string()),
            "lift_success": pa.array(np.asarray(self.lift_success, bool), mask=~np.asarray(self.lift_tested, bool)),
            "stable_pose": pa.array(np.asarray(self.stable_pose, np.int16)),
            "grasp_type": pa.array(np.asarray(self.grasp_type, dtype=object), pa.string()),
            "assoc_point": vec(self.assoc_point, 3),
            "generator_version": pa.array(np.asarray(self.generator_version, dtype=object), pa.string()),
        }
        # dictionary_encode gives int32 indices already; cast pins the exact type
        arrays = [cols[f.name].cast(f.type) if cols[f.name].type != f.type else cols[f.name] for f in schema]
        return pa.Table.from_arrays(arrays, schema=schema)

    @classmethod
    def from_table(cls, table: pa.Table, source: str = "<table>") -> "GraspRecords":
        meta = table.schema.metadata or {}
        version = meta.get(META_VERSION)
        if version is None:
            raise SchemaError(f"{source}: not a dex1b grasp-record file (no {META_VERSION.decode()} metadata)")
        try:
            version = int(version)
        except ValueError:
            raise SchemaError(f"{source}: schema version {version!r} is not a number") from None
        if version not in READABLE_VERSIONS:
            raise SchemaError(f"{source}: schema version {version}, this reader reads versions {READABLE_VERSIONS}")
        joint_names = tuple(json.loads(meta.get(META_JOINTS, b"[]")))
        hand = meta.get(META_HAND, b"").decode()
        J = len(joint_names)
        expected = grasp_schema(J, hand, joint_names, version)
        if not table.schema.equals(expected, check_metadata=False):
            raise SchemaError(f"{source}: columns differ from schema version {version}: "
                              f"got {table.schema.remove_metadata()}")

        def col(name):
            return table.column(name).combine_chunks()

        def vec(name, k):
            c = col(name)
            return c.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, k)

        def strings(name):
            c = col(name)
            if pa.types.is_dictionary(c.type):
                c = c.cast(pa.string())
            return np.asarray(c.to_pylist(), dtype=object)

        succ = col("success")
        validated = succ.is_valid().to_numpy(zero_copy_only=False).astype(bool)
        lift = col("lift_success")
        return cls(
            object_id=strings("object_id"), hand=hand, joint_names=joint_names,
            round=col("round").to_numpy(zero_copy_only=False).astype(np.int16),
            trans=vec("trans", 3), quat=vec("quat", 4),
            pregrasp=vec("pregrasp", J), grasp=vec("grasp", J), squeeze=vec("squeeze", J),
            energy={k: col(f"energy_{k}").to_numpy(zero_copy_only=False).astype(np.float32) for k in ENERGY_TERMS},
            validated=validated,
            success=succ.fill_null(False).to_numpy(zero_copy_only=False).astype(bool),
            penetration_mm=col("penetration_mm").fill_null(np.nan).to_numpy(zero_copy_only=False).astype(np.float32),
            n_contacts=col("n_contacts").fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int16),
            no_real_contact=col("no_real_contact").fill_null(False).to_numpy(zero_copy_only=False).astype(bool),
            failure=strings("failure"), lift_tested=lift.is_valid().to_numpy(zero_copy_only=False).astype(bool),
            lift_success=lift.fill_null(False).to_numpy(zero_copy_only=False).astype(bool),
            stable_pose=col("stable_pose").to_numpy(zero_copy_only=False).astype(np.int16),
            grasp_type=strings("grasp_type"), assoc_point=vec("assoc_point", 3),
            generator_version=strings("generator_version"))


def as_stored_joints(q: np.ndarray) -> np.ndarray:
    """Joint angles (..., J) rad as a shard of the current schema stores them (float16, handed back
    as float32). Simulate THESE, not the optimizer's float32, so that a stored verdict is the verdict
    of the stored grasp: rounding by <= 0.5 mrad flipped 7 of 297 stored LEAP verdicts (2.4 %; Allegro 11 of 293,
    scripts/float16_check.py; the MuJoCo test is that sensitive near its boundary)."""
    return np.asarray(q).astype(np.float16).astype(np.float32)


# ---------------------------------------------------------------------- files
def temp_path(path: str | Path) -> Path:
    """The deterministic temporary name a write to ``path`` goes through: ``.<name>.tmp``."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp")


def write_records(records: GraspRecords, path: str | Path, compression_level: int = 3) -> Path:
    """Write ``records`` to the Parquet file ``path`` atomically (see module doc). Returns the path."""
    path = Path(path)
    table = records.to_table()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        pq.write_table(table, tmp, compression="zstd", compression_level=compression_level,
                       use_dictionary=["object_id", "hand"],
                       use_byte_stream_split=float_column_paths(table.schema), store_schema=True,
                       write_statistics=False)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_records(paths: str | Path | Iterable[str | Path]) -> GraspRecords:
    """Read one shard, a folder of ``*.parquet`` shards, or a list of shards (same hand) into numpy."""
    if isinstance(paths, (str, Path)):
        p = Path(paths)
        paths = sorted(p.glob("*.parquet")) if p.is_dir() else [p]
    parts = []
    for p in paths:
        p = Path(p)
        if not p.is_file():
            raise FileNotFoundError(f"grasp shard {p} not found")
        try:
            table = pq.read_table(p)
        except (pa.ArrowInvalid, OSError) as e:
            raise SchemaError(f"{p}: cannot read as Parquet: {e}") from None
        parts.append(GraspRecords.from_table(table, str(p)))
    if not parts:
        raise FileNotFoundError("read_records: no shards given")
    return GraspRecords.concat(parts)


# ---------------------------------------------------------------------- builders
def records_from_graspset(grasps, object_id: str, joint_names: Iterable[str], round_: int = 0,
                          validation=None, assoc_point: np.ndarray | None = None,
                          grasp_type: str | Iterable[str] = "", generator_version: str = "",
                          lift=None, stable_pose: int = -1) -> GraspRecords:
    """Records from an optimizer ``GraspSet`` (``dex1b_ros.optim``) of one object.

    validation: a ``ValidationResult`` of the same grasps (or None: not validated); its
        failure reasons go to ``failure`` (``dex1b_ros.validate.failure_reasons``).
    lift: the tabletop ``ValidationResult`` of the same grasps (object in stable pose
        ``stable_pose``), or None (not tested).
    assoc_point: (N, 3) m associated points (see ``dex1b_ros.generator.model.associated_points``);
        None stores NaN.
    grasp_type: one label for all, or one per grasp.
    """
    N = len(grasps)
    joint_names = tuple(joint_names)
    if grasps.grasp.shape[1] != len(joint_names):
        raise SchemaError(f"records_from_graspset: {grasps.grasp.shape[1]} joints in the grasps, "
                          f"{len(joint_names)} joint names")
    if validation is not None:
        validated = np.ones(N, bool)
        success = np.asarray(validation.success, bool)
        pen = np.asarray(validation.penetration_mm, np.float32)
        nc = np.asarray(validation.n_contacts, np.int16)
        nrc = np.asarray(validation.no_real_contact, bool)
        from .validate import failure_reasons
        failure = np.asarray(failure_reasons(validation), dtype=object)
    else:
        validated, success, nrc = np.zeros(N, bool), np.zeros(N, bool), np.zeros(N, bool)
        pen, nc = np.full(N, np.nan, np.float32), np.full(N, -1, np.int16)
        failure = np.full(N, "", dtype=object)
    lift_tested = np.full(N, lift is not None)
    lift_ok = np.asarray(lift.success, bool) if lift is not None else np.zeros(N, bool)
    gt = np.full(N, grasp_type, dtype=object) if isinstance(grasp_type, str) else np.asarray(list(grasp_type), object)
    ap = np.full((N, 3), np.nan, np.float32) if assoc_point is None else np.asarray(assoc_point, np.float32)
    return GraspRecords(
        object_id=np.full(N, object_id, dtype=object), hand=grasps.hand, joint_names=joint_names,
        round=np.full(N, round_, np.int16), trans=grasps.trans.astype(np.float32), quat=grasps.quat.astype(np.float32),
        pregrasp=grasps.pregrasp.astype(np.float32), grasp=grasps.grasp.astype(np.float32),
        squeeze=grasps.squeeze.astype(np.float32),
        energy={k: np.asarray(grasps.energy.get(k, np.full(N, np.nan)), np.float32) for k in ENERGY_TERMS},
        validated=validated, success=success, penetration_mm=pen, n_contacts=nc, no_real_contact=nrc,
        failure=failure, lift_tested=lift_tested, lift_success=lift_ok,
        stable_pose=np.full(N, stable_pose if lift is not None else -1, np.int16), grasp_type=gt, assoc_point=ap,
        generator_version=np.full(N, generator_version, dtype=object))


def empty_records(hand: str, joint_names: Iterable[str]) -> GraspRecords:
    """Zero records of a hand (e.g. a shard for an object where nothing passed)."""
    joint_names = tuple(joint_names)
    J = len(joint_names)
    z = lambda *s, dt=np.float32: np.zeros(s, dt)  # noqa: E731
    return GraspRecords(object_id=np.zeros(0, object), hand=hand, joint_names=joint_names, round=z(0, dt=np.int16),
                        trans=z(0, 3), quat=z(0, 4), pregrasp=z(0, J), grasp=z(0, J), squeeze=z(0, J),
                        energy={k: z(0) for k in ENERGY_TERMS}, validated=z(0, dt=bool), success=z(0, dt=bool),
                        penetration_mm=z(0), n_contacts=z(0, dt=np.int16), no_real_contact=z(0, dt=bool),
                        failure=np.zeros(0, object), lift_tested=z(0, dt=bool), lift_success=z(0, dt=bool),
                        stable_pose=z(0, dt=np.int16), grasp_type=np.zeros(0, object), assoc_point=z(0, 3),
                        generator_version=np.zeros(0, object))
