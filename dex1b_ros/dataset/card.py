"""The dataset card of a build: ``python -m dex1b_ros.dataset.card --config config/dataset/<name>.yaml``.

Writes ``<out>/CARD.md`` from what the build folder holds (manifest + shards, via DuckDB;
nothing is recomputed): objects, counts and success per round, free-space and tabletop-lift
labels, why grasps failed, grasp types and their entropy before/after rebalancing, measured
throughput per stage, how to rebuild, and DuckDB queries for the usual questions. Re-run it
whenever shards were added (the card is the one file under ``data/`` that is rewritten).
"""
from __future__ import annotations

import argparse
import json
import subprocess
from collections import Counter, defaultdict
from pathlib import Path

from ..config_utils import load_yaml
from .config import BuildConfig
from .stats import _con, _scan, contacts_after_squeeze, round_table, shard_paths, types_per_round
from .store import Layout, Manifest

QUERIES = """\
```sql
-- (duckdb; run from the repository root) every shard of the LEAP build
CREATE VIEW g AS SELECT * FROM read_parquet('data/leap/grasps/*/*/*.parquet', hive_partitioning = false);
-- success (free space, six directions) and tabletop lift per round
SELECT round, count(*) n, avg(success::INT) free_space, avg(lift_success::INT) lift
FROM g WHERE success IS NOT NULL GROUP BY round ORDER BY round;
-- why grasps failed
SELECT failure, count(*) FROM g WHERE NOT coalesce(success, false) GROUP BY ALL ORDER BY 2 DESC;
-- the objects with the fewest valid grasps (where the next round should sample)
SELECT object_id, count(*) FILTER (WHERE success) valid, count(*) n FROM g GROUP BY ALL ORDER BY valid LIMIT 20;
-- grasp types of the valid grasps
SELECT grasp_type, count(*) FROM g WHERE success GROUP BY ALL ORDER BY 2 DESC;
-- training pairs for a learned evaluator: every simulated grasp with both labels
SELECT object_id, trans, quat, grasp, squeeze, success, lift_success, stable_pose FROM g WHERE success IS NOT NULL;
```
"""


def _git_head() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def card_text(cfg: BuildConfig, config_path: str) -> str:
    layout = Layout(Path(cfg.out), cfg.hand)
    entries = [e for e in Manifest(layout).entries() if e.get("stage") in ("seed", "generate")]
    objects = cfg.objects.resolve()
    done_objects = sorted({e["object_id"] for e in entries})
    kinds = Counter(o.split(":")[1] if o.startswith("proc:") else "ycb" for o in objects)
    lines = [f"# Dataset card: `{cfg.name}` ({cfg.hand})", "",
             f"Made by `dex1b dataset build --config {config_path}` "
             "(this card: `python -m dex1b_ros.dataset.card --config "
             f"{config_path}`, code at {_git_head()}). Build content hash `{cfg.content_hash()}`: a build "
             "resumes from the shards and manifest entries under this folder, on any machine, and only "
             "runs the tasks that are missing.", "",
             "## Objects", "",
             f"{len(objects)} training objects (split `{cfg.objects.split}`; none of the held-out evaluation "
             f"objects): " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) + ". "
             f"{len(done_objects)} of them have at least one finished task so far.", "",
             "## Rounds", "",
             "round | tasks | proposed | pre-filtered | simulated | valid (free space) | success of simulated | "
             "lift valid | stored rows",
             "---|---|---|---|---|---|---|---|---"]
    per_round = defaultdict(lambda: Counter())
    for e in entries:
        c = per_round[e["round"]]
        c["lift_valid"] += e.get("lift_valid", 0)
        for k, v in e.get("seconds", {}).items():
            c["s_" + k] += v
        if "cpu_seconds" in e:   # tasks that recorded their process CPU time (not the early ones)
            c["cpu_tasks"] += 1
            c["cpu"] += sum(e["cpu_seconds"].values())
            c["cpu_valid"] += e.get("valid", 0)
            c["cpu_wall"] += sum(e.get("seconds", {}).values())
        for k, v in e.get("failures", {}).items():
            c["f_" + k] += v
    for r in round_table(layout):
        c = per_round[r["round"]]
        sr = f"{100 * r['success_rate']:.1f} %" if r.get("success_rate") is not None else "-"
        lines.append(f"{r['round']} | {r['tasks']} | {r['proposed']} | {r['prefiltered']} | {r['validated']} | "
                     f"{r['valid']} | {sr} | {c['lift_valid']} | {r['stored']}")
    total_valid = sum(r["valid"] for r in round_table(layout))
    lines += ["", f"Valid grasps (free-space six-direction test) so far: **{total_valid}**. Every simulated grasp "
              "also carries the tabletop-lift label (`lift_success`), the object resting in a stable pose drawn "
              "per task by the poses' probabilities (`stable_pose`); failures are stored too (`keep_invalid`).", "",
              "## Why grasps failed", "", "round | " + " | ".join(
                  ["penetration", "no_real_contact", "self_penetration (not simulated)", "slip (first direction)"]),
              "---|---|---|---|---"]
    for r in sorted(per_round):
        c = per_round[r]
        slip = sum(v for k, v in c.items() if k.startswith("f_slip:"))
        lines.append(f"{r} | {c['f_penetration']} | {c['f_no_real_contact']} | {c['f_self_penetration']} | {slip}")
    squeeze_rows = contacts_after_squeeze(layout)
    if squeeze_rows:
        lines += ["", "Hand-object contacts at the end of the squeeze, simulated grasps (`n_contacts`): a grasp "
                  "that ends with none lost the object while squeezing (the free object was pushed out of the "
                  "hand; it is then counted as a slip in the first direction):", "",
                  "round | 0 contacts (lost in the squeeze) | 1-2 contacts | 3+ contacts | valid of 3+",
                  "---|---|---|---|---"]
        for x in squeeze_rows:
            n = max(x["lost"] + x["few"] + x["held"], 1)
            lost, few, held = (f"{x[k]} ({100 * x[k] / n:.0f} %)" for k in ("lost", "few", "held"))
            lines.append(f"{x['round']} | {lost} | {few} | {held} | {100 * x['held_valid'] / max(x['held'], 1):.0f} %")
    lines += ["", "## Grasp types and rebalancing", "",
              "round | types (valid) | entropy bits before cap | types kept | entropy bits after cap | kept",
              "---|---|---|---|---|---"]
    for t in types_per_round(layout):
        lines.append(f"{t['round']} | {t['types_before']} | {t['entropy_before']:.2f} | {t['types_after']} | "
                     f"{t['entropy_after']:.2f} | {t['kept_after']}")
    lines += ["", "## Throughput (measured, from the manifest)", "",
              "round | CPU-s synthesize / sample+refine | CPU-s types | CPU-s validate | valid per core-s | "
              "valid per process-CPU-s (tasks)",
              "---|---|---|---|---|---"]
    for r in sorted(per_round):
        c = per_round[r]
        prop = c["s_synthesize"] + c["s_sample"] + c["s_refine"]
        tot = prop + c["s_types"] + c["s_validate"] + c["s_write"]
        valid = next((x["valid"] for x in round_table(layout) if x["round"] == r), 0)
        cpu = (f"{c['cpu_valid'] / c['cpu']:.2f} ({c['cpu_tasks']}; wall/CPU {c['cpu_wall'] / c['cpu']:.1f})"
               if c["cpu"] else "-")
        lines.append(f"{r} | {prop:.0f} | {c['s_types']:.0f} | {c['s_validate']:.0f} | "
                     f"{valid / tot if tot else 0:.2f} | {cpu}")
    paths = shard_paths(layout)
    size = sum(Path(p).stat().st_size for p in paths)
    sealed = sorted(e["round"] for e in Manifest(layout).entries() if e.get("stage") == "seal")
    seal_note = (f" Round{'s' if len(sealed) > 1 else ''} {', '.join(map(str, sealed))} "
                 f"{'are' if len(sealed) > 1 else 'is'} sealed: one file per round instead of one per task "
                 "(`seal_from_round`; half the bytes a row; the manifest keeps every task's entry)." if sealed else "")
    lines += ["", "Stage seconds are wall seconds of 1-thread tasks (one core each): on cores shared with other jobs "
              "they overstate the cost; the last column uses the process CPU time the tasks recorded (the ratio "
              f"shows the sharing). {len(paths)} shards, "
              f"{size / 1e6:.1f} MB.{seal_note}", "", "## Usual questions (DuckDB)", "", QUERIES]
    if paths:
        lift = _con().execute(f"SELECT count(*) FILTER (WHERE success AND lift_success), "
                              f"count(*) FILTER (WHERE success), count(*) FILTER (WHERE lift_success) "
                              f"FROM {_scan(paths)}").fetchone()
        lines += [f"Of the valid free-space grasps, {lift[0]} of {lift[1]} also lift the object off the table "
                  f"(all simulated grasps: {lift[2]} lift). Free-space grasps that approach through the table "
                  "fail the lift: the reason the node must plan for the table (issue \"A grasp that lifts\")."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dex1b_ros.dataset.card", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="the build's YAML (config/dataset/<name>.yaml)")
    ap.add_argument("--json", action="store_true", help="also print the round table as JSON")
    a = ap.parse_args(argv)
    cfg = load_yaml(BuildConfig, a.config)
    text = card_text(cfg, a.config)
    out = Path(cfg.out) / "CARD.md"
    out.write_text(text)
    print(text)
    if a.json:
        print(json.dumps(round_table(Layout(Path(cfg.out), cfg.hand)), indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
