"""Construction of the real grasp planner for the ROS node (no rclpy import here).

The node never builds a planner itself: it calls :func:`make_planner` (or gets one injected
through its constructor, which is how the tests pass a fake). The real planner,
``dex1b_ros.planner.pipeline.GraspPipeline``, is imported lazily so the node module loads (and
its parameters can be declared and inspected) even where the pipeline or torch is missing.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from ..planner.config import PlannerConfig, planner_config
from ..planner.types import Planner

PIPELINE_MODULE = "dex1b_ros.planner.pipeline"
PIPELINE_CLASS = "GraspPipeline"


class PlannerUnavailable(RuntimeError):
    """The real planner cannot be constructed (module missing, model missing, bad settings)."""


_D = PlannerConfig()


@dataclass
class PlannerParams:
    """The node's planner settings before :class:`PlannerConfig` (a flat subset of it), kept for
    existing callers; its defaults ARE PlannerConfig's. :meth:`planner_config` converts."""

    hand: str = _D.hand
    hands_dir: str = _D.hands_dir
    model_path: str = _D.model_path
    device: str = _D.device
    num_samples: int = _D.sampling.num_samples
    refine_steps: int = _D.refinement.refine_steps
    num_validate: int = _D.validation.num_validate
    top_k: int = _D.ranking.top_k
    torch_threads: int = _D.torch_threads
    warmup: bool = _D.warmup

    def __post_init__(self):
        self.planner_config()   # validates; errors name the PlannerConfig field

    def planner_config(self, base: PlannerConfig | None = None) -> PlannerConfig:
        return planner_config({"hand": self.hand, "hands_dir": self.hands_dir, "model_path": self.model_path,
                               "device": self.device, "torch_threads": self.torch_threads, "warmup": self.warmup,
                               "sampling.num_samples": self.num_samples, "refinement.refine_steps": self.refine_steps,
                               "validation.num_validate": self.num_validate, "ranking.top_k": self.top_k}, base)


def make_planner(config: PlannerConfig | PlannerParams) -> Planner:
    """Build ``GraspPipeline`` from ``config`` (sets the process's torch threads when
    ``torch_threads`` > 0, and runs the planner's ``warmup`` when ``warmup``).

    Raises PlannerUnavailable with a clear message when the pipeline module does not exist yet,
    lacks the class, or its constructor fails (e.g. a missing model file or hand model).
    """
    if isinstance(config, PlannerParams):
        config = config.planner_config()
    try:
        mod = importlib.import_module(PIPELINE_MODULE)
    except ModuleNotFoundError as e:
        if e.name in (PIPELINE_MODULE, "dex1b_ros.planner"):
            raise PlannerUnavailable(f"the grasp planning pipeline is not available: module {PIPELINE_MODULE} "
                                     "does not exist in this installation") from None
        raise PlannerUnavailable(f"cannot import {PIPELINE_MODULE}: missing dependency {e.name!r}") from None
    cls = getattr(mod, PIPELINE_CLASS, None)
    if cls is None:
        raise PlannerUnavailable(f"{PIPELINE_MODULE} has no class {PIPELINE_CLASS}")
    if config.torch_threads > 0:
        import torch
        torch.set_num_threads(config.torch_threads)
    try:
        planner = cls(config=config)
    except Exception as e:
        raise PlannerUnavailable(f"{PIPELINE_CLASS}({config.hand!r}) failed: {type(e).__name__}: {e}") from e
    for attr in ("plan", "hand_name", "joint_names"):
        if not hasattr(planner, attr):
            raise PlannerUnavailable(f"{PIPELINE_CLASS} does not implement the Planner protocol (no {attr!r})")
    if config.warmup and hasattr(planner, "warmup"):
        planner.warmup()
    return planner
