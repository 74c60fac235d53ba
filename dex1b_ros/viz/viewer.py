"""``PlanViewer``: a plan in 3D in the browser, served by viser (no ROS here).

It draws a :class:`~dex1b_ros.viz.plan_file.SavedPlan` in its planning frame (metres, z up): the
object's points (orange), the rest of the cloud (grey), the completed shape the planner assumed
(translucent blue), the support plane (a translucent square under the object), and the top grasps
as hand meshes (:class:`~dex1b_ros.viz.hand_mesh.HandMeshes`, posed at the wrist pose by forward
kinematics), coloured by MuJoCo verdict: green passed, red failed, grey not simulated; the grasp
the planner chose is opaque, the others translucent. The panel has a posture slider (pregrasp /
grasp / squeeze), a choice of which hands to show, toggles for every layer, and a table of the
grasps with their scores, verdicts and evaluator probability (when there is one).

``show(plan)`` may be called again at any time (``dex1b view --follow`` does, from a ROS thread):
the scene is replaced. Every open browser tab follows.
"""
from __future__ import annotations

import socket
import threading
from pathlib import Path

import numpy as np

from .hand_mesh import HandMeshes
from .plan_file import SavedPlan

POSTURES = ("pregrasp", "grasp", "squeeze")
#: colours (RGB 0-255)
PASSED, FAILED, UNCHECKED = (40, 170, 60), (215, 40, 40), (150, 150, 160)
OBJECT, SCENE, HULL, TABLE = (255, 140, 30), (150, 150, 150), (90, 150, 255), (185, 175, 150)
CHOSEN_OPACITY, OTHER_OPACITY = 1.0, 0.35


class ViewerError(RuntimeError):
    """The viewer cannot start (e.g. its port is taken); the message says what to change."""


def verdict(g) -> str:
    """'passed' / 'failed' (MuJoCo) or 'not simulated'."""
    return ("passed" if g.sim_success else "failed") if g.validated else "not simulated"


def verdict_color(g) -> tuple[int, int, int]:
    return (PASSED if g.sim_success else FAILED) if g.validated else UNCHECKED


def check_port(host: str, port: int) -> None:
    """ViewerError when ``port`` on ``host`` cannot be bound (viser would silently take the next one)."""
    if port == 0:
        return
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, port))
    except OSError as e:
        raise ViewerError(f"port {port} on {host} is not free ({e.strerror}): another viewer or program uses "
                          f"it; choose another with --port N (0 = any free port)") from None
    finally:
        s.close()


def quat_to_matrix(q) -> np.ndarray:
    """(3, 3) rotation of the unit quaternion ``q`` (w, x, y, z)."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def matrix_to_quat(R: np.ndarray) -> np.ndarray:
    """(..., 4) unit quaternions (w, x, y, z) of rotations ``R`` (..., 3, 3)."""
    R = np.asarray(R, dtype=np.float64)
    m00, m11, m22 = R[..., 0, 0], R[..., 1, 1], R[..., 2, 2]
    q = np.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    q = np.sqrt(np.maximum(q, 0.0)) / 2
    q[..., 1] = np.copysign(q[..., 1], R[..., 2, 1] - R[..., 1, 2])
    q[..., 2] = np.copysign(q[..., 2], R[..., 0, 2] - R[..., 2, 0])
    q[..., 3] = np.copysign(q[..., 3], R[..., 1, 0] - R[..., 0, 1])
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def plane_square(plane: np.ndarray, center: np.ndarray, side: float) -> tuple[np.ndarray, np.ndarray]:
    """A square of ``side`` m in ``plane`` (4,) [a, b, c, d] centred at ``center``'s projection:
    vertices (4, 3), faces (2, 3)."""
    n = np.asarray(plane[:3], dtype=np.float64)
    d = float(plane[3]) / np.linalg.norm(n)
    n = n / np.linalg.norm(n)
    c = center - (center @ n + d) * n
    u = np.cross(n, np.eye(3)[np.argmin(np.abs(n))])
    u /= np.linalg.norm(u)
    v = np.cross(n, u)
    h = side / 2
    verts = np.array([c + h * (su * u + sv * v) for su, sv in ((-1, -1), (1, -1), (1, 1), (-1, 1))])
    return verts, np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int32)


class PlanViewer:
    """A viser server showing one plan at a time (see the module docstring).

    Args:
        host, port: where to serve (port 0 = any free one; a taken port is a ViewerError).
        hands_dir: where the hand models are (None = the default search path).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 8080, hands_dir: str | Path | None = None,
                 verbose: bool = False):
        import viser

        check_port(host, port)
        self.hands_dir = hands_dir
        self.server = viser.ViserServer(host=host, port=port, label="dex1b view", verbose=verbose)
        self.host = host
        self.port = self.server.get_port()
        self.plan: SavedPlan | None = None
        self._meshes: dict[str, HandMeshes] = {}
        self._nodes: list = []
        self._hands: list = []
        self._lock = threading.RLock()
        self.server.scene.set_up_direction("+z")
        gui = self.server.gui
        self.gui_summary = gui.add_markdown("*waiting for a plan*")
        self.gui_posture = gui.add_slider("posture", 0, 2, 1, 1, marks=tuple(enumerate(POSTURES)),
                                          hint="0 pregrasp (approach), 1 grasp (fingers on the surface), "
                                               "2 squeeze (pressed in)")
        self.gui_show = gui.add_dropdown("hands", ("all", "chosen", "none"), initial_value="all",
                                         hint="which grasps to draw")
        self.gui_object = gui.add_checkbox("object points", True)
        self.gui_scene = gui.add_checkbox("whole cloud", True)
        self.gui_hull = gui.add_checkbox("completed shape", True)
        self.gui_table = gui.add_checkbox("table", True)
        self.gui_grasps = gui.add_markdown("")
        self.gui_posture.on_update(lambda _: self._update_hands())
        self.gui_show.on_update(lambda _: self._update_hands())
        for box in (self.gui_object, self.gui_scene, self.gui_hull, self.gui_table):
            box.on_update(lambda _: self._update_layers())

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def close(self) -> None:
        self.server.stop()

    def hand_meshes(self, hand: str) -> HandMeshes:
        if hand not in self._meshes:
            self._meshes[hand] = HandMeshes(hand, self.hands_dir)
        return self._meshes[hand]

    # ---------------------------------------------------------------------------------- the scene
    def show(self, plan: SavedPlan) -> None:
        """Replace the scene with ``plan`` (thread-safe)."""
        with self._lock:
            meshes = self.hand_meshes(plan.hand) if plan.grasps else None
            if meshes is not None and list(meshes.joint_names) != list(plan.joint_names):
                raise ValueError(f"the plan's joint_names {plan.joint_names} differ from hand {plan.hand!r}'s "
                                 f"{meshes.joint_names}")
            for h in self._nodes + self._hands:
                h.remove()
            self._nodes, self._hands = [], []
            self.plan = plan
            scene = self.server.scene
            pts = np.asarray(plan.points, dtype=np.float32)
            self._object = self._scene = self._hull = self._table = None
            if len(plan.scene_points):
                self._scene = scene.add_point_cloud("/cloud/scene", np.asarray(plan.scene_points, np.float32), SCENE,
                                                    point_size=0.0025, precision="float32", point_shape="circle")
            if len(pts):
                self._object = scene.add_point_cloud("/cloud/object", pts, OBJECT, point_size=0.003,
                                                     precision="float32", point_shape="circle")
            if len(plan.hull_faces):
                self._hull = scene.add_mesh_simple("/object/completed", plan.hull_vertices.astype(np.float32),
                                                   plan.hull_faces.astype(np.uint32), color=HULL, opacity=0.3,
                                                   side="double", cast_shadow=False, receive_shadow=False)
            ref = pts if len(pts) else np.asarray(plan.scene_points, np.float64).reshape(-1, 3)
            center = ref.mean(0) if len(ref) else (plan.grasps[0].wrist_pos if plan.grasps else np.zeros(3))
            extent = float(np.ptp(ref, axis=0).max()) if len(ref) else 0.1
            if plan.support_plane is not None:
                v, f = plane_square(plan.support_plane, center, max(0.3, 3 * extent))
                self._table = scene.add_mesh_simple("/table", v.astype(np.float32), f.astype(np.uint32), color=TABLE,
                                                    opacity=0.5, side="double", cast_shadow=False)
            self._nodes = [h for h in (self._scene, self._object, self._hull, self._table) if h is not None]
            self.server.initial_camera.look_at = tuple(center)
            self.server.initial_camera.position = tuple(center + max(0.45, 4 * extent) * np.array([0.75, -0.55, 0.5]))
            if meshes is not None:
                for i, part in enumerate(meshes.parts):
                    n = len(plan.grasps) * len(part.geoms)
                    self._hands.append(scene.add_batched_meshes_simple(
                        f"/hands/part{i}", part.vertices.astype(np.float32), part.faces.astype(np.uint32),
                        batched_wxyzs=np.tile([1.0, 0, 0, 0], (n, 1)), batched_positions=np.zeros((n, 3)),
                        lod="off", cast_shadow=False, receive_shadow=False))
            self._write_text()
            self._update_hands()
            self._update_layers()

    def _update_layers(self) -> None:
        for h, box in ((self._object, self.gui_object), (self._scene, self.gui_scene), (self._hull, self.gui_hull),
                       (self._table, self.gui_table)):
            if h is not None:
                h.visible = bool(box.value)

    def _update_hands(self) -> None:
        """Pose every hand part for the slider's posture; hide the grasps not chosen for display."""
        with self._lock:
            plan = self.plan
            if plan is None or not plan.grasps or not self._hands:
                return
            meshes = self.hand_meshes(plan.hand)
            posture = POSTURES[int(round(self.gui_posture.value))]
            show = self.gui_show.value
            K = len(plan.grasps)
            T = np.zeros((K, len(meshes.geom_ids), 4, 4))
            for k, g in enumerate(plan.grasps):
                W = np.eye(4)
                W[:3, :3] = quat_to_matrix(g.wrist_quat)
                W[:3, 3] = g.wrist_pos
                T[k] = W @ meshes.geom_poses(getattr(g, posture))
            shown = np.array([show == "all" or (show == "chosen" and k == plan.chosen) for k in range(K)])
            colors = np.array([verdict_color(g) for g in plan.grasps], dtype=np.uint8)
            alpha = np.where(np.arange(K) == plan.chosen, CHOSEN_OPACITY, OTHER_OPACITY)
            if show == "chosen" or K == 1:
                alpha[:] = CHOSEN_OPACITY
            for part, h in zip(meshes.parts, self._hands):
                Tp = T[:, part.geoms].reshape(-1, 4, 4)          # (K * G_part, 4, 4), grasp-major
                reps = len(part.geoms)
                h.batched_positions = Tp[:, :3, 3].astype(np.float32)
                h.batched_wxyzs = matrix_to_quat(Tp[:, :3, :3]).astype(np.float32)
                h.batched_scales = np.repeat(shown.astype(np.float32), reps)
                h.batched_colors = np.repeat(colors, reps, axis=0)
                h.batched_opacities = np.repeat(alpha.astype(np.float32), reps)

    def _write_text(self) -> None:
        p = self.plan
        head = f"**{p.hand}** · {'planned' if p.success else 'failed'}"
        if p.source:
            head += f" · {p.source}"
        if p.frame_id:
            head += f" · frame `{p.frame_id}`"
        lines = [head, "", p.message or "(no message)"]
        if p.partial:
            lines += ["", "single view, completed by symmetry"]
        self.gui_summary.content = "\n".join(lines)
        if not p.grasps:
            self.gui_grasps.content = "no grasps"
            return
        ev = any(g.evaluator_prob is not None for g in p.grasps)
        rows = ["| # | score | MuJoCo | type" + (" | evaluator" if ev else "") + " |",
                "|---|---|---|---" + ("|---" if ev else "") + "|"]
        for k, g in enumerate(p.grasps):
            mark = "**chosen** " if k == p.chosen else ""
            cells = [f"{mark}{k + 1}", f"{g.score:.3f}", verdict(g), g.grasp_type or "-"]
            if ev:
                cells.append("-" if g.evaluator_prob is None else f"{g.evaluator_prob:.2f}")
            rows.append("| " + " | ".join(cells) + " |")
        legend = "green: passed MuJoCo, red: failed, grey: not simulated; the chosen grasp is opaque"
        self.gui_grasps.content = "\n".join(rows) + "\n\n" + legend
