"""Perception for real clouds (no ROS): transform, crop, support-plane and outlier removal,
downsampling, object clustering, and an object model from the cloud."""
from .preprocess import (
    CloudError,
    PreprocessConfig,
    PreprocessResult,
    check_on_plane,
    estimate_object_mesh,
    fit_plane,
    preprocess_cloud,
    transform_points,
)

__all__ = ["CloudError", "PreprocessConfig", "PreprocessResult", "check_on_plane", "estimate_object_mesh",
           "fit_plane", "preprocess_cloud", "transform_points"]
