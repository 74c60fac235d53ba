"""Construction of the real grasp planner for the ROS node (no rclpy import here).

The node never builds a planner itself: it calls :func:`make_planner` (or gets one injected
through its constructor, which is how the tests pass a fake). The real planner,
``dex1b_ros.planner.pipeline.GraspPipeline``, is imported lazily so the node module loads (and
its parameters can be declared and inspected) even where the pipeline or torch is missing.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from ..config_utils import fail
from ..planner.types import Planner

PIPELINE_MODULE = "dex1b_ros.planner.pipeline"
PIPELINE_CLASS = "GraspPipeline"


class PlannerUnavailable(RuntimeError):
    """The real planner cannot be constructed (module missing, model missing, bad settings)."""


@dataclass
class PlannerParams:
    """What the planner is built from (the node's parameters of the same names)."""

    hand: str = "leap"              # hand name (config/hands/<hand>.yaml)
    hands_dir: str = ""             # directory of hand model folders; "" = default search path
    model_path: str = ""            # generator weights; "" = the shipped model (or optimizer-only if none)
    device: str = "cpu"             # torch device, "cpu" or "cuda[:i]"
    num_samples: int = 96           # -, grasp candidates sampled per plan
    refine_steps: int = 50          # -, gradient steps of the post-optimisation
    num_validate: int = 8           # -, best candidates checked in MuJoCo (0 = none)
    top_k: int = 5                  # -, grasps returned (ranked)
    torch_threads: int = 1          # -, torch CPU threads of the planner process (0 = torch's default);
                                    # 1 measured fastest: planning batches are small, so more threads
                                    # mostly add contention with the node's other threads and processes
    warmup: bool = True             # plan once on a synthetic cloud while loading, so the first request
                                    # does not pay one-time costs (~1 s)

    def __post_init__(self):
        if not self.hand:
            fail("hand", "must not be empty")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            fail("device", f"expected 'cpu' or 'cuda[:i]', got {self.device!r}")
        for name, lo in (("num_samples", 1), ("refine_steps", 0), ("num_validate", 0), ("top_k", 1),
                         ("torch_threads", 0)):
            v = getattr(self, name)
            if v < lo:
                fail(name, f"must be >= {lo}, got {v}")
        if self.top_k > self.num_samples:
            fail("top_k", f"must be <= num_samples ({self.num_samples}), got {self.top_k}")


def make_planner(params: PlannerParams) -> Planner:
    """Build ``GraspPipeline`` from ``params`` (sets the process's torch threads when
    ``torch_threads`` > 0, and runs the planner's ``warmup`` when ``warmup``).

    Raises PlannerUnavailable with a clear message when the pipeline module does not exist yet,
    lacks the class, or its constructor fails (e.g. a missing model file or hand model).
    """
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
    if params.torch_threads > 0:
        import torch
        torch.set_num_threads(params.torch_threads)
    try:
        planner = cls(hand=params.hand, hands_dir=params.hands_dir or None, device=params.device,
                      num_samples=params.num_samples, refine_steps=params.refine_steps,
                      num_validate=params.num_validate, top_k=params.top_k, model_path=params.model_path or None)
    except Exception as e:
        raise PlannerUnavailable(f"{PIPELINE_CLASS}({params.hand!r}) failed: {type(e).__name__}: {e}") from e
    for attr in ("plan", "hand_name", "joint_names"):
        if not hasattr(planner, attr):
            raise PlannerUnavailable(f"{PIPELINE_CLASS} does not implement the Planner protocol (no {attr!r})")
    if params.warmup and hasattr(planner, "warmup"):
        planner.warmup()
    return planner
