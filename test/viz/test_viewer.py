"""``dex1b view``: the viewer core without a browser, the command's errors, and its open time."""
import re
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from viz_helpers import fake_plan

from dex1b_ros.viz.hand_mesh import HandMeshes, cluster_vertices
from dex1b_ros.viz.view import main
from dex1b_ros.viz.viewer import PlanViewer, matrix_to_quat, quat_to_matrix


def test_quaternions_round_trip():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(20, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    R = np.array([quat_to_matrix(x) for x in q])
    back = matrix_to_quat(R)
    np.testing.assert_allclose(np.abs(np.sum(back * q, axis=1)), 1.0, atol=1e-9)


def test_hand_meshes_follow_the_joints():
    hm = HandMeshes("leap")
    assert 5_000 < hm.n_faces < 60_000                  # simplified: a browser draws several hands
    open_, closed = hm.geom_poses(hm.cfg.open_pose), hm.geom_poses(np.full(len(hm.joint_names), 0.8))
    assert open_.shape == (len(hm.geom_ids), 4, 4)
    moved = np.linalg.norm(open_[:, :3, 3] - closed[:, :3, 3], axis=1)
    assert moved.max() > 0.01 and moved.min() < 1e-9   # fingers move, the palm does not
    with pytest.raises(ValueError, match="16 joints, got 3"):
        hm.geom_poses(np.zeros(3))
    v, f = cluster_vertices(np.array([[0, 0, 0], [1e-4, 0, 0], [1, 0, 0], [0, 1, 0.0]]),
                            np.array([[0, 1, 2], [0, 2, 3]]), 0.01)
    assert len(v) == 3 and len(f) == 1 and sorted(f[0]) == [0, 1, 2]   # the collapsed triangle dropped


def test_viewer_draws_a_saved_plan(planned):
    from dex1b_ros.viz.plan_file import load_plan
    plan = load_plan(planned[2])
    v = PlanViewer(port=0)
    try:
        v.show(plan)
        assert len(v._hands) == len(v.hand_meshes("leap").parts) and v._hull is not None and v._table is not None
        h = v._hands[0]
        assert len(h.batched_positions) == len(plan.grasps) * len(v.hand_meshes("leap").parts[0].geoms)
        def positions():
            return np.concatenate([np.array(x.batched_positions) for x in v._hands])
        p0 = positions()
        v.gui_posture.value = 2          # squeeze: the fingers press further (the pregrasp of a grasp low
        v._update_hands()                # on the table may equal the grasp: it opens only above the table)
        assert not np.allclose(positions(), p0)
        v.gui_show.value = "none"
        v._update_hands()
        assert not np.array(h.batched_scales).any()
        assert "chosen" in v.gui_grasps.content and "passed" in v.gui_grasps.content
        with urllib.request.urlopen(v.url, timeout=10) as r:
            assert r.status == 200
        v.show(fake_plan(2, plan.joint_names))    # replaced (as --follow does)
        assert "type1" in v.gui_grasps.content and "evaluator" in v.gui_grasps.content
        with pytest.raises(ValueError, match="joint_names"):
            v.show(fake_plan(2))
    finally:
        v.close()


def test_command_errors_are_clear(tmp_path, capsys):
    assert main([str(tmp_path / "missing.npz")]) == 2
    assert "missing.npz: plan file not found" in capsys.readouterr().err
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    assert main([str(tmp_path / "bad.npz")]) == 2
    assert "bad.npz: not a saved plan" in capsys.readouterr().err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        from dex1b_ros.viz.plan_file import save_plan
        path = save_plan(fake_plan(), tmp_path / "ok.npz")
        assert main([str(path), "--port", str(port)]) == 2
        assert f"port {port} on 127.0.0.1 is not free" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([])            # neither a file nor --follow


def test_view_command_serves_a_saved_plan_quickly(planned):
    """Open time: from starting `dex1b view PLAN` to the scene being served (docs/viewer.md)."""
    t0 = time.monotonic()
    p = subprocess.Popen([sys.executable, "-m", "dex1b_ros.cli", "view", str(planned[2]), "--port", "0",
                          "--exit-after", "60"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = None
        for line in p.stdout:
            m = re.search(r"dex1b view: serving (http://\S+)", line)
            if m:
                url = m.group(1)
                break
        assert url, "no 'serving' line"
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200
        took = time.monotonic() - t0
        print(f"dex1b view: scene served {took:.2f} s after the command started")
        assert took < 15.0      # 1.6-2.6 s measured here (docs/viewer.md); generous for loaded CI machines
    finally:
        p.terminate()
        p.wait(10)
