"""A sweep over what ships: every hand config builds, every model folder loads, samples and refines.

New files (a third hand's YAML, a new ``models/<hand>/``) are picked up without editing this
test. A hand whose Menagerie folder is not on this machine is skipped with the reason.
"""
from functools import lru_cache

import numpy as np
import pytest
import torch

from dex1b_ros import resources
from dex1b_ros.hands import available_hands, load_hand, load_hand_config, resolve_mjcf
from dex1b_ros.hands.config import hand_config_dir

HAND_YAMLS = sorted(hand_config_dir().glob("*.yaml"))
_models = resources.models_dir(must_exist=False)
MODEL_DIRS = sorted(d for d in _models.iterdir() if d.is_dir() and not d.name.startswith(".")) \
    if _models.is_dir() else []
# the other generators a hand ships (models/<hand>/<name>/dexsimple.safetensors: dataset, table, ...)
GENERATOR_DIRS = MODEL_DIRS + sorted(w.parent for d in MODEL_DIRS for w in d.glob("*/dexsimple.safetensors"))


@lru_cache(maxsize=None)
def _hand(name: str):
    cfg = load_hand_config(name)
    try:
        resolve_mjcf(cfg)
    except FileNotFoundError as e:
        pytest.skip(f"hand {name!r}: model files missing on this machine: {e}")
    return load_hand(cfg)


def _finite(*arrays) -> bool:
    return all(bool(np.isfinite(np.asarray(a.detach().cpu() if torch.is_tensor(a) else a, dtype=float)).all())
               for a in arrays)


def test_something_ships():
    assert HAND_YAMLS and MODEL_DIRS


@pytest.mark.parametrize("path", HAND_YAMLS, ids=lambda p: p.stem)
def test_every_hand_config_builds(path):
    hand = _hand(path.stem)
    assert hand.name == path.stem and hand.n_joints == len(hand.joint_names) > 0
    assert bool(((hand.open_pose >= hand.lower) & (hand.open_pose <= hand.upper)).all())
    assert len(hand.sphere_radius) > 0 and len(hand.contact_point) > 0 and len(hand.tip_names) >= 2
    q = torch.stack([hand.open_pose, hand.lower, hand.upper])
    assert _finite(hand.link_poses_palm(q), hand.sphere_center, hand.sphere_radius, hand.contact_point,
                   hand.palm_center, hand.approach)
    assert float(hand.self_penetration(hand.open_pose[None])[0]) == 0.0


@pytest.fixture(scope="module")
def box():
    """A small object: its surface cloud (256 points + normals) and its SDF field."""
    from dex1b_ros.geometry.pointcloud import sample_surface
    from dex1b_ros.objects import make_object
    from dex1b_ros.optim import ObjectField
    mesh = make_object("box", 3).mesh
    pts, nrm = sample_surface(mesh, 256, seed=0, fps=True)
    return pts, nrm, ObjectField.from_mesh(mesh, resolution=32, n_points=512)


@pytest.mark.parametrize("model_dir", GENERATOR_DIRS, ids=lambda p: p.relative_to(_models).as_posix())
def test_every_shipped_model_loads_samples_and_refines(model_dir, box):
    from dex1b_ros.generator.checkpoint import read_model_card
    from dex1b_ros.generator.load import load_generator
    from dex1b_ros.optim import GraspOptimizer, refinement_config
    _, _, card = read_model_card(model_dir)
    hand_dir = model_dir if model_dir.parent == _models else model_dir.parent
    assert card["hand"] == hand_dir.name, f"{model_dir}: the card names hand {card['hand']!r}"
    assert card["hand"] in available_hands(), f"{model_dir}: no config/hands/{card['hand']}.yaml"
    hand = _hand(card["hand"])
    gen = load_generator(model_dir, hand)                    # checks sha256, joints, architecture
    pts, nrm, field = box
    pose = gen.sample(pts, nrm, 8, seed=0, up=np.array([0.0, 0.0, 1.0]))  # the table under the box
    assert pose.batch == 8 and _finite(pose.trans, pose.rot6d, pose.q)
    gs = GraspOptimizer(hand, field).refine(pose, refinement_config(steps=1))
    assert len(gs) == 8 and gs.hand == hand.name
    assert _finite(gs.trans, gs.quat, gs.grasp, gs.pregrasp, gs.squeeze, gs.penetration, *gs.energy.values())
