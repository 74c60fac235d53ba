"""Seeded procedural objects sized for a LEAP / Allegro hand.

``make_object(kind, seed)`` is a pure function of (kind, seed, size): the same arguments
give a bit-identical mesh. All meshes are watertight, outward-oriented, in meters,
centred on their bounding-box centre (object frame = that centre, axes = mesh axes).
Sizes: largest bounding-box extent in [0.04, 0.15] m (or exactly ``size``), every
extent >= 0.02 m.
"""
from __future__ import annotations

import zlib

import numpy as np
import trimesh

from .mesh import ObjectMesh

KINDS = ("box", "cylinder", "sphere", "capsule", "ellipsoid", "superquadric",
         "convex_blob", "nonconvex_blob")
LARGEST_RANGE = (0.04, 0.15)
"""Range of the largest extent (m) when ``size`` is not given."""
MIN_EXTENT = 0.02
"""Every extent is at least this (m)."""


def object_name(kind: str, seed: int) -> str:
    return f"proc_{kind}_{int(seed):04d}"


def _rng(kind: str, seed: int) -> np.random.Generator:
    # Independent stream per (kind, seed); crc32 is stable across runs and platforms.
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(kind.encode())]))


def _dims(rng: np.random.Generator, largest: float, ratio: float = 0.3) -> np.ndarray:
    """(3,) extents: one equals ``largest``, the others in [max(0.02, ratio*largest), largest]."""
    lo = min(largest, max(MIN_EXTENT, ratio * largest))
    d = np.array([largest, rng.uniform(lo, largest), rng.uniform(lo, largest)])
    return d[rng.permutation(3)]


def _fit_box(tm: trimesh.Trimesh, dims: np.ndarray) -> trimesh.Trimesh:
    """Centre on the bbox centre and scale each axis so the extents equal ``dims``."""
    tm.apply_translation(-tm.bounds.mean(axis=0))
    m = np.diag(np.r_[np.asarray(dims) / tm.extents, 1.0])
    tm.apply_transform(m)
    return tm


def _radial(directions: np.ndarray, faces: np.ndarray, radius: np.ndarray) -> trimesh.Trimesh:
    """Star-shaped surface: unit-sphere mesh with vertex i moved to radius[i]*dir[i].

    A positive radial map of a closed sphere mesh is closed, non-self-intersecting and keeps
    the outward orientation, so the result is always watertight.
    """
    return trimesh.Trimesh(directions * radius[:, None], faces.copy(), process=False)


def _superquadric(rng, dims) -> trimesh.Trimesh:
    s = trimesh.creation.icosphere(subdivisions=4)
    e1, e2 = rng.uniform(0.3, 1.4, size=2)  # ~0.3 boxy, 1 ellipsoid, >1 towards octahedral (convex for e <= 2)
    d = np.abs(s.vertices) + 1e-12
    f = (d[:, 0] ** (2 / e2) + d[:, 1] ** (2 / e2)) ** (e2 / e1) + d[:, 2] ** (2 / e1)
    # inside-outside function is homogeneous of degree 2/e1: F(r d) = r^(2/e1) F(d)
    return _fit_box(_radial(s.vertices, s.faces, f ** (-e1 / 2)), dims)


def _nonconvex_blob(rng, dims) -> trimesh.Trimesh:
    s = trimesh.creation.icosphere(subdivisions=4)
    k = int(rng.integers(3, 7))
    axes = rng.normal(size=(k, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    amp = rng.uniform(0.5, 1.2, size=k)
    kappa = rng.uniform(4.0, 12.0, size=k)
    # smooth lobes (von Mises bumps) on a sphere: concave valleys between lobes
    r = 0.5 + (amp * np.exp(kappa * (s.vertices @ axes.T - 1.0))).sum(axis=1)
    return _fit_box(_radial(s.vertices, s.faces, r), dims)


def make_object(kind: str, seed: int, size: float | None = None) -> ObjectMesh:
    """A procedural object.

    Args:
        kind: one of :data:`KINDS`.
        seed: integer seed; (kind, seed, size) fully determines the mesh.
        size: largest extent in meters (>= 0.02); default random in [0.04, 0.15].

    Returns an :class:`ObjectMesh` named ``proc_<kind>_<seed:04d>`` with source
    ``proc:<kind>:<seed>``, centred at its bounding-box centre, meters.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown procedural kind {kind!r}; choose from {KINDS}")
    rng = _rng(kind, seed)
    L = float(rng.uniform(*LARGEST_RANGE)) if size is None else float(size)
    if L < MIN_EXTENT:
        raise ValueError(f"proc:{kind}:{seed}: size {L} m < minimum extent {MIN_EXTENT} m")
    if kind == "box":
        tm = trimesh.creation.box(extents=_dims(rng, L))
    elif kind == "sphere":
        tm = trimesh.creation.icosphere(subdivisions=4, radius=L / 2)
    elif kind == "ellipsoid":
        tm = _fit_box(trimesh.creation.icosphere(subdivisions=4), _dims(rng, L))
    elif kind == "cylinder":
        lo = min(L, max(MIN_EXTENT, 0.25 * L))
        if rng.uniform() < 0.3:  # disc / can lying flat: diameter is the largest extent
            diameter, height = L, rng.uniform(lo, L)
        else:
            diameter, height = rng.uniform(lo, L), L
        tm = trimesh.creation.cylinder(radius=diameter / 2, height=height, sections=64)
    elif kind == "capsule":
        diameter = rng.uniform(min(L, max(MIN_EXTENT, 0.2 * L)), min(L, max(MIN_EXTENT, 0.6 * L)))
        tm = trimesh.creation.capsule(height=L - diameter, radius=diameter / 2, count=[32, 32])
    elif kind == "superquadric":
        tm = _superquadric(rng, _dims(rng, L))
    elif kind == "convex_blob":
        pts = rng.normal(size=(int(rng.integers(12, 40)), 3))
        tm = _fit_box(trimesh.convex.convex_hull(pts), _dims(rng, L))
    else:  # nonconvex_blob
        tm = _nonconvex_blob(rng, _dims(rng, L, ratio=0.4))
    tm.apply_translation(-tm.bounds.mean(axis=0))
    tm.fix_normals()
    if not (tm.is_watertight and tm.is_volume):  # construction guarantees this
        raise RuntimeError(f"proc:{kind}:{seed}: generated mesh is not a closed volume")
    return ObjectMesh(name=object_name(kind, seed), mesh=tm, source=f"proc:{kind}:{int(seed)}")
