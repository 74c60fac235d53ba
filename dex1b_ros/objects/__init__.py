"""Objects to grasp: mesh loading/repair, YCB, procedural shapes and fixed splits.

All meshes are in meters, in their object frame. No ROS imports here.
"""
from .mesh import ObjectMesh, check_mesh, load_mesh, load_ycb, repair_mesh, ycb_names

__all__ = ["ObjectMesh", "check_mesh", "load_mesh", "load_ycb", "repair_mesh", "ycb_names",
           "KINDS", "FAMILY_KINDS", "make_object", "hull_ratio", "load_object", "load_split"]

_LAZY = {"KINDS": "procedural", "FAMILY_KINDS": "procedural", "make_object": "procedural",
         "hull_ratio": "procedural", "load_object": "splits", "load_split": "splits"}


def __getattr__(name):
    # Lazy, so that ``python -m dex1b_ros.objects.splits`` / ``.procedural`` do not import
    # themselves twice.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
