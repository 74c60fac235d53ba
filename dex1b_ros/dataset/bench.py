"""Throughput of the dataset build: validated grasps per core-second, per stage and end to end.

Examples::

    python -m dex1b_ros.dataset.bench                                 # tiny config, 1 and 2 workers
    python -m dex1b_ros.dataset.bench --ray                           # + 2-node loopback Ray cluster
    python -m dex1b_ros.dataset.bench --config config/dataset/tiny.yaml --workers 2 --json out/bench.json

Each setting runs the whole build of ``--config`` from scratch in a temporary folder. Per stage
(synthesize, sample, refine, types, validate, write, train) the core-seconds are the sum of the
stage's wall time over tasks (every task uses one core: ``threads: 1``); the rate is the number
of valid grasps kept divided by them. End to end = kept valid grasps / (wall time x cores),
process start-up and pool/cluster start included. The projection for 1e9 grasps uses the
end-to-end rate of the generator rounds (rounds >= 1, the steady state of a long build) and, for
comparison, of round 0 (synthesis only).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..config_utils import to_dict


def _run(cfg, env=None) -> float:
    import yaml
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(yaml.safe_dump(to_dict(cfg)))
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "dex1b_ros.dataset.build", "--config", f.name, "--quiet", "--no-report"],
                       env={**os.environ, **(env or {})}, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    os.unlink(f.name)
    if r.returncode != 0:
        raise RuntimeError(f"build failed:\n{r.stderr[-3000:]}")
    return wall


def _measure(out: Path, hand: str, wall: float, cores: float, label: str) -> dict:
    from .store import Layout, Manifest
    entries = [e for e in Manifest(Layout(out, hand)).entries() if e.get("stage") != "seal"]   # seal: no work
    stage_s: dict[str, float] = {}
    kept = {0: 0, 1: 0}
    secs = {0: 0.0, 1: 0.0}
    items = {"proposed_r0": 0, "proposed_r1": 0, "prefiltered": 0, "validated": 0}
    for e in entries:
        g = 0 if e["round"] == 0 else 1
        if e["stage"] != "train":
            items["proposed_r0" if g == 0 else "proposed_r1"] += e["proposed"]
            items["prefiltered"] += e["prefiltered"]
            items["validated"] += e["validated"]
        for k, v in e["seconds"].items():
            stage_s[k] = stage_s.get(k, 0.0) + v
            secs[g] += v
        kept[g] += e.get("kept", 0)
    total = kept[0] + kept[1]
    rate = lambda n, s: n / s if s > 0 else 0.0  # noqa: E731
    row = {"setting": label, "cores": cores, "wall_s": round(wall, 1), "valid_kept": total,
           "valid_kept_round0": kept[0], "valid_kept_rounds_ge1": kept[1],
           "stage_core_s": {k: round(v, 2) for k, v in stage_s.items()},
           "stage_valid_per_core_s": {k: round(rate(total if k in ("train",) else
                                                   (kept[0] if k == "synthesize" else
                                                    kept[1] if k in ("sample", "refine") else total), v), 4)
                                      for k, v in stage_s.items()},
           "stage_items": items,
           # grasps each stage processes per core-second (synthesised, sampled, refined, typed, validated)
           "stage_items_per_core_s": {
               k: round(rate(n, stage_s.get(k, 0.0)), 2) for k, n in (
                   ("synthesize", items["proposed_r0"]), ("sample", items["proposed_r1"]),
                   ("refine", items["proposed_r1"]), ("types", items["prefiltered"]),
                   ("validate", items["validated"]))},
           "task_valid_per_core_s_round0": round(rate(kept[0], secs[0]), 4),
           "task_valid_per_core_s_rounds_ge1": round(rate(kept[1], secs[1]), 4),
           "end_to_end_valid_per_core_s": round(rate(total, wall * cores), 4)}
    for key, r in (("round0", row["task_valid_per_core_s_round0"]),
                   ("rounds_ge1", row["task_valid_per_core_s_rounds_ge1"]),
                   ("end_to_end", row["end_to_end_valid_per_core_s"])):
        row[f"core_hours_1e9_{key}"] = round(1e9 / r / 3600, 0) if r > 0 else None
    return row


def main(argv=None) -> int:
    from .build import load_build_config
    ap = argparse.ArgumentParser(prog="python -m dex1b_ros.dataset.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=Path("config/dataset/tiny.yaml"))
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="embedded settings to run")
    ap.add_argument("--ray", action="store_true", help="also run on a 2-node loopback Ray cluster (1 CPU each)")
    ap.add_argument("--json", type=Path, default=None, help="write the rows here")
    a = ap.parse_args(argv)
    base = load_build_config(a.config)
    rows = []
    with tempfile.TemporaryDirectory(prefix="dex1b-bench-") as tmp:
        for w in a.workers:
            cfg = dataclasses.replace(base, out=Path(tmp) / f"w{w}", workers=w, engine="embedded",
                                      report=dataclasses.replace(base.report, enabled=False))
            wall = _run(cfg)
            rows.append(_measure(cfg.out, cfg.hand, wall, w * cfg.threads, f"embedded, {w} worker(s)"))
            print(json.dumps(rows[-1]), flush=True)
        if a.ray:
            from .raycluster import LoopbackRayCluster
            cfg = dataclasses.replace(base, out=Path(tmp) / "ray", engine="ray",
                                      ray=dataclasses.replace(base.ray, proposers=1, validators=1, proposer_cpus=1,
                                                              validator_cpus=1, train_cpus=1),
                                      report=dataclasses.replace(base.report, enabled=False))
            t0 = time.perf_counter()
            with LoopbackRayCluster(nodes=2, cpus_per_node=1) as c:
                start = time.perf_counter() - t0
                wall = _run(cfg, c.env)
            row = _measure(cfg.out, cfg.hand, wall, 2, "ray, 2 loopback nodes x 1 CPU")
            row["cluster_start_s"] = round(start, 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print()
    print("setting | cores | wall s | valid kept (r0 / r>=1) | valid/core-s end to end | per task r0 | per task r>=1 "
          "| core-h for 1e9 (r>=1 tasks / end to end)")
    for r in rows:
        print(f"{r['setting']} | {r['cores']} | {r['wall_s']} | {r['valid_kept']} ({r['valid_kept_round0']} / "
              f"{r['valid_kept_rounds_ge1']}) | {r['end_to_end_valid_per_core_s']} | "
              f"{r['task_valid_per_core_s_round0']} | {r['task_valid_per_core_s_rounds_ge1']} | "
              f"{r['core_hours_1e9_rounds_ge1']} / {r['core_hours_1e9_end_to_end']}")
    print("\nstage core-seconds (sum over tasks) / grasps processed per core-second:")
    for r in rows:
        print(f"{r['setting']}: " + ", ".join(f"{k} {v}" for k, v in r["stage_core_s"].items()))
        print("    " + ", ".join(f"{k} {v}/s" for k, v in r["stage_items_per_core_s"].items()))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
