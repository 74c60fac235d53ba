"""Measure the grasp monitor on the real sim_hand: joint-gap distributions of held vs missed grasps.

    python scripts/measure_grasp_monitor.py --frames 2 --grasps 5 --save test/planner/data/sim_hand_traces.npz

Plans grasps of the demo scene (``--hand``, default LEAP; ``--object``, default the mustard
bottle; at (0.5, 0) on the table) with the real planner on ``--frames`` sim_camera frames,
executes each of the top ``--grasps`` grasps in an in-process ``sim_hand`` node as planned, and
again with the wrist 30 cm higher (fingers close in free air: a certain miss). Prints per
execution sim_hand's ground truth (object_held), the monitor's verdict and the closure past the
grasp posture per finger, then the separation and the agreement. ``--save``: the recorded traces
(t s from the trajectory start, positions rad) as .npz.
"""
from __future__ import annotations

import argparse

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hand", default="leap", help="leap or allegro")
    ap.add_argument("--object", default="ycb:006_mustard_bottle",
                    help="object id (the demo's default, a training object; e.g. held-out ycb:021_bleach_cleanser)")
    ap.add_argument("--frames", type=int, default=2)
    ap.add_argument("--first-frame", type=int, default=0, help="number of the first camera frame (fresh frames: > 0)")
    ap.add_argument("--grasps", type=int, default=5)
    ap.add_argument("--samples", type=int, default=96, help="sampling.num_samples of the planner")
    ap.add_argument("--lift-offset", type=float, default=0.3, help="m, wrist raise of the 'missed' executions")
    ap.add_argument("--save", default=None)
    a = ap.parse_args(argv)

    import rclpy
    from rclpy.parameter import Parameter

    from dex1b_ros.planner.config import PlannerConfig, planner_config
    from dex1b_ros.planner.grasp_monitor import GraspMonitor, MonitorConfig, judge
    from dex1b_ros.planner.trajectory import grasp_trajectory
    from dex1b_ros.ros.planner_factory import make_planner
    from dex1b_ros.ros.sim_camera_node import SimCameraNode
    from dex1b_ros.ros.sim_hand_node import SimHandNode

    rclpy.init()
    obj = Parameter("object", value=a.object)
    cam = SimCameraNode(parameter_overrides=[Parameter("rate_hz", value=0.0), obj])
    hand = SimHandNode(parameter_overrides=[Parameter("real_time_factor", value=0.0), Parameter("hand", value=a.hand),
                                            obj])
    trace: list = []
    hand._publish_js = lambda d: trace.append((float(d.time), d.qpos[hand.scene.hand_qpos].copy()))
    cfg = planner_config({"sampling": {"num_samples": a.samples}, "ranking": {"top_k": a.grasps}},
                         PlannerConfig(hand=a.hand))
    planner = make_planner(cfg)
    rows, saved = [], {}
    mcfg = MonitorConfig()
    for f in range(a.frames):
        pts, nrm = cam.render(100 + a.first_frame + f)
        res = planner.plan(pts, nrm, a.grasps)
        print(f"frame {f}: {res.message} ({len(res.grasps)} grasps)")
        for k, g in enumerate(res.grasps):
            traj = grasp_trajectory(g, hand.hand.open_pose, hand.hand.joint_names)
            for kind, dz in (("planned", 0.0), ("raised", a.lift_offset)):
                trace.clear()
                held, status = hand.execute(traj, g.wrist_pos + np.array([0.0, 0.0, dz]), g.wrist_quat)
                t = np.array([x[0] for x in trace])
                Q = np.stack([x[1] for x in trace])
                mon = GraspMonitor(traj, mcfg)
                for ti, qi in zip(t, Q):
                    mon.update(ti, qi)
                v = mon.verdict()
                v_abs = judge(traj, t, Q, config=MonitorConfig(miss_fraction=0.0))   # the absolute rule alone
                closure = max(v.closure.values()) if v.closure else float("nan")
                second = sorted(v.closure.values())[-2] if len(v.closure) > 1 else closure
                kind_gt = kind if kind == "raised" else ("held" if held else "dropped")
                slip = max(v.slip.values()) if v.slip else float("nan")
                rows.append((kind_gt, held, v.state, closure, second, slip, v_abs.state))
                print(f"  grasp {k} {kind:7s}: sim_hand {'HELD' if held else 'not held':8s} monitor {v.state:8s} "
                      f"closure/finger {', '.join(f'{n} {x:+.3f}' for n, x in sorted(v.closure.items()))}; "
                      f"slip max {slip:+.3f}")
                key = f"f{f}_g{k}_{kind}"
                saved[key + "_t"], saved[key + "_q"] = t, Q
                saved[key + "_traj"] = traj.positions
                saved[key + "_times"] = traj.times
                saved[key + "_held"] = np.array(held)
                saved[key + "_wrist"] = np.concatenate([g.wrist_pos, g.wrist_quat])   # m, quat wxyz (as planned)
    print("\nsecond-largest finger closure past the grasp posture (rad) at squeeze end + settle_time "
          "(min_fingers = 2 decides on it), per finger the smallest joint closure:")
    for name, what in (("held", "planned, sim_hand held"), ("dropped", "planned, sim_hand not held"),
                       ("raised", "30 cm above: free air")):
        x = np.array([r[4] for r in rows if r[0] == name])
        s = np.array([r[5] for r in rows if r[0] == name])
        if x.size:
            print(f"  {what:28s} n={x.size:2d}  min {x.min():+.3f}  median {np.median(x):+.3f}  max {x.max():+.3f}"
                  f"   | slip max over fingers: median {np.nanmedian(s) if np.isfinite(s).any() else np.nan:+.3f}")
    for name in ("held", "dropped", "raised"):
        states = [r[2] for r in rows if r[0] == name]
        print(f"  monitor on {name:8s}: " + ", ".join(f"{k} {states.count(k)}" for k in sorted(set(states))))
    agree = sum((r[2] == "held") == r[1] for r in rows)
    print(f"agreement monitor (held vs missed/slipped) with sim_hand object_held: {agree}/{len(rows)}")
    for rule, col in (("monitor defaults", 2), ("absolute miss_threshold (miss_fraction 0)", 6)):
        fm = sum(r[1] and r[col] != "held" for r in rows)
        fh = sum((not r[1]) and r[col] == "held" for r in rows)
        print(f"  {rule}: {len(rows) - fm - fh}/{len(rows)} right; holds called missed/slipped {fm}, "
              f"drops called held {fh}")
    if a.save:
        np.savez_compressed(a.save, joint_names=np.array(hand.hand.joint_names), **saved)
        print(f"saved {a.save}")
    cam.destroy_node()
    hand.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
