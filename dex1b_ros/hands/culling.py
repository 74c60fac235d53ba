"""Spatial chunks of hand points, so that batched energies only touch what can matter.

Most of a hand is far from the object at any moment (in refined grasps ~5 % of the collision
points lie within 1 cm of the surface), and most self-collision sphere pairs are far apart.
Evaluating the object SDF at every collision point of every grasp costs ~20 ns per point and
dominated the optimizer step. Instead, the points of each link are split into small spatially
coherent *chunks* with a bounding sphere; a chunk is evaluated for grasp b only when its
bounding sphere may reach the object (or the table). Because a signed distance is
1-Lipschitz, ``sdf(centre) >= bound`` proves that no point (or sphere) of the chunk penetrates,
so the culling is exact: a culled chunk would have contributed exactly zero energy and zero
gradient.

Shapes: V chunks of at most K points; link-frame coordinates in metres.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch


@dataclass
class PointChunks:
    """Points of a hand grouped in chunks of one link each (link frame, m).

    ``radius`` (V, K) is the sphere radius of each point (0 for plain surface samples, -1 for
    padding, which can then never penetrate); ``kind`` (V, K) long: 0 padding, 1 collision
    sphere, 2 surface sample; ``center`` (V, 3) and ``bound`` (V,) the bounding sphere of the
    chunk including the point radii; ``offset`` (V, K) bounds each point alone:
    ``sdf(point) - radius >= sdf(centre) - offset``."""

    link: torch.Tensor     # (V,) long
    points: torch.Tensor   # (V, K, 3)
    radius: torch.Tensor   # (V, K)
    kind: torch.Tensor     # (V, K) long
    center: torch.Tensor   # (V, 3)
    bound: torch.Tensor    # (V,)
    offset: torch.Tensor   # (V, K) |point - centre| + max(radius, 0); +inf for padding

    def to(self, device, dtype) -> "PointChunks":
        return PointChunks(**{f.name: getattr(self, f.name).to(device=device, dtype=dtype if getattr(
            self, f.name).is_floating_point() else None) for f in fields(self)})


def _split(p: np.ndarray, idx: np.ndarray, size: int) -> list[np.ndarray]:
    """Recursive median bisection along the widest axis until every part has <= size points."""
    if len(idx) <= size:
        return [idx]
    q = p[idx]
    ax = int(np.argmax(q.max(0) - q.min(0)))
    order = idx[np.argsort(q[:, ax], kind="stable")]
    h = len(order) // 2
    return _split(p, order[:h], size) + _split(p, order[h:], size)


def chunk_points(link: np.ndarray, points: np.ndarray, radius: np.ndarray, kind: np.ndarray,
                 size: int = 16) -> PointChunks:
    """Group points (N, 3) of links ``link`` (N,) into spatially coherent chunks of <= ``size``."""
    link, points = np.asarray(link), np.asarray(points, dtype=np.float64)
    radius, kind = np.asarray(radius, dtype=np.float64), np.asarray(kind)
    parts = []
    for li in np.unique(link):
        parts += [(li, c) for c in _split(points, np.nonzero(link == li)[0], size)]
    V = len(parts)
    P = np.zeros((V, size, 3))
    R = np.full((V, size), -1.0)
    Kd = np.zeros((V, size), dtype=np.int64)
    C = np.zeros((V, 3))
    Bd = np.zeros(V)
    Off = np.full((V, size), np.inf)
    for v, (_, ix) in enumerate(parts):
        n = len(ix)
        P[v, :n], R[v, :n], Kd[v, :n] = points[ix], radius[ix], kind[ix]
        C[v] = 0.5 * (points[ix].min(0) + points[ix].max(0))
        Off[v, :n] = np.linalg.norm(points[ix] - C[v], axis=1) + np.maximum(radius[ix], 0)
        Bd[v] = Off[v, :n].max()
    t = lambda a: torch.as_tensor(a)
    return PointChunks(t(np.array([li for li, _ in parts], dtype=np.int64)), t(P), t(R), t(Kd), t(C), t(Bd), t(Off))


@dataclass
class PairChunks:
    """Self-collision sphere pairs grouped by the pair of links they belong to.

    ``link_pairs`` (P, 2) long; ``pair_i`` / ``pair_j`` (P, K) long sphere indices (padding:
    index 0 with ``valid`` False); ``link_center`` (L, 3) / ``link_bound`` (L,) bounding sphere
    of each link's self-collision spheres (link frame, m; bound 0 for links without any)."""

    link_pairs: torch.Tensor
    pair_i: torch.Tensor
    pair_j: torch.Tensor
    valid: torch.Tensor
    link_center: torch.Tensor
    link_bound: torch.Tensor

    def to(self, device, dtype) -> "PairChunks":
        return PairChunks(**{f.name: getattr(self, f.name).to(device=device, dtype=dtype if getattr(
            self, f.name).is_floating_point() else None) for f in fields(self)})


def chunk_pairs(sphere_link: np.ndarray, centers: np.ndarray, radii: np.ndarray, pairs: np.ndarray,
                n_links: int) -> PairChunks:
    """Group sphere ``pairs`` (P, 2) by the links of their spheres."""
    sphere_link = np.asarray(sphere_link)
    centers, radii = np.asarray(centers, np.float64), np.asarray(radii, np.float64)
    pairs = np.asarray(pairs).reshape(-1, 2)
    lp = np.sort(sphere_link[pairs], axis=1)
    keys, inv = np.unique(lp, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    K = max(1, int(np.bincount(inv, minlength=len(keys)).max())) if len(keys) else 1
    I = np.zeros((len(keys), K), dtype=np.int64)
    J = np.zeros((len(keys), K), dtype=np.int64)
    valid = np.zeros((len(keys), K), dtype=bool)
    fill = np.zeros(len(keys), dtype=np.int64)
    for (a, b), g in zip(pairs, inv):
        I[g, fill[g]], J[g, fill[g]], valid[g, fill[g]] = a, b, True
        fill[g] += 1
    C = np.zeros((n_links, 3))
    Bd = np.zeros(n_links)
    for li in range(n_links):
        m = sphere_link == li
        if m.any():
            C[li] = 0.5 * (centers[m].min(0) + centers[m].max(0))
            Bd[li] = (np.linalg.norm(centers[m] - C[li], axis=1) + radii[m]).max()
    t = lambda a: torch.as_tensor(a)
    return PairChunks(t(keys.astype(np.int64).reshape(-1, 2)), t(I), t(J), t(valid), t(C), t(Bd))
