"""Shared fixtures: seeded RNGs, hand models built once per session, CPU threads pinned."""
import os

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
