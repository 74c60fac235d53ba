"""ROS fixtures: an isolated ROS graph per test run, a fresh Context per test.

Isolation: this test run gets its own ROS_DOMAIN_ID (derived from the pid) and discovery is
limited to localhost, so parallel runs on one machine do not see each other. Every test gets a
fresh ``rclpy.Context``; nodes spin on a MultiThreadedExecutor in a daemon thread that is shut
down at teardown. Waits are bounded (``wait_for``), so nothing hangs.
Helpers and fake planners are in ros_fakes.py.
"""
import os
import threading

import pytest

os.environ["ROS_DOMAIN_ID"] = str(10 + os.getpid() % 90)
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.pop("ROS_STATIC_PEERS", None)

import rclpy  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402


@pytest.fixture
def ros_ctx():
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    yield ctx
    ctx.try_shutdown()


class Graph:
    """Nodes spinning on a MultiThreadedExecutor in a background thread."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.executor = MultiThreadedExecutor(num_threads=6, context=ctx)
        self.nodes = []
        self.thread = None

    def add(self, node):
        self.nodes.append(node)
        self.executor.add_node(node)
        if self.thread is None:
            self.thread = threading.Thread(target=self._spin, daemon=True)
            self.thread.start()
        return node

    def _spin(self):
        try:
            self.executor.spin()
        except Exception:  # shutdown races (print anything else: a dead spin thread stalls every node)
            import traceback
            traceback.print_exc()

    def close(self):
        self.executor.shutdown(timeout_sec=3.0)
        for n in self.nodes:
            try:
                n.destroy_node()
            except Exception:
                pass
        if self.thread is not None:
            self.thread.join(timeout=5.0)


@pytest.fixture
def graph(ros_ctx):
    g = Graph(ros_ctx)
    yield g
    g.close()
