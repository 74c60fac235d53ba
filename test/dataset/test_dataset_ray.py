"""The Ray engine on a real 2-node cluster over loopback (127.0.0.2 / 127.0.0.3, token auth, its own
RAY_TMPDIR) writes the same shards as the embedded engine for the same config and seed."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_same_shards, write_config

from dex1b_ros.dataset.build import run_build

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
ROOT = Path(__file__).resolve().parents[2]


def test_ray_two_nodes_equals_embedded(tmp_path, micro):
    pytest.importorskip("ray")
    import os

    from dex1b_ros.dataset.raycluster import LoopbackRayCluster

    cfg = micro("ray", engine="ray", ray={"proposers": 1, "validators": 1, "proposer_cpus": 1.0,
                                          "validator_cpus": 1.0, "train_cpus": 1.0})
    cmd = [sys.executable, "-m", "dex1b_ros.dataset.build", "--config", str(write_config(cfg, tmp_path / "r.yaml")),
           "--quiet", "--no-report"]
    with LoopbackRayCluster(nodes=2, cpus_per_node=1) as cluster:
        env = {**os.environ, **cluster.env}
        nodes = subprocess.run([sys.executable, "-c", "import ray, json; ray.init(); "
                                "print(json.dumps(sorted(n['NodeManagerAddress'] "
                                "for n in ray.nodes() if n['Alive'])))"],
                               env=env, capture_output=True, text=True, timeout=60)
        assert nodes.returncode == 0, nodes.stderr[-2000:]
        assert json.loads(nodes.stdout.strip().splitlines()[-1]) == ["127.0.0.2", "127.0.0.3"]
        r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=200)
        assert r.returncode == 0, r.stderr[-4000:]
    entries = [json.loads(p.read_text()) for p in Path(cfg.out).glob("manifest/round=*/hand=*/*.json")]
    assert entries and all(e["engine"] == "ray" for e in entries)
    ref = run_build(micro("embedded"), progress=False, report=False, log=lambda *_: None)
    assert_same_shards(Path(cfg.out), ref.root)
    ray_train = next(e for e in entries if e["stage"] == "train")
    assert ray_train["weights_sha256"] == ref.train[0]["weights_sha256"]
