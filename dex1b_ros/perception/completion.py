"""Shape from one view: the planner's guess of a whole object from a single-view cloud.

A camera sees only the front of an object. The planner's optimizer and its MuJoCo check need the
whole object, so the view is completed into a set of points whose convex hull
(:func:`~dex1b_ros.perception.preprocess.estimate_object_mesh`) stands for the object. Every
function here works in one frame (the planning / object frame, metres, z up when a support plane
is given) on (N, 3) float64 arrays, with outward unit normals (N, 3).

Completions (``PrepareConfig.completion``), each measured against the true mesh on unseen objects
by ``dex1b bench completion`` (Chamfer distance, volume IoU; docs/ros.md):

* ``mirror``: the view mirrored behind itself about a plane facing the camera
  (:func:`complete_by_symmetry`). With a support plane: a vertical mirror plane halfway through
  the seen depth, mirrored points below the table dropped; seen from (nearly) straight above,
  the view dropped onto the table instead.
* ``side``: as ``mirror``, but the mirror plane is never in front of the seen silhouette (the
  median depth of side points whose normals are horizontal and across the view): for a cylinder
  or bottle seen from the side the silhouette is at its axis, while halfway through the seen
  depth is only half way there.
* ``revolve``: objects that are round about a vertical axis (cans, bottles, bowls, balls) are
  completed by turning the view about that axis (:func:`fit_vertical_axis`: where the horizontal
  normal lines meet), from any elevation; not round: ``side``.

Each may add the seen points dropped onto the table (``drop``): a standing object reaches the table
under what is seen of it.
"""
from __future__ import annotations

import numpy as np

COMPLETIONS = ("mirror", "side", "revolve")


def complete_by_symmetry(points: np.ndarray, normals: np.ndarray, view_dir: np.ndarray | None = None,
                         plane_at: str | float = "deepest") -> tuple[np.ndarray, np.ndarray]:
    """Complete a single-view cloud by mirroring it behind itself.

    A camera sees only the front of an object; everything behind it would look like solid
    "inside" to the optimizer and the validator. Assuming the object is roughly symmetric
    about a plane through its centroid facing the camera (true for boxes, cylinders, bottles
    seen from the side), the seen points are reflected through that plane. ``view_dir`` (3,)
    is the direction from the camera into the scene; default: minus the mean normal (normals of
    a single view face the camera). Returns points (2N, 3) and normals (2N, 3).

    ``plane_at``: where the mirror plane lies along ``view_dir``. ``"deepest"``: at the deepest
    seen point (along the true viewing direction the deepest seen points are the silhouette,
    i.e. the middle of a symmetric object). ``"middle"``: halfway between the nearest and the
    deepest seen point; right for a HORIZONTAL ``view_dir`` of an object seen from above (on a
    table), where the far edge of the seen top face is the object's back, not its middle
    (with "deepest" the completed object came out 2-2.6x too large, measured on 6 objects).
    A float: that depth (m) along ``view_dir`` from the points' centroid."""
    v = -normals.mean(0) if view_dir is None else np.asarray(view_dir, dtype=np.float64)
    v = v / np.linalg.norm(v)
    depth = (points - points.mean(0)) @ v
    if plane_at == "middle":
        c = points.mean(0) + v * 0.5 * float(depth.max() + depth.min())
    elif plane_at == "deepest":
        c = points.mean(0) + v * max(float(depth.max()), 0.0)
    elif isinstance(plane_at, (int, float)) and not isinstance(plane_at, bool):
        c = points.mean(0) + v * float(plane_at)
    else:
        raise ValueError(f"plane_at: expected 'deepest', 'middle' or a depth in m, got {plane_at!r}")
    d = (points - c) @ v
    mp = points - 2 * d[:, None] * v
    mn = normals - 2 * (normals @ v)[:, None] * v
    return np.concatenate([points, mp]), np.concatenate([normals, mn])


def _height(points: np.ndarray, plane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unit up (3,), height of each point above ``plane`` (N,) m)."""
    plane = np.asarray(plane, dtype=np.float64)
    k = float(np.linalg.norm(plane[:3]))
    return plane[:3] / k, points @ (plane[:3] / k) + plane[3] / k


def fit_vertical_axis(points: np.ndarray, normals: np.ndarray, up: np.ndarray,
                      max_miss: float = 0.1, min_inliers: float = 0.7) -> tuple[np.ndarray, np.ndarray] | None:
    """A vertical axis the view is round about (a surface of revolution: can, bottle, bowl, ball), or None.

    On such a surface every normal's horizontal part points at the axis (outer walls away from
    it, inner walls of a cup or bowl towards it), so the axis is where the horizontal normal lines
    meet: a weighted least-squares point (weight: |horizontal normal|^2), refit once on the lines
    that pass within ``max_miss`` x the median horizontal radius of it. Accepted when at least
    ``min_inliers`` of the points with a clear horizontal normal (> 0.5) are such inliers and the
    lines' directions span enough angle to pin the point (a box's faces give parallel lines).
    Returns (a point on the axis (3,) m, inlier mask (N,) bool)."""
    nh = normals - np.outer(normals @ up, up)
    w = (nh ** 2).sum(1)
    use = w > 0.25
    if use.sum() < 20:
        return None
    d = nh[use] / np.sqrt(w[use])[:, None]
    p = points[use] - np.outer(points[use] @ up, up)
    ww = w[use]
    inl = np.ones(len(p), bool)
    proj = np.eye(3)[None] - d[:, :, None] * d[:, None, :] - np.outer(up, up)[None]   # (M, 3, 3) onto the line's normal
    for _ in range(2):
        a = (ww[inl, None, None] * proj[inl]).sum(0)
        b = (ww[inl, None] * np.einsum("nij,nj->ni", proj[inl], p[inl])).sum(0)
        evals = np.linalg.eigvalsh(a / ww[inl].sum())
        if evals[1] < 0.15:   # the horizontal directions barely turn: no point is pinned
            return None
        c = np.linalg.lstsq(a + np.outer(up, up), b, rcond=None)[0]
        c = c - (c @ up) * up
        miss = np.linalg.norm(np.einsum("nij,nj->ni", proj, c - p), axis=1)
        radius = float(np.median(np.linalg.norm(p - c, axis=1)))
        inl = miss < max_miss * max(radius, 1e-3)
        if inl.sum() < 20:
            return None
    if inl.mean() < min_inliers:
        return None
    mask = np.zeros(len(points), bool)
    mask[np.flatnonzero(use)[inl]] = True
    return c, mask


def _mirror_below(rel: np.ndarray, up: np.ndarray, c: np.ndarray, plane: np.ndarray) -> np.ndarray:
    """The points ``rel`` (n, 3, relative to the axis point ``c``) above the height of their widest
    circle (the median height of those within 2 % of the largest radius) mirrored about that height,
    kept where they stay above the table ``plane``; (m, 3), relative to ``c``."""
    a = rel @ up
    r = np.linalg.norm(rel - np.outer(a, up), axis=1)
    z0 = float(np.median(a[r >= 0.98 * r.max()]))
    upper = rel[a > z0]
    low = upper - np.outer(2.0 * (upper @ up - z0), up)
    _, hl = _height(low + c, plane)
    return low[hl > 0]


def complete_view(points: np.ndarray, normals: np.ndarray, support_plane: np.ndarray | None = None,
                  method: str = "mirror", drop: bool = False, fill_below: float = 0.0) -> np.ndarray:
    """The completed single view: points (M, 3) m whose convex hull is the planner's guess of the
    object (the module docstring lists the ``method`` s). ``points`` (N, 3) m with outward unit
    ``normals`` (N, 3), one camera's view; ``support_plane`` (4,) [a, b, c, d] (normal up) or None.
    The seen points come first, unchanged; no completed point lies below the table. ``drop``: also
    the seen points dropped onto the table (with a support plane only). ``fill_below`` (m, 0 = off):
    for a round view (``revolve``) whose lowest point floats more than this above the table (a ball,
    an egg, a capsule lying down: the camera never sees the under side), the round surface's upper
    part also mirrored about the height of its widest circle, down to the table, then turned."""
    if method not in COMPLETIONS:
        raise ValueError(f"completion: expected one of {', '.join(COMPLETIONS)}, got {method!r}")
    pts = np.asarray(points, dtype=np.float64)
    nrm = np.asarray(normals, dtype=np.float64)
    view = -nrm.mean(0)
    if support_plane is None:
        return complete_by_symmetry(pts, nrm, view)[0]
    up, h = _height(pts, support_plane)
    horizontal = view - (view @ up) * up
    out = None
    if method == "revolve":   # from any elevation, when the view is round
        axis = fit_vertical_axis(pts, nrm, up)
        if axis is not None:   # turn the points on the round surface about the axis; the rest stay as seen
            c, inl = axis
            rel = pts[inl] - c
            if fill_below > 0 and float(h.min()) > fill_below:
                rel = np.concatenate([rel, _mirror_below(rel, up, c, support_plane)])
            along = np.outer(rel @ up, up)
            radial = rel - along
            tang = np.cross(up, radial)
            t = np.linspace(0, 2 * np.pi, 12, endpoint=False)[1:, None, None]      # 11 turns of 30 deg
            turned = c + along + np.cos(t) * radial + np.sin(t) * tang            # (11, n, 3)
            out = np.concatenate([pts, turned.reshape(-1, 3)])
    if out is None and np.linalg.norm(horizontal) <= 0.2 * np.linalg.norm(view):
        # seen from (nearly) straight above: the object stands on the table below the view
        return np.concatenate([pts, pts - (h - 1e-3)[:, None] * up])
    if out is None:   # mirror about a plane perpendicular to the table
        plane_at: str | float = "middle"
        if method in ("side", "revolve"):
            v = horizontal / np.linalg.norm(horizontal)
            depth = (pts - pts.mean(0)) @ v
            # silhouette side points: normal near horizontal AND across the view (not facing the camera,
            # as the inner far wall of a cup does)
            side = (np.abs(nrm @ up) < 0.5) & (np.abs(nrm @ v) < 0.4)
            mid = 0.5 * float(depth.max() + depth.min())
            plane_at = max(mid, float(np.median(depth[side]))) if side.sum() >= 10 else mid
        out = complete_by_symmetry(pts, nrm, horizontal, plane_at=plane_at)[0]
    _, ho = _height(out, support_plane)
    out = out[(np.arange(len(out)) < len(pts)) | (ho > 0)]
    if drop:
        out = np.concatenate([out, pts - (h - 1e-3)[:, None] * up])
    return out


def completion_error(true_mesh, guess_mesh, n_surface: int = 4000, n_volume: int = 40000,
                     seed: int = 0) -> dict[str, float]:
    """How far ``guess_mesh`` (a convex mesh, e.g. the completed view's hull, or a list of convex
    parts, e.g. :func:`column_parts`: their union) is from ``true_mesh`` (any closed mesh, several
    shells allowed), both in the same frame (m):

    * ``chamfer_mm``: symmetric Chamfer distance, the mean of ``acc_mm`` and ``cov_mm``;
      ``acc_mm``: mean distance from the guess's surface to the true surface (material the guess
      invents), ``cov_mm``: from the true surface to the guess's (what it misses); ``n_surface``
      area-uniform samples per surface.
    * ``iou``: volume IoU, ``n_volume`` uniform samples in the union's bounding box; the true
      object's inside by the generalised winding number, the guess's by its face planes.
    * ``vol_ratio``: guess volume / true volume (same samples)."""
    import trimesh
    from scipy.spatial import cKDTree

    from ..geometry.sdf import winding_number
    from ..objects.mesh import as_trimesh

    tm = as_trimesh(true_mesh)
    parts = list(guess_mesh) if isinstance(guess_mesh, (list, tuple)) else [as_trimesh(guess_mesh)]
    rng = np.random.default_rng(seed)
    pt, _ = trimesh.sample.sample_surface(tm, n_surface, seed=int(rng.integers(2 ** 31)))
    if len(parts) == 1:
        pg, _ = trimesh.sample.sample_surface(parts[0], n_surface, seed=int(rng.integers(2 ** 31)))
    else:
        pg, _ = union_surface(parts, n_surface, seed=int(rng.integers(2 ** 31)), dense=4 * n_surface)
    acc = cKDTree(pt).query(pg)[0].mean()
    cov = cKDTree(pg).query(pt)[0].mean()
    lo = np.minimum(tm.bounds[0], np.min([g.bounds[0] for g in parts], 0))
    hi = np.maximum(tm.bounds[1], np.max([g.bounds[1] for g in parts], 0))
    q = rng.uniform(lo, hi, size=(n_volume, 3))
    in_true = winding_number(tm, q) > 0.5
    in_guess = _inside_any(q, parts, tol=0.0)
    union = (in_true | in_guess).sum()
    return {"chamfer_mm": 500.0 * (acc + cov), "acc_mm": 1000.0 * acc, "cov_mm": 1000.0 * cov,
            "iou": float((in_true & in_guess).sum() / max(union, 1)),
            "vol_ratio": float(in_guess.sum() / max(in_true.sum(), 1))}


def view_direction(normals: np.ndarray, method: str = "mean", iters: int = 60, frac: float = 0.1,
                   step: float = 0.2) -> np.ndarray:
    """Unit direction (3,) from the camera into the scene, from a single view's outward ``normals``
    (N, 3) (they all face the camera; orthographic guess). ``mean``: minus their mean (one large face
    facing the camera dominates it: on 52 validation objects x 3 views rendered as ``dex1b eval``
    does, median 23 deg, p90 40 deg off the true direction; ``scripts/view_direction_study.py``).
    ``cap``: minus the centre of the narrowest cap that holds them: from the mean, ``iters`` times a
    ``step`` toward the mean of the ``frac`` least aligned normals (same views: median 8 deg, p90 27)."""
    n = np.asarray(normals, dtype=np.float64)
    n = n / np.linalg.norm(n, axis=1, keepdims=True)
    u = n.mean(0)
    u /= np.linalg.norm(u)
    if method == "cap":
        k = max(1, int(frac * len(n)))
        for _ in range(iters):
            low = np.argpartition(n @ u, min(k, len(n) - 1))[:k]
            u = u + step * n[low].mean(0)
            u /= np.linalg.norm(u)
    elif method != "mean":
        raise ValueError(f"view_direction: method must be mean or cap, got {method!r}")
    return -u


def carve_by_view(points: np.ndarray, n_seen: int, view: np.ndarray, radius: float = 0.01,
                  tol: float = 0.003) -> np.ndarray:
    """Keep the completed points the camera could not have seen: bool (M,) for ``points`` (M, 3) m
    whose first ``n_seen`` are the view itself (always kept) and the rest a guess of the unseen
    back (:func:`complete_view`). Looking along ``view`` (3,) (camera to object; orthographic, which
    is close for a camera ~0.5 m from a hand-sized object), a guessed point is kept only when a seen
    point lies within ``radius`` m of its line of sight and in front of it (depth at least that seen
    point's minus ``tol`` m): a guessed point with nothing seen along its line of sight would have been
    seen (the camera saw past it: the mirrored copy of an L filling its open corner), one in front of
    the seen surface too. The planner passes ``PrepareConfig.carve_radius`` (same default)."""
    from ..geometry.pointcloud import seen_through

    pts = np.asarray(points, dtype=np.float64)
    keep = np.ones(len(pts), bool)
    if n_seen >= len(pts) or n_seen == 0:
        return keep
    keep[n_seen:] = ~seen_through(pts[n_seen:], pts[:n_seen], view, radius, tol)
    return keep


def convex_hull_mesh(points: np.ndarray):
    """Convex hull of ``points`` (K, 3) as a ``trimesh.Trimesh`` with outward faces, built from
    scipy's qhull directly (about 3x faster than ``trimesh.convex.convex_hull``, which also repairs
    and caches what a hull never needs: :func:`column_parts` builds dozens per plan). Raises
    scipy's QhullError when the points span no volume."""
    import trimesh
    from scipy.spatial import ConvexHull

    h = ConvexHull(points)
    used = np.unique(h.simplices)
    remap = np.full(len(points), -1)
    remap[used] = np.arange(len(used))
    faces = remap[h.simplices]
    verts = np.asarray(points, dtype=np.float64)[used]
    n = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    flip = np.einsum("ij,ij->i", n, h.equations[:, :3]) < 0
    faces[flip] = faces[flip][:, ::-1]
    return trimesh.Trimesh(verts, faces, process=False)


def _planes(mesh) -> tuple[np.ndarray, np.ndarray]:
    """Face planes of a convex mesh: unit outward normals (F, 3) and offsets (F,): inside <=> n.x <= off."""
    fn = np.asarray(mesh.face_normals)
    return fn, np.einsum("ij,ij->i", fn, np.asarray(mesh.vertices)[np.asarray(mesh.faces)[:, 0]])


def _inside_any(q: np.ndarray, parts: list, skip: np.ndarray | None = None, tol: float = 1e-9) -> np.ndarray:
    """bool (Q,): ``q`` (Q, 3) inside (within ``tol`` m) some convex part; ``skip`` (Q,) int: the part
    each point must not be tested against (its own), or None. A point is tested against the planes of
    the parts whose bounding box holds it (one batched box test first)."""
    box = np.stack([p.bounds for p in parts])                                    # (P, 2, 3)
    near = ((q[:, None] >= box[None, :, 0] - tol) & (q[:, None] <= box[None, :, 1] + tol)).all(2)   # (Q, P)
    if skip is not None:
        near[np.arange(len(q)), skip] = False
    out = np.zeros(len(q), bool)
    for i in np.flatnonzero(near.any(0)):
        m = near[:, i] & ~out
        if m.any():
            fn, off = _planes(parts[i])
            out[np.flatnonzero(m)] = (q[m] @ fn.T - off <= tol).all(1)
    return out


def column_parts(points: np.ndarray, support_plane: np.ndarray, cell: float = 0.015,
                 max_cells: int = 8, overlap: float = 0.25, max_points: int = 16, max_input: int = 4096) -> list:
    """A non-convex guess of an object standing on a table: the completed view as columns.

    ``points`` (N, 3) m (a completed view, :func:`complete_view`), ``support_plane`` (4,) [a, b, c, d]
    (normal up). The table plane is cut into square cells of side ``max(cell, footprint / max_cells)``
    m; each cell that holds points becomes one convex part: the hull of its points (and those within
    ``overlap`` x the side around it, so that neighbours overlap and leave no seams) and the same
    points dropped onto the table. The union is the object as a height field over the table: what is
    seen from above reaches down to the table, and concavities in the footprint (an L, a banana, the
    gap between a tool's head and handle) or seen from above (a cup's inside) stay open, where the
    convex hull fills them. Overhangs (a mug's handle) are filled down to the table.

    At most ``max_input`` of the points are used (a seeded random subset; a revolved view has 12x
    the view's points). A cell with more than ``max_points`` points keeps that many (the highest and the outermost in
    the table plane first): each part has at most 2 x ``max_points`` vertices, which is what a MuJoCo
    check of dozens of parts costs.

    Returns the parts (list of convex ``trimesh.Trimesh``, object frame), cell order; cells whose
    points span no volume are left out (their neighbours cover them)."""
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) > max_input:
        pts = pts[np.sort(np.random.default_rng(0).choice(len(pts), max_input, replace=False))]
    up, h = _height(pts, support_plane)
    e1 = np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 1.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(up, e1)
    xy = np.stack([pts @ e1, pts @ e2], 1)
    lo = xy.min(0)
    side = max(cell, float((xy.max(0) - lo).max()) / max_cells)
    m = overlap * side
    # each point joins every cell within m of it: up to 2 cells per axis
    ij = [np.floor((xy - lo + s) / side).astype(np.int64) for s in (-m, m)]
    ny = int(max(ij[0][:, 1].max(), ij[1][:, 1].max())) + 2     # cell (i, j) -> (i + 1) * ny + j + 1, j + 1 < ny
    n = len(pts)
    key = np.unique(np.concatenate([((ij[a][:, 0] + 1) * ny + ij[b][:, 1] + 1) * n + np.arange(n)
                                    for a in (0, 1) for b in (0, 1)]))          # (cell, point), sorted by cell
    pairs = np.stack([key % n, key // n], 1)
    _, start = np.unique(pairs[:, 1], return_index=True)
    dropped = pts - h[:, None] * up
    parts = []
    for idx in np.split(pairs[:, 0], start[1:]):
        if len(idx) < 2:
            continue
        if len(idx) > max_points:       # the highest, then the farthest out along 6 directions in the plane
            c = xy[idx].mean(0)
            ang = np.linspace(0, np.pi, 3, endpoint=False)
            dirs = np.stack([np.cos(ang), np.sin(ang)], 1)
            proj = (xy[idx] - c) @ dirs.T                               # (k, 3)
            pick = [int(np.argmax(h[idx]))]
            pick += list(np.argmax(proj, 0)) + list(np.argmin(proj, 0))
            rest = np.setdiff1d(np.arange(len(idx)), pick)
            hi = rest[np.argsort(-h[idx][rest], kind="stable")][:max(max_points - len(set(pick)), 0)]
            idx = idx[np.unique(np.concatenate([np.asarray(pick), hi]))]
        try:
            hull = convex_hull_mesh(np.concatenate([pts[idx], dropped[idx]]))
        except Exception:  # noqa: BLE001 - qhull: the cell's points span no volume
            continue
        with np.errstate(all="ignore"):
            ok = hull.volume > 1e-9
        if ok:
            parts.append(hull)
    return parts


def parts_volume_fraction(parts: list, hull, n: int = 2000, seed: int = 0) -> float:
    """Volume of the union of convex ``parts`` / volume of the convex mesh ``hull`` (both closed,
    outward faces, same frame), by ``n`` uniform samples in the bounding box of both (a Monte Carlo
    estimate, +-~0.03 at n = 2000)."""
    if not parts:
        return 0.0
    lo = np.minimum(hull.bounds[0], np.min([p.bounds[0] for p in parts], 0))
    hi = np.maximum(hull.bounds[1], np.max([p.bounds[1] for p in parts], 0))
    q = np.random.default_rng(seed).uniform(lo, hi, size=(n, 3))
    return float(_inside_any(q, parts).sum() / max(_inside_any(q, [hull]).sum(), 1))


def union_surface(parts: list, n: int | None = 1024, seed: int = 0, dense: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Points (n, 3) m and outward unit normals (n, 3) on the surface of the union of convex
    ``parts``: ``dense`` area-weighted samples of every part's faces (``trimesh.sample`` on the parts
    together), those inside another part dropped (the seams between overlapping columns are not
    surface), thinned to ``n`` by farthest point sampling (``n=None``: all that are left)."""
    import trimesh

    from ..geometry.pointcloud import _fps

    rng = np.random.default_rng(seed)
    both = trimesh.util.concatenate(parts)
    owner = np.repeat(np.arange(len(parts)), [len(p.faces) for p in parts])      # face -> part
    pts, f = trimesh.sample.sample_surface(both, dense, seed=int(rng.integers(2 ** 31)))
    nrm = np.asarray(both.face_normals)[f]
    keep = ~_inside_any(pts - 1e-4 * nrm, parts, skip=owner[f], tol=-1e-4)        # strictly inside another
    pts, nrm = pts[keep], nrm[keep]
    if n is not None and len(pts) > n:
        sel = _fps(pts, n, rng)
        pts, nrm = pts[sel], nrm[sel]
    return pts, nrm
