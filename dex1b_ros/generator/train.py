"""Train DexSimple from Parquet grasp shards; export and load the shipped model (no ROS).

Examples::

    # train on the seed shards of one hand, checkpoints and logs in out/runs/leap, export models/leap
    dex1b train --hand leap --data out/seed/leap --out out/runs/leap --steps 3000
    # same, settings from YAML (a TrainConfig; its `model:` section is a GeneratorConfig)
    dex1b train --hand leap --data out/seed/leap --config config/generator/train.yaml
    # an interrupted run resumes from out/runs/leap/checkpoint.* unless --fresh is given
    python -m dex1b_ros.generator.train --hand leap --data out/seed/leap --out out/runs/leap

Data: records of ``--data`` shards (schema: ``dex1b_ros.dataset.schema``); by default only the
validated-successful ones. Records of objects in the ``val`` split are held out for validation,
every other object trains. Each step takes ``objects_per_batch`` objects; each is seen either
as its full surface (1024 farthest-point samples) or as one of ``views_per_object`` simulated
single-view depth clouds (``render_partial_cloud``; rendered once per object and view, cached
in memory), so the model works from one camera. With a partial view, only grasps whose
associated point lies within ``visible_tol`` of the visible points are used, and their
associated point is the nearest visible point. A random rotation (``rotation_augment``) is
applied to cloud and grasps together. The SDF and contact terms check the decoded hand against
the object's full-surface samples in every case.

Outputs in ``--out``: ``checkpoint.safetensors`` (weights, Adam state, torch RNG) +
``checkpoint.json`` (step, epoch, configs, numpy RNG state), written atomically every
``ckpt_every`` steps and at the end; ``train_log.csv`` (every ``log_every`` steps) and
``val_log.csv`` (every ``val_every`` steps), one row per line with a header, to plot directly.
Nothing is pickled. The export (``--export``, default ``models/<hand>``) holds
``dexsimple.safetensors`` and ``model_card.yaml``; :func:`load_generator` checks the card.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import math
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..config_utils import ConfigError, fail, from_dict, load_yaml, to_dict
from ..dataset.schema import SCHEMA_VERSION, GraspRecords, read_records
from ..hands import HandModel, HandPose, load_hand
from ..rotation import matrix_to_rot6d, quat_to_matrix, random_rotations
from .model import GENERATOR_VERSION, DexSimple, GeneratorConfig

WEIGHTS_NAME = "dexsimple.safetensors"
CARD_NAME = "model_card.yaml"


class GeneratorLoadError(ValueError):
    """A generator file is missing, corrupted, or made for another hand. The message names the file."""


@dataclass
class TrainConfig:
    """One training run. Lengths m."""

    model: GeneratorConfig = field(default_factory=GeneratorConfig)
    steps: int = 3000                 # optimiser steps
    batch_size: int = 64              # grasps per step
    objects_per_batch: int = 8        # objects (clouds) per step; grasps are split evenly over them
    lr: float = 1e-3                  # Adam learning rate
    lr_final: float = 0.1             # cosine decay to this fraction of lr
    weight_decay: float = 0.0
    grad_clip: float = 5.0            # global gradient-norm clip (0 = off)
    kl_warmup: int = 300              # steps over which beta ramps linearly from 0
    partial_fraction: float = 0.5     # fraction of clouds that are single-view partial clouds
    views_per_object: int = 8         # cached partial views per object
    visible_tol: float = 0.015        # m, a grasp fits a partial view if its associated point is this close
    geom_points: int = 512            # full-surface points the SDF/contact terms check against (cost ~ linear)
    rotation_augment: Literal["none", "z", "so3"] = "so3"  # random rotation of cloud + grasps per object
    only_success: bool = True         # train on validator-successful records only
    val_every: int = 250              # steps between validations (0 = only at the end)
    val_samples: int = 64             # prior samples per val object for the sample metrics
    ckpt_every: int = 500             # steps between checkpoints (0 = only at the end)
    log_every: int = 10               # steps between train_log.csv rows
    seed: int = 0

    def __post_init__(self):
        for k in ("steps", "batch_size", "objects_per_batch", "views_per_object", "log_every", "geom_points"):
            if getattr(self, k) < 1:
                fail(k, f"must be >= 1, got {getattr(self, k)}")
        for k in ("val_every", "ckpt_every", "kl_warmup", "val_samples"):
            if getattr(self, k) < 0:
                fail(k, f"must be >= 0, got {getattr(self, k)}")
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


# ---------------------------------------------------------------------- data
class CloudCache:
    """Per object: full-surface samples and lazily rendered partial views (object frame, m)."""

    def __init__(self, n_points: int, views: int, seed: int = 0, geom_points: int = 512):
        self.n_points, self.views, self.seed, self.geom_points = n_points, views, seed, geom_points
        self._mesh, self._full, self._partial, self._geom = {}, {}, {}, {}

    def mesh(self, object_id: str):
        if object_id not in self._mesh:
            from ..objects import load_object
            self._mesh[object_id] = load_object(object_id).mesh
        return self._mesh[object_id]

    def full(self, object_id: str) -> tuple[np.ndarray, np.ndarray]:
        if object_id not in self._full:
            from ..geometry.pointcloud import sample_surface
            self._full[object_id] = sample_surface(self.mesh(object_id), self.n_points, seed=self.seed, fps=True)
        return self._full[object_id]

    def geom(self, object_id: str) -> np.ndarray:
        """(geom_points, 3) farthest-point surface samples for the SDF and contact terms."""
        if object_id not in self._geom:
            from ..geometry.pointcloud import sample_surface
            self._geom[object_id] = sample_surface(self.mesh(object_id), self.geom_points, seed=self.seed + 1,
                                                   fps=True)[0]
        return self._geom[object_id]

    def partial(self, object_id: str, view: int) -> tuple[np.ndarray, np.ndarray]:
        key = (object_id, view)
        if key not in self._partial:
            from ..geometry.pointcloud import render_partial_cloud
            s = int.from_bytes(hashlib.sha256(f"{object_id}/{view}/{self.seed}".encode()).digest()[:4], "little")
            c = render_partial_cloud(self.mesh(object_id), self.n_points, seed=s)
            self._partial[key] = (c.points, c.normals)
        return self._partial[key]


class GraspData:
    """Records grouped by object, with per-(object, cloud) associated-point lookups cached."""

    def __init__(self, records: GraspRecords, clouds: CloudCache, visible_tol: float):
        self.records = records
        self.clouds = clouds
        self.visible_tol = visible_tol
        ids = np.asarray(records.object_id)
        self.objects = sorted(set(ids.tolist()))
        self.rows = {o: np.flatnonzero(ids == o) for o in self.objects}
        R = quat_to_matrix(torch.as_tensor(records.quat, dtype=torch.float64))
        self.rot = R.numpy()                                           # (N, 3, 3)
        self._lookup = {}

    def lookup(self, object_id: str, view: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(points, normals, eligible rows, nearest cloud index per eligible row) of one cloud;
        view None = the full surface."""
        key = (object_id, view)
        if key not in self._lookup:
            pts, nrm = self.clouds.full(object_id) if view is None else self.clouds.partial(object_id, view)
            rows = self.rows[object_id]
            ap = self.records.assoc_point[rows].astype(np.float64)
            d2 = ((ap[:, None, :] - pts[None].astype(np.float64)) ** 2).sum(-1)
            near = d2.argmin(1)
            ok = np.sqrt(d2[np.arange(len(rows)), near]) < (np.inf if view is None else self.visible_tol)
            ok &= np.isfinite(ap).all(1)
            self._lookup[key] = (pts, nrm, rows[ok], near[ok])
        return self._lookup[key]

    def __len__(self):
        return len(self.records)


def _rotations(n: int, mode: str, rng: np.random.Generator) -> np.ndarray:
    if mode == "none":
        return np.broadcast_to(np.eye(3), (n, 3, 3)).copy()
    if mode == "z":
        a = rng.uniform(0, 2 * np.pi, n)
        c, s = np.cos(a), np.sin(a)
        R = np.zeros((n, 3, 3))
        R[:, 0, 0], R[:, 0, 1], R[:, 1, 0], R[:, 1, 1], R[:, 2, 2] = c, -s, s, c, 1
        return R
    g = torch.Generator().manual_seed(int(rng.integers(2**62)))
    return random_rotations(n, generator=g, dtype=torch.float64).numpy()


@dataclass
class Batch:
    x: torch.Tensor          # (K, P, 6) prepared clouds
    centre: torch.Tensor     # (K, 3) m
    cloud_idx: torch.Tensor  # (B,)
    point_idx: torch.Tensor  # (B,)
    g: torch.Tensor          # (B, 9 + J) target pose vectors
    geom: torch.Tensor       # (K, Q, 3) m full-surface points, same frame as the clouds


def make_batch(model: DexSimple, data: GraspData, objects: list[str], per_object: list[int],
               partial: list[bool], rng: np.random.Generator, rotation_augment: str, views: int) -> Batch:
    """One batch: cloud k of ``objects[k]`` (partial view or full), ``per_object[k]`` grasps each."""
    pts_l, nrm_l, geom_l, ci, pi, trans, rot, q = [], [], [], [], [], [], [], []
    Rs = _rotations(len(objects), rotation_augment, rng)
    recs = data.records
    for k, (o, m, part) in enumerate(zip(objects, per_object, partial)):
        view = int(rng.integers(views)) if part else None
        pts, nrm, rows, near = data.lookup(o, view)
        if len(rows) == 0:                      # nothing visible in this view: use the full surface
            pts, nrm, rows, near = data.lookup(o, None)
        pick = rng.integers(len(rows), size=m)
        A = Rs[k]
        pts_l.append(pts @ A.T)
        nrm_l.append(nrm @ A.T)
        geom_l.append(data.clouds.geom(o) @ A.T)
        ci.append(np.full(m, k))
        pi.append(near[pick])
        r = rows[pick]
        trans.append(recs.trans[r].astype(np.float64) @ A.T)
        rot.append(A[None] @ data.rot[r])
        q.append(recs.grasp[r])
    dev, dt = model.to_mu.weight.device, model.to_mu.weight.dtype
    T = lambda a, d=dt: torch.as_tensor(np.concatenate(a) if isinstance(a, list) else a, dtype=d, device=dev)  # noqa
    x, centre = model.prepare_cloud(torch.as_tensor(np.stack(pts_l), dtype=dt, device=dev),
                                    torch.as_tensor(np.stack(nrm_l), dtype=dt, device=dev))
    cloud_idx = T(ci, torch.long)
    pose = HandPose(T(trans), matrix_to_rot6d(T(rot)), T(q))
    g = model.pose_to_vector(pose, centre[cloud_idx])
    return Batch(x, centre, cloud_idx, T(pi, torch.long), g, torch.as_tensor(np.stack(geom_l), dtype=dt, device=dev))


# ---------------------------------------------------------------------- validation
@torch.no_grad()
def evaluate(model: DexSimple, data: GraspData, cfg: TrainConfig, seed: int = 1234) -> dict[str, float]:
    """Held-out metrics: posterior losses on full clouds (fixed seeds) and prior-sample geometry
    (penetration and contact distance of ``val_samples`` sampled grasps per object, mm)."""
    was_training = model.training
    model.eval()
    rng = np.random.default_rng(seed)
    torch_state = torch.get_rng_state()
    torch.manual_seed(seed)
    sums: dict[str, float] = {}
    n = 0
    pen_l, con_l = [], []
    for o in data.objects:
        b = make_batch(model, data, [o], [min(64, len(data.rows[o]))], [False], rng, "none", 1)
        L = model.losses(b.x, b.centre, b.cloud_idx, b.point_idx, b.g, b.geom)
        m = len(b.g)
        for k, v in L.items():
            sums[k] = sums.get(k, 0.0) + float(v) * m
        n += m
        if cfg.val_samples:
            pts, nrm = data.clouds.full(o)
            s = model.sample(pts, nrm, cfg.val_samples, seed=seed)
            pen, con = sample_geometry(model, s, torch.as_tensor(pts, dtype=s.q.dtype))
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


def sample_geometry(model: DexSimple, pose: HandPose, cloud: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per grasp (m): deepest point-sphere penetration (>= 0) and the largest distance of the
    ``contact_fingers`` to the cloud (P, 3) (same frame as the pose)."""
    from ..geometry.sdf import point_sphere_distance
    from .model import _nearest_distance
    h = model.hand
    T = h.link_poses_palm(pose.q)
    c, r = h.spheres(pose, T)
    pen = torch.relu(-point_sphere_distance(c, r, cloud)).amax(-1)
    p, _ = h.contact_candidates(pose, T)
    d = _nearest_distance(p, cloud.expand(len(p), -1, -1))
    g = model.contact_groups
    dg = d[:, g.clamp_min(0)].masked_fill(g < 0, float("inf")).min(-1).values
    return pen, dg.amax(-1)


# ---------------------------------------------------------------------- files
def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_checkpoint(out_dir: Path, model: DexSimple, opt: torch.optim.Optimizer, step: int, epoch: float,
                    cfg: TrainConfig, rng: np.random.Generator, extra: dict | None = None) -> None:
    """Weights + Adam state + torch RNG (safetensors) and step/epoch/config/numpy RNG (JSON). No pickle."""
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    sd = opt.state_dict()
    for i, st in sd["state"].items():
        for k, v in st.items():
            t = v if torch.is_tensor(v) else torch.tensor(v)
            tensors[f"optim.{i}.{k}"] = t.detach().reshape(-1).contiguous()
    tensors["rng.torch"] = torch.get_rng_state()
    meta = {"step": step, "epoch": epoch, "train_config": to_dict(cfg), "param_groups": sd["param_groups"],
            "numpy_rng": rng.bit_generator.state, "generator_version": GENERATOR_VERSION, **(extra or {})}
    out_dir.mkdir(parents=True, exist_ok=True)
    _atomic(out_dir / "checkpoint.safetensors", lambda p: save_file(tensors, str(p)))
    _atomic(out_dir / "checkpoint.json", lambda p: p.write_text(json.dumps(meta, indent=1)))


def load_checkpoint(out_dir: Path, model: DexSimple, opt: torch.optim.Optimizer) -> dict:
    """Restore what :func:`save_checkpoint` wrote; returns the JSON part (step, epoch, numpy_rng, ...)."""
    st_path, js_path = out_dir / "checkpoint.safetensors", out_dir / "checkpoint.json"
    try:
        tensors = load_file(str(st_path))
        meta = json.loads(js_path.read_text())
    except (OSError, SafetensorError, json.JSONDecodeError) as e:
        raise GeneratorLoadError(f"{st_path}: cannot read checkpoint: {e}") from None
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, i, name = k.split(".", 2)
            state.setdefault(int(i), {})[name] = v
    params = [p for g in opt.param_groups for p in g["params"]]   # optimizer state is keyed by this order
    for i, st in state.items():
        p = params[i]
        for name, v in st.items():
            st[name] = v.reshape(()) if name == "step" else v.reshape(p.shape)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    torch.set_rng_state(tensors["rng.torch"])
    return meta


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


def _split_records(records: GraspRecords, only_success: bool) -> tuple[GraspRecords, GraspRecords, dict]:
    from ..objects import load_split
    val_ids = set(load_split("val"))
    keep = records.validated & records.success if only_success else np.ones(len(records), bool)
    ids = np.asarray(records.object_id)
    is_val = np.array([o in val_ids for o in ids], bool)
    tr, va = records.select(keep & ~is_val), records.select(keep & is_val)
    info = {"records_total": int(len(records)), "records_used": int(keep.sum()),
            "train_records": int(len(tr)), "val_records": int(len(va)),
            "train_objects": sorted(set(tr.object_id.tolist())), "val_objects": sorted(set(va.object_id.tolist()))}
    return tr, va, info


def train(hand: HandModel, shards: list[str | Path], out_dir: str | Path, cfg: TrainConfig | None = None,
          resume: bool = True, progress: bool = True) -> TrainResult:
    """Train (or resume) DexSimple on ``shards``; checkpoints and logs in ``out_dir``."""
    from tqdm.auto import tqdm

    cfg = cfg or TrainConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    records = read_records([Path(s) for s in shards] if not isinstance(shards, (str, Path)) else shards)
    if records.hand != hand.name or tuple(records.joint_names) != tuple(hand.joint_names):
        raise ValueError(f"shards hold hand {records.hand!r} grasps; training hand is {hand.name!r}")
    tr, va, info = _split_records(records, cfg.only_success)
    info["shards"] = [str(s) for s in ([shards] if isinstance(shards, (str, Path)) else shards)]
    if len(tr) == 0:
        raise ValueError(f"no training records in {info['shards']} (only_success={cfg.only_success}; "
                         f"{info['records_total']} records, {info['val_records']} on val objects)")
    clouds = CloudCache(cfg.model.n_points, cfg.views_per_object, cfg.seed, cfg.geom_points)
    data = GraspData(tr, clouds, cfg.visible_tol)
    vdata = GraspData(va, clouds, cfg.visible_tol) if len(va) else None

    torch.manual_seed(cfg.seed)
    model = DexSimple(hand, cfg.model).to(device=hand.device, dtype=hand.dtype)
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
    lr_at = lambda s: cfg.lr * (cfg.lr_final + (1 - cfg.lr_final) * 0.5 * (1 + math.cos(math.pi * s / cfg.steps)))  # noqa
    loss_keys = ["total", "rec_trans", "rec_rot", "rec_joints", "kl", "sdf", "contact"]
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
        b = make_batch(model, data, objs, per, partial, rng, cfg.rotation_augment, cfg.views_per_object)
        for gr in opt.param_groups:
            gr["lr"] = lr_at(step - 1)
        kl_scale = min(1.0, step / cfg.kl_warmup) if cfg.kl_warmup else 1.0
        L = model.losses(b.x, b.centre, b.cloud_idx, b.point_idx, b.g, b.geom, kl_scale=kl_scale)
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


# ---------------------------------------------------------------------- export / load
def export_model(result: TrainResult, export_dir: str | Path, cfg: TrainConfig, command: str = "") -> Path:
    """Write ``<export_dir>/dexsimple.safetensors`` and ``model_card.yaml``; returns the weights path."""
    export_dir = Path(export_dir)
    export_dir.mkdir(parents=True, exist_ok=True)
    model = result.model
    weights = export_dir / WEIGHTS_NAME
    tensors = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    _atomic(weights, lambda p: save_file(tensors, str(p), metadata={"format": "dexsimple",
                                                                   "hand": model.hand.name,
                                                                   "generator_version": GENERATOR_VERSION}))
    weights.chmod(0o644)                   # a shipped file: readable by the ROS node's user
    last = result.history[-1] if result.history else {}
    card = {
        "name": "DexSimple",
        "generator_version": GENERATOR_VERSION,
        "hand": model.hand.name,
        "joint_names": list(model.hand.joint_names),
        "weights": WEIGHTS_NAME,
        "sha256": sha256_file(weights),
        "schema_version": SCHEMA_VERSION,
        "frames": "grasps in the cloud frame (m, rad); wrist = palm-frame origin; rot6d = first two rows of R",
        "data": {k: result.data[k] for k in ("shards", "records_total", "records_used", "train_records",
                                             "val_records")},
        "objects": {"train": result.data["train_objects"], "val": result.data["val_objects"]},
        "training_command": command,
        "metrics": {"steps": last.get("step"), "epoch": round(float(last.get("epoch", 0)), 2),
                    "train": {k: round(float(v), 5) for k, v in last.items()
                              if k not in ("step", "epoch", "lr", "seconds")},
                    "val": {k: round(float(v), 5) for k, v in result.val.items()},
                    "train_seconds": round(result.seconds, 1)},
        "generator_config": to_dict(model.cfg),
        "train_config": {k: v for k, v in to_dict(cfg).items() if k != "model"},
    }
    _atomic(export_dir / CARD_NAME, lambda p: p.write_text(
        "# DexSimple model card (written by dex1b_ros.generator.train.export_model)\n"
        + yaml.safe_dump(card, sort_keys=False, width=100)))
    return weights


def load_generator(path: str | Path, hand: str | HandModel, device: str = "cpu",
                   hands_dir: str | Path | None = None) -> DexSimple:
    """Load an exported DexSimple (``path`` = the export folder or its ``dexsimple.safetensors``).

    Checks, each failing with :class:`GeneratorLoadError` naming the file: the weights and the
    card exist; the card's hand is ``hand``; the weights' sha256 equals the card's; the file
    reads as safetensors and matches the architecture in the card; the joint names agree.
    """
    path = Path(path)
    weights = path / WEIGHTS_NAME if path.is_dir() else path
    card_path = weights.with_name(CARD_NAME)
    hand_name = hand if isinstance(hand, str) else hand.name
    if not weights.is_file():
        raise GeneratorLoadError(f"{weights}: generator weights not found")
    if not card_path.is_file():
        raise GeneratorLoadError(f"{card_path}: model card not found next to {weights.name}")
    try:
        card = yaml.safe_load(card_path.read_text())
        assert isinstance(card, dict)
    except Exception as e:  # noqa: BLE001 - any parse failure is a bad card
        raise GeneratorLoadError(f"{card_path}: not a readable model card: {e}") from None
    if card.get("hand") != hand_name:
        raise GeneratorLoadError(f"{weights}: this generator was trained for hand {card.get('hand')!r}, "
                                 f"not {hand_name!r} (see {card_path})")
    digest = sha256_file(weights)
    if digest != card.get("sha256"):
        raise GeneratorLoadError(f"{weights}: checksum mismatch (sha256 {digest[:12]}..., card says "
                                 f"{str(card.get('sha256'))[:12]}...): the file is corrupted or was replaced")
    try:
        gcfg = from_dict(GeneratorConfig, card.get("generator_config") or {})
    except ConfigError as e:
        raise GeneratorLoadError(f"{card_path}: generator_config: {e}") from None
    hm = load_hand(hand, hands_dir=hands_dir, device=device) if isinstance(hand, str) else hand
    if list(card.get("joint_names", [])) != list(hm.joint_names):
        raise GeneratorLoadError(f"{weights}: joint names in the card differ from hand {hand_name!r}'s")
    try:
        state = load_file(str(weights), device=str(device))
    except (SafetensorError, OSError) as e:
        raise GeneratorLoadError(f"{weights}: cannot read safetensors: {e}") from None
    model = DexSimple(hm, gcfg).to(device=hm.device, dtype=hm.dtype)
    try:
        model.load_state_dict({k: v.to(hm.dtype) for k, v in state.items()})
    except RuntimeError as e:
        raise GeneratorLoadError(f"{weights}: weights do not match the architecture in the card: {e}") from None
    model.eval()
    return model


# ---------------------------------------------------------------------- CLI
def build_parser(prog: str = "dex1b train") -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hand", required=True, help="hand name (config/hands/<hand>.yaml), e.g. leap")
    ap.add_argument("--data", action="append", required=True, type=Path,
                    help="a shard or a folder of *.parquet shards (repeatable), e.g. out/seed/leap")
    ap.add_argument("--out", type=Path, default=None, help="run folder: checkpoints + logs (default out/runs/<hand>)")
    ap.add_argument("--export", type=Path, default=None, help="export folder (default models/<hand>)")
    ap.add_argument("--no-export", action="store_true", help="do not export at the end")
    ap.add_argument("--config", type=Path, default=None, help="TrainConfig YAML (model: section = GeneratorConfig)")
    ap.add_argument("--steps", type=int, default=None, help="override TrainConfig.steps")
    ap.add_argument("--batch-size", type=int, default=None, help="override TrainConfig.batch_size")
    ap.add_argument("--seed", type=int, default=None, help="override TrainConfig.seed")
    ap.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint in --out")
    ap.add_argument("--hands-dir", type=Path, default=None, help="directory holding hand model folders")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    return ap


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    a = build_parser().parse_args(argv)
    torch.set_num_threads(a.threads)
    cfg = load_yaml(TrainConfig, a.config) if a.config else TrainConfig()
    over = {k: v for k, v in (("steps", a.steps), ("batch_size", a.batch_size), ("seed", a.seed)) if v is not None}
    if over:
        cfg = dataclasses.replace(cfg, **over)
    out = a.out or Path("out") / "runs" / a.hand
    hand = load_hand(a.hand, hands_dir=a.hands_dir)
    shards: list[Path] = []
    for d in a.data:
        found = sorted(d.glob("*.parquet")) if d.is_dir() else [d]
        if not found:
            raise FileNotFoundError(f"--data {d}: no *.parquet shards there")
        shards += found
    res = train(hand, shards, out, cfg, resume=not a.fresh, progress=not a.quiet)
    last = res.history[-1] if res.history else {}
    print(f"trained {hand.name}: step {last.get('step')} loss {last.get('total', float('nan')):.4f} "
          f"({res.data['train_records']} records, {len(res.data['train_objects'])} objects, {res.seconds:.0f} s)")
    if res.val:
        print("validation: " + ", ".join(f"{k} {v:.4g}" for k, v in res.val.items()))
    if not a.no_export:
        w = export_model(res, a.export or Path("models") / hand.name, cfg, "dex1b train " + shlex.join(argv))
        print(f"exported {w} and {w.with_name(CARD_NAME)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
