"""Planner-facing data types shared by the core pipeline and the ROS adapter (no ROS here).

Frames and units: everything is in the *planning frame* (the frame the cloud was
transformed into), metres and radians. Joint vectors are in the hand driver's order
(``HandConfig.joint_names``), simulation convention (driver offsets are applied only by
the ROS output adapters). Quaternions are (w, x, y, z).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

#: progress(stage, fraction_of_whole_plan, detail): stage in preprocess|sample|refine|validate|publish
ProgressFn = Callable[[str, float, str], None]
#: cancel() -> True when the caller wants the plan to stop as soon as possible
CancelFn = Callable[[], bool]


@dataclass
class PlannedGrasp:
    wrist_pos: np.ndarray           # (3,) m, palm-frame origin in the planning frame
    wrist_quat: np.ndarray          # (4,) (w, x, y, z), palm-frame orientation in the planning frame
    pregrasp: np.ndarray            # (J,) rad, open approach posture
    grasp: np.ndarray               # (J,) rad, fingers on the surface
    squeeze: np.ndarray             # (J,) rad, pressed slightly into the object
    approach: np.ndarray | None = None  # (J,) rad, the fingers while the arm brings the wrist to wrist_pos (the
                                    # trajectory's first point; opened only as far as the hand stays above the
                                    # support plane); None = the hand's open pose
    score: float = 0.0              # ranking score, higher is better: 2 x passed the check + 1 x accepted
                                    # + 1 / (1 + energy) (with an evaluator: + its probability instead);
                                    # a pass under validation.pass_order steadiest: 2 + 1 / (1 + its
                                    # displacement in the check, mm), so the order and the score agree
    energy: float = float("nan")    # optimizer energy (lower is better)
    contact_distance_mm: float = float("nan")
    penetration_mm: float = float("nan")
    self_penetration_mm: float = float("nan")
    num_contacts: int = -1          # hand-object contacts in simulation; -1 = not simulated
    validated: bool = False         # checked in MuJoCo
    sim_success: bool = False       # MuJoCo verdict (meaningful when validated)
    grasp_type: str = ""
    source: str = ""                # "generator+refinement", "optimizer", ...
    evaluator_prob: float | None = None   # success probability from a learned grasp evaluator; None = none ran
    predicted_success: bool = False  # the planner's verdict: sim_success and (no evaluator ran or
                                    # evaluator_prob >= ranking.evaluator_threshold)


@dataclass
class PlanScene:
    """What the planner made of the cloud, kept on request (``GraspPipeline.plan(keep_scene=True)``)
    for viewers and saved plans. Planning frame, metres.

    * ``object_points`` (N, 3): the object's points after preprocessing (table and clutter removed).
    * ``hull_vertices`` (V, 3), ``hull_faces`` (F, 3) int: the completed object the planner assumed
      (convex hull of the cloud, or of a single view mirrored behind itself); (0, 3) when none.
    * ``support_plane`` (4,) [a, b, c, d], unit normal up (a x + b y + c z + d = 0), or None.
    * ``partial``: the cloud was one-sided (a single view, completed by symmetry).
    * ``raw_points`` (M, 3) or None: the cloud as given to ``plan`` (may hold NaN), not copied.
    """

    object_points: np.ndarray
    hull_vertices: np.ndarray
    hull_faces: np.ndarray
    support_plane: np.ndarray | None = None
    partial: bool = False
    raw_points: np.ndarray | None = None


@dataclass
class PlanResult:
    success: bool
    message: str                    # why it failed, or a one-line summary
    hand: str = ""
    joint_names: list[str] = field(default_factory=list)
    grasps: list[PlannedGrasp] = field(default_factory=list)   # ranked, best first
    timings: dict[str, float] = field(default_factory=dict)    # seconds per stage
    info: str = ""                  # human-readable details (stages run, model used)
    scene: PlanScene | None = None  # filled only when asked (keep_scene=True), as far as the plan got

    @staticmethod
    def failure(message: str, **kw) -> "PlanResult":
        return PlanResult(success=False, message=message, **kw)


class Planner(Protocol):
    """What the ROS node needs from the core: plan grasps for one raw cloud.

    The planner owns perception: the node only converts the message and transforms the points
    into the planning frame. A planner may also have ``config`` (a
    :class:`~dex1b_ros.planner.config.PlannerConfig`) and ``configure(config)``: the node then
    hands it its parameters at start-up and whenever one changes at run time."""

    hand_name: str
    joint_names: list[str]

    def plan(self, points: np.ndarray, normals: np.ndarray | None = None, num_grasps: int = 0,
             progress: ProgressFn | None = None, cancel: CancelFn | None = None,
             support_plane: np.ndarray | None = None) -> PlanResult:
        """points: (N, 3) float m in the planning frame, the raw cloud (object, table, clutter,
        NaN: the planner's preprocessing finds the object). normals: (N, 3) or None.
        num_grasps: grasps wanted, <= 0 = the planner's default. support_plane: (4,) [a, b, c, d],
        unit normal up: the table the object stands on when the caller knows it (the hand must
        stay above it), or None (the planner looks for one). Bad input gives a failed
        PlanResult, never an exception."""
        ...
