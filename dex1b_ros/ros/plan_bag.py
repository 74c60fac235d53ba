"""``dex1b plan --bag``: plan grasps on the PointCloud2 messages of a ROS 2 bag, offline.

    dex1b plan --bag run.mcap --topic /camera/points                     # every cloud
    dex1b plan --bag run/ --topic /object_cloud --index 0 3 -1 --hand allegro --set sampling.num_samples=64
    dex1b plan --bag run/ --topic /object_cloud --mesh ycb:006_mustard_bottle --mesh-place 0.5,0,0

Input: a rosbag2 directory (metadata.yaml + files) or a single ``.mcap`` / ``.db3`` file; every
message of ``--topic`` (``sensor_msgs/msg/PointCloud2``), or those at ``--index`` (positions among
the topic's messages, from 0; negative from the end). Each cloud is converted by the node's own
``conversions.pointcloud2_to_xyz`` and planned by ``GraspPipeline`` with the node's settings
(``config/grasp_planner.yaml``, :func:`load_planner_config`), then ``--hand`` / ``--set``.

Frames: by default the cloud's ``header.frame_id`` IS the planning frame: points, wrist poses and
the output headers are in it (m, rad). ``--planning-frame F`` plans in ``F`` instead: clouds
already in ``F`` pass as they are, others need ``--static-transform "frame x y z qx qy qz qw"``
(the pose of ``frame`` in ``F``, the node's ``static_transforms`` convention). The support plane
is found by the planner's preprocessing; ``--mesh`` tabletop checks assume the planning frame's
+z is up with the table under the object.

Output in ``--out`` (default ``out/bag_plans/<bag name>``):

* ``plans/``: a rosbag2 bag (the input's storage unless ``--storage``) with, per planned cloud,
  the cloud itself (its topic, bytes as read), ``/grasps`` (dex1b_msgs/msg/GraspArray, ranked),
  and for a successful plan ``/grasp_trajectory`` (trajectory_msgs/JointTrajectory: open ->
  pregrasp -> grasp -> squeeze, simulation convention, timing from the YAML's ``trajectory.*``),
  ``/grasp_wrist_pose`` (geometry_msgs/PoseStamped) and ``/grasp_markers``; every message is
  recorded at the input cloud's record time and carries the cloud's header stamp;
* ``grasps.csv``: one row per ranked grasp (a failed plan: one row with an empty rank): message
  index, stamp, frame, rank, score, energy, validated, sim_success, [true_held, true_lift with
  ``--mesh``], wrist position (m) and quaternion (w, x, y, z), grasp joints (rad), planner message;
* ``grasps.json``: the same per message, with pregrasp/grasp/squeeze joints and stage timings.

``--mesh`` (object id ``ycb:<name>`` | ``proc:<kind>:<seed>`` | mesh file, metres): the true
object, in the planning frame as given, or placed upright on a table at z = 0 with
``--mesh-place x,y,yaw`` (the ``sim_camera`` / ``sim_hand`` convention; the demo uses 0.5,0,0).
The first grasp of each plan is then simulated on it (``GraspValidator.validate``: holds against
forces in six directions; ``validate_tabletop``: lifted off the table) and the verdicts go into
the CSV / JSON.

A bad bag (missing, empty, truncated, no such topic - the topics it has are listed -, a topic of
another type, an undecodable message) stops with a message naming file and topic, exit code 2.
A cloud the planner cannot plan (e.g. no object on the table) is a failed plan in the outputs.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

import numpy as np

from .bags import BagError, BagWriter, list_topics, read_messages, stamp_ns, storage_of

#: output topics (the node's default topic names)
GRASPS_TOPIC = "/grasps"
TRAJECTORY_TOPIC = "/grasp_trajectory"
WRIST_TOPIC = "/grasp_wrist_pose"
MARKERS_TOPIC = "/grasp_markers"


@dataclass
class BagPlanRun:
    """What :func:`plan_bag` did: one record per planned cloud (as written to grasps.json)."""

    records: list[dict] = field(default_factory=list)
    plan_s: float = 0.0        # s, GraspPipeline.plan alone, summed
    wall_s: float = 0.0        # s, everything: reading, converting, planning, checks, writing
    out_bag: Path | None = None
    csv_path: Path | None = None
    json_path: Path | None = None

    @property
    def n(self) -> int:
        return len(self.records)

    @property
    def n_ok(self) -> int:
        return sum(r["success"] for r in self.records)


def trajectory_timing(params_file: str | Path | None = None):
    """TrajectoryTiming of the node's params file (``trajectory.*`` of config/grasp_planner.yaml)."""
    import yaml

    from .. import resources
    from ..config_utils import ConfigError
    from ..planner.config import NODE_NAME, YAML_SECTION
    from ..planner.trajectory import TrajectoryTiming

    path = Path(params_file) if params_file else resources.config_dir(f"{NODE_NAME}.yaml")
    params = (yaml.safe_load(path.read_text()) or {}).get(NODE_NAME, {}).get(YAML_SECTION, {}) or {}
    try:
        return TrajectoryTiming(**{k.split(".", 1)[1]: v for k, v in params.items() if k.startswith("trajectory.")})
    except (ConfigError, TypeError) as e:
        raise ConfigError(f"{path}: trajectory: {e}") from None


def load_true_mesh(spec: str, place: str | None = None):
    """The true object mesh (trimesh, m) in the planning frame: ``spec`` is an object id or mesh
    file; ``place`` "x,y,yaw" (m, m, rad) stands it upright on a table at z = 0."""
    from ..objects import load_object
    from .sim_world import place_on_table

    try:
        mesh = load_object(spec).mesh.copy()
    except Exception as e:  # noqa: BLE001 - unknown id, unreadable file, bad mesh
        raise BagError(f"--mesh {spec!r}: cannot load the object: {e}") from None
    if place:
        try:
            x, y, yaw = (float(v) for v in place.split(","))
        except ValueError:
            raise BagError(f"--mesh-place {place!r}: expected x,y,yaw (m, m, rad)") from None
        mesh.apply_transform(place_on_table(mesh, (x, y), yaw, 0.0))
    return mesh


def _f(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def plan_bag(bag: str | Path, topic: str, out_dir: str | Path, pipe, indices: list[int] | None = None,
             storage: str | None = None, mesh=None, planning_frame: str | None = None,
             static_transforms: list[str] | None = None, timing=None, progress: bool = True,
             overwrite: bool = True) -> BagPlanRun:
    """Plan every (or the ``indices``) PointCloud2 of ``topic`` in ``bag`` with ``pipe`` (a
    GraspPipeline) and write ``out_dir``/plans (bag), grasps.csv, grasps.json (see the module doc).
    ``mesh``: the true object (trimesh, planning frame) to simulate each first grasp on.
    Raises BagError for a bad bag, a frame without a transform, or an unwritable output."""
    from sensor_msgs.msg import PointCloud2
    from tqdm import tqdm

    from ..perception.preprocess import transform_points
    from ..planner.trajectory import grasp_trajectory
    from . import conversions as cv
    from .frames import FrameError, lookup, parse_static_transforms

    t_wall = time.perf_counter()
    bag, out_dir = Path(bag), Path(out_dir)
    msgs = read_messages(bag, topic, PointCloud2, indices)
    first = next(msgs)                      # a bad bag / topic fails here, before anything is written
    topics = {t.name: t for t in list_topics(bag)}
    cloud_topic = next(t for t in topics if t.lstrip("/") == topic.lstrip("/"))
    total = len(set(i % topics[cloud_topic].count for i in indices)) if indices else topics[cloud_topic].count
    try:
        static = parse_static_transforms(static_transforms or [], planning_frame or "")
    except FrameError as e:
        raise BagError(f"--static-transform: {e}") from None
    storage = storage or storage_of(bag) or "mcap"
    timing = timing or trajectory_timing()
    out_dir.mkdir(parents=True, exist_ok=True)
    run = BagPlanRun(out_bag=out_dir / "plans", csv_path=out_dir / "grasps.csv", json_path=out_dir / "grasps.json")
    validator = None
    if mesh is not None:
        from ..validate import GraspValidator
        validator = GraspValidator(pipe.hand.cfg, mesh, hands_dir=pipe.hands_dir)
    bar = tqdm(total=total, desc=f"plan {bag.name}{cloud_topic}", unit="cloud", disable=not progress, leave=False)
    try:
        with BagWriter(run.out_bag, storage, overwrite=overwrite) as w:
            for m in chain([first], msgs):
                cloud = m.msg
                where = f"{bag}: topic {cloud_topic!r}: message {m.index}"
                try:
                    arrays = cv.pointcloud2_to_xyz(cloud)
                except cv.CloudFormatError as e:
                    raise BagError(f"{where}: {e}") from None
                frame = planning_frame or arrays.frame_id
                points, normals = arrays.points, arrays.normals
                if planning_frame:
                    try:
                        T = lookup(arrays.frame_id, planning_frame, static)
                    except FrameError as e:
                        raise BagError(f"{where}: {e} (use --static-transform)") from None
                    if not np.array_equal(T, np.eye(4)):
                        points, normals = transform_points(points, T, normals)
                t = time.perf_counter()
                result = pipe.plan(points, normals)
                run.plan_s += time.perf_counter() - t
                header = cv.header_msg(frame, cloud.header.stamp)
                w.write_raw(cloud_topic, "sensor_msgs/msg/PointCloud2", m.raw, m.time_ns)
                w.write(GRASPS_TOPIC, cv.plan_result_to_msg(result, header, pipe.hand_name, pipe.joint_names),
                        m.time_ns)
                truth = None
                if result.success and result.grasps:
                    best = result.grasps[0]
                    traj = grasp_trajectory(best, pipe.hand.cfg.open_pose, pipe.joint_names, timing)
                    w.write(TRAJECTORY_TOPIC, cv.trajectory_to_msg(traj, header), m.time_ns)
                    w.write(WRIST_TOPIC, cv.pose_stamped_msg(best.wrist_pos, best.wrist_quat, header), m.time_ns)
                    w.write(MARKERS_TOPIC, cv.grasp_markers(result, header), m.time_ns)
                    if validator is not None:
                        args = [np.asarray(x, dtype=np.float64)[None] for x in
                                (best.wrist_pos, best.wrist_quat, best.pregrasp, best.grasp, best.squeeze)]
                        truth = {"held": bool(validator.validate(*args).success[0]),
                                 "lift": bool(validator.validate_tabletop(*args).success[0])}
                run.records.append(_record(m, cloud, frame, result, truth))
                bar.update()
    except OSError as e:
        raise BagError(f"{out_dir}: cannot write the outputs: {e}") from None
    finally:
        bar.close()
        if validator is not None:
            validator.close()
    _write_tables(run, bag, cloud_topic, pipe, mesh is not None)
    run.wall_s = time.perf_counter() - t_wall
    return run


def _record(m, cloud, frame: str, result, truth: dict | None) -> dict:
    ns = stamp_ns(cloud.header.stamp)
    grasps = []
    for rank, g in enumerate(result.grasps):
        grasps.append({
            "rank": rank, "score": _f(g.score), "energy": _f(g.energy), "validated": bool(g.validated),
            "sim_success": bool(g.sim_success), "num_contacts": int(g.num_contacts),
            "contact_distance_mm": _f(g.contact_distance_mm), "penetration_mm": _f(g.penetration_mm),
            "wrist_pos": [float(v) for v in g.wrist_pos], "wrist_quat_wxyz": [float(v) for v in g.wrist_quat],
            "pregrasp": [float(v) for v in g.pregrasp], "grasp": [float(v) for v in g.grasp],
            "squeeze": [float(v) for v in g.squeeze], "grasp_type": g.grasp_type, "source": g.source,
            **({"true_held": truth["held"], "true_lift": truth["lift"]} if truth is not None and rank == 0 else {})})
    return {"index": m.index, "bag_time_ns": m.time_ns, "stamp_ns": ns, "stamp": ns * 1e-9, "frame_id": frame,
            "cloud_frame_id": cloud.header.frame_id, "points": int(cloud.width) * int(cloud.height),
            "success": bool(result.success), "message": result.message, "info": result.info,
            "timings": {k: float(v) for k, v in result.timings.items()}, "grasps": grasps}


def _write_tables(run: BagPlanRun, bag: Path, topic: str, pipe, with_truth: bool) -> None:
    names = list(pipe.joint_names)
    head = ["index", "stamp", "frame_id", "rank", "score", "energy", "validated", "sim_success"]
    head += ["true_held", "true_lift"] if with_truth else []
    head += ["wrist_x", "wrist_y", "wrist_z", "wrist_qw", "wrist_qx", "wrist_qy", "wrist_qz"]
    head += [f"grasp_{n}" for n in names] + ["grasp_type", "source", "plan_success", "message"]
    with open(run.csv_path, "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(head)
        for r in run.records:
            ns = r["stamp_ns"]
            base = [r["index"], f"{ns // 10 ** 9}.{ns % 10 ** 9:09d}", r["frame_id"]]   # s, exact to the ns
            if not r["grasps"]:
                wr.writerow(base + [""] * (len(head) - len(base) - 2) + [r["success"], r["message"]])
            for g in r["grasps"]:
                row = base + [g["rank"], g["score"], g["energy"], g["validated"], g["sim_success"]]
                if with_truth:
                    row += [g.get("true_held", ""), g.get("true_lift", "")]
                row += g["wrist_pos"] + g["wrist_quat_wxyz"] + g["grasp"]
                row += [g["grasp_type"], g["source"], r["success"], r["message"]]
                wr.writerow(row)
    meta = {"bag": str(bag), "topic": topic, "hand": pipe.hand_name, "joint_names": names,
            "mode": pipe.mode, "output_bag": str(run.out_bag), "units": "m, rad; quaternions (w, x, y, z)",
            "planner_config": _config_dict(pipe.config), "messages": run.records}
    run.json_path.write_text(json.dumps(meta, indent=1))


def _config_dict(cfg) -> dict:
    from ..planner.config import to_flat
    return {k: v for k, v in to_flat(cfg).items()}


def _parse_set(items: list[str], ap: argparse.ArgumentParser) -> dict:
    import yaml
    over = {}
    for kv in items:
        key, sep, val = kv.partition("=")
        if not sep or not key.strip():
            ap.error(f"--set {kv!r}: expected KEY=VALUE, e.g. sampling.num_samples=64")
        over[key.strip()] = yaml.safe_load(val)
    return over


def build_parser(prog: str = "dex1b plan") -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bag", required=True, help="rosbag2 directory, or a .mcap / .db3 file")
    ap.add_argument("--topic", required=True, help="sensor_msgs/msg/PointCloud2 topic, e.g. /camera/points")
    ap.add_argument("--index", type=int, nargs="+", default=None, metavar="N",
                    help="plan only these messages of the topic (0 = first, -1 = last); default: all")
    ap.add_argument("--out", default=None, help="output folder (default out/bag_plans/<bag name>)")
    ap.add_argument("--storage", choices=("mcap", "sqlite3"), default=None,
                    help="storage of the output bag (default: the input's)")
    ap.add_argument("--hand", default=None, help="leap | allegro (default: the YAML's hand)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a planner setting (PlannerConfig dotted name, YAML value), repeatable")
    ap.add_argument("--config", default=None, help="grasp_planner params file (default config/grasp_planner.yaml)")
    ap.add_argument("--planning-frame", default=None,
                    help="plan in this frame (default: each cloud's own header.frame_id)")
    ap.add_argument("--static-transform", dest="static", action="append", default=[],
                    metavar="'FRAME x y z qx qy qz qw'",
                    help="pose of a cloud frame in --planning-frame (m, ROS quaternion order); repeatable")
    ap.add_argument("--mesh", default=None, help="true object (ycb:<name> | proc:<kind>:<seed> | mesh file) "
                                                 "to simulate each first grasp on")
    ap.add_argument("--mesh-place", default=None, metavar="X,Y,YAW",
                    help="stand --mesh upright on a table at z=0 at x, y (m), yawed (rad); default: as given")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    a = ap.parse_args(argv)
    try:
        return _main(a, ap)
    except BagError as e:
        print(f"dex1b plan: error: {e}", file=sys.stderr)
        return 2


def _main(a, ap) -> int:
    import torch

    from ..planner.config import load_planner_config
    from ..planner.pipeline import GraspPipeline

    if a.planning_frame is None and a.static:
        ap.error("--static-transform needs --planning-frame")
    over = _parse_set(a.overrides, ap)
    if a.hand:
        over["hand"] = a.hand
    cfg = load_planner_config(a.config, over)          # ConfigError -> the CLI's exit 2
    bag = Path(a.bag)
    # check the bag before loading the planner: a bad bag fails in a second
    probe = read_messages(bag, a.topic, _cloud_cls(), a.index)
    next(probe)
    probe.close()
    mesh = load_true_mesh(a.mesh, a.mesh_place) if a.mesh else None
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    pipe = GraspPipeline(config=cfg)
    out = Path(a.out) if a.out else Path("out") / "bag_plans" / (bag.stem if bag.is_file() else bag.name)
    run = plan_bag(bag, a.topic, out, pipe, a.index, a.storage, mesh, a.planning_frame, a.static,
                   trajectory_timing(a.config), progress=not a.no_progress)
    print(f"[plan] {run.n} cloud(s) from {bag} {a.topic}: {run.n_ok} planned, {run.n - run.n_ok} failed; "
          f"{pipe.hand_name}, {pipe.mode}")
    if mesh is not None:
        firsts = [r["grasps"][0] for r in run.records if r["grasps"]]
        print(f"[plan] first grasp on the true object ({a.mesh}): held {sum(g['true_held'] for g in firsts)}"
              f"/{run.n}, tabletop lift {sum(g['true_lift'] for g in firsts)}/{run.n}")
    print(f"[plan] {run.plan_s / max(run.n, 1):.2f} s per plan; {run.n / max(run.plan_s, 1e-9):.2f} clouds/s "
          f"planning, {run.n / max(run.wall_s, 1e-9):.2f} clouds/s end to end ({run.wall_s:.1f} s)")
    print(f"[plan] wrote {run.out_bag}/ ({run.out_bag and storage_of(run.out_bag)}), {run.csv_path}, {run.json_path}")
    return 0


def _cloud_cls():
    from sensor_msgs.msg import PointCloud2
    return PointCloud2


if __name__ == "__main__":
    sys.exit(main())
