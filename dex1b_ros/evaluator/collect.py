"""Collect the planner's own candidates, labelled on the TRUE object: ``dex1b collect-plans`` (no ROS).

The training data the learned grasp evaluator needs to rank the NODE's grasps: for each training
object (default: the objects of the dataset ``data/leap``, i.e. the 310 training-split objects of
``config/dataset/leap.yaml``; validation, test and held-out objects are refused) and ``--views``
seeded camera views, exactly what ``dex1b bench plan-quality`` does for one plan
(:func:`dex1b_ros.planner.bench_quality.view_scene`: one simulated single view on a table, the
table plane given to the planner), planned with :class:`~dex1b_ros.planner.pipeline.GraspPipeline`
at the node's settings (``config/grasp_planner.yaml``) except ``validation.num_validate: 0`` (no
MuJoCo check on the guessed object), ``ranking.evaluator: ''`` (energy order) and
``ranking.top_k = --top-k``: the first ``--top-k``
candidates in the planner's order (energy-filter accepted first, then lowest energy: what the
node's check and ranking choose from; rank 0 is the grasp ``plan`` would return first). Every one
of them is then simulated on the TRUE object
(:func:`~dex1b_ros.planner.bench_quality.true_verdicts`: six-direction free-space test and tabletop
lift).

Output: one Parquet shard (zstd) per object, ``<out>/plans-<object>.parquet``, written atomically;
objects that have rows there are skipped (resumable, append-only); ``--compact N`` merges the
object shards into chunks of N objects (``plans-chunk-NNN.parquet``, the same rows, less footer).
One row per candidate: object_id,
view, view_seed, rank, wrist ``trans`` (3) / ``quat`` (4, wxyz) and ``pregrasp`` / ``grasp`` /
``squeeze`` joints (object = planning frame, m, rad), the refinement's energy terms, contact
distance and penetration, ``accepted`` (energy filter), ``held`` / ``lifted`` (the labels), the
support plane, and on the rank-0 row of each view the planner's prepared single-view cloud
(``cloud_points`` / ``cloud_normals``: ``--cloud-points`` points of it drawn with the view seed,
flat float16 lists; null on the other rows): the cloud the evaluator reads at plan time. The camera parameters and the
generator's sha256 are in the shard's metadata (``dex1b_collect`` key, JSON).

    dex1b collect-plans --hand leap --views 4 --top-k 12 --out data/leap_plans
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

COLLECT_VERSION = "dex1b-plan-candidates/1"
FORBIDDEN_SETS = ("val", "test", "heldout")


def plan_view_seed(object_id: str, view: int) -> int:
    """The camera seed of view ``view`` of ``object_id`` (stable across runs and machines)."""
    return int.from_bytes(hashlib.sha256(f"dex1b-plan-view:{object_id}/{view}".encode()).digest()[:4], "little")


def shard_name(object_id: str) -> str:
    return "plans-" + re.sub(r"[^A-Za-z0-9_.-]", "_", object_id) + ".parquet"


def dataset_objects(data: str | Path = "data/leap") -> list[str]:
    """The object ids of a grasp dataset's shards (sorted)."""
    import pyarrow.parquet as pq
    ids: set[str] = set()
    for s in sorted(Path(data).rglob("*.parquet")):
        ids.update(pq.read_table(s, columns=["object_id"]).column("object_id").to_pylist())
    return sorted(ids)


def forbidden_objects() -> set[str]:
    """Every object of the val and test splits and of the held-out set (never collected on)."""
    from ..objects.splits import load_object_set, load_split
    out: set[str] = set()
    for name in FORBIDDEN_SETS:
        out.update(load_object_set(name) if name == "heldout" else load_split(name))
    return out


def make_pipeline(hand: str, top_k: int, overrides: dict | None = None):
    """A GraspPipeline at the node's settings, no MuJoCo check, ``top_k`` candidates returned, ranked
    by energy (``ranking.evaluator: ''``: the data an evaluator learns from must not depend on an
    evaluator, and the committed shards were collected in energy order)."""
    from ..planner.config import load_planner_config, planner_config
    from ..planner.pipeline import GraspPipeline
    d = load_planner_config()
    over = {"hand": hand, "validation.num_validate": 0, "ranking.top_k": int(top_k), "ranking.evaluator": "",
            **(overrides or {})}
    return GraspPipeline(config=planner_config(over, d))


def plan_candidates(pipe, points, normals, plane):
    """What ``pipe.plan(points, normals, support_plane=plane)`` computes, step by step, kept:
    (prepared cloud, GraspSet of every candidate, candidate indices in the planner's order
    (``ranking.top_k`` of them; ``plan`` returns them in this order when nothing is checked)).
    Raises the planner's PlanFailed when the plan would fail."""
    from ..planner.pipeline import _Run
    cfg = pipe.config
    run = _Run.new(cfg)
    cloud = pipe.preprocess(run, points, normals, plane)
    prep = pipe.prepare(run, cloud)
    pose = pipe.sample(run, prep)
    gs, _ = pipe.refine(run, prep, pose)
    cand = pipe.rank(run, gs, 0, prep)[:cfg.ranking.top_k]
    return prep, gs, np.asarray(cand)


def collect_object(pipe, object_id: str, views: int, cloud_points: int = 256, progress=None,
                   first_view: int = 0) -> tuple[list[dict], dict]:
    """The candidate rows of ``views`` views (numbers ``first_view`` ...) of one object and a
    per-object summary."""
    from ..objects import load_object
    from ..planner.bench_quality import true_verdicts, view_scene
    from ..planner.pipeline import PlanFailed
    from ..validate import GraspValidator

    hand = pipe.hand_name
    mesh = load_object(object_id).mesh
    rows: list[dict] = []
    info = {"object_id": object_id, "views": [], "plan_s": 0.0, "sim_s": 0.0}
    with GraspValidator(pipe.hand.cfg, mesh) as truth:
        for v in range(first_view, first_view + views):
            seed = plan_view_seed(object_id, v)
            p, n, plane = view_scene(mesh, hand, seed)
            t = time.perf_counter()
            try:
                prep, gs, cand = plan_candidates(pipe, p, n, plane)
            except PlanFailed as e:
                info["views"].append({"view": v, "view_seed": seed, "planned": False, "message": str(e)})
                if progress:
                    progress()
                continue
            tp = time.perf_counter() - t
            t = time.perf_counter()
            held, lifted = true_verdicts(truth, gs.trans[cand], gs.quat[cand], gs.pregrasp[cand], gs.grasp[cand],
                                         gs.squeeze[cand])
            ts = time.perf_counter() - t
            info["plan_s"] += tp
            info["sim_s"] += ts
            info["views"].append({"view": v, "view_seed": seed, "planned": True, "candidates": len(cand),
                                  "held": int(held.sum()), "lifted": int(lifted.sum()),
                                  "plan_s": round(tp, 3), "sim_s": round(ts, 3)})
            rng = np.random.default_rng(seed)
            sel = rng.choice(len(prep.points), min(cloud_points, len(prep.points)), replace=False)
            for r, i in enumerate(cand):
                row = {"object_id": object_id, "view": v, "view_seed": seed, "rank": r, "candidate": int(i),
                       "trans": gs.trans[i].astype(np.float32), "quat": gs.quat[i].astype(np.float32),
                       "pregrasp": gs.pregrasp[i].astype(np.float32), "grasp": gs.grasp[i].astype(np.float32),
                       "squeeze": gs.squeeze[i].astype(np.float32),
                       **{f"energy_{k}": float(e[i]) for k, e in sorted(gs.energy.items())},
                       "contact_distance_mm": float(gs.contact_distance[i] * 1e3),
                       "penetration_mm": float(gs.penetration[i] * 1e3), "accepted": bool(gs.accepted[i]),
                       "held": bool(held[r]), "lifted": bool(lifted[r]),
                       "support_plane": np.asarray(plane, np.float32), "partial": bool(prep.partial),
                       "prep_points": int(len(prep.points)),
                       "cloud_points": (np.asarray(prep.points, np.float32)[sel].ravel() if r == 0 else None),
                       "cloud_normals": (np.asarray(prep.normals, np.float32)[sel].ravel() if r == 0 else None)}
                rows.append(row)
            if progress:
                progress()
    return rows, info


def relabel_rows(hand, rows: list[dict], truth) -> tuple[list[dict], dict]:
    """The candidate ``rows`` of one object's shard re-simulated with the pregrasp the planner opens
    now (``refinement.pregrasp_above_table``: no wider than keeps the hand above the table, per row's
    ``support_plane``; :func:`~dex1b_ros.optim.optimizer.grasp_postures`) on the TRUE object
    (``truth``: its GraspValidator). Grasp, squeeze, cloud and every other column are kept;
    ``pregrasp``, ``held`` and ``lifted`` are replaced, the old labels kept as ``held_v1`` /
    ``lifted_v1``. Returns (rows, summary)."""
    import torch

    from ..hands import HandPose
    from ..optim.optimizer import grasp_postures
    from ..planner.bench_quality import true_verdicts
    from ..rotation import matrix_to_rot6d, quat_to_matrix

    if not rows:
        return [], {"candidates": 0}
    f = lambda k: np.stack([np.asarray(r[k], np.float64) for r in rows])  # noqa: E731
    trans, quat, grasp, squeeze, plane = f("trans"), f("quat"), f("grasp"), f("squeeze"), f("support_plane")
    t = lambda x: torch.as_tensor(x, dtype=torch.float32)  # noqa: E731
    pose = HandPose(t(trans), matrix_to_rot6d(quat_to_matrix(t(quat))), t(grasp))
    pregrasp = grasp_postures(hand, pose, t(plane))[0].numpy().astype(np.float64)
    t0 = time.perf_counter()
    held, lifted = true_verdicts(truth, trans, quat, pregrasp, grasp, squeeze)
    out = []
    for r, pg, h, li in zip(rows, pregrasp, held, lifted):
        out.append({**r, "pregrasp": pg.astype(np.float32), "held": bool(h), "lifted": bool(li),
                    "held_v1": bool(r["held"]), "lifted_v1": bool(r["lifted"])})
    changed = float((np.abs(pregrasp - f("pregrasp")).max(1) > 1e-4).mean())
    return out, {"candidates": len(rows), "pregrasp_changed": round(changed, 4), "held": int(held.sum()),
                 "lifted": int(lifted.sum()), "held_v1": int(sum(r["held"] for r in rows)),
                 "lifted_v1": int(sum(r["lifted"] for r in rows)), "sim_s": round(time.perf_counter() - t0, 2)}


def relabel(src: Path, out: Path, hand_name: str, quiet: bool = False, max_objects: int | None = None) -> int:
    """``dex1b collect-plans --relabel SRC --out OUT``: every object of the shards in ``src``, relabelled
    (:func:`relabel_rows`), one shard per object in ``out`` (resumable: objects with rows there are
    skipped). The source shards are only read (append-only data)."""
    import pyarrow.parquet as pq
    from tqdm import tqdm

    from ..hands import load_hand
    from ..objects import load_object
    from ..validate import GraspValidator

    shards = sorted(Path(src).glob("plans-*.parquet"))
    if not shards:
        raise FileNotFoundError(f"--relabel {src}: no plans-*.parquet shards there")
    hand = load_hand(hand_name)
    done = done_objects(out) if Path(out).is_dir() else set()
    infos = [(s, i) for s in shards for i in shard_objects(s)]
    todo = [(s, i) for s, i in infos if i["object_id"] not in done]
    print(f"# relabel {src} -> {out}: {len(infos)} objects ({len(infos) - len(todo)} done"
          + (f", at most {max_objects} now" if max_objects is not None else "")
          + f"), pregrasp above the table, true object; {hand_name}", flush=True)
    todo = todo[:max_objects]
    shard, by_object, meta = None, {}, {}
    bar = tqdm(todo, unit="object", desc="relabel", disable=quiet)
    for s, info in bar:
        if s != shard:   # one source shard in memory at a time, its rows grouped by object once
            shard, by_object = s, {}
            for r in pq.read_table(s).to_pylist():
                by_object.setdefault(r["object_id"], []).append(r)
            meta = json.loads(pq.read_schema(s).metadata[b"dex1b_collect"])
        oid = info["object_id"]
        rows = by_object.get(oid, [])
        if meta.get("hand", hand_name) != hand_name:
            raise ValueError(f"--relabel {s}: shards of hand {meta.get('hand')!r}, not {hand_name!r}")
        with GraspValidator(hand.cfg, load_object(oid).mesh) as truth:
            new, summ = relabel_rows(hand, rows, truth)
        m = {k: v for k, v in meta.items() if k not in ("object", "objects")}
        m["relabel"] = {"source": str(src), "pregrasp": "above_table (refinement.pregrasp_above_table)"}
        write_shard(new, {**m, "object": {**info, "relabel": summ}}, Path(out) / shard_name(oid))   # kept by --compact
        bar.set_postfix_str(f"{oid}: lifted {summ['lifted_v1']} -> {summ['lifted']}, held {summ['held_v1']} -> "
                            f"{summ['held']}")
    bar.close()
    return 0


def write_shard(rows: list[dict], meta: dict, path: Path) -> Path:
    """Rows -> one zstd Parquet file (atomic: temp file + rename); ``meta`` as JSON in the schema metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    path.parent.mkdir(parents=True, exist_ok=True)
    cols: dict[str, list] = {}
    keys = list(rows[0]) if rows else []
    for k in keys:
        cols[k] = [r[k] for r in rows]
    arrays = {}
    for k, v in cols.items():
        if k.startswith("cloud_"):   # float16: 0.1 mm at 0.2 m, half the size
            arrays[k] = pa.array([None if x is None else np.asarray(x, np.float16) for x in v],
                                 type=pa.list_(pa.float16()))
        elif isinstance(v[0], (np.ndarray, list)):
            arrays[k] = pa.array([np.asarray(x, np.float32) for x in v], type=pa.list_(pa.float32()))
        else:
            arrays[k] = pa.array(v)
    table = pa.table(arrays) if arrays else pa.table({"object_id": pa.array([], pa.string())})
    table = table.replace_schema_metadata({"dex1b_collect": json.dumps(meta)})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd", compression_level=9)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_plans(paths) -> "pa.Table":  # noqa: F821 - pyarrow imported lazily
    """Every candidate row of plan shards (a folder, searched for ``plans-*.parquet``, or a list)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    if isinstance(paths, (str, Path)):
        p = Path(paths)
        paths = sorted(p.rglob("plans-*.parquet")) if p.is_dir() else [p]
    tables = [pq.read_table(p) for p in paths]
    tables = [t for t in tables if t.num_rows]
    if not tables:
        raise FileNotFoundError("read_plans: no candidate rows")
    return pa.concat_tables(tables, promote_options="default")


def check_folder(folder: Path) -> Path:
    """Where the node-check labels of a collect-plans folder live: ``<folder>_check``
    (``scripts/plan_check_labels.py``: did the node's own MuJoCo check on its guess pass each stored candidate)."""
    folder = Path(folder)
    return folder.with_name(folder.name + "_check")


def read_plans_checked(folders) -> "pa.Table":  # noqa: F821 - pyarrow imported lazily
    """Every candidate row of the collect-plans ``folders`` with a ``check_passed`` (bool) column: each
    folder's rows joined with its own check labels (:func:`check_folder`, ``checks-*.parquet``) on
    (object_id, view, rank) before the folders are concatenated (folders share those keys). A folder
    without labels, or a row without one, raises naming the folder."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    out = []
    for folder in folders:
        folder = Path(folder)
        t = read_plans(folder)
        cdir = check_folder(folder)
        shards = sorted(cdir.glob("checks-*.parquet"))
        if not shards:
            raise FileNotFoundError(f"{folder}: no check labels in {cdir}/checks-*.parquet "
                                    "(make them with scripts/plan_check_labels.py)")
        c = pa.concat_tables([pq.read_table(s, columns=["object_id", "view", "rank", "check_passed"])
                              for s in shards])
        label = {(o, int(v), int(r)): bool(p) for o, v, r, p in zip(
            c.column("object_id").to_pylist(), c.column("view").to_pylist(), c.column("rank").to_pylist(),
            c.column("check_passed").to_pylist())}
        keys = zip(t.column("object_id").to_pylist(), t.column("view").to_pylist(), t.column("rank").to_pylist())
        passed = [label.get((o, int(v), int(r))) for o, v, r in keys]
        missing = sum(p is None for p in passed)
        if missing:
            raise ValueError(f"{folder}: {missing} of {len(passed)} candidates have no check label in {cdir}")
        if "check_passed" in t.column_names:
            t = t.drop_columns(["check_passed"])
        out.append(t.append_column("check_passed", pa.array(passed, pa.bool_())))
    if not out:
        raise FileNotFoundError("read_plans_checked: no folders")
    return pa.concat_tables(out, promote_options="default")


def shard_objects(path: Path) -> list[dict]:
    """The per-object info of a shard (one for an object's shard, several for a compacted chunk)."""
    import pyarrow.parquet as pq
    m = json.loads(pq.read_schema(path).metadata[b"dex1b_collect"])
    return m["objects"] if "objects" in m else [m["object"]]


def done_objects(out: Path) -> set[str]:
    """Objects that have rows in ``out`` (their own shard or a compacted chunk)."""
    return {i["object_id"] for s in sorted(Path(out).glob("plans-*.parquet")) for i in shard_objects(s)}


def compact(out: Path, per_chunk: int) -> list[Path]:
    """Merge the per-object shards of ``out`` into chunks of ``per_chunk`` objects
    (``plans-chunk-NNN.parquet``, numbered after the chunks already there; the object shards are
    removed once their chunk is written): fewer Parquet footers, the same rows."""
    import pyarrow.parquet as pq
    singles = [s for s in sorted(Path(out).glob("plans-*.parquet")) if not s.name.startswith("plans-chunk-")]
    k0 = len(list(Path(out).glob("plans-chunk-*.parquet")))
    written = []
    for c in range(0, len(singles), per_chunk):
        part = singles[c:c + per_chunk]
        metas = [json.loads(pq.read_schema(s).metadata[b"dex1b_collect"]) for s in part]
        table = read_plans(part)
        meta = {k: v for k, v in metas[0].items() if k != "object"}
        meta["objects"] = [m["object"] for m in metas]
        path = Path(out) / f"plans-chunk-{k0 + c // per_chunk:03d}.parquet"
        rows = table.to_pylist()
        write_shard(rows, meta, path)
        for s in part:
            s.unlink()
        written.append(path)
    return written


def generator_sha256(hand: str) -> str | None:
    import yaml

    from ..planner.pipeline import shipped_model
    card = Path(shipped_model(hand)).with_name("model_card.yaml")
    return (yaml.safe_load(card.read_text()) or {}).get("sha256") if card.is_file() else None


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="dex1b collect-plans", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hand", default="leap", help="hand name (default leap)")
    ap.add_argument("--objects", default="data/leap",
                    help="a grasp dataset folder (its objects; default data/leap = the 310 training objects) or "
                         "comma-separated object ids; val / test / held-out objects are refused")
    ap.add_argument("--max-objects", type=int, default=None,
                    help="a deterministic spread of at most this many of them (dex1b_ros.eval.objects.spread)")
    ap.add_argument("--order", choices=("hashed", "sorted"), default="hashed",
                    help="collection order: hashed (sha256 of the id: a partial run is a random-like subset) or sorted")
    ap.add_argument("--views", type=int, default=4, help="camera views per object (seeds from the object id)")
    ap.add_argument("--first-view", type=int, default=0,
                    help="number of the first view (views first-view ... first-view + views - 1: new camera views "
                         "of objects another collection saw with views 0 ...)")
    ap.add_argument("--top-k", type=int, default=12, help="candidates kept and simulated per plan (planner order)")
    ap.add_argument("--cloud-points", type=int, default=256,
                    help="points of the planner's prepared cloud stored per view (rank-0 row)")
    ap.add_argument("--out", type=Path, default=Path("data/leap_plans"), help="shard folder")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a planner setting (PlannerConfig dotted name, YAML value); repeatable")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    ap.add_argument("--compact", type=int, default=0, metavar="N",
                    help="collect nothing: merge the per-object shards in --out into chunks of N objects "
                         "(plans-chunk-NNN.parquet; fewer Parquet footers, the same rows)")
    ap.add_argument("--relabel", type=Path, default=None, metavar="SRC",
                    help="collect nothing: re-simulate the candidates of the shards in SRC with the pregrasp the "
                         "planner opens now (above the table) on the true object, into --out (one shard per object, "
                         "resumable; old labels kept as held_v1 / lifted_v1)")
    ap.add_argument("--summary", action="store_true",
                    help="collect nothing: print the counts and success rates of the shards in --out (for CARD.md)")
    return ap


def summary(out: Path) -> str:
    """Counts and success rates of the shards in ``out`` (the numbers of its CARD.md)."""
    import pyarrow.parquet as pq
    shards = sorted(Path(out).glob("plans-*.parquet"))
    t = read_plans(shards)
    held = np.asarray(t.column("held").to_pylist(), bool)
    lifted = np.asarray(t.column("lifted").to_pylist(), bool)
    rank = np.asarray(t.column("rank").to_pylist())
    acc = np.asarray(t.column("accepted").to_pylist(), bool)
    views = planned = 0
    sha = set()
    for s in shards:
        sha.add(json.loads(pq.read_schema(s).metadata[b"dex1b_collect"]).get("generator_sha256"))
        for o in shard_objects(s):
            views += len(o["views"])
            planned += sum(v["planned"] for v in o["views"])
    keys = [f"{o}/{v}" for o, v in zip(t.column("object_id").to_pylist(), t.column("view").to_pylist())]
    any_held = len({k for k, h in zip(keys, held) if h})
    size = sum(s.stat().st_size for s in shards)
    f = rank == 0

    def pct(k, n):
        return f"{k}/{n} = {k / max(n, 1):.1%}"
    return "\n".join([
        f"shards: {len(shards)} ({size / 1e6:.1f} MB), objects {len(set(t.column('object_id').to_pylist()))}, "
        f"views {views}, planned {planned}, candidate rows {t.num_rows}",
        f"generator sha256: {', '.join(sorted(str(x) for x in sha))}",
        f"all candidates: held {pct(int(held.sum()), len(held))}, lifted {pct(int(lifted.sum()), len(held))}, "
        f"energy-filter accepted {pct(int(acc.sum()), len(held))}",
        f"first candidate (rank 0): held {pct(int(held[f].sum()), int(f.sum()))}, lifted "
        f"{pct(int(lifted[f].sum()), int(f.sum()))}",
        f"plans with some candidate held: {pct(any_held, planned)}",
        "held by rank: " + ", ".join(f"{r}: {held[rank == r].mean():.0%}" for r in np.unique(rank))])


def main(argv=None) -> int:
    import torch
    import yaml
    from tqdm import tqdm

    from ..eval.objects import spread
    ap = build_parser()
    a = ap.parse_args(list(sys.argv[1:] if argv is None else argv))
    torch.set_num_threads(a.threads)
    if a.summary:
        print(summary(a.out))
        return 0
    if a.relabel is not None:
        if a.relabel.resolve() == a.out.resolve():
            ap.error("--relabel SRC: --out must be another folder (the source shards are never rewritten)")
        try:
            return relabel(a.relabel, a.out, a.hand, quiet=a.quiet, max_objects=a.max_objects)
        except (FileNotFoundError, ValueError) as e:
            ap.error(str(e))
    if a.compact:
        for p in compact(a.out, a.compact):
            print(f"wrote {p}")
        return 0
    if Path(a.objects).is_dir():
        ids = dataset_objects(a.objects)
    else:
        ids = [s.strip() for s in a.objects.split(",") if s.strip()]
    bad = sorted(set(ids) & forbidden_objects())
    if bad:
        ap.error(f"--objects: {len(bad)} validation / test / held-out objects, refused: {', '.join(bad[:5])}")
    ids = spread(ids, a.max_objects)
    if a.first_view < 0:
        ap.error(f"--first-view: must be >= 0, got {a.first_view}")
    if a.order == "hashed":
        ids = sorted(ids, key=lambda o: hashlib.sha256(f"dex1b-collect-order:{o}".encode()).hexdigest())
    over = {}
    for kv in a.overrides:
        key, sep, val = kv.partition("=")
        if not sep:
            ap.error(f"--set {kv!r}: expected KEY=VALUE")
        over[key.strip()] = yaml.safe_load(val)
    pipe = make_pipeline(a.hand, a.top_k, over)
    from ..eval.config import EvalConfig
    ec = EvalConfig(hand=a.hand)
    meta = {"format": COLLECT_VERSION, "hand": a.hand, "views": a.views, "first_view": a.first_view, "top_k": a.top_k,
            "generator_sha256": generator_sha256(a.hand), "generator": pipe.mode,
            "planner_overrides": {"validation.num_validate": 0, "ranking.top_k": a.top_k, **over},
            "camera": {"kind": "partial", "cloud_points": ec.cloud_points,
                       "partial_distance": ec.partial_distance,
                       "partial_elevation_deg": list(ec.partial_elevation_deg), "partial_noise": ec.partial_noise,
                       "seed": "plan_view_seed(object_id, view) (dex1b_ros.evaluator.collect)"},
            "cloud_points_stored": a.cloud_points}
    ev_path = pipe.evaluator_path(pipe.config.ranking.evaluator)
    if ev_path:   # ranked by an evaluator (--set ranking.evaluator=auto): the rows depend on it
        from .io import read_card
        meta["evaluator"] = {"path": str(ev_path), "sha256": read_card(ev_path)[1].get("sha256")}
    done = done_objects(a.out) if a.out.is_dir() else set()
    todo = [o for o in ids if o not in done]
    print(f"# collect-plans: {len(ids)} objects ({len(ids) - len(todo)} done), {a.views} views, top {a.top_k} "
          f"candidates each; generator sha256 {meta['generator_sha256']}; out {a.out}", flush=True)
    bar = tqdm(total=len(todo) * a.views, unit="view", desc="collect-plans", disable=a.quiet, mininterval=5)
    t0 = time.perf_counter()
    nv = 0
    for o in todo:
        rows, info = collect_object(pipe, o, a.views, a.cloud_points, progress=bar.update, first_view=a.first_view)
        write_shard(rows, {**meta, "object": info}, a.out / shard_name(o))
        nv += a.views
        held = sum(r["held"] for r in rows)
        first = [r for r in rows if r["rank"] == 0]
        bar.write(f"{o}: {len(rows)} candidates, held {held}, lifted {sum(r['lifted'] for r in rows)}; first grasp "
                  f"held {sum(r['held'] for r in first)}/{len(first)}; plan {info['plan_s']:.1f} s, sim "
                  f"{info['sim_s']:.1f} s; {(time.perf_counter() - t0) / nv:.1f} s/view")
    bar.close()
    return 0


__all__ = ["COLLECT_VERSION", "check_folder", "collect_object", "compact", "dataset_objects", "done_objects",
           "forbidden_objects", "main", "make_pipeline", "plan_candidates", "plan_view_seed", "read_plans",
           "read_plans_checked", "relabel", "relabel_rows", "shard_name", "summary", "write_shard"]

if __name__ == "__main__":
    sys.exit(main())
