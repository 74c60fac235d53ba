"""Per-hand configuration (``config/hands/<name>.yaml``) and where hand models are found.

A hand is fully described by one YAML file plus its MJCF model files: adding a third hand
needs no code. Lengths are metres, angles radians, frames are named in each field.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from .. import resources
from ..config_utils import ConfigError, fail, load_yaml

#: Environment variable that points at the directory holding hand model folders.
HANDS_DIR_ENV = "DEX1B_HANDS_DIR"
#: The package's share directory at import time (the repository root in a checkout); see
#: :mod:`dex1b_ros.resources`. Kept for compatibility: code should call ``resources.share_dir()``.
REPO_ROOT = resources.resource_path(must_exist=False)
#: Directory of the shipped per-hand YAML files, as found at import time (the functions below
#: look it up again when called without ``config_dir``, so $DEX1B_SHARE_DIR set later counts).
HAND_CONFIG_DIR = resources.config_dir("hands", must_exist=False)


def hand_config_dir() -> Path:
    """``<share>/config/hands`` (FileNotFoundError naming every place looked at when missing)."""
    return resources.config_dir("hands")


@dataclass
class SphereConfig:
    """Automatic fit of collision spheres to each link's collision geometry."""

    max_per_link: int = 12         # upper bound of spheres per link
    min_per_link: int = 1          # lower bound (tiny links may need only one)
    coverage: float = 0.97         # stop adding spheres once this fraction of surface samples is covered
    tolerance: float = 0.0025      # m; a surface sample within this distance of a sphere counts as covered
    protrusion: float = 0.001      # m; how far a sphere may stick out of the collision geometry
    min_radius: float = 0.003      # m; smallest sphere radius considered
    samples_per_link: int = 1500   # surface samples per link used by the fit
    link_max: dict[str, int] = field(default_factory=dict)  # per-link override of max_per_link (e.g. a large palm)
    self_max_per_link: int = 4     # spheres per link of the coarser self-collision set
    self_link_max: dict[str, int] = field(default_factory=dict)  # per-link override (e.g. palm)
    self_pair_samples: int = 4000  # random joint configurations used to find sphere pairs that can collide
    self_pair_margin: float = 0.003  # m; keep a pair if its gap gets below this in any sampled configuration

    def __post_init__(self):
        if not 1 <= self.min_per_link <= self.max_per_link:
            fail("min_per_link",
                 f"need 1 <= min_per_link <= max_per_link, got {self.min_per_link}, {self.max_per_link}")
        if not 0.5 <= self.coverage <= 1.0:
            fail("coverage", f"must be in [0.5, 1], got {self.coverage}")
        for k, v in self.link_max.items():
            if v < self.min_per_link:
                fail(f"link_max.{k}", f"must be >= min_per_link ({self.min_per_link}), got {v}")
        for name in ("tolerance", "protrusion", "min_radius"):
            v = getattr(self, name)
            if not 0 <= v < 0.05:
                fail(name, f"must be in [0, 0.05) m, got {v}")


@dataclass
class ContactConfig:
    """Contact candidate points on finger pads and tips."""

    links: list[str]               # bodies that carry contact candidates (pads and tips)
    points_per_link: int = 6       # candidates per link (farthest-point spread over the pad)
    pad_cone_deg: float = 50.0     # keep surface points whose normal is within this angle of the pad direction
    flex_sign: float = 1.0         # +1 if positive joint motion flexes the fingers (closes the hand)

    def __post_init__(self):
        if not self.links:
            fail("links", "at least one contact link is required")
        if self.points_per_link < 1:
            fail("points_per_link", f"must be >= 1, got {self.points_per_link}")
        if not 0 < self.pad_cone_deg <= 90:
            fail("pad_cone_deg", f"must be in (0, 90], got {self.pad_cone_deg}")
        if self.flex_sign not in (-1.0, 1.0):
            fail("flex_sign", f"must be +1 or -1, got {self.flex_sign}")


@dataclass
class PalmConfig:
    """Palm centre and approach direction, in the palm (wrist) frame.

    Left ``null``, both are derived from the model: the approach is the mean direction in
    which the fingers' base joints move the fingertips when flexing (the way the palm faces),
    and the centre is where a ray from the palm geometry's centroid along it leaves the palm.
    """

    approach_joints: list[str] = field(default_factory=list)  # joints whose flexion defines the approach
    center: list[float] | None = None      # m, palm frame
    approach: list[float] | None = None    # unit vector, palm frame

    def __post_init__(self):
        for name in ("center", "approach"):
            v = getattr(self, name)
            if v is not None and len(v) != 3:
                fail(name, f"expected 3 numbers, got {len(v)}")
        if self.approach is not None and math.hypot(*self.approach) < 1e-6:
            fail("approach", "must be a non-zero vector")


@dataclass
class DriverConfig:
    """How the real hand's driver wants joint commands (applied by the ROS adapters only)."""

    joint_names: list[str] | None = None   # driver's names in driver order; null = joint_names
    position_offset: float = 0.0           # rad added to every sim angle (LEAP motors: +pi)
    command_topic: str = ""                # default command topic of the driver
    command_type: str = "joint_state"      # joint_state | float64_multi_array | joint_trajectory

    def __post_init__(self):
        if self.command_type not in ("joint_state", "float64_multi_array", "joint_trajectory"):
            fail("command_type",
                 f"expected joint_state | float64_multi_array | joint_trajectory, got {self.command_type!r}")


@dataclass
class HandConfig:
    """One dexterous hand. Loaded from ``config/hands/<name>.yaml``."""

    name: str
    mjcf: str                      # MJCF file, relative to the hands directory (or absolute)
    root_body: str                 # body whose frame is the wrist/palm frame (its pose is the wrist pose)
    joint_names: list[str]         # actuated joints in the hand DRIVER's order (all MJCF joints under root)
    open_pose: list[float]         # rad, canonical open pose, same order as joint_names
    contacts: ContactConfig
    fingertips: dict[str, str]     # finger name -> tip body; needs at least "thumb" and "middle"
    spheres: SphereConfig = field(default_factory=SphereConfig)
    palm: PalmConfig = field(default_factory=PalmConfig)
    driver: DriverConfig = field(default_factory=DriverConfig)
    squeeze_delta: float = 0.08    # rad, how far "squeeze" closes the flexion joints beyond "grasp" (uniform)
    # how the planner/optimizer builds "squeeze" from "grasp": "uniform" closes every joint that moves
    # a contact by squeeze_delta; "balanced" presses each contact along its normal with forces that
    # cancel on the object, the largest joint offset squeeze_balanced_delta (GraspOptimizer.squeeze_balanced;
    # measured better in MuJoCo for both hands, docs/RESULTS.md)
    squeeze_mode: str = "balanced"
    squeeze_balanced_delta: float = 0.16   # rad, largest joint offset of the balanced squeeze
    pregrasp_open: float = 0.6     # 0..1, how far "pregrasp" interpolates grasp -> open pose
    source: str = field(default="", init=False, compare=False)  # YAML file it came from (for messages)

    def __post_init__(self):
        if not self.name or not self.name.replace("_", "").isalnum():
            fail("name", f"must be a simple identifier, got {self.name!r}")
        if len(set(self.joint_names)) != len(self.joint_names):
            fail("joint_names", "contains duplicates")
        if len(self.open_pose) != len(self.joint_names):
            fail("open_pose", f"expected {len(self.joint_names)} values (one per joint), got {len(self.open_pose)}")
        for k in ("thumb", "middle"):
            if k not in self.fingertips:
                fail("fingertips", f"needs a '{k}' entry (used for the grasp's associated point)")
        if self.driver.joint_names is not None and len(self.driver.joint_names) != len(self.joint_names):
            fail("driver.joint_names", f"expected {len(self.joint_names)} names, got {len(self.driver.joint_names)}")
        if not 0.0 <= self.pregrasp_open <= 1.0:
            fail("pregrasp_open", f"must be in [0, 1], got {self.pregrasp_open}")
        if self.squeeze_mode not in ("uniform", "balanced"):
            fail("squeeze_mode", f"expected uniform or balanced, got {self.squeeze_mode!r}")
        for k in ("squeeze_delta", "squeeze_balanced_delta"):
            if not 0.0 <= getattr(self, k) <= 0.5:
                fail(k, f"must be in [0, 0.5] rad, got {getattr(self, k)}")


def available_hands(config_dir: Path | None = None) -> list[str]:
    """Names of the hands that have a YAML in ``config_dir`` (default: the shipped ``config/hands``)."""
    return sorted(p.stem for p in Path(config_dir or hand_config_dir()).glob("*.yaml"))


def load_hand_config(name_or_path: str | Path, config_dir: Path | None = None) -> HandConfig:
    """Load a hand config by name (``leap``) or by YAML path (``config_dir``: default the shipped
    ``config/hands``)."""
    p = Path(name_or_path)
    if p.suffix not in (".yaml", ".yml"):
        config_dir = Path(config_dir or hand_config_dir())
        p = Path(config_dir) / f"{name_or_path}.yaml"
        if not p.is_file():
            raise ConfigError(f"hand: unknown hand {str(name_or_path)!r}; known hands: "
                              f"{', '.join(available_hands(config_dir)) or '(none)'} (from {config_dir})")
    cfg = load_yaml(HandConfig, p)
    cfg.source = str(p)
    return cfg


def hands_dir_candidates(explicit: str | Path | None = None) -> list[Path]:
    """Directories searched for hand models, in order: explicit argument, $DEX1B_HANDS_DIR,
    ``../shared/assets/hands`` next to the repository (a source checkout only) and next to the
    working directory."""
    if explicit is not None:
        return [Path(explicit).expanduser()]
    out = []
    env = os.environ.get(HANDS_DIR_ENV)
    if env:
        out.append(Path(env).expanduser())
    root = resources.source_root()
    if root is not None:
        out.append(root.parent / "shared" / "assets" / "hands")
    out.append(Path.cwd().parent / "shared" / "assets" / "hands")
    seen, uniq = set(), []
    for c in out:
        k = str(c.resolve()) if c.exists() else str(c)
        if k not in seen:
            seen.add(k)
            uniq.append(c)
    return uniq


def resolve_mjcf(cfg: HandConfig, hands_dir: str | Path | None = None) -> Path:
    """Absolute path of the hand's MJCF. Raises FileNotFoundError naming every path tried."""
    if Path(cfg.mjcf).is_absolute():
        tried = [Path(cfg.mjcf)]
    else:
        tried = [d / cfg.mjcf for d in hands_dir_candidates(hands_dir)]
    for p in tried:
        if p.is_file():
            return p.resolve()
    raise FileNotFoundError(
        f"hand '{cfg.name}': model file not found. Looked for {cfg.mjcf!r} at: "
        + "; ".join(str(p) for p in tried)
        + f". Point {HANDS_DIR_ENV} (or --hands-dir) at a directory holding MuJoCo Menagerie "
        "hand folders (leap_hand/, wonik_allegro/).")
