"""MuJoCo grasp validation (DexGraspBench protocol): scene, validator, rendering, benchmark.

    from dex1b_ros.hands import load_hand_config
    from dex1b_ros.validate import GraspValidator, ValidatorConfig
    v = GraspValidator(load_hand_config("leap"), mesh, ValidatorConfig(), workers=2)
    res = v.validate(wrist_pos, wrist_quat, pregrasp, grasp, squeeze)   # res.success (B,)
"""
from .config import DIRECTION_NAMES, ValidatorConfig
from .scene import Scene, build_scene, get_scene
from .validator import ClosedGrasp, GraspValidator, ValidationResult, close_fingers_until_contact, failure_reasons

__all__ = ["DIRECTION_NAMES", "ClosedGrasp", "GraspValidator", "Scene", "ValidationResult", "ValidatorConfig",
           "build_scene", "close_fingers_until_contact", "failure_reasons", "get_scene"]
