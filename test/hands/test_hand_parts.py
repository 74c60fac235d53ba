"""The parts of a HandModel (kinematics, derived geometry, cache) on the synthetic hand of
test/conftest.py: no Menagerie folder needed."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from dex1b_ros.hands import cache, derived, kinematics, load_hand, load_hand_config


def test_pytorch_kinematics_is_patched_by_a_call_not_at_import():
    code = ("import pytorch_kinematics.mjcf as m, dex1b_ros.hands, dex1b_ros.hands.model;"
            "print(all(type(k) is int for k in m.JOINT_TYPE_MAP));"
            "from dex1b_ros.hands.kinematics import patch_pytorch_kinematics as p;"
            "print(p(), p(), all(type(k) is int for k in m.JOINT_TYPE_MAP))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True", "False", "True"]


def test_synthetic_hand_fixture(synthetic_hand):
    h = synthetic_hand
    assert h.name == "pincer" and h.n_joints == 4 and h.tip_names == ["thumb", "middle"]
    assert h.contact_finger.tolist() == [1] * 4 + [0] * 4         # a2 is on 'middle', b2 on 'thumb'
    assert len(h.surface_point) == len(h.surface_link) and h.energy_surface_point.shape[1] == 3


def test_cache_round_trip_equals_a_fresh_build(synthetic_hand_files, tmp_path, monkeypatch):
    yaml_path, hands_dir = synthetic_hand_files
    monkeypatch.setenv(cache.CACHE_ENV, "off")
    fresh = load_hand(yaml_path, hands_dir=hands_dir, dtype=torch.float64)
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path))
    built = load_hand(yaml_path, hands_dir=hands_dir, dtype=torch.float64)   # derives and writes
    assert len(list((tmp_path / "hands").glob("pincer-*.npz"))) == 1
    loaded = load_hand(yaml_path, hands_dir=hands_dir, dtype=torch.float64)  # reads
    for k in derived.DERIVED_FIELDS:
        for h in (built, loaded):
            torch.testing.assert_close(getattr(h, k), getattr(fresh, k), rtol=0, atol=0, msg=k)
    assert loaded.sphere_coverage == fresh.sphere_coverage
    assert all(np.array_equal(loaded.pad_direction[n], v) for n, v in fresh.pad_direction.items())


def test_cache_key_hashes_every_deriving_module(synthetic_hand_files, tmp_path, monkeypatch):
    yaml_path, hands_dir = synthetic_hand_files
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path))
    cfg = load_hand_config(yaml_path)
    mjcf = hands_dir / "pincer" / "pincer.xml"
    key = cache.cache_path(cfg, mjcf)
    assert key.parent == tmp_path / "hands" and key.name.startswith("pincer-")
    # the modules named are the ones that derive the geometry, and they exist
    here = cache.__file__.rsplit("/", 1)[0]
    for mod in (derived, kinematics, cache):
        assert mod.__file__.rsplit("/", 1)[1] in cache.DERIVING_MODULES
    assert {"model.py", "collision.py"} <= set(cache.DERIVING_MODULES)
    # a change of any of their sources changes the key
    real = type(mjcf).read_bytes
    for name in cache.DERIVING_MODULES:
        target = f"{here}/{name}"
        monkeypatch.setattr(type(mjcf), "read_bytes",
                            lambda self, t=target: real(self) + (b"#" if str(self) == t else b""))
        assert cache.cache_path(cfg, mjcf) != key, name
    monkeypatch.setattr(type(mjcf), "read_bytes", real)
    assert cache.cache_path(cfg, mjcf) == key
    monkeypatch.setenv(cache.CACHE_ENV, "off")
    assert cache.cache_path(cfg, mjcf) is None


def test_link_point_matrix_equals_per_point_transforms(synthetic_hand):
    h = synthetic_hand
    q = h.lower + (h.upper - h.lower) * torch.rand(5, h.n_joints, dtype=torch.float64)
    T = h.link_poses_palm(q)
    W = kinematics.link_point_matrix(T.shape[1], h.sphere_link, h.sphere_center)
    a = kinematics.apply_link_matrix(T, W)
    Tf = T[..., :3, :].reshape(-1, 3, 4)
    L = T.shape[1]
    idx = (torch.arange(5)[:, None] * L + h.sphere_link[None]).reshape(-1)
    b = kinematics.link_points(Tf, idx, h.sphere_center.repeat(5, 1)).view(5, -1, 3)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, h._apply(T, h.sphere_link, h.sphere_center, cache="spheres"))


def test_derived_errors_name_the_field(synthetic_hand_files, tmp_path):
    import yaml
    yaml_path, hands_dir = synthetic_hand_files
    data = yaml.safe_load(yaml_path.read_text())
    data["contacts"]["links"] = ["base_nope"]
    p = tmp_path / "pincer.yaml"
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match=r"contacts.links: unknown body 'base_nope'"):
        load_hand(p, hands_dir=hands_dir)
