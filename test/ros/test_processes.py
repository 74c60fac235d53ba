"""Real processes started through their console scripts with ``--ros-args --params-file``.

- ``sim_camera`` publishes a valid cloud over loopback to this test process.
- ``grasp_planner`` (no fakes: the real ``make_planner``) starts, declares exactly the YAML's
  parameters with the YAML's values (read back through the rcl_interfaces GetParameters
  service), loads the shipped generator and answers a plan request with grasps made by it
  (generator + refinement, not the optimizer fallback). Both stop cleanly on SIGINT.
"""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from rcl_interfaces.msg import ParameterType
from rcl_interfaces.srv import GetParameters
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_fakes import box_cloud, wait_for
from sensor_msgs.msg import PointCloud2

from dex1b_ros.ros import conversions as cv

pytestmark = [pytest.mark.ros, pytest.mark.timeout(90)]
ROOT = Path(__file__).resolve().parents[2]


def script(name: str) -> str:
    p = Path(sys.executable).parent / name
    found = str(p) if p.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"console script {name!r} is not installed; run `bash scripts/setup_env.sh` "
                    "(pip install -e . registers setup.py's entry points)")
    return found


class Proc:
    """A child process whose output goes to a file (no pipe to fill up)."""

    def __init__(self, args, tmp_path, name):
        self.log = tmp_path / f"{name}.log"
        self.fh = open(self.log, "w")
        env = dict(os.environ, PYTHONUNBUFFERED="1", RCUTILS_LOGGING_BUFFERED_STREAM="0",
                   RCUTILS_COLORIZED_OUTPUT="0")
        self.p = subprocess.Popen(args, cwd=ROOT, stdout=self.fh, stderr=subprocess.STDOUT, env=env,
                                  start_new_session=True)

    def text(self) -> str:
        return self.log.read_text()

    def stop(self, timeout=10.0) -> int:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        self.fh.close()
        return self.p.returncode


def test_sim_camera_process_publishes_a_valid_cloud(graph, ros_ctx, tmp_path):
    proc = Proc([script("sim_camera"), "--ros-args", "--params-file", "config/sim_camera.yaml",
                 "-p", "rate_hz:=2.0", "-p", "n_points:=3000"], tmp_path, "sim_camera")
    try:
        probe = graph.add(Node("probe_proc_cam", context=ros_ctx))
        got = []
        probe.create_subscription(PointCloud2, "object_cloud", got.append,
                                  QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
        wait_for(lambda: got or proc.p.poll() is not None, 30, what="a cloud from the sim_camera process")
        assert got, f"sim_camera exited early:\n{proc.text()}"
        c = cv.pointcloud2_to_xyz(got[0])
        assert c.points.shape == (3000, 3) and np.isfinite(c.points).all() and c.normals is not None
        assert c.frame_id == "world"
    finally:
        rc = proc.stop()
    assert rc == 0, proc.text()
    assert "Traceback" not in proc.text(), proc.text()


def _call_with_retry(client, req, what, tries=4, each=5.0):
    """Call a service, resending if no answer comes: right after start-up the client may have
    matched the server before the server's reader matched the client (the request is then lost)."""
    for _ in range(tries):
        fut = client.call_async(req)
        end = time.monotonic() + each
        while time.monotonic() < end and not fut.done():
            time.sleep(0.02)
        if fut.done():
            return fut.result()
        client.remove_pending_request(fut)
    pytest.fail(f"no answer to {what} after {tries} tries of {each} s")


def _value(v):
    t = v.type
    return {ParameterType.PARAMETER_BOOL: lambda: v.bool_value,
            ParameterType.PARAMETER_INTEGER: lambda: v.integer_value,
            ParameterType.PARAMETER_DOUBLE: lambda: v.double_value,
            ParameterType.PARAMETER_STRING: lambda: v.string_value,
            ParameterType.PARAMETER_DOUBLE_ARRAY: lambda: list(v.double_array_value),
            ParameterType.PARAMETER_STRING_ARRAY: lambda: list(v.string_array_value),
            ParameterType.PARAMETER_INTEGER_ARRAY: lambda: list(v.integer_array_value),
            }[t]()


def _flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k: v})
    return out


def test_grasp_planner_process_declares_the_yaml_and_plans_with_the_shipped_generator(graph, ros_ctx, tmp_path):
    from dex1b_msgs.srv import PlanGrasps

    proc = Proc([script("grasp_planner"), "--ros-args", "--params-file", "config/grasp_planner.yaml"], tmp_path,
                "grasp_planner")
    try:
        probe = graph.add(Node("probe_proc_planner", context=ros_ctx))
        cli = probe.create_client(GetParameters, "/grasp_planner/get_parameters")
        wait_for(lambda: cli.service_is_ready() or proc.p.poll() is not None, 30, what="grasp_planner parameters")
        assert proc.p.poll() is None, f"grasp_planner exited:\n{proc.text()}"
        yml = _flatten(yaml.safe_load((ROOT / "config/grasp_planner.yaml").read_text())["grasp_planner"]
                       ["ros__parameters"])
        names = sorted(yml)
        res = _call_with_retry(cli, GetParameters.Request(names=names), "get_parameters")
        got = {n: _value(v) for n, v in zip(names, res.values)}
        for n in names:
            assert got[n] == pytest.approx(yml[n]) if isinstance(yml[n], float) else got[n] == yml[n], n
        # the real planner loads the SHIPPED generator and plans with it (not the optimizer fallback)
        wait_for(lambda: "planner ready" in proc.text() or "planner unavailable" in proc.text(), 60,
                 what="the planner to load or fail")
        assert "planner unavailable" not in proc.text(), proc.text()
        srv = probe.create_client(PlanGrasps, "plan_grasps")
        assert srv.wait_for_service(timeout_sec=10)
        req = PlanGrasps.Request(cloud=cv.xyz_to_pointcloud2(box_cloud(), frame_id="world"))
        r = _call_with_retry(srv, req, "plan_grasps", tries=3, each=40.0)   # a plan takes 1-10 s on 2 loaded cores
        assert r.success, r.message
        assert "dexsimple.safetensors" in r.grasps.planner_info, r.grasps.planner_info
        assert r.grasps.grasps and r.grasps.grasps[0].source == "generator+refinement"
        assert proc.p.poll() is None, proc.text()
    finally:
        rc = proc.stop()
    assert rc == 0, proc.text()
    assert "Traceback" not in proc.text(), proc.text()
