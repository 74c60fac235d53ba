"""Open -> pregrasp -> grasp -> squeeze trajectory of a planned grasp (no ROS)."""
import numpy as np
import pytest

from dex1b_ros.config_utils import ConfigError
from dex1b_ros.hands import load_hand_config
from dex1b_ros.planner.trajectory import WAYPOINTS, GraspTrajectory, TrajectoryTiming, grasp_trajectory
from dex1b_ros.planner.types import PlannedGrasp


def _grasp(J, seed=0):
    r = np.random.default_rng(seed)
    return PlannedGrasp(wrist_pos=np.zeros(3), wrist_quat=np.array([1.0, 0, 0, 0]), pregrasp=r.normal(size=J),
                        grasp=r.normal(size=J), squeeze=r.normal(size=J))


@pytest.mark.parametrize("hand", ["leap", "allegro"])
def test_waypoints_times_and_order(hand):
    cfg = load_hand_config(hand)
    g = _grasp(len(cfg.joint_names))
    tim = TrajectoryTiming(open_time=0.2, pregrasp_duration=0.3, grasp_duration=0.4, squeeze_duration=0.1)
    tr = grasp_trajectory(g, cfg.open_pose, cfg.joint_names, tim)
    assert tr.labels == WAYPOINTS and tr.joint_names == cfg.joint_names
    np.testing.assert_allclose(tr.times, [0.2, 0.5, 0.9, 1.0])
    assert tr.duration == pytest.approx(1.0) == pytest.approx(tim.total)
    np.testing.assert_allclose(tr.positions, np.stack([cfg.open_pose, g.pregrasp, g.grasp, g.squeeze]))


def test_sample_interpolates_linearly_and_holds_ends():
    g = _grasp(3)
    tr = grasp_trajectory(g, [0.0, 0.0, 0.0], ["a", "b", "c"], TrajectoryTiming(1.0, 1.0, 1.0, 1.0))
    np.testing.assert_allclose(tr.sample(1.5), 0.5 * (np.zeros(3) + g.pregrasp))
    np.testing.assert_allclose(tr.sample(0.3), np.zeros(3))                   # before the first: hold it
    np.testing.assert_allclose(tr.sample(0.5, start=np.ones(3)), 0.5 * np.ones(3))  # or ramp from a start
    np.testing.assert_allclose(tr.sample(99.0), g.squeeze)
    # batch == loop
    ts = np.linspace(0, 5, 23)
    np.testing.assert_allclose(tr.sample(ts), np.stack([tr.sample(t) for t in ts]))
    # exact at the waypoints
    for t, q in zip(tr.times, tr.positions):
        np.testing.assert_allclose(tr.sample(t), q)


@pytest.mark.parametrize("field", ["open_time", "pregrasp_duration", "grasp_duration", "squeeze_duration"])
@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), 100.0])
def test_timing_validation_names_the_field(field, bad):
    with pytest.raises(ConfigError, match=field):
        TrajectoryTiming(**{field: bad})


def test_wrong_joint_count_and_bad_trajectories():
    with pytest.raises(ValueError, match="pregrasp has 2 joint values, expected 3"):
        grasp_trajectory(_grasp(2), [0, 0, 0], ["a", "b", "c"])
    with pytest.raises(ValueError, match="strictly increasing"):
        GraspTrajectory(["a"], [0.0, 0.0], [[0.0], [1.0]])
    with pytest.raises(ValueError, match="NaN"):
        GraspTrajectory(["a"], [0.0, 1.0], [[0.0], [np.nan]])
    with pytest.raises(ValueError, match="positions must be"):
        GraspTrajectory(["a", "b"], [0.0, 1.0], [[0.0], [1.0]])


def test_the_approach_posture_replaces_the_open_pose_as_first_waypoint():
    """A grasp planned with a table carries ``approach`` (fingers opened only as far as the hand stays
    above the table): the trajectory starts there, not at the hand's open pose."""
    cfg = load_hand_config("allegro")
    J = len(cfg.joint_names)
    g = _grasp(J, 3)
    g.approach = np.full(J, 0.25)
    tr = grasp_trajectory(g, cfg.open_pose, cfg.joint_names)
    np.testing.assert_allclose(tr.positions[0], g.approach)
    np.testing.assert_allclose(tr.positions[1:], np.stack([g.pregrasp, g.grasp, g.squeeze]))
    g.approach = np.zeros(J - 1)
    with pytest.raises(ValueError, match="open has"):
        grasp_trajectory(g, cfg.open_pose, cfg.joint_names)
