"""Train DexSimple from Parquet grasp shards: the training loop and ``dex1b train`` (no ROS).

Examples::

    # train on the seed shards of one hand, checkpoints and logs in out/runs/leap, export models/leap
    dex1b train --hand leap --data out/seed/leap --out out/runs/leap --steps 3000
    # same, settings from YAML (a TrainConfig; its `model:` section is a GeneratorConfig)
    dex1b train --hand leap --data out/seed/leap --config config/generator/train.yaml
    # every TrainConfig field is a flag (nested: --model.FIELD); flags override the YAML
    dex1b train --hand leap --data out/seed/leap --lr 3e-4 --partial-fraction 0.8 --model.latent 128
    # fine-tune an exported generator with other loss settings (its architecture and weights)
    dex1b train --hand leap --data data/leap/grasps/round=6/hand=leap --init out/models/leap --model.w-prior 1.0
    # an interrupted run resumes from out/runs/leap/checkpoint.* unless --fresh is given
    python -m dex1b_ros.generator.train --hand leap --data out/seed/leap --out out/runs/leap

Data (:mod:`.data`): records of ``--data`` shards (schema: :mod:`dex1b_ros.records`); by
default only the validated-successful ones; objects of the ``val`` split are held out for
validation. Each step takes ``objects_per_batch`` objects, each seen as its full surface or as
one of ``views_per_object`` simulated single-view clouds, randomly rotated with its grasps.
The SDF and contact terms check the decoded hand against the object's full-surface samples in
every case.

Outputs in ``--out``: ``checkpoint.safetensors`` + ``checkpoint.json`` (:mod:`.checkpoint`),
written atomically every ``ckpt_every`` steps and at the end; ``train_log.csv`` (every
``log_every`` steps) and ``val_log.csv`` (every ``val_every`` steps), one row per line with a
header, to plot directly. Nothing is pickled. The export (``--export``, default
``models/<hand>``) holds ``dexsimple.safetensors`` and ``model_card.yaml``;
:func:`dex1b_ros.generator.load.load_generator` checks the card.

This module keeps the names it used to hold (data, checkpoint, export and load functions) as
re-exports.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ..config_utils import ConfigError, fail, to_dict
from ..hands import HandModel, HandPose, load_hand
from ..records import SCHEMA_VERSION, GraspRecords, read_records
from .checkpoint import (
    CARD_NAME,
    WEIGHTS_NAME,
    GeneratorLoadError,
    _atomic,
    atomic_write,
    export_model,
    load_checkpoint,
    read_model_card,
    save_checkpoint,
    sha256_file,
)
from .data import (
    Batch,
    CloudCache,
    GraspData,
    _rotations,
    augment_rotations,
    make_batch,
    read_shards,
    shard_paths,
    split_records,
)
from .load import load_generator
from .model import ARCHITECTURE_FIELDS, DexSimple, GeneratorConfig

_split_records = split_records  # old name


@dataclass
class TrainConfig:
    """One training run. Lengths m."""

    model: GeneratorConfig = field(default_factory=GeneratorConfig)
    steps: int = 3000                 # optimiser steps
    batch_size: int = 64              # grasps per step
    objects_per_batch: int = 8        # objects (clouds) per step; grasps are split evenly over them
    lr: float = 1e-3                  # Adam learning rate
    lr_final: float = 0.1             # cosine decay to this fraction of lr
    weight_decay: float = 0.0         # AdamW weight decay
    grad_clip: float = 5.0            # global gradient-norm clip (0 = off)
    kl_warmup: int = 300              # steps over which beta ramps linearly from 0
    partial_fraction: float = 0.5     # fraction of clouds that are single-view partial clouds
    views_per_object: int = 8         # cached partial views per object
    visible_tol: float = 0.015        # m, a grasp fits a partial view if its associated point is this close
    geom_points: int = 512            # full-surface points the SDF/contact terms check against (cost ~ linear)
    sdf_resolution: int = 40          # grid samples along an object's longest axis (model.penetration: mesh)
    rotation_augment: Literal["none", "z", "so3"] = "so3"  # random rotation of cloud + grasps per object
                                      # (model.table_frame: z or none, so the table stays below)
    table_margin: float = 0.001       # m, model.table_frame: a grasp trains in a rest pose if its hand's spheres
                                      # reach at most this far below the table (generator.table)
    only_success: bool = True         # train on validator-successful records only
    val_every: int = 250              # steps between validations (0 = only at the end)
    val_samples: int = 64             # prior samples per val object for the sample metrics
    ckpt_every: int = 500             # steps between checkpoints (0 = only at the end)
    log_every: int = 10               # steps between train_log.csv rows
    seed: int = 0                     # seed of the network init, batches and augmentation

    def __post_init__(self):
        for k in ("steps", "batch_size", "objects_per_batch", "views_per_object", "log_every", "geom_points"):
            if getattr(self, k) < 1:
                fail(k, f"must be >= 1, got {getattr(self, k)}")
        for k in ("val_every", "ckpt_every", "kl_warmup", "val_samples"):
            if getattr(self, k) < 0:
                fail(k, f"must be >= 0, got {getattr(self, k)}")
        if self.sdf_resolution < 4:
            fail("sdf_resolution", f"must be >= 4, got {self.sdf_resolution}")
        if self.lr <= 0:
            fail("lr", f"must be > 0, got {self.lr}")
        if not 0 < self.lr_final <= 1:
            fail("lr_final", f"must be in (0, 1], got {self.lr_final}")
        if not 0 <= self.partial_fraction <= 1:
            fail("partial_fraction", f"must be in [0, 1], got {self.partial_fraction}")
        if self.visible_tol <= 0:
            fail("visible_tol", f"must be > 0 m, got {self.visible_tol}")
        if self.rotation_augment not in ("none", "z", "so3"):
            fail("rotation_augment", f"expected none, z or so3, got {self.rotation_augment!r}")
        if self.model.table_frame and self.rotation_augment == "so3":
            fail("rotation_augment", "model.table_frame needs z or none (so3 would turn the table); "
                                     "pass --rotation-augment z")
        if self.table_margin < 0:
            fail("table_margin", f"must be >= 0 m, got {self.table_margin}")


# ---------------------------------------------------------------------- validation
@torch.no_grad()
def evaluate(model: DexSimple, data: GraspData, cfg: TrainConfig, seed: int = 1234) -> dict[str, float]:
    """Held-out metrics: posterior losses on full clouds (fixed seeds) and prior-sample geometry
    (penetration in the object's exact SDF, and contact distance to its surface samples, of
    ``val_samples`` sampled grasps per object, mm)."""
    was_training = model.training
    model.eval()
    rng = np.random.default_rng(seed)
    torch_state = torch.get_rng_state()
    torch.manual_seed(seed)
    sums: dict[str, float] = {}
    n = 0
    pen_l, con_l = [], []
    for o in data.objects:
        b = make_batch(model, data, [o], [min(64, len(data.rows[o]))], [False], rng, "none", 1,
                       with_sdf=model.cfg.penetration == "mesh", table=model.cfg.table_frame)
        L = model.losses(b.x, b.centre, b.cloud_idx, b.point_idx, b.g, b.geom, mesh_sdf=b.mesh_sdf, table_z=b.table_z)
        m = len(b.g)
        for k, v in L.items():
            sums[k] = sums.get(k, 0.0) + float(v) * m
        n += m
        if cfg.val_samples:
            pts, nrm = data.clouds.full(o)
            s = model.sample(pts, nrm, cfg.val_samples, seed=seed)
            pen, con = sample_geometry(model, s, torch.as_tensor(pts, dtype=s.q.dtype), data.clouds.sdf(o))
            pen_l.append(pen)
            con_l.append(con)
    torch.set_rng_state(torch_state)
    model.train(was_training)
    out = {f"val_{k}": v / max(n, 1) for k, v in sums.items()}
    if pen_l:
        pen, con = torch.cat(pen_l) * 1000, torch.cat(con_l) * 1000
        out.update(val_sample_pen_mm=float(pen.mean()), val_sample_contact_mm=float(con.mean()),
                   val_sample_ok=float(((pen < 2) & (con < 5)).float().mean()))
    return out


def sample_geometry(model: DexSimple, pose: HandPose, cloud: torch.Tensor, sdf=None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per grasp (m): deepest sphere penetration (>= 0; of the object's ``SDFGrid`` ``sdf`` when
    given, else point-sphere against the cloud, blind to spheres wholly inside) and the largest
    distance of the ``contact_fingers`` to the cloud (P, 3) (same frame as the pose)."""
    from ..geometry.sdf import point_sphere_distance
    from .model import _nearest_distance
    h = model.hand
    T = h.link_poses_palm(pose.q)
    c, r = h.spheres(pose, T)
    if sdf is None:
        pen = torch.relu(-point_sphere_distance(c, r, cloud)).amax(-1)
    else:
        pen = torch.relu(r - sdf.query(c, with_grad=False)[0].to(c.dtype)).amax(-1)
    p, _ = h.contact_candidates(pose, T)
    d = _nearest_distance(p, cloud.expand(len(p), -1, -1))
    g = model.contact_groups
    dg = d[:, g.clamp_min(0)].masked_fill(g < 0, float("inf")).min(-1).values
    return pen, dg.amax(-1)


class _CSV:
    """Append rows to a CSV with a fixed header; on resume drop rows after ``keep_until`` step."""

    def __init__(self, path: Path, fields: list[str], keep_until: int | None):
        self.path, self.fields = path, fields
        rows = []
        if keep_until is not None and path.is_file():
            with open(path) as f:
                rows = [r for r in csv.DictReader(f) if int(float(r["step"])) <= keep_until]
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fields, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)

    def write(self, row: dict) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self.fields, extrasaction="ignore").writerow(
                {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


# ---------------------------------------------------------------------- training
@dataclass
class TrainResult:
    model: DexSimple
    history: list[dict]          # train_log rows
    val: dict[str, float]        # last validation metrics (empty without val objects)
    out_dir: Path
    data: dict                   # what was trained on (shards, counts, objects)
    seconds: float


def train(hand: HandModel, shards: list[str | Path], out_dir: str | Path, cfg: TrainConfig | None = None,
          resume: bool = True, progress: bool = True, init: DexSimple | None = None) -> TrainResult:
    """Train (or resume) DexSimple on ``shards``; checkpoints and logs in ``out_dir``.

    ``init``: a trained generator to start from (fine-tuning, e.g. with other loss weights): its
    architecture (``ARCHITECTURE_FIELDS``) replaces ``cfg.model``'s, its weights the random init; the
    loss settings stay ``cfg.model``'s. A checkpoint in ``out_dir`` (``resume``) takes precedence."""
    from tqdm.auto import tqdm

    cfg = cfg or TrainConfig()
    if init is not None:
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(
            cfg.model, **{k: getattr(init.cfg, k) for k in ARCHITECTURE_FIELDS}))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    records = read_shards(shards)
    if records.hand != hand.name or tuple(records.joint_names) != tuple(hand.joint_names):
        raise ValueError(f"shards hold hand {records.hand!r} grasps; training hand is {hand.name!r}")
    tr, va, info = split_records(records, cfg.only_success)
    info["shards"] = [str(s) for s in ([shards] if isinstance(shards, (str, Path)) else shards)]
    if len(tr) == 0:
        raise ValueError(f"no training records in {info['shards']} (only_success={cfg.only_success}; "
                         f"{info['records_total']} records, {info['val_records']} on val objects)")
    if cfg.model.table_frame:      # the objects resting on a table, seen from above (generator.table)
        from .table import TableCloudCache, table_records
        clouds = TableCloudCache(cfg.model.n_points, cfg.views_per_object, cfg.seed, cfg.geom_points,
                                 cfg.sdf_resolution)
        tr, tinfo = table_records(hand, tr, clouds, cfg.table_margin)
        va, vinfo = table_records(hand, va, clouds, cfg.table_margin)
        info.update(tinfo, val_table_records=vinfo["table_records"])
        if len(tr) == 0:
            raise ValueError(f"table_frame: no training grasp of {info['shards']} clears the table in any rest pose")
    else:
        clouds = CloudCache(cfg.model.n_points, cfg.views_per_object, cfg.seed, cfg.geom_points, cfg.sdf_resolution)
    data = GraspData(tr, clouds, cfg.visible_tol)
    vdata = GraspData(va, clouds, cfg.visible_tol) if len(va) else None

    torch.manual_seed(cfg.seed)
    model = DexSimple(hand, cfg.model).to(device=hand.device, dtype=hand.dtype)
    if init is not None:
        model.load_state_dict(init.state_dict())
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng(cfg.seed)
    start = 0
    ckpt = out_dir / "checkpoint.json"
    if resume and ckpt.is_file():
        meta = load_checkpoint(out_dir, model, opt)
        if meta["train_config"]["model"] != to_dict(cfg.model):
            raise ConfigError(f"{ckpt}: checkpoint was made with another model config; use --fresh or the same config")
        start = int(meta["step"])
        rng.bit_generator.state = meta["numpy_rng"]

    def lr_at(s: int) -> float:  # cosine decay from lr to lr * lr_final
        return cfg.lr * (cfg.lr_final + (1 - cfg.lr_final) * 0.5 * (1 + math.cos(math.pi * s / cfg.steps)))

    loss_keys = ["total", "rec_trans", "rec_rot", "rec_joints", "kl", "sdf", "contact", "prior_sdf", "prior_contact",
                 "table", "prior_table", "prior_assoc"]
    tlog = _CSV(out_dir / "train_log.csv", ["step", "epoch", *loss_keys, "lr", "seconds"], start if start else None)
    vlog = _CSV(out_dir / "val_log.csv", ["step", "epoch", *[f"val_{k}" for k in loss_keys], "val_sample_pen_mm",
                                          "val_sample_contact_mm", "val_sample_ok"], start if start else None)
    history: list[dict] = []
    val: dict[str, float] = {}
    K = min(cfg.objects_per_batch, len(data.objects))
    acc: dict[str, float] = {}
    n_acc = 0
    bar = tqdm(total=cfg.steps, initial=start, desc=f"train {hand.name}", disable=not progress, dynamic_ncols=True)
    step = start
    for step in range(start + 1, cfg.steps + 1):
        objs = [data.objects[i] for i in rng.choice(len(data.objects), K, replace=False)]
        per = [cfg.batch_size // K + (1 if i < cfg.batch_size % K else 0) for i in range(K)]
        partial = (rng.random(K) < cfg.partial_fraction).tolist()
        b = make_batch(model, data, objs, per, partial, rng, cfg.rotation_augment, cfg.views_per_object,
                       with_sdf=cfg.model.penetration == "mesh", table=cfg.model.table_frame)
        for gr in opt.param_groups:
            gr["lr"] = lr_at(step - 1)
        kl_scale = min(1.0, step / cfg.kl_warmup) if cfg.kl_warmup else 1.0
        L = model.losses(b.x, b.centre, b.cloud_idx, b.point_idx, b.g, b.geom, kl_scale=kl_scale,
                         mesh_sdf=b.mesh_sdf, table_z=b.table_z)
        opt.zero_grad(set_to_none=True)
        L["total"].backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        for k, v in L.items():
            acc[k] = acc.get(k, 0.0) + float(v.detach())
        n_acc += 1
        epoch = step * cfg.batch_size / len(data)
        if step % cfg.log_every == 0 or step == cfg.steps:
            row = {"step": step, "epoch": epoch, **{k: v / n_acc for k, v in acc.items()}, "lr": lr_at(step - 1),
                   "seconds": time.perf_counter() - t0}
            tlog.write(row)
            history.append(row)
            acc, n_acc = {}, 0
            bar.set_postfix(loss=f"{row['total']:.3f}", kl=f"{row['kl']:.2f}", sdf=f"{row.get('sdf', 0):.3f}")
        bar.update(1)
        if vdata is not None and ((cfg.val_every and step % cfg.val_every == 0) or step == cfg.steps):
            val = evaluate(model, vdata, cfg)
            vlog.write({"step": step, "epoch": epoch, **val})
        if (cfg.ckpt_every and step % cfg.ckpt_every == 0) or step == cfg.steps:
            save_checkpoint(out_dir, model, opt, step, epoch, cfg, rng, {"data": info})
    bar.close()
    if vdata is not None and not val:
        val = evaluate(model, vdata, cfg)
    model.eval()
    return TrainResult(model, history, val, out_dir, info, time.perf_counter() - t0)


# ---------------------------------------------------------------------- CLI
def build_parser(prog: str = "dex1b train") -> argparse.ArgumentParser:
    from ..cli_config import add_training_args

    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hand", required=True, help="hand name (config/hands/<hand>.yaml), e.g. leap")
    ap.add_argument("--data", action="append", required=True, type=Path,
                    help="a shard or a folder of *.parquet shards (repeatable), e.g. out/seed/leap")
    ap.add_argument("--out", type=Path, default=None, help="run folder: checkpoints + logs (default out/runs/<hand>)")
    ap.add_argument("--export", type=Path, default=None, help="export folder (default models/<hand>)")
    ap.add_argument("--no-export", action="store_true", help="do not export at the end")
    ap.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint in --out")
    ap.add_argument("--init", type=Path, default=None,
                    help="start from this exported generator (folder or weights): its architecture and weights, "
                         "this run's loss settings (fine-tuning); e.g. models/leap")
    add_training_args(ap, TrainConfig, title="TrainConfig (every field; overrides --config)",
                      config_help="TrainConfig YAML (model: section = GeneratorConfig); the flags below override it")
    return ap


def main(argv=None) -> int:
    from ..cli_config import parse_training_args

    argv = list(sys.argv[1:] if argv is None else argv)
    ap = build_parser()
    a, cfg = parse_training_args(ap, TrainConfig, argv)
    out = a.out or Path("out") / "runs" / a.hand
    hand = load_hand(a.hand, hands_dir=a.hands_dir)
    shards = shard_paths(a.data)
    init = load_generator(a.init, hand) if a.init else None
    res = train(hand, shards, out, cfg, resume=not a.fresh, progress=not a.quiet, init=init)
    last = res.history[-1] if res.history else {}
    what = f"{res.data['train_records']} records, {len(res.data['train_objects'])} objects"
    if "table_records" in res.data:
        what = f"{res.data['table_records']} grasps in {res.data['table_scenes']} table scenes from {what}"
    print(f"trained {hand.name}: step {last.get('step')} loss {last.get('total', float('nan')):.4f} "
          f"({what}, {res.seconds:.0f} s)")
    if res.val:
        print("validation: " + ", ".join(f"{k} {v:.4g}" for k, v in res.val.items()))
    if not a.no_export:
        w = export_model(res, a.export or Path("models") / hand.name, cfg, "dex1b train " + shlex.join(argv))
        print(f"exported {w} and {w.with_name(CARD_NAME)}")
    return 0


__all__ = [
    "TrainConfig", "TrainResult", "build_parser", "evaluate", "main", "sample_geometry", "train",
    # re-exported from .data, .checkpoint, .load and dex1b_ros.records (their old home was here)
    "CARD_NAME", "SCHEMA_VERSION", "WEIGHTS_NAME", "Batch", "CloudCache", "GeneratorLoadError", "GraspData",
    "GraspRecords", "_atomic", "_rotations", "_split_records", "atomic_write", "augment_rotations", "export_model",
    "load_checkpoint", "load_generator", "make_batch", "read_model_card", "read_records", "read_shards",
    "save_checkpoint", "sha256_file", "shard_paths", "split_records",
]

if __name__ == "__main__":
    sys.exit(main())
