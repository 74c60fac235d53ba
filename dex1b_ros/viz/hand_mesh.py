"""The hand's visual meshes from its MJCF, posed by forward kinematics (MuJoCo; no torch, no ROS).

``HandMeshes(hand)`` loads the hand's MuJoCo Menagerie model (the same file the planner uses:
``config/hands/<hand>.yaml``, found in ``hands_dir`` / ``$DEX1B_HANDS_DIR`` /
``../shared/assets/hands``), keeps its visual mesh geoms (geom groups 1-2, as
:func:`dex1b_ros.hands.render.render_hand` draws them; the collision meshes when a model has no
visual ones), simplified by vertex clustering (``cell`` m) so a browser draws a few hands
quickly. ``geom_poses(q)`` gives each geom's pose in the palm (wrist) frame for joints ``q``
(J,) rad in the hand driver's order, simulation convention; the pose of the palm frame in the
planning frame is the grasp's wrist pose, so a vertex ``v`` of geom ``i`` lies at
``T_wrist @ geom_poses(q)[i] @ [v, 1]``. Metres throughout.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from ..config_utils import ConfigError
from ..hands.config import load_hand_config, resolve_mjcf

#: visual geom groups of the Menagerie hands (LEAP: 1, Allegro: 2); collision geoms are 0 and 3
VISUAL_GROUPS = (1, 2)


@dataclass
class MeshPart:
    """One simplified mesh (its own frame) and the geoms that use it."""

    vertices: np.ndarray      # (V, 3) m, mesh frame
    faces: np.ndarray         # (F, 3) int32
    geoms: list[int]          # indices into HandMeshes.geom_ids


def cluster_vertices(vertices: np.ndarray, faces: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Simplify a triangle mesh by vertex clustering: vertices in the same ``cell`` (m) cube
    merge into their mean; collapsed and repeated triangles are dropped. Returns (V', 3), (F', 3)."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    if cell <= 0 or len(v) == 0:
        return v, f.astype(np.int32)
    key = np.floor((v - v.min(0)) / cell).astype(np.int64)
    _, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    n = int(inv.max()) + 1
    out = np.zeros((n, 3))
    np.add.at(out, inv, v)
    out /= np.bincount(inv, minlength=n)[:, None]
    g = inv[f]
    keep = (g[:, 0] != g[:, 1]) & (g[:, 1] != g[:, 2]) & (g[:, 0] != g[:, 2])
    g = g[keep]
    _, first = np.unique(np.sort(g, axis=1), axis=0, return_index=True)
    return out, g[np.sort(first)].astype(np.int32)


class HandMeshes:
    """Visual meshes of one hand and their forward kinematics (see the module docstring)."""

    def __init__(self, hand: str, hands_dir: str | Path | None = None, cell: float = 0.003):
        self.cfg = load_hand_config(hand)
        self.name = self.cfg.name
        path = resolve_mjcf(self.cfg, hands_dir)
        try:
            m = mujoco.MjModel.from_xml_path(str(path))
        except Exception as e:  # mujoco raises ValueError with the parser's message
            raise ConfigError(f"mjcf: cannot load {path}: {e}") from None
        self.model, self.data = m, mujoco.MjData(m)
        self.joint_names = list(self.cfg.joint_names)
        try:
            self._qadr = np.array([m.joint(n).qposadr[0] for n in self.joint_names])
            self._root = m.body(self.cfg.root_body).id
        except KeyError as e:
            raise ConfigError(f"{path}: {e} (hand config {self.name!r})") from None
        mesh_geoms = [g for g in range(m.ngeom) if m.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH]
        visual = [g for g in mesh_geoms if m.geom_group[g] in VISUAL_GROUPS]
        self.geom_ids = np.array(visual or mesh_geoms, dtype=int)
        self.parts: list[MeshPart] = []
        by_mesh: dict[int, MeshPart] = {}
        for i, g in enumerate(self.geom_ids):
            mid = int(m.geom_dataid[g])
            if mid not in by_mesh:
                v0, nv = m.mesh_vertadr[mid], m.mesh_vertnum[mid]
                f0, nf = m.mesh_faceadr[mid], m.mesh_facenum[mid]
                v, f = cluster_vertices(m.mesh_vert[v0:v0 + nv], m.mesh_face[f0:f0 + nf], cell)
                by_mesh[mid] = MeshPart(v, f, [])
                self.parts.append(by_mesh[mid])
            by_mesh[mid].geoms.append(i)

    @property
    def n_faces(self) -> int:
        """Triangles of one whole hand (after simplification)."""
        return sum(len(p.faces) * len(p.geoms) for p in self.parts)

    def geom_poses(self, q: np.ndarray) -> np.ndarray:
        """(G, 4, 4) pose of each visual geom in the palm frame for joints ``q`` (J,) rad."""
        q = np.asarray(q, dtype=np.float64).reshape(-1)
        if len(q) != len(self.joint_names):
            raise ValueError(f"hand {self.name!r} has {len(self.joint_names)} joints, got {len(q)} values")
        m, d = self.model, self.data
        d.qpos[:] = m.qpos0
        d.qpos[self._qadr] = q
        mujoco.mj_kinematics(m, d)
        T = np.zeros((len(self.geom_ids), 4, 4))
        T[:, :3, :3] = d.geom_xmat[self.geom_ids].reshape(-1, 3, 3)
        T[:, :3, 3] = d.geom_xpos[self.geom_ids]
        T[:, 3, 3] = 1.0
        root = np.eye(4)
        root[:3, :3] = d.xmat[self._root].reshape(3, 3)
        root[:3, 3] = d.xpos[self._root]
        return np.linalg.inv(root) @ T
