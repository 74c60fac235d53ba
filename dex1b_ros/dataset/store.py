"""On-disk layout of a dataset build, atomic writes and the manifest of completed tasks (no ROS).

Layout under the build folder ``<out>``::

    build.json                                   config + content hash of the build (first run)
    .lock                                        flock held by the running build
    grasps/round=R/hand=H/part-<task>.parquet    one shard per grasp task (schema: dataset.schema)
    grasps/round=R/hand=H/round-R.parquet        a SEALED round: its task shards in one file (below)
    generators/round=R/hand=H/                   the generator trained at the start of round R >= 1
                                                 (RETIRED.json instead of its weights once retired)
    manifest/round=R/hand=H/<task>.json          one entry per COMPLETED task
    report/                                      summary, CSVs, plots, rendered grasps

Task ids are deterministic (``r<R>-<object slug>-c<chunk>``, ``r<R>-train``), so every shard
has one fixed name. Crash safety:

* A shard is written to a hidden temp file unique to the writing process
  (``.part-<task>.parquet.<pid>-<rand>.part``, itself written through ``write_records``'
  temp-and-rename) and moved onto its final name with ``os.replace``: a reader never sees a
  partial file at the final name.
* The task's manifest entry is written (same temp-and-rename) only AFTER its shard is in place.
  A task is done iff its entry exists and its shard exists with the recorded size (and, with
  ``verify``, the recorded sha256).
* Killed between the two: the shard is an orphan; the task is not done, so the next run
  recomputes it (deterministically, same bytes) and replaces the shard. Hidden temp files left
  by a killed run are removed when the next run starts (it holds the lock, so no live writer of
  this build can own them).

Sealing (``seal_from_round``; :func:`seal_round`): once every grasp task of a round is done, its
shards are concatenated (task-id order) into one file ``round-R.parquet``, a seal entry
``manifest/round=R/hand=H/r<R>-seal.json`` lists every task shard it holds (path, bytes, sha256,
rows) and the task shards are deleted. A task whose shard is listed there with the same sha256 stays
done, so resuming or extending the build reruns nothing; readers of the build (:mod:`.stats`) read
the sealed file for that round. Why: a per-task shard of ~50 rows carries ~7 KB of Parquet footer
and Arrow schema, half its bytes; one file per round stores the same rows in ~134 bytes each
instead of ~282 (docs/dataset.md), and ``data/`` in git has a budget. Crash safety: the sealed file
is written (atomically) first, then the seal entry, then the task shards are deleted; a run that
finds a seal entry deletes the task shards it lists that are still there. A reader that globs the
folder (``dex1b train --data <folder>``) would see both only inside that window.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from .schema import GraspRecords, write_records


def slug(object_id: str) -> str:
    """File-name-safe object id: ``ycb:011_banana`` -> ``ycb_011_banana``."""
    return "".join(c if (c.isalnum() or c in "-_.") else "_" for c in object_id)


def grasp_task_id(round_: int, object_id: str, chunk: int) -> str:
    return f"r{round_}-{slug(object_id)}-c{chunk:03d}"


def train_task_id(round_: int) -> str:
    return f"r{round_}-train"


def seal_task_id(round_: int) -> str:
    return f"r{round_}-seal"


@dataclass(frozen=True)
class Layout:
    """Paths of one build (``root`` = the build folder)."""

    root: Path
    hand: str

    def shard_rel(self, round_: int, task_id: str) -> str:
        return f"grasps/round={round_}/hand={self.hand}/part-{task_id}.parquet"

    def sealed_rel(self, round_: int) -> str:
        return f"grasps/round={round_}/hand={self.hand}/round-{round_}.parquet"

    def generator_rel(self, round_: int) -> str:
        return f"generators/round={round_}/hand={self.hand}"

    def manifest_dir(self, round_: int) -> Path:
        return self.root / f"manifest/round={round_}/hand={self.hand}"

    def manifest_path(self, round_: int, task_id: str) -> Path:
        return self.manifest_dir(round_) / f"{task_id}.json"

    @property
    def report(self) -> Path:
        return self.root / "report"


# ---------------------------------------------------------------------- atomic files
def _unique_tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.part")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _unique_tmp(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode())


def write_shard(records: GraspRecords, path: Path) -> tuple[int, str]:
    """Write ``records`` to ``path`` atomically through a writer-unique temp name.
    Returns ``(size in bytes, sha256 hex)`` of the final file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _unique_tmp(path)
    try:
        write_records(records, tmp)
        size, digest = file_digest(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return size, digest


def file_digest(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            n += len(chunk)
    return n, h.hexdigest()


def replace_dir(tmp: Path, final: Path) -> None:
    """Move the finished folder ``tmp`` onto ``final`` (an old ``final`` is removed first)."""
    if final.exists():
        shutil.rmtree(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, final)


def remove_stale_temps(root: Path) -> list[Path]:
    """Remove hidden temp files/folders a killed run left (``.*.part``, ``.*.tmp``, ``.tmp-*``)."""
    gone = []
    if not root.is_dir():
        return gone
    for p in sorted(root.rglob(".*")):
        if p.name in (".lock",) or not p.exists():
            continue
        if p.name.endswith((".part", ".tmp")) or p.name.startswith(".tmp-"):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            gone.append(p)
    return gone


# ---------------------------------------------------------------------- lock
class BuildLock:
    """Exclusive ``flock`` on ``<root>/.lock`` for the life of a build (released when the process dies)."""

    def __init__(self, root: Path):
        self.path = Path(root) / ".lock"
        self._fd = None

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RuntimeError(f"{self.path}: another build is running on this folder") from None
        self._fd = fd
        return self

    def __exit__(self, *exc):
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


# ---------------------------------------------------------------------- manifest
class Manifest:
    """Completed tasks of one build, one JSON file per task (see module doc)."""

    def __init__(self, layout: Layout):
        self.layout = layout

    def write(self, round_: int, task_id: str, entry: dict) -> None:
        atomic_write_json(self.layout.manifest_path(round_, task_id), entry)

    def read(self, round_: int, task_id: str) -> dict | None:
        p = self.layout.manifest_path(round_, task_id)
        try:
            return json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def is_done(self, round_: int, task_id: str, verify: bool = False) -> bool:
        """The task's entry exists and its outputs exist with the recorded size (``verify``: and
        sha256); an output retired on purpose (:func:`retire_generator`: its RETIRED.json records
        it with the same sha256) counts as present."""
        e = self.read(round_, task_id)
        if e is None:
            return False
        for out in e.get("outputs", []):
            p = self.layout.root / out["path"]
            if not p.is_file() and (_retired(p, out.get("sha256")) or self._sealed(round_, out, verify)):
                continue
            if not p.is_file() or p.stat().st_size != out["bytes"]:
                return False
            if verify and file_digest(p)[1] != out["sha256"]:
                return False
        return True

    def seal(self, round_: int) -> dict | None:
        """Round ``round_``'s seal entry (:func:`seal_round`) if the round is sealed, else None."""
        return self.read(round_, seal_task_id(round_))

    def _sealed(self, round_: int, out: dict, verify: bool) -> bool:
        """Whether the task output ``out`` (a manifest ``outputs`` item) is held by its round's sealed
        file: the seal entry lists it with the same sha256 and the sealed file is there with the
        recorded size (``verify``: and sha256, hashed once per sealed file and size)."""
        e = self.seal(round_)
        if e is None or e.get("tasks", {}).get(out["path"], {}).get("sha256") != out.get("sha256"):
            return False
        so = e["outputs"][0]
        p = self.layout.root / so["path"]
        if not p.is_file() or p.stat().st_size != so["bytes"]:
            return False
        if verify:
            cache = self.__dict__.setdefault("_sealed_ok", {})
            key = (str(p), so["bytes"])
            if key not in cache:
                cache[key] = file_digest(p)[1] == so["sha256"]
            return cache[key]
        return True

    def entries(self, round_: int | None = None) -> list[dict]:
        base = self.layout.root / "manifest"
        pat = (f"round={round_}/hand={self.layout.hand}/*.json" if round_ is not None
               else f"round=*/hand={self.layout.hand}/*.json")
        out = []
        for p in sorted(base.glob(pat)):
            try:
                out.append(json.loads(p.read_text()))
            except (OSError, json.JSONDecodeError):
                continue
        return out


# ---------------------------------------------------------------------- retired generators
RETIRED = "RETIRED.json"


def _retired(path: Path, sha256: str | None) -> bool:
    """Whether ``path`` was retired on purpose: its folder's RETIRED.json lists it with ``sha256``."""
    try:
        rec = json.loads((path.parent / RETIRED).read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return any(f.get("name") == path.name and f.get("sha256") == sha256 for f in rec.get("files", []))


def retire_generator(layout: Layout, manifest: Manifest, round_: int, rounds: int, task_ids: list[str]) -> int:
    """Delete the weights of round ``round_``'s generator when nothing of a build of ``rounds``
    rounds needs them any more: the next round's generator is trained (it was the init of its
    fine-tuning) and every grasp task of round ``round_`` (``task_ids``) is done (they sampled from
    it). Writes ``RETIRED.json`` (name, bytes, sha256 and the manifest's ``weights_sha256``) first, so the train
    task stays done (:meth:`Manifest.is_done`) and the records' ``generator_version`` stays traceable;
    ``model_card.yaml`` (its training log) stays. Returns the bytes freed (0: not retired).

    Why: ``data/`` is committed with a storage budget, and a 4.6 MB generator per round would
    spend it on files that the build never reads again (git history keeps them)."""
    if round_ < 1 or round_ + 1 >= rounds:
        return 0
    if not manifest.is_done(round_ + 1, train_task_id(round_ + 1)):
        return 0
    if not task_ids or not all(manifest.is_done(round_, t) for t in task_ids):
        return 0
    train = manifest.read(round_, train_task_id(round_))
    if train is None:
        return 0
    gdir = layout.root / layout.generator_rel(round_)
    weights = [o for o in train.get("outputs", []) if o["path"].endswith(".safetensors")]
    files = [o for o in weights if (layout.root / o["path"]).is_file()]
    if not files:
        return 0
    rec_path = gdir / RETIRED
    try:
        rec = json.loads(rec_path.read_text())
    except (OSError, json.JSONDecodeError):
        rec = {"files": []}
    rec["weights_sha256"] = train.get("weights_sha256")
    rec["why"] = (f"deleted once round {round_ + 1}'s generator was trained and round {round_}'s tasks were done "
                  f"(keep_generators: last); the build never reads it again")
    names = {f["name"] for f in rec["files"]}
    rec["files"] += [{"name": Path(o["path"]).name, "bytes": o["bytes"], "sha256": o["sha256"]}
                     for o in files if Path(o["path"]).name not in names]
    atomic_write_json(rec_path, rec)
    freed = 0
    for o in files:
        p = layout.root / o["path"]
        freed += p.stat().st_size
        p.unlink()
    return freed


# ---------------------------------------------------------------------- sealed rounds
def seal_round(layout: Layout, manifest: Manifest, round_: int, task_ids: list[str]) -> int:
    """Seal round ``round_`` (see module doc) once every task of ``task_ids`` is done: its task
    shards in one file, a seal entry, the task shards deleted. Idempotent: an already sealed
    round only has leftover task shards deleted. Returns the bytes of the task shards deleted (0:
    nothing to do, or not every task done yet).

    The sealed file holds the task shards' rows in task-id order, written with the current schema
    (a task shard of an older schema version is converted; its rows are otherwise unchanged)."""
    from .schema import GraspRecords, read_records

    seal = manifest.seal(round_)
    if seal is None:
        if not task_ids or not all(manifest.is_done(round_, t) for t in task_ids):
            return 0
        outs = []
        for t in sorted(task_ids):
            outs += [o for o in manifest.read(round_, t).get("outputs", []) if o["path"].endswith(".parquet")]
        if not outs or not all((layout.root / o["path"]).is_file() for o in outs):
            return 0
        parts = [(o, read_records(layout.root / o["path"])) for o in outs]
        rel = layout.sealed_rel(round_)
        size, digest = write_shard(GraspRecords.concat([r for _, r in parts]), layout.root / rel)
        seal = {"task_id": seal_task_id(round_), "stage": "seal", "round": round_, "hand": layout.hand,
                "rows": int(sum(len(r) for _, r in parts)),
                "outputs": [{"path": rel, "bytes": size, "sha256": digest}],
                "tasks": {o["path"]: {"bytes": o["bytes"], "sha256": o["sha256"], "rows": len(r)} for o, r in parts}}
        manifest.write(round_, seal["task_id"], seal)
    saved = 0
    for path in seal.get("tasks", {}):
        p = layout.root / path
        if p.is_file():
            saved += p.stat().st_size
            p.unlink()
    return saved
