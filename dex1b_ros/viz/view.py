"""``dex1b view``: look at what the planner planned, in 3D in the browser (viser).

Examples::

    dex1b view out/plans/plan-20260101-120000-000.npz          # a saved plan; open the printed URL
    dex1b view plan.npz --port 8081 --host 0.0.0.0              # serve to other machines too
    dex1b view --follow                                         # the running node's plans, live (ROS 2)
    dex1b view --follow --grasps-topic /robot/grasps --cloud-topic /camera/points

Saved plans come from the node (parameter ``save_plans_dir``) or ``dex1b eval --save-plans``
(format: :mod:`dex1b_ros.viz.plan_file`). ``--follow`` subscribes to the node's ``grasps``
(dex1b_msgs/GraspArray) and its input cloud and redraws on every plan (no completed shape or
table there: the node does not publish them). Stop with Ctrl-C.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from ..config_utils import ConfigError


def process_age() -> float | None:
    """Seconds since this process started (Linux /proc), or None."""
    try:
        start_ticks = int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19])
        uptime = float(open("/proc/uptime").read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def build_parser(prog: str = "dex1b view") -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=(__doc__ or "").split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("plan", nargs="?", help="saved plan file (.npz) to show")
    ap.add_argument("--follow", action="store_true", help="show the running grasp_planner node's plans as they come")
    ap.add_argument("--topic", "--grasps-topic", dest="grasps_topic", default="grasps",
                    help="--follow: dex1b_msgs/GraspArray topic (default: grasps)")
    ap.add_argument("--cloud-topic", default="object_cloud",
                    help="--follow: sensor_msgs/PointCloud2 topic drawn with the grasps ('' = none; default: "
                         "object_cloud)")
    ap.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080; 0 = any free port)")
    ap.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1; 0.0.0.0 = all)")
    ap.add_argument("--hands-dir", help="folder with the MuJoCo Menagerie hand models")
    ap.add_argument("--exit-after", type=float, default=None, help=argparse.SUPPRESS)  # tests, benchmarks
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    a = ap.parse_args(argv)
    if bool(a.plan) == bool(a.follow):
        ap.error("give a saved plan file, or --follow (not both)")
    if not 0 <= a.port <= 65535:
        ap.error(f"--port: expected 0..65535, got {a.port}")
    from .plan_file import PlanFileError, load_plan
    from .viewer import PlanViewer, ViewerError

    try:
        plan = load_plan(a.plan) if a.plan else None
        viewer = PlanViewer(a.host, a.port, hands_dir=a.hands_dir)
    except (PlanFileError, ViewerError, ConfigError, FileNotFoundError) as e:
        print(f"dex1b view: error: {e}", file=sys.stderr)
        return 2
    try:
        if plan is not None:
            try:
                viewer.show(plan)
            except (ConfigError, FileNotFoundError, ValueError) as e:
                print(f"dex1b view: error: {a.plan}: cannot draw it: {e}", file=sys.stderr)
                return 2
            age = process_age()
            print(f"dex1b view: serving {viewer.url}  ({len(plan.grasps)} grasps of {plan.hand}"
                  + (f"; scene ready {age:.2f} s after start" if age is not None else "") + "); Ctrl-C stops",
                  flush=True)
            _wait(a.exit_after)
            return 0
        from ..ros.plan_follower import follow  # the ROS part (rclpy) lives in dex1b_ros.ros
        print(f"dex1b view: serving {viewer.url}; following {a.grasps_topic!r}"
              + (f" and {a.cloud_topic!r}" if a.cloud_topic else "") + "; Ctrl-C stops", flush=True)
        return follow(viewer, a.grasps_topic, a.cloud_topic, exit_after=a.exit_after)
    finally:
        viewer.close()


def _wait(seconds: float | None) -> None:
    t_end = None if seconds is None else time.monotonic() + seconds
    try:
        while t_end is None or time.monotonic() < t_end:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
