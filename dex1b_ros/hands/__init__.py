"""Dexterous hand models (no ROS): config, kinematics, collision spheres, contacts.

The model part (``HandModel``, ``HandPose``, ``load_hand``, ``load_hand_spec``) needs torch and
pytorch_kinematics (~2.5 s to import); it is imported on first use, so code that needs only the
configs (``load_hand_config``, ``resolve_mjcf``: e.g. ``dex1b view``) stays quick to start."""
from .config import HandConfig, available_hands, hands_dir_candidates, load_hand_config, resolve_mjcf

_MODEL_NAMES = ("HandModel", "HandPose", "load_hand", "load_hand_spec")


def __getattr__(name: str):
    if name in _MODEL_NAMES:
        from . import model
        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["HandConfig", "HandModel", "HandPose", "available_hands", "hands_dir_candidates",
           "load_hand", "load_hand_config", "load_hand_spec", "resolve_mjcf"]
