"""``dex1b dataset build``: the Dex1B loop that grows a grasp dataset, resumable (no ROS).

Examples::

    dex1b dataset build --config config/dataset/tiny.yaml            # ~1-2 min demo on 2 cores
    dex1b dataset build --config config/dataset/default.yaml --workers 8
    RAY_ADDRESS=10.0.0.1:6379 dex1b dataset build --config config/dataset/default.yaml --engine ray
    python -m dex1b_ros.dataset.build --config config/dataset/tiny.yaml --out /tmp/tiny --quiet

Rounds (``rounds`` in the config, round 0 included):

* round 0 (seed): per object, ``round0.tasks_per_object`` tasks each synthesise
  ``grasps_per_task`` grasps by optimisation (force closure on), pre-filter, MuJoCo-validate.
* round R >= 1: (1) train the generator on every valid grasp of rounds < R (round 1 starts from
  ``train.init`` or a fresh network; later rounds fine-tune the previous round's generator);
  (2) per object, tasks sample ``samples_per_task`` grasps with associated points weighted
  toward rarely seen grasp types and regions, refine them, pre-filter, validate.
* every task keeps its valid grasps up to the per-type cap (rebalancing) and writes one shard;
  the type counts the next round uses are recounted from the shards (DuckDB).
* with ``seal_from_round: R0``, every round >= R0 whose tasks are all done is sealed: its task
  shards become one file ``round-R.parquet`` (half the bytes a row; ``store.seal_round``).

Grasp types, weights and the cap: ``dex1b_ros.dataset.grasp_types``. Layout, atomic writes and
the manifest: ``dex1b_ros.dataset.store``. Stage functions: ``dex1b_ros.dataset.stages``.

Kill the build at any moment and run the same command again: finished tasks are skipped
(manifest), the rest run, and every shard ends up written exactly once. A build folder
remembers its config's content hash (``build.json``); running another config on it is refused,
except one that only has more ``rounds``: that extends the build.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..config_utils import ConfigError, load_yaml, to_dict
from . import stats as S
from .config import BuildConfig
from .stages import GraspTask, TrainTask, generator_version, task_seed
from .store import (
    BuildLock,
    Layout,
    Manifest,
    atomic_write_json,
    grasp_task_id,
    remove_stale_temps,
    retire_generator,
    seal_round,
    train_task_id,
)


@dataclass
class BuildSummary:
    root: Path
    rounds: list[dict]                       # stats.round_table rows
    types: list[dict]                        # stats.types_per_round rows
    train: list[dict]                        # train task entries
    tasks_run: int                           # tasks executed by this call (not skipped)
    tasks_total: int
    seconds: float
    report: Path | None = None
    stage_seconds: dict = field(default_factory=dict)


# ---------------------------------------------------------------------- planning
def plan_grasp_tasks(cfg: BuildConfig, layout: Layout, round_: int, objects: list[str],
                     gen_entry: dict | None = None) -> list[GraspTask]:
    """The grasp tasks of one round (round 0: synthesis; else: generator ``gen_entry``)."""
    tc = S.type_counts(layout, round_) if round_ > 0 else {}
    vc = S.voxel_counts(layout, round_, cfg.types.assoc_voxel_mm / 1000) if round_ > 0 else {}
    pf = cfg.prefilter.optimizer_kwargs()
    common = dict(round=round_, hand=cfg.hand, root=str(layout.root),
                  prefilter=(pf["max_contact_dist"], pf["max_penetration"], pf["max_self_penetration"]),
                  contact_tol=cfg.types.contact_tol_mm / 1000, cap_per_type=cfg.types.cap_per_type,
                  voxel=cfg.types.assoc_voxel_mm / 1000, keep_invalid=cfg.keep_invalid, threads=cfg.threads,
                  screen_self_penetration=cfg.prefilter.screen_self_penetration_mm / 1000,
                  hands_dir=str(cfg.hands_dir) if cfg.hands_dir else None)
    if round_ == 0:
        chunks, n, steps = cfg.round0.tasks_per_object, cfg.round0.grasps_per_task, cfg.round0.steps
        extra = {}
    else:
        g = cfg.generate
        chunks, n, steps = g.tasks_per_object, g.samples_per_task, g.refine_steps
        extra = dict(generator=layout.generator_rel(round_), generator_version=generator_version(gen_entry),
                     temperature=g.temperature, cloud_points=g.cloud_points)
    tasks = []
    for o in objects:
        counts = tuple(sorted(tc.get(o, {}).items()))
        vox = tuple(vc.get(o, []))
        for c in range(chunks):
            tid = grasp_task_id(round_, o, c)
            tasks.append(GraspTask(task_id=tid, object_id=o, chunk=c, chunks=chunks,
                                   seed=task_seed(cfg.seed, round_, o, c), n=n, steps=steps,
                                   shard=layout.shard_rel(round_, tid), type_counts=counts, voxel_counts=vox,
                                   **common, **extra))
    return tasks


def plan_train_task(cfg: BuildConfig, layout: Layout, round_: int) -> TrainTask:
    shards = tuple(sorted(str(Path(p).relative_to(layout.root)) for p in S.shard_paths(layout, range(round_))))
    if round_ >= 2 and cfg.train.fine_tune:
        init = layout.generator_rel(round_ - 1)
    else:
        init = str(Path(cfg.train.init).resolve()) if cfg.train.init else None
    tcfg = dataclasses.replace(cfg.train.generator, steps=cfg.train.steps, seed=task_seed(cfg.seed, round_, "train"),
                               ckpt_every=0, val_every=0)
    return TrainTask(task_id=train_task_id(round_), round=round_, hand=cfg.hand, root=str(layout.root),
                     out=layout.generator_rel(round_), shards=shards, init=init, train_config=to_dict(tcfg),
                     threads=cfg.threads, hands_dir=str(cfg.hands_dir) if cfg.hands_dir else None)


# ---------------------------------------------------------------------- running
def _run_stage(engine, manifest: Manifest, specs: list, desc: str, progress: bool, verify: bool,
               stage_seconds: dict) -> int:
    from tqdm.auto import tqdm

    todo = [s for s in specs if not manifest.is_done(s.round, s.task_id, verify=verify)]
    bar = tqdm(total=len(specs), initial=len(specs) - len(todo), desc=desc, disable=not progress,
               dynamic_ncols=True, file=sys.stderr)
    valid = 0
    for spec, st in engine.run(todo):
        st["engine"] = engine.name
        manifest.write(spec.round, spec.task_id, st)
        for k, v in st.get("seconds", {}).items():
            stage_seconds[k] = stage_seconds.get(k, 0.0) + v
        valid += st.get("valid", 0)
        bar.update(1)
        if "valid" in st:
            bar.set_postfix(valid=valid, last=f"{st['object_id']}:{st['valid']}/{st['validated']}")
    bar.close()
    return len(todo)


def _check_build_json(cfg: BuildConfig, root: Path, log=print) -> None:
    """Refuse a folder that holds a build of another config. A config that differs only by MORE
    ``rounds`` extends the build (round r's tasks never depend on the rounds after it): build.json
    then takes the new config and hash and keeps the old hashes in ``extended_from``."""
    p = root / "build.json"
    h = cfg.content_hash()
    if p.is_file():
        old = json.loads(p.read_text())
        if old.get("content_hash") == h:
            return
        old_cfg = BuildConfig.without_added_defaults({k: v for k, v in (old.get("config") or {}).items()
                                                      if k not in BuildConfig._RUNTIME and k != "rounds"})
        old_rounds = (old.get("config") or {}).get("rounds")
        if old_cfg and old_cfg == cfg.output_fields(exclude_rounds=True) and isinstance(old_rounds, int):
            if cfg.rounds < old_rounds:
                return                      # a prefix of the build: its tasks are the same
            log(f"{root}: extending the build from {old_rounds} to {cfg.rounds} rounds "
                f"(content hash {old.get('content_hash')} -> {h})")
            hist = list(old.get("extended_from", [])) + [{"content_hash": old.get("content_hash"),
                                                          "rounds": old_rounds}]
            atomic_write_json(p, {"content_hash": h, "config": to_dict(cfg), "extended_from": hist})
            return
        raise ConfigError(f"{root}: this folder holds a build of another config (content hash "
                          f"{old.get('content_hash')} != {h}); use another --out or delete it "
                          f"(only `rounds` may grow on an existing build)")
    atomic_write_json(p, {"content_hash": h, "config": to_dict(cfg)})


def run_build(cfg: BuildConfig, progress: bool = True, verify: bool = False, report: bool | None = None,
              engine=None, log=print) -> BuildSummary:
    """Run (or resume) the build of ``cfg`` in ``cfg.out``. Returns the summary."""
    from .engines import make_engine

    t0 = time.perf_counter()
    root = Path(cfg.out).resolve()
    layout = Layout(root, cfg.hand)
    manifest = Manifest(layout)
    stage_seconds: dict = {}
    run_count = total = 0
    with BuildLock(root):
        removed = remove_stale_temps(root)
        if removed:
            log(f"removed {len(removed)} temporary file(s) left by an interrupted run")
        _check_build_json(cfg, root, log=log)
        objects = cfg.objects.resolve()
        own_engine = engine is None
        engine = engine or make_engine(cfg)
        try:
            prev: list[str] = []          # the grasp task ids of the round before
            for r in range(cfg.rounds):
                gen_entry = None
                if r > 0:
                    tt = plan_train_task(cfg, layout, r)
                    total += 1
                    run_count += _run_stage(engine, manifest, [tt], f"round {r} train", progress, verify,
                                            stage_seconds)
                    gen_entry = manifest.read(r, tt.task_id)
                    if cfg.keep_generators == "last":
                        freed = retire_generator(layout, manifest, r - 1, cfg.rounds, prev)
                        if freed:
                            log(f"retired the round {r - 1} generator ({freed / 1e6:.1f} MB; keep_generators: last)")
                specs = plan_grasp_tasks(cfg, layout, r, objects, gen_entry)
                prev = [s.task_id for s in specs]
                total += len(specs)
                run_count += _run_stage(engine, manifest, specs, f"round {r} {'seed' if r == 0 else 'generate'}",
                                        progress, verify, stage_seconds)
                if cfg.seal_from_round is not None and r >= cfg.seal_from_round:
                    freed = seal_round(layout, manifest, r, prev)
                    if freed:
                        sealed = manifest.seal(r)["outputs"][0]["bytes"]
                        log(f"sealed round {r}: {len(prev)} task shards ({freed / 1e6:.2f} MB) -> one file "
                            f"({sealed / 1e6:.2f} MB)")
                row = next((x for x in S.round_table(layout) if x["round"] == r), None)
                ty = next((x for x in S.types_per_round(layout) if x["round"] == r), None)
                if row and ty:
                    log(_round_line(row, ty))
        finally:
            if own_engine:
                engine.close()
        summary = BuildSummary(root, S.round_table(layout), S.types_per_round(layout),
                               [e for e in manifest.entries() if e.get("stage") == "train"], run_count, total,
                               time.perf_counter() - t0, stage_seconds=stage_seconds)
        if cfg.report.enabled if report is None else report:
            from .report import write_report
            summary.report = write_report(cfg, layout, summary)
    return summary


def _round_line(row: dict, ty: dict) -> str:
    sr = row.get("success_rate")
    return (f"round {row['round']}: {row['proposed']} proposed, {row['prefiltered']} pre-filtered, "
            f"{row['valid']}/{row['validated']} valid ({'-' if sr is None else f'{100 * sr:.0f}%'}), "
            f"{row['kept']} kept; types {ty['types_before']} -> {ty['types_after']}, "
            f"entropy {ty['entropy_before']:.2f} -> {ty['entropy_after']:.2f} bits")


def format_summary(s: BuildSummary) -> str:
    lines = [f"build {s.root}: {s.tasks_run} task(s) run, {s.tasks_total - s.tasks_run} already done, "
             f"{s.seconds:.0f} s",
             "round | proposed | pre-filtered | validated | valid | success | kept | types before->after | "
             "entropy bits before->after"]
    ty = {t["round"]: t for t in s.types}
    for r in s.rounds:
        t = ty.get(r["round"], {})
        sr = r.get("success_rate")
        lines.append(f"{r['round']} | {r['proposed']} | {r['prefiltered']} | {r['validated']} | {r['valid']} | "
                     f"{'-' if sr is None else f'{100 * sr:.1f}%'} | {r['kept']} | "
                     f"{t.get('types_before', 0)}->{t.get('types_after', 0)} | "
                     f"{t.get('entropy_before', 0):.2f}->{t.get('entropy_after', 0):.2f}")
    for e in s.train:
        lines.append(f"generator round {e['round']}: {e['steps']} steps on {e['train_records']} valid grasps "
                     f"(init {e['init'] or 'fresh'}), loss {e['loss'] if e['loss'] is None else round(e['loss'], 4)}")
    kept = sum(r["kept"] for r in s.rounds)
    lines.append(f"total kept valid grasps: {kept}")
    if s.report:
        lines.append(f"report: {s.report}")
    return "\n".join(lines)


# ---------------------------------------------------------------------- CLI
def build_parser(prog: str = "dex1b dataset build") -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, required=True, help="BuildConfig YAML, e.g. config/dataset/tiny.yaml")
    ap.add_argument("--out", type=Path, default=None, help="build folder (overrides the config's out)")
    ap.add_argument("--engine", choices=["embedded", "ray"], default=None, help="override the config's engine")
    ap.add_argument("--workers", type=int, default=None, help="embedded engine processes (override)")
    ap.add_argument("--ray-address", default=None, help="Ray cluster address (else $RAY_ADDRESS / the config)")
    ap.add_argument("--verify", action="store_true", help="re-hash every finished shard before skipping it")
    ap.add_argument("--no-report", action="store_true", help="skip the report folder")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    return ap


def load_build_config(path: Path, **over) -> BuildConfig:
    cfg = load_yaml(BuildConfig, path)
    over = {k: v for k, v in over.items() if v is not None}
    if "ray_address" in over:
        cfg = dataclasses.replace(cfg, ray=dataclasses.replace(cfg.ray, address=over.pop("ray_address")))
    return dataclasses.replace(cfg, **over) if over else cfg


def main(argv=None) -> int:
    a = build_parser().parse_args(argv)
    try:
        cfg = load_build_config(a.config, out=a.out, engine=a.engine, workers=a.workers, ray_address=a.ray_address)
        s = run_build(cfg, progress=not a.quiet, verify=a.verify, report=False if a.no_report else None)
    except (ConfigError, RuntimeError, FileNotFoundError) as e:
        print(f"dex1b dataset build: error: {e}", file=sys.stderr)
        return 2
    print(format_summary(s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
