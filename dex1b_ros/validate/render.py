"""Offscreen pictures of a grasp before and after the MuJoCo test (``mujoco.Renderer``).

The GL backend: ``$MUJOCO_GL`` if it is egl/osmesa, otherwise EGL, falling back to OSMesa
when an EGL context cannot be created (probed once per process).
PNG files are written with Pillow (installed), else matplotlib.
"""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import mujoco
import numpy as np

from .config import DIRECTION_NAMES
from .validator import _DIRS, GraspValidator

_BACKEND: str | None = None
_PROBE = "import mujoco; mujoco.Renderer(mujoco.MjModel.from_xml_string('<mujoco/>'), 8, 8).close()"


def _pick_backend() -> str:
    """``$MUJOCO_GL`` when it names egl/osmesa, else the first of EGL, OSMesa that can create a
    context (probed once per process in a subprocess, as PyOpenGL fixes its platform at import)."""
    env = os.environ.get("MUJOCO_GL", "").lower().strip()
    if env in ("egl", "osmesa"):
        return env
    errors = []
    for backend in ("egl", "osmesa"):
        e = dict(os.environ, MUJOCO_GL=backend, PYOPENGL_PLATFORM=backend)
        p = subprocess.run([sys.executable, "-c", _PROBE], env=e, capture_output=True, text=True, timeout=60)
        if p.returncode == 0:
            return backend
        errors.append(f"{backend}: {(p.stderr.strip().splitlines() or ['?'])[-1]}")
    raise RuntimeError("render: no offscreen OpenGL backend works (" + "; ".join(errors) + ")")


def _renderer(model: mujoco.MjModel, height: int, width: int) -> mujoco.Renderer:
    """A ``mujoco.Renderer`` on the EGL or OSMesa backend. MuJoCo picks its GL backend when it is
    imported (from ``$MUJOCO_GL``, default GLFW, which needs a display); the chosen headless
    backend's context class is installed in its place."""
    global _BACKEND
    if _BACKEND is None:
        _BACKEND = _pick_backend()
        os.environ.setdefault("PYOPENGL_PLATFORM", _BACKEND)
        from mujoco.rendering.classic import gl_context
        gl_context.GLContext = importlib.import_module(f"mujoco.{_BACKEND}").GLContext
    return mujoco.Renderer(model, height, width)


def _camera(model, data, obj_body: int, azimuth: float, elevation: float, distance: float) -> mujoco.MjvCamera:
    cam = mujoco.MjvCamera()
    cam.type = mujoco.mjtCamera.mjCAMERA_FREE
    cam.lookat[:] = data.xpos[obj_body]
    cam.azimuth, cam.elevation, cam.distance = azimuth, elevation, distance
    return cam


def save_png(image: np.ndarray, path: str | Path) -> Path:
    """Write an (H, W, 3) uint8 image to ``path`` (Pillow, else matplotlib)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        from PIL import Image
        Image.fromarray(image).save(path)
    except ImportError:
        import matplotlib.pyplot as plt
        plt.imsave(path, image)
    return path


def render_grasp(validator: GraspValidator, wrist_pos, wrist_quat, pregrasp, grasp, squeeze, direction: int | str = 0,
                 path: str | Path | None = None, width: int = 480, height: int = 360, azimuth: float = 135.0,
                 elevation: float = -25.0, distance: float = 0.45, tabletop: bool = False) -> np.ndarray:
    """Render one grasp: left = the hand at the grasp pose (before the test), middle = after
    closing (squeeze), right = after holding the force along ``direction`` (index or name in
    ``+x, -x, +y, -y, +z, -z``; ignored with ``tabletop``, which shows the end of the lift).

    Inputs are one grasp: (3,) m, (4,) wxyz, three (J,) rad. Returns the (H, 3W, 3) uint8
    image, also written to ``path`` as PNG when given. The camera is a free camera looking at
    the object (azimuth/elevation deg, distance m).
    """
    if isinstance(direction, str):
        if direction not in DIRECTION_NAMES:
            raise ValueError(f"direction: expected one of {DIRECTION_NAMES}, got {direction!r}")
        direction = DIRECTION_NAMES.index(direction)
    sim = validator._sim(tabletop)
    m, d, c = sim.m, sim.d, sim.c
    wp, wq = np.asarray(wrist_pos, np.float64), np.asarray(wrist_quat, np.float64)
    qp, qg, qs = (np.asarray(x, np.float64) for x in (pregrasp, grasp, squeeze))
    r = _renderer(m, height, width)
    opt = mujoco.MjvOption()
    frames = []

    def shot():
        mujoco.mj_forward(m, d)
        r.update_scene(d, _camera(m, d, sim.s.obj_body, azimuth, elevation, distance), opt)
        frames.append(r.render().copy())

    sim.place(wp, wq, qg)
    shot()
    sim.close(wp, wq, qp, qg, qs)
    shot()
    if tabletop:
        sim.hold(np.array([0.0, 0.0, -1.0]), c.lift_time + c.lift_hold_time, c.tabletop_force_scale * c.object_mass,
                 lift=c.lift_height)
    else:
        sim.hold(_DIRS[direction], c.hold_time, c.force)
    shot()
    r.close()
    image = np.concatenate(frames, axis=1)
    if path is not None:
        save_png(image, path)
    return image



