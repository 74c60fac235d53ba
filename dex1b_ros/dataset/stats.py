"""DuckDB queries over a build's shards and manifest (no ROS).

Only shards listed in the manifest are read (never a half-written or orphan file). Every
function takes the build folder's :class:`~dex1b_ros.dataset.store.Layout`.

* :func:`type_counts`: valid grasps kept per (object, type), rounds < R (the rebalancing input).
* :func:`voxel_counts`: the same per associated-point voxel (``floor(x / voxel)``, float64).
* :func:`round_table`: per round: tasks, proposed, pre-filtered, validated, valid, kept,
  success rate (valid / validated), from the manifest (``read_json``) joined with the rows
  actually in the shards (``read_parquet``).
* :func:`types_per_round`: per round and type: valid before the cap (manifest) and kept after
  it (shards), with the entropy of each histogram.
* :func:`penetration`: validator penetration (mm) of the stored grasps, with their verdict.
"""
from __future__ import annotations

from collections import defaultdict

import duckdb

from .grasp_types import type_entropy
from .store import Layout, Manifest


def _con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET threads TO 1")
    return con


def shard_paths(layout: Layout, rounds=None) -> list[str]:
    """Absolute paths of the shards of completed grasp tasks (optionally only ``rounds``); for a
    sealed round (``store.seal_round``) its one sealed file instead of its task shards."""
    entries = Manifest(layout).entries()
    sealed = {e["round"]: e for e in entries if e.get("stage") == "seal"}
    out = [str(layout.root / e["outputs"][0]["path"]) for r, e in sealed.items() if rounds is None or r in rounds]
    for e in entries:
        if e.get("stage") in ("seed", "generate") and (rounds is None or e["round"] in rounds) \
                and e["round"] not in sealed:
            out += [str(layout.root / o["path"]) for o in e["outputs"]]
    return sorted(out)


def _lit(paths: list[str]) -> str:
    """A DuckDB list literal of file names."""
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def _scan(paths: list[str]) -> str:
    return f"read_parquet({_lit(paths)}, hive_partitioning = false)"


def type_counts(layout: Layout, before_round: int) -> dict[str, dict[str, int]]:
    """{object_id: {type: count}} of valid stored grasps of rounds < ``before_round``."""
    paths = shard_paths(layout, range(before_round))
    out: dict[str, dict[str, int]] = defaultdict(dict)
    if not paths:
        return {}
    rows = _con().execute(f"""SELECT object_id::VARCHAR, grasp_type, count(*) FROM {_scan(paths)}
                              WHERE success GROUP BY ALL ORDER BY ALL""").fetchall()
    for o, t, n in rows:
        out[o][t] = int(n)
    return dict(out)


def voxel_counts(layout: Layout, before_round: int, voxel: float) -> dict[str, list[tuple]]:
    """{object_id: [(i, j, k, type, count), ...]} of valid stored grasps of rounds < ``before_round``."""
    paths = shard_paths(layout, range(before_round))
    out: dict[str, list[tuple]] = defaultdict(list)
    if not paths:
        return {}
    q = f"""SELECT object_id::VARCHAR,
                   floor(assoc_point[1]::DOUBLE / $v)::BIGINT AS i,
                   floor(assoc_point[2]::DOUBLE / $v)::BIGINT AS j,
                   floor(assoc_point[3]::DOUBLE / $v)::BIGINT AS k,
                   grasp_type, count(*)
            FROM {_scan(paths)} WHERE success AND isfinite(assoc_point[1]) GROUP BY ALL ORDER BY ALL"""
    for o, i, j, k, t, n in _con().execute(q, {"v": float(voxel)}).fetchall():
        out[o].append((int(i), int(j), int(k), t, int(n)))
    return dict(out)


_MANIFEST_COLS = {"task_id": "VARCHAR", "stage": "VARCHAR", "round": "INTEGER", "proposed": "BIGINT",
                  "prefiltered": "BIGINT", "validated": "BIGINT", "valid": "BIGINT", "kept": "BIGINT",
                  "rows": "BIGINT"}


def round_table(layout: Layout) -> list[dict]:
    """One dict per round with the counts of the module doc (grasp tasks only)."""
    files = sorted(str(p) for p in (layout.root / "manifest").glob(f"round=*/hand={layout.hand}/r*-c*.json"))
    if not files:
        return []
    con = _con()
    cols = "{" + ", ".join(f"'{k}': '{v}'" for k, v in _MANIFEST_COLS.items()) + "}"
    m = f"read_json({_lit(files)}, columns = {cols}, format = 'auto')"
    paths = shard_paths(layout)
    stored = (f"(SELECT round::INTEGER AS round, count(*) AS stored, count(*) FILTER (WHERE success) AS stored_valid "
              f"FROM {_scan(paths)} GROUP BY ALL)") if paths else \
        "(SELECT NULL::INTEGER AS round, 0 AS stored, 0 AS stored_valid WHERE false)"
    q = f"""WITH m AS (SELECT round, count(*) AS tasks, sum(proposed) AS proposed, sum(prefiltered) AS prefiltered,
                              sum(validated) AS validated, sum(valid) AS valid, sum(kept) AS kept
                       FROM {m} GROUP BY round)
            SELECT m.*, coalesce(s.stored, 0) AS stored, coalesce(s.stored_valid, 0) AS stored_valid,
                   CASE WHEN m.validated > 0 THEN m.valid / m.validated END AS success_rate,
                   CASE WHEN m.proposed > 0 THEN m.valid / m.proposed END AS valid_per_proposed
            FROM m LEFT JOIN {stored} s USING (round) ORDER BY round"""
    cur = con.execute(q)
    names = [d[0] for d in cur.description]
    return [{k: (float(v) if isinstance(v, float) else (int(v) if v is not None and k != "success_rate" else v))
             for k, v in zip(names, row)} for row in cur.fetchall()]


def types_per_round(layout: Layout) -> list[dict]:
    """Per round: ``before`` (valid, manifest) and ``after`` (kept, shards) type histograms,
    their entropies (bits) and the number of distinct types."""
    before: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for e in Manifest(layout).entries():
        if e.get("stage") in ("seed", "generate"):
            for t, n in e.get("types_valid", {}).items():
                before[e["round"]][t] += n
    after: dict[int, dict[str, int]] = defaultdict(dict)
    paths = shard_paths(layout)
    if paths:
        for r, t, n in _con().execute(f"SELECT round::INTEGER, grasp_type, count(*) FROM {_scan(paths)} "
                                      f"WHERE success GROUP BY ALL ORDER BY ALL").fetchall():
            after[int(r)][t] = int(n)
    out = []
    for r in sorted(set(before) | set(after)):
        b, a = dict(before.get(r, {})), dict(after.get(r, {}))
        out.append({"round": r, "before": b, "after": a, "entropy_before": type_entropy(b),
                    "entropy_after": type_entropy(a), "types_before": len(b), "types_after": len(a),
                    "valid_before": sum(b.values()), "kept_after": sum(a.values())})
    return out


def penetration(layout: Layout) -> list[tuple[int, bool, float]]:
    """(round, success, penetration_mm) of every stored, validated grasp."""
    paths = shard_paths(layout)
    if not paths:
        return []
    return [(int(r), bool(s), float(p)) for r, s, p in _con().execute(
        f"SELECT round::INTEGER, success, penetration_mm FROM {_scan(paths)} WHERE success IS NOT NULL "
        f"ORDER BY ALL").fetchall()]


def contacts_after_squeeze(layout: Layout) -> list[dict]:
    """Per round, the simulated grasps (stored rows with a verdict) by their hand-object MuJoCo
    contacts at the end of the squeeze (``n_contacts``): ``lost`` = 0 (the squeeze pushed the free
    object out of the hand), ``few`` = 1-2, ``held`` = 3 or more; each with how many passed."""
    paths = shard_paths(layout)
    if not paths:
        return []
    q = f"""SELECT round::INTEGER AS round,
                   count(*) FILTER (WHERE n_contacts <= 0) AS lost,
                   count(*) FILTER (WHERE n_contacts <= 0 AND success) AS lost_valid,
                   count(*) FILTER (WHERE n_contacts BETWEEN 1 AND 2) AS few,
                   count(*) FILTER (WHERE n_contacts BETWEEN 1 AND 2 AND success) AS few_valid,
                   count(*) FILTER (WHERE n_contacts >= 3) AS held,
                   count(*) FILTER (WHERE n_contacts >= 3 AND success) AS held_valid
            FROM {_scan(paths)} WHERE success IS NOT NULL GROUP BY ALL ORDER BY round"""
    cur = _con().execute(q)
    names = [d[0] for d in cur.description]
    return [{k: int(v) for k, v in zip(names, row)} for row in cur.fetchall()]
