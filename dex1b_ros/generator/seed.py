"""Seed grasp dataset for one hand: optimizer synthesis -> MuJoCo validation -> Parquet shards.

Examples::

    dex1b seed --hand leap                         # default subset, ~10-15 min on 2 cores
    dex1b seed --hand allegro --ycb-train 4 --proc-train 1 --ycb-val 1 --proc-val 0 --grasps 64
    dex1b seed --hand leap --object ycb:011_banana --object proc:box:3 --keep-invalid
    dex1b seed --config my_seed.yaml --grasps 256  # a SeedConfig YAML; flags override it
    python -m dex1b_ros.generator.seed --hand leap --out out/seed --workers 2

For each object (by default the first ``--ycb-train`` YCB objects of the train split, the first
``--proc-train`` procedural train seeds of every kind, and likewise a few val-split objects so
training can validate on held-out objects): ``GraspOptimizer.synthesize`` makes ``--grasps``
grasps of ``--steps`` steps; the accepted ones are tested by ``GraspValidator`` (DexGraspBench
protocol); the successful ones (plus, with ``--keep-invalid``, the failed ones, flagged
``success = false``) are written to ``<out>/<hand>/part-<object>.parquet`` (schema:
:mod:`dex1b_ros.records`; ':' in ids becomes '_'). An object whose shard exists is skipped,
so an interrupted run resumes where it stopped; an object where nothing passed still gets an
(empty) shard. ``<out>/<hand>/summary.csv`` gets one row per object (counts, seconds).

Each record's associated point is computed against 2,048 farthest-point surface samples, and
its ``grasp_type`` is the optimizer's active fingers joined by '+', e.g. ``thumb+index+middle``.
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..config_utils import fail

SEED_GENERATOR_VERSION = "optim-synth/1"


@dataclass
class SeedConfig:
    """What ``dex1b seed`` makes. Objects by count from the fixed splits, or explicit ids."""

    hand: str = "leap"
    out: Path = Path("out/seed")        # shards go to <out>/<hand>/
    ycb_train: int = 12                 # first N YCB objects of the train split
    proc_train: int = 2                 # first N procedural train seeds of every kind (8 kinds)
    ycb_val: int = 2                    # first N YCB objects of the val split
    proc_val: int = 1                   # first N procedural val seeds of every kind
    objects: list[str] = field(default_factory=list)  # explicit ids (replace the four counts)
    grasps: int = 128                   # grasps synthesised per object
    steps: int = 250                    # optimizer steps
    keep_invalid: bool = False          # also write accepted grasps that failed the validator
    workers: int = 1                    # validator processes
    seed: int = 0                       # random seed (combined with each object id)
    hands_dir: Path | None = None       # directory holding hand model folders (none: the default search)

    def __post_init__(self):
        for k in ("ycb_train", "proc_train", "ycb_val", "proc_val"):
            if getattr(self, k) < 0:
                fail(k, f"must be >= 0, got {getattr(self, k)}")
        for k in ("grasps", "steps", "workers"):
            if getattr(self, k) < 1:
                fail(k, f"must be >= 1, got {getattr(self, k)}")

    def object_ids(self) -> list[str]:
        if self.objects:
            return list(self.objects)
        from ..objects import KINDS, load_split

        ids = []
        for split, n_ycb, n_proc in (("train", self.ycb_train, self.proc_train), ("val", self.ycb_val, self.proc_val)):
            ids += load_split(split, sources=("ycb",))[:n_ycb]
            proc = load_split(split, sources=("proc",))
            for kind in KINDS:
                ids += [o for o in proc if o.split(":")[1] == kind][:n_proc]
        return ids


def shard_name(object_id: str) -> str:
    return "part-" + object_id.replace(":", "_").replace("/", "_") + ".parquet"


def grasp_types(active: np.ndarray, tip_names: list[str]) -> list[str]:
    """'+'-joined active finger names per grasp (active (B, F) bool)."""
    return ["+".join(n for n, a in zip(tip_names, row) if a) for row in np.asarray(active, bool)]


@dataclass
class ObjectResult:
    object_id: str
    synthesized: int
    accepted: int
    valid: int
    written: int
    seconds: float


def seed_object(hand, object_id: str, cfg: SeedConfig, path: Path, progress=None) -> ObjectResult:
    """Synthesise, validate and write the shard of one object."""
    from ..geometry.pointcloud import sample_surface
    from ..hands import load_hand_config
    from ..objects import load_object
    from ..optim import GraspOptimizer, ObjectField, synthesis_config
    from ..records import empty_records, records_from_graspset, write_records
    from ..validate import GraspValidator
    from .model import associated_points

    t0 = time.perf_counter()
    mesh = load_object(object_id).mesh
    field_ = ObjectField.from_mesh(mesh)
    obj_seed = (cfg.seed * 1_000_003 + zlib.crc32(object_id.encode())) % (2**31)
    gs = GraspOptimizer(hand, field_).synthesize(cfg.grasps, synthesis_config(steps=cfg.steps, seed=obj_seed),
                                                  progress=progress)
    acc = gs.select(gs.accepted)
    n_valid, records = 0, empty_records(hand.name, hand.joint_names)
    if len(acc):
        hand_cfg = hand.cfg if getattr(hand, "cfg", None) is not None else load_hand_config(hand.name)
        with GraspValidator(hand_cfg, mesh, workers=cfg.workers) as v:
            res = v.validate(acc.trans, acc.quat, acc.pregrasp, acc.grasp, acc.squeeze)
        n_valid = int(res.success.sum())
        cloud, _ = sample_surface(mesh, 2048, seed=0, fps=True)
        _, ap = associated_points(hand, acc.pose(hand), torch.as_tensor(cloud, dtype=hand.dtype))
        records = records_from_graspset(acc, object_id, hand.joint_names, round_=0, validation=res,
                                        assoc_point=ap.cpu().numpy(),
                                        grasp_type=grasp_types(acc.active, hand.tip_names),
                                        generator_version=SEED_GENERATOR_VERSION)
        if not cfg.keep_invalid:
            records = records.select(records.success)
    write_records(records, path)
    return ObjectResult(object_id, len(gs), len(acc), n_valid, len(records), time.perf_counter() - t0)


def run_seed(cfg: SeedConfig, progress: bool = True) -> list[ObjectResult]:
    """Make the shards of every object of ``cfg`` (skipping existing ones). Returns one result per
    object processed in this call."""
    from tqdm.auto import tqdm

    from ..hands import load_hand

    hand = load_hand(cfg.hand, hands_dir=cfg.hands_dir)
    out = Path(cfg.out) / hand.name
    out.mkdir(parents=True, exist_ok=True)
    ids = cfg.object_ids()
    todo = [o for o in ids if not (out / shard_name(o)).is_file()]
    summary = out / "summary.csv"
    fields = ["object_id", "synthesized", "accepted", "valid", "written", "seconds"]
    if not summary.is_file():
        with open(summary, "w", newline="") as f:
            csv.writer(f).writerow(fields)
    results: list[ObjectResult] = []
    bar = tqdm(todo, desc=f"seed {hand.name}", disable=not progress, dynamic_ncols=True,
               initial=len(ids) - len(todo), total=len(ids))
    for o in bar:
        bar.set_postfix_str(o)
        r = seed_object(hand, o, cfg, out / shard_name(o))
        results.append(r)
        with open(summary, "a", newline="") as f:
            csv.writer(f).writerow([r.object_id, r.synthesized, r.accepted, r.valid, r.written, f"{r.seconds:.1f}"])
        bar.set_postfix(valid=sum(x.valid for x in results), last=f"{o}:{r.valid}/{r.accepted}")
    bar.close()
    return results


def build_parser(prog: str = "dex1b seed") -> argparse.ArgumentParser:
    from ..cli_config import add_config_args

    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=None, help="SeedConfig YAML; the flags below override it")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--list", action="store_true", help="print the object ids and exit")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    add_config_args(ap, SeedConfig, aliases={"objects": ["--object"]},
                    title="SeedConfig (every field; overrides --config)")
    return ap


def main(argv=None) -> int:
    from ..cli_config import parse_config
    from ..config_utils import load_yaml

    ap = build_parser()
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    cfg = parse_config(ap, SeedConfig, a, base=load_yaml(SeedConfig, a.config) if a.config else None)
    if a.list:
        print("\n".join(cfg.object_ids()))
        return 0
    t0 = time.perf_counter()
    res = run_seed(cfg, progress=not a.quiet)
    syn, acc, val = (sum(getattr(r, k) for r in res) for k in ("synthesized", "accepted", "valid"))
    print(f"seed {cfg.hand}: {len(res)} objects processed ({len(cfg.object_ids()) - len(res)} already done), "
          f"{syn} synthesised, {acc} accepted, {val} valid, {time.perf_counter() - t0:.0f} s -> "
          f"{Path(cfg.out) / cfg.hand}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
