"""ROS 2 bags in and out (dex1b_ros/ros/bags.py) and ``dex1b plan --bag`` (dex1b_ros/ros/plan_bag.py):
round trips in MCAP and sqlite3, the custom dex1b_msgs types, every bad-bag error (exit 2, no
traceback), planning a bag == planning the same clouds directly, the output bag, the demo recorder."""
import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_fakes import wait_for
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from dex1b_msgs.msg import GraspArray
from dex1b_ros import cli
from dex1b_ros.eval.clouds import table_scene
from dex1b_ros.objects import make_object
from dex1b_ros.planner.trajectory import GraspTrajectory
from dex1b_ros.planner.types import PlannedGrasp, PlanResult
from dex1b_ros.ros import conversions as cv
from dex1b_ros.ros.bags import BagError, BagRecorder, BagWriter, list_topics, read_messages, storage_of, typestore

SMALL = {"sampling": {"num_samples": 32}, "refinement": {"synth_steps": 60, "refine_steps": 30},
         "validation": {"num_validate": 4}, "ranking": {"top_k": 3}}
T0 = 1_700_000_000


def _scene(seed=0):
    """A raw cloud in the planning frame: an 8 cm box standing on a table (z = 0) at (0.4, 0), the
    table around it, a few NaN rows; normals included."""
    return table_scene("box", object_seed=0, seed=seed, nan_every=97)


def _bare_table(seed=5):
    rng = np.random.default_rng(seed)
    return np.c_[rng.uniform(0.25, 0.55, 2500), rng.uniform(-0.15, 0.15, 2500), rng.normal(0.0, 0.001, 2500)], None


def _cloud_msg(pts, nrm, i):
    return cv.xyz_to_pointcloud2(pts, nrm, frame_id="world", stamp=Time(sec=T0 + i, nanosec=1000 * i))


def _write_scene_bag(path, storage, clouds):
    with BagWriter(path, storage) as w:
        for i, (p, n) in enumerate(clouds):
            w.write("/camera/points", _cloud_msg(p, n, i), (T0 + i) * 10 ** 9 + 5)
        w.write("/chatter", String(data="hello"), T0 * 10 ** 9)
    return path


# ------------------------------------------------------------------------------------ round trips
@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_clouds_round_trip_through_a_bag(tmp_path, storage):
    clouds = [_scene(0), _scene(1)]
    bag = _write_scene_bag(tmp_path / "b", storage, clouds)
    assert storage_of(bag) == storage
    topics = {t.name: (t.msgtype, t.count) for t in list_topics(bag)}
    assert topics == {"/camera/points": ("sensor_msgs/msg/PointCloud2", 2), "/chatter": ("std_msgs/msg/String", 1)}
    single_file = next(f for f in bag.iterdir() if f.suffix in (".mcap", ".db3"))
    for src in (bag, single_file):   # the directory and its storage file alone
        got = list(read_messages(src, "camera/points", PointCloud2))
        assert [m.index for m in got] == [0, 1]
        assert [m.time_ns for m in got] == [T0 * 10 ** 9 + 5, (T0 + 1) * 10 ** 9 + 5]
        for m, (p, n) in zip(got, clouds):
            a = cv.pointcloud2_to_xyz(m.msg)
            assert a.frame_id == "world" and (m.msg.header.stamp.sec, m.msg.header.stamp.nanosec) == \
                (T0 + m.index, 1000 * m.index)
            np.testing.assert_array_equal(a.points, p.astype(np.float32).astype(np.float64))
            np.testing.assert_array_equal(a.normals, n.astype(np.float32).astype(np.float64))
    assert [m.index for m in read_messages(bag, "/camera/points", PointCloud2, [-1])] == [1]


def _grasp_result():
    J = [f"j{i}" for i in range(16)]
    g = PlannedGrasp(wrist_pos=np.array([0.4, 0.01, 0.12]), wrist_quat=np.array([0.5, 0.5, -0.5, 0.5]),
                     pregrasp=np.linspace(0, 0.3, 16), grasp=np.linspace(0.1, 0.9, 16), squeeze=np.linspace(0.2, 1, 16),
                     approach=np.full(16, -0.1),   # the planner always fills it
                     score=3.25, energy=0.4, contact_distance_mm=1.5, penetration_mm=0.7, self_penetration_mm=0.0,
                     num_contacts=9, validated=True, sim_success=True, grasp_type="thumb+index", source="optimizer")
    return PlanResult(True, "ok", hand="leap", joint_names=J, grasps=[g, g]), J


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_custom_grasp_array_and_trajectory_round_trip(tmp_path, storage):
    """dex1b_msgs/GraspArray is registered from its .msg files: rclpy's CDR bytes read back in rclpy
    AND decode with the rosbags typestore (same layout), and the bag stores its definition."""
    r, J = _grasp_result()
    header = cv.header_msg("world", Time(sec=T0, nanosec=7))
    traj = cv.trajectory_to_msg(GraspTrajectory(J, [0.5, 1.5, 2.5, 3.0], np.ones((4, 16)) * 0.3), header)
    with BagWriter(tmp_path / "g", storage) as w:
        w.write("/grasps", cv.plan_result_to_msg(r, header), T0 * 10 ** 9)
        w.write("/grasp_trajectory", traj, T0 * 10 ** 9)
    (m,) = list(read_messages(tmp_path / "g", "/grasps", GraspArray))
    back = cv.grasp_from_msg(m.msg.grasps[1])
    np.testing.assert_array_equal(back.wrist_pos, r.grasps[1].wrist_pos)
    np.testing.assert_array_equal(back.grasp, r.grasps[1].grasp)
    assert m.msg.header.frame_id == "world" and m.msg.header.stamp.nanosec == 7 and back.num_contacts == 9
    ts = typestore()
    decoded = ts.deserialize_cdr(m.raw, "dex1b_msgs/msg/GraspArray")
    assert decoded.grasps[0].grasp_type == "thumb+index" and decoded.grasps[1].num_contacts == 9
    np.testing.assert_array_equal(decoded.grasps[0].squeeze_positions, r.grasps[0].squeeze)
    np.testing.assert_array_equal(decoded.grasps[1].approach_positions, r.grasps[1].approach)
    assert decoded.planner_info == m.msg.planner_info
    (t,) = list(read_messages(tmp_path / "g", "grasp_trajectory", JointTrajectory))
    np.testing.assert_array_equal(cv.trajectory_from_msg(t.msg).times, [0.5, 1.5, 2.5, 3.0])


# ------------------------------------------------------------------------------------ errors
def _bad_bags(tmp_path):
    good = _write_scene_bag(tmp_path / "good", "mcap", [(np.random.default_rng(0).random((50, 3)), None)])
    out = {"missing": (tmp_path / "nope.mcap", "no such bag")}
    d = tmp_path / "not_a_bag"
    d.mkdir()
    (d / "x.txt").write_text("x")
    out["dir without metadata"] = (d, "no metadata.yaml")
    empty = tmp_path / "empty"
    BagWriter(empty, "sqlite3").close()
    out["empty"] = (empty, "the bag is empty")
    out["no such topic"] = (good, "no topic '/camera/pointz' in the bag; it has: /camera/points "
                                  "(sensor_msgs/msg/PointCloud2, 1 msgs); /chatter (std_msgs/msg/String, 1 msgs)")
    for storage in ("mcap", "sqlite3"):
        src = good if storage == "mcap" else _write_scene_bag(tmp_path / "good_db", "sqlite3",
                                                             [(np.zeros((5, 3)), None)])
        trunc = tmp_path / f"truncated_{storage}"
        shutil.copytree(src, trunc)
        f = next(p for p in trunc.iterdir() if p.suffix in (".mcap", ".db3"))
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
        out[f"truncated {storage}"] = (trunc, "malformed or truncated")
    garbage = tmp_path / "garbage"
    with BagWriter(garbage, "mcap") as w:
        w.write_raw("/camera/points", "sensor_msgs/msg/PointCloud2", b"\x00\x01\x00\x00\xff\xff", T0 * 10 ** 9)
    out["undecodable message"] = (garbage, "message 0 is not a valid sensor_msgs/msg/PointCloud2")
    return out, good


def test_bad_bags_give_clear_errors_naming_file_and_topic(tmp_path):
    bags, good = _bad_bags(tmp_path)
    for what, (path, text) in bags.items():
        topic = "/camera/pointz" if what == "no such topic" else "/camera/points"
        with pytest.raises(BagError) as e:
            list(read_messages(path, topic, PointCloud2))
        assert str(path) in str(e.value) and text in str(e.value), (what, str(e.value))
    with pytest.raises(BagError, match="topic '/chatter' has type std_msgs/msg/String, expected "
                                       "sensor_msgs/msg/PointCloud2"):
        list(read_messages(good, "/chatter", PointCloud2))
    with pytest.raises(BagError, match="has 1 messages; index 3 is out of range"):
        list(read_messages(good, "/camera/points", PointCloud2, [3]))


def test_cli_plan_on_a_bad_bag_exits_2_without_traceback(tmp_path, capsys):
    bags, good = _bad_bags(tmp_path)
    cases = [(p, "/camera/points", t) for w, (p, t) in bags.items() if w != "no such topic"]
    cases += [(good, "/camera/pointz", "it has: /camera/points (sensor_msgs/msg/PointCloud2"),
              (good, "/chatter", "has type std_msgs/msg/String")]
    for path, topic, text in cases:
        assert cli.main(["plan", "--bag", str(path), "--topic", topic, "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("dex1b plan: error: ") and str(path) in err and text in err, err
        assert "Traceback" not in err
    assert not (tmp_path / "o" / "plans").exists()   # nothing written for a bad bag


# ------------------------------------------------------------------------------------ planning a bag
@pytest.fixture(scope="module")
def pipe():
    from dex1b_ros.planner.config import load_planner_config
    from dex1b_ros.planner.pipeline import GraspPipeline
    return GraspPipeline(config=load_planner_config(None, SMALL))


def _assert_same(record: dict, direct: PlanResult):
    assert record["success"] == direct.success and record["message"].split(";")[0] == direct.message.split(";")[0]
    assert len(record["grasps"]) == len(direct.grasps)
    for g, d in zip(record["grasps"], direct.grasps):
        for k, dk in (("wrist_pos", "wrist_pos"), ("wrist_quat_wxyz", "wrist_quat"), ("pregrasp", "pregrasp"),
                      ("grasp", "grasp"), ("squeeze", "squeeze")):
            np.testing.assert_array_equal(np.array(g[k]), getattr(d, dk))
        assert (g["score"], g["validated"], g["sim_success"]) == (d.score, d.validated, d.sim_success)


@pytest.mark.parametrize("storage", ["mcap", pytest.param("sqlite3", marks=pytest.mark.slow)])
def test_planning_a_bag_equals_planning_its_clouds_directly(tmp_path, storage, pipe):
    """Clouds of a box on a table (and a bare table) written to a bag, read back and planned give
    EXACTLY the grasps GraspPipeline gives on the same clouds; the output bag, CSV and JSON agree."""
    from dex1b_ros.ros.plan_bag import plan_bag

    clouds = [_scene(0), _bare_table(), _scene(1)]
    bag = _write_scene_bag(tmp_path / "in", storage, clouds)
    run = plan_bag(bag, "/camera/points", tmp_path / "out", pipe, progress=False)
    assert run.n == 3 and run.n_ok == 2
    for rec, (p, n) in zip(run.records, clouds):
        p32 = p.astype(np.float32).astype(np.float64)
        direct = pipe.plan(p32, None if n is None else n.astype(np.float32).astype(np.float64))
        _assert_same(rec, direct)
    assert "no object on the support plane" in run.records[1]["message"]

    # the output bag: same storage, the cloud + grasps per message, trajectory etc. for the successes
    assert storage_of(run.out_bag) == storage
    topics = {t.name: (t.msgtype, t.count) for t in list_topics(run.out_bag)}
    assert topics == {"/camera/points": ("sensor_msgs/msg/PointCloud2", 3),
                      "/grasps": ("dex1b_msgs/msg/GraspArray", 3),
                      "/grasp_trajectory": ("trajectory_msgs/msg/JointTrajectory", 2),
                      "/grasp_wrist_pose": ("geometry_msgs/msg/PoseStamped", 2),
                      "/grasp_markers": ("visualization_msgs/msg/MarkerArray", 2)}
    ins = list(read_messages(bag, "/camera/points", PointCloud2))
    outs = list(read_messages(run.out_bag, "/grasps", GraspArray))
    assert [m.time_ns for m in outs] == [m.time_ns for m in ins]                   # recorded like the input
    for o, i, rec in zip(outs, ins, run.records):
        assert o.msg.header.stamp == i.msg.header.stamp and o.msg.header.frame_id == "world"
        assert len(o.msg.grasps) == len(rec["grasps"])
        for gm, g in zip(o.msg.grasps, rec["grasps"]):
            back = cv.grasp_from_msg(gm)
            np.testing.assert_array_equal(back.wrist_pos, g["wrist_pos"])
            np.testing.assert_array_equal(back.grasp, g["grasp"])
    assert [m.raw for m in read_messages(run.out_bag, "/camera/points", PointCloud2)] == [m.raw for m in ins]
    trajs = list(read_messages(run.out_bag, "/grasp_trajectory", JointTrajectory))
    assert [t.time_ns for t in trajs] == [ins[0].time_ns, ins[2].time_ns]
    np.testing.assert_array_equal(cv.trajectory_from_msg(trajs[0].msg).positions[2],
                                  run.records[0]["grasps"][0]["grasp"])

    # CSV: one row per grasp, one for the failed plan; JSON: the records
    rows = list(csv.DictReader(open(run.csv_path)))
    assert len(rows) == 3 + 1 + 3 and rows[3]["rank"] == "" and rows[3]["plan_success"] == "False"
    assert [r["index"] for r in rows] == ["0"] * 3 + ["1"] + ["2"] * 3
    assert float(rows[0]["wrist_x"]) == run.records[0]["grasps"][0]["wrist_pos"][0]
    assert rows[4]["stamp"] == f"{T0 + 2}.000002000"
    meta = json.loads(Path(run.json_path).read_text())
    assert meta["topic"] == "/camera/points" and meta["messages"] == json.loads(json.dumps(run.records))


@pytest.mark.slow
def test_cli_plan_with_index_mesh_and_frames(tmp_path, capsys):
    """``dex1b plan`` end to end: --index, --set, a true mesh (verdicts in CSV/JSON), and a cloud in
    a camera frame planned in 'world' through --static-transform (the wrist ends up at the box in world)."""
    import trimesh

    p, n = _scene(0)
    box = make_object("box", 0, size=0.08).mesh.copy()
    box.apply_translation(-np.array([0.0, 0.0, box.bounds[0, 2]]) + [0.4, 0.0, 0.0])
    mesh_file = tmp_path / "box.stl"
    box.export(mesh_file)
    # the same cloud expressed in a frame 'cam' at (0.1, 0.2, 0.3), rotated 90 deg about z
    R = trimesh.transformations.rotation_matrix(np.pi / 2, [0, 0, 1])[:3, :3]
    t = np.array([0.1, 0.2, 0.3])
    pc, nc = (p - t) @ R, n @ R
    with BagWriter(tmp_path / "in", "mcap") as w:
        w.write("/pts", _cloud_msg(p, n, 0), T0 * 10 ** 9)
        w.write("/pts", _cloud_msg(_bare_table()[0], None, 1), (T0 + 1) * 10 ** 9)
        m = cv.xyz_to_pointcloud2(pc, nc, frame_id="cam", stamp=Time(sec=T0 + 2), dtype=np.float64)
        w.write("/pts", m, (T0 + 2) * 10 ** 9)
    sets = ["--set", "sampling.num_samples=32", "--set", "refinement.refine_steps=30", "--set",
            "validation.num_validate=4", "--set", "ranking.top_k=3"]
    rc = cli.main(["plan", "--bag", str(tmp_path / "in"), "--topic", "/pts", "--index", "0", "--out",
                   str(tmp_path / "o1"), "--mesh", str(mesh_file), "--no-progress", *sets])
    out = capsys.readouterr().out
    assert rc == 0 and "1 cloud(s)" in out and "first grasp on the true object" in out and "clouds/s" in out
    rows = list(csv.DictReader(open(tmp_path / "o1" / "grasps.csv")))
    assert len(rows) == 3 and rows[0]["true_held"] in ("True", "False") and rows[1]["true_held"] == ""
    rec = json.loads((tmp_path / "o1" / "grasps.json").read_text())["messages"][0]
    assert "true_held" in rec["grasps"][0] and "true_lift" in rec["grasps"][0]
    # without a transform the camera-frame cloud cannot be planned in 'world'
    args = ["plan", "--bag", str(tmp_path / "in"), "--topic", "/pts", "--index", "2", "--planning-frame", "world",
            "--no-progress", *sets]
    assert cli.main([*args, "--out", str(tmp_path / "o2")]) == 2
    assert "unknown frame 'cam'" in capsys.readouterr().err
    q = trimesh.transformations.quaternion_from_matrix(np.block([[R, t[:, None]], [np.zeros((1, 3)), 1.0]]))
    tf = f"cam {t[0]} {t[1]} {t[2]} {q[1]} {q[2]} {q[3]} {q[0]}"
    assert cli.main([*args, "--static-transform", tf, "--out", str(tmp_path / "o3")]) == 0
    cam = json.loads((tmp_path / "o3" / "grasps.json").read_text())["messages"][0]
    assert cam["frame_id"] == "world" and cam["cloud_frame_id"] == "cam" and cam["success"]
    g0 = cam["grasps"][0]["wrist_pos"]
    assert np.linalg.norm(np.subtract(g0, [0.4, 0.0, 0.04])) < 0.2   # at the box (0.4, 0, 0.04) in world


# ------------------------------------------------------------------------------------ demo recorder
def test_recorder_writes_what_the_graph_publishes(tmp_path, graph):
    """``dex1b demo --record``'s recorder: raw subscriptions in the client's node -> a bag."""
    pub_node = graph.add(Node("bag_test_pub", context=graph.ctx))
    rec_node = graph.add(Node("bag_test_rec", context=graph.ctx))
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    pc = pub_node.create_publisher(PointCloud2, "object_cloud", qos)
    pg = pub_node.create_publisher(GraspArray, "grasps", qos)
    r, _ = _grasp_result()
    writer = BagWriter(tmp_path / "rec", "mcap")
    BagRecorder(rec_node, writer, {"object_cloud": PointCloud2, "grasps": GraspArray})
    wait_for(lambda: pc.get_subscription_count() and pg.get_subscription_count(), what="recorder subscriptions")
    cloud = _cloud_msg(*_scene(0), 0)
    pc.publish(cloud)
    pg.publish(cv.plan_result_to_msg(r, cloud.header))
    wait_for(lambda: writer.counts.get("/object_cloud") and writer.counts.get("/grasps"), what="recorded messages")
    writer.close()
    (c,) = list(read_messages(tmp_path / "rec", "/object_cloud", PointCloud2))
    np.testing.assert_array_equal(cv.pointcloud2_to_xyz(c.msg).points, cv.pointcloud2_to_xyz(cloud).points)
    (g,) = list(read_messages(tmp_path / "rec", "/grasps", GraspArray))
    assert len(g.msg.grasps) == 2 and g.msg.header.stamp == cloud.header.stamp
