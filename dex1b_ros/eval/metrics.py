"""Evaluation metrics (no ROS, no torch): diversity, type entropy, success counting, cost.

Every function here works on plain numpy arrays so it can be tested on constructed cases.

* :func:`pose_features`: one row per grasp, ``[translation (3) m, axis-angle (3) rad, joints (J) rad]``.
* :func:`pca_cumulative_variance`: diversity as the cumulative explained-variance ratio of the
  first ``k`` principal components of the *standardised* features (each column divided by its
  own standard deviation over the set; constant columns stay 0). Lower = the variance is
  spread over more directions = more diverse. A set with no variance at all (identical
  grasps, or a single grasp) is degenerate: the ratio is defined as 1.0 (least diverse).
  Only sets of the same size are comparable (n grasps span at most n - 1 directions).
* :func:`label_entropy`: Shannon entropy (bits) of grasp-type labels; higher = more diverse.
* :class:`Counts` / :func:`cpu_seconds_per_valid`: success counting and CPU-seconds per
  valid grasp; zero valid grasps give ``inf`` (never a division error, never 0).
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np


def quat_to_axis_angle(quat: np.ndarray) -> np.ndarray:
    """(B, 4) unit quaternions (w, x, y, z) -> (B, 3) axis * angle (rad), angle in [0, pi].

    q and -q give the same vector (the sign is fixed by w >= 0)."""
    q = np.asarray(quat, dtype=np.float64).reshape(-1, 4)
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    q = np.where(q[:, :1] < 0, -q, q)
    s = np.linalg.norm(q[:, 1:], axis=1)
    angle = 2.0 * np.arctan2(s, q[:, 0])
    # angle / sin(angle / 2) -> 2 as s -> 0
    factor = np.where(s > 1e-12, angle / np.maximum(s, 1e-12), 2.0)
    return q[:, 1:] * factor[:, None]


def pose_features(trans: np.ndarray, quat: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(B, 6 + J) features ``[translation m, axis-angle rad, joints rad]`` of B grasps.

    trans (B, 3) m, quat (B, 4) wxyz, joints (B, J) rad (the grasp joint vector)."""
    t = np.asarray(trans, dtype=np.float64).reshape(-1, 3)
    j = np.asarray(joints, dtype=np.float64)
    j = j.reshape(len(t), -1)
    return np.concatenate([t, quat_to_axis_angle(quat), j], axis=1)


def pca_cumulative_variance(features: np.ndarray, k: int) -> float:
    """Cumulative explained-variance ratio of the first ``k`` principal components.

    features (n, D). Columns are centred and divided by their standard deviation over the set
    (columns with std < 1e-12 are left at 0). Returns a value in (0, 1]: 1.0 when all the
    variance lies in <= k directions, including the degenerate case of zero total variance
    (identical grasps, n <= 1); about k / D for isotropic random features with n >> D.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must be (n, D), got shape {x.shape}")
    if len(x) < 2:
        return 1.0
    x = x - x.mean(0)
    std = x.std(0)
    x = np.where(std > 1e-12, x / np.where(std > 1e-12, std, 1.0), 0.0)
    sv = np.linalg.svd(x, compute_uv=False)
    var = sv ** 2
    total = float(var.sum())
    if total <= 1e-12:
        return 1.0
    return float(min(1.0, var[:k].sum() / total))


def label_entropy(labels) -> float:
    """Shannon entropy in bits of the histogram of ``labels`` (any hashables); 0 for <= 1 type."""
    counts = np.array(list(Counter(labels).values()), dtype=np.float64)
    if counts.size <= 1:
        return 0.0
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def active_finger_labels(active: np.ndarray, tip_names) -> list[str]:
    """Fallback grasp type: the set of active fingers, e.g. ``"thumb+index"`` (``"none"``)."""
    return ["+".join(n for n, a in zip(tip_names, row) if a) or "none" for row in np.asarray(active, bool)]


def cpu_seconds_per_valid(cpu_seconds: float, n_valid: float) -> float:
    """CPU-seconds spent per valid grasp. ``n_valid`` may be an estimate (fractional);
    ``n_valid <= 0`` -> ``inf`` (the money was spent, nothing usable came out)."""
    if cpu_seconds < 0:
        raise ValueError(f"cpu_seconds must be >= 0, got {cpu_seconds}")
    if not n_valid > 0:
        return math.inf
    return float(cpu_seconds) / float(n_valid)


@dataclass
class Counts:
    """Success counting for one method over one or many objects.

    ``produced``: grasps the method output; ``evaluated``: how many of them were simulated (a
    uniform random subset when the output is large); ``success`` / ``lift``: how many of the
    evaluated passed the six-direction test / the tabletop lift. The number of valid grasps the
    method produced is estimated per object as ``produced * success / evaluated`` (exact when
    every output grasp was evaluated) and summed over objects.
    """

    produced: int = 0
    evaluated: int = 0
    success: int = 0
    lift: int = 0
    valid_estimate: float = 0.0
    cpu_seconds: float = 0.0
    objects: int = 0
    extra: dict = field(default_factory=dict)

    def add_object(self, produced: int, success: np.ndarray, lift: np.ndarray, cpu_seconds: float) -> None:
        """One object's result: ``success`` / ``lift`` (n_eval,) bool over the evaluated grasps."""
        s = np.asarray(success, bool)
        lf = np.asarray(lift, bool)
        if len(s) != len(lf):
            raise ValueError(f"success and lift must have the same length, got {len(s)} and {len(lf)}")
        if len(s) > produced:
            raise ValueError(f"evaluated {len(s)} grasps but only {produced} were produced")
        self.produced += int(produced)
        self.evaluated += len(s)
        self.success += int(s.sum())
        self.lift += int(lf.sum())
        if len(s):
            self.valid_estimate += produced * float(s.mean())
        self.cpu_seconds += float(cpu_seconds)
        self.objects += 1

    @property
    def success_rate(self) -> float:
        """Fraction of evaluated grasps that passed (NaN when none was evaluated)."""
        return self.success / self.evaluated if self.evaluated else math.nan

    @property
    def lift_rate(self) -> float:
        return self.lift / self.evaluated if self.evaluated else math.nan

    @property
    def cpu_per_valid(self) -> float:
        return cpu_seconds_per_valid(self.cpu_seconds, self.valid_estimate)
