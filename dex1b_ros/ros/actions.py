"""An rclpy action client that does not lose responses when called from outside the executor.

rclpy's ``ActionClient.send_goal_async`` and ``get_result_async`` (Jazzy) send the request and only
then register the future that the response completes, without a lock. Called from a thread other
than the one spinning the executor (the demo's main thread, a service callback of
``grasp_executive`` on a multi-threaded executor), a fast response can be taken and executed in
between: rclpy logs "Ignoring unexpected result response" and the future never completes. The demo
hung on it once in 36 runs (the planner had answered and the hand had lifted the bottle).

:class:`LockedActionClient` holds one re-entrant lock while a request is sent and its future
registered, and while a response is matched to its future, so a response waits for its future.
Feedback callbacks run outside the lock (user code; it may call back into the client). Written here
rather than taken from a library because the fix belongs in rclpy (the client's own code, not its
interface, has the race) and no released rclpy for Jazzy has it.
"""
from __future__ import annotations

import threading

from rclpy.action import ActionClient


class LockedActionClient(ActionClient):
    """``rclpy.action.ActionClient`` with request registration and response dispatch under one lock
    (same constructor, same interface; see the module doc)."""

    def __init__(self, *args, **kwargs):
        self._dex1b_lock = threading.RLock()
        super().__init__(*args, **kwargs)

    def send_goal_async(self, goal, feedback_callback=None, goal_uuid=None):
        with self._dex1b_lock:
            return super().send_goal_async(goal, feedback_callback=feedback_callback, goal_uuid=goal_uuid)

    def _get_result_async(self, goal_handle):
        with self._dex1b_lock:
            return super()._get_result_async(goal_handle)

    def _cancel_goal_async(self, goal_handle):
        with self._dex1b_lock:
            return super()._cancel_goal_async(goal_handle)

    async def execute(self, taken_data):
        """Responses (goal, cancel, result) and status under the lock; feedback after it, outside.
        rclpy's execute awaits nothing for the former, so the lock is taken and released on the
        executor's thread without a suspension in between."""
        data = dict(taken_data)
        feedback = data.pop("feedback", None)
        if data:
            with self._dex1b_lock:
                await super().execute(data)
        if feedback is not None:
            await super().execute({"feedback": feedback})
