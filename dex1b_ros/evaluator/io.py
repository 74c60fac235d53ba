"""Evaluator files (nothing pickled): ``evaluator.safetensors`` (float32 weights) and
``model_card.yaml`` (format, hand, joint names, sha256 of the weights, network sizes, the
EvaluatorConfig, the data it was trained on, validation metrics, the decision threshold and the
training command), and :func:`load_evaluator`, which checks the card against the weights and
the hand, and :class:`LoadedEvaluator`, which scores grasps on a single-view cloud.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..config_utils import ConfigError, from_dict, read_yaml
from .config import EvaluatorConfig
from .model import HEADS, N_ENERGY, GraspEvaluator, grasp_features, palm_fingertips, subsample

WEIGHTS_NAME = "evaluator.safetensors"
CARD_NAME = "model_card.yaml"
FORMAT = "dex1b-grasp-evaluator/1"


class EvaluatorLoadError(ValueError):
    """An evaluator folder is missing a file, is corrupted or was made for another hand. Names the file."""


def save_evaluator(model: GraspEvaluator, card: dict[str, Any], out_dir: str | Path) -> Path:
    """Write ``<out_dir>/evaluator.safetensors`` and ``model_card.yaml`` (``card`` plus format,
    weights name, sha256 and network sizes); returns the folder."""
    from ..generator.checkpoint import atomic_write, sha256_file
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    w = out / WEIGHTS_NAME
    tensors = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    atomic_write(w, lambda p: save_file(tensors, str(p), metadata={"format": FORMAT, "hand": str(card.get("hand"))}))
    w.chmod(0o644)
    full = {"format": FORMAT, "weights": WEIGHTS_NAME, "sha256": sha256_file(w),
            "network": {"n_joints": model.n_joints, "n_tips": model.n_tips, "width": model.width,
                        "plane": model.plane, "energy": model.energy,
                        "finger_pool": model.finger_pool, "heads": list(HEADS)}, **card}
    _write_card(out / CARD_NAME, full)
    return out


def _write_card(path: Path, card: dict[str, Any]) -> None:
    from ..generator.checkpoint import atomic_write
    atomic_write(path, lambda p: p.write_text(
        "# Grasp evaluator model card (written by dex1b_ros.evaluator.io)\n"
        + yaml.safe_dump(card, sort_keys=False, width=110)))


def update_card(path: str | Path, fields: dict[str, Any]) -> Path:
    """Set ``fields`` in the model card of the evaluator folder ``path`` (the weights and their
    sha256 are untouched; e.g. the verdict threshold calibrated by ``dex1b bench plan-quality
    --calibrate``). Returns the card's path."""
    w, card = read_card(path)
    card.update(fields)
    _write_card(w.with_name(CARD_NAME), card)
    return w.with_name(CARD_NAME)


@dataclass
class LoadedEvaluator:
    """A checked evaluator: ``model`` (eval mode), its ``card``, ``cfg``, decision ``threshold``
    (free-space probability above which a candidate counts as predicted-good, chosen on the training
    run's validation candidates; from the card) and ``verdict_threshold`` (the planner's: the lowest
    probability at which first grasps that passed the planner's MuJoCo check were lifted by the true
    object with the card's ``verdict_precision`` on val objects; None until calibrated)."""

    model: GraspEvaluator
    card: dict[str, Any]
    cfg: EvaluatorConfig
    threshold: float
    path: Path
    verdict_threshold: float | None = None

    @property
    def needs_plane(self) -> bool:
        """True when the network reads the support plane (:func:`~.model.plane_features`)."""
        return self.model.plane

    @property
    def needs_energy(self) -> bool:
        """True when the network reads the refinement's energies (:func:`~.model.energy_features`)."""
        return self.model.energy

    @torch.no_grad()
    def predict(self, hand, points: np.ndarray, normals: np.ndarray, trans: np.ndarray, quat: np.ndarray,
                grasp: np.ndarray, squeeze: np.ndarray, seed: int = 0, chunk: int = 256,
                plane: np.ndarray | None = None, energy: np.ndarray | None = None) -> np.ndarray:
        """(B, 2) probabilities [free-space success, lift success] of B grasps on ONE cloud.

        points, normals (N, 3): the single-view cloud (any frame, m); trans (B, 3) m, quat (B, 4)
        wxyz: wrists in the same frame; grasp, squeeze (B, J) rad; plane (4,) [a, b, c, d], normal
        up, in the same frame: the support plane (read only by a model that ``needs_plane``, which
        raises ValueError without a valid one); energy (B, N_ENERGY): :func:`~.model.energy_features` of the
        grasps (read only by a model that ``needs_energy``, which raises ValueError without it).
        ``cfg.n_points`` of the points are used (a subset drawn with ``seed``). One forward pass per
        ``chunk`` grasps."""
        pl = None
        if self.needs_plane:
            arr = None if plane is None else np.asarray(plane, dtype=np.float64).reshape(-1)
            if arr is None or arr.shape != (4,) or not np.all(np.isfinite(arr)) or np.linalg.norm(arr[:3]) < 1e-9:
                raise ValueError(f"evaluator {self.path}: reads the support plane (network.plane in its card); it "
                                 f"must be 4 finite numbers [a, b, c, d] with a nonzero normal, got {plane!r}")
            pl = torch.as_tensor(arr, dtype=torch.float32)
        B = len(trans)
        en = None
        if self.needs_energy:
            en = None if energy is None else np.asarray(energy, np.float32)
            if en is None or en.shape != (B, N_ENERGY) or not np.all(np.isfinite(en)):
                raise ValueError(f"evaluator {self.path}: reads the refinement's energies (network.energy in its "
                                 f"card); give energy as ({B}, {N_ENERGY}) finite numbers (model.energy_features), got "
                                 f"{None if en is None else en.shape}")
        if B == 0:
            return np.zeros((0, len(HEADS)), np.float32)
        rng = np.random.default_rng(seed)
        sel = subsample(len(points), self.cfg.n_points, rng)
        P = torch.as_tensor(np.asarray(points)[sel], dtype=torch.float32)
        Nn = np.asarray(normals, dtype=np.float64)[sel]
        Nn = Nn / np.maximum(np.linalg.norm(Nn, axis=1, keepdims=True), 1e-12)
        N = torch.as_tensor(Nn, dtype=torch.float32)
        out = []
        for i in range(0, B, chunk):
            s = slice(i, i + chunk)
            qg = torch.as_tensor(np.asarray(grasp[s]), dtype=hand.dtype, device=hand.device)
            qs = torch.as_tensor(np.asarray(squeeze[s]), dtype=hand.dtype, device=hand.device)
            tg, ts = palm_fingertips(hand, qg).cpu(), palm_fingertips(hand, qs).cpu()
            pp, pg = grasp_features(P, N, torch.as_tensor(np.asarray(trans[s])), torch.as_tensor(np.asarray(quat[s])),
                                    qg.cpu(), qs.cpu(), tg, ts, pl, None if en is None else torch.as_tensor(en[s]))
            out.append(torch.sigmoid(self.model(pp, pg)).numpy())
        return np.concatenate(out)


def read_card(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """``(weights path, card)`` of an evaluator folder; EvaluatorLoadError naming the missing/bad file."""
    d = Path(path)
    if d.is_file():
        d = d.parent
    w, c = d / WEIGHTS_NAME, d / CARD_NAME
    if not w.is_file():
        raise EvaluatorLoadError(f"{w}: evaluator weights not found")
    if not c.is_file():
        raise EvaluatorLoadError(f"{c}: model card not found next to {WEIGHTS_NAME}")
    try:
        return w, read_yaml(c, "a model card (a mapping)")
    except ConfigError as e:
        raise EvaluatorLoadError(str(e)) from None


def load_evaluator(path: str | Path, hand=None, check_hash: bool = True) -> LoadedEvaluator:
    """Load and check an evaluator folder (or its weights file). With ``hand`` (a HandModel) the
    card's hand, joint names and fingertip count must match it. EvaluatorLoadError names the file
    and what is wrong."""
    from ..generator.checkpoint import sha256_file
    w, card = read_card(path)
    c = w.with_name(CARD_NAME)
    if card.get("format") != FORMAT:
        raise EvaluatorLoadError(f"{c}: format {card.get('format')!r}, expected {FORMAT!r}")
    if check_hash and card.get("sha256") != sha256_file(w):
        raise EvaluatorLoadError(f"{w}: sha256 does not match the model card (file changed or corrupted)")
    net = card.get("network") or {}
    try:
        cfg = from_dict(EvaluatorConfig, card.get("config") or {}, "config")
        model = GraspEvaluator(int(net["n_joints"]), int(net["n_tips"]), int(net["width"]),
                               plane=bool(net.get("plane", False)),    # cards before the plane features: none
                               energy=bool(net.get("energy", False)),  # nor the energy features
                               finger_pool=bool(net.get("finger_pool", False)))
        model.load_state_dict(load_file(str(w)))
    except (ConfigError, KeyError, TypeError, RuntimeError, SafetensorError) as e:
        raise EvaluatorLoadError(f"{c}: weights and card do not fit: {e}") from None
    if hand is not None:
        if card.get("hand") != hand.name:
            raise EvaluatorLoadError(f"{c}: evaluator trained for hand {card.get('hand')!r}, not {hand.name!r}")
        if list(card.get("joint_names") or []) != list(hand.joint_names):
            raise EvaluatorLoadError(f"{c}: joint_names differ from hand {hand.name!r}'s")
        if model.n_tips != len(hand.tip_names):
            raise EvaluatorLoadError(f"{c}: {model.n_tips} fingertips, hand {hand.name!r} has {len(hand.tip_names)}")
    thr = card.get("threshold")
    if not isinstance(thr, (int, float)) or not 0.0 <= thr <= 1.0:
        raise EvaluatorLoadError(f"{c}: threshold must be a probability, got {thr!r}")
    vt = card.get("verdict_threshold")
    if vt is not None and (not isinstance(vt, (int, float)) or not 0.0 <= vt <= 1.0):
        raise EvaluatorLoadError(f"{c}: verdict_threshold must be a probability, got {vt!r}")
    model.eval()
    return LoadedEvaluator(model, card, cfg, float(thr), w.parent, None if vt is None else float(vt))


__all__ = ["CARD_NAME", "FORMAT", "WEIGHTS_NAME", "EvaluatorLoadError", "LoadedEvaluator", "load_evaluator",
           "read_card", "save_evaluator", "update_card"]
