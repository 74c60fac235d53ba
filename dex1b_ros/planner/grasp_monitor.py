"""Closed-loop check of an executed grasp from the measured JOINT POSITIONS, and a wrist load when
there is one (no ROS).

A position-controlled hand follows the planned trajectory open -> pregrasp -> grasp -> squeeze
(:mod:`dex1b_ros.planner.trajectory`). The squeeze target lies past the grasp posture, into
the object (uniform squeeze: ``squeeze_delta`` ~0.08 rad on every moving joint; balanced squeeze,
the default: up to ``squeeze_balanced_delta`` 0.16 rad, joint by joint). With the object between
the fingers, the fingers that were supposed to touch it are stopped near the GRASP posture; with no
object there (a miss) they close freely onto the SQUEEZE target. After the lift, a grasp whose
object slips out lets those fingers close further toward the squeeze target.

Per joint j the monitor measures the *closure past the grasp*, rad::

    c_j(t) = (q_j(t) - grasp_j) * sign(squeeze_j - grasp_j)

on the "squeezing" joints (|squeeze_j - grasp_j| >= ``miss_threshold``: a joint offset less could
never show a miss; the others are not judged). A finger's
closure is the SMALLEST c_j over its squeezing joints: a finger is free only when every one of its
joints reached the squeeze target; a finger on the object has at least one joint held back (its
abduction joint may still move freely). With ``miss_fraction`` > 0 (the default) the miss check
reads each joint's closure as a FRACTION of its offset, c_j / |squeeze_j - grasp_j|: a free finger
reaches ~1 (its servo's tracking error aside) whatever the offset, a holding one stays below; the
balanced squeeze offsets joints unequally (0.065-0.16 rad), which an absolute threshold cannot
follow. Fingers are groups of joints (default: the
joint-name prefix before the first ``_`` or the name without its trailing digits: LEAP ``if_*``,
Allegro ``ffj*``). Verdicts, on time t = seconds from the trajectory start (the hand's clock):

* ``missed``: at ``T + settle_time`` (T = end of the squeeze), at least ``min_fingers`` touching
  fingers closed more than ``miss_fraction`` of their squeeze offset past the grasp posture (with
  ``miss_fraction`` 0: more than ``miss_threshold`` rad);
* ``slipped``: not missed, and at the end of the trace (after the lift, at or after
  ``T + slip_after``) at least ``min_fingers`` fingers closed more than ``slip_threshold`` rad
  further than at ``T + settle_time``;
* the load, when a wrist load signal is given (:meth:`GraspMonitor.update_load`: the weight the
  wrist carries, N, the hand's own weight tared, as a zeroed wrist force/torque sensor or an arm's
  joint-effort estimate gives it), has the last word at the end of the trace: less than
  ``min_load`` carried is ``slipped`` whatever the fingers say (fingers that close onto EACH OTHER
  stop near the grasp posture as if the object stopped them: position-only monitoring cannot see
  it), at least ``min_load`` is ``held`` (two free fingers while two others hold the object look
  like a miss);
* ``held``: neither; ``unknown``: the trace does not reach the time a decision needs.

Each decision averages the samples within ``window`` s after its time (or takes the first later
sample if the window is empty).

    mon = GraspMonitor(traj)                 # GraspTrajectory (grasp, squeeze waypoints)
    for t, q in stream: mon.update(t, q, names)
    v = mon.verdict()                        # MonitorVerdict(state="held" | "missed" | ...)
    v = judge(traj, times, positions, names) # the same on whole arrays
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..config_utils import fail
from .trajectory import GraspTrajectory

STATES = ("held", "missed", "slipped", "unknown")


@dataclass
class MonitorConfig:
    """Thresholds of :class:`GraspMonitor`. Angles in rad, times in s."""

    miss_threshold: float = 0.065  # rad, (0, 1]: joints whose squeeze offset is at least this are judged; with
    #                                miss_fraction 0 also the closure past the grasp posture that means "nothing
    #                                stopped it" (keep it below the offsets minus the servo tracking error)
    miss_fraction: float = 0.9     # [0, 1): a finger whose judged joints all closed more than this fraction of
    #                                their squeeze offset is free (missed); 0 = the absolute miss_threshold
    slip_threshold: float = 0.03   # rad, (0, 1]: further closure after the lift that means "the object left"
    min_fingers: int = 2           # [1, 8]: touching fingers that must agree (capped at the number touching)
    settle_time: float = 0.3       # s, [0, 10]: after the squeeze ends, time the servos get to settle
    slip_after: float = 1.0        # s, [0, 60]: earliest time after the squeeze end for the slip check (the lift)
    window: float = 0.1            # s, (0, 5]: samples averaged per decision
    min_load: float = 0.3          # N, [0, 1000]: with a wrist load signal, the least weight carried after the lift
    #                                that confirms "held" (0 = no load check; a 0.1 kg object weighs 0.98 N)

    def __post_init__(self):
        for name, lo, hi, open_lo in (("miss_threshold", 0.0, 1.0, True), ("miss_fraction", 0.0, 0.999, False),
                                      ("slip_threshold", 0.0, 1.0, True),
                                      ("settle_time", 0.0, 10.0, False), ("slip_after", 0.0, 60.0, False),
                                      ("window", 0.0, 5.0, True), ("min_load", 0.0, 1000.0, False)):
            v = getattr(self, name)
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) and v <= hi
            ok = ok and (v > lo if open_lo else v >= lo)
            if not ok:
                fail(name, f"must be a number in {'(' if open_lo else '['}{lo}, {hi}], got {v!r}")
        if not (isinstance(self.min_fingers, int) and not isinstance(self.min_fingers, bool)
                and 1 <= self.min_fingers <= 8):
            fail("min_fingers", f"must be an integer in [1, 8], got {self.min_fingers!r}")


@dataclass
class MonitorVerdict:
    """What the monitor concluded.

    Attributes:
        state: ``held`` | ``missed`` | ``slipped`` | ``unknown``.
        reason: one line for logs.
        closure: {finger: rad} closure past the grasp posture at ``T + settle_time`` (touching fingers).
        slip: {finger: rad} further closure at the end of the trace (empty before the slip check).
    """

    state: str
    reason: str
    closure: dict[str, float] = field(default_factory=dict)
    slip: dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.state in ("missed", "slipped")


def finger_groups(joint_names: list[str]) -> dict[str, list[int]]:
    """{finger: [joint indices]}: names grouped by the prefix before the first ``_`` (``if_mcp``
    -> ``if``) or, without ``_``, the name without trailing digits (``ffj0`` -> ``ffj``)."""
    out: dict[str, list[int]] = {}
    for i, n in enumerate(joint_names):
        key = n.split("_", 1)[0] if "_" in n else (re.sub(r"\d+$", "", n) or n)
        out.setdefault(key, []).append(i)
    return out


class GraspMonitor:
    """Streaming monitor of one execution of ``traj`` (see the module doc).

    Args:
        traj: the executed trajectory; needs waypoints labelled ``grasp`` and ``squeeze``
            (else the last two waypoints are taken). Joint order: ``traj.joint_names``.
        config: thresholds (default :class:`MonitorConfig`).
        fingers: {finger: [joint names]} to override :func:`finger_groups`.
    """

    def __init__(self, traj: GraspTrajectory, config: MonitorConfig | None = None,
                 fingers: dict[str, list[str]] | None = None):
        self.config = config or MonitorConfig()
        if len(traj.times) < 2:
            raise ValueError(f"GraspMonitor: the trajectory needs grasp and squeeze waypoints, got {len(traj.times)}")
        labels = list(traj.labels)
        ig = labels.index("grasp") if "grasp" in labels else len(labels) - 2
        isq = labels.index("squeeze") if "squeeze" in labels else len(labels) - 1
        self.names = list(traj.joint_names)
        self.grasp = traj.positions[ig].copy()
        self.squeeze = traj.positions[isq].copy()
        self.t_squeeze = float(traj.times[isq])
        d = self.squeeze - self.grasp
        # a joint whose squeeze offset is below the miss threshold could never show a miss (the
        # balanced squeeze offsets joints unequally): only the others judge
        self.sign = np.where(np.abs(d) >= self.config.miss_threshold, np.sign(d), 0.0)
        self.offset = np.maximum(np.abs(d), 1e-9)   # rad, each joint's squeeze offset (the fraction's scale)
        if fingers is None:
            groups = finger_groups(self.names)
        else:
            groups = {}
            for f, js in fingers.items():
                missing = [j for j in js if j not in self.names]
                if missing:
                    raise ValueError(f"GraspMonitor: finger {f!r} names joints {missing} not in the trajectory")
                groups[f] = [self.names.index(j) for j in js]
        #: {finger: [squeezing joint indices]}: the fingers that were supposed to touch
        self.touching = {f: [i for i in idx if self.sign[i] != 0] for f, idx in groups.items()}
        self.touching = {f: idx for f, idx in self.touching.items() if idx}
        self._t: list[float] = []
        self._q: list[np.ndarray] = []
        self._order: tuple[list[str], np.ndarray] | None = None
        self._load_t: list[float] = []
        self._load: list[float] = []

    def update_load(self, t: float, weight: float) -> None:
        """Add one wrist load measurement: ``t`` s from the trajectory start, ``weight`` N the wrist
        carries beyond the hand's own weight (positive down; a tared sensor)."""
        if np.isfinite(t) and np.isfinite(weight):
            self._load_t.append(float(t))
            self._load.append(float(weight))

    # ----------------------------------------------------------------------------------------
    def update(self, t: float, positions, names: list[str] | None = None) -> None:
        """Add one measurement: ``t`` s from the trajectory start, ``positions`` rad (simulation
        convention) in the order of ``names`` (default: the trajectory's joint order; extra
        joints are ignored, a missing one raises ValueError naming it)."""
        q = np.asarray(positions, dtype=np.float64).reshape(-1)
        if names is not None and list(names) != self.names:
            names = list(names)
            if self._order is None or self._order[0] != names:
                missing = [n for n in self.names if n not in names]
                if missing:
                    raise ValueError(f"GraspMonitor.update: joint state lacks joints {missing}")
                self._order = (names, np.array([names.index(n) for n in self.names]))
            if q.size != len(names):
                raise ValueError(f"GraspMonitor.update: {q.size} positions for {len(names)} names")
            q = q[self._order[1]]
        elif q.size != len(self.names):
            raise ValueError(f"GraspMonitor.update: {q.size} positions, expected {len(self.names)} ({self.names})")
        if not np.all(np.isfinite(q)) or not np.isfinite(t):
            return   # a corrupt sample carries no information
        self._t.append(float(t))
        self._q.append(q)

    @property
    def samples(self) -> int:
        return len(self._t)

    @property
    def last_time(self) -> float:
        return self._t[-1] if self._t else float("-inf")

    def decision_times(self) -> tuple[float, float]:
        """(miss check, earliest slip check), s from the trajectory start."""
        c = self.config
        return self.t_squeeze + c.settle_time, self.t_squeeze + max(c.slip_after, c.settle_time + c.window)

    def _mean_at(self, t0: float) -> np.ndarray | None:
        t = np.asarray(self._t)
        sel = (t >= t0) & (t <= t0 + self.config.window)
        if not sel.any():
            later = np.nonzero(t >= t0)[0]
            if later.size == 0:
                return None
            sel = np.zeros_like(t, dtype=bool)
            sel[later[np.argmin(t[later])]] = True
        return np.mean(np.asarray(self._q)[sel], axis=0)

    def _closure(self, q: np.ndarray, fraction: bool = False) -> dict[str, float]:
        """Per touching finger the smallest closure past the grasp posture of its judged joints: rad,
        or with ``fraction`` as a fraction of each joint's squeeze offset."""
        c = (q - self.grasp) * self.sign
        if fraction:
            c = c / self.offset
        return {f: float(np.min(c[idx])) for f, idx in self.touching.items()}

    def verdict(self, final: bool = True) -> MonitorVerdict:
        """The verdict so far. ``final=False``: only the miss check (``held`` means "not missed
        yet, slip not checked"); ``final=True``: also the slip check on the last ``window`` s and,
        with load samples after the lift (``min_load`` > 0), the load check, which has the last word:
        the fingers' "held" with less than ``min_load`` carried is "slipped", their "missed" or
        "slipped" with at least ``min_load`` carried is "held" (the object came up with the hand)."""
        v = self._finger_verdict(final)
        c = self.config
        if not final or c.min_load <= 0 or v.state == "unknown":
            return v
        carried = self._load_at_end(self.decision_times()[1])
        if carried is None:
            return v
        if v.state == "held" and carried < c.min_load:
            return MonitorVerdict("slipped", f"the lift carries no load ({carried:+.2f} N < {c.min_load:g} N) "
                                             f"although the {v.reason}", v.closure, v.slip)
        if v.state != "held" and carried >= c.min_load:
            return MonitorVerdict("held", f"the lift carries {carried:+.2f} N (>= {c.min_load:g} N) although "
                                          f"{v.state}: {v.reason}", v.closure, v.slip)
        return MonitorVerdict(v.state, f"{v.reason}; the wrist carries {carried:+.2f} N", v.closure, v.slip)

    def _finger_verdict(self, final: bool) -> MonitorVerdict:
        """:meth:`verdict` from the finger positions alone."""
        c = self.config
        if not self.touching:
            return MonitorVerdict("unknown", "no joint moves from grasp to squeeze: nothing to check")
        need = min(c.min_fingers, len(self.touching))
        t_miss, t_slip = self.decision_times()
        q_settled = self._mean_at(t_miss)
        if q_settled is None:
            return MonitorVerdict("unknown", f"no joint state at or after t = {t_miss:.2f} s "
                                             f"(last at {self.last_time:.2f} s, {self.samples} samples)")
        closure = self._closure(q_settled)
        fmt = lambda d: ", ".join(f"{f} {v:+.3f}" for f, v in sorted(d.items()))
        if c.miss_fraction > 0:
            frac = self._closure(q_settled, fraction=True)
            closed = sorted(f for f, v in frac.items() if v > c.miss_fraction)
            why = (f"closed > {c.miss_fraction:g} of their squeeze offset past the grasp posture "
                   f"(fractions {fmt(frac)}; {fmt(closure)} rad)")
        else:
            closed = sorted(f for f, v in closure.items() if v > c.miss_threshold)
            why = f"closed > {c.miss_threshold} rad past the grasp posture ({fmt(closure)} rad)"
        if len(closed) >= need:
            return MonitorVerdict("missed", f"{len(closed)}/{len(closure)} touching fingers {why}", closure)
        if not final:
            return MonitorVerdict("held", f"fingers stopped near the grasp posture ({fmt(closure)} rad)", closure)
        if self.last_time < t_slip:
            return MonitorVerdict("unknown", f"not missed ({fmt(closure)} rad) but the trace ends at "
                                             f"{self.last_time:.2f} s, before the slip check at {t_slip:.2f} s",
                                  closure)
        q_end = self._mean_at(max(t_slip, self.last_time - c.window))
        end = self._closure(q_end)
        slip = {f: end[f] - closure[f] for f in closure}
        moved = [f for f, v in slip.items() if v > c.slip_threshold]
        if len(moved) >= need:
            return MonitorVerdict("slipped", f"{len(moved)} fingers closed > {c.slip_threshold} rad further after "
                                             f"the lift ({fmt(slip)} rad)", closure, slip)
        return MonitorVerdict("held", f"fingers stopped near the grasp posture ({fmt(closure)} rad) and stayed "
                                      f"(after the lift {fmt(slip)} rad)", closure, slip)

    def _load_at_end(self, t_slip: float) -> float | None:
        """Mean wrist load (N) over the last ``window`` s of the load trace at or after ``t_slip``;
        None without load samples there."""
        if not self._load_t:
            return None
        t = np.asarray(self._load_t)
        sel = (t >= max(t_slip, t[-1] - self.config.window))
        return float(np.mean(np.asarray(self._load)[sel])) if sel.any() else None


def judge(traj: GraspTrajectory, times, positions, names: list[str] | None = None,
          config: MonitorConfig | None = None) -> MonitorVerdict:
    """:class:`GraspMonitor` on whole arrays: ``times`` (N,) s from the trajectory start,
    ``positions`` (N, J) rad in the order of ``names`` (default the trajectory's)."""
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[0] != times.size:
        raise ValueError(f"judge: positions must be (N={times.size}, J), got {positions.shape}")
    m = GraspMonitor(traj, config)
    for t, q in zip(times, positions):
        m.update(t, q, names)
    return m.verdict()
