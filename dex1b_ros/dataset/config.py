"""``BuildConfig``: what ``dex1b dataset build`` makes (YAML -> dataclass, validated on load).

Units: lengths in mm where the field name says ``_mm``, otherwise m; counts per task. See
``config/dataset/tiny.yaml`` (a ~1-2 min demo) and ``config/dataset/default.yaml``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..config_utils import fail, to_dict
from ..generator.train import TrainConfig


@dataclass
class ObjectsConfig:
    """Objects of the build: explicit ids, else the first N of a split (YCB, then procedural per kind)."""

    ids: list[str] = field(default_factory=list)   # e.g. ["ycb:011_banana", "proc:box:3"]
    split: str = "train"                            # train | val | test (used when ids is empty)
    ycb: int = 4                                    # first N YCB objects of the split
    proc_per_kind: int = 1                          # first N procedural seeds of every kind

    def __post_init__(self):
        if self.split not in ("train", "val", "test"):
            fail("split", f"expected train, val or test, got {self.split!r}")
        for k in ("ycb", "proc_per_kind"):
            if getattr(self, k) < 0:
                fail(k, f"must be >= 0, got {getattr(self, k)}")
        if not self.ids and self.ycb == 0 and self.proc_per_kind == 0:
            fail("ids", "no objects: give ids or a positive ycb / proc_per_kind")

    def resolve(self) -> list[str]:
        if self.ids:
            return list(self.ids)
        from ..objects import KINDS, load_split
        ids = load_split(self.split, sources=("ycb",))[: self.ycb]
        proc = load_split(self.split, sources=("proc",))
        for kind in KINDS:
            ids += [o for o in proc if o.split(":")[1] == kind][: self.proc_per_kind]
        return ids


@dataclass
class SeedRoundConfig:
    """Round 0: grasps by synthesis optimisation (DexGraspNet-style energy incl. force closure)."""

    grasps_per_task: int = 64        # synthesised per task
    tasks_per_object: int = 1        # tasks (shards) per object
    steps: int = 200                 # optimiser steps

    def __post_init__(self):
        for k in ("grasps_per_task", "tasks_per_object", "steps"):
            if getattr(self, k) < 1:
                fail(k, f"must be >= 1, got {getattr(self, k)}")


@dataclass
class GenerateRoundConfig:
    """Rounds >= 1: sample from the generator, refine, pre-filter, validate."""

    samples_per_task: int = 128      # generator samples per task
    tasks_per_object: int = 1
    temperature: float = 1.0         # z ~ N(0, temperature^2)
    refine_steps: int = 60           # post-optimisation steps (refinement_config)
    cloud_points: int = 1024         # full-surface farthest-point samples the generator conditions on

    def __post_init__(self):
        for k in ("samples_per_task", "tasks_per_object", "cloud_points"):
            if getattr(self, k) < 1:
                fail(k, f"must be >= 1, got {getattr(self, k)}")
        if self.refine_steps < 0:
            fail("refine_steps", f"must be >= 0, got {self.refine_steps}")
        if self.cloud_points < 16:
            fail("cloud_points", f"must be >= 16, got {self.cloud_points}")
        if self.temperature <= 0:
            fail("temperature", f"must be > 0, got {self.temperature}")


@dataclass
class PrefilterConfig:
    """Cheap geometric filter (object SDF) before MuJoCo; applied to seed and generated grasps."""

    max_contact_mm: float = 5.0          # every active finger within this of the surface
    max_penetration_mm: float = 1.0      # deepest sphere / surface-sample penetration
    max_self_penetration_mm: float = 2.0  # summed hand self-penetration
    screen_self_penetration_mm: float = 0.0  # MuJoCo finger overlap above which a grasp is stored as a failure
                                             # ("self_penetration") without simulating; 0 = simulate all

    def __post_init__(self):
        for k in ("max_contact_mm", "max_penetration_mm", "max_self_penetration_mm"):
            if getattr(self, k) <= 0:
                fail(k, f"must be > 0 mm, got {getattr(self, k)}")
        if self.screen_self_penetration_mm < 0:
            fail("screen_self_penetration_mm", f"must be >= 0 mm (0 = off), got {self.screen_self_penetration_mm}")

    def optimizer_kwargs(self) -> dict:
        return dict(max_contact_dist=self.max_contact_mm / 1000, max_penetration=self.max_penetration_mm / 1000,
                    max_self_penetration=self.max_self_penetration_mm / 1000)


@dataclass
class TrainRoundConfig:
    """Generator (DexSimple) training at the start of every round >= 1."""

    init: Path | None = None         # exported generator to start round 1 from (e.g. models/leap); null = fresh
    fine_tune: bool = True           # round R >= 2 starts from round R-1's generator (else from init/fresh)
    steps: int = 300                 # training steps per round
    generator: TrainConfig = field(default_factory=TrainConfig)  # the trainer's config (model: architecture)

    def __post_init__(self):
        if self.steps < 1:
            fail("steps", f"must be >= 1, got {self.steps}")


@dataclass
class TypesConfig:
    """Grasp types and rebalancing (see ``dex1b_ros.dataset.grasp_types``)."""

    contact_tol_mm: float = 5.0      # a finger touches when its nearest candidate is this close to the surface
    cap_per_type: int = 0            # max valid grasps kept per (object, type) over all rounds; 0 = no cap
    assoc_voxel_mm: float = 10.0     # voxel of associated points for the sampling weights

    def __post_init__(self):
        if self.contact_tol_mm <= 0:
            fail("contact_tol_mm", f"must be > 0, got {self.contact_tol_mm}")
        if self.cap_per_type < 0:
            fail("cap_per_type", f"must be >= 0, got {self.cap_per_type}")
        if self.assoc_voxel_mm <= 0:
            fail("assoc_voxel_mm", f"must be > 0, got {self.assoc_voxel_mm}")


@dataclass
class RayConfig:
    """``--engine ray``: actor pools. Address: this, else $RAY_ADDRESS, else a local Ray."""

    address: str | None = None
    proposers: int = 1               # generator/optimizer actors (torch)
    validators: int = 1              # MuJoCo actors (CPU)
    proposer_cpus: float = 1.0
    proposer_gpus: float = 0.0       # e.g. 1.0 on GPU nodes
    validator_cpus: float = 1.0
    train_cpus: float = 1.0
    train_gpus: float = 0.0

    def __post_init__(self):
        for k in ("proposers", "validators"):
            if getattr(self, k) < 1:
                fail(k, f"must be >= 1, got {getattr(self, k)}")
        for k in ("proposer_cpus", "proposer_gpus", "validator_cpus", "train_cpus", "train_gpus"):
            if getattr(self, k) < 0:
                fail(k, f"must be >= 0, got {getattr(self, k)}")


@dataclass
class ReportConfig:
    enabled: bool = True
    render: int = 8                  # grasps rendered into report/grasps.png (0 = none)

    def __post_init__(self):
        if self.render < 0:
            fail("render", f"must be >= 0, got {self.render}")


@dataclass
class BuildConfig:
    """One dataset build. Output layout: see ``dex1b_ros.dataset.store``."""

    name: str = "dataset"
    hand: str = "leap"
    out: Path = Path("out/dataset")
    rounds: int = 2                  # total rounds including round 0 (seed)
    seed: int = 0
    objects: ObjectsConfig = field(default_factory=ObjectsConfig)
    round0: SeedRoundConfig = field(default_factory=SeedRoundConfig)
    generate: GenerateRoundConfig = field(default_factory=GenerateRoundConfig)
    prefilter: PrefilterConfig = field(default_factory=PrefilterConfig)
    train: TrainRoundConfig = field(default_factory=TrainRoundConfig)
    types: TypesConfig = field(default_factory=TypesConfig)
    keep_invalid: bool = False       # also store validated-but-failed grasps (success = false)
    threads: int = 1                 # torch threads inside each task (1: bit-reproducible everywhere)
    engine: Literal["embedded", "ray"] = "embedded"
    workers: int = 2                 # embedded engine: processes (1 = run in this process)
    ray: RayConfig = field(default_factory=RayConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    hands_dir: Path | None = None
    keep_generators: Literal["all", "last"] = "all"   # "last": a round's generator weights are deleted once
                                     # nothing of the build needs them (the next round's generator trained,
                                     # their round's tasks done); a RETIRED.json keeps their digest. Storage
                                     # only (``data/`` in git has a budget): the records are unchanged
    seal_from_round: int | None = None  # seal every finished round >= this one: its task shards become one
                                     # file (half the bytes a row; ``store.seal_round``). None = never. Storage
                                     # only; rounds already committed as task shards stay as they are (data/ is
                                     # append-only), so set it to the first round not yet committed

    def __post_init__(self):
        if self.keep_generators not in ("all", "last"):
            fail("keep_generators", f"expected all or last, got {self.keep_generators!r}")
        if self.rounds < 1:
            fail("rounds", f"must be >= 1, got {self.rounds}")
        if self.seal_from_round is not None and self.seal_from_round < 0:
            fail("seal_from_round", f"must be >= 0 or null, got {self.seal_from_round}")
        if self.threads < 1:
            fail("threads", f"must be >= 1, got {self.threads}")
        if self.workers < 1:
            fail("workers", f"must be >= 1, got {self.workers}")
        if self.engine not in ("embedded", "ray"):
            fail("engine", f"expected embedded or ray, got {self.engine!r}")
        if not self.name or "/" in self.name:
            fail("name", f"must be a non-empty name without '/', got {self.name!r}")

    # fields that change how a build runs, not what it makes
    _RUNTIME = ("out", "engine", "workers", "ray", "report", "hands_dir", "keep_generators", "seal_from_round")

    # fields added to the code after builds were committed, with the value that does what the code did
    # before they existed: at that value they are left out of the hash, so committed builds keep
    # their hash and resume (any other value is a different build)
    _ADDED_AT = {("train", "generator", "model", "penetration"): "cloud", ("train", "generator", "sdf_resolution"): 40,
                 ("train", "generator", "model", "w_prior"): 0.0,
                 ("train", "generator", "model", "w_assoc"): 0.0,
                 ("train", "generator", "model", "table_frame"): False, ("train", "generator", "model", "w_table"): 0.0,
                 ("train", "generator", "table_margin"): 0.001}

    def content_hash(self) -> str:
        """sha256 (16 hex) of every field that changes the output (not engine, workers, out, report)."""
        return hashlib.sha256(json.dumps(self.output_fields(), sort_keys=True).encode()).hexdigest()[:16]

    def output_fields(self, exclude_rounds: bool = False) -> dict:
        """The fields hashed by :meth:`content_hash` as plain JSON values; ``exclude_rounds`` drops
        ``rounds`` (round r's tasks never depend on how many rounds follow, so a build grows by rounds)."""
        d = {k: v for k, v in to_dict(self).items()
             if k not in self._RUNTIME and not (exclude_rounds and k == "rounds")}
        return self.without_added_defaults(json.loads(json.dumps(d, default=str)))

    @classmethod
    def without_added_defaults(cls, d: dict) -> dict:
        """``d`` (a config as plain JSON values, e.g. a build.json's) without the ``_ADDED_AT`` fields
        that hold their old-behaviour value (in place; returned)."""
        for path, old in cls._ADDED_AT.items():
            parent = d
            for k in path[:-1]:
                parent = parent.get(k) if isinstance(parent, dict) else None
            if isinstance(parent, dict) and parent.get(path[-1]) == old:
                del parent[path[-1]]
        return d
