"""Signed distances to objects: exact (mesh), grid (fast, differentiable) and point-sphere.

SIGN CONVENTION (everywhere in dex1b_ros): **negative inside the object, positive outside,
zero on the surface**; meters; object frame. Gradients therefore point *outward*
(direction of increasing distance), e.g. ``p - sdf * grad`` projects to the surface.
"""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from ..objects.mesh import MeshLike, as_trimesh
from .pointcloud import raycast_scene

# ----------------------------------------------------------------------------- exact


def winding_number(mesh: MeshLike, points) -> np.ndarray:
    """Generalised winding number of ``points`` (..., 3) w.r.t. the closed ``mesh``; shape (...).

    ~1 inside a closed, outward-wound shell, ~0 outside, ~k inside k overlapping shells, 0.5
    on the surface. Computed by libigl's fast winding number (a Barnes-Hut approximation of
    the sum of the triangles' solid angles / 4 pi; error ~5e-3 in our checks, far from the
    0.5 threshold used for containment). ~1M pts/s for a 16k-face mesh.
    """
    import igl

    tm = as_trimesh(mesh)
    pts = np.asarray(points, dtype=np.float64)
    flat = np.ascontiguousarray(pts.reshape(-1, 3))
    if len(flat) == 0:
        return np.zeros(pts.shape[:-1])
    w = igl.fast_winding_number(np.ascontiguousarray(tm.vertices, dtype=np.float64),
                                np.ascontiguousarray(tm.faces, dtype=np.int64), flat)
    return np.asarray(w, dtype=np.float64).reshape(pts.shape[:-1])


def exact_signed_distance(mesh: MeshLike, points, backend: str = "auto", single_shell: bool = False) -> np.ndarray:
    """Exact signed distance from ``points`` (..., 3) to the closed ``mesh``; shape (...).

    Negative inside, positive outside, meters, object frame. The magnitude is the distance
    to the closest point on the triangles; the sign comes from the **generalised winding
    number** (:func:`winding_number` > 0.5 = inside), so it is right on any closed mesh:
    one shell, or several overlapping shells (CAD assemblies, objects made of parts,
    convex-decomposition outputs), where ray parity is wrong (inside two shells the parity
    is even; measured: 0.7-2 % of points around such meshes signed wrong, some cm deep).

    Backends for the magnitude: ``"open3d"`` (Embree closest point; ~250k pts/s for a
    16k-face mesh, float32 internally: ~1e-7 m rounding), ``"trimesh"`` (rtree closest point
    in float64; ~1k pts/s, for cross-checks only; its closest-point search occasionally
    returns a near-tie neighbour face, seen 12 um off), ``"auto"`` = open3d if importable.

    ``single_shell=True``: the caller guarantees ONE closed shell (e.g. a convex hull): ray
    parity is then exact, and open3d computes distance and sign in one pass (3 rays per point,
    majority vote against edge hits): ~4x faster than the winding number for the node's
    per-plan hull field (0.09 vs 0.40 s for 70k points on a 482-face hull; signs identical).
    Never use it for meshes that may hold several shells.
    """
    tm = as_trimesh(mesh)
    pts = np.asarray(points, dtype=np.float64)
    shape = pts.shape[:-1]
    flat = pts.reshape(-1, 3)
    scene = raycast_scene(tm) if backend in ("auto", "open3d") else None
    if backend == "open3d" and scene is None:
        raise RuntimeError("exact_signed_distance: open3d backend requested but not importable")
    if scene is not None:
        import open3d as o3d

        q = o3d.core.Tensor(np.ascontiguousarray(flat, dtype=np.float32))
        if single_shell:
            return scene.compute_signed_distance(q, nsamples=3).numpy().astype(np.float64).reshape(shape)
        dist = scene.compute_distance(q).numpy().astype(np.float64)
    elif backend in ("auto", "trimesh"):
        import trimesh

        _, dist, _ = trimesh.proximity.closest_point(tm, flat)
    else:
        raise ValueError(f"unknown backend {backend!r}; use 'auto', 'open3d' or 'trimesh'")
    inside = winding_number(tm, flat) > 0.5
    return np.where(inside, -dist, dist).reshape(shape)


# ----------------------------------------------------------------------------- grid


class SDFGrid:
    """A dense signed-distance grid with trilinear, differentiable queries.

    The grid covers the mesh bounding box grown by ``padding`` m on every side, with
    **isotropic** voxels: the longest axis gets ``resolution`` samples, the others as many
    as needed at the same spacing (so a 64^3 grid of a banana is 64 x 35 x 21 samples).
    Node values are exact signed distances (:func:`exact_signed_distance`). Stored as a
    float32 tensor ``values`` of shape (1, 1, Nz, Ny, Nx) (``grid_sample`` layout), with a
    3-channel central-difference gradient volume beside it.

    Sign: negative inside, positive outside, meters, object frame.
    """

    def __init__(self, values: torch.Tensor, lo: torch.Tensor, spacing: float,
                 build_seconds: float = 0.0):
        self.values = values                    # (1, 1, Nz, Ny, Nx)
        self.lo = lo                            # (3,) xyz of node [0, 0, 0]
        self.spacing = float(spacing)
        n = torch.tensor(values.shape[:1:-1], dtype=values.dtype, device=values.device)  # (Nx,Ny,Nz)
        self.hi = lo + (n - 1) * self.spacing   # (3,) xyz of the last node
        gz, gy, gx = torch.gradient(values[0, 0], spacing=self.spacing)
        self.grad_values = torch.stack([gx, gy, gz])[None]  # (1, 3, Nz, Ny, Nx)
        self.build_seconds = build_seconds

    def node_points(self) -> np.ndarray:
        """(Nz * Ny * Nx, 3) float64 xyz of every node, in the order of ``values`` flattened (x fastest)."""
        nz, ny, nx = self.values.shape[2:]
        lo = self.lo.detach().cpu().double().numpy()
        axes = [lo[i] + self.spacing * np.arange(n) for i, n in enumerate((nx, ny, nz))]
        zz, yy, xx = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
        return np.stack([xx, yy, zz], -1).reshape(-1, 3)

    @classmethod
    def from_mesh(cls, mesh: MeshLike, resolution: int = 64, padding: float = 0.02,
                  device: torch.device | str = "cpu", chunk: int = 1 << 18, single_shell: bool = False) -> "SDFGrid":
        """Build from a watertight mesh (exact distances at every node; ``build_seconds``
        records the wall time). ``resolution`` = samples along the longest padded axis.
        ``single_shell``: see :func:`exact_signed_distance` (only for one closed shell, e.g. a hull)."""
        t0 = time.perf_counter()
        tm = as_trimesh(mesh)
        lo = tm.bounds[0] - padding
        ext = tm.extents + 2 * padding
        h = float(ext.max()) / (resolution - 1)
        n = np.maximum(np.ceil(ext / h - 1e-9).astype(int) + 1, 2)  # (Nx, Ny, Nz)
        axes = [lo[i] + h * np.arange(n[i]) for i in range(3)]
        zz, yy, xx = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
        pts = np.stack([xx, yy, zz], axis=-1).reshape(-1, 3)
        d = np.concatenate([exact_signed_distance(tm, pts[i:i + chunk], single_shell=single_shell)
                            for i in range(0, len(pts), chunk)])
        vals = torch.as_tensor(d.reshape(n[2], n[1], n[0]), dtype=torch.float32)[None, None]
        grid = cls(vals, torch.as_tensor(lo, dtype=torch.float32), h)
        grid.build_seconds = time.perf_counter() - t0
        return grid.to(device)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(Nx, Ny, Nz) node counts."""
        return tuple(self.values.shape[:1:-1])

    @property
    def device(self) -> torch.device:
        return self.values.device

    def to(self, device) -> "SDFGrid":
        """A copy on ``device`` (or self if already there)."""
        device = torch.device(device)
        if device == self.values.device:
            return self
        g = SDFGrid.__new__(SDFGrid)
        g.values, g.lo, g.hi = self.values.to(device), self.lo.to(device), self.hi.to(device)
        g.grad_values, g.spacing = self.grad_values.to(device), self.spacing
        g.build_seconds = self.build_seconds
        return g

    def query(self, points: torch.Tensor, with_grad: bool = True):
        """Signed distance (and gradient) at ``points`` (..., 3), object frame, meters.

        Returns ``(sdf (...), grad (..., 3))`` (grad is ``None`` if ``with_grad=False``).

        * ``sdf`` is trilinear in the grid (``grid_sample``) and differentiable w.r.t.
          ``points`` by autograd.
        * ``grad`` is the trilinearly interpolated central-difference gradient: smooth,
          equal to d(sdf)/d(points) up to O(spacing), not itself differentiable.
        * Outside the grid box the point is clamped to the box and the Euclidean distance
          from the point to the box is added: values keep growing (slope 1) and gradients
          point away from the box.
        """
        shape = points.shape[:-1]
        p = points.reshape(-1, 3).to(self.values.dtype)
        pc = torch.minimum(torch.maximum(p, self.lo), self.hi)
        out = p - pc
        out_d = torch.sqrt((out * out).sum(-1) + 1e-20) - 1e-10  # smooth at 0, ~0 inside
        g = (2 * (pc - self.lo) / (self.hi - self.lo) - 1).view(1, -1, 1, 1, 3)
        s = F.grid_sample(self.values, g, mode="bilinear", padding_mode="border",
                          align_corners=True).view(-1)
        sdf = (s + out_d).view(shape)
        if not with_grad:
            return sdf, None
        with torch.no_grad():
            gr = F.grid_sample(self.grad_values, g, mode="bilinear", padding_mode="border",
                               align_corners=True).view(3, -1).T
            outside = out != 0
            gr = torch.where(outside, torch.zeros_like(gr), gr) + out / out_d.clamp_min(1e-12)[:, None]
        return sdf, gr.reshape(*shape, 3)

    __call__ = query


# ----------------------------------------------------------------------------- point-sphere


def point_sphere_distance(centers: torch.Tensor, radii: torch.Tensor, cloud: torch.Tensor,
                          max_elems: int = 1 << 24) -> torch.Tensor:
    """Signed distance of spheres to a bare point cloud (Dex1B's point-sphere SDF).

    ``d[b, s] = min_p ||centers[b, s] - cloud[b, p]|| - radii[b, s]``: negative when the
    sphere swallows a cloud point (penetration), positive when clear of the cloud. Meters,
    object frame.

    Args:
        centers: (B, S, 3) sphere centres.
        radii: (S,) or (B, S) radii.
        cloud: (P, 3) shared cloud or (B, P, 3) one per batch element.
        max_elems: cap on B_chunk * S * P pairwise distances held at once (memory bound).

    Returns (B, S), differentiable w.r.t. ``centers`` (and ``radii``, ``cloud``): the
    nearest point is found without autograd, then its exact distance is recomputed, so the
    backward pass costs O(B*S) memory.
    """
    B, S, _ = centers.shape
    shared = cloud.dim() == 2
    P = cloud.shape[-2]
    step = max(1, max_elems // max(1, S * P))
    idx = []
    with torch.no_grad():
        for i in range(0, B, step):
            c = centers[i:i + step].detach()
            q = cloud.detach() if shared else cloud[i:i + step].detach()
            if shared:
                q = q.unsqueeze(0).expand(c.shape[0], -1, -1)
            idx.append(torch.cdist(c, q).argmin(dim=-1))  # (b, S)
    idx = torch.cat(idx)
    nearest = cloud[idx] if shared else torch.gather(cloud, 1, idx.unsqueeze(-1).expand(-1, -1, 3))
    diff = centers - nearest
    dist = torch.sqrt((diff * diff).sum(-1) + 1e-18)
    return dist - (radii if radii.dim() == 2 else radii.unsqueeze(0))
