"""``dex1b eval``: the four planners side by side on the same objects and CPU budget (no ROS).

Examples::

    dex1b eval --hand leap --objects test --max-objects 8 --budget 12      # a subset of the test split
    dex1b eval --hand leap --objects ~/my_meshes --budget 20               # any folder of .obj/.stl/.ply
    dex1b eval --config config/eval/results.yaml                           # the run in docs/RESULTS.md
    .venv/bin/python -m dex1b_ros.eval.run --hand allegro --objects ycb:011_banana,proc:box:80

Rows (``METHODS``), per input (``full`` cloud / ``partial`` single-view cloud):

Planner settings: the node's own, ``PlannerConfig`` loaded from ``config/grasp_planner.yaml``
(:func:`~dex1b_ros.planner.config.load_planner_config`), so "the node's settings" is true by
construction; an optional ``planner:`` section of the eval config (nested or dotted keys,
e.g. ``sampling.num_samples: 256``) overrides them, and every override is stated in the notes.
``EvalConfig`` itself holds only evaluation settings (objects, budget, inputs, clouds, the
baseline, metrics).

1. ``baseline``: DexGraspNet-style synthesis from random initialisation
   (``GraspOptimizer.synthesize``, force closure on), rounds of ``synth_batch`` hands x
   ``synth_steps`` steps until the budget is spent; output = every synthesised grasp.
2. ``generator``: DexSimple samples conditioned on the cloud, as sampled (their pregrasp /
   squeeze vectors built as the optimizer does, with 0 steps).
3. ``gen+refine`` (Dex1B): the same samples after ``refinement.refine_steps`` of post-optimisation
   against the field of the cloud; output = every refined grasp.
4. ``gen+refine+filter`` (what the node publishes): per round of ``sampling.num_samples``
   samples, as ``GraspPipeline.plan`` does: rank the refined grasps (energy filter passed first,
   then by energy), simulate the best ``validation.num_validate`` against the convex hull of the
   prepared cloud's ``hull_points`` (the cloud itself, or a single view mirrored behind itself),
   output those that pass.

Rows 2-4 are the stages of one run under the budget: a new round starts while the CPU spent on
row 4's chain (cloud preparation, field, sampling, refinement, filter) is below ``budget``;
rows 2 and 3 are charged only what their stage used. Row 1 runs under the same budget. The last
round may overshoot; the CPU column says what each row really used.

Every method sees the same cloud, prepared by the node's own function
(``dex1b_ros.planner.pipeline.prepare_cloud``, configured by the planner's ``prepare`` settings).
The eval's clouds are the object alone (no table, no clutter), so the planner's ``preprocess``
step (table and clutter removal) is not run on them. A full cloud: the optimizer
(rows 1, 3, 4) works against the cloud's SDF field and row 4's filter against its convex hull.
A one-sided cloud (|mean normal| > ``prepare.partial_threshold``) is completed by mirroring it behind
itself (``complete_by_symmetry``); the convex hull of that completion is row 4's filter object
and (``prepare.single_view_field: hull``, the node's default) the optimizer's field, its exact SDF
(``shell``: the view's own field with the inside clipped to ``-prepare.partial_shell``). The generator
(rows 2-4) is always conditioned on the cloud as seen, never mirrored. ``partial+table`` is the
same single view as ``partial`` (same camera, above the object), with the planners also told the
support plane (the table under the mesh), as the node is when its preprocessing finds the table:
the field then knows the plane (the optimizer keeps the hand above it), and the view is mirrored
about a vertical plane halfway through the seen depth, without mirrored points below the table.
Evaluation always uses the
TRUE object mesh: up to ``eval_grasps`` output grasps per row and object (a uniform random
subset; rows 2 and 3 use the same sample indices) go through the six-direction MuJoCo test and
the tabletop lift, exact penetration against the mesh (``exact_grasp_metrics``), and grasp types
(``dataset.grasp_types``: touching fingers + approach bin). CPU time is ``time.process_time``
of the process doing the work, torch on ``threads`` threads, the validator in-process;
evaluation CPU is reported apart.
"""
from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from ..config_utils import ConfigError
from .clouds import make_cloud, table_plane
from .config import (
    INPUTS,
    LEGACY_PLANNER_KEYS,
    METHOD_TITLES,
    METHODS,
    REPO_ROOT,
    EvalConfig,
    _flat_get,
    _read_yaml,
    config_from_args,
    eval_config,
    pipeline_config,
)
from .methods import _CTX, _context, _run_methods, _seed, _worker, concat_sets, evaluate_object
from .report import (
    COLUMNS,
    _fmt,
    check_aims,
    markdown_table,
    plot_rows,
    save_eval_plan,
    table_cells,
    text_table,
    write_outputs,
)
from .score import _evaluate_row, _mean, aggregate

# the names this module defined before it was split by job (still importable from here)
__all__ = ["COLUMNS", "INPUTS", "LEGACY_PLANNER_KEYS", "METHODS", "METHOD_TITLES", "REPO_ROOT", "EvalConfig",
           "_CTX", "_context", "_evaluate_row", "_flat_get", "_fmt", "_mean", "_read_yaml", "_run_methods", "_seed",
           "_worker", "aggregate", "build_parser", "check_aims", "concat_sets", "config_from_args", "eval_config",
           "evaluate_object", "main", "make_cloud", "markdown_table", "pipeline_config", "plot_rows", "run",
           "save_eval_plan", "table_cells", "table_plane", "text_table", "write_outputs"]


# ---------------------------------------------------------------------------------------- main
def run(cfg: EvalConfig, log=print) -> tuple[list[dict], list[dict], list[str], list[str]]:
    """The whole evaluation. Returns (summary rows, per-object records, notes, aims)."""
    from .objects import resolve_objects

    t0, c0 = time.perf_counter(), time.process_time()
    objs = resolve_objects(cfg.objects, cfg.max_objects, cfg.min_extent, cfg.max_extent)
    log(objs.report())
    notes = []
    has_model = (cfg.model_dir / "dexsimple.safetensors").is_file()
    if not has_model:
        notes.append(f"rows 2-4 skipped for {cfg.hand}: no generator model at {cfg.model_dir}/dexsimple.safetensors")
        log("note: " + notes[-1])
    tasks = [(oid, obj, cfg) for oid, obj in objs.objects.items()]
    records: list[dict] = []
    if cfg.workers == 1:
        for i, task in enumerate(tasks):
            recs = _worker(task)
            records += recs
            log(f"[{i + 1}/{len(tasks)}] {task[0]}: " + ", ".join(
                f"{r['input'][0]}{METHODS.index(r['method']) + 1} {sum(r['success'])}/{r['evaluated']}" for r in recs))
    else:
        import multiprocessing as mp
        with ProcessPoolExecutor(cfg.workers, mp_context=mp.get_context("spawn")) as pool:
            for i, recs in enumerate(pool.map(_worker, tasks)):
                records += recs
                log(f"[{i + 1}/{len(tasks)}] {tasks[i][0]}: " + ", ".join(
                    f"{r['input'][0]}{METHODS.index(r['method']) + 1} {sum(r['success'])}/{r['evaluated']}"
                    for r in recs))
    rows = aggregate(records)
    for r in records:
        if "types_note" in r:
            notes.append(r["types_note"])
            break
    ev = {}
    for r in records:
        ev[r["object"]] = r["eval_cpu_object"]
    pc = cfg.planner_config
    over = ", ".join(f"{k}={v}" for k, v in cfg.planner.items())
    notes.append("planner settings: the node's (config/grasp_planner.yaml)"
                 + (f", overridden here: {over}" if over else "")
                 + f"; in effect: {pc.sampling.num_samples} samples per round, {pc.refinement.refine_steps} "
                   f"refinement steps, {pc.validation.num_validate} checked per round, field resolution "
                   f"{pc.prepare.field_resolution}, single views: {pc.prepare.single_view_field}")
    notes.append(f"{len(objs.objects)} objects ({', '.join(objs.objects)}); {len(objs.rejected)} rejected")
    notes.append(f"evaluation CPU (MuJoCo on the true mesh, exact penetration, types; not charged to any row): "
                 f"{sum(ev.values()):.0f} s; driver wall time {time.perf_counter() - t0:.0f} s, driver CPU "
                 f"{time.process_time() - c0:.0f} s")
    return rows, records, notes, check_aims(rows)


def build_parser(prog: str = "dex1b eval") -> argparse.ArgumentParser:
    d = EvalConfig()
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, help="YAML with EvalConfig fields (command-line options override it)")
    ap.add_argument("--hand", help=f"hand name (default {d.hand})")
    ap.add_argument("--objects", help="split name (train/val/test), folder of meshes, mesh file, or comma-separated "
                                      f"ids (default {d.objects})")
    ap.add_argument("--max-objects", type=int, help="evaluate a round-robin spread of this many objects")
    ap.add_argument("--budget", type=float, help=f"CPU-seconds per object, input and method (default {d.budget})")
    ap.add_argument("--inputs", help="comma-separated: full,partial,partial+table (default all three)")
    ap.add_argument("--model", help="generator export folder (default models/<hand>)")
    ap.add_argument("--eval-grasps", type=int,
                    help=f"max grasps simulated per row and object (default {d.eval_grasps})")
    ap.add_argument("--diversity-grasps", type=int, help=f"grasps per row and object for diversity "
                                                         f"(default {d.diversity_grasps})")
    ap.add_argument("--pca-k", type=int, help=f"PCA components (default {d.pca_k})")
    ap.add_argument("--synth-batch", type=int, help=f"row 1: hands per synthesis round (default {d.synth_batch})")
    ap.add_argument("--synth-steps", type=int, help=f"row 1: steps per round (default {d.synth_steps})")
    pc = d.planner_config
    ap.add_argument("--gen-batch", type=int, help="planner override sampling.num_samples (the node's: "
                                                  f"{pc.sampling.num_samples})")
    ap.add_argument("--refine-steps", type=int, help="planner override refinement.refine_steps (the node's: "
                                                     f"{pc.refinement.refine_steps})")
    ap.add_argument("--num-validate", type=int, help="planner override validation.num_validate (the node's: "
                                                     f"{pc.validation.num_validate})")
    ap.add_argument("--planner", action="append", default=[], metavar="FIELD=VALUE",
                    help="planner override, e.g. sampling.temperature=0.8 (repeatable; value parsed as YAML); "
                         "default: the node's settings, config/grasp_planner.yaml")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--workers", type=int, help="processes (one object each at a time)")
    ap.add_argument("--threads", type=int, help="torch threads per process")
    ap.add_argument("--out", help="output folder (default out/eval/<hand>)")
    ap.add_argument("--hands-dir")
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--save-plans", action="store_true", help="also save each cloud's plan to <out>/plans/ "
                    "(dex1b view FILE)")
    ap.add_argument("--quiet", action="store_true")
    return ap


def main(argv=None) -> int:
    a = build_parser().parse_args(argv)
    try:
        cfg = config_from_args(a)
        log = (lambda *x: None) if a.quiet else (lambda *x: print(*x, flush=True))
        rows, records, notes, aims = run(cfg, log)
    except (ConfigError, ValueError, FileNotFoundError) as e:
        print(f"dex1b eval: error: {e}", file=sys.stderr)
        return 2
    cmd = "dex1b eval " + " ".join(argv if argv is not None else sys.argv[1:])
    header = (f"# dex1b eval: {cfg.hand} on {cfg.objects!r}, budget {cfg.budget:g} CPU-s per object, "
              f"input and method\n\n"
              f"Command: `{cmd}`")
    out = write_outputs(cfg, rows, records, notes, aims, header)
    print(text_table(rows, cfg.pca_k))
    for n in notes:
        print("note:", n)
    for line in aims:
        print("aim:", line)
    print(f"wrote {out}/results.csv, results.md, per_object.csv, results.json" + (", results.png" if cfg.plots else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
