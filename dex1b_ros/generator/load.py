"""Runtime loader of an exported DexSimple (what the planner node and the dataset builder call).

Reads ``dexsimple.safetensors`` + ``model_card.yaml`` (see :mod:`.checkpoint`) and checks
them before building the model; needs no training code.
"""
from __future__ import annotations

from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file

from ..config_utils import ConfigError, from_dict
from ..hands import HandModel, load_hand
from .checkpoint import GeneratorLoadError, read_model_card, sha256_file
from .model import DexSimple, GeneratorConfig


def load_generator(path: str | Path, hand: str | HandModel, device: str = "cpu",
                   hands_dir: str | Path | None = None) -> DexSimple:
    """Load an exported DexSimple (``path`` = the export folder or its ``dexsimple.safetensors``).

    Checks, each failing with :class:`GeneratorLoadError` naming the file: the weights and the
    card exist; the card's hand is ``hand``; the weights' sha256 equals the card's; the file
    reads as safetensors and matches the architecture in the card; the joint names agree.
    The model is returned in eval mode on the hand's device and dtype.
    """
    weights, card_path, card = read_model_card(path)
    hand_name = hand if isinstance(hand, str) else hand.name
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


__all__ = ["GeneratorLoadError", "load_generator"]
