"""The build's stages as pure functions of a task spec (no ROS).

Every stage takes a frozen dataclass that holds everything it depends on (seeds, counts,
paths of finished inputs) and writes one output at a deterministic path, so the same call
gives the same bytes in this process, in a process pool or in a Ray actor on another node.

Grasp tasks (round 0 seed, rounds >= 1 generate) are split in two halves so a cluster can put
them on different resources:

* :func:`propose` (torch: generator / optimiser; GPU-able): synthesise (round 0) or sample +
  refine (rounds >= 1); cheap pre-filter (object SDF: contact distance, penetration, self
  penetration); grasp types; associated points. Returns a :class:`Proposal` (numpy only).
* :func:`validate_and_write` (MuJoCo; CPU): validate the proposal, keep the valid grasps (per
  type at most the task's quota: the rebalancing cap), write the shard, return the task stats.

:func:`run_grasp_task` runs both (the embedded engine). :func:`run_train_task` trains the
round's generator. Heavy objects (hand model, object field, generator, validator scene) are
cached per process, keyed by everything they depend on.
"""
from __future__ import annotations

import dataclasses
import shutil
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..objects.rest import to_rest_frame
from .grasp_types import associated_weights, grasp_types, principal_frame, select_by_quota, type_quota
from .store import file_digest, replace_dir, write_shard

SEED_GENERATOR_VERSION = "optim-synth/1"
ASSOC_CLOUD_POINTS = 2048   # farthest-point surface samples the associated points are taken from (as in seed.py)


def task_seed(*parts) -> int:
    """A 31-bit seed from the build seed and a task's identity (stable across Python runs)."""
    return zlib.crc32("/".join(str(p) for p in parts).encode()) & 0x7FFFFFFF


@dataclass(frozen=True)
class GraspTask:
    """One grasp task: ``n`` grasps of one hand on one object, written to ``root/shard``."""

    task_id: str
    round: int
    hand: str
    object_id: str
    chunk: int
    chunks: int                      # tasks of this object in this round
    seed: int
    n: int                           # grasps synthesised (round 0) / sampled (rounds >= 1)
    steps: int                       # synthesis steps (round 0) / refinement steps
    root: str                        # build folder
    shard: str                       # shard path relative to root
    prefilter: tuple[float, float, float]   # max contact dist, penetration, self-penetration (m)
    contact_tol: float               # m, grasp-type finger contact tolerance
    cap_per_type: int                # per-object cap over all rounds (0 = none)
    type_counts: tuple = ()          # ((type, count), ...) valid grasps kept on this object in earlier rounds
    voxel_counts: tuple = ()         # ((i, j, k, type, count), ...) of their associated points
    voxel: float = 0.01              # m
    generator: str | None = None     # generator folder relative to root (rounds >= 1)
    generator_version: str = SEED_GENERATOR_VERSION
    temperature: float = 1.0
    cloud_points: int = 1024
    keep_invalid: bool = False
    screen_self_penetration: float = 0.0   # m, MuJoCo finger overlap above which a grasp is not simulated (0 = off)
    threads: int = 1
    hands_dir: str | None = None


@dataclass
class Proposal:
    """Output of :func:`propose`: the pre-filtered grasps of one task (numpy), plus counts."""

    grasps: object                   # optim.GraspSet of the pre-filter survivors
    types: list[str]
    assoc_point: np.ndarray          # (M, 3) m
    n_proposed: int
    seconds: dict = field(default_factory=dict)
    cpu_seconds: float = 0.0         # process CPU time of propose() (incl. loading the object's field)


# ---------------------------------------------------------------------- per-process caches
_CACHE: dict = {}


def _cached(key, make):
    if key not in _CACHE:
        if len(_CACHE) > 64:          # objects are small, but keep memory bounded on long runs
            _CACHE.clear()
        _CACHE[key] = make()
    return _CACHE[key]


def _threads(n: int) -> None:
    import torch
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def _hand(name: str, hands_dir):
    from ..hands import load_hand
    return _cached(("hand", name, hands_dir), lambda: load_hand(name, hands_dir=hands_dir))


def _mesh(object_id: str):
    from ..objects import load_object
    return _cached(("mesh", object_id), lambda: load_object(object_id).mesh)


def _field(object_id: str):
    from ..optim import ObjectField
    return _cached(("field", object_id), lambda: ObjectField.from_mesh(_mesh(object_id)))


def _frame(object_id: str):
    return _cached(("frame", object_id), lambda: principal_frame(_mesh(object_id)))


def _cloud(object_id: str, n: int):
    from ..geometry.pointcloud import sample_surface
    return _cached(("cloud", object_id, n), lambda: sample_surface(_mesh(object_id), n, seed=0, fps=True))


def _generator(path: str, hand_name: str, hands_dir):
    from ..generator import load_generator
    return _cached(("gen", path, hand_name, hands_dir), lambda: load_generator(path, _hand(hand_name, hands_dir)))


def _validator(hand_name: str, object_id: str, hands_dir):
    from ..hands import load_hand_config
    from ..validate import GraspValidator
    return _cached(("val", hand_name, object_id, hands_dir),
                   lambda: GraspValidator(load_hand_config(hand_name), _mesh(object_id), workers=1,
                                          hands_dir=hands_dir))


def _rest_poses(object_id: str):
    """The object's stable resting poses (:func:`dex1b_ros.objects.rest.rest_poses`, probability >= 5 %)."""
    from ..objects.rest import rest_poses
    return _cached(("rest", object_id), lambda: rest_poses(_mesh(object_id)))


def _lift_validator(hand_name: str, object_id: str, pose_index: int, hands_dir):
    """Validator of the object in rest pose ``pose_index``: the object-frame decomposition
    moved into that pose (the same parts as the free-space test; no second CoACD run)."""
    from ..geometry.decompose import convex_parts
    from ..hands import load_hand_config
    from ..validate import GraspValidator, ValidatorConfig
    T = _rest_poses(object_id)[0][pose_index]

    def make():
        cfg = ValidatorConfig()
        parts = [p.copy().apply_transform(T) for p in convex_parts(_mesh(object_id), cfg.decomposition)]
        return GraspValidator(load_hand_config(hand_name), parts, cfg, workers=1, hands_dir=hands_dir)
    return _cached(("lift", hand_name, object_id, pose_index, hands_dir), make)


# ---------------------------------------------------------------------- grasp tasks
def propose(t: GraspTask) -> Proposal:
    """Synthesise (round 0) or sample + refine (rounds >= 1), then pre-filter, type and
    associate. Deterministic for a given spec (torch CPU, ``t.threads`` threads)."""
    import torch

    from ..generator.model import associated_points
    from ..optim import GraspOptimizer, refinement_config, synthesis_config

    c0 = time.process_time()
    _threads(t.threads)
    torch.manual_seed(t.seed)
    hand = _hand(t.hand, t.hands_dir)
    fld = _field(t.object_id)
    opt = GraspOptimizer(hand, fld)
    limits = dict(max_contact_dist=t.prefilter[0], max_penetration=t.prefilter[1],
                  max_self_penetration=t.prefilter[2])
    sec = {}
    t0 = time.perf_counter()
    if t.generator is None:
        gs = opt.synthesize(t.n, synthesis_config(steps=t.steps, seed=t.seed, **limits))
        sec["synthesize"] = time.perf_counter() - t0
    else:
        gen = _generator(str(Path(t.root) / t.generator), t.hand, t.hands_dir)
        pts, nrm = _cloud(t.object_id, t.cloud_points)
        w = associated_weights(pts, t.voxel, t.voxel_counts, dict(t.type_counts))
        s = gen.sample_detailed(pts, nrm, t.n, associated_weights=w, temperature=t.temperature, seed=t.seed)
        sec["sample"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        gs = opt.refine(s.pose, refinement_config(steps=t.steps, seed=t.seed, **limits))
        sec["refine"] = time.perf_counter() - t1
    n = len(gs)
    t2 = time.perf_counter()
    acc = gs.select(gs.accepted)
    if len(acc):
        pose = acc.pose(hand)
        types = grasp_types(hand, fld, pose, _frame(t.object_id), t.contact_tol)
        cloud, _ = _cloud(t.object_id, ASSOC_CLOUD_POINTS)
        _, ap = associated_points(hand, pose, torch.as_tensor(cloud, dtype=hand.dtype))
        ap = ap.cpu().numpy().astype(np.float32)
    else:
        types, ap = [], np.zeros((0, 3), np.float32)
    sec["types"] = time.perf_counter() - t2
    return Proposal(acc, types, ap, n, sec, time.process_time() - c0)


def validate_and_write(t: GraspTask, p: Proposal) -> dict:
    """MuJoCo-validate a proposal, keep the valid grasps within the type quotas, write the
    shard (atomic). Returns the task's stats (JSON-able; ``outputs`` lists the shard).

    Grasps whose fingers overlap by more than ``t.screen_self_penetration`` m in MuJoCo's own
    geometry (the optimizer's coarse self-collision spheres miss such overlaps; measured: 48 %
    of accepted LEAP seed grasps, of which 4 % passed) are not simulated: they are stored (with
    ``keep_invalid``) as failures "self_penetration", success null. Every simulated grasp gets
    the free-space six-direction test AND the tabletop lift with the object resting in a
    stable pose drawn per task (by the poses' probabilities)."""
    from ..dataset.schema import GraspRecords, empty_records, records_from_graspset
    from ..hands import load_hand_config
    from ..records import as_stored_joints
    from ..validate import failure_reasons

    t0, c0 = time.perf_counter(), time.process_time()
    joint_names = load_hand_config(t.hand).joint_names
    # simulate the joints as the shard stores them (float16): the stored verdict is the stored grasp's
    p = dataclasses.replace(p, grasps=dataclasses.replace(
        p.grasps, **{k: as_stored_joints(getattr(p.grasps, k)) for k in ("pregrasp", "grasp", "squeeze")}))
    lift, res, pose_index = None, None, -1
    order = np.arange(len(p.grasps))
    n_sim = 0
    if len(p.grasps):
        v = _validator(t.hand, t.object_id, t.hands_dir)
        g = p.grasps
        sim = np.ones(len(g), bool)
        if t.screen_self_penetration > 0:
            _, self_pen = v.penetrations(g.trans, g.quat, g.grasp)
            sim = self_pen <= t.screen_self_penetration
        order = np.concatenate([np.nonzero(sim)[0], np.nonzero(~sim)[0]])
        n_sim = int(sim.sum())
    acc = p.grasps.select(order) if len(p.grasps) else p.grasps
    types = [p.types[i] for i in order]
    assoc = p.assoc_point[order] if len(order) else p.assoc_point
    ok = np.zeros(len(acc), bool)
    if n_sim:
        a = acc.select(np.arange(n_sim))
        res = v.validate(a.trans, a.quat, a.pregrasp, a.grasp, a.squeeze)
        ok[:n_sim] = res.success
        # the robot's case: the object rests on a table; grasps through the table fail here
        rest, prob = _rest_poses(t.object_id)
        pose_index = int(np.random.default_rng(t.seed).choice(len(prob), p=prob))
        wp, wq = to_rest_frame(rest[pose_index], a.trans, a.quat)
        lift = _lift_validator(t.hand, t.object_id, pose_index, t.hands_dir).validate_tabletop(
            wp, wq, a.pregrasp, a.grasp, a.squeeze)
    t1 = time.perf_counter()
    prior = dict(t.type_counts)
    quotas = {ty: type_quota(prior.get(ty, 0), t.cap_per_type, t.chunk, t.chunks) for ty in set(types)}
    keep = select_by_quota(types, acc.energy["total"] if len(acc) else np.zeros(0), ok, quotas)
    if len(acc):
        parts = []
        kw = dict(round_=t.round, generator_version=t.generator_version)
        if n_sim:
            idx = np.arange(n_sim)
            parts.append(records_from_graspset(acc.select(idx), t.object_id, joint_names, validation=res,
                                               assoc_point=assoc[idx], grasp_type=types[:n_sim], lift=lift,
                                               stable_pose=pose_index, **kw))
        if n_sim < len(acc):
            idx = np.arange(n_sim, len(acc))
            r = records_from_graspset(acc.select(idx), t.object_id, joint_names, assoc_point=assoc[idx],
                                      grasp_type=types[n_sim:], **kw)
            r.failure[:] = "self_penetration"
            parts.append(r)
        rec = GraspRecords.concat(parts)
        rec = rec.select(keep | (~ok if t.keep_invalid else np.zeros(len(ok), bool)))
    else:
        rec = empty_records(t.hand, joint_names)
    size, digest = write_shard(rec, Path(t.root) / t.shard)
    t2 = time.perf_counter()
    types = np.asarray(types, dtype=object)
    before = _hist(types[ok]) if len(ok) else {}
    after = _hist(types[keep]) if len(keep) else {}
    pen = np.asarray(res.penetration_mm, np.float64) if res is not None else np.zeros(0)
    failures = [f for f in failure_reasons(res) if f] if res is not None else []
    failures += ["self_penetration"] * (len(acc) - n_sim)
    return {
        "task_id": t.task_id, "stage": "seed" if t.generator is None else "generate", "round": t.round,
        "hand": t.hand, "object_id": t.object_id, "chunk": t.chunk, "seed": t.seed,
        "proposed": int(p.n_proposed), "prefiltered": int(len(acc)), "validated": n_sim,
        "valid": int(ok.sum()), "kept": int(keep.sum()), "rows": int(len(rec)),
        "lift_valid": int(np.asarray(lift.success).sum()) if lift is not None else 0,
        "lift_valid_and_valid": int((np.asarray(lift.success) & ok[:n_sim]).sum()) if lift is not None else 0,
        "failures": _hist(failures),
        "types_valid": before, "types_kept": after,
        "penetration_mm_valid_mean": float(pen[ok[:n_sim]].mean()) if ok.any() else None,
        "seconds": {**{k: round(v, 4) for k, v in p.seconds.items()}, "validate": round(t1 - t0, 4),
                    "write": round(t2 - t1, 4)},
        # process CPU time (wall "seconds" overstate the cost when the cores are shared)
        "cpu_seconds": {"propose": round(p.cpu_seconds, 4), "validate+write": round(time.process_time() - c0, 4)},
        "outputs": [{"path": t.shard, "bytes": size, "sha256": digest}],
    }


def _hist(a) -> dict:
    vals, counts = np.unique(np.asarray(a, dtype=str), return_counts=True) if len(a) else ([], [])
    return {str(v): int(c) for v, c in zip(vals, counts)}


def run_grasp_task(t: GraspTask) -> dict:
    """Both halves in this process (the embedded engine)."""
    return validate_and_write(t, propose(t))


# ---------------------------------------------------------------------- train task
@dataclass(frozen=True)
class TrainTask:
    """Train the generator of round ``round`` on the valid grasps of ``shards``."""

    task_id: str
    round: int
    hand: str
    root: str
    out: str                          # generator folder relative to root
    shards: tuple[str, ...]           # relative shard paths (rounds < round)
    init: str | None                  # generator folder (absolute, or relative to root) to start from; None = fresh
    train_config: dict                # to_dict(TrainConfig) with steps and seed set
    threads: int = 1
    hands_dir: str | None = None


def run_train_task(t: TrainTask) -> dict:
    """Fine-tune (or train from scratch) DexSimple on the valid records of ``t.shards`` and
    export it to ``root/out`` (folder moved into place atomically). Falls back to the fresh /
    initial weights with 0 steps when the shards hold no valid record (stated in the stats)."""
    import numpy as np
    import torch

    from ..config_utils import from_dict
    from ..generator.model import DexSimple
    from ..generator.train import (
        CARD_NAME,
        WEIGHTS_NAME,
        TrainConfig,
        TrainResult,
        export_model,
        save_checkpoint,
        train,
    )
    from .schema import read_records

    _threads(t.threads)
    t0 = time.perf_counter()
    root = Path(t.root)
    hand = _hand(t.hand, t.hands_dir)
    cfg = from_dict(TrainConfig, t.train_config)
    init_model = None
    if t.init is not None:
        init_path = Path(t.init) if Path(t.init).is_absolute() else root / t.init
        from ..generator import load_generator
        init_model = load_generator(init_path, hand)
        cfg = dataclasses.replace(cfg, model=init_model.cfg)
    final = root / t.out
    tmp = final.with_name(f".tmp-{final.name}")
    if tmp.exists():
        shutil.rmtree(tmp)
    run_dir = tmp / "run"
    paths = [root / s for s in t.shards]
    recs = read_records(paths) if paths else None
    n_valid = int((recs.validated & recs.success).sum()) if recs is not None else 0
    from ..objects import load_split
    val_ids = set(load_split("val"))
    n_train = int(sum(1 for o, v, s in zip(recs.object_id, recs.validated, recs.success)
                      if v and s and o not in val_ids)) \
        if recs is not None else 0
    if n_train > 0 and cfg.steps > 0:
        torch.manual_seed(cfg.seed)
        if init_model is not None:
            # thin adapter: train() starts from a checkpoint in its run folder, so put the
            # initial weights there as "step 0" (empty optimiser state)
            model = DexSimple(hand, cfg.model).to(device=hand.device, dtype=hand.dtype)
            model.load_state_dict(init_model.state_dict())
            save_checkpoint(run_dir, model, torch.optim.AdamW(model.parameters(), lr=cfg.lr), 0, 0.0, cfg,
                            np.random.default_rng(cfg.seed))
            torch.manual_seed(cfg.seed)
        res = train(hand, paths, run_dir, cfg, resume=init_model is not None, progress=False)
        steps = cfg.steps
    else:
        torch.manual_seed(cfg.seed)
        model = DexSimple(hand, cfg.model).to(device=hand.device, dtype=hand.dtype)
        if init_model is not None:
            model.load_state_dict(init_model.state_dict())
        model.eval()
        res = TrainResult(model, [], {}, run_dir, {"shards": [str(p) for p in paths], "records_total": 0,
                                                   "records_used": 0, "train_records": 0, "val_records": 0,
                                                   "train_objects": [], "val_objects": []}, 0.0)
        steps = 0
    # the card names the shards relative to the dataset folder (as committed), not as this machine reads them
    res.data["shards"] = [str(s) for s in t.shards]
    export_model(res, tmp, cfg, f"dex1b dataset build (round {t.round}; shards relative to the dataset folder)")
    replace_dir(tmp, final)
    outputs = []
    for name in (WEIGHTS_NAME, CARD_NAME):
        size, digest = file_digest(final / name)
        outputs.append({"path": f"{t.out}/{name}", "bytes": size, "sha256": digest})
    last = res.history[-1] if res.history else {}
    return {"task_id": t.task_id, "stage": "train", "round": t.round, "hand": t.hand, "steps": steps,
            "valid_records": n_valid, "train_records": n_train, "init": t.init,
            "loss": float(last["total"]) if "total" in last else None,
            "weights_sha256": tensor_digest(final / WEIGHTS_NAME),
            "seconds": {"train": round(time.perf_counter() - t0, 4)}, "outputs": outputs}


def tensor_digest(path) -> str:
    """sha256 of a safetensors file's tensors (name, dtype, shape, bytes; sorted by name). The file's
    own bytes are not reproducible: its JSON header's metadata order changes from run to run."""
    import hashlib

    from safetensors.numpy import load_file
    h = hashlib.sha256()
    for k, v in sorted(load_file(str(path)).items()):
        h.update(f"{k}|{v.dtype.str}|{v.shape}|".encode())
        h.update(np.ascontiguousarray(v).tobytes())
    return h.hexdigest()


def generator_version(entry: dict) -> str:
    """Record label of grasps made with a trained generator: ``dexsimple/1+r<R>-<8 hex of tensor_digest>``."""
    from ..generator.model import GENERATOR_VERSION
    return f"{GENERATOR_VERSION}+r{entry['round']}-{entry['weights_sha256'][:8]}"
