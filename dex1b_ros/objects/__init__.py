"""Objects to grasp: mesh loading/repair, YCB, procedural shapes and fixed splits.

All meshes are in meters, in their object frame. No ROS imports here.
"""
from .mesh import ObjectMesh, check_mesh, load_mesh, load_ycb, repair_mesh, ycb_names
from .procedural import KINDS, make_object

__all__ = ["ObjectMesh", "check_mesh", "load_mesh", "load_ycb", "repair_mesh", "ycb_names",
           "KINDS", "make_object", "load_object", "load_split"]


def __getattr__(name):
    # Lazy, so that ``python -m dex1b_ros.objects.splits`` does not import itself twice.
    if name in ("load_object", "load_split"):
        from . import splits

        return getattr(splits, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
