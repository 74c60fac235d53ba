"""GraspMonitor: missed / slipped / held from joint positions, on synthetic traces and on traces
recorded from the real sim_hand (test/planner/data/sim_hand_traces.npz, a subset written by
scripts/measure_grasp_monitor.py: LEAP, mustard bottle, planned grasps and the same grasps 30 cm
higher)."""
from pathlib import Path

import numpy as np
import pytest

from dex1b_ros.config_utils import ConfigError
from dex1b_ros.planner.grasp_monitor import GraspMonitor, MonitorConfig, finger_groups, judge
from dex1b_ros.planner.trajectory import GraspTrajectory, TrajectoryTiming

NAMES = [f"{f}_{j}" for f in ("if", "mf", "rf", "th") for j in ("mcp", "rot", "pip", "dip")]
DATA = Path(__file__).parent / "data" / "sim_hand_traces.npz"


def _traj(delta=0.08):
    grasp = np.full(16, 0.5)
    squeeze = grasp + delta
    squeeze[8:12] = grasp[8:12]          # the ring finger does not touch
    return GraspTrajectory(NAMES, TrajectoryTiming().times, np.stack([np.zeros(16), grasp - 0.3, grasp, squeeze]))


def _trace(traj, stop=None, slip_at=None, end=5.0, rate=50.0):
    """Positions following the trajectory; joints in ``stop`` are blocked at the grasp posture
    (until ``slip_at`` s, after which they reach the squeeze target)."""
    t = np.arange(1, int(end * rate) + 1) / rate
    Q = traj.sample(t)
    for j in stop or []:
        blocked = t >= traj.times[2]
        if slip_at is not None:
            blocked &= t < slip_at
        Q[blocked, j] = traj.positions[2, j]
    return t, Q


def test_free_air_closure_is_missed():
    traj = _traj()
    v = judge(traj, *_trace(traj))
    assert v.state == "missed" and v.failed
    assert set(v.closure) == {"if", "mf", "th"}              # the ring finger was not supposed to touch
    assert all(abs(x - 0.08) < 1e-9 for x in v.closure.values())


def test_blocked_fingers_are_held_even_with_one_free_finger():
    traj = _traj()
    # index flexion blocked, thumb flexion blocked; the middle finger closes freely (one finger < min_fingers=2)
    v = judge(traj, *_trace(traj, stop=[0, 12]))
    assert v.state == "held", v.reason
    assert v.closure["if"] == pytest.approx(0.0) and v.closure["mf"] == pytest.approx(0.08)
    assert all(abs(x) < 1e-9 for x in v.slip.values())


def test_fingers_closing_after_the_lift_is_slipped():
    traj = _traj()
    v = judge(traj, *_trace(traj, stop=[0, 4, 12], slip_at=4.2))
    assert v.state == "slipped", v.reason
    assert v.slip["if"] == pytest.approx(0.08)


def test_unknown_until_the_trace_reaches_the_decision_times():
    traj = _traj()
    t, Q = _trace(traj, stop=[0, 4, 12])
    m = GraspMonitor(traj)
    for ti, qi in zip(t[t < 3.2], Q[t < 3.2]):
        m.update(ti, qi)
    assert m.verdict().state == "unknown" and "no joint state" in m.verdict().reason
    for ti, qi in zip(t[(t >= 3.2) & (t < 3.5)], Q[(t >= 3.2) & (t < 3.5)]):
        m.update(ti, qi)
    assert m.verdict(final=False).state == "held"
    assert m.verdict().state == "unknown" and "slip check" in m.verdict().reason


def test_joint_order_of_the_stream_and_missing_joints():
    traj = _traj()
    t, Q = _trace(traj)
    perm = np.random.default_rng(0).permutation(16)
    names = [NAMES[i] for i in perm] + ["extra"]
    Qp = np.hstack([Q[:, perm], np.zeros((len(t), 1))])
    assert judge(traj, t, Qp, names).state == "missed"
    with pytest.raises(ValueError, match=r"lacks joints \['if_mcp'\]"):
        GraspMonitor(traj).update(0.0, np.zeros(15), NAMES[1:])
    m = GraspMonitor(traj)
    m.update(3.4, np.full(16, np.nan))                       # corrupt samples are dropped
    assert m.samples == 0


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="miss_threshold"):
        MonitorConfig(miss_threshold=0.0)
    with pytest.raises(ConfigError, match="min_fingers"):
        MonitorConfig(min_fingers=0)
    with pytest.raises(ConfigError, match="settle_time"):
        MonitorConfig(settle_time=-1.0)
    assert finger_groups(["ffj0", "ffj1", "thj0"]) == {"ffj": [0, 1], "thj": [2]}


@pytest.mark.parametrize("kind", ["held_0", "held_1", "held_2", "slipped_0", "missed_0", "missed_1", "missed_2"])
def test_recorded_sim_hand_traces_agree_with_object_held(kind):
    d = np.load(DATA)
    traj = GraspTrajectory([str(n) for n in d["joint_names"]], d[f"{kind}_times"], d[f"{kind}_traj"])
    v = judge(traj, d[f"{kind}_t"], d[f"{kind}_q"])
    assert v.state == kind.split("_")[0], v.reason
    assert (v.state == "held") == bool(d[f"{kind}_held"])    # sim_hand's ground truth


def test_a_deep_squeeze_is_judged_as_a_fraction_of_each_joints_offset():
    """The balanced squeeze offsets joints up to 0.16 rad: a finger pressing on the object may close
    0.12 rad past the grasp posture (more than the absolute 0.065 rad) and still be held back; as a
    fraction of its offset (0.75 < miss_fraction 0.9) it is not free. A free finger reaches ~1."""
    traj = _traj(delta=0.16)
    t, Q = _trace(traj)
    held_back = t >= traj.times[2] + 0.05                    # every finger stops 0.12 rad past the grasp
    Q[held_back] = np.minimum(Q[held_back], traj.positions[2] + 0.12)
    v = judge(traj, t, Q)
    assert v.state == "held", v.reason
    assert judge(traj, t, Q, config=MonitorConfig(miss_fraction=0.0)).state == "missed"   # the absolute rule
    v = judge(traj, *_trace(traj))                           # free air: the whole offset
    assert v.state == "missed" and "of their squeeze offset" in v.reason
    with pytest.raises(ConfigError, match="miss_fraction"):
        MonitorConfig(miss_fraction=1.5)


def test_a_lift_without_load_is_slipped_even_when_the_fingers_stopped():
    """Fingers stopped near the grasp posture (blocked by each other, or by the object until it
    fell after the squeeze) look held; a zeroed wrist load near 0 N after the lift says the hand
    carries nothing. With the object's weight it stays held; without load samples the fingers decide."""
    traj = _traj()
    t, Q = _trace(traj, stop=range(16))
    def run(weight, cfg=None):
        m = GraspMonitor(traj, cfg)
        for ti, q in zip(t, Q):
            m.update(ti, q)
            if weight is not None:
                m.update_load(ti, weight if ti > traj.times[-1] + 0.5 else -3.0)   # pressing before the lift
        return m.verdict()
    assert run(None).state == "held"
    carried = run(0.98)
    assert carried.state == "held" and "the wrist carries +0.98 N" in carried.reason
    empty = run(0.02)
    assert empty.state == "slipped" and "carries no load (+0.02 N < 0.3 N)" in empty.reason, empty.reason
    assert run(0.02, MonitorConfig(min_load=0.0)).state == "held"       # 0 = no load check
    # two free fingers while the others hold: the fingers say "missed", the carried weight says held
    t2, Q2 = _trace(traj, stop=[0, 12])          # index and thumb flexion blocked; middle free
    m = GraspMonitor(traj, MonitorConfig(min_fingers=1))
    for ti, q in zip(t2, Q2):
        m.update(ti, q)
    assert m.verdict().state == "missed"
    for ti in t2:
        m.update_load(ti, 0.98)
    v = m.verdict()
    assert v.state == "held" and "the lift carries +0.98 N (>= 0.3 N) although missed" in v.reason, v.reason
    with pytest.raises(ConfigError, match="min_load"):
        MonitorConfig(min_load=-1.0)
