"""Configuration of ``dex1b eval``: :class:`EvalConfig` (evaluation settings; the planner is the
node's ``PlannerConfig`` with ``planner:`` overrides), its YAML loading (older configs with
top-level planner keys included) and the command-line options on top of it. The options
themselves are declared in :func:`dex1b_ros.eval.run.build_parser`."""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import resources
from ..config_utils import ConfigError, fail, from_dict, read_yaml, to_dict
from ..planner.config import PlannerConfig, load_planner_config, planner_config

#: The package's share directory at import time (see :mod:`dex1b_ros.resources`); kept for compatibility.
REPO_ROOT = resources.resource_path(must_exist=False)
METHODS = ("baseline", "generator", "gen+refine", "gen+refine+filter")
METHOD_TITLES = {
    "baseline": "1 optimization only (random init)",
    "generator": "2 generator only",
    "gen+refine": "3 generator + refinement (Dex1B)",
    "gen+refine+filter": "4 3 + validator filter (node)",
}
INPUTS = ("full", "partial", "partial+table")


@dataclass
class EvalConfig:
    """One evaluation run. Lengths m, CPU times s (``time.process_time``), angles deg where named."""

    hand: str = "leap"                      # hand name (config/hands/<hand>.yaml)
    objects: str = "test"                   # split name, folder of meshes, mesh file, or comma-separated ids
    max_objects: int | None = None          # keep a round-robin spread of this many (YCB / each proc kind / files)
    inputs: list[str] = field(default_factory=lambda: list(INPUTS))   # any of "full", "partial", "partial+table"
    budget: float = 12.0                    # CPU-s per object, per input, per method run (row 1; rows 2-4 together)
    model: str | None = None                # generator export folder; None = models/<hand>/ (rows 2-4 skipped
                                            # if absent)
    # clouds (object frame, centred mesh)
    cloud_points: int = 1024                # points of the full cloud and of the partial view
    partial_distance: float = 0.5           # m, camera distance from the bbox centre
    partial_elevation_deg: tuple[float, float] = (15.0, 60.0)  # camera elevation above the object's xy plane
    partial_noise: float = 0.0              # m, depth noise std along each ray
    # the planner (rows 2-4 and the cloud preparation of every row): the node's PlannerConfig
    # (config/grasp_planner.yaml) with these overrides (nested or dotted keys); {} = the node's
    planner: dict[str, Any] = field(default_factory=dict)
    # row 1, the baseline (not the node's planner)
    synth_batch: int = 64                   # row 1: hands per synthesis round
    synth_steps: int = 250                  # row 1: optimizer steps per round (the seed-data setting)
    # evaluation (not charged to the methods)
    eval_grasps: int = 24                   # max grasps simulated per row and object
    diversity_grasps: int = 10              # grasps per row and object for PCA / entropy (same n for every row)
    pca_k: int = 3                          # components in the cumulative explained variance
    type_contact_mm: float = 5.0            # finger "touches" within this (mm) for grasp types
    min_extent: float = 0.01                # m, mesh check limits
    max_extent: float = 0.30
    seed: int = 0
    workers: int = 1                        # processes, one object at a time each
    threads: int = 1                        # torch threads per process
    out: str | None = None                  # output folder; None = out/eval/<hand>
    plots: bool = True
    save_plans: bool = False                # also write <out>/plans/<object>-<input>.npz per cloud (`dex1b view`)
    hands_dir: str | None = None
    #: the resolved planner settings (node's YAML + ``planner`` + this ``hand``/``hands_dir``); not an input
    planner_config: PlannerConfig = field(init=False, repr=False)

    def __post_init__(self):
        for k, lo in (("cloud_points", 64), ("synth_batch", 1), ("synth_steps", 0), ("eval_grasps", 1),
                      ("diversity_grasps", 2), ("pca_k", 1), ("workers", 1), ("threads", 1)):
            if getattr(self, k) < lo:
                fail(k, f"must be >= {lo}, got {getattr(self, k)}")
        if not self.budget > 0:
            fail("budget", f"must be > 0 CPU-seconds, got {self.budget}")
        node = load_planner_config()   # errors name config/grasp_planner.yaml and the field
        try:
            pc = planner_config(self.planner, node)
        except ConfigError as e:
            raise ConfigError(f"planner.{e}") from None
        self.planner_config = planner_config({"hand": self.hand, "hands_dir": self.hands_dir or ""}, pc)
        if self.planner_config.validation.num_validate < 1:
            fail("planner.validation.num_validate", "must be >= 1 for row 4 (the validator filter)")
        if self.max_objects is not None and self.max_objects < 1:
            fail("max_objects", f"must be >= 1 (or null for all), got {self.max_objects}")
        bad = [i for i in self.inputs if i not in INPUTS]
        if bad or not self.inputs:
            fail("inputs", f"choose from {list(INPUTS)}, got {self.inputs}")
        if self.diversity_grasps > self.eval_grasps:
            fail("diversity_grasps", f"must be <= eval_grasps ({self.eval_grasps}), got {self.diversity_grasps}")
        lo, hi = self.partial_elevation_deg
        if not -90 <= lo <= hi <= 90:
            fail("partial_elevation_deg", f"need -90 <= min <= max <= 90, got {self.partial_elevation_deg}")

    @property
    def out_dir(self) -> Path:
        # out/ of the checkout; of the working directory when installed (never the share directory)
        return Path(self.out) if self.out else (resources.source_root() or Path.cwd()) / "out" / "eval" / self.hand

    @property
    def model_dir(self) -> Path:
        return Path(self.model) if self.model else resources.models_dir(self.hand, must_exist=False)


def pipeline_config(cfg: EvalConfig):
    """The ``prepare`` settings ``prepare_cloud`` gets: the planner's (``cfg.planner_config.prepare``)."""
    return cfg.planner_config.prepare


#: Planner settings an eval config once held at its top level -> their PlannerConfig field.
#: Still read (as ``planner:`` overrides, with a warning) so older eval configs keep loading.
LEGACY_PLANNER_KEYS = {"gen_batch": "sampling.num_samples", "temperature": "sampling.temperature",
                       "refine_steps": "refinement.refine_steps", "num_validate": "validation.num_validate",
                       "field_resolution": "prepare.field_resolution", "partial_threshold": "prepare.partial_threshold",
                       "single_view_field": "prepare.single_view_field", "partial_shell": "prepare.partial_shell"}


def eval_config(data: dict, source: str = "", warn=None) -> EvalConfig:
    """EvalConfig from plain data (a YAML mapping). Top-level planner keys of older configs
    (``LEGACY_PLANNER_KEYS``) become ``planner:`` overrides; ``warn(message)`` is told which."""
    data = dict(data or {})
    planner = dict(data.get("planner") or {})
    moved = {}
    for old, new in LEGACY_PLANNER_KEYS.items():
        if old in data:
            if new in planner:
                fail(old, f"given twice: here and as planner.{new}")
            planner[new] = moved[new] = data.pop(old)
    if moved:
        data["planner"] = planner
        if warn is not None:
            warn(f"{source + ': ' if source else ''}planner settings at the top level are read as planner "
                 f"overrides: {', '.join(f'{k}={v}' for k, v in moved.items())} (the node's: "
                 f"{', '.join(f'{k}={_flat_get(load_planner_config(), k)}' for k in moved)}); move them under "
                 "`planner:`, or drop them to evaluate what the node ships")
    return from_dict(EvalConfig, data)


def _flat_get(cfg, dotted: str):
    for part in dotted.split("."):
        cfg = getattr(cfg, part)
    return cfg


def _read_yaml(path: Path) -> dict:
    return read_yaml(path, "a mapping of EvalConfig fields")


def config_from_args(a: argparse.Namespace, warn=None) -> EvalConfig:
    """EvalConfig from ``--config`` (if any) and the command-line options (which win). ``warn``
    (default: print to stderr) is told about planner settings found at the top level of the file."""
    warn = warn or (lambda m: print(f"dex1b eval: warning: {m}", file=sys.stderr))
    base = _read_yaml(a.config) if a.config else {}
    over = {k: getattr(a, k) for k in ("hand", "objects", "max_objects", "budget", "model", "eval_grasps",
                                       "diversity_grasps", "pca_k", "synth_batch", "synth_steps", "seed", "workers",
                                       "threads", "out", "hands_dir") if getattr(a, k) is not None}
    if a.inputs:
        over["inputs"] = [s.strip() for s in a.inputs.split(",") if s.strip()]
    if a.no_plots:
        over["plots"] = False
    if getattr(a, "save_plans", False):
        over["save_plans"] = True
    planner = {}
    for flag, key in (("gen_batch", "sampling.num_samples"), ("refine_steps", "refinement.refine_steps"),
                      ("num_validate", "validation.num_validate")):
        if getattr(a, flag, None) is not None:
            planner[key] = getattr(a, flag)
    for item in getattr(a, "planner", None) or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--planner {item!r}: expected FIELD=VALUE, e.g. sampling.num_samples=256")
        planner[key.strip()] = yaml.safe_load(value)
    try:
        cfg = eval_config(base, str(a.config or ""), warn)   # the file alone first: its errors name it
    except ConfigError as e:
        raise ConfigError(f"{a.config}: {e}") from None
    if not (over or planner):
        return cfg
    data = {k: v for k, v in to_dict(cfg).items() if k != "planner_config"}
    data.update(over)
    data["planner"] = {**cfg.planner, **planner}
    return from_dict(EvalConfig, data)
