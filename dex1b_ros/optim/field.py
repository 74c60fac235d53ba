"""The object as the optimizer sees it: a differentiable signed-distance field.

``ObjectField`` wraps an :class:`~dex1b_ros.geometry.sdf.SDFGrid` (negative inside,
positive outside, metres, object frame) together with surface samples (points + outward
normals) used to initialise hands and to measure the object. Two ways to build one:

* from a mesh (:meth:`ObjectField.from_mesh`): exact distances at the grid nodes;
* from a bare point cloud, e.g. one camera view (:meth:`ObjectField.from_cloud`): at each
  node the distance to the nearest cloud point, signed by that point's normal. Behind a
  partial view the sign follows the nearest seen surface, which is what a planner can know.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree

from ..geometry.pointcloud import sample_surface, seen_through
from ..geometry.sdf import SDFGrid


@dataclass
class ObjectField:
    grid: SDFGrid
    points: torch.Tensor    # (P, 3) m surface samples, object frame
    normals: torch.Tensor   # (P, 3) outward unit normals
    name: str = "object"
    plane: torch.Tensor | None = None  # (4,) [n, d] support plane (unit n up, n.x + d = height), or None

    @property
    def device(self) -> torch.device:
        return self.points.device

    @property
    def center(self) -> torch.Tensor:
        """(3,) m centroid of the surface samples."""
        return self.points.mean(0)

    @property
    def radius(self) -> float:
        """Mean distance (m) of the surface samples from the centre: the object's size."""
        return float((self.points - self.center).norm(dim=-1).mean())

    def sdf(self, p: torch.Tensor) -> torch.Tensor:
        """Signed distance (...,) m at points p (..., 3), differentiable w.r.t. p."""
        return self.grid.query(p, with_grad=False)[0]

    def sdf_and_normal(self, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Signed distance (...,) and the outward unit normal (..., 3) (not differentiable)."""
        d, g = self.grid.query(p, with_grad=True)
        return d, g / g.norm(dim=-1, keepdim=True).clamp_min(1e-9)

    def to(self, device) -> "ObjectField":
        plane = None if self.plane is None else self.plane.to(device)
        return ObjectField(self.grid.to(device), self.points.to(device), self.normals.to(device), self.name, plane)

    def carved(self, seen: np.ndarray, view: np.ndarray, radius: float = 0.01, tol: float = 0.003) -> "ObjectField":
        """A copy in which the space a camera saw through is outside the object.

        ``seen`` (S, 3) m: the camera's points; ``view`` (3,): the viewing direction (camera to
        object; orthographic, as :func:`~dex1b_ros.perception.completion.carve_by_view`). A grid node
        is *seen free* when no seen point lies within ``radius`` m of its line of sight (the camera saw
        past it) or when it lies in front of the seen surface along it (depth below the nearest seen
        depth minus ``tol`` m). Such nodes get max(sdf, distance to the nearest seen point): a convex
        hull of a completed view (a cup's, a mug's) fills its openings, and its SDF pushes fingers out
        of them onto the hull, where the true object is not. Surface samples in seen-free space (the
        hull's lid over an opening) are dropped (all kept if fewer than 16 would remain).
        Shapes: grid unchanged; ``points``/``normals`` (P', 3)."""
        seen = np.asarray(seen, dtype=np.float64)
        g = self.grid
        nodes = g.node_points()
        out = g.values.detach().cpu().double().numpy().reshape(-1).copy()
        free = seen_through(nodes, seen, view, radius, tol)
        if free.any():
            out[free] = np.maximum(out[free], cKDTree(seen).query(nodes[free])[0])
        grid = SDFGrid(torch.as_tensor(out.reshape(g.values.shape), dtype=g.values.dtype, device=g.values.device),
                       g.lo, g.spacing, g.build_seconds)
        keep = torch.as_tensor(~seen_through(self.points.detach().cpu().double().numpy(), seen, view, radius, tol),
                               device=self.points.device)
        pts, nrm = (self.points[keep], self.normals[keep]) if int(keep.sum()) >= 16 else (self.points, self.normals)
        return ObjectField(grid, pts, nrm, self.name, self.plane)

    def with_plane(self, plane) -> "ObjectField":
        """A copy that also knows the support plane (4,) [a, b, c, d] (unit normal up)."""
        pl = torch.as_tensor(np.asarray(plane, dtype=np.float64), dtype=torch.float32, device=self.device)
        n = pl[:3].norm()
        return ObjectField(self.grid, self.points, self.normals, self.name, pl / n)

    def height(self, p: torch.Tensor) -> torch.Tensor:
        """Height (...,) m of points p (..., 3) above the support plane (+inf without one)."""
        if self.plane is None:
            return torch.full(p.shape[:-1], float("inf"), dtype=p.dtype, device=p.device)
        return p @ self.plane[:3].to(p.dtype) + self.plane[3].to(p.dtype)

    @classmethod
    def from_mesh(cls, mesh, resolution: int = 64, n_points: int = 2048, seed: int = 0, device="cpu",
                  name: str = "object", single_shell: bool = False) -> "ObjectField":
        """Exact SDF grid of the closed ``mesh`` + ``n_points`` farthest-point surface samples.
        ``single_shell``: the mesh is one closed shell (e.g. a convex hull): faster sign (see
        :func:`~dex1b_ros.geometry.sdf.exact_signed_distance`)."""
        grid = SDFGrid.from_mesh(mesh, resolution=resolution, padding=0.04, single_shell=single_shell)
        p, n = sample_surface(mesh, n_points, seed=seed, fps=True)
        return cls(grid.to(device), torch.as_tensor(p, device=device), torch.as_tensor(n, device=device), name)

    @classmethod
    def from_cloud(cls, points: np.ndarray, normals: np.ndarray, resolution: int = 48, padding: float = 0.04,
                   device="cpu", name: str = "cloud", shell: float | None = None) -> "ObjectField":
        """points (P, 3) m and outward normals (P, 3) (e.g. oriented toward the camera).

        ``shell`` (m): clip the inside to ``-shell``. For a single view the region behind the
        seen surface is unknown, not solid: with a shell only the first ``shell`` metres behind
        the seen surface count as object (a hand crossing the seen surface is still pushed
        out; a finger wrapping behind the object is not punished for the unseen volume)."""
        points = np.asarray(points, dtype=np.float64)
        normals = np.asarray(normals, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 3 or len(points) < 16:
            raise ValueError(f"ObjectField.from_cloud: need (P>=16, 3) points, got {points.shape}")
        lo = points.min(0) - padding
        ext = points.max(0) - points.min(0) + 2 * padding
        h = float(ext.max()) / (resolution - 1)
        n = np.maximum(np.ceil(ext / h - 1e-9).astype(int) + 1, 2)
        axes = [lo[i] + h * np.arange(n[i]) for i in range(3)]
        zz, yy, xx = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
        nodes = np.stack([xx, yy, zz], -1).reshape(-1, 3)
        dist, idx = cKDTree(points).query(nodes, workers=-1)
        sign = np.sign(np.einsum("ij,ij->i", nodes - points[idx], normals[idx]))
        sign[sign == 0] = 1
        sd = dist * sign
        if shell is not None:
            sd = np.maximum(sd, -shell)
        vals = torch.as_tensor(sd.reshape(n[2], n[1], n[0]), dtype=torch.float32)[None, None]
        grid = SDFGrid(vals, torch.as_tensor(lo, dtype=torch.float32), h)
        return cls(grid.to(device), torch.as_tensor(points, dtype=torch.float32, device=device),
                   torch.as_tensor(normals, dtype=torch.float32, device=device), name)
