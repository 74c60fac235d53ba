"""``EvaluatorConfig``: every setting of the learned grasp evaluator's model and training.

Loaded from YAML with :func:`dex1b_ros.config_utils.load_yaml` (unknown keys and bad values
raise ``ConfigError`` naming the field); every field is also a ``dex1b train-evaluator`` flag.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..config_fields import Range, between, check_ranges, ge, gt


@dataclass
class EvaluatorConfig:
    """Model and training settings. Lengths m, angles deg."""

    # ---- model
    n_points: int = 256             # -, cloud points per grasp fed to the network (random subset of a view)
    width: int = 128                # -, channels of the per-point MLP's last layer (64 before it)
    plane_features: bool = False    # -, also feed the support plane seen from the wrist (up direction, wrist
                                    #    and fingertip heights; evaluator.model.plane_features); needs --plans
                                    #    (candidates planned with a table), and a plane at plan time
    energy_features: bool = False   # -, also feed the refinement's energy terms, contact distance and penetration
                                    #    against the planner's guessed object (evaluator.model.energy_features);
                                    #    needs --plans (the planner's candidates carry them)
    finger_pool: bool = False       # -, also pool the point features around each fingertip (softmin of the
                                    #    distance, 1 cm; evaluator.model.GraspEvaluator): the surface where each
                                    #    finger lands, not only the whole view's max / mean
    # ---- data
    views_per_object: int = 8       # -, single-view renders cached per object (one picked at random per sample)
    view_points: int = 512          # -, points per cached render (farthest-point thinned)
    val_fraction: float = 0.15      # -, share of the training objects held out (by object id hash) for validation
                                    #    and for the decision threshold
    # ---- optimisation
    steps: int = 2500               # -, optimiser steps
    batch: int = 128                # -, grasps per step
    lr: float = 2e-3                # -, AdamW learning rate (cosine decay to 5 % over ``steps``)
    weight_decay: float = 1e-4      # -, AdamW weight decay
    lift_weight: float = 0.5        # -, weight of the lift head's loss (the free-space head weighs 1)
    max_pos_weight: float = 20.0    # -, cap of the positive-class weight (class balancing) of each head
    rank_weight: float = 0.0        # -, weight of a listwise ranking loss within each plan's candidates (needs
                                    #    --plans): the good candidates of a plan above its bad ones
    rank_checked: bool = False      # -, rank only the candidates that passed the node's check (<folder>_check)
                                    #    in the ranking loss (labels: scripts/plan_check_labels.py): the node
                                    #    takes the first candidate in the evaluator's order that passes its
                                    #    MuJoCo check on the guess, so only their order matters
    rank_plans: int = 4             # -, plans per step for the ranking loss (all candidates of each)
    seed: int = 0                   # -, seed of the split, the sampling and the initialisation
    # ---- decision threshold
    target_precision: float = 0.9   # -, the threshold is the lowest probability at which validation precision
                                    #    (free-space head) reaches this

    RANGES: ClassVar[dict[str, Range]] = {
        "n_points": ge(16), "width": ge(8), "views_per_object": ge(1), "view_points": ge(16),
        "val_fraction": between(0.0, 1.0, lo_open=True, hi_open=True), "steps": ge(1), "batch": ge(2),
        "lr": gt(0.0), "weight_decay": ge(0.0), "lift_weight": ge(0.0), "max_pos_weight": ge(1.0),
        "rank_weight": ge(0.0), "rank_plans": ge(1),
        "seed": ge(0), "target_precision": between(0.0, 1.0, lo_open=True)}

    def __post_init__(self):
        check_ranges(self, self.RANGES)
        if self.n_points > self.view_points:
            from ..config_utils import fail
            fail("n_points", f"must be <= view_points ({self.view_points}), got {self.n_points}")


__all__ = ["EvaluatorConfig"]
