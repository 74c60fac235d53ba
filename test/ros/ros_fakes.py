"""Test helpers for the ROS tests (test tree only): bounded waits, fake planners, synthetic clouds.

The fakes implement the ``Planner`` protocol at the boundary: the planner owns perception, so a
fake cleans the raw cloud with the real ``preprocess_cloud`` and its ``config.preprocess`` (a bad
cloud fails with the real message), then returns deterministic grasps built from the hand's open
pose. Like the real planner, a fake takes the node's PlannerConfig through ``configure``. No fake
lives in production code.
"""
import dataclasses
import threading
import time

import numpy as np
import pytest

from dex1b_ros.hands import load_hand_config
from dex1b_ros.perception import CloudError, preprocess_cloud
from dex1b_ros.planner.config import PlannerConfig
from dex1b_ros.planner.types import PlannedGrasp, PlanResult


def wait_for(pred, timeout=10.0, period=0.02, what="condition"):
    """Poll ``pred`` until truthy; fail the test after ``timeout`` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(period)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def future_result(fut, timeout=10.0, what="future"):
    """Result of an rclpy Future completed by the spinning executor (bounded wait)."""
    wait_for(fut.done, timeout, what=what)
    return fut.result()


class FakePlanner:
    """Deterministic Planner for tests: grasps around the cleaned cloud's centroid from the open pose.

    The raw cloud goes through ``preprocess_cloud`` with ``config.preprocess`` (a CloudError is a
    failed result "bad cloud: ..."); ``calls`` records each plan that got that far, with the
    cleaned points. Grasp i: wrist 0.1 + 0.01 i m above the centroid, identity orientation;
    pregrasp = open + 0.1, grasp = open + 0.3 + 0.01 i, squeeze = grasp + 0.08 rad; score
    1 - 0.1 i; ``num_grasps`` of them (<= 0: ``config.ranking.top_k``). Reports the stages
    sample/refine/validate through ``progress`` and sleeps ``delay`` s in total (checking
    ``cancel`` every 10 ms).
    """

    def __init__(self, hand="leap", delay=0.0):
        cfg = load_hand_config(hand)
        self.hand_name = cfg.name
        self.joint_names = list(cfg.joint_names)
        self.open = np.asarray(cfg.open_pose, dtype=np.float64)
        self.delay = delay
        self.calls = []
        self.started = threading.Event()
        self.config = PlannerConfig(hand=cfg.name)
        self.configured = []            # every config the node handed over

    def configure(self, config):
        self.config = config
        self.configured.append(config)

    def _clean(self, points, normals, support_plane):
        cfg = self.config
        pcfg = cfg.preprocess if support_plane is None else dataclasses.replace(cfg.preprocess, remove_plane=False)
        return preprocess_cloud(points, normals, None, pcfg, rng=np.random.default_rng(cfg.seed))

    def grasp(self, i, centroid):
        g = self.open + 0.3 + 0.01 * i
        return PlannedGrasp(wrist_pos=centroid + np.array([0.0, 0.0, 0.1 + 0.01 * i]),
                            wrist_quat=np.array([1.0, 0.0, 0.0, 0.0]), pregrasp=self.open + 0.1, grasp=g,
                            squeeze=g + 0.08, score=1.0 - 0.1 * i, energy=0.5 + i, contact_distance_mm=1.0,
                            penetration_mm=0.2, self_penetration_mm=0.0, num_contacts=4, validated=True,
                            sim_success=True, grasp_type="fake", source="FakePlanner")

    def plan(self, points, normals=None, num_grasps=0, progress=None, cancel=None, support_plane=None):
        try:
            pre = self._clean(points, normals, support_plane)
        except CloudError as e:
            return PlanResult.failure(f"bad cloud: {e}", hand=self.hand_name, joint_names=self.joint_names)
        self.calls.append({"points": pre.points, "normals": pre.normals, "num_grasps": num_grasps,
                           "raw_points": np.array(points), "plane": pre.plane})
        self.started.set()
        for stage, frac in (("sample", 0.2), ("refine", 0.5), ("validate", 0.8)):
            if progress:
                progress(stage, frac, f"fake {stage}")
            end = time.monotonic() + self.delay / 3
            while time.monotonic() < end:
                if cancel and cancel():
                    return PlanResult.failure("cancelled by request", hand=self.hand_name,
                                              joint_names=self.joint_names)
                time.sleep(0.01)
        c = pre.points.mean(axis=0)
        n = num_grasps if num_grasps > 0 else self.config.ranking.top_k
        return PlanResult(success=True, message="fake plan", hand=self.hand_name, joint_names=self.joint_names,
                          grasps=[self.grasp(i, c) for i in range(n)], timings={"sample": 0.001},
                          info="FakePlanner")


class SlowFakePlanner(FakePlanner):
    """FakePlanner that takes ``delay`` seconds (default 6) unless cancelled."""

    def __init__(self, hand="leap", delay=6.0):
        super().__init__(hand, delay)


class GatedFakePlanner(FakePlanner):
    """FakePlanner whose every plan waits until the test calls ``release()`` (one plan each), or
    until it is cancelled (unless ``ignore_cancel``). ``entered`` counts the plans that reached
    the gate; ``results`` holds what each returned."""

    def __init__(self, hand="leap", ignore_cancel=False):
        super().__init__(hand)
        self.ignore_cancel = ignore_cancel
        self._gate = threading.Semaphore(0)
        self.entered = 0
        self.results = []

    def release(self, n=1):
        for _ in range(n):
            self._gate.release()

    def plan(self, points, normals=None, num_grasps=0, progress=None, cancel=None, support_plane=None):
        self.entered += 1
        self.started.set()
        while not self._gate.acquire(timeout=0.01):
            if cancel and cancel() and not self.ignore_cancel:
                r = PlanResult.failure("cancelled by request", hand=self.hand_name, joint_names=self.joint_names)
                self.results.append(r)
                return r
        r = super().plan(points, normals, num_grasps, progress, cancel, support_plane)
        self.results.append(r)
        return r


class RaisingFakePlanner(FakePlanner):
    """FakePlanner whose plan() raises, to test error handling."""

    def plan(self, points, normals=None, num_grasps=0, progress=None, cancel=None, support_plane=None):
        self.calls.append({"points": np.array(points)})
        raise RuntimeError("fake planner exploded")


def box_cloud(n=1500, center=(0.5, 0.0, 0.0), size=(0.06, 0.06, 0.10), table=True, seed=0):
    """(N, 3) points: the visible surface of a box standing on a table at z=0 (+ table points)."""
    rng = np.random.default_rng(seed)
    cx, cy, cz = center
    sx, sy, sz = size
    u = rng.random((n, 3))
    face = rng.integers(0, 3, n)   # three faces seen from +x+y+z-ish
    p = (u - 0.5) * np.array([sx, sy, sz])
    p[face == 0, 0] = sx / 2
    p[face == 1, 1] = sy / 2
    p[face == 2, 2] = sz / 2
    p += np.array([cx, cy, cz + sz / 2])
    if table:
        t = rng.random((n, 3)) * np.array([0.4, 0.4, 0.0]) + np.array([cx - 0.2, cy - 0.2, cz])
        t[:, 2] += rng.normal(scale=0.0005, size=n)
        p = np.vstack([p, t])
    return p
