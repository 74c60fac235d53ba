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
import csv
import json
import math
import sys
import time
import zlib
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .. import resources
from ..config_utils import ConfigError, fail, from_dict, read_yaml, to_dict
from ..planner.config import PlannerConfig, load_planner_config, planner_config
from .metrics import (
    Counts,
    active_finger_labels,
    label_entropy,
    pca_cumulative_variance,
    pose_features,
)

#: The package's share directory at import time (see :mod:`dex1b_ros.resources`); kept for compatibility.
REPO_ROOT = resources.resource_path(must_exist=False)
METHODS = ("baseline", "generator", "gen+refine", "gen+refine+filter")
METHOD_TITLES = {
    "baseline": "1 optimization only (random init)",
    "generator": "2 generator only",
    "gen+refine": "3 generator + refinement (Dex1B)",
    "gen+refine+filter": "4 3 + validator filter (node)",
}
INPUTS = ("full", "partial", "partial+table")


@dataclass
class EvalConfig:
    """One evaluation run. Lengths m, CPU times s (``time.process_time``), angles deg where named."""

    hand: str = "leap"                      # hand name (config/hands/<hand>.yaml)
    objects: str = "test"                   # split name, folder of meshes, mesh file, or comma-separated ids
    max_objects: int | None = None          # keep a round-robin spread of this many (YCB / each proc kind / files)
    inputs: list[str] = field(default_factory=lambda: list(INPUTS))   # any of "full", "partial", "partial+table"
    budget: float = 12.0                    # CPU-s per object, per input, per method run (row 1; rows 2-4 together)
    model: str | None = None                # generator export folder; None = models/<hand>/ (rows 2-4 skipped
                                            # if absent)
    # clouds (object frame, centred mesh)
    cloud_points: int = 1024                # points of the full cloud and of the partial view
    partial_distance: float = 0.5           # m, camera distance from the bbox centre
    partial_elevation_deg: tuple[float, float] = (15.0, 60.0)  # camera elevation above the object's xy plane
    partial_noise: float = 0.0              # m, depth noise std along each ray
    # the planner (rows 2-4 and the cloud preparation of every row): the node's PlannerConfig
    # (config/grasp_planner.yaml) with these overrides (nested or dotted keys); {} = the node's
    planner: dict[str, Any] = field(default_factory=dict)
    # row 1, the baseline (not the node's planner)
    synth_batch: int = 64                   # row 1: hands per synthesis round
    synth_steps: int = 250                  # row 1: optimizer steps per round (the seed-data setting)
    # evaluation (not charged to the methods)
    eval_grasps: int = 24                   # max grasps simulated per row and object
    diversity_grasps: int = 10              # grasps per row and object for PCA / entropy (same n for every row)
    pca_k: int = 3                          # components in the cumulative explained variance
    type_contact_mm: float = 5.0            # finger "touches" within this (mm) for grasp types
    min_extent: float = 0.01                # m, mesh check limits
    max_extent: float = 0.30
    seed: int = 0
    workers: int = 1                        # processes, one object at a time each
    threads: int = 1                        # torch threads per process
    out: str | None = None                  # output folder; None = out/eval/<hand>
    plots: bool = True
    save_plans: bool = False                # also write <out>/plans/<object>-<input>.npz per cloud (`dex1b view`)
    hands_dir: str | None = None
    #: the resolved planner settings (node's YAML + ``planner`` + this ``hand``/``hands_dir``); not an input
    planner_config: PlannerConfig = field(init=False, repr=False)

    def __post_init__(self):
        for k, lo in (("cloud_points", 64), ("synth_batch", 1), ("synth_steps", 0), ("eval_grasps", 1),
                      ("diversity_grasps", 2), ("pca_k", 1), ("workers", 1), ("threads", 1)):
            if getattr(self, k) < lo:
                fail(k, f"must be >= {lo}, got {getattr(self, k)}")
        if not self.budget > 0:
            fail("budget", f"must be > 0 CPU-seconds, got {self.budget}")
        node = load_planner_config()   # errors name config/grasp_planner.yaml and the field
        try:
            pc = planner_config(self.planner, node)
        except ConfigError as e:
            raise ConfigError(f"planner.{e}") from None
        self.planner_config = planner_config({"hand": self.hand, "hands_dir": self.hands_dir or ""}, pc)
        if self.planner_config.validation.num_validate < 1:
            fail("planner.validation.num_validate", "must be >= 1 for row 4 (the validator filter)")
        if self.max_objects is not None and self.max_objects < 1:
            fail("max_objects", f"must be >= 1 (or null for all), got {self.max_objects}")
        bad = [i for i in self.inputs if i not in INPUTS]
        if bad or not self.inputs:
            fail("inputs", f"choose from {list(INPUTS)}, got {self.inputs}")
        if self.diversity_grasps > self.eval_grasps:
            fail("diversity_grasps", f"must be <= eval_grasps ({self.eval_grasps}), got {self.diversity_grasps}")
        lo, hi = self.partial_elevation_deg
        if not -90 <= lo <= hi <= 90:
            fail("partial_elevation_deg", f"need -90 <= min <= max <= 90, got {self.partial_elevation_deg}")

    @property
    def out_dir(self) -> Path:
        # out/ of the checkout; of the working directory when installed (never the share directory)
        return Path(self.out) if self.out else (resources.source_root() or Path.cwd()) / "out" / "eval" / self.hand

    @property
    def model_dir(self) -> Path:
        return Path(self.model) if self.model else resources.models_dir(self.hand, must_exist=False)


# ---------------------------------------------------------------------------------------- per process
_CTX: dict = {}


def _context(cfg: EvalConfig) -> dict:
    """Hand, hand config and generator, loaded once per process."""
    key = (cfg.hand, cfg.hands_dir, str(cfg.model_dir), cfg.threads)
    if _CTX.get("key") != key:
        import torch

        from ..hands import load_hand

        torch.set_num_threads(cfg.threads)
        hand = load_hand(cfg.hand, hands_dir=cfg.hands_dir)
        gen = None
        if (cfg.model_dir / "dexsimple.safetensors").is_file():
            from ..generator.train import load_generator
            gen = load_generator(cfg.model_dir, hand)
        _CTX.clear()
        _CTX.update(key=key, hand=hand, gen=gen)
    return _CTX


def _seed(*parts) -> int:
    return zlib.crc32("/".join(str(p) for p in parts).encode()) & 0x7FFFFFFF


def make_cloud(mesh, kind: str, cfg: EvalConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The observation: ``full`` = FPS surface sample, ``partial`` = one simulated depth view from
    a camera above the object (elevation in ``partial_elevation_deg``, random azimuth).
    Returns points, normals (N, 3) float64, object frame, m."""
    from ..geometry.pointcloud import look_at, render_partial_cloud, sample_surface

    if kind == "full":  # "partial" and "partial+table": the same view
        p, n = sample_surface(mesh, cfg.cloud_points, seed=seed, fps=True)
    else:
        rng = np.random.default_rng(seed)
        el = np.radians(rng.uniform(*cfg.partial_elevation_deg))
        az = rng.uniform(0, 2 * np.pi)
        c = np.asarray(mesh.bounds, dtype=np.float64).mean(0)
        eye = c + cfg.partial_distance * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
        pc = render_partial_cloud(mesh, cfg.cloud_points, seed=seed, camera_pose=look_at(eye, c),
                                  noise_std=cfg.partial_noise)
        p, n = pc.points, pc.normals
    return np.asarray(p, np.float64), np.asarray(n, np.float64)


def pipeline_config(cfg: EvalConfig):
    """The ``prepare`` settings ``prepare_cloud`` gets: the planner's (``cfg.planner_config.prepare``)."""
    return cfg.planner_config.prepare


#: Planner settings an eval config once held at its top level -> their PlannerConfig field.
#: Still read (as ``planner:`` overrides, with a warning) so older eval configs keep loading.
LEGACY_PLANNER_KEYS = {"gen_batch": "sampling.num_samples", "temperature": "sampling.temperature",
                       "refine_steps": "refinement.refine_steps", "num_validate": "validation.num_validate",
                       "field_resolution": "prepare.field_resolution", "partial_threshold": "prepare.partial_threshold",
                       "single_view_field": "prepare.single_view_field", "partial_shell": "prepare.partial_shell"}


def eval_config(data: dict, source: str = "", warn=None) -> EvalConfig:
    """EvalConfig from plain data (a YAML mapping). Top-level planner keys of older configs
    (``LEGACY_PLANNER_KEYS``) become ``planner:`` overrides; ``warn(message)`` is told which."""
    data = dict(data or {})
    planner = dict(data.get("planner") or {})
    moved = {}
    for old, new in LEGACY_PLANNER_KEYS.items():
        if old in data:
            if new in planner:
                fail(old, f"given twice: here and as planner.{new}")
            planner[new] = moved[new] = data.pop(old)
    if moved:
        data["planner"] = planner
        if warn is not None:
            warn(f"{source + ': ' if source else ''}planner settings at the top level are read as planner "
                 f"overrides: {', '.join(f'{k}={v}' for k, v in moved.items())} (the node's: "
                 f"{', '.join(f'{k}={_flat_get(load_planner_config(), k)}' for k in moved)}); move them under "
                 "`planner:`, or drop them to evaluate what the node ships")
    return from_dict(EvalConfig, data)


def _flat_get(cfg, dotted: str):
    for part in dotted.split("."):
        cfg = getattr(cfg, part)
    return cfg


def table_plane(mesh) -> np.ndarray:
    """(4,) [0, 0, 1, -z_min]: the horizontal table under the mesh (object frame z up), as the
    validator's tabletop test places it."""
    return np.array([0.0, 0.0, 1.0, -float(np.asarray(mesh.bounds)[0, 2])])


def concat_sets(sets):
    """One GraspSet from several of the same hand (``seconds`` summed)."""
    from ..optim import GraspSet

    s0 = sets[0]
    cat = lambda name: np.concatenate([getattr(s, name) for s in sets])
    return GraspSet(s0.hand, cat("trans"), cat("quat"), cat("pregrasp"), cat("grasp"), cat("squeeze"),
                    {k: np.concatenate([s.energy[k] for s in sets]) for k in s0.energy},
                    cat("contact_distance"), cat("penetration"), cat("active"), cat("accepted"),
                    float(sum(s.seconds for s in sets)))


def _run_methods(ctx: dict, cfg: EvalConfig, prepared, seed: int, prep_cpu: float) -> dict[str, dict]:
    """Rows 1-4 on one cloud ``prepared`` by the node's ``prepare_cloud`` (its field knows the
    support plane if the planners do). ``prep_cpu``: CPU-s of that preparation (incl. the field).
    Returns {method: {"grasps": GraspSet, "cpu": s, "rounds": n}}."""
    from ..optim import GraspOptimizer, refinement_config, synthesis_config

    hand, gen = ctx["hand"], ctx["gen"]
    pc = cfg.planner_config
    pts, nrm = prepared.points, prepared.normals   # the cloud as observed (never mirrored)
    clock = time.process_time
    t = clock()
    opt = GraspOptimizer(hand, prepared.field)    # the field itself was built (and charged) in prep_cpu
    field_cpu = clock() - t
    out: dict[str, dict] = {}

    # 1. baseline: synthesis from random initialisation
    spent, sets, r = prep_cpu + field_cpu, [], 0
    while r == 0 or spent < cfg.budget:   # at least one round
        t = clock()
        sets.append(opt.synthesize(cfg.synth_batch, synthesis_config(steps=cfg.synth_steps, seed=seed + r)))
        spent += clock() - t
        r += 1
    out["baseline"] = {"grasps": concat_sets(sets), "cpu": spent, "rounds": r}
    if gen is None:
        return out

    # 2-4: generator -> refinement -> validator filter (one run; each row charged its stages)
    from ..perception.preprocess import estimate_object_mesh
    from ..validate import GraspValidator

    c_sample = c_raw = c_refine = c_filter = 0.0
    raws, refs, passed = [], [], []
    validator = None
    r, offset = 0, 0
    try:
        while r == 0 or prep_cpu + field_cpu + c_sample + c_refine + c_filter < cfg.budget:
            t = clock()
            pose = gen.sample(pts, nrm, pc.sampling.num_samples, seed=seed + 1000 + r,
                              temperature=pc.sampling.temperature)
            c_sample += clock() - t
            t = clock()
            raws.append(opt.refine(pose, refinement_config(steps=0)))
            c_raw += clock() - t
            t = clock()
            ref = opt.refine(pose, refinement_config(steps=pc.refinement.refine_steps))
            refs.append(ref)
            c_refine += clock() - t
            t = clock()
            if validator is None:
                validator = GraspValidator(hand.cfg, estimate_object_mesh(prepared.hull_points),
                                           hands_dir=cfg.hands_dir)
            order = np.lexsort((ref.energy["total"], ~ref.accepted))[:pc.validation.num_validate]
            sub = ref.select(order)
            res = validator.validate(sub.trans, sub.quat, sub.pregrasp, sub.grasp, sub.squeeze)
            passed.append(offset + order[res.success])
            c_filter += clock() - t
            offset += len(ref)
            r += 1
    finally:
        if validator is not None:
            validator.close()
    refined = concat_sets(refs)
    base = prep_cpu + field_cpu + c_sample
    out["generator"] = {"grasps": concat_sets(raws), "cpu": base + c_raw, "rounds": r}
    out["gen+refine"] = {"grasps": refined, "cpu": base + c_refine, "rounds": r}
    out["gen+refine+filter"] = {"grasps": refined.select(np.concatenate(passed).astype(int)),
                                    "cpu": base + c_refine + c_filter, "rounds": r}
    return out


def _evaluate_row(ctx: dict, cfg: EvalConfig, obj, truth: dict, gs, idx: np.ndarray) -> dict:
    """Simulate ``gs[idx]`` on the true mesh; penetration, contacts, diversity, types."""
    from ..dataset.grasp_types import grasp_types
    from ..optim.metrics import exact_grasp_metrics

    hand = ctx["hand"]
    rec = {"evaluated": len(idx), "success": [], "lift": [], "rejected": 0, "pen_mm": [], "sim_pen_mm": [],
           "contacts": [], "real_links": [], "pca": math.nan, "entropy": math.nan, "types": []}
    if len(idx) == 0:
        return rec
    sub = gs.select(idx)
    v = truth["validator"]
    r6 = v.validate(sub.trans, sub.quat, sub.pregrasp, sub.grasp, sub.squeeze)
    rt = v.validate_tabletop(sub.trans, sub.quat, sub.pregrasp, sub.grasp, sub.squeeze)
    ex = exact_grasp_metrics(hand, obj.mesh, sub)
    ok = ~r6.rejected_by_prefilter
    rec.update(success=r6.success.tolist(), lift=rt.success.tolist(), rejected=int(r6.rejected_by_prefilter.sum()),
               pen_mm=(ex["penetration"] * 1e3).tolist(), sim_pen_mm=r6.penetration_mm.tolist(),
               contacts=r6.n_contacts[ok].tolist(), real_links=r6.n_real_contact_links[ok].tolist())
    nd = cfg.diversity_grasps
    if len(idx) >= nd:
        d = sub.select(np.arange(nd))
        rec["pca"] = pca_cumulative_variance(pose_features(d.trans, d.quat, d.grasp), cfg.pca_k)
        try:
            types = grasp_types(hand, truth["field"], d.pose(hand), truth["frame"], cfg.type_contact_mm * 1e-3)
        except Exception as e:  # noqa: BLE001 - fall back to the documented definition, and say so
            types = [f"active:{t}" for t in active_finger_labels(d.active, hand.tip_names)]
            rec["types_note"] = f"grasp_types failed ({type(e).__name__}: {e}); types = active-finger sets"
        rec["types"] = types
        rec["entropy"] = label_entropy(types)
    return rec


def evaluate_object(object_id: str, obj, cfg: EvalConfig) -> list[dict]:
    """Every method on every input for one object (object frame = the centred mesh). One record
    per (input, method): counts, per-grasp lists, CPU-seconds."""
    from ..dataset.grasp_types import principal_frame
    from ..optim import ObjectField
    from ..planner.pipeline import prepare_cloud
    from ..validate import GraspValidator

    ctx = _context(cfg)
    pcfg = pipeline_config(cfg)
    clock = time.process_time
    t_eval = clock()
    truth = {"validator": GraspValidator(ctx["hand"].cfg, obj.mesh, hands_dir=cfg.hands_dir),
                 "field": ObjectField.from_mesh(obj.mesh), "frame": principal_frame(obj.mesh)}
    eval_cpu = clock() - t_eval
    records = []
    try:
        for kind in cfg.inputs:
            seed = _seed(cfg.seed, object_id, kind.split("+")[0])
            p, n = make_cloud(obj.mesh, kind, cfg, seed)
            plane = table_plane(obj.mesh) if kind.endswith("+table") else None
            t = clock()   # the node's preprocessing, field included, is charged to every row
            prepared = prepare_cloud(p, n, pcfg, support_plane=plane, device=ctx["hand"].device)
            prep_cpu = clock() - t
            completed = prepared.partial   # one-sided: shell field, mirrored hull for row 4's filter
            rows = _run_methods(ctx, cfg, prepared, seed, prep_cpu)
            t = clock()
            rng = np.random.default_rng(seed)
            shared = None
            for m in METHODS:
                if m not in rows:
                    continue
                gs = rows[m]["grasps"]
                if m in ("generator", "gen+refine"):   # the same samples, before / after refinement
                    shared = rng.permutation(len(gs))[:cfg.eval_grasps] if shared is None else shared
                    idx = shared
                else:
                    idx = rng.permutation(len(gs))[:cfg.eval_grasps]
                rec = _evaluate_row(ctx, cfg, obj, truth, gs, idx)
                rec.update(object=object_id, input=kind, method=m, produced=len(gs), cpu=rows[m]["cpu"],
                           rounds=rows[m]["rounds"], completed=completed, table=plane is not None,
                           energy_accepted=int(gs.accepted.sum()))
                records.append(rec)
            eval_cpu += clock() - t
            if cfg.save_plans:
                save_eval_plan(cfg, ctx["hand"], object_id, kind, prepared, plane, rows)
    finally:
        truth["validator"].close()
    for r in records:
        r["eval_cpu_object"] = eval_cpu
    return records


def save_eval_plan(cfg: EvalConfig, hand, object_id: str, kind: str, prepared, plane, rows: dict):
    """``save_plans``: what the node would have shown for this cloud as a saved plan
    (``<out>/plans/<object>-<input>.npz``, object frame): the prepared cloud, its completed shape,
    the table, and the top ``ranking.top_k`` of row 4 (passed the filter) by energy; when nothing
    passed, the top of row 3 (not simulated), without a generator row 1's."""
    from ..planner.types import PlannedGrasp, PlanResult, PlanScene
    from ..viz.plan_file import from_result, save_plan

    method = next((m for m in ("gen+refine+filter", "gen+refine", "baseline")
                   if m in rows and len(rows[m]["grasps"])), None)
    grasps = []
    if method is not None:
        gs = rows[method]["grasps"]
        e = gs.energy["total"]
        ok = method == "gen+refine+filter"
        grasps = [PlannedGrasp(
            wrist_pos=gs.trans[i].astype(float), wrist_quat=gs.quat[i].astype(float), pregrasp=gs.pregrasp[i],
            grasp=gs.grasp[i], squeeze=gs.squeeze[i], score=float(2.0 * ok + gs.accepted[i] + 1.0 / (1.0 + e[i])),
            energy=float(e[i]), validated=ok, sim_success=ok, source=method,
            grasp_type="+".join(n for n, a in zip(hand.tip_names, gs.active[i]) if a))
            for i in np.argsort(e)[:cfg.planner_config.ranking.top_k]]
    mesh = prepared.hull_mesh
    scene = PlanScene(prepared.points, np.asarray(mesh.vertices) if mesh is not None else np.zeros((0, 3)),
                      np.asarray(mesh.faces) if mesh is not None else np.zeros((0, 3), int), plane, prepared.partial)
    result = PlanResult(bool(grasps), f"dex1b eval: {object_id}, {kind} cloud, grasps of row {method}",
                        hand=hand.name, joint_names=list(hand.joint_names), grasps=grasps, scene=scene)
    stem = f"{object_id}-{kind}".replace("/", "_").replace(":", "_")
    return save_plan(from_result(result, frame_id="object", source="dex1b eval"), cfg.out_dir / "plans" / stem)


def _worker(args):
    object_id, obj, cfg = args
    return evaluate_object(object_id, obj, cfg)


# ---------------------------------------------------------------------------------------- aggregation
def _mean(x) -> float:
    x = [v for v in x if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(x)) if x else math.nan


def aggregate(records: list[dict]) -> list[dict]:
    """One summary row per (input, method) in METHODS order (see module doc for each column)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["input"], r["method"])].append(r)
    rows = []
    for kind in INPUTS:
        for m in METHODS:
            rs = groups.get((kind, m))
            if not rs:
                continue
            c = Counts()
            for r in rs:
                c.add_object(r["produced"], np.array(r["success"], bool), np.array(r["lift"], bool), r["cpu"])
            pen = [v for r in rs for v in r["pen_mm"]]
            rows.append({
                "input": kind, "method": m, "title": METHOD_TITLES[m], "objects": c.objects, "produced": c.produced,
                "evaluated": c.evaluated, "success": c.success_rate, "lift": c.lift_rate,
                "rejected": sum(r["rejected"] for r in rs) / max(c.evaluated, 1),
                "pen_mean_mm": _mean(pen), "pen_max_mm": float(max(pen)) if pen else math.nan,
                "contacts": _mean([v for r in rs for v in r["contacts"]]),
                "real_links": _mean([v for r in rs for v in r["real_links"]]),
                "pca": _mean([r["pca"] for r in rs]), "entropy": _mean([r["entropy"] for r in rs]),
                "diversity_objects": sum(not math.isnan(r["pca"]) for r in rs),
                "valid": c.valid_estimate, "cpu": c.cpu_seconds, "cpu_per_valid": c.cpu_per_valid})
    return rows


def _fmt(v, nd=2) -> str:
    if isinstance(v, str):
        return v
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf (0 valid)"
    if isinstance(v, int):
        return str(v)
    return f"{v:.{nd}f}"


COLUMNS = (("input", "input"), ("title", "method"), ("objects", "objects"), ("produced", "grasps"),
           ("evaluated", "simulated"), ("success", "success %"), ("lift", "lift %"),
           ("pen_mean_mm", "pen mean mm"), ("pen_max_mm", "pen max mm"), ("contacts", "contacts"),
           ("real_links", "real links"), ("pca", "PCA-k var"), ("entropy", "type H bits"),
           ("diversity_objects", "div objs"),
           ("cpu", "CPU s"), ("valid", "valid (est)"), ("cpu_per_valid", "CPU s / valid"))


def table_cells(rows: list[dict]) -> list[list[str]]:
    out = []
    for r in rows:
        cells = []
        for key, _ in COLUMNS:
            v = r[key]
            if key in ("success", "lift"):
                cells.append(_fmt(100 * v, 1) if not math.isnan(v) else "-")
            elif key in ("cpu", "valid"):
                cells.append(_fmt(float(v), 1))
            elif key == "pca":
                cells.append(_fmt(v, 3))
            else:
                cells.append(_fmt(v))
        out.append(cells)
    return out


def markdown_table(rows: list[dict], pca_k: int = 3) -> str:
    head = [h.replace("PCA-k", f"PCA-{pca_k}") for _, h in COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c) + " |" for c in table_cells(rows)]
    return "\n".join(lines)


def text_table(rows: list[dict], pca_k: int = 3) -> str:
    head = [h.replace("PCA-k", f"PCA-{pca_k}") for _, h in COLUMNS]
    cells = table_cells(rows)
    w = [max(len(head[i]), *(len(c[i]) for c in cells)) if cells else len(head[i]) for i in range(len(head))]
    fmt = lambda cs: "  ".join(c.ljust(w[i]) if i < 2 else c.rjust(w[i]) for i, c in enumerate(cs))
    return "\n".join([fmt(head), "  ".join("-" * x for x in w)] + [fmt(c) for c in cells])


def check_aims(rows: list[dict]) -> list[str]:
    """The issue's aims for row 3 against row 1, per input: one line each, with the numbers."""
    by = {(r["input"], r["method"]): r for r in rows}
    lines = []
    for kind in INPUTS:
        b, g = by.get((kind, "baseline")), by.get((kind, "gen+refine"))
        if b is None:
            continue
        if g is None:
            lines.append(f"{kind}: no generator rows (no model), aims not testable")
            continue
        ok1 = g["success"] >= 0.8 and g["pen_mean_mm"] < 1.0
        lines.append(f"{kind}: success >= 80% and mean penetration < 1 mm: "
                     f"{'MET' if ok1 else 'NOT MET'} ({100 * g['success']:.1f}%, {g['pen_mean_mm']:.2f} mm)")
        ok2 = g["pca"] <= b["pca"]
        ent = (f"; type entropy {g['entropy']:.2f} vs {b['entropy']:.2f} bits "
               f"({'>=' if g['entropy'] >= b['entropy'] else '<'} baseline)")
        lines.append(f"{kind}: at least as diverse as the baseline (PCA var lower or equal): "
                     f"{'MET' if ok2 else 'NOT MET'} ({g['pca']:.3f} vs {b['pca']:.3f}){ent}")
        ratio = b["cpu_per_valid"] / g["cpu_per_valid"] if g["cpu_per_valid"] > 0 else math.nan
        if math.isinf(b["cpu_per_valid"]) and math.isinf(g["cpu_per_valid"]):
            lines.append(f"{kind}: >= 20x fewer CPU-s per valid grasp: NOT TESTABLE (no valid grasp in either row)")
        else:
            ok3 = ratio >= 20
            lines.append(f"{kind}: >= 20x fewer CPU-s per valid grasp than the baseline: "
                         f"{'MET' if ok3 else 'NOT MET'} ({_fmt(b['cpu_per_valid'])} vs "
                         f"{_fmt(g['cpu_per_valid'])} s: {_fmt(ratio, 1)}x)")
    return lines


def write_outputs(cfg: EvalConfig, rows: list[dict], records: list[dict], notes: list[str], aims: list[str],
                  header: str) -> Path:
    out = cfg.out_dir
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()) if rows else ["input"])
        w.writeheader()
        w.writerows(rows)
    per_obj = ["object", "input", "method", "produced", "evaluated", "n_success", "n_lift", "rejected",
               "pen_mean_mm", "pen_max_mm", "pca", "entropy", "cpu", "rounds", "completed", "table", "energy_accepted"]
    with open(out / "per_object.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(per_obj)
        for r in records:
            w.writerow([r["object"], r["input"], r["method"], r["produced"], r["evaluated"], sum(r["success"]),
                        sum(r["lift"]), r["rejected"], _fmt(_mean(r["pen_mm"]), 3),
                        _fmt(max(r["pen_mm"]) if r["pen_mm"] else math.nan, 3), _fmt(r["pca"], 4),
                        _fmt(r["entropy"], 3), f"{r['cpu']:.3f}", r["rounds"], r["completed"], r.get("table", False),
                        r["energy_accepted"]])
    md = [header, "", markdown_table(rows, cfg.pca_k), ""]
    md += [f"- {n}" for n in notes]
    md += ["", "Aims (row 3 vs row 1):", ""] + [f"- {a}" for a in aims]
    (out / "results.md").write_text("\n".join(md) + "\n")
    (out / "results.json").write_text(json.dumps({"config": to_dict(cfg), "rows": rows, "notes": notes, "aims": aims},
                                                 indent=1, default=str))
    if cfg.plots and rows:
        plot_rows(rows, out / "results.png", cfg.pca_k)
    return out


def plot_rows(rows: list[dict], path: Path, pca_k: int = 3) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = list(dict.fromkeys(r["input"] for r in rows))
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    by = {(r["input"], r["method"]): r for r in rows}
    panels = (("success", "MuJoCo success (6 dir) %", 100, False), ("lift", "tabletop lift %", 100, False),
              ("pen_mean_mm", "mean penetration (mm)", 1, False), ("pca", f"PCA-{pca_k} cum. var (lower = diverse)", 1,
                                                                    False),
              ("entropy", "grasp-type entropy (bits)", 1, False), ("cpu_per_valid", "CPU s / valid grasp", 1, True))
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    x = np.arange(len(methods))
    wdt = 0.8 / max(len(kinds), 1)
    for ax, (key, title, scale, log) in zip(axes.flat, panels):
        for j, k in enumerate(kinds):
            vals = []
            for m in methods:
                v = by.get((k, m), {}).get(key, math.nan)
                vals.append(math.nan if v is None or math.isinf(v) else v * scale)
            ax.bar(x + (j - (len(kinds) - 1) / 2) * wdt, vals, wdt, label=k)
        ax.set_title(title, fontsize=10)
        ax.set_xticks(x, [str(METHODS.index(m) + 1) for m in methods])
        if log:
            ax.set_yscale("log")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("methods: " + ", ".join(METHOD_TITLES[m] for m in methods), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


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


def _read_yaml(path: Path) -> dict:
    return read_yaml(path, "a mapping of EvalConfig fields")


def config_from_args(a: argparse.Namespace, warn=None) -> EvalConfig:
    """EvalConfig from ``--config`` (if any) and the command-line options (which win). ``warn``
    (default: print to stderr) is told about planner settings found at the top level of the file."""
    warn = warn or (lambda m: print(f"dex1b eval: warning: {m}", file=sys.stderr))
    base = _read_yaml(a.config) if a.config else {}
    over = {k: getattr(a, k) for k in ("hand", "objects", "max_objects", "budget", "model", "eval_grasps",
                                       "diversity_grasps", "pca_k", "synth_batch", "synth_steps", "seed", "workers",
                                       "threads", "out", "hands_dir") if getattr(a, k) is not None}
    if a.inputs:
        over["inputs"] = [s.strip() for s in a.inputs.split(",") if s.strip()]
    if a.no_plots:
        over["plots"] = False
    if getattr(a, "save_plans", False):
        over["save_plans"] = True
    planner = {}
    for flag, key in (("gen_batch", "sampling.num_samples"), ("refine_steps", "refinement.refine_steps"),
                      ("num_validate", "validation.num_validate")):
        if getattr(a, flag, None) is not None:
            planner[key] = getattr(a, flag)
    for item in getattr(a, "planner", None) or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--planner {item!r}: expected FIELD=VALUE, e.g. sampling.num_samples=256")
        planner[key.strip()] = yaml.safe_load(value)
    try:
        cfg = eval_config(base, str(a.config or ""), warn)   # the file alone first: its errors name it
    except ConfigError as e:
        raise ConfigError(f"{a.config}: {e}") from None
    if not (over or planner):
        return cfg
    data = {k: v for k, v in to_dict(cfg).items() if k != "planner_config"}
    data.update(over)
    data["planner"] = {**cfg.planner, **planner}
    return from_dict(EvalConfig, data)


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
