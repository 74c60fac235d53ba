"""``dex1b demo``: the whole system end to end, with real ROS 2 processes over loopback.

    dex1b demo                      # LEAP, mustard bottle, closed loop; PNG in out/demo.png
    dex1b demo --hand allegro --object ycb:003_cracker_box --out out/allegro.png
    dex1b demo --yaw 90 --seed 3         # the bottle turned 90 deg on the table, other camera noise
    dex1b demo --open-loop               # one plan, its best grasp executed once: the planner alone
    dex1b demo --record out/demo_bag     # also record the topics (rosbag2, MCAP) for `dex1b plan --bag`
    dex1b demo --perturb-first 0.3       # the first attempt misses, the joint states show it, replan

Starts four console scripts as separate processes (their own ROS 2 domain, discovery limited
to localhost):

* ``sim_camera``  publishes a partial, noisy PointCloud2 of the object on a table;
* ``grasp_planner`` (params ``config/grasp_planner.yaml``) caches it;
* ``sim_hand``    a MuJoCo hand that executes trajectories, publishes its JointState like a driver
  and reports whether it held the object (ground truth, for the printout only);
* ``grasp_executive`` (not with ``--open-loop``) asks the planner for ranked grasps, executes one,
  tells from the joint states (and sim_hand's zeroed wrist load) whether the hand closed on the
  object and lifted its weight,
  and on a miss replans on a fresh camera frame and executes the next candidate (``--attempts``).

This process calls the executive's ``grasp_and_verify`` service, prints its verdict per attempt
next to sim_hand's ground truth, then the executed grasp with its scores and the node's
``predicted_success``, and renders it to a PNG. With ``--open-loop`` it asks the planner through
its ``PlanGrasps`` **action** instead (empty cloud = the latest one, ``execute=true``), prints the
feedback per stage and the chosen grasp, waits for ``sim_hand``'s verdict (``object_held``); it
retries with the next camera frame when a plan fails, up to ``--attempts`` times.
"""
from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from .. import resources

#: The package's share directory at import time (see :mod:`dex1b_ros.resources`); kept for compatibility.
REPO_ROOT = resources.resource_path(must_exist=False)


def _script(name: str) -> str:
    p = Path(sys.executable).parent / name
    if not p.exists():
        raise FileNotFoundError(f"console script {name!r} not found next to {sys.executable}; "
                                f"run scripts/setup_env.sh (pip install -e .)")
    return str(p)


def _start(name: str, params: str, overrides: dict, env: dict, log_dir: Path, log_name: str | None = None
           ) -> subprocess.Popen:
    cmd = [_script(name), "--ros-args", "--params-file", str(resources.config_dir(params))]
    for k, v in overrides.items():
        cmd += ["-p", f"{k}:={v}"]
    log = open(log_dir / f"{log_name or name}.log", "w")
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def run(a) -> int:
    from .isolation import private_domain
    env = dict(os.environ)
    domain_lock = private_domain(env)   # noqa: F841 (held until this command exits: no other dex1b command joins)
    out = Path(a.out)
    log_dir = out.parent / "demo_logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    scene = {"object": a.object, "object_xy": "[0.5, 0.0]", "object_yaw": math.radians(a.yaw)}
    planner_overrides = {"hand": a.hand}   # the rest: config/grasp_planner.yaml (the node's defaults)
    if a.samples is not None:
        planner_overrides["sampling.num_samples"] = a.samples
    if a.validate is not None:
        planner_overrides["validation.num_validate"] = a.validate
    procs = [
        _start("sim_camera", "sim_camera.yaml", {**scene, "rate_hz": 2.0, "seed": a.seed}, env, log_dir),
        _start("grasp_planner", "grasp_planner.yaml", planner_overrides, env, log_dir),
        _start("sim_hand", "sim_hand.yaml", {**scene, "hand": a.hand, "real_time_factor": 0.0}, env, log_dir),
    ]
    if a.closed_loop:
        procs.append(_start("grasp_executive", "grasp_executive.yaml",
                            {"hand": a.hand, "max_attempts": a.attempts,
                             "perturb_first": f"[0.0, 0.0, {float(a.perturb_first)}]"}, env, log_dir))
    print(f"[demo] ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}: started sim_camera, grasp_planner ({a.hand}), sim_hand"
          + (", grasp_executive (closed loop)" if a.closed_loop else "") + f"; logs in {log_dir}/")
    try:
        return _client(a, out)
    except KeyboardInterrupt:
        print("[demo] interrupted: stopping the nodes")
        return 130
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def _wait_until(done, end: float, step: float) -> bool:
    """Poll ``done()`` every ``step`` s until it is true or ``time.monotonic()`` reaches ``end``;
    returns ``done()``. Raises KeyboardInterrupt once a signal shut rclpy down (its handler takes
    Ctrl-C and SIGTERM, so a plain sleep loop would never see them)."""
    import rclpy
    while not done() and time.monotonic() < end:
        if not rclpy.ok():
            raise KeyboardInterrupt
        time.sleep(step)
    return bool(done())


def _wait_future(fut, end: float, step: float) -> bool:
    """Wait for ``fut`` until ``end`` (``_wait_until``); False on timeout."""
    return _wait_until(fut.done, end, step)


def _wait_for_sim_hand(node, timeout: float) -> bool:
    """Wait until sim_hand is up: its ``object_held`` publisher is seen (it creates its trajectory and
    pose subscriptions before its publishers), then a moment for the planner's publishers to match them.
    Without this a fast first plan could be published before sim_hand listened, and the demo waited
    for a verdict that never came. False after ``timeout`` s."""
    if not _wait_until(lambda: node.count_publishers("object_held") > 0, time.monotonic() + timeout, 0.1):
        return False
    time.sleep(0.5)
    return True


def _client(a, out: Path) -> int:
    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.node import Node
    from std_msgs.msg import Bool, String

    from dex1b_msgs.action import PlanGrasps

    from .actions import LockedActionClient


    rclpy.init()
    node = Node("dex1b_demo")
    held: list = []
    status: list = []
    node.create_subscription(Bool, "object_held", lambda m: held.append(m.data), 10)
    node.create_subscription(String, "sim_hand_status", lambda m: status.append(m.data), 10)
    writer = _start_recording(a, node) if a.record else None
    client = LockedActionClient(node, PlanGrasps, "plan_grasps_action")   # rclpy's loses fast results
    ex = MultiThreadedExecutor(num_threads=2)
    ex.add_node(node)
    spin = threading.Thread(target=ex.spin, daemon=True)
    spin.start()
    try:
        if a.closed_loop:
            result = _closed_loop(a, node, held)
            if result is None:
                return 1          # the executive or the camera never answered
            if result.success and result.grasps.grasps:
                _render(a, result.grasps.grasps[0], result, out)
            return 0              # ran end to end (held or not, as the open loop)
        if not client.wait_for_server(timeout_sec=60.0):
            print("[demo] the planner's action server did not come up in 60 s (see demo_logs/grasp_planner.log)")
            return 1
        if not _wait_for_sim_hand(node, 60.0):
            print("[demo] sim_hand did not come up in 60 s (no publisher on 'object_held'; see demo_logs/sim_hand.log)")
            return 1
        result = None
        attempt, waited = 0, 0.0
        while attempt < a.attempts:
            attempt += 1
            time.sleep(1.0)  # let a (new) camera frame arrive
            held.clear()     # the verdict of THIS attempt's execution (an attempt without a result may have run)
            status.clear()
            goal = PlanGrasps.Goal()
            goal.execute = True
            t0 = time.monotonic()
            last = [""]

            def on_feedback(fb, last=last):  # this attempt's list, not the loop variable's later value
                f = fb.feedback
                if f.stage != last[0]:
                    print(f"[demo]   {f.stage:10s} {f.progress * 100:5.1f}%  {f.detail}")
                    last[0] = f.stage

            fut = client.send_goal_async(goal, feedback_callback=on_feedback)
            end = t0 + a.plan_timeout
            if not _wait_future(fut, end, 0.02):
                print(f"[demo] attempt {attempt}: the planner did not answer the goal within --plan-timeout "
                      f"{a.plan_timeout:.0f} s (see demo_logs/grasp_planner.log); trying again")
                continue
            handle = fut.result()
            if not handle.accepted:
                print("[demo] goal rejected (planner busy?)")
                continue
            rfut = handle.get_result_async()
            if not _wait_future(rfut, end, 0.05):
                # never wait forever (a planner that died; a lost response, as rclpy's own action
                # client loses fast ones: dex1b_ros.ros.actions)
                handle.cancel_goal_async()
                print(f"[demo] attempt {attempt}: no result from the planner within --plan-timeout "
                      f"{a.plan_timeout:.0f} s (see demo_logs/grasp_planner.log); trying again")
                result = None
                continue
            result = rfut.result().result
            if "no cloud has been received" in result.message and waited < 60:
                attempt -= 1  # the camera is still starting: not an attempt
                waited += 1.0
                continue
            print(f"[demo] attempt {attempt}: {'success' if result.success else 'failed'} in "
                  f"{time.monotonic() - t0:.1f} s: {result.message}")
            if result.success:
                break
        if result is None or not result.success:
            print("[demo] no plan succeeded; the sim hand was not run")
            return 1
        best = result.grasps.grasps[0]
        _print_choice(best, result)
        _wait_until(lambda: bool(held), time.monotonic() + a.hand_timeout, 0.1)
        if held:
            print(f"[demo] sim_hand: object {'HELD' if held[-1] else 'NOT held'} after lifting 10 cm"
                  + (f" ({status[-1]})" if status else ""))
        else:
            print(f"[demo] sim_hand did not report within {a.hand_timeout:.0f} s")
        _render(a, best, result, out)
        return 0
    finally:
        ex.shutdown()
        if writer is not None:
            writer.close()
            print(f"[demo] recorded {writer.path}/ ({writer.storage}): "
                  + ", ".join(f"{t} {n}" for t, n in sorted(writer.counts.items())))
        node.destroy_node()
        rclpy.try_shutdown()


def _print_choice(best, result) -> None:
    """The chosen grasp's scores, the node's verdict, the wrist target and the grasp joints."""
    print(f"[demo] chosen grasp ({best.source}, type {best.grasp_type}): score {best.score:.3f}, energy "
          f"{best.energy:.3f}, contact distance {best.contact_distance_mm:.2f} mm, penetration "
          f"{best.penetration_mm:.2f} mm, MuJoCo check {'passed' if best.sim_success else 'failed'} "
          f"({best.num_contacts} contacts); evaluator "
          + ("none" if best.success_probability != best.success_probability
             else f"p = {best.success_probability:.2f}")
          + f"; predicted success: {'yes' if best.predicted_success else 'no'}")
    p, q = result.wrist_pose.pose.position, result.wrist_pose.pose.orientation
    print(f"[demo] wrist target in '{result.wrist_pose.header.frame_id}': position "
          f"[{p.x:.3f}, {p.y:.3f}, {p.z:.3f}] m, quaternion xyzw [{q.x:.3f}, {q.y:.3f}, {q.z:.3f}, {q.w:.3f}]")
    print("[demo] grasp joints (rad): " + ", ".join(f"{n}={v:+.2f}" for n, v in
                                                     zip(best.joint_names, best.grasp_positions)))


def _closed_loop(a, node, held: list):
    """``--closed-loop``: ask ``grasp_executive`` (service ``grasp_and_verify``) to plan, execute
    and verify from the joint states and the wrist load, replanning on a miss; print its verdict per attempt next to
    sim_hand's ground truth. Returns the service response (``success``: held), or None when the
    executive or the camera did not answer."""
    from sensor_msgs.msg import PointCloud2
    from std_msgs.msg import String

    from dex1b_msgs.srv import PlanGrasps as PlanGraspsSrv

    lines: list = []
    node.create_subscription(String, "grasp_executive_status", lambda m: (lines.append(m.data), print(
        "[demo] " + m.data.replace("[grasp_executive] ", "executive: "))), 10)
    clouds: list = []
    node.create_subscription(PointCloud2, "object_cloud", lambda m: clouds.append(1), 1)
    cli = node.create_client(PlanGraspsSrv, "grasp_and_verify")
    deadline = time.monotonic() + 90.0
    while (not cli.service_is_ready() or len(clouds) < 3) and time.monotonic() < deadline:
        time.sleep(0.1)   # 3 camera frames seen here: the planner has one cached by now
    if not cli.service_is_ready() or not clouds:
        print("[demo] grasp_executive or the camera did not come up in 90 s (see demo_logs/)")
        return None
    if a.perturb_first:
        print(f"[demo] closed loop: the first attempt's wrist is raised {a.perturb_first * 100:.0f} cm so that it "
              "misses; the executive must notice from the joint states and the wrist load, and replan")
    fut = cli.call_async(PlanGraspsSrv.Request())   # empty cloud = the planner's latest camera frame
    deadline = time.monotonic() + 120.0 * max(a.attempts, 1)
    while not fut.done() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not fut.done():
        print("[demo] grasp_executive did not answer in time")
        return None
    res = fut.result()
    n_attempts = sum(1 for x in lines if " attempt " in x)
    print(f"[demo] closed loop: {'HELD' if res.success else 'FAILED'} after {n_attempts} attempt(s); "
          f"sim_hand's verdicts: {['held' if h else 'not held' for h in held]}")
    if res.success and res.grasps.grasps:
        _print_choice(res.grasps.grasps[0], res)
    return res


def _start_recording(a, node):
    """``--record``: a BagWriter at ``a.record`` fed by raw subscriptions (in this client process)
    to the demo's topics: camera cloud, grasps, trajectory, wrist pose, markers, the hand driver's
    command, the sim hand's joint states and verdicts."""
    from geometry_msgs.msg import PoseStamped
    from sensor_msgs.msg import JointState, PointCloud2
    from std_msgs.msg import Bool, String
    from trajectory_msgs.msg import JointTrajectory
    from visualization_msgs.msg import MarkerArray

    from dex1b_msgs.msg import GraspArray

    from ..hands.config import load_hand_config
    from .bags import BagRecorder, BagWriter
    from .conversions import adapter_message_type

    driver = load_hand_config(a.hand).driver
    topics = {"object_cloud": PointCloud2, "grasps": GraspArray, "grasp_trajectory": JointTrajectory,
              "grasp_wrist_pose": PoseStamped, "grasp_markers": MarkerArray, "joint_states": JointState,
              "object_held": Bool, "sim_hand_status": String}
    cmd_type = adapter_message_type(driver.command_type) if driver.command_topic else None
    if cmd_type is not None:   # LEAP: cmd_leap JointState; Allegro: its controller's Float64MultiArray
        topics[driver.command_topic] = cmd_type
    writer = BagWriter(a.record, a.record_storage, overwrite=True)
    BagRecorder(node, writer, topics)
    print(f"[demo] recording {', '.join(topics)} to {a.record}/ ({a.record_storage})")
    return writer


def _render(a, best, result, out: Path) -> None:
    from ..hands import load_hand
    from ..hands.render import save_png
    from ..objects import load_object
    from ..optim.optimizer import GraspSet
    from ..optim.render import render_grasps
    from .sim_world import place_on_table

    hand = load_hand(a.hand)
    mesh = load_object(a.object).mesh.copy()
    mesh.apply_transform(place_on_table(mesh, (0.5, 0.0), math.radians(a.yaw), 0.0))   # as sim_hand places it
    p, q = result.wrist_pose.pose.position, result.wrist_pose.pose.orientation
    one = lambda v: np.asarray(v, dtype=np.float64)[None]
    gs = GraspSet(a.hand, one([p.x, p.y, p.z]), one([q.w, q.x, q.y, q.z]), one(best.pregrasp_positions),
                  one(best.grasp_positions), one(best.squeeze_positions), {}, np.zeros(1), np.zeros(1),
                  np.zeros((1, len(hand.tip_names)), bool), np.ones(1, bool))
    img = np.concatenate([render_grasps(hand, mesh, gs, [0], which=w, cols=1, tile=(400, 400), table_z=0.0)
                          for w in ("pregrasp", "grasp", "squeeze")], axis=1)
    print(f"[demo] wrote {save_png(img, out)} (pregrasp | grasp | squeeze)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="dex1b demo", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hand", default="leap", help="leap | allegro")
    ap.add_argument("--object", default="ycb:006_mustard_bottle", help="object id (ycb:<name>, proc:<kind>:<seed>)")
    ap.add_argument("--yaw", type=float, default=0.0,
                    help="deg, the object's turn about the vertical on the table (the camera stays): another view")
    ap.add_argument("--seed", type=int, default=0, help="the camera's noise seed (frame i uses seed + i)")
    ap.add_argument("--samples", type=int, default=None,
                    help="grasp candidates per plan (default: sampling.num_samples of config/grasp_planner.yaml)")
    ap.add_argument("--validate", type=int, default=None,
                    help="candidates checked in MuJoCo per plan (default: validation.num_validate of the YAML)")
    ap.add_argument("--attempts", type=int, default=3, help="plans to try (each on a new camera frame)")
    ap.add_argument("--hand-timeout", type=float, default=60.0, help="s to wait for the sim hand's verdict")
    ap.add_argument("--plan-timeout", type=float, default=120.0,
                    help="s to wait for one plan's result (then the attempt counts as failed and the next starts)")
    ap.add_argument("--out", default="out/demo.png", help="PNG of the chosen grasp")
    ap.add_argument("--record", default=None, metavar="BAG",
                    help="record the demo's topics to this rosbag2 directory (replaced if it is a bag); "
                         "plan on it again with `dex1b plan --bag BAG --topic /object_cloud`")
    ap.add_argument("--record-storage", choices=("mcap", "sqlite3"), default="mcap", help="storage of --record")
    loop = ap.add_mutually_exclusive_group()
    loop.add_argument("--closed-loop", dest="closed_loop", action="store_true", default=True,
                      help="(default) execute through grasp_executive: it watches the joint states and the wrist "
                           "load, tells a missed or slipped grasp from them and replans with the next candidate "
                           "(up to --attempts), as a robot would")
    loop.add_argument("--open-loop", dest="closed_loop", action="store_false",
                      help="execute the first plan's best grasp once and report sim_hand's verdict (no executive, "
                           "no replanning): what the planner alone gives")
    ap.add_argument("--perturb-first", type=float, default=0.0, metavar="DZ",
                    help="m: raise the first attempt's wrist by DZ so that it misses (shows the recovery; the "
                         "closed loop only), e.g. 0.3")
    a = ap.parse_args(argv)
    if a.perturb_first < 0:
        ap.error(f"--perturb-first: must be >= 0 m, got {a.perturb_first}")
    if a.perturb_first > 0 and not a.closed_loop:
        ap.error("--perturb-first needs the closed loop (drop --open-loop)")
    return run(a)


if __name__ == "__main__":
    sys.exit(main())
