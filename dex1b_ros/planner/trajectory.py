"""Open-loop finger trajectory of a planned grasp: open -> pregrasp -> grasp -> squeeze (no ROS).

The hand is assumed to be at (or near) its open pose (or the grasp's ``approach`` posture, when
the planner knew the table: opened only as far as it stays above it) when the trajectory starts; the wrist is
held at the grasp's wrist pose by the arm meanwhile (the trajectory moves the fingers only).
Times are seconds from the start of the trajectory (``time_from_start``), positions radians in
the hand model's SIMULATION convention and the driver's joint order
(``HandConfig.joint_names``); driver offsets (LEAP's +pi) are applied by the ROS adapters.

    timing = TrajectoryTiming(open_time=0.5, pregrasp_duration=1.0, grasp_duration=1.0)
    traj = grasp_trajectory(grasp, open_pose, joint_names, timing)
    q = traj.sample(0.7)                       # (J,) rad, linear interpolation
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config_utils import fail
from .types import PlannedGrasp

#: Labels of the four waypoints, in time order.
WAYPOINTS = ("open", "pregrasp", "grasp", "squeeze")


@dataclass
class TrajectoryTiming:
    """Durations of the finger trajectory's segments, seconds.

    ``open_time`` is the time_from_start of the first (open) waypoint: the time the driver gets
    to bring the fingers from wherever they are to the open pose. Each following waypoint is
    reached ``*_duration`` seconds after the previous one.
    """

    open_time: float = 0.5             # s, time_from_start of the "open" waypoint (> 0)
    pregrasp_duration: float = 1.0     # s, open -> pregrasp (fingers pre-shaped around the object)
    grasp_duration: float = 1.0        # s, pregrasp -> grasp (fingers on the surface)
    squeeze_duration: float = 0.5      # s, grasp -> squeeze (press into the object)

    def __post_init__(self):
        for name in ("open_time", "pregrasp_duration", "grasp_duration", "squeeze_duration"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and np.isfinite(v) and 0.0 < v <= 60.0):
                fail(name, f"must be a duration in (0, 60] s, got {v!r}")

    @property
    def times(self) -> np.ndarray:
        """(4,) s, cumulative time_from_start of open, pregrasp, grasp, squeeze."""
        return np.cumsum([self.open_time, self.pregrasp_duration, self.grasp_duration, self.squeeze_duration])

    @property
    def total(self) -> float:
        """s, time_from_start of the last waypoint."""
        return float(self.times[-1])


@dataclass
class GraspTrajectory:
    """Waypoints of the finger trajectory.

    Attributes:
        joint_names: (J,) names in the driver's order.
        times: (T,) s, strictly increasing time_from_start of each waypoint (T = 4 here).
        positions: (T, J) rad, simulation convention.
        labels: (T,) waypoint names (``WAYPOINTS``).
    """

    joint_names: list[str]
    times: np.ndarray
    positions: np.ndarray
    labels: tuple[str, ...] = WAYPOINTS

    def __post_init__(self):
        self.times = np.asarray(self.times, dtype=np.float64).reshape(-1)
        self.positions = np.asarray(self.positions, dtype=np.float64)
        if self.positions.ndim != 2 or self.positions.shape != (len(self.times), len(self.joint_names)):
            raise ValueError(f"GraspTrajectory: positions must be (T={len(self.times)}, J={len(self.joint_names)}), "
                             f"got {self.positions.shape}")
        if len(self.times) == 0:
            raise ValueError("GraspTrajectory: needs at least one waypoint")
        if np.any(np.diff(self.times) <= 0) or self.times[0] < 0:
            raise ValueError(f"GraspTrajectory: times must be >= 0 and strictly increasing, got {self.times.tolist()}")
        if not np.all(np.isfinite(self.positions)):
            raise ValueError("GraspTrajectory: positions contain NaN/inf")
        if len(self.labels) != len(self.times):
            self.labels = tuple(f"p{i}" for i in range(len(self.times)))

    @property
    def duration(self) -> float:
        """s, time_from_start of the last waypoint."""
        return float(self.times[-1])

    def sample(self, t: float | np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
        """Joint positions at time(s) ``t`` (s from start): linear between waypoints.

        Before the first waypoint: interpolate from ``start`` (J,) at t=0 if given, else hold the
        first waypoint. After the last: hold the last. Returns (J,) for scalar t, else (len(t), J).
        """
        scalar = np.ndim(t) == 0
        tt = np.atleast_1d(np.asarray(t, dtype=np.float64))
        times, pos = self.times, self.positions
        if start is not None and times[0] > 0:
            times = np.concatenate([[0.0], times])
            pos = np.vstack([np.asarray(start, dtype=np.float64).reshape(1, -1), pos])
        out = np.stack([np.interp(tt, times, pos[:, j]) for j in range(pos.shape[1])], axis=-1)
        return out[0] if scalar else out


def grasp_trajectory(grasp: PlannedGrasp, open_pose, joint_names: list[str],
                     timing: TrajectoryTiming | None = None) -> GraspTrajectory:
    """The open -> pregrasp -> grasp -> squeeze trajectory of one planned grasp.

    Args:
        grasp: the planned grasp; its ``pregrasp``/``grasp``/``squeeze`` are (J,) rad.
        open_pose: (J,) rad, the hand's open pose (``HandConfig.open_pose``): the first ("open")
            waypoint, unless the grasp has an ``approach`` posture (planned with a support plane:
            the hand opened only as far as it stays above the table), which is used instead.
        joint_names: (J,) driver order, the order of every joint vector here.
        timing: segment durations (default :class:`TrajectoryTiming`).
    """
    timing = timing or TrajectoryTiming()
    J = len(joint_names)
    rows = []
    first = open_pose if grasp.approach is None else grasp.approach
    for label, q in zip(WAYPOINTS, (first, grasp.pregrasp, grasp.grasp, grasp.squeeze)):
        q = np.asarray(q, dtype=np.float64).reshape(-1)
        if q.shape != (J,):
            raise ValueError(f"grasp_trajectory: {label} has {q.size} joint values, expected {J} ({joint_names})")
        rows.append(q)
    return GraspTrajectory(joint_names=list(joint_names), times=timing.times, positions=np.stack(rows))
