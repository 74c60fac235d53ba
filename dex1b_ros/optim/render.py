"""Pictures of grasps: hand meshes at the grasp pose around the object (MuJoCo offscreen,
kinematics only; no physics). Rows of tiles, one grasp per tile."""
from __future__ import annotations

import mujoco
import numpy as np

from ..hands import HandModel
from ..hands.render import view_from
from .optimizer import GraspSet


def grasp_scene(hand: HandModel, mesh, table_z: float | None = None) -> tuple[mujoco.MjModel, mujoco.MjData]:
    """Hand (palm as a mocap body) + the object mesh as a static visual geom, object frame = world;
    optionally a grey table top at height ``table_z`` (m)."""
    spec = hand.spec.copy()
    spec.body(hand.cfg.root_body).mocap = True
    v = np.asarray(mesh.vertices, dtype=np.float64)
    f = np.asarray(mesh.faces, dtype=np.int32)
    spec.add_mesh(name="object_mesh", uservert=v.ravel().tolist(), userface=f.ravel().tolist())
    spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname="object_mesh", contype=0, conaffinity=0,
                            rgba=[0.85, 0.55, 0.2, 1.0], group=1)
    if table_z is not None:
        c = np.asarray(mesh.bounds).mean(0)
        spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.25, 0.25, 0.005], contype=0, conaffinity=0,
                                pos=[c[0], c[1], table_z - 0.005], rgba=[0.55, 0.55, 0.6, 1.0], group=1)
    spec.worldbody.add_light(pos=[0, 0, 1.0], dir=[0, 0, -1], type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL)
    m = spec.compile()
    m.vis.headlight.ambient[:] = 0.4
    m.vis.headlight.diffuse[:] = 0.6
    return m, mujoco.MjData(m)


def render_grasps(hand: HandModel, mesh, grasps: GraspSet, indices=None, which: str = "grasp",
                  cols: int = 4, tile: tuple[int, int] = (320, 320), table_z: float | None = None) -> np.ndarray:
    """(H, W, 3) uint8 grid of tiles showing ``grasps[indices]`` at the ``which`` joints."""
    m, d = grasp_scene(hand, mesh, table_z)
    idx = list(range(min(len(grasps), 8))) if indices is None else list(indices)
    r = mujoco.Renderer(m, tile[1], tile[0])
    opt = mujoco.MjvOption()
    opt.geomgroup[:] = [0, 1, 1, 0, 0, 0]
    center = np.asarray(mesh.bounds).mean(0)
    tiles = []
    for i in idx:
        d.mocap_pos[0] = grasps.trans[i]
        d.mocap_quat[0] = grasps.quat[i]
        q = getattr(grasps, which)[i]
        for name, v in zip(hand.joint_names, q):
            d.qpos[m.joint(name).qposadr[0]] = v
        mujoco.mj_kinematics(m, d)
        cam = mujoco.MjvCamera()
        cam.lookat[:] = center
        # look from the side of the hand, a little above
        palm = d.xpos[m.body(hand.cfg.root_body).id] - center
        side = np.cross(palm, [0, 0, 1.0])
        side = side if np.linalg.norm(side) > 1e-6 else np.array([1.0, 0, 0])
        view = -(palm / (np.linalg.norm(palm) + 1e-9)) * 0.3 + side / np.linalg.norm(side) - np.array([0, 0, 0.4])
        cam.azimuth, cam.elevation = view_from(view)
        cam.distance = 0.38
        r.update_scene(d, cam, opt)
        tiles.append(r.render().copy())
    r.close()
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[k:k + cols], 1) for k in range(0, len(tiles), cols)]
    return np.concatenate(rows, 0)
