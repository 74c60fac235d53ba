"""Learned grasp evaluator (no ROS): from ONE camera view of an object and a hand grasp, the
probability that the grasp holds the TRUE object (free-space six-direction test) and that it
lifts it off a table.

* :mod:`.config`: :class:`EvaluatorConfig` (every training / model setting, YAML-loadable).
* :mod:`.model`: :class:`GraspEvaluator` (PointNet-style classifier) and :func:`grasp_features`
  (the single-view cloud expressed in the grasp's wrist frame, with the hand's fingertips).
* :mod:`.data`: training data: dataset records + cached single-view renders per object.
* :mod:`.collect`: ``dex1b collect-plans``: the planner's own candidates on single views of training
  objects, labelled on the true object (``data/leap_plans``; relabelled with the table-aware
  pregrasp: ``data/leap_plans_table``, the shipped model's training data).
* :mod:`.train`: training loop, metrics, export (safetensors + model card), loader, and
  ``dex1b train-evaluator``.
"""
from __future__ import annotations

_LAZY = {"EvaluatorConfig": "config", "GraspEvaluator": "model", "grasp_features": "model",
         "load_evaluator": "io", "save_evaluator": "io", "EvaluatorLoadError": "io",
         "LoadedEvaluator": "io"}
__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(name)
