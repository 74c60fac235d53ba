"""``PlannerConfig``: every setting of the grasp planner, in one place (no ROS here).

One dataclass, nested by planning step (``GraspPipeline.plan``: preprocess -> prepare ->
sample -> refine -> rank -> check), plus what the planner is built from (hand, model,
device). Its defaults are THE defaults: the ``grasp_planner`` node declares one ROS parameter
per field (nesting flattened with dots: ``sampling.num_samples``; description = the field's
comment, range = the field's ``RANGES`` entry, read-only = ``REBUILD``), and
``config/grasp_planner.yaml`` lists them with the same values (a test checks). ``dex1b eval``
and the benchmarks load the same file (:func:`load_planner_config`), so "the node's settings"
is true by construction.

The defaults were measured for the node's latency goal (p50 <= 1 s, p95 <= 2 s on 2 cores,
docs/ros.md): 96 samples, 50 refinement steps, at most 16 MuJoCo checks (the tabletop lift on the
completed view when the table is known; one lift costs about a sixth of a six-direction test)
stopping at the first pass, 1 torch thread.
"""
from __future__ import annotations

import copy
import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..config_fields import Range, between, check_ranges, field_docs, ge
from ..config_utils import ConfigError, fail, from_dict, read_yaml, to_dict
from ..perception.preprocess import PreprocessConfig

#: top-level key and section of config/grasp_planner.yaml (a ROS 2 params file)
NODE_NAME = "grasp_planner"
YAML_SECTION = "ros__parameters"


def node_preprocess() -> PreprocessConfig:
    """The planner's preprocessing defaults: PreprocessConfig's, with a crop box of 2 x 2 x 2 m
    around the planning frame's origin (z from -0.5 m)."""
    return PreprocessConfig(crop_min=[-1.0, -1.0, -0.5], crop_max=[1.0, 1.0, 1.5])


@dataclass
class PrepareConfig:
    """Step ``prepare`` (:func:`~dex1b_ros.planner.pipeline.prepare_cloud`): the object field and the
    validator's object from the cleaned cloud."""

    cloud_points: int = 1024        # -, points the planner works on: a random subset of the cleaned cloud when larger
    field_resolution: int = 40      # -, SDF grid samples along the object's longest side
    partial_threshold: float = 0.3  # -, |mean unit normal| above this marks a cloud as one-sided
                                    #    (a single view, completed by symmetry)
    single_view_field: str = "hull"  # single views: hull (exact SDF of the completed view's convex hull) |
                                     #    shell (the view's own field) | carved (the hull's, outside wherever the
                                     #    camera saw through: a cup's opening stays open; ObjectField.carved)
    completion: str = "revolve"     # single views: how the unseen back is guessed: mirror (the view mirrored
                                    #    behind itself) | side (mirror plane never in front of the seen
                                    #    silhouette) | revolve (turned about a fitted vertical axis when
                                    #    round, else side)
    completion_drop: bool = False   # single views on a table: also the seen points dropped onto the table
    completion_fill_below: float = 0.0  # m, revolve: a round view whose lowest point floats more than this above
                                    #    the table (a ball: its under side is never seen) also gets its upper part
                                    #    mirrored about its widest circle, down to the table; 0 = off
    carve: bool = True              # single views: drop the guessed (completed) points the camera would have seen
                                    #    (nothing seen along their line of sight, or they lie in front of what was
                                    #    seen: perception.completion.carve_by_view) before the hull is taken
                                    #    (held-out lift 47 -> 53 %, both hands; docs/ros.md)
    carve_radius: float = 0.01      # m, carve: a guessed point is kept only if a seen point lies within this of its
                                    #    line of sight (orthographic along the view; chosen over 0.004 on validation
                                    #    objects and the demo's views: docs/ros.md)
    carve_view: str = "mean"        # the view direction carve (and the carved field) look along: mean (minus the
                                    #    mean normal) | cap (minus the centre of the normals' narrowest cap; closer
                                    #    to the true camera: scripts/view_direction_study.py)
    partial_shell: float = 0.005    # m, shell field only: this much behind the seen surface counts as solid
    check_shape: str = "hull"       # single views on a table: the object the MuJoCo check simulates: hull (the
                                    #    completed view's convex hull) | columns (the completed view as convex
                                    #    columns standing on the table, a non-convex guess: an L, a bowl, a cup
                                    #    stay open; perception.completion.column_parts), used when their volume is
                                    #    below columns_gate x the hull's (else the hull)
    columns_cell: float = 0.015     # m, columns: smallest cell side (cells are also >= footprint / columns_max_cells)
    columns_max_cells: int = 8      # -, columns: at most this many cells along the footprint's longer side
    columns_gate: float = 0.85      # -, columns: used only when union volume / hull volume is below this (the
                                    #    hull fills a real concavity); 1 = whenever they are smaller than the hull
    columns_field: bool = False     # columns: the optimizer works against them too (the SDF of their union's
                                    #    surface); false = against the hull, only the check simulates the columns
                                    #    (val: true lifted fewer, LEAP 82 -> 72 / 156, Allegro 86 -> 74)

    RANGES: ClassVar[dict[str, Range]] = {"cloud_points": ge(64), "field_resolution": ge(8),
                                          "partial_threshold": between(0, 1), "partial_shell": Range(0, lo_open=True),
                                          "columns_cell": Range(0, lo_open=True), "columns_max_cells": ge(1),
                                          "carve_radius": Range(0, lo_open=True), "completion_fill_below": ge(0.0),
                                          "columns_gate": Range(0, lo_open=True)}
    CHECK_SHAPES: ClassVar[tuple[str, ...]] = ("hull", "columns")

    def __post_init__(self):
        check_ranges(self, self.RANGES)
        if self.carve_view not in ("mean", "cap"):
            fail("carve_view", f"expected 'mean' or 'cap', got {self.carve_view!r}")
        if self.single_view_field not in ("hull", "shell", "carved"):
            fail("single_view_field", f"expected 'hull', 'shell' or 'carved', got {self.single_view_field!r}")
        from ..perception.completion import COMPLETIONS
        if self.completion not in COMPLETIONS:
            fail("completion", f"expected one of {' | '.join(COMPLETIONS)}, got {self.completion!r}")
        if self.check_shape not in self.CHECK_SHAPES:
            fail("check_shape", f"expected one of {' | '.join(self.CHECK_SHAPES)}, got {self.check_shape!r}")


@dataclass
class SamplingConfig:
    """Step ``sample``: DexSimple candidates conditioned on the cloud (optimizer-only mode: hands
    initialised around it)."""

    num_samples: int = 96           # -, grasp candidates per plan
    temperature: float = 1.0        # -, generator latent temperature (z ~ N(0, temperature^2 I))

    RANGES: ClassVar[dict[str, Range]] = {"num_samples": ge(1), "temperature": ge(0)}

    def __post_init__(self):
        check_ranges(self, self.RANGES)


@dataclass
class RefinementConfig:
    """Step ``refine``: the SDF post-optimisation of the samples (or synthesis without a generator)."""

    refine_steps: int = 50          # -, gradient steps of the post-optimisation (generator mode)
    synth_steps: int = 150          # -, optimisation steps in optimizer-only mode (no generator model)
    prune_at: float = 0.3           # -, successive halving: after this fraction of the refinement steps only the
                                    #    prune_keep fraction of samples with the lowest energy is refined further (the
                                    #    kept ones exactly as without it; 0.3/0.5: same first grasp in 96 of 96 val
                                    #    plans, refinement ~25 % faster); 0 = off
    prune_keep: float = 0.5         # -, fraction of the samples kept at prune_at
    table_weight: float = 100.0     # 1/m, energy weight of hand spheres below the support plane (when one is known)
    pregrasp_above_table: bool = True  # with a support plane, the pregrasp opens the hand only as far as it stays
                                    #    above the table (no deeper than the grasp); false = the hand's pregrasp_open

    RANGES: ClassVar[dict[str, Range]] = {"refine_steps": ge(0), "synth_steps": ge(0),
                                          "prune_at": Range(0, 1, hi_open=True),
                                          "prune_keep": Range(0, 1, lo_open=True),
                                          "table_weight": ge(0)}

    def __post_init__(self):
        check_ranges(self, self.RANGES)


@dataclass
class ValidationConfig:
    """Step ``check``: MuJoCo simulation of the best candidates against the prepared object."""

    num_validate: int = 32          # -, best candidates simulated in MuJoCo, best first; 0 = no check
                                    #    (32 vs 16: val lift LEAP 37 -> 41/72, Allegro 32 -> 34/72)
    validate_threads: int = 2       # -, MuJoCo check threads: one candidate's six directions run on them
                                    #    (verdicts identical)
    validate_stop_after: int = 2    # -, stop checking once this many passed; 0 = check all num_validate
    require_validated: bool = False  # fail the plan when nothing passes the check (else: the best, flagged)
    check: str = "lift"             # what a candidate must pass when the support plane is known: free_space (hold
                                    #    against forces in six directions, table-less) | lift (lifted off the table) |
                                    #    both; without a support plane always free_space
    second_completion: str = ""     # single views: a candidate that passes must pass again on the view completed
                                    #    this other way (mirror | side | revolve; its convex hull), so that it
                                    #    does not rest on one guess of the unseen back; '' = off
    check_table: str = "plane"      # the lift check's table (single views on a table): guess (under the guessed
                                    #    object's lowest point) | plane (at the support plane found in the cloud:
                                    #    a guess whose unseen bottom floats above it, a ball or an egg seen from
                                    #    above, floats in the check too, and fingers may reach under it)
    pass_order: str = "steadiest"   # which of the candidates that passed the check goes first: rank (the best
                                    #    ranked: evaluator or energy) | steadiest (the one whose object moved least
                                    #    in the check; with validate_stop_after k > 1, among the first k passes)

    RANGES: ClassVar[dict[str, Range]] = {"num_validate": ge(0), "validate_threads": ge(1),
                                          "validate_stop_after": ge(0)}
    CHECKS: ClassVar[tuple[str, ...]] = ("free_space", "lift", "both")
    TABLES: ClassVar[tuple[str, ...]] = ("guess", "plane")
    PASS_ORDERS: ClassVar[tuple[str, ...]] = ("rank", "steadiest")

    def __post_init__(self):
        check_ranges(self, self.RANGES)
        if self.check not in self.CHECKS:
            fail("check", f"expected one of {' | '.join(self.CHECKS)}, got {self.check!r}")
        if self.check_table not in self.TABLES:
            fail("check_table", f"expected one of {' | '.join(self.TABLES)}, got {self.check_table!r}")
        if self.pass_order not in self.PASS_ORDERS:
            fail("pass_order", f"expected one of {' | '.join(self.PASS_ORDERS)}, got {self.pass_order!r}")
        from ..perception.completion import COMPLETIONS
        if self.second_completion not in ("",) + tuple(COMPLETIONS):
            fail("second_completion", f"expected '' or one of {' | '.join(COMPLETIONS)}, "
                                      f"got {self.second_completion!r}")


@dataclass
class RankingConfig:
    """Step ``rank`` and the output: accepted by the energy filter first, then by energy; with an
    ``evaluator``, by its success probability (``accepted_first``); checked passes first."""

    top_k: int = 5                  # -, ranked grasps returned per plan (a request's num_grasps <= 0 uses this)
    evaluator: str = "auto"         # learned grasp evaluator folder (evaluator.safetensors + model_card.yaml;
                                    #    dex1b train-evaluator); 'auto' = the hand's shipped one for single-view
                                    #    clouds (models/<hand>/evaluator, trained on single views; none on full
                                    #    clouds or if the hand has none: LEAP has one);
                                    #    '' = none. When set, every candidate gets
                                    #    evaluator_prob (one batched pass on the cleaned view) and candidates
                                    #    are ranked by evaluator_prob (not energy; see accepted_first); the
                                    #    MuJoCo check runs in that order and the output puts checked passes
                                    #    first, then evaluator_prob
    evaluator_threshold: float = 0.0  # -, evaluator_prob at or above which a grasp that passed the MuJoCo check is
                                    #    predicted_success (the node's verdict; the plan summary counts them);
                                    #    0 = the evaluator's calibrated one (its model card's verdict_threshold,
                                    #    chosen on val objects by dex1b bench plan-quality --calibrate; else its
                                    #    threshold)
    evaluator_head: str = "auto"    # which of the evaluator's predictions ranks (and is evaluator_prob): auto (the
                                    #    head its card was calibrated for, verdict_head; free_space for cards
                                    #    without one) | free_space (holds against forces in six directions) | lift
                                    #    (lifted off the table) | both (product). lift and both need a support
                                    #    plane (else free_space). The verdict threshold is calibrated for one head:
                                    #    another head falls back to the card's free-space threshold
    accepted_first: str = "energy"  # when candidates that passed the energy filter go first: energy (only when
                                    #    ranking by energy; the evaluator's probability ranks alone: val lift
                                    #    LEAP 90 -> 92, Allegro 85 -> 90 of 156 plans, docs/ros.md) | always
                                    #    (also before evaluator_prob) | never

    RANGES: ClassVar[dict[str, Range]] = {"top_k": ge(1), "evaluator_threshold": between(0.0, 1.0)}
    HEADS: ClassVar[tuple[str, ...]] = ("auto", "free_space", "lift", "both")
    ACCEPTED_FIRST: ClassVar[tuple[str, ...]] = ("energy", "always", "never")

    def __post_init__(self):
        check_ranges(self, self.RANGES)
        if self.evaluator_head not in self.HEADS:
            fail("evaluator_head", f"expected one of {' | '.join(self.HEADS)}, got {self.evaluator_head!r}")
        if self.accepted_first not in self.ACCEPTED_FIRST:
            fail("accepted_first", f"expected one of {' | '.join(self.ACCEPTED_FIRST)}, got {self.accepted_first!r}")

    def accepted_go_first(self, by_evaluator: bool) -> bool:
        """Whether energy-filter-accepted candidates go first, ranking by the evaluator or by energy."""
        return self.accepted_first == "always" or (self.accepted_first == "energy" and not by_evaluator)


@dataclass
class PlannerConfig:
    """Every planner setting (see the module doc). Units in the field comments."""

    hand: str = "leap"              # hand to plan for: a name from config/hands (leap | allegro)
    hands_dir: str = ""             # directory holding the MuJoCo Menagerie hand folders; '' = default search
    model_path: str = ""            # generator weights file; '' = the shipped model (optimizer alone if none)
    device: str = "cpu"             # torch device of the planner: cpu | cuda | cuda:N
    torch_threads: int = 1          # -, torch CPU threads of the planner process; 0 = torch's default
                                    #    (1 is fastest for the default batch on 2 cores)
    warmup: bool = True             # plan once on a synthetic scene while loading so the first request does
                                    #    not pay one-time costs (~1 s)
    seed: int = 0                   # -, seed of the plan's one random generator (subsampling, RANSAC,
                                    #    generator latents, synthesis): same cloud + same config = same grasps
    preprocess: PreprocessConfig = field(default_factory=node_preprocess)
    prepare: PrepareConfig = field(default_factory=PrepareConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    refinement: RefinementConfig = field(default_factory=RefinementConfig)
    ranking: RankingConfig = field(default_factory=RankingConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)

    RANGES: ClassVar[dict[str, Range]] = {"torch_threads": ge(0), "seed": ge(0)}
    #: fields a built planner cannot change (the node declares them read-only)
    REBUILD: ClassVar[tuple[str, ...]] = ("hand", "hands_dir", "model_path", "device", "torch_threads", "warmup")

    def __post_init__(self):
        if not self.hand:
            fail("hand", "must not be empty")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            fail("device", f"expected 'cpu' or 'cuda[:i]', got {self.device!r}")
        check_ranges(self, self.RANGES)
        if self.ranking.top_k > self.sampling.num_samples:
            fail("ranking.top_k", f"must be <= sampling.num_samples ({self.sampling.num_samples}), "
                                  f"got {self.ranking.top_k}")

    def rebuild_fields(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.REBUILD}


# ------------------------------------------------------------------------------------ dicts, YAML
def _merge(base: dict, over: dict, path: str = "") -> dict:
    """``base`` updated with ``over``, nested dicts merged key by key (``over`` may use dotted keys)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if "." in k:
            head, rest = k.split(".", 1)
            v, k = {rest: v}, head
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v, f"{path}{k}.")
        else:
            out[k] = v
    return out


def planner_config(overrides: dict | None = None, base: PlannerConfig | None = None) -> PlannerConfig:
    """``base`` (default: the defaults) with ``overrides`` (nested or dotted keys) applied; fields
    not named keep ``base``'s values. Unknown keys and bad values raise ConfigError naming them."""
    data = _merge(to_dict(base or PlannerConfig()), overrides or {})
    return from_dict(PlannerConfig, data)


def load_planner_config(path: str | Path | None = None, overrides: dict | None = None) -> PlannerConfig:
    """The planner settings of a ``grasp_planner`` params file (default ``config/grasp_planner.yaml``):
    the ``grasp_planner.ros__parameters`` keys that are PlannerConfig fields (the node's other
    parameters - topics, frames, trajectory timing - are not the planner's and are skipped), then
    ``overrides``. Errors name the file and the field."""
    from .. import resources

    path = Path(path) if path is not None else resources.config_dir(f"{NODE_NAME}.yaml")
    data = read_yaml(path, f"a {NODE_NAME} params file")
    try:
        params = data[NODE_NAME][YAML_SECTION]
    except (KeyError, TypeError):
        raise ConfigError(f"{path}: missing section {NODE_NAME}.{YAML_SECTION}") from None
    names = {f.name for f in dataclasses.fields(PlannerConfig)}
    mine = {k: v for k, v in (params or {}).items() if k in names}
    try:
        cfg = planner_config(mine)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    return planner_config(overrides, cfg) if overrides else cfg


# ------------------------------------------------------------------------------------ flat view
@dataclass(frozen=True)
class FlatField:
    """One leaf of PlannerConfig as a flat (ROS parameter) name."""

    name: str                   # dotted path, e.g. "sampling.num_samples"
    default: Any                # the default value; a None list default is []
    type: type                  # bool | int | float | str | list (of float)
    description: str            # the field's comment (units first)
    range: Range | None = None  # numeric bounds checked by the dataclass
    read_only: bool = False     # needs a planner rebuild (PlannerConfig.REBUILD)
    none_is_empty: bool = False  # Optional[list]: None <-> []


def _leaf_type(tp) -> tuple[type, bool]:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    optional = type(None) in typing.get_args(tp)
    base = args[0] if optional and len(args) == 1 else tp
    origin = typing.get_origin(base)
    return (list if origin in (list, tuple) else base), optional


def flat_fields(cls: type = PlannerConfig, prefix: str = "", default=None) -> list[FlatField]:
    """Every leaf field of ``cls`` (nested dataclasses flattened with dots), in declaration order,
    with its default (from ``default``, an instance; else ``cls()``), type, comment and range."""
    inst = default if default is not None else cls()
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    ranges = getattr(cls, "RANGES", {})
    rebuild = getattr(cls, "REBUILD", ())
    out = []
    for f in dataclasses.fields(cls):
        v = getattr(inst, f.name)
        if dataclasses.is_dataclass(hints[f.name]):
            out += flat_fields(hints[f.name], f"{prefix}{f.name}.", v)
            continue
        tp, optional = _leaf_type(hints[f.name])
        none_list = optional and tp is list
        out.append(FlatField(prefix + f.name, ([] if v is None else list(v)) if tp is list else v, tp,
                             docs.get(f.name, ""), ranges.get(f.name), f.name in rebuild and not prefix, none_list))
    return out


def to_flat(cfg: PlannerConfig) -> dict[str, Any]:
    """{dotted name: value} of ``cfg`` (a None list as [])."""
    return {f.name: f.default for f in flat_fields(PlannerConfig, default=cfg)}


def from_flat(flat: dict[str, Any], base: PlannerConfig | None = None) -> PlannerConfig:
    """PlannerConfig from {dotted name: value} (e.g. the node's parameters); names not given keep
    ``base``'s values (default: the defaults). [] for an optional list means None."""
    optional_lists = {f.name for f in flat_fields() if f.none_is_empty}
    over = {k: (None if k in optional_lists and isinstance(v, (list, tuple)) and len(v) == 0 else v)
            for k, v in flat.items()}
    return planner_config(over, base)
