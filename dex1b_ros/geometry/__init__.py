"""Geometry: surface / partial point clouds and signed distances.

Units are meters, everything is in the object frame. SDF sign: negative inside, positive
outside. No ROS imports here.
"""
from .pointcloud import PartialCloud, cast_rays, look_at, render_partial_cloud, sample_surface
from .sdf import SDFGrid, exact_signed_distance, point_sphere_distance, winding_number

__all__ = ["PartialCloud", "cast_rays", "look_at", "render_partial_cloud", "sample_surface",
           "SDFGrid", "exact_signed_distance", "point_sphere_distance", "winding_number"]
