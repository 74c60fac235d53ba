"""Grasp types: an exact, reproducible clustering of grasps for diversity counting (no ROS).

A grasp's *type* is the pair (which fingers touch, coarse approach direction), written as one
string label ``"<fingers>|<axis><sign>"``, e.g. ``"thumb+index+middle|long-"``:

* **fingers**: the hand's fingers (``HandModel.tip_names`` order) whose nearest contact
  candidate lies within ``contact_tol`` (default 5 mm) of the object surface (|SDF| of the
  object field) at the *grasp* joints, joined by ``+`` (``"none"`` if no finger does). It is
  measured on the final pose, not taken from the optimiser's "active" mask, so seed and
  generated grasps are typed the same way.
* **approach**: the palm approach direction d (unit, object frame: ``HandModel.palm_frame``)
  expressed in the object's *principal frame* (below); the bin is the principal axis with the
  largest |d . a_k| (``long``, ``mid``, ``short``) and the sign of that component. 6 bins.

Principal frame of a mesh (:func:`principal_frame`): eigenvectors of the area-weighted second
moment of the triangle centroids about their area-weighted mean, sorted by decreasing
eigenvalue (``long``, ``mid``, ``short``). Each axis's sign is fixed so that the area-weighted
third central moment (skew) of the centroids along it is positive; when that skew is tiny
(|skew| < 1e-3 std^3, a symmetric shape) the axis's largest-magnitude component (in the object
frame) is made positive instead. Same mesh -> same frame, bit for bit; for shapes with equal
eigenvalues (sphere, round cylinder) the frame is still deterministic but arbitrary within the
degenerate plane.

Counts, entropy and the rebalancing weights of associated points are in this module too:

* :func:`type_entropy`: Shannon entropy in bits of a type histogram.
* :func:`associated_weights`: per cloud point p, ``w_p = 1 / (1 + c_p)`` with
  ``c_p = sum_t N[vox(p), t] * r_t``, where ``N[v, t]`` counts earlier valid grasps of type t
  whose associated point fell in voxel v (size ``voxel`` m, ``floor(x / voxel)`` per axis in
  float64), and ``r_t = n_t / mean_{t' seen} n_t'`` is how common type t is on that object.
  With equal type counts this is Dex1B's ``1 / (count + 1)``; regions used only by rare types
  stay attractive, regions full of common types are sampled less.
* :func:`type_quota`: how many valid grasps of each type one task may keep under a per-object
  cap (the "after rebalancing" selection).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

AXIS_NAMES = ("long", "mid", "short")
NO_FINGER = "none"


@dataclass(frozen=True)
class PrincipalFrame:
    """axes (3, 3): columns a_long, a_mid, a_short (object frame, unit); center (3,) m; extents (3,) std m."""

    axes: np.ndarray
    center: np.ndarray
    std: np.ndarray


def principal_frame(mesh) -> PrincipalFrame:
    """Principal frame of a triangle mesh (``trimesh.Trimesh`` or anything with vertices/faces)."""
    v = np.asarray(mesh.vertices, dtype=np.float64)
    f = np.asarray(mesh.faces, dtype=np.int64)
    tri = v[f]                                                   # (T, 3, 3)
    cen = tri.mean(1)
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    w = area / area.sum()
    mu = (w[:, None] * cen).sum(0)
    x = cen - mu
    cov = (w[:, None, None] * (x[:, :, None] * x[:, None, :])).sum(0)
    evals, evecs = np.linalg.eigh(cov)                           # ascending
    order = np.argsort(-evals, kind="stable")
    evals, axes = evals[order], evecs[:, order].copy()
    std = np.sqrt(np.maximum(evals, 0.0))
    for k in range(3):
        proj = x @ axes[:, k]
        skew = float((w * proj ** 3).sum())
        if abs(skew) >= 1e-3 * max(std[k], 1e-12) ** 3:
            flip = skew < 0
        else:
            flip = axes[np.argmax(np.abs(axes[:, k])), k] < 0
        if flip:
            axes[:, k] = -axes[:, k]
    return PrincipalFrame(axes, mu, std)


def touching_fingers(hand, field, pose, contact_tol: float) -> np.ndarray:
    """(B, F) bool: finger f's nearest contact candidate is within ``contact_tol`` m of the surface."""
    from ..optim.energy import finger_groups

    groups = finger_groups(hand)                                 # (F, K), -1 padded
    with torch.no_grad():
        p, _ = hand.contact_candidates(pose)                      # (B, C, 3)
        d = field.sdf(p).abs()                                    # (B, C)
        dg = d[:, groups.clamp_min(0)].masked_fill(groups < 0, float("inf"))   # (B, F, K)
        return (dg.min(-1).values < contact_tol).cpu().numpy()


def approach_bins(hand, pose, frame: PrincipalFrame) -> tuple[np.ndarray, np.ndarray]:
    """(axis index (B,) in 0..2, sign (B,) +1/-1) of the palm approach direction in ``frame``."""
    with torch.no_grad():
        _, d = hand.palm_frame(pose)
    comp = d.detach().cpu().double().numpy() @ frame.axes          # (B, 3)
    k = np.argmax(np.abs(comp), axis=1)
    sign = np.where(comp[np.arange(len(k)), k] >= 0, 1, -1)
    return k, sign


def type_labels(touch: np.ndarray, axis: np.ndarray, sign: np.ndarray, tip_names) -> list[str]:
    """Labels ``"<fingers>|<axis><sign>"`` from the parts (see module doc)."""
    out = []
    for row, k, s in zip(np.asarray(touch, bool), axis, sign):
        fingers = "+".join(n for n, t in zip(tip_names, row) if t) or NO_FINGER
        out.append(f"{fingers}|{AXIS_NAMES[int(k)]}{'+' if s > 0 else '-'}")
    return out


def grasp_types(hand, field, pose, frame: PrincipalFrame, contact_tol: float = 0.005) -> list[str]:
    """Type label of each of B grasps (``pose``: HandPose at the grasp joints, object frame)."""
    if pose.batch == 0:
        return []
    touch = touching_fingers(hand, field, pose, contact_tol)
    k, s = approach_bins(hand, pose, frame)
    return type_labels(touch, k, s, hand.tip_names)


def type_entropy(counts) -> float:
    """Shannon entropy (bits) of a histogram (dict type -> count, or a sequence of counts)."""
    c = np.asarray(list(counts.values()) if isinstance(counts, dict) else list(counts), dtype=np.float64)
    c = c[c > 0]
    if c.size == 0:
        return 0.0
    p = c / c.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0   # + 0.0: never -0.0


def voxel_index(points: np.ndarray, voxel: float) -> np.ndarray:
    """(N, 3) int64 voxel of each point: floor(x / voxel) in float64 (the same rule as the DuckDB query)."""
    return np.floor(np.asarray(points, dtype=np.float32).astype(np.float64) / float(voxel)).astype(np.int64)


def associated_weights(points: np.ndarray, voxel: float, voxel_counts, type_counts: dict) -> np.ndarray:
    """(P,) float64 sampling weight of each cloud point (see module doc).

    voxel_counts: iterable of ``(i, j, k, type, count)`` of earlier valid grasps' associated points
    on this object; type_counts: dict type -> count of those grasps on this object.
    """
    P = len(points)
    seen = [n for n in type_counts.values() if n > 0]
    if not seen:
        return np.ones(P)
    mean = float(np.mean(seen))
    load: dict[tuple[int, int, int], float] = {}
    for i, j, k, t, n in voxel_counts:
        key = (int(i), int(j), int(k))
        load[key] = load.get(key, 0.0) + float(n) * float(type_counts.get(t, 0)) / mean
    vox = voxel_index(points, voxel)
    c = np.array([load.get((int(a), int(b), int(d)), 0.0) for a, b, d in vox], dtype=np.float64)
    return 1.0 / (1.0 + c)


def type_quota(prior: int, cap: int, chunk: int, chunks: int) -> int | None:
    """Valid grasps of one type that task ``chunk`` (of ``chunks`` for the object) may keep, given
    ``prior`` kept in earlier rounds and a per-object ``cap`` (0 = no cap -> None). The remainder
    ``cap - prior`` is split evenly over the chunks, the first ones taking the extra units."""
    if cap <= 0:
        return None
    rem = max(0, cap - int(prior))
    return rem // chunks + (1 if chunk < rem % chunks else 0)


def select_by_quota(types: list[str], energy: np.ndarray, ok: np.ndarray, quotas: dict) -> np.ndarray:
    """(N,) bool keep-mask: among rows with ``ok``, per type keep at most ``quotas[type]`` (None =
    all) with the lowest energy (ties: lower index first)."""
    keep = np.zeros(len(types), bool)
    t = np.asarray(types, dtype=object)
    e = np.asarray(energy, dtype=np.float64)
    for ty in sorted(set(t[np.asarray(ok, bool)].tolist())):
        rows = np.flatnonzero((t == ty) & np.asarray(ok, bool))
        q = quotas.get(ty)
        if q is not None and len(rows) > q:
            order = np.lexsort((rows, np.nan_to_num(e[rows], nan=math.inf)))
            rows = rows[order[:q]]
        keep[rows] = True
    return keep
