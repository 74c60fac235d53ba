"""Grasp optimisation (no ROS): object fields, energy terms, synthesis and refinement."""
from .energy import EnergyWeights, finger_groups, grasp_energy
from .field import ObjectField
from .optimizer import Cancelled, GraspOptimizer, GraspSet, OptimizerConfig, refinement_config, synthesis_config

__all__ = ["Cancelled", "EnergyWeights", "GraspOptimizer", "GraspSet", "ObjectField", "OptimizerConfig",
           "finger_groups", "grasp_energy", "refinement_config", "synthesis_config"]
