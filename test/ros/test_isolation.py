"""dex1b_ros.ros.isolation: commands that start their own nodes get distinct ROS domains."""
import os

import pytest

from dex1b_ros.ros.isolation import COUNT, FIRST, private_domain


@pytest.fixture
def keep_environ(monkeypatch):
    """private_domain copies the chosen domain into os.environ: restore it afterwards."""
    for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE"):
        monkeypatch.setenv(k, os.environ.get(k, "x"))


def test_two_commands_at_once_get_different_domains_and_a_closed_one_frees_its_own(tmp_path, keep_environ):
    a, b = {}, {}
    la = private_domain(a, tmp_path)
    lb = private_domain(b, tmp_path)          # the same pid: the first choice is taken, the next is free
    assert a["ROS_DOMAIN_ID"] != b["ROS_DOMAIN_ID"]
    assert all(FIRST <= int(e["ROS_DOMAIN_ID"]) < FIRST + COUNT for e in (a, b))
    assert a["ROS_AUTOMATIC_DISCOVERY_RANGE"] == b["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert os.environ["ROS_DOMAIN_ID"] == b["ROS_DOMAIN_ID"]    # this process's own nodes join it
    la.close()
    c = {}
    lc = private_domain(c, tmp_path)
    assert c["ROS_DOMAIN_ID"] == a["ROS_DOMAIN_ID"]            # released with its lock
    lb.close()
    lc.close()


def test_a_domain_the_user_set_is_kept_and_a_full_machine_says_so(tmp_path, keep_environ):
    env = {"ROS_DOMAIN_ID": "42"}
    assert private_domain(env, tmp_path) is None and env["ROS_DOMAIN_ID"] == "42"
    locks = [private_domain({}, tmp_path) for _ in range(COUNT)]
    with pytest.raises(RuntimeError, match="ROS_DOMAIN_ID"):
        private_domain({}, tmp_path)
    for f in locks:
        f.close()
