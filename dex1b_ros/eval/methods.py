"""The four methods of ``dex1b eval`` on one object (see :mod:`dex1b_ros.eval.run` for the rows):
the optimization baseline, the generator, generator + refinement and + the validator filter,
each charged the CPU-seconds (``time.process_time``) of its stages; :func:`evaluate_object` runs
them on every input cloud and scores their output on the true mesh (:mod:`dex1b_ros.eval.score`)."""
from __future__ import annotations

import time
import zlib

import numpy as np

from .clouds import make_cloud, table_plane
from .config import METHODS, EvalConfig, pipeline_config
from .report import save_eval_plan
from .score import _evaluate_row

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
    plane = prepared.support_plane                  # a table_frame generator samples in the table's frame
    up = None if plane is None else plane[:3]
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
                              temperature=pc.sampling.temperature, up=up)
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


def _worker(args):
    object_id, obj, cfg = args
    return evaluate_object(object_id, obj, cfg)
