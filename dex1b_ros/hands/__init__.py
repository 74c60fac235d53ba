"""Dexterous hand models (no ROS): config, kinematics, collision spheres, contacts."""
from .config import HandConfig, available_hands, hands_dir_candidates, load_hand_config, resolve_mjcf
from .model import HandModel, HandPose, load_hand, load_hand_spec

__all__ = ["HandConfig", "HandModel", "HandPose", "available_hands", "hands_dir_candidates",
           "load_hand", "load_hand_config", "load_hand_spec", "resolve_mjcf"]
