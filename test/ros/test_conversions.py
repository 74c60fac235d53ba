"""dex1b_ros.ros.conversions: round trips over layouts, malformed messages, grasp/trajectory/pose maps.

No ROS graph needed (messages only). Property-style: every combination of coordinate dtype,
endianness, normals, extra fields, point/row padding and organised shape round-trips exactly.
"""
import itertools
import math
import time

import numpy as np
import pytest
from sensor_msgs.msg import JointState, PointCloud2, PointField
from std_msgs.msg import Float64MultiArray

from dex1b_ros.hands import load_hand_config
from dex1b_ros.planner.trajectory import TrajectoryTiming, grasp_trajectory
from dex1b_ros.planner.types import PlannedGrasp, PlanResult
from dex1b_ros.ros import conversions as cv

LAYOUTS = list(itertools.product([np.float32, np.float64], [False, True], [False, True], [0, 3], [0, 5],
                                 [None, (4, 25)]))


@pytest.mark.parametrize("dtype,bigendian,normals,point_pad,row_pad,shape", LAYOUTS)
def test_pointcloud2_round_trip_over_layouts(dtype, bigendian, normals, point_pad, row_pad, shape):
    rng = np.random.default_rng(hash((np.dtype(dtype).str, bigendian, normals, point_pad, row_pad)) % 2**32)
    pts = rng.normal(size=(100, 3))
    nrm = rng.normal(size=(100, 3)) if normals else None
    extra = {"intensity": rng.random(100).astype(np.float32), "ring": rng.integers(0, 64, 100).astype(np.uint16)}
    msg = cv.xyz_to_pointcloud2(pts, nrm, frame_id="cam", dtype=dtype, shape=shape, is_bigendian=bigendian,
                                point_padding=point_pad, row_padding=row_pad, extra=extra)
    h, w = shape or (1, 100)
    assert (msg.height, msg.width) == (h, w)
    assert msg.row_step == w * msg.point_step + row_pad and len(msg.data) == msg.row_step * h
    out = cv.pointcloud2_to_xyz(msg)
    tol = 0 if dtype is np.float64 else 1e-6
    np.testing.assert_allclose(out.points, pts.astype(dtype), atol=tol, rtol=0)
    assert out.points.dtype == np.float64 and out.frame_id == "cam" and out.shape == (h, w) and out.is_dense
    if normals:
        np.testing.assert_allclose(out.normals, nrm.astype(dtype), atol=tol, rtol=0)
    else:
        assert out.normals is None
    arr = cv.pointcloud2_to_array(msg)
    assert arr.shape == (h, w)
    np.testing.assert_array_equal(arr["ring"].reshape(-1), extra["ring"])
    np.testing.assert_array_equal(arr["intensity"].reshape(-1), extra["intensity"])


def test_reads_hand_built_message_with_fields_out_of_order():
    # x/y/z stored z-first at non-zero offsets, rgb in between: the reader must use offsets, not order
    pts = np.arange(12, dtype=np.float32).reshape(4, 3)
    rec = np.zeros(4, dtype=np.dtype({"names": ["z", "rgb", "x", "y"], "formats": ["<f4", "<u4", "<f4", "<f4"],
                                      "offsets": [0, 4, 8, 12], "itemsize": 20}))
    rec["x"], rec["y"], rec["z"] = pts[:, 0], pts[:, 1], pts[:, 2]
    m = PointCloud2(height=1, width=4, point_step=20, row_step=80, is_bigendian=False, is_dense=True,
                    fields=[PointField(name="z", offset=0, datatype=7, count=1),
                            PointField(name="rgb", offset=4, datatype=6, count=1),
                            PointField(name="x", offset=8, datatype=7, count=1),
                            PointField(name="y", offset=12, datatype=7, count=1)])
    m.data = rec.tobytes()
    np.testing.assert_array_equal(cv.pointcloud2_to_xyz(m).points, pts)


def test_nan_points_are_kept_and_is_dense_reflects_them():
    pts = np.ones((10, 3))
    pts[3] = np.nan
    m = cv.xyz_to_pointcloud2(pts, frame_id="w")
    assert not m.is_dense
    out = cv.pointcloud2_to_xyz(m)
    assert np.isnan(out.points[3]).all() and np.isfinite(out.points[[0, 1, 2, 4]]).all()


def test_empty_cloud():
    m = cv.xyz_to_pointcloud2(np.zeros((0, 3)), frame_id="w")
    assert cv.cloud_is_empty(m) and cv.cloud_is_empty(PointCloud2()) and cv.cloud_is_empty(None)
    assert cv.pointcloud2_to_xyz(m).points.shape == (0, 3)


def _msg():
    return cv.xyz_to_pointcloud2(np.random.default_rng(0).normal(size=(20, 3)), frame_id="w")


@pytest.mark.parametrize("mutate,expect", [
    (lambda m: setattr(m, "fields", [f for f in m.fields if f.name != "y"]), "missing field(s) y"),
    (lambda m: setattr(m, "fields", []), "fields present: none"),
    (lambda m: setattr(m, "data", m.data[:-1]), "expected row_step*height"),
    (lambda m: setattr(m, "row_step", 4), "row_step 4 is smaller than width*point_step"),
    (lambda m: setattr(m, "point_step", 0), "point_step must be > 0"),
    (lambda m: m.fields.__setitem__(0, PointField(name="x", offset=0, datatype=9, count=1)), "unsupported datatype 9"),
    (lambda m: m.fields.__setitem__(2, PointField(name="z", offset=10, datatype=7, count=1)), "does not fit"),
    (lambda m: m.fields.__setitem__(0, PointField(name="x", offset=0, datatype=PointField.UINT16, count=1)),
     "field 'x' has datatype UINT16; expected FLOAT32 or FLOAT64"),
    (lambda m: m.fields.append(PointField(name="x", offset=0, datatype=7, count=1)), "appears twice"),
    (lambda m: m.fields.append(PointField(name="normal_x", offset=0, datatype=7, count=1)),
     "only some normal fields present"),
])
def test_malformed_clouds_raise_clear_errors(mutate, expect):
    m = _msg()
    mutate(m)
    with pytest.raises(cv.CloudFormatError) as e:
        cv.pointcloud2_to_xyz(m)
    assert expect in str(e.value)


def test_conversion_speed_300k_points():
    pts = np.random.default_rng(0).normal(size=(300_000, 3))
    m = cv.xyz_to_pointcloud2(pts, pts, frame_id="w", row_padding=0)
    t = time.perf_counter()
    out = cv.pointcloud2_to_xyz(m)
    dt = time.perf_counter() - t
    assert out.points.shape == (300_000, 3)
    assert dt < 0.5, f"reading a 300k-point cloud took {dt:.3f} s"   # measured ~15 ms on 2 cores


def _grasp(J, i=0):
    r = np.random.default_rng(i)
    q = r.normal(size=4)
    return PlannedGrasp(wrist_pos=r.normal(size=3), wrist_quat=q / np.linalg.norm(q), pregrasp=r.normal(size=J),
                        grasp=r.normal(size=J), squeeze=r.normal(size=J), score=0.9 - i * 0.1, energy=1.5,
                        contact_distance_mm=2.0, penetration_mm=0.5, self_penetration_mm=0.1, num_contacts=3,
                        validated=True, sim_success=bool(i % 2), grasp_type="power", source="test")


def test_grasp_round_trip_and_quaternion_order():
    cfg = load_hand_config("leap")
    g = _grasp(16, 1)
    m = cv.grasp_to_msg(g, "leap", cfg.joint_names, cv.header_msg("world"))
    q = m.wrist_pose.pose.orientation
    assert (q.w, q.x, q.y, q.z) == pytest.approx(tuple(g.wrist_quat))      # core (w,x,y,z) -> ROS fields
    back = cv.grasp_from_msg(m)
    np.testing.assert_allclose(back.wrist_quat, g.wrist_quat)
    np.testing.assert_allclose(back.wrist_pos, g.wrist_pos)
    for k in ("pregrasp", "grasp", "squeeze"):
        np.testing.assert_allclose(getattr(back, k), getattr(g, k))
    for k in ("score", "energy", "contact_distance_mm", "penetration_mm", "self_penetration_mm"):
        assert getattr(back, k) == pytest.approx(getattr(g, k), rel=1e-6)
    assert (back.num_contacts, back.validated, back.sim_success, back.grasp_type) == (3, True, True, "power")
    with pytest.raises(ValueError, match="expected 16"):
        cv.grasp_to_msg(_grasp(15), "leap", cfg.joint_names, cv.header_msg("world"))
    # the approach posture (planned with a table) travels; none = empty = the hand's open pose
    assert back.approach is None and len(m.approach_positions) == 0
    g.approach = np.linspace(0, 1, 16)
    back = cv.grasp_from_msg(cv.grasp_to_msg(g, "leap", cfg.joint_names, cv.header_msg("world")))
    np.testing.assert_allclose(back.approach, g.approach)
    # the evaluator's probability and the verdict travel; no evaluator = NaN on the wire = None back
    assert back.evaluator_prob is None and np.isnan(m.success_probability) and back.predicted_success is False
    g.evaluator_prob, g.predicted_success = 0.93, True
    m = cv.grasp_to_msg(g, "leap", cfg.joint_names, cv.header_msg("world"))
    back = cv.grasp_from_msg(m)
    assert back.evaluator_prob == pytest.approx(0.93) and back.predicted_success is True
    g.approach = np.zeros(3)
    with pytest.raises(ValueError, match="approach has 3 values"):
        cv.grasp_to_msg(g, "leap", cfg.joint_names, cv.header_msg("world"))


def test_plan_result_to_grasp_array_keeps_rank_and_info():
    cfg = load_hand_config("allegro")
    res = PlanResult(success=True, message="ok", hand="allegro", joint_names=cfg.joint_names,
                     grasps=[_grasp(16, i) for i in range(3)], timings={"sample": 0.1})
    ga = cv.plan_result_to_msg(res, cv.header_msg("world"))
    assert [g.score for g in ga.grasps] == pytest.approx([0.9, 0.8, 0.7])
    assert all(g.hand == "allegro" and list(g.joint_names) == cfg.joint_names for g in ga.grasps)
    assert "sample 0.100s" in ga.planner_info and ga.header.frame_id == "world"


def test_trajectory_msg_round_trip_and_driver_adapters():
    leap, allegro = load_hand_config("leap"), load_hand_config("allegro")
    g = _grasp(16)
    traj = grasp_trajectory(g, leap.open_pose, leap.joint_names, TrajectoryTiming(0.25, 0.5, 0.75, 0.3))
    m = cv.trajectory_to_msg(traj, cv.header_msg("world"))
    assert [cv.duration_to_sec(p.time_from_start) for p in m.points] == pytest.approx([0.25, 0.75, 1.5, 1.8])
    back = cv.trajectory_from_msg(m)
    np.testing.assert_allclose(back.positions, traj.positions)
    # LEAP: JointState, motor convention = sim + pi, driver order
    js = cv.driver_command(g.squeeze, leap, "joint_state")
    assert isinstance(js, JointState) and list(js.name) == leap.joint_names
    np.testing.assert_allclose(js.position, g.squeeze + math.pi)
    dt = cv.driver_trajectory(traj, leap, cv.header_msg("world"))
    np.testing.assert_allclose(dt.points[2].positions, g.grasp + math.pi)
    np.testing.assert_allclose(cv.trajectory_from_msg(dt, offset=math.pi).positions, traj.positions)
    # Allegro: Float64MultiArray of 16, no offset
    fa = cv.driver_command(g.grasp, allegro, "float64_multi_array")
    assert isinstance(fa, Float64MultiArray) and len(fa.data) == 16
    np.testing.assert_allclose(fa.data, g.grasp)
    assert cv.resolve_adapter("auto", leap) == "joint_state"
    assert cv.resolve_adapter("auto", allegro) == "float64_multi_array"
    with pytest.raises(ValueError, match="output_adapter"):
        cv.resolve_adapter("can_bus", leap)
    with pytest.raises(ValueError, match="16 joints"):
        cv.driver_command(np.zeros(4), leap, "joint_state")


def test_trajectory_from_bad_message():
    m = cv.trajectory_to_msg(grasp_trajectory(_grasp(16), np.zeros(16), [f"j{i}" for i in range(16)]),
                             cv.header_msg("w"))
    m.points[1].time_from_start = m.points[0].time_from_start
    with pytest.raises(ValueError, match="strictly increasing"):
        cv.trajectory_from_msg(m)
    m.points[1].positions = [0.0]
    with pytest.raises(ValueError, match="point 1 has 1 positions"):
        cv.trajectory_from_msg(m)


def test_markers_colour_by_score():
    res = PlanResult(success=True, message="", grasps=[_grasp(16, i) for i in range(4)])
    ma = cv.grasp_markers(res, cv.header_msg("world"), top_n=3)
    spheres = [m for m in ma.markers if m.type == m.SPHERE]
    assert len(spheres) == 3
    assert spheres[0].color.g > spheres[0].color.r and spheres[-1].color.r > spheres[-1].color.g
    assert ma.markers[0].action == ma.markers[0].DELETEALL
    assert len(cv.grasp_markers(PlanResult(False, "x"), cv.header_msg("w")).markers) == 1


def test_duration_msg_carries_nanoseconds():
    d = cv.duration_msg(1.9999999999)
    assert (d.sec, d.nanosec) == (2, 0)
    d = cv.duration_msg(0.25)
    assert (d.sec, d.nanosec) == (0, 250_000_000)
