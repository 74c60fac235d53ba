"""Collision geometry of a hand's links and the automatic sphere fit.

Everything here is numpy, in a link's (MuJoCo body's) frame, metres. MuJoCo collides
meshes through their convex hulls, so every collision geom is a convex solid: sphere,
capsule, box and cylinder analytically, meshes and ellipsoids as convex polytopes.

Sphere fit (per link): candidates are interior points of the link's union of geoms; a
candidate's radius is its depth inside the union plus ``protrusion`` (so a sphere never
sticks out of the geometry by more than that). A greedy set cover then picks, one at a
time, the candidate that covers the most still-uncovered surface samples (a sample is
covered when it lies within ``tolerance`` of a sphere), until ``coverage`` is reached or
``max_per_link`` spheres are used.
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
import trimesh
from scipy.spatial import ConvexHull
from scipy.spatial.distance import cdist

from ..rotation import quat_to_matrix_np
from .config import SphereConfig

_G = mujoco.mjtGeom


@dataclass
class ConvexGeom:
    """One convex collision geom in its body's frame.

    kind: 'sphere' | 'capsule' | 'box' | 'cylinder' | 'hull'
    pos (3,) m and rot (3, 3): geom frame in the body frame.
    size: MuJoCo size (radius / half sizes, m). hull: (F, 4) plane equations [n, d] with
    n.x + d <= 0 inside, in the BODY frame. mesh: trimesh of the geom in the body frame.
    """

    name: str
    kind: str
    pos: np.ndarray
    rot: np.ndarray
    size: np.ndarray
    mesh: trimesh.Trimesh
    hull: np.ndarray | None = None

    def depth(self, p: np.ndarray) -> np.ndarray:
        """Signed depth (N,) of body-frame points p (N, 3): > 0 inside (distance to the
        boundary), < 0 outside (exact distance for analytic kinds, a lower bound for hulls)."""
        if self.kind == "hull":
            return -(p @ self.hull[:, :3].T + self.hull[:, 3]).max(axis=1)
        q = (p - self.pos) @ self.rot  # geom-frame coordinates
        if self.kind == "sphere":
            return self.size[0] - np.linalg.norm(q, axis=1)
        if self.kind == "capsule":
            z = np.clip(q[:, 2], -self.size[1], self.size[1])
            return self.size[0] - np.linalg.norm(q - np.stack([0 * z, 0 * z, z], 1), axis=1)
        if self.kind == "box":
            d = np.abs(q) - self.size[:3]
            outside = np.linalg.norm(np.maximum(d, 0.0), axis=1)
            return np.where(outside > 0, -outside, -d.max(axis=1))
        if self.kind == "cylinder":
            d = np.stack([np.linalg.norm(q[:, :2], axis=1) - self.size[0], np.abs(q[:, 2]) - self.size[1]], 1)
            outside = np.linalg.norm(np.maximum(d, 0.0), axis=1)
            return np.where(outside > 0, -outside, -d.max(axis=1))
        raise ValueError(f"unknown geom kind {self.kind}")


def link_geoms(model: mujoco.MjModel, body_id: int) -> list[ConvexGeom]:
    """Collision geoms (contype or conaffinity set) of one body, in the body frame."""
    out = []
    for g in range(model.ngeom):
        if model.geom_bodyid[g] != body_id or (model.geom_contype[g] == 0 and model.geom_conaffinity[g] == 0):
            continue
        t = int(model.geom_type[g])
        pos = model.geom_pos[g].copy()
        rot = quat_to_matrix_np(model.geom_quat[g])  # MuJoCo quaternions are (w, x, y, z)
        size = model.geom_size[g].copy()
        name = model.geom(g).name or f"geom{g}"
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = rot, pos
        if t == _G.mjGEOM_SPHERE:
            mesh, kind = trimesh.creation.icosphere(subdivisions=3, radius=size[0]), "sphere"
        elif t == _G.mjGEOM_CAPSULE:
            mesh, kind = trimesh.creation.capsule(height=2 * size[1], radius=size[0], count=[24, 24]), "capsule"
        elif t == _G.mjGEOM_BOX:
            mesh, kind = trimesh.creation.box(extents=2 * size), "box"
        elif t == _G.mjGEOM_CYLINDER:
            mesh, kind = trimesh.creation.cylinder(radius=size[0], height=2 * size[1], sections=32), "cylinder"
        elif t == _G.mjGEOM_ELLIPSOID:
            mesh = trimesh.creation.icosphere(subdivisions=3)
            mesh.apply_scale(size)
            kind = "hull"
        elif t == _G.mjGEOM_MESH:
            mid = model.geom_dataid[g]
            a, n = model.mesh_vertadr[mid], model.mesh_vertnum[mid]
            mesh = trimesh.Trimesh(model.mesh_vert[a:a + n].astype(np.float64)).convex_hull
            kind = "hull"
        else:
            raise ValueError(f"geom {name!r}: unsupported collision geom type {t} for sphere fitting")
        mesh.apply_transform(T)
        hull = None
        if kind == "hull":
            hull = ConvexHull(mesh.vertices).equations
        out.append(ConvexGeom(name, kind, pos, rot, size, mesh, hull))
    return out


def union_depth(geoms: list[ConvexGeom], p: np.ndarray) -> np.ndarray:
    """Depth (N,) of points inside the union of geoms (a lower bound of the true depth)."""
    return np.max(np.stack([g.depth(p) for g in geoms], 0), axis=0)


def sample_union_surface(geoms: list[ConvexGeom], n: int, rng: np.random.Generator,
                         eps: float = 5e-4) -> tuple[np.ndarray, np.ndarray]:
    """Points (M, 3) and outward normals (M, 3) on the boundary of the union of geoms
    (samples of one geom that lie inside another by more than ``eps`` are dropped)."""
    areas = np.array([g.mesh.area for g in geoms])
    counts = np.maximum(1, np.round(n * areas / areas.sum()).astype(int))
    pts, nrm = [], []
    for g, c in zip(geoms, counts):
        p, fi = trimesh.sample.sample_surface(g.mesh, int(c), seed=int(rng.integers(1 << 31)))
        pts.append(p)
        nrm.append(g.mesh.face_normals[fi])
    p, nm = np.concatenate(pts), np.concatenate(nrm)
    keep = union_depth(geoms, p) <= eps
    return p[keep], nm[keep]


@dataclass
class SphereFit:
    centers: np.ndarray   # (K, 3) m, link frame
    radii: np.ndarray     # (K,) m
    coverage: float       # fraction of surface samples within tolerance of a sphere


def fit_spheres(geoms: list[ConvexGeom], cfg: SphereConfig, seed: int = 0, max_spheres: int | None = None) -> SphereFit:
    """Greedy sphere cover of a link's collision geometry (see module docstring)."""
    max_spheres = max_spheres or cfg.max_per_link
    rng = np.random.default_rng(seed)
    surf, _ = sample_union_surface(geoms, cfg.samples_per_link, rng)
    # candidates: uniform samples inside each geom's box (thin plates get their share too)
    cand = np.concatenate([rng.uniform(g.mesh.bounds[0], g.mesh.bounds[1], size=(max(400, 3000 // len(geoms)), 3))
                           for g in geoms] + [np.stack([g.mesh.centroid for g in geoms])])
    r = union_depth(geoms, cand) + cfg.protrusion
    ok = r >= cfg.min_radius
    if not ok.any():  # very thin link: fall back to the deepest candidates
        ok = r >= np.sort(r)[-min(len(r), 50)]
    cand, r = cand[ok], r[ok]
    d = cdist(cand, surf)
    cover = d <= (r[:, None] + cfg.tolerance)
    uncovered = np.ones(len(surf), bool)
    chosen: list[int] = []
    while len(chosen) < max_spheres:
        gain = cover[:, uncovered].sum(1)
        # tie-break toward larger spheres (fewer, deeper spheres are better for penetration)
        best = int(np.argmax(gain + 1e-3 * r / r.max()))
        if gain[best] == 0 and len(chosen) >= cfg.min_per_link:
            break
        chosen.append(best)
        uncovered &= ~cover[best]
        if 1.0 - uncovered.mean() >= cfg.coverage and len(chosen) >= cfg.min_per_link:
            break
    return SphereFit(cand[chosen].astype(np.float64), r[chosen].astype(np.float64), float(1.0 - uncovered.mean()))
