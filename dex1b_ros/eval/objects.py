"""Which objects an evaluation runs on: a split, a folder of meshes, a mesh file or ids (no ROS).

``resolve_objects(spec)`` accepts

* a split name (``train`` | ``val`` | ``test``): the ids of ``config/objects/splits.yaml``;
* a named object set (``heldout``: 24 unseen test objects, 13 strongly non-convex;
  ``valbroad``, ``valbroad2``: validation objects to choose on; ``config/objects/<name>.yaml``);
* a union of splits / sets joined by ``+`` (``valbroad+valbroad2``), each id once;
* a folder: every ``.obj`` / ``.stl`` / ``.ply`` below it (recursively, sorted); other files
  are ignored and listed;
* one mesh file;
* comma-separated object ids (``ycb:011_banana,proc:box:80,/path/to/mug.stl``).

Each object is loaded with the project's loader (``load_mesh``: repair, millimetre
heuristic) and checked with ``check_mesh`` (watertight, volume, size limits for a hand).
Unusable meshes are not fatal: they are returned as ``(source, reason)`` pairs with the
loader's message (it names the file and why: "not watertight and unrepairable", "too big
for a hand: largest extent 0.5000 m > max_extent 0.3 m", "degenerate mesh (no faces)", ...).
Usable objects are re-centred on their bounding-box centre (object frame, m).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..objects.mesh import MESH_SUFFIXES, ObjectMesh, check_mesh, load_mesh
from ..objects.splits import OBJECT_SETS, SPLITS, load_object, load_object_set, load_split


@dataclass
class ObjectSet:
    """Result of :func:`resolve_objects`: usable objects (id -> mesh), rejected ones, ignored files."""

    objects: dict[str, ObjectMesh] = field(default_factory=dict)
    rejected: list[tuple[str, str]] = field(default_factory=list)   # (source, reason)
    ignored: list[str] = field(default_factory=list)                # non-mesh files in a folder

    def report(self) -> str:
        lines = [f"{len(self.objects)} usable object(s)"]
        lines += [f"  rejected {src}: {why}" for src, why in self.rejected]
        if self.ignored:
            lines.append(f"  ignored {len(self.ignored)} non-mesh file(s): {', '.join(self.ignored[:5])}"
                         + (" ..." if len(self.ignored) > 5 else ""))
        return "\n".join(lines)


def _source(object_id: str) -> str:
    return object_id.split(":", 1)[0] if object_id.startswith(("ycb:", "proc:")) else "file"


def _round_robin(lists: list[list[str]]) -> list[str]:
    out, depth = [], 0
    while any(depth < len(x) for x in lists):
        out += [x[depth] for x in lists if depth < len(x)]
        depth += 1
    return out


def spread(ids: list[str], n: int | None) -> list[str]:
    """At most ``n`` ids, deterministic, alternating between sources (YCB, procedural, files, in
    the order they first appear) and, within the procedural ids, between kinds. ``n`` None or
    >= len(ids): all of them, in their order."""
    if n is None or n >= len(ids):
        return list(ids)
    sources: dict[str, dict[str, list[str]]] = {}
    for i in ids:
        kind = ":".join(i.split(":")[:2]) if i.startswith("proc:") else _source(i)
        sources.setdefault(_source(i), {}).setdefault(kind, []).append(i)
    per_source = [_round_robin(list(kinds.values())) for kinds in sources.values()]
    return _round_robin(per_source)[:n]


def _ids_from_spec(spec: str, ignored: list[str]) -> list[str]:
    if "+" in spec and all(part in SPLITS + OBJECT_SETS for part in spec.split("+")):
        ids: list[str] = []     # a union of splits / sets, e.g. valbroad+valbroad2 (first seen order)
        for part in spec.split("+"):
            ids += [i for i in _ids_from_spec(part, ignored) if i not in ids]
        return ids
    if spec in SPLITS:
        return load_split(spec)
    if spec in OBJECT_SETS:
        return load_object_set(spec)
    p = Path(spec)
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file())
        meshes = [str(f) for f in files if f.suffix.lower() in MESH_SUFFIXES]
        ignored += [str(f.relative_to(p)) for f in files if f.suffix.lower() not in MESH_SUFFIXES]
        if not meshes:
            raise ValueError(f"{spec}: no mesh files ({', '.join(MESH_SUFFIXES)}) in this folder")
        return meshes
    if "," not in spec and (p.suffix.lower() in MESH_SUFFIXES or p.is_file()):
        return [spec]
    ids = [s.strip() for s in spec.split(",") if s.strip()]
    if not ids or (len(ids) == 1 and not re.match(r"^(ycb|proc):", ids[0])):
        raise ValueError(f"--objects {spec!r}: not a split ({', '.join(SPLITS)}), an object set "
                         f"({', '.join(OBJECT_SETS)}), an existing folder or mesh file, or a list of object ids "
                         "(ycb:<name>, proc:<kind>:<seed>, mesh paths)")
    return ids


def resolve_objects(spec: str, max_objects: int | None = None, min_extent: float = 0.01,
                    max_extent: float = 0.30) -> ObjectSet:
    """Load and check the objects named by ``spec`` (see module doc).

    ``max_objects`` keeps a deterministic spread (:func:`spread`) of the candidate ids *before*
    loading. Raises ``ValueError`` when the spec names nothing or no object is usable (the
    message lists every rejection)."""
    out = ObjectSet()
    ids = spread(_ids_from_spec(spec, out.ignored), max_objects)
    for oid in ids:
        try:
            if oid.startswith(("ycb:", "proc:")):
                obj = load_object(oid, check=False)
            else:
                obj = load_mesh(oid)
                oid = str(Path(oid))
            check_mesh(obj, min_extent=min_extent, max_extent=max_extent, source=oid)
        except (ValueError, FileNotFoundError, KeyError) as e:
            msg = str(e).strip("'\"")
            if msg.startswith(oid + ": "):
                msg = msg[len(oid) + 2:]
            out.rejected.append((oid, msg))
            continue
        except Exception as e:  # noqa: BLE001 - a file the mesh library cannot parse at all
            out.rejected.append((oid, f"cannot read this file as a mesh: {type(e).__name__}: {e}"))
            continue
        out.objects[oid] = obj.centered()
    if not out.objects:
        raise ValueError(f"--objects {spec!r}: no usable object.\n" + out.report())
    return out
