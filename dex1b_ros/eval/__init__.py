"""Evaluation harness (``dex1b eval``, no ROS): the four planners side by side on the same
objects and CPU budget. See :mod:`dex1b_ros.eval.run` and docs/RESULTS.md."""
from .metrics import (
    Counts,
    active_finger_labels,
    cpu_seconds_per_valid,
    label_entropy,
    pca_cumulative_variance,
    pose_features,
    quat_to_axis_angle,
)
from .objects import ObjectSet, resolve_objects, spread

__all__ = ["Counts", "ObjectSet", "active_finger_labels", "cpu_seconds_per_valid", "label_entropy",
           "pca_cumulative_variance", "pose_features", "quat_to_axis_angle", "resolve_objects", "spread"]
