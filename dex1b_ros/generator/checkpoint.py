"""DexSimple files (no ROS, nothing pickled): training checkpoints and the exported model.

- Checkpoint (in a run folder): ``checkpoint.safetensors`` (weights, Adam state, torch RNG) +
  ``checkpoint.json`` (step, epoch, configs, numpy RNG state), written atomically
  (:func:`save_checkpoint`, :func:`load_checkpoint`).
- Export (e.g. ``models/<hand>/``): ``dexsimple.safetensors`` (float32 weights) and
  ``model_card.yaml`` (hand, joint names, sha256 of the weights, configs, data, metrics,
  training command) (:func:`export_model`, :func:`read_model_card`). The runtime loader
  that checks them is :func:`dex1b_ros.generator.load.load_generator`.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..config_utils import ConfigError, read_yaml, to_dict
from ..records import SCHEMA_VERSION
from .model import GENERATOR_VERSION, DexSimple

if TYPE_CHECKING:
    from .train import TrainConfig, TrainResult

WEIGHTS_NAME = "dexsimple.safetensors"
CARD_NAME = "model_card.yaml"


class GeneratorLoadError(ValueError):
    """A generator file is missing, corrupted, or made for another hand. The message names the file."""


def atomic_write(path: Path, write) -> None:
    """``write(tmp)`` to ``.<name>.tmp`` next to ``path``, then move it onto ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


_atomic = atomic_write  # old name


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------- checkpoints
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
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out_dir / "checkpoint.safetensors", lambda p: save_file(tensors, str(p)))
    atomic_write(out_dir / "checkpoint.json", lambda p: p.write_text(json.dumps(meta, indent=1)))


def load_checkpoint(out_dir: Path, model: DexSimple, opt: torch.optim.Optimizer) -> dict:
    """Restore what :func:`save_checkpoint` wrote; returns the JSON part (step, epoch, numpy_rng, ...)."""
    out_dir = Path(out_dir)
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


# ---------------------------------------------------------------------- export + model card
def export_model(result: TrainResult, export_dir: str | Path, cfg: TrainConfig, command: str = "") -> Path:
    """Write ``<export_dir>/dexsimple.safetensors`` and ``model_card.yaml``; returns the weights path.

    ``result`` needs ``model``, ``history`` (train-log rows), ``val`` (metrics), ``data``
    (what was trained on) and ``seconds`` (a :class:`~dex1b_ros.generator.train.TrainResult`)."""
    export_dir = Path(export_dir)
    export_dir.mkdir(parents=True, exist_ok=True)
    model = result.model
    weights = export_dir / WEIGHTS_NAME
    tensors = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    atomic_write(weights, lambda p: save_file(tensors, str(p), metadata={"format": "dexsimple",
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
        **({"dataset": ds} if (ds := dataset_of_shards(result.data["shards"])) else {}),
        "metrics": {"steps": last.get("step"), "epoch": round(float(last.get("epoch", 0)), 2),
                    "train": {k: round(float(v), 5) for k, v in last.items()
                              if k not in ("step", "epoch", "lr", "seconds")},
                    "val": {k: round(float(v), 5) for k, v in result.val.items()},
                    "train_seconds": round(result.seconds, 1)},
        "generator_config": to_dict(model.cfg),
        "train_config": {k: v for k, v in to_dict(cfg).items() if k != "model"},
    }
    atomic_write(export_dir / CARD_NAME, lambda p: p.write_text(
        "# DexSimple model card (written by dex1b_ros.generator.checkpoint.export_model)\n"
        + yaml.safe_dump(card, sort_keys=False, width=100)))
    return weights


def dataset_of_shards(shards) -> dict | list | None:
    """The dataset version the shards come from: for each ``dex1b dataset build`` folder (the
    nearest parent holding ``build.json``) its path, content hash and the rounds the shards are
    of (``round=R`` folders); one build -> a dict, several -> a list, none -> None."""
    builds: dict[Path, dict] = {}
    for s in map(Path, shards):
        root = next((p for p in s.parents if (p / "build.json").is_file()), None)
        if root is None:
            continue
        if root not in builds:
            try:
                h = json.loads((root / "build.json").read_text()).get("content_hash")
            except (OSError, ValueError):
                h = None
            builds[root] = {"name": str(root), "build_hash": h, "rounds": set()}
        m = re.search(r"round=(\d+)", str(s))
        if m:
            builds[root]["rounds"].add(int(m.group(1)))
    out = [{**b, "rounds": sorted(b["rounds"])} for b in builds.values()]
    return out[0] if len(out) == 1 else (out or None)


def read_model_card(path: str | Path) -> tuple[Path, Path, dict[str, Any]]:
    """``(weights, card path, card)`` of an export (``path`` = its folder or its weights file).
    GeneratorLoadError naming the file if either is missing or the card does not parse."""
    path = Path(path)
    weights = path / WEIGHTS_NAME if path.is_dir() else path
    card_path = weights.with_name(CARD_NAME)
    if not weights.is_file():
        raise GeneratorLoadError(f"{weights}: generator weights not found")
    if not card_path.is_file():
        raise GeneratorLoadError(f"{card_path}: model card not found next to {weights.name}")
    try:
        return weights, card_path, read_yaml(card_path, "a model card (a mapping)")
    except ConfigError as e:
        raise GeneratorLoadError(str(e)) from None


__all__ = ["CARD_NAME", "WEIGHTS_NAME", "GeneratorLoadError", "atomic_write", "export_model", "load_checkpoint",
           "read_model_card", "save_checkpoint", "sha256_file"]
