"""Cleaning of a real (or simulated) depth cloud before grasp planning (no ROS).

Pipeline of :func:`preprocess_cloud`, each step optional through :class:`PreprocessConfig`:

1. checks: empty cloud; more than ``max_input_points`` -> rejected (hard cap); non-finite
   coordinates dropped (fail if fewer than ``min_points`` remain);
2. random subsample to ``downsample_above`` points when larger (from the ``rng`` given);
3. transform to the planning frame with a 4x4 ``T_planning_cloud`` (p_plan = R p_cloud + t);
4. crop to an axis-aligned box of the planning frame;
5. remove the support plane (RANSAC, :func:`fit_plane`) and everything below it, but only
   when the plane looks like a support: near-horizontal (normal within ``plane_max_tilt_deg``
   of planning +z), holding at least ``plane_min_inlier_fraction`` of the points, and with most
   of the other points above it or almost none below it (so the top face of a box, with the
   box's sides below it, is not mistaken for a table, while a bare table's few noise points on
   both sides do not hide it); then what remains must be an object on it: at least
   ``min_points`` points rising ``min_height`` or more above the plane, else "no object on the
   support plane" (a bare table is not planned on);
6. voxel downsample (open3d, normals averaged and renormalised); the cell doubles until at
   most ``max_cluster_points`` remain, which bounds the cost of the next two steps;
7. statistical outlier removal (open3d);
8. keep the largest DBSCAN cluster (open3d) = the object;
9. checks: at least ``min_points`` left; with a support plane (found, or ``support_plane``
   given), the object's top at least ``min_height`` above it; bounding-box size within
   [``min_extent``, ``max_extent``] (object too small / too large for the hand); at most
   ``max_output_points`` points (random subsample, same ``rng``).

Frames/units: metres; the planning frame is z-up (the support plane is horizontal in it).
Errors are :class:`CloudError` (a ``ValueError``) with a message saying what was wrong.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import trimesh

from ..config_fields import Range, between, check_ranges, ge, gt
from ..config_utils import fail


class CloudError(ValueError):
    """The cloud cannot be planned on (empty, too few valid points, object of the wrong size...)."""


#: a plane with fewer than this fraction of all points below it (beyond its inlier band) counts as a support
#: even when the few points off it are not mostly above it (a bare table: noise on both sides)
_MAX_BELOW_SUPPORT = 0.05


@dataclass
class PreprocessConfig:
    """Settings of :func:`preprocess_cloud`. Lengths in metres of the planning frame. The numeric
    bounds (``RANGES``) are checked here and exported as the ROS parameters' ranges. Random steps
    (subsampling, RANSAC) draw from the ``rng`` given to :func:`preprocess_cloud` (the planner's
    one generator per plan), not from a seed of their own."""

    crop_min: list[float] | None = None       # m, (3,) lower corner of the crop box in the planning frame;
                                              #    None/[] = no crop
    crop_max: list[float] | None = None       # m, (3,) upper corner of the crop box in the planning frame;
                                              #    None/[] = no crop
    max_input_points: int = 3_000_000         # -, hard cap: clouds with more points are rejected
    downsample_above: int = 100_000           # -, larger clouds are randomly subsampled to this first
    remove_plane: bool = True                 # remove the support plane (table) and what lies below it
    plane_distance: float = 0.006             # m, RANSAC inlier distance of the support plane
    plane_iterations: int = 200               # -, RANSAC iterations
    plane_min_inlier_fraction: float = 0.1    # -, a plane holding a smaller fraction of the points is not removed
    plane_max_tilt_deg: float = 30.0          # deg, max angle between the plane normal and planning +z
    min_height: float = 0.008                 # m, what remains on the support plane must rise at least this above it
                                              #    (>= min_points points; the object's top too), else "no object
                                              #    on the support plane"; 0 = no check
    voxel_size: float = 0.003                 # m, voxel downsampling cell; 0 = off
    max_cluster_points: int = 20_000          # -, the voxel cell is doubled until at most this many points remain
                                              #    (bounds the cost of the outlier and DBSCAN steps)
    outlier_neighbors: int = 20               # -, neighbours of the statistical outlier test; 0 = off
    outlier_std_ratio: float = 2.5            # -, points beyond mean + ratio * std of neighbour distance are outliers
    cluster_eps: float = 0.015                # m, DBSCAN neighbourhood radius; the largest cluster is the object;
                                              #    0 = keep every cluster
    cluster_min_points: int = 10              # -, DBSCAN core-point neighbour count
    min_points: int = 50                      # -, fewer points left at any check -> error (failed plan)
    max_output_points: int = 8192             # -, the cleaned cloud is randomly subsampled to at most this
    min_extent: float = 0.015                 # m, largest bounding-box side must be >= this (else too small to grasp)
    max_extent: float = 0.35                  # m, largest bounding-box side must be <= this
                                              #    (else too large for the hand)

    RANGES: ClassVar[dict[str, Range]] = {
        "max_input_points": ge(1), "downsample_above": ge(1), "plane_iterations": ge(1),
        "plane_distance": between(0, 1, hi_open=True), "plane_min_inlier_fraction": between(0, 1, lo_open=True),
        "plane_max_tilt_deg": between(0, 90), "min_height": between(0, 1, hi_open=True),
        "voxel_size": between(0, 1, hi_open=True),
        "max_cluster_points": ge(1), "outlier_neighbors": ge(0), "outlier_std_ratio": gt(0),
        "cluster_eps": between(0, 1, hi_open=True), "cluster_min_points": ge(1), "min_points": ge(1),
        "max_output_points": ge(1), "min_extent": gt(0), "max_extent": gt(0),
    }

    def __post_init__(self):
        for name in ("crop_min", "crop_max"):
            v = getattr(self, name)
            if v is not None and len(v) == 0:   # [] = no crop (a ROS parameter cannot be null)
                setattr(self, name, None)
            elif v is not None and (len(v) != 3 or not np.all(np.isfinite(v))):
                fail(name, f"expected 3 finite numbers (m) or null, got {v!r}")
        if (self.crop_min is None) != (self.crop_max is None):
            fail("crop_min", "crop_min and crop_max must be given together (or both null)")
        if self.crop_min is not None and np.any(np.asarray(self.crop_min) >= np.asarray(self.crop_max)):
            fail("crop_max", f"must be > crop_min on every axis, got min {self.crop_min} max {self.crop_max}")
        check_ranges(self, self.RANGES)
        if self.downsample_above > self.max_input_points:
            fail("downsample_above",
                 f"must be <= max_input_points ({self.max_input_points}), got {self.downsample_above}")
        if self.remove_plane and self.plane_distance <= 0:
            fail("plane_distance", "must be > 0 when remove_plane is true")
        if not self.min_extent < self.max_extent:
            fail("max_extent", f"need 0 < min_extent < max_extent, got {self.min_extent}, {self.max_extent}")


@dataclass
class PreprocessResult:
    """The cleaned object cloud, in the planning frame.

    Attributes:
        points: (M, 3) float64 m.
        normals: (M, 3) float64 unit vectors, or None when the input had none.
        extent: (3,) m, axis-aligned bounding-box size.
        center: (3,) m, bounding-box centre.
        steps: one line per step, e.g. ``"voxel 0.003 m: 41234 -> 5120"``.
        plane: (4,) [a, b, c, d] of the removed support plane (unit normal pointing up, toward
            the object; a*x + b*y + c*z + d = height above it, m), or None when none was found.
    """

    points: np.ndarray
    normals: np.ndarray | None
    extent: np.ndarray
    center: np.ndarray
    steps: list[str] = field(default_factory=list)
    plane: np.ndarray | None = None


def fit_plane(points: np.ndarray, distance: float, iterations: int, rng: np.random.Generator,
              max_points: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """RANSAC plane of ``points`` (N, 3) m: the plane through 3 random points with the most points
    within ``distance`` (tried ``iterations`` times, scored on a random subset of at most
    ``max_points``), refitted by least squares to all its inliers. Every random draw comes from
    ``rng``, so the result is reproducible (open3d's ``segment_plane`` draws from one global
    generator in parallel threads: a different plane from run to run). Returns ([a, b, c, d]
    with a unit normal, inlier indices); ([0, 0, 1, 0], []) when every triple is degenerate."""
    pts = np.asarray(points, dtype=np.float64)
    sub = pts if len(pts) <= max_points else pts[rng.choice(len(pts), max_points, replace=False)]
    tri = rng.integers(0, len(sub), size=(iterations, 3))
    a = sub[tri[:, 0]]
    nrm = np.cross(sub[tri[:, 1]] - a, sub[tri[:, 2]] - a)
    ln = np.linalg.norm(nrm, axis=1)
    ok = ln > 1e-12
    if not ok.any():
        return np.array([0.0, 0.0, 1.0, 0.0]), np.zeros(0, dtype=np.int64)
    nrm = nrm[ok] / ln[ok, None]
    off = -np.einsum("ij,ij->i", nrm, a[ok])
    counts = np.concatenate([(np.abs(sub @ nrm[i:i + 64].T + off[i:i + 64]) <= distance).sum(0)
                             for i in range(0, len(nrm), 64)])
    best = int(np.argmax(counts))                  # the first of the best: deterministic
    n, d = nrm[best], off[best]
    inl = np.flatnonzero(np.abs(pts @ n + d) <= distance)
    if len(inl) >= 3:                              # least-squares refit to the inliers, kept if no worse
        c = pts[inl].mean(0)
        n2 = np.linalg.svd(pts[inl] - c, full_matrices=False)[2][2]
        inl2 = np.flatnonzero(np.abs(pts @ n2 - n2 @ c) <= distance)
        if len(inl2) >= len(inl):
            n, d, inl = n2, -float(n2 @ c), inl2
    return np.array([n[0], n[1], n[2], d]), inl


def _o3d():
    import open3d as o3d  # heavy import (~0.5 s): only when a cloud is processed
    return o3d


def transform_points(points: np.ndarray, T: np.ndarray, normals: np.ndarray | None = None):
    """Apply a rigid (4, 4) transform: points (N, 3) -> R p + t; normals (N, 3) -> R n."""
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        raise ValueError(f"transform must be a finite (4, 4) matrix, got shape {T.shape}")
    R, t = T[:3, :3], T[:3, 3]
    p = points @ R.T + t
    return p, (None if normals is None else normals @ R.T)


def preprocess_cloud(points: np.ndarray, normals: np.ndarray | None = None, T_planning_cloud: np.ndarray | None = None,
                     config: PreprocessConfig | None = None,
                     rng: np.random.Generator | int | None = None) -> PreprocessResult:
    """Clean a cloud into the object's points in the planning frame (see the module doc).

    Args:
        points: (N, 3) m in the cloud's frame; may contain NaN/inf (dropped).
        normals: (N, 3) or None.
        T_planning_cloud: (4, 4) pose of the cloud's frame in the planning frame; None = identity.
        rng: the random generator of every random step (subsampling, RANSAC), or an int
            seed; None = seed 0. Same cloud, config and generator state -> same result.
    Raises CloudError with a clear message when the cloud cannot be used.
    """
    cfg = config or PreprocessConfig()
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(0 if rng is None else int(rng))
    steps: list[str] = []
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise CloudError(f"points must be (N, 3), got shape {pts.shape}")
    nrm = None if normals is None else np.asarray(normals, dtype=np.float64)
    if nrm is not None and nrm.shape != pts.shape:
        raise CloudError(f"normals must be (N, 3) like points {pts.shape}, got {nrm.shape}")
    n0 = len(pts)
    if n0 == 0:
        raise CloudError("empty cloud: 0 points")
    if n0 > cfg.max_input_points:
        raise CloudError(f"cloud has {n0} points, more than the hard cap max_input_points={cfg.max_input_points}; "
                         "crop or downsample it before sending")
    ok = np.isfinite(pts).all(axis=1)
    if nrm is not None:
        nrm = np.where(np.isfinite(nrm), nrm, 0.0)
    if not ok.all():
        n_ok = int(ok.sum())
        if n_ok < cfg.min_points:
            raise CloudError(f"cloud has only {n_ok} finite points of {n0} ({n0 - n_ok} NaN/inf); "
                             f"need >= {cfg.min_points}")
        pts = pts[ok]
        nrm = None if nrm is None else nrm[ok]
        steps.append(f"drop non-finite: {n0} -> {n_ok}")
    if len(pts) > cfg.downsample_above:
        sel = np.sort(rng.choice(len(pts), cfg.downsample_above, replace=False))
        steps.append(f"random subsample: {len(pts)} -> {cfg.downsample_above}")
        pts, nrm = pts[sel], (None if nrm is None else nrm[sel])
    if T_planning_cloud is not None:
        pts, nrm = transform_points(pts, T_planning_cloud, nrm)
    if cfg.crop_min is not None:
        lo, hi = np.asarray(cfg.crop_min), np.asarray(cfg.crop_max)
        keep = np.all((pts >= lo) & (pts <= hi), axis=1)
        steps.append(f"crop box {lo.tolist()}..{hi.tolist()}: {len(pts)} -> {int(keep.sum())}")
        if keep.sum() < cfg.min_points:
            raise CloudError(f"only {int(keep.sum())} of {len(pts)} points inside the crop box "
                             f"{lo.tolist()}..{hi.tolist()} m (planning frame); need >= {cfg.min_points}. "
                             "Is the object in view and the cloud's frame right?")
        pts, nrm = pts[keep], (None if nrm is None else nrm[keep])

    o3d = _o3d()
    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    if nrm is not None:
        pc.normals = o3d.utility.Vector3dVector(nrm)

    support = None
    if cfg.remove_plane and len(pts) >= 3:
        plane, inl = fit_plane(pts, cfg.plane_distance, cfg.plane_iterations, rng)
        a, b, c, d = (float(v) for v in np.asarray(plane).reshape(4))
        nz = np.array([a, b, c]) / (np.linalg.norm([a, b, c]) or 1.0)
        d = d / (np.linalg.norm([a, b, c]) or 1.0)
        if nz[2] < 0:
            nz, d = -nz, -d
        tilt = float(np.degrees(np.arccos(np.clip(nz[2], -1, 1))))
        frac = len(inl) / len(pts)
        sd = pts @ nz + d                       # signed height above the plane
        others = np.ones(len(pts), bool)
        others[np.asarray(inl, dtype=np.int64)] = False
        above = float(np.mean(sd[others] > cfg.plane_distance)) if others.any() else 0.0
        below = float(np.mean(sd < -cfg.plane_distance))   # of ALL points: a box's sides below its top face
        # a support: most points off it lie above it (an object on a table), or hardly any lie below it
        # (a bare or nearly bare table: its few noise points off the plane fall on both sides)
        support_like = above >= 0.5 or below < _MAX_BELOW_SUPPORT
        if tilt <= cfg.plane_max_tilt_deg and frac >= cfg.plane_min_inlier_fraction and support_like:
            keep = sd > cfg.plane_distance
            steps.append(f"support plane (tilt {tilt:.1f} deg, {frac:.0%} inliers): {len(pts)} -> {int(keep.sum())}")
            pc = pc.select_by_index(np.flatnonzero(keep).tolist())
            support = np.array([nz[0], nz[1], nz[2], d])
            if cfg.min_height > 0:
                n_high = int(np.sum(sd >= cfg.min_height))
                if n_high < cfg.min_points:
                    mm = f"{cfg.min_height * 1000:.0f} mm"
                    raise CloudError(
                        f"no object on the support plane: {int(np.sum(np.abs(sd) < cfg.min_height))} of the "
                        f"{len(pts)} points remain within {mm} of it and only {n_high} rise higher (need >= "
                        f"{cfg.min_points}; preprocess.min_height {mm}): is there an object on the table?")
        else:
            steps.append(f"support plane not removed (tilt {tilt:.1f} deg, {frac:.0%} inliers, {above:.0%} of the "
                         f"others above, {below:.0%} of all below)")
        if len(pc.points) < cfg.min_points:
            raise CloudError(f"only {len(pc.points)} points left after removing the support plane; need >= "
                             f"{cfg.min_points} (is there an object on the table? objects lower than "
                             f"plane_distance = {cfg.plane_distance * 1000:.0f} mm go with the plane)")
    if cfg.voxel_size > 0:
        n_before = len(pc.points)
        vs = cfg.voxel_size
        down = pc.voxel_down_sample(vs)
        while len(down.points) > cfg.max_cluster_points:
            vs *= 2.0
            down = pc.voxel_down_sample(vs)
        pc = down
        steps.append(f"voxel {vs:.4g} m: {n_before} -> {len(pc.points)}")
    if cfg.outlier_neighbors > 0 and len(pc.points) > cfg.outlier_neighbors:
        n_before = len(pc.points)
        pc, _ = pc.remove_statistical_outlier(nb_neighbors=cfg.outlier_neighbors, std_ratio=cfg.outlier_std_ratio)
        steps.append(f"statistical outliers: {n_before} -> {len(pc.points)}")
    if cfg.cluster_eps > 0 and len(pc.points) > 0:
        labels = np.asarray(pc.cluster_dbscan(eps=cfg.cluster_eps, min_points=cfg.cluster_min_points))
        valid = labels[labels >= 0]
        if valid.size == 0:
            raise CloudError(f"no cluster found among {len(labels)} points (DBSCAN eps {cfg.cluster_eps} m, "
                             f"min_points {cfg.cluster_min_points}): the cloud is too sparse or noisy")
        counts = np.bincount(valid)
        best = int(np.argmax(counts))
        steps.append(f"largest of {len(counts)} cluster(s): {len(labels)} -> {int(counts[best])}")
        pc = pc.select_by_index(np.flatnonzero(labels == best).tolist())

    out = np.asarray(pc.points, dtype=np.float64)
    out_n = np.asarray(pc.normals, dtype=np.float64) if (nrm is not None and pc.has_normals()) else None
    if len(out) and float(np.ptp(out, axis=0).max()) < cfg.min_extent:
        raise CloudError(f"object too small for the hand: largest extent {np.ptp(out, axis=0).max() * 1000:.1f} mm "
                         f"< min_extent {cfg.min_extent * 1000:.1f} mm ({len(out)} points after cleaning)")
    if len(out) < cfg.min_points:
        raise CloudError(f"only {len(out)} object points left after cleaning; need >= {cfg.min_points}")
    if len(out) > cfg.max_output_points:
        sel = np.sort(rng.choice(len(out), cfg.max_output_points, replace=False))
        steps.append(f"cap output: {len(out)} -> {cfg.max_output_points}")
        out, out_n = out[sel], (None if out_n is None else out_n[sel])
    if out_n is not None:
        ln = np.linalg.norm(out_n, axis=1, keepdims=True)
        out_n = np.where(ln > 1e-9, out_n / np.maximum(ln, 1e-12), 0.0)
    lo, hi = out.min(axis=0), out.max(axis=0)
    extent = hi - lo
    size = float(extent.max())
    if size < cfg.min_extent:
        raise CloudError(f"object too small for the hand: largest extent {size * 1000:.1f} mm < min_extent "
                         f"{cfg.min_extent * 1000:.1f} mm")
    if size > cfg.max_extent:
        raise CloudError(f"object too large for the hand: largest extent {size * 1000:.0f} mm > max_extent "
                         f"{cfg.max_extent * 1000:.0f} mm (extent {np.round(extent * 1000).astype(int).tolist()} mm)")
    if support is not None:
        check_on_plane(out, support, cfg)
    return PreprocessResult(points=out, normals=out_n, extent=extent, center=(lo + hi) / 2, steps=steps,
                            plane=support)


def check_on_plane(points: np.ndarray, plane: np.ndarray, config: PreprocessConfig | None = None) -> float:
    """The cleaned object ``points`` (N, 3) m must rise at least ``config.min_height`` above the
    support ``plane`` (4,) [a, b, c, d] (normal up): else CloudError "no object on the support
    plane" (what is left is the table's own noise or something flat on it). Returns the top's
    height above the plane (m). ``min_height`` 0 checks nothing."""
    cfg = config or PreprocessConfig()
    pl = np.asarray(plane, dtype=np.float64).reshape(4)
    nn = float(np.linalg.norm(pl[:3])) or 1.0
    h = np.asarray(points, dtype=np.float64).reshape(-1, 3) @ (pl[:3] / nn) + pl[3] / nn
    top = float(h.max()) if len(h) else float("-inf")
    if cfg.min_height > 0 and not top >= cfg.min_height:
        raise CloudError(f"no object on the support plane: the {len(h)} points left rise only {top * 1000:.1f} mm "
                         f"above it; all of them remain within {cfg.min_height * 1000:.0f} mm of it "
                         "(preprocess.min_height): is there an object on the table?")
    return top


def estimate_object_mesh(points: np.ndarray, scale: float = 1.0) -> trimesh.Trimesh:
    """Object model from a cleaned cloud: its convex hull, optionally scaled about its centroid.

    This is the object model the validator (and any mesh-based optimizer term) gets for a real
    object. From a single partial view the hull covers only the SEEN part of the object (the far
    side is cut flat along the silhouette), so grasps that wrap around the back are judged
    against a thinner object than the real one; ``scale`` slightly > 1 (e.g. 1.02) adds margin
    for sensor noise shrinking the hull. Fuse several views before calling this for a better model.

    Args:
        points: (N, 3) m, N >= 4 not all on a plane.
    Returns a watertight convex ``trimesh.Trimesh`` in the same frame as the points.
    Raises CloudError if the points do not span a volume.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) < 4:
        raise CloudError(f"estimate_object_mesh: need >= 4 finite points, got {len(pts)}")
    if not 0.5 <= scale <= 2.0:
        raise ValueError(f"estimate_object_mesh: scale must be in [0.5, 2], got {scale}")
    try:
        hull = trimesh.convex.convex_hull(pts)
    except Exception as e:  # scipy's QhullError for flat / degenerate input
        raise CloudError(f"estimate_object_mesh: the points do not span a volume (flat or degenerate cloud): "
                         f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    with np.errstate(all="ignore"):
        degenerate = not (hull.volume > 1e-12) or len(hull.faces) < 4
    if degenerate:
        raise CloudError("estimate_object_mesh: the points do not span a volume (flat or degenerate cloud)")
    if scale != 1.0:
        c = hull.centroid
        hull.apply_transform(trimesh.transformations.scale_matrix(scale, origin=c))
    return hull
