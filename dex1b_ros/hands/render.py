"""Pictures of a hand model: the MuJoCo meshes with the fitted collision spheres, contact
candidates (red) and palm centre/approach (blue), rendered offscreen (EGL)."""
from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np
import torch

from .model import HandModel


def _add_sphere(scene: mujoco.MjvScene, pos, radius, rgba):
    if scene.ngeom >= scene.maxgeom:
        return
    mujoco.mjv_initGeom(scene.geoms[scene.ngeom], mujoco.mjtGeom.mjGEOM_SPHERE, np.array([radius, 0, 0]),
                        np.asarray(pos, dtype=np.float64), np.eye(3).ravel(), np.asarray(rgba, dtype=np.float32))
    scene.ngeom += 1


def view_from(direction: np.ndarray) -> tuple[float, float]:
    """MuJoCo camera (azimuth, elevation) in degrees that looks along ``direction`` (3,)."""
    f = np.asarray(direction, dtype=np.float64)
    f = f / np.linalg.norm(f)
    return float(np.degrees(np.arctan2(f[1], f[0]))), float(np.degrees(np.arcsin(np.clip(f[2], -1, 1))))


def render_hand(hand: HandModel, q: np.ndarray | None = None, width: int = 480, height: int = 400,
                azimuth: float | None = None, elevation: float | None = None, overlays: bool = True,
                side: float = 0.6) -> np.ndarray:
    """(H, W, 3) uint8 image of the hand at joints q (J,) rad (default: open pose), palm frame.
    By default the camera looks at the palm's front (against the approach direction), tilted
    sideways by ``side``."""
    m = hand.mj_model
    d = mujoco.MjData(m)
    q = hand.open_pose.cpu().numpy() if q is None else np.asarray(q)
    for name, v in zip(hand.joint_names, q):
        d.qpos[m.joint(name).qposadr[0]] = v
    mujoco.mj_kinematics(m, d)
    m.vis.headlight.ambient[:] = 0.45
    m.vis.headlight.diffuse[:] = 0.7
    r = mujoco.Renderer(m, height, width)
    cam = mujoco.MjvCamera()
    cam.lookat[:] = d.xpos[1:].mean(0)
    if azimuth is None or elevation is None:
        a = hand.approach.cpu().numpy().astype(np.float64)
        u = np.eye(3)[np.argmin(np.abs(a))]
        u = u - (u @ a) * a
        azimuth, elevation = view_from(-a + side * u / np.linalg.norm(u))
    cam.distance, cam.azimuth, cam.elevation = 0.36, azimuth, elevation
    opt = mujoco.MjvOption()
    opt.geomgroup[:] = [0, 1, 1, 0, 0, 0]  # visual meshes only (collision geoms are groups 0/3)
    r.update_scene(d, cam, opt)
    if overlays:
        with torch.no_grad():
            qt = torch.as_tensor(q, dtype=hand.dtype, device=hand.device)[None]
            T = hand.link_poses_palm(qt)
            c = hand._apply(T, hand.sphere_link, hand.sphere_center)[0].cpu().numpy()
            p = hand._apply(T, hand.contact_link, hand.contact_point)[0].cpu().numpy()
        for ci, ri in zip(c, hand.sphere_radius.cpu().numpy()):
            _add_sphere(r.scene, ci, ri, (0.2, 0.8, 0.3, 0.35))
        for pi in p:
            _add_sphere(r.scene, pi, 0.0025, (0.95, 0.1, 0.1, 1.0))
        pc, a = hand.palm_center.cpu().numpy(), hand.approach.cpu().numpy()
        for s in np.linspace(0, 0.05, 8):
            _add_sphere(r.scene, pc + s * a, 0.002, (0.1, 0.3, 1.0, 1.0))
    img = r.render().copy()
    r.close()
    return img


def save_png(img: np.ndarray, path: str | Path) -> Path:
    from PIL import Image
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)
    return path


def hand_sheet(hand: HandModel, closed_fraction: float = 0.5) -> np.ndarray:
    """Two views (open pose; half-closed) side by side, with overlays."""
    q_closed = hand.open_pose + closed_fraction * (hand.upper - hand.open_pose) * 0.6
    views = [render_hand(hand), render_hand(hand, q_closed.cpu().numpy(), side=-1.5)]
    return np.concatenate(views, axis=1)
