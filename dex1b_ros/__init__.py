"""dex1b_ros: dexterous grasp planning built on Dex1B.

The algorithm core (``hands``, geometry, optimizer, validator, generator, dataset) imports
no ROS. The ROS 2 adapter lives in ``dex1b_ros.ros`` and is the only place that imports
rclpy or message packages.
"""

__version__ = "0.1.0"

import os as _os

# MuJoCo picks its OpenGL backend at import time. Headless machines (robots, CI) have no
# X display: use EGL there unless the user chose otherwise.
if not _os.environ.get("DISPLAY"):
    _os.environ.setdefault("MUJOCO_GL", "egl")
