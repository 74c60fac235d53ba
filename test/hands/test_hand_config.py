"""Hand configuration: errors that name the field, model lookup, and a third hand from YAML only."""
import mujoco
import numpy as np
import pytest
import torch
import yaml

from dex1b_ros.config_utils import ConfigError
from dex1b_ros.hands import HandPose, available_hands, load_hand, load_hand_config, resolve_mjcf
from dex1b_ros.hands.config import HAND_CONFIG_DIR, HANDS_DIR_ENV
from dex1b_ros.rotation import matrix_to_rot6d


def _write_variant(tmp_path, **changes):
    data = yaml.safe_load((HAND_CONFIG_DIR / "leap.yaml").read_text())
    data.update(changes)
    p = tmp_path / "variant.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_shipped_hands_are_listed():
    assert {"leap", "allegro"} <= set(available_hands())


def test_unknown_hand_names_the_field_and_known_hands():
    with pytest.raises(ConfigError, match=r"hand: unknown hand 'shadow'.*allegro, leap"):
        load_hand_config("shadow")


def test_wrong_joint_count_names_joint_names(tmp_path):
    data = yaml.safe_load((HAND_CONFIG_DIR / "leap.yaml").read_text())
    p = _write_variant(tmp_path, joint_names=data["joint_names"][:-1], open_pose=data["open_pose"][:-1])
    with pytest.raises(ConfigError, match=r"variant.yaml.*joint_names: expected the 16 joints.*missing \['th_ipl'\]"):
        load_hand(p)


def test_open_pose_length_and_limits_are_checked(tmp_path):
    with pytest.raises(ConfigError, match=r"open_pose: expected 16 values"):
        load_hand_config(_write_variant(tmp_path, open_pose=[0.0] * 3))
    with pytest.raises(ConfigError, match=r"open_pose: if_mcp=9.000 is outside its limits"):
        load_hand(_write_variant(tmp_path, open_pose=[9.0] + [0.0] * 15))


def test_unknown_and_mistyped_fields_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"variant.yaml: colour: unknown field"):
        load_hand_config(_write_variant(tmp_path, colour="red"))
    with pytest.raises(ConfigError, match=r"contacts.points_per_link: expected an integer"):
        load_hand_config(_write_variant(tmp_path, contacts={"links": ["if_ds"], "points_per_link": "many"}))
    with pytest.raises(ConfigError, match=r"spheres.coverage: must be in \[0.5, 1\]"):
        load_hand_config(_write_variant(tmp_path, spheres={"coverage": 2.0}))


def test_missing_model_file_names_every_path_tried(tmp_path, monkeypatch):
    cfg = load_hand_config("leap")
    monkeypatch.setenv(HANDS_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError) as e:
        resolve_mjcf(cfg, tmp_path / "empty")
    assert str(tmp_path / "empty" / "leap_hand" / "right_hand.xml") in str(e.value)
    assert HANDS_DIR_ENV in str(e.value)
    # without an explicit dir the env var comes first in the search
    from dex1b_ros.hands.config import hands_dir_candidates
    assert hands_dir_candidates()[0] == tmp_path / "nowhere"


def test_a_third_hand_needs_only_yaml_and_model_files(synthetic_hand_files):
    # the synthetic MJCF + YAML of test/conftest.py (also the shared `synthetic_hand` fixture)
    yaml_path, hands_dir = synthetic_hand_files
    hand = load_hand(yaml_path, hands_dir=hands_dir, dtype=torch.float64)
    assert hand.joint_names == ["b_j1", "b_j2", "a_j1", "a_j2"]
    assert hand.n_joints == 4 and hand.lower[2] == -0.2 and hand.upper[3] == 1.6
    assert hand.contact_point.shape == (8, 3)
    assert 4 <= hand.sphere_radius.numel() <= 5 * 6
    # palm centre: on the base's face toward the fingers (z = +0.01 in the base frame)
    assert float(hand.palm_center[2]) == pytest.approx(0.01, abs=1e-3)
    # FK in driver order matches MuJoCo for a random configuration
    q = torch.tensor([[0.7, 0.3, 1.1, 0.5]], dtype=torch.float64)
    pose = HandPose(torch.zeros(1, 3, dtype=torch.float64), matrix_to_rot6d(torch.eye(3, dtype=torch.float64)[None]), q)
    T = hand.link_poses(pose)[0].numpy()
    m = hand.mj_model
    d = mujoco.MjData(m)
    for name, v in zip(hand.joint_names, q[0].numpy()):
        d.qpos[m.joint(name).qposadr[0]] = v
    mujoco.mj_kinematics(m, d)
    for li, link in enumerate(hand.link_names):
        np.testing.assert_allclose(T[li, :3, 3], d.xpos[m.body(link).id], atol=1e-9)
    # the fingers closing on each other give self-penetration, open they do not
    assert float(hand.self_penetration(hand.open_pose[None])[0]) == 0.0
    closed = torch.tensor([[1.5, 1.6, 1.5, 1.6]], dtype=torch.float64)
    assert float(hand.self_penetration(closed)[0]) > 0.0
