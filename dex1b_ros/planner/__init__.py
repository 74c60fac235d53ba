"""Grasp planning pipeline (no ROS): cloud -> sampled/optimised grasps -> validated, ranked."""
from .types import CancelFn, PlannedGrasp, Planner, PlanResult, ProgressFn

__all__ = ["CancelFn", "PlannedGrasp", "PlanResult", "Planner", "ProgressFn"]
