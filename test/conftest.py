"""Shared fixtures: seeded RNGs, hand models built once per session, CPU threads pinned.

``synthetic_hand`` is a third hand built from a small MJCF written here (two two-joint
fingers on a box palm): no Menagerie files needed, so unit tests can use it anywhere.
"""
import os
import textwrap

import numpy as np
import pytest
import torch

torch.set_num_threads(1)
# Each test session gets its own cache of derived hand geometry unless one is given.
os.environ.setdefault("DEX1B_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "dex1b_ros"))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def leap():
    from dex1b_ros.hands import load_hand
    return load_hand("leap")


@pytest.fixture(scope="session")
def allegro():
    from dex1b_ros.hands import load_hand
    return load_hand("allegro")


@pytest.fixture(scope="session", params=["leap", "allegro"])
def hand(request):
    return request.getfixturevalue(request.param)


# A synthetic hand: a "pincer" of two opposing two-joint fingers on a box palm. Its YAML names
# the joints in another order than the MJCF (as a driver may), gives the approach direction
# (opposing fingers have no common flexion direction); geoms: boxes, capsules, a sphere.
SYNTHETIC_HAND_MJCF = """
<mujoco model="pincer">
  <compiler angle="radian"/>
  <default><joint damping="0.1"/></default>
  <worldbody>
    <body name="base" pos="0 0 0.2" quat="0.7071 0.7071 0 0">
      <geom type="box" size="0.04 0.03 0.01"/>
      <body name="a1" pos="0.03 0 0.01">
        <joint name="a_j1" axis="0 -1 0" range="-0.2 1.5"/>
        <geom type="capsule" fromto="0 0 0 0 0 0.05" size="0.009"/>
        <body name="a2" pos="0 0 0.05">
          <joint name="a_j2" axis="0 -1 0" range="0 1.6"/>
          <geom type="capsule" fromto="0 0 0 0 0 0.04" size="0.008"/>
        </body>
      </body>
      <body name="b1" pos="-0.03 0 0.01">
        <joint name="b_j1" axis="0 1 0" range="-0.2 1.5"/>
        <geom type="box" size="0.008 0.008 0.025" pos="0 0 0.025"/>
        <body name="b2" pos="0 0 0.05">
          <joint name="b_j2" axis="0 1 0" range="0 1.6"/>
          <geom type="sphere" size="0.01" pos="0 0 0.02"/>
        </body>
      </body>
    </body>
  </worldbody>
</mujoco>
"""

SYNTHETIC_HAND_YAML = """
name: pincer
mjcf: pincer/pincer.xml
root_body: base
joint_names: [b_j1, b_j2, a_j1, a_j2]     # driver order differs from the MJCF order
open_pose: [0.0, 0.1, 0.0, 0.1]
fingertips: {thumb: b2, middle: a2}
contacts: {links: [a2, b2], points_per_link: 4, pad_cone_deg: 45}
palm: {approach: [0.0, 0.0, 1.0]}       # opposing fingers: the approach is given
spheres: {max_per_link: 6}
"""


@pytest.fixture(scope="session")
def synthetic_hand_files(tmp_path_factory):
    """(YAML path, hands dir) of the synthetic hand, written once per session."""
    d = tmp_path_factory.mktemp("synthetic_hand")
    (d / "hands" / "pincer").mkdir(parents=True)
    (d / "hands" / "pincer" / "pincer.xml").write_text(SYNTHETIC_HAND_MJCF)
    (d / "pincer.yaml").write_text(textwrap.dedent(SYNTHETIC_HAND_YAML))
    return d / "pincer.yaml", d / "hands"


@pytest.fixture(scope="session")
def synthetic_hand(synthetic_hand_files):
    """HandModel (float64, CPU) of the synthetic hand; needs no Menagerie folder."""
    from dex1b_ros.hands import load_hand
    yaml_path, hands_dir = synthetic_hand_files
    return load_hand(yaml_path, hands_dir=hands_dir, dtype=torch.float64)
