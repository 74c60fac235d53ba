"""On-disk cache of a hand's derived geometry (:func:`dex1b_ros.hands.derived.derive_geometry`).

One ``.npz`` per hand under ``$DEX1B_CACHE_DIR/hands/`` (default ``~/.cache/dex1b_ros``;
``""``, ``0`` or ``off`` disable it). The file name holds a hash of everything the geometry
depends on: the hand config, every model file (xml, obj, stl, msh) next to the MJCF, and the
source of the modules that derive it (:data:`DERIVING_MODULES`), so any change rebuilds.
Writes are atomic; a stale, corrupt or unwritable cache only costs rebuild time.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config_utils import to_dict
from ..resources import CACHE_ENV, cache_dir
from .config import HandConfig
from .derived import DERIVED_FIELDS

#: Where derived hand geometry is cached ($DEX1B_CACHE_DIR, default ~/.cache/dex1b_ros).

#: Modules of this package whose source goes into the cache key: the ones that derive the
#: geometry (sphere fit, contacts, palm, self pairs), the kinematics they use, the model that
#: assembles them, and this file (the stored format).
DERIVING_MODULES = ("model.py", "collision.py", "derived.py", "kinematics.py", "cache.py")
#: HandConfig fields that do not key the cache
POSTURE_FIELDS = ("squeeze_delta", "squeeze_mode", "squeeze_balanced_delta", "pregrasp_open")


def cache_path(cfg: HandConfig, mjcf: Path) -> Path | None:
    """Cache file for the derived geometry: keyed by the config, every model file and the
    source of the code that derives it, so any change rebuilds. None disables caching."""
    root = cache_dir("hands")
    if root is None:
        return None
    # the posture settings (how squeeze and pregrasp are built) change no derived geometry
    key = {k: v for k, v in to_dict(cfg).items() if k not in POSTURE_FIELDS}
    h = hashlib.sha256(json.dumps(key, sort_keys=True).encode())
    for f in sorted(mjcf.parent.rglob("*")):
        if f.is_file() and f.suffix.lower() in (".xml", ".obj", ".stl", ".msh"):
            h.update(f.name.encode() + f.read_bytes())
    here = Path(__file__).parent
    for name in DERIVING_MODULES:
        h.update(name.encode() + (here / name).read_bytes())
    return root / f"{cfg.name}-{h.hexdigest()[:20]}.npz"


def save_derived(path: Path, derived: dict[str, Any]) -> None:
    """Write ``DERIVED_FIELDS`` + sphere coverage + pad directions atomically (errors ignored)."""
    arrays = {k: derived[k].cpu().numpy() for k in DERIVED_FIELDS}
    arrays["coverage_names"] = np.array(list(derived["sphere_coverage"]))
    arrays["coverage_values"] = np.array(list(derived["sphere_coverage"].values()))
    arrays["pad_names"] = np.array(list(derived["pad_direction"]))
    arrays["pad_values"] = np.array(list(derived["pad_direction"].values()))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except OSError:  # a read-only cache dir only costs rebuild time
        pass


def load_derived(path: Path) -> dict[str, Any]:
    """What :func:`save_derived` wrote (tensors: long or float64). Raises on a bad file."""
    out: dict[str, Any] = {}
    with np.load(path) as z:
        for k in DERIVED_FIELDS:
            a = z[k]
            out[k] = torch.as_tensor(a, dtype=torch.long if a.dtype.kind == "i" else torch.float64)
        out["sphere_coverage"] = dict(zip(z["coverage_names"].tolist(), z["coverage_values"].tolist()))
        out["pad_direction"] = dict(zip(z["pad_names"].tolist(), list(z["pad_values"])))
    return out


__all__ = ["CACHE_ENV", "DERIVING_MODULES", "cache_path", "load_derived", "save_derived"]
