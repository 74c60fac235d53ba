"""``GraspValidator``: the DexGraspBench-style MuJoCo grasp test, fast and deterministic.

Inputs (batch B, J hand joints in ``HandConfig.joint_names`` order, radians):
    wrist_pos (B, 3) m and wrist_quat (B, 4) wxyz: palm (wrist) frame in the object frame;
    pregrasp, grasp, squeeze (B, J).

Protocol per grasp (numbers in :class:`ValidatorConfig`):
1. Pre-filter at the grasp pose (kinematics + MuJoCo collision, object at the origin): the
   deepest hand-object contact (and hand-table, tabletop) and the deepest hand-hand contact
   (pairs the MJCF excludes are not checked). Reject if either exceeds 1 cm.
2. Closing: reset, hand at the wrist pose with joints at ``pregrasp``; actuator targets
   interpolated linearly pregrasp -> grasp (0.4 s) then grasp -> squeeze (0.4 s).
3. For each direction +x, -x, +y, -y, +z, -z (object/world frame): a constant external force
   of ``force_scale * object_mass`` N on the object's centre of mass (``xfrc_applied``) along
   the direction, targets held at ``squeeze``, 2 s. The object's translation (m) and rotation
   (deg) are measured relative to its pose when the force starts (end of closing).
   Passed when translation < 5 cm and rotation < 15 deg.
4. Success = not rejected AND all six directions passed AND (if ``require_real_contact``)
   not ``no_real_contact``.

``no_real_contact`` (True = the grasp does not really touch the object): a hand link is a
*real contact* when it is in MuJoCo contact with the object (dist < 0) at the end of the
closing phase AND was already within ``real_contact_tol`` (3 mm) of the object at the GRASP
pose (kinematics, object at the origin). ``no_real_contact`` = fewer than
``min_contact_links`` (2) distinct real-contact links (always True for rejected grasps).
This refuses grasps whose holding contacts only appear while "squeezing air" beyond the grasp
pose, and objects "held" by a single link or by none.

Speed levers (never change a verdict, tested against :meth:`ValidatorConfig.reference`):
``share_closing`` simulates the closing phase once and copies the ``MjData`` to each direction
(MuJoCo is deterministic, so the copy is bit-identical to re-simulating); ``early_exit`` stops
at the first failed direction; ``hold_exit_factor`` ends a direction once the object is
farther than ``factor * max_displacement`` AND touches no hand geom (it has left the hand);
``workers`` splits the batch over processes (one compiled model per process).
"""
from __future__ import annotations

import functools
import math
import multiprocessing as mp
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field

import mujoco
import numpy as np
import trimesh

from ..hands.config import HandConfig
from .config import DIRECTION_NAMES, ValidatorConfig
from .scene import Scene, build_scene, get_scene, set_hand

_DIRS = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=np.float64)
_CHECK_EVERY = 25  # steps between hold-exit checks


def failure_reasons(result: "ValidationResult") -> list[str]:
    """Why each grasp failed, one short label per grasp ("" = passed): "penetration" (the
    pre-filter rejected it), "no_real_contact" (held by squeezing air / fewer than
    ``min_contact_links`` links), else "slip:<direction>" for the first direction the object
    moved or turned too far in (tabletop results: "slip:lift")."""
    out = []
    for i in range(len(result)):
        if result.success[i]:
            out.append("")
        elif result.rejected_by_prefilter[i]:
            out.append("penetration")
        elif result.failed_directions[i].any():
            out.append("slip:" + result.directions[int(np.argmax(result.failed_directions[i]))])
        elif result.no_real_contact[i]:
            out.append("no_real_contact")
        else:
            out.append("untested")
    return out


@dataclass
class ValidationResult:
    """Per-grasp outcome; every array has length B in its first axis.

    success (B,) bool; rejected_by_prefilter (B,) bool;
    failed_directions (B, D) bool (False where not tested); tested_directions (B, D) bool;
    displacement (B, D) m and rotation (B, D) deg of the object (NaN where not tested);
    penetration_mm (B,) deepest hand-object (and hand-table) penetration at the grasp pose;
    self_penetration_mm (B,) deepest hand-hand penetration at the grasp pose;
    n_contacts (B,) int: hand-object MuJoCo contacts after squeezing (-1 if rejected);
    n_contact_links (B,) int: distinct hand links among them (-1 if rejected);
    n_near_links (B,) int: distinct hand links within ``real_contact_tol`` at the grasp pose;
    n_real_contact_links (B,) int: links in contact after squeezing that were also near the
        object at the grasp pose (0 if rejected);
    no_real_contact (B,) bool (see module docstring);
    directions: names of the D columns (``+x, -x, +y, -y, +z, -z`` or ``lift``).
    """

    success: np.ndarray
    rejected_by_prefilter: np.ndarray
    failed_directions: np.ndarray
    tested_directions: np.ndarray
    displacement: np.ndarray
    rotation: np.ndarray
    penetration_mm: np.ndarray
    self_penetration_mm: np.ndarray
    n_contacts: np.ndarray
    n_contact_links: np.ndarray
    n_near_links: np.ndarray
    n_real_contact_links: np.ndarray
    no_real_contact: np.ndarray
    directions: tuple = DIRECTION_NAMES

    @staticmethod
    def concat(parts: list["ValidationResult"]) -> "ValidationResult":
        names = [f for f in ValidationResult.__dataclass_fields__ if f != "directions"]
        return ValidationResult(**{n: np.concatenate([getattr(p, n) for p in parts]) for n in names},
                                directions=parts[0].directions)

    def __len__(self):
        return len(self.success)


@dataclass
class _One:
    """Result of one grasp (internal)."""

    rejected: bool = False
    pen: float = 0.0
    self_pen: float = 0.0
    near_links: int = 0
    n_contacts: int = -1
    n_links: int = -1
    n_real: int = 0
    near_set: frozenset = frozenset()
    failed: np.ndarray = field(default_factory=lambda: np.zeros(6, bool))
    tested: np.ndarray = field(default_factory=lambda: np.zeros(6, bool))
    disp: np.ndarray = field(default_factory=lambda: np.full(6, np.nan))
    rot: np.ndarray = field(default_factory=lambda: np.full(6, np.nan))


def _quat_angle_deg(q0: np.ndarray, q1: np.ndarray) -> float:
    c = min(1.0, abs(float(np.dot(q0, q1))) / (np.linalg.norm(q0) * np.linalg.norm(q1)))
    return math.degrees(2.0 * math.acos(c))


def _check_batch(wrist_pos, wrist_quat, joints: dict, J: int):
    wp = np.asarray(wrist_pos, dtype=np.float64)
    wq = np.asarray(wrist_quat, dtype=np.float64)
    if wp.ndim != 2 or wp.shape[1] != 3:
        raise ValueError(f"wrist_pos: expected shape (B, 3), got {wp.shape}")
    B = wp.shape[0]
    if wq.shape != (B, 4):
        raise ValueError(f"wrist_quat: expected shape ({B}, 4) wxyz, got {wq.shape}")
    if np.any(np.linalg.norm(wq, axis=1) < 1e-9):
        raise ValueError("wrist_quat: zero quaternion")
    out = []
    for name, q in joints.items():
        q = np.asarray(q, dtype=np.float64)
        if q.shape != (B, J):
            raise ValueError(f"{name}: expected shape ({B}, {J}) (one joint vector per grasp), got {q.shape}")
        if not np.all(np.isfinite(q)):
            raise ValueError(f"{name}: contains NaN/inf")
        out.append(q)
    if not (np.all(np.isfinite(wp)) and np.all(np.isfinite(wq))):
        raise ValueError("wrist_pos/wrist_quat: contain NaN/inf")
    return wp, wq / np.linalg.norm(wq, axis=1, keepdims=True), out


class _Sim:
    """One MjData on a Scene plus the per-grasp protocol steps (single process)."""

    def __init__(self, scene: Scene, config: ValidatorConfig):
        self.s, self.c = scene, config
        self.m = scene.model
        self.d = mujoco.MjData(self.m)
        self.saved = mujoco.MjData(self.m)
        self.geom_to_link = np.full(self.m.ngeom, -1)
        self.geom_to_link[scene.hand_geoms] = scene.geom_link

    # ------------------------------------------------------------------ pieces
    def place(self, wp, wq, q):
        mujoco.mj_resetData(self.m, self.d)
        set_hand(self.s, self.d, wp, wq, q)

    def _contacts(self):
        """(geom1, geom2, dist) arrays of the current contacts."""
        n = self.d.ncon
        if n == 0:
            z = np.zeros(0, int)
            return z, z, np.zeros(0)
        con = self.d.contact
        return con.geom1[:n].astype(int), con.geom2[:n].astype(int), con.dist[:n].copy()

    def prefilter(self, wp, wq, q_grasp, one: _One):
        s, m, d = self.s, self.m, self.d
        self.place(wp, wq, q_grasp)
        mujoco.mj_kinematics(m, d)
        mujoco.mj_collision(m, d)
        g1, g2, dist = self._contacts()
        h1, h2 = s.is_hand_geom[g1], s.is_hand_geom[g2]
        other = s.is_obj_geom[g1] | s.is_obj_geom[g2]
        if s.table_geom >= 0:
            other |= (g1 == s.table_geom) | (g2 == s.table_geom)
        ho = (h1 ^ h2) & other
        hh = h1 & h2
        one.pen = float(max(0.0, -dist[ho].min())) if ho.any() else 0.0
        one.self_pen = float(max(0.0, -dist[hh].min())) if hh.any() else 0.0
        one.near_set = self.near_links(self.c.real_contact_tol)
        one.near_links = len(one.near_set)
        one.rejected = one.pen > self.c.max_penetration or one.self_pen > self.c.max_self_penetration

    def near_links(self, tol: float) -> frozenset:
        """Set of the hand links (body ids) with a collision geom within ``tol`` m of the object (current
        kinematics). Bounding spheres first, then ``mj_geomDistance`` on the candidates."""
        s, m, d = self.s, self.m, self.d
        links = set()
        hg = s.hand_geoms
        for og in s.obj_geoms:
            gap = np.linalg.norm(d.geom_xpos[hg] - d.geom_xpos[og], axis=1) - m.geom_rbound[hg] - m.geom_rbound[og]
            for g in hg[gap < tol]:
                link = self.geom_to_link[g]
                if link in links:
                    continue
                if mujoco.mj_geomDistance(m, d, int(g), int(og), tol, None) < tol:
                    links.add(int(link))
        return frozenset(links)

    def close(self, wp, wq, q_pre, q_grasp, q_sq):
        """Reset and run pregrasp -> grasp -> squeeze; leaves the state in ``self.d``."""
        s, m, d, c = self.s, self.m, self.d, self.c
        self.place(wp, wq, q_pre)
        lo, hi, act = s.ctrl_lo, s.ctrl_hi, s.hand_act
        for a, b, T in ((q_pre, q_grasp, c.pregrasp_to_grasp_time), (q_grasp, q_sq, c.grasp_to_squeeze_time)):
            n = c.steps(T)
            for k in range(1, n + 1):
                d.ctrl[act] = np.clip(a + (b - a) * (k / n), lo, hi)
                mujoco.mj_step(m, d)

    def squeeze_contacts(self, one: _One):
        """Hand-object contacts of the state in ``self.d`` (evaluated on a scratch copy)."""
        mujoco.mj_copyData(self.saved, self.m, self.d)
        mujoco.mj_forward(self.m, self.saved)
        d = self.saved
        n = d.ncon
        g1, g2 = d.contact.geom1[:n].astype(int), d.contact.geom2[:n].astype(int)
        dist = d.contact.dist[:n]
        s = self.s
        h1, h2 = s.is_hand_geom[g1], s.is_hand_geom[g2]
        ho = ((h1 & s.is_obj_geom[g2]) | (h2 & s.is_obj_geom[g1])) & (dist < 0)
        hand_g = np.where(h1, g1, g2)[ho]
        one.n_contacts = int(ho.sum())
        touching = set(self.geom_to_link[hand_g].tolist())
        one.n_links = len(touching)
        one.n_real = len(touching & one.near_set)

    def _object_left_hand(self, p0) -> bool:
        s, d = self.s, self.d
        if np.linalg.norm(d.xpos[s.obj_body] - p0) <= self.c.hold_exit_factor * self.c.max_displacement:
            return False
        n = d.ncon
        g1, g2 = d.contact.geom1[:n].astype(int), d.contact.geom2[:n].astype(int)
        return not np.any((s.is_hand_geom[g1] & s.is_obj_geom[g2]) | (s.is_hand_geom[g2] & s.is_obj_geom[g1]))

    def hold(self, direction: np.ndarray, T: float, force: float, lift: float = 0.0):
        """Apply ``force * direction`` N on the object for ``T`` s (tabletop: the lift servo's
        target rises linearly to ``lift`` m (+z) during the first ``lift_time``). Returns the
        object's translation (m; tabletop: from where the lifted hand carried it, i.e. its start
        pose + the hand's actual lift) and rotation (deg)."""
        s, m, d, c = self.s, self.m, self.d, self.c
        b = s.obj_body
        # xpos/xquat of the state in d are the ones of the last mj_step's forward pass (before
        # integration); recompute for the current state so the reference is exact
        mujoco.mj_kinematics(m, d)
        p0, q0 = d.xpos[b].copy(), d.xquat[b].copy()
        d.xfrc_applied[b, :3] = force * direction
        n = c.steps(T)
        nl = c.steps(c.lift_time) if lift > 0 else 0
        check = c.hold_exit_factor > 0 and lift == 0
        k = 0
        while k < n:
            if k < nl:
                d.ctrl[s.lift_act] = lift * (k + 1) / nl
                mujoco.mj_step(m, d)
                k += 1
                continue
            step = min(_CHECK_EVERY, n - k) if check else n - k
            mujoco.mj_step(m, d, step)
            k += step
            if check and k < n and self._object_left_hand(p0):
                break
        mujoco.mj_kinematics(m, d)
        target = p0 + np.array([0, 0, d.qpos[s.lift_qpos] if lift > 0 else 0.0])
        return float(np.linalg.norm(d.xpos[b] - target)), _quat_angle_deg(q0, d.xquat[b])

    # ------------------------------------------------------------------ protocol
    def run(self, wp, wq, q_pre, q_grasp, q_sq) -> _One:
        c = self.c
        one = _One()
        self.prefilter(wp, wq, q_grasp, one)
        if one.rejected:
            return one
        base = mujoco.MjData(self.m) if c.share_closing else None
        for i, direction in enumerate(_DIRS):
            if i == 0 or not c.share_closing:
                self.close(wp, wq, q_pre, q_grasp, q_sq)
                if i == 0:
                    self.squeeze_contacts(one)
                if c.share_closing:
                    mujoco.mj_copyData(base, self.m, self.d)
            else:
                mujoco.mj_copyData(self.d, self.m, base)
            disp, rot = self.hold(direction, c.hold_time, c.force)
            one.tested[i] = True
            one.disp[i], one.rot[i] = disp, rot
            one.failed[i] = not (disp < c.max_displacement and rot < c.max_rotation_deg)
            if one.failed[i] and c.early_exit:
                break
        return one

    def run_tabletop(self, wp, wq, q_pre, q_grasp, q_sq) -> _One:
        c = self.c
        one = _One(failed=np.zeros(1, bool), tested=np.zeros(1, bool), disp=np.full(1, np.nan),
                   rot=np.full(1, np.nan))
        self.prefilter(wp, wq, q_grasp, one)
        if one.rejected:
            return one
        self.close(wp, wq, q_pre, q_grasp, q_sq)
        self.squeeze_contacts(one)
        disp, rot = self.hold(np.array([0.0, 0.0, -1.0]), c.lift_time + c.lift_hold_time,
                              c.tabletop_force_scale * c.object_mass, lift=c.lift_height)
        one.tested[0] = True
        one.disp[0], one.rot[0] = disp, rot
        one.failed[0] = not (disp < c.max_displacement and rot < c.max_rotation_deg)
        return one


def _collect(ones: list[_One], config: ValidatorConfig, directions) -> ValidationResult:
    rej = np.array([o.rejected for o in ones], bool)
    failed = np.array([o.failed for o in ones], bool).reshape(len(ones), len(directions))
    tested = np.array([o.tested for o in ones], bool).reshape(len(ones), len(directions))
    near = np.array([o.near_links for o in ones], int)
    nlinks = np.array([o.n_links for o in ones], int)
    nreal = np.array([o.n_real for o in ones], int)
    no_real = nreal < config.min_contact_links
    passed = ~rej & tested.all(axis=1) & ~failed.any(axis=1)
    success = passed & (~no_real if config.require_real_contact else True)
    return ValidationResult(
        success=success, rejected_by_prefilter=rej, failed_directions=failed, tested_directions=tested,
        displacement=np.array([o.disp for o in ones]).reshape(len(ones), -1),
        rotation=np.array([o.rot for o in ones]).reshape(len(ones), -1),
        penetration_mm=1000 * np.array([o.pen for o in ones]),
        self_penetration_mm=1000 * np.array([o.self_pen for o in ones]),
        n_contacts=np.array([o.n_contacts for o in ones], int), n_contact_links=nlinks, n_near_links=near,
        n_real_contact_links=nreal,
        no_real_contact=no_real, directions=tuple(directions))


# ---------------------------------------------------------------------- worker processes
_WORKER: dict = {}


def _worker_init(hand_cfg, object_mesh, config, hands_dir, table_z=None):
    _WORKER["args"] = (hand_cfg, object_mesh, config, hands_dir, table_z)
    _WORKER["sims"] = {}


def _worker_run(tabletop: bool, chunk):
    hand_cfg, mesh, config, hands_dir, table_z = _WORKER["args"]
    sims = _WORKER["sims"]
    if tabletop not in sims:
        sims[tabletop] = _Sim(get_scene(hand_cfg, mesh, config, tabletop=tabletop, hands_dir=hands_dir,
                                        table_z=table_z), config)
    sim = sims[tabletop]
    fn = sim.run_tabletop if tabletop else sim.run
    return [fn(*row) for row in zip(*chunk)]


class GraspValidator:
    """MuJoCo grasp test of one hand on one object (see module docstring for the protocol).

    Args:
        hand_cfg: the hand (``load_hand_config("leap")``).
        object_mesh: ``trimesh.Trimesh`` in the object frame, metres (or a list of convex parts).
        config: protocol and speed settings (default: DexGraspBench protocol, fast mode).
        workers: processes used by ``validate`` (1 = in this process). Each worker compiles
            the model once; the pool lives until :meth:`close` (or the ``with`` block ends).
        threads: threads used by ``validate`` (not the tabletop test) when ``workers`` is 1:
            each has its own ``MjData`` on the shared model. MuJoCo releases the GIL inside
            ``mj_step``, so 2 threads on 2 cores run ~1.3x faster (the closing phase steps one
            at a time from Python); no process start-up, safe in a process with other threads.
            Several grasps: spread over the threads; ONE grasp: its six directions are (same verdicts).
        hands_dir: optional directory of hand models (see ``hands_dir_candidates``).
        cache_scene: keep the compiled MuJoCo model in the process-wide LRU cache (16 scenes,
            ~40 MB each for LEAP) for the next validator of the same mesh; False for one-off
            meshes (the node's per-plan object estimate), which otherwise fill the cache.
        visual_meshes: False = simulate without the hand's visual-only meshes (same verdicts,
            faster model compile, less memory; renders of this validator show collision geoms).
        table_z: m, object-frame height of the tabletop test's table top; None = at the object's
            lowest point (see :func:`~dex1b_ros.validate.scene.build_scene`).

    Deterministic: the same inputs give the same results for any ``workers`` or ``threads``.
    """

    def __init__(self, hand_cfg: HandConfig, object_mesh: trimesh.Trimesh | list, config: ValidatorConfig | None = None,
                 workers: int = 1, hands_dir=None, threads: int = 1, cache_scene: bool = True,
                 visual_meshes: bool = True, table_z: float | None = None):
        if workers < 1:
            raise ValueError(f"workers: must be >= 1, got {workers}")
        if threads < 1:
            raise ValueError(f"threads: must be >= 1, got {threads}")
        self.threads = threads
        self._thread_sims: list[_Sim] = []
        self.hand_cfg = hand_cfg
        self.object_mesh = object_mesh
        self.config = config or ValidatorConfig()
        self.workers = workers
        self.hands_dir = hands_dir
        self.table_z = None if table_z is None else float(table_z)
        scene_fn = get_scene if cache_scene else build_scene
        self._get_scene = functools.partial(scene_fn, visual_meshes=visual_meshes)
        self.scene = self._get_scene(hand_cfg, object_mesh, self.config, hands_dir=hands_dir)
        self._sims: dict[bool, _Sim] = {False: _Sim(self.scene, self.config)}
        self._pool = None
        self.n_joints = len(hand_cfg.joint_names)

    # ------------------------------------------------------------------ public
    def validate(self, wrist_pos, wrist_quat, pregrasp, grasp, squeeze) -> ValidationResult:
        """Six-direction test of B grasps. Shapes: (B,3) m, (B,4) wxyz, three (B,J) rad."""
        return self._validate(False, wrist_pos, wrist_quat, pregrasp, grasp, squeeze)

    def validate_tabletop(self, wrist_pos, wrist_quat, pregrasp, grasp, squeeze) -> ValidationResult:
        """Tabletop variant: the object rests on a horizontal table (object-frame z up, top at
        the object's lowest point); after closing, a -z force of ``tabletop_force_scale *
        object_mass`` N pulls the object down and the hand is lifted ``lift_height`` m in
        ``lift_time`` s, then held ``lift_hold_time`` s. One column ``lift``: passed when the
        object followed the hand (translation from its lifted target < ``max_displacement``,
        rotation < ``max_rotation_deg``). The pre-filter also counts hand-table penetration."""
        return self._validate(True, wrist_pos, wrist_quat, pregrasp, grasp, squeeze)

    def penetrations(self, wrist_pos, wrist_quat, q) -> tuple[np.ndarray, np.ndarray]:
        """Deepest hand-object and hand-hand penetration (m, each (B,) >= 0) of B hand poses
        ((B,3) m, (B,4) wxyz, (B,J) rad) in this scene's MuJoCo geometry: kinematics and
        collision only (~0.1 ms per pose), the pre-filter's numbers without simulating.
        Finger-finger overlap the optimizer's coarse self-collision spheres miss shows here."""
        wp, wq, (qq,) = _check_batch(wrist_pos, wrist_quat, {"q": q}, self.n_joints)
        sim, one = self._sims[False], _One()
        pen, self_pen = np.zeros(len(wp)), np.zeros(len(wp))
        for i in range(len(wp)):
            sim.prefilter(wp[i], wq[i], qq[i], one)
            pen[i], self_pen[i] = one.pen, one.self_pen
        return pen, self_pen

    def close(self):
        """Shut the worker pool down (if any)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # ------------------------------------------------------------------ internals
    def _thread_pool_sims(self, n: int) -> list[_Sim]:
        """At least ``n`` sims for threads: thread 0 uses the main sim, the others their own MjData."""
        while len(self._thread_sims) < n:
            self._thread_sims.append(self._sims[False] if not self._thread_sims else _Sim(self.scene, self.config))
        return self._thread_sims[:n]

    def _run_split(self, sims: list[_Sim], wp, wq, qp, qg, qs) -> _One:
        """The free-space test of ONE grasp with its six directions spread over ``len(sims)``
        threads: close once (``sims[0]``), then every direction from a copy of that closed state, as
        :meth:`_Sim.run` does with ``share_closing``; so each direction's outcome, and the verdict,
        are the same. With ``early_exit`` a failed direction stops the directions not yet started
        (``tested`` then may differ from the sequential order: some later ones were run)."""
        c, s0, one = self.config, sims[0], _One()
        s0.prefilter(wp, wq, qg, one)
        if one.rejected:
            return one
        s0.close(wp, wq, qp, qg, qs)
        s0.squeeze_contacts(one)
        base = mujoco.MjData(s0.m)
        mujoco.mj_copyData(base, s0.m, s0.d)
        stop = threading.Event()
        n = len(sims)

        def work(k: int) -> None:
            sim = sims[k]
            for i in range(k, len(_DIRS), n):
                if stop.is_set():
                    return
                mujoco.mj_copyData(sim.d, sim.m, base)
                disp, rot = sim.hold(_DIRS[i], c.hold_time, c.force)
                one.tested[i], one.disp[i], one.rot[i] = True, disp, rot
                one.failed[i] = not (disp < c.max_displacement and rot < c.max_rotation_deg)
                if one.failed[i] and c.early_exit:
                    stop.set()
        with ThreadPoolExecutor(n) as ex:
            list(ex.map(work, range(n)))
        return one

    def _sim(self, tabletop: bool) -> _Sim:
        if tabletop not in self._sims:
            sc = self._get_scene(self.hand_cfg, self.object_mesh, self.config, tabletop=True, hands_dir=self.hands_dir,
                                 table_z=self.table_z)
            self._sims[tabletop] = _Sim(sc, self.config)
        return self._sims[tabletop]

    def _validate(self, tabletop, wrist_pos, wrist_quat, pregrasp, grasp, squeeze) -> ValidationResult:
        wp, wq, (qp, qg, qs) = _check_batch(wrist_pos, wrist_quat,
                                            {"pregrasp": pregrasp, "grasp": grasp, "squeeze": squeeze}, self.n_joints)
        B = len(wp)
        directions = ("lift",) if tabletop else DIRECTION_NAMES
        if self.workers == 1 and self.threads > 1 and not tabletop and B == 1 and self.config.share_closing:
            # one grasp: its six directions share the threads (each starts from the same closed state)
            ones = [self._run_split(self._thread_pool_sims(self.threads), wp[0], wq[0], qp[0], qg[0], qs[0])]
        elif self.workers == 1 and self.threads > 1 and not tabletop and B > 1:
            n = min(self.threads, B)
            self._thread_pool_sims(n)
            idx = [np.arange(i, B, n) for i in range(n)]   # interleaved: balances slow and fast grasps

            def run(k):
                sim = self._thread_sims[k]
                return [sim.run(wp[i], wq[i], qp[i], qg[i], qs[i]) for i in idx[k]]
            ones = [None] * B
            with ThreadPoolExecutor(n) as ex:
                for k, res in enumerate(ex.map(run, range(n))):
                    for i, o in zip(idx[k], res):
                        ones[i] = o
        elif self.workers == 1 or B < 2:
            sim = self._sim(tabletop)
            fn = sim.run_tabletop if tabletop else sim.run
            ones = [fn(wp[i], wq[i], qp[i], qg[i], qs[i]) for i in range(B)]
        else:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("fork"),
                                                 initializer=_worker_init,
                                                 initargs=(self.hand_cfg, self.object_mesh, self.config,
                                                           self.hands_dir, self.table_z))
            # interleaved chunks balance slow (passing) and fast (early-exit) grasps
            n_chunks = min(B, self.workers * 4)
            idx = [np.arange(i, B, n_chunks) for i in range(n_chunks)]
            futs = [self._pool.submit(_worker_run, tabletop, (wp[j], wq[j], qp[j], qg[j], qs[j])) for j in idx]
            ones = [None] * B
            for j, f in zip(idx, futs):
                for i, o in zip(j, f.result()):
                    ones[i] = o
        return _collect(ones, self.config, directions)


# ---------------------------------------------------------------------- grasp construction helper
@dataclass
class ClosedGrasp:
    """Output of :func:`close_fingers_until_contact` (all (J,) rad, driver order).

    pregrasp: ``grasp + pregrasp_open * (open - grasp)``; grasp: joints at first contact;
    squeeze: grasp pushed ``squeeze_delta`` rad further toward ``closed`` on the fingers that
    touched; touched: finger name -> whether it reached the object; contact_links: hand links
    within ``real_contact_tol`` of the object at the grasp pose."""

    pregrasp: np.ndarray
    grasp: np.ndarray
    squeeze: np.ndarray
    touched: dict
    contact_links: int


def _body_finger(scene: Scene, hand_cfg: HandConfig) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Fingers = chains hanging from the palm's child bodies.

    Returns (nbody,) finger index of every body (-1: palm / not hand), (J,) finger of each
    joint, and finger names (from ``hand_cfg.fingertips``, else ``finger<i>``)."""
    m = scene.model
    root = m.body("hand/" + hand_cfg.root_body).id
    top = np.full(m.nbody, -1)
    for b in range(m.nbody):
        a = b
        while a > 0 and m.body_parentid[a] != root:
            a = m.body_parentid[a]
        if a > 0:
            top[b] = a
    tops = sorted(set(top[top >= 0].tolist()))
    body_finger = np.array([tops.index(t) if t >= 0 else -1 for t in top])
    joint_finger = np.array([body_finger[m.jnt_bodyid[m.joint("hand/" + j).id]] for j in hand_cfg.joint_names])
    names = [f"finger{i}" for i in range(len(tops))]
    for fname, tip in hand_cfg.fingertips.items():
        try:
            names[body_finger[m.body("hand/" + tip).id]] = fname
        except KeyError:
            pass
    return body_finger, joint_finger, names


def close_fingers_until_contact(hand_cfg: HandConfig, object_mesh, wrist_pos, wrist_quat, open_q, closed_q,
                                config: ValidatorConfig | None = None, n_steps: int = 200,
                                squeeze_delta: float | None = None, pregrasp_open: float | None = None,
                                hands_dir=None) -> ClosedGrasp:
    """Close each finger from ``open_q`` toward ``closed_q`` until it touches the object.

    A kinematic sweep in the validator's MuJoCo scene (object at the origin, hand at the
    wrist pose (3,) m / (4,) wxyz in the object frame): the joints of every still-moving
    finger follow ``open + s * (closed - open)`` for ``s`` in ``n_steps`` equal steps; after each
    step MuJoCo's collision detection runs, and a finger with a hand-object contact (dist < 0)
    is frozen at its previous (non-penetrating) step, i.e. within one step of the surface; a
    finger that newly hits the palm or another finger stops the same way (not "touched").
    Fingers (joint groups) are the palm's child chains. ``squeeze`` closes the touched fingers'
    moving joints ``squeeze_delta`` rad further (default ``hand_cfg.squeeze_delta``) toward
    ``closed_q``, clipped to the actuator range; untouched fingers stay at ``closed_q``.
    Deterministic; ~10-30 ms.
    """
    config = config or ValidatorConfig()
    scene = get_scene(hand_cfg, object_mesh, config, hands_dir=hands_dir)
    sim = _Sim(scene, config)
    open_q, closed_q = np.asarray(open_q, np.float64), np.asarray(closed_q, np.float64)
    J = len(hand_cfg.joint_names)
    if open_q.shape != (J,) or closed_q.shape != (J,):
        raise ValueError(f"open_q/closed_q: expected shape ({J},), got {open_q.shape} and {closed_q.shape}")
    body_finger, finger, names = _body_finger(scene, hand_cfg)
    nf = len(names)
    frozen = np.zeros(nf, bool)    # finger stopped (object or self contact)
    touched = np.zeros(nf, bool)   # finger stopped by the object
    q = open_q.copy()
    m, d = sim.m, sim.d
    wp, wq = np.asarray(wrist_pos, np.float64), np.asarray(wrist_quat, np.float64)
    bf = lambda g: np.append(body_finger, -1)[np.where(g >= 0, m.geom_bodyid[np.maximum(g, 0)], -1)]
    self0 = None
    for k in range(n_steps + 1):
        q_new = np.where(frozen[finger], q, open_q + (closed_q - open_q) * (k / n_steps))
        sim.place(wp, wq, q_new)
        mujoco.mj_kinematics(m, d)
        mujoco.mj_collision(m, d)
        g1, g2, dist = sim._contacts()
        h1, h2 = scene.is_hand_geom[g1], scene.is_hand_geom[g2]
        pen = dist < 0
        ho = ((h1 & scene.is_obj_geom[g2]) | (h2 & scene.is_obj_geom[g1])) & pen
        hh = h1 & h2 & pen
        hit_obj = np.zeros(nf + 1, bool)  # last slot collects palm contacts (freeze nothing)
        hit_obj[bf(np.where(h1, g1, g2)[ho])] = True
        # self contacts already present at the open pose are ignored
        pairs = set(zip(g1[hh].tolist(), g2[hh].tolist()))
        if self0 is None:
            self0 = pairs
        new = [p for p in pairs if p not in self0]
        hit_self = np.zeros(nf + 1, bool)
        if new:
            hit_self[bf(np.array([p[0] for p in new]))] = True
            hit_self[bf(np.array([p[1] for p in new]))] = True
        newly_obj = hit_obj[:nf] & ~frozen
        newly = (hit_obj[:nf] | hit_self[:nf]) & ~frozen
        touched |= newly_obj
        frozen |= newly
        if k > 0:  # newly stopped fingers keep the previous (non-penetrating) step
            q = np.where(newly[finger], q, q_new)
        else:
            q = q_new
        if frozen.all():
            break
    sd = hand_cfg.squeeze_delta if squeeze_delta is None else squeeze_delta
    po = hand_cfg.pregrasp_open if pregrasp_open is None else pregrasp_open
    grasp = q
    step = np.sign(closed_q - open_q) * sd * touched[finger]
    squeeze = np.clip(grasp + step, scene.ctrl_lo, scene.ctrl_hi)
    pregrasp = grasp + po * (open_q - grasp)
    sim.place(wp, wq, grasp)
    mujoco.mj_kinematics(m, d)
    links = len(sim.near_links(config.real_contact_tol))
    return ClosedGrasp(pregrasp=pregrasp, grasp=grasp, squeeze=squeeze,
                       touched={names[f]: bool(touched[f]) for f in range(nf)}, contact_links=links)
