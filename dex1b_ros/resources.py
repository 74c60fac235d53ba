"""Where the package's data files are: ``config/``, ``models/``, ``launch/`` (no ROS import here).

``setup.py`` installs them under ``<prefix>/share/dex1b_ros/`` (the ament layout); a checkout
keeps them at the repository root. :func:`share_dir` picks the first of, in order:

1. ``$DEX1B_SHARE_DIR`` when set (used as given: an error if it is not a directory);
2. the source tree: the folder holding the ``dex1b_ros`` package directory, when it has
   ``package.xml`` and ``config/`` (a checkout, ``pip install -e .``, ``colcon build
   --symlink-install``). ``dex1b_ros.objects.splits --write`` writes here (:func:`source_root`);
3. ``<prefix>/share/dex1b_ros`` of the prefix this copy of the code is installed in
   (``<prefix>/lib/pythonX.Y/site-packages/dex1b_ros``): ``colcon build`` without
   ``--symlink-install``, ``pip install .``, ``pip install --prefix``. It comes before the ament
   index so the code never reads the data files of another installed copy;
4. ``ament_index_python.get_package_share_directory("dex1b_ros")`` (needs
   ``AMENT_PREFIX_PATH``, set by ``source install/setup.bash``; skipped when it is unset or the
   package is not registered);
5. ``sys.prefix/share/dex1b_ros`` (e.g. a virtual environment's).

Candidates 3-5 count only when they hold ``package.xml`` (installed next to the data files).
:func:`config_dir`, :func:`models_dir` and :func:`resource_path` join onto :func:`share_dir`;
a missing share directory or resource raises ``FileNotFoundError`` naming every place looked at.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE = "dex1b_ros"
#: Environment variable overriding the share directory (a folder laid out like the repository
#: root: ``config/``, ``models/``, ...).
SHARE_DIR_ENV = "DEX1B_SHARE_DIR"

_PKG_DIR = Path(__file__).resolve().parent


def source_root() -> Path | None:
    """The repository root when this code runs from a source tree (else None)."""
    root = _PKG_DIR.parent
    if (root / "package.xml").is_file() and (root / "config").is_dir():
        return root
    return None


def _install_prefix_share() -> Path | None:
    """``<prefix>/share/dex1b_ros`` for code installed as ``<prefix>/lib*/python*/site-packages/dex1b_ros``."""
    site = _PKG_DIR.parent
    pyver, lib = site.parent, site.parent.parent
    if site.name in ("site-packages", "dist-packages") and pyver.name.startswith("python") \
            and lib.name.startswith("lib"):
        return lib.parent / "share" / PACKAGE
    return None


def _ament_share() -> tuple[Path | None, str]:
    """(share directory from the ament index or None, why not)."""
    try:
        from ament_index_python.packages import get_package_share_directory
    except ImportError:
        return None, "ament_index_python not importable"
    try:
        return Path(get_package_share_directory(PACKAGE, print_warning=False)), ""
    except Exception as e:  # EnvironmentError (AMENT_PREFIX_PATH unset), PackageNotFoundError
        return None, f"{type(e).__name__}: {e}"


def share_dir_candidates() -> list[tuple[str, Path | None, str]]:
    """Every place :func:`share_dir` looks, in order: (what, path or None, note)."""
    env = os.environ.get(SHARE_DIR_ENV)
    if env:
        return [(f"${SHARE_DIR_ENV}", Path(env).expanduser(), "")]
    out: list[tuple[str, Path | None, str]] = [
        ("source tree", _PKG_DIR.parent, "needs package.xml and config/")]
    pre = _install_prefix_share()
    out.append(("install prefix", pre, "" if pre else f"{_PKG_DIR} is not under <prefix>/lib/python*/site-packages"))
    ament, why = _ament_share()
    out.append(("ament index", ament, why))
    out.append(("sys.prefix", Path(sys.prefix) / "share" / PACKAGE, ""))
    return out


def _describe(cands) -> str:
    return "; ".join(f"{what}: {p if p is not None else '-'}" + (f" ({note})" if note else "")
                     for what, p, note in cands)


def share_dir() -> Path:
    """The package's share directory (see the module docstring for the search order)."""
    cands = share_dir_candidates()
    for what, p, _ in cands:
        if p is None:
            continue
        if what == f"${SHARE_DIR_ENV}":
            if p.is_dir():
                return p.resolve()
        elif what == "source tree":
            if source_root() is not None:
                return p
        elif (p / "package.xml").is_file():
            return p.resolve()
    raise FileNotFoundError(
        f"{PACKAGE}: share directory (config/, models/) not found. Looked at: {_describe(cands)}. "
        f"Install the package (colcon build / pip install) or set {SHARE_DIR_ENV}.")


def resource_path(*parts: str | os.PathLike, must_exist: bool = True) -> Path:
    """``share_dir()/parts...``; FileNotFoundError (naming the places looked at) when it does not exist
    and ``must_exist``."""
    try:
        base = share_dir()
    except FileNotFoundError:
        if not must_exist:
            return _PKG_DIR.parent.joinpath(*parts)  # best guess, for defaults computed at import
        raise
    p = base.joinpath(*parts)
    if must_exist and not p.exists():
        raise FileNotFoundError(
            f"{PACKAGE}: resource {p} not found (share directory {base}, chosen from: "
            f"{_describe(share_dir_candidates())}). Reinstall the package or set {SHARE_DIR_ENV}.")
    return p


def config_dir(*parts: str, must_exist: bool = True) -> Path:
    """``<share>/config[/parts...]``."""
    return resource_path("config", *parts, must_exist=must_exist)


def models_dir(*parts: str, must_exist: bool = True) -> Path:
    """``<share>/models[/parts...]`` (shipped generator exports, ``models/<hand>/``)."""
    return resource_path("models", *parts, must_exist=must_exist)


#: Environment variable of the on-disk cache of derived data (hand geometry, convex decompositions,
#: rendered views); default ``~/.cache/dex1b_ros``; ``""``, ``0`` or ``off`` disable it.
CACHE_ENV = "DEX1B_CACHE_DIR"


def cache_dir(*parts: str) -> Path | None:
    """``$DEX1B_CACHE_DIR[/parts...]`` (not created), or None when the cache is off."""
    root = os.environ.get(CACHE_ENV, str(Path.home() / ".cache" / "dex1b_ros"))
    return None if root in ("", "0", "off") else Path(root, *parts)
