"""MuJoCo scene of one hand and one object for the grasp test (MjSpec API, mujoco 4.0).

Layout (world frame = object frame):
- ``hand_mocap``: a mocap body; the hand's MjSpec (palm = wrist frame) is attached under it
  with ``MjSpec.attach`` (prefix ``hand/``). The palm is therefore moved kinematically by
  ``data.mocap_pos/quat`` (an infinitely stiff wrist: no weld constraint to solve), and the
  fingers are driven by the hand's position actuators (gains overridden from the config).
- ``object``: a free body (``freejoint``) whose frame starts at the origin = object frame. Its
  collision is a **convex decomposition** of the mesh (``config.object_collision``:
  CoACD parts from :func:`~dex1b_ros.geometry.decompose.convex_parts`, cached on disk by
  content hash; a nearly convex mesh is its own hull) or, with ``"hull"``, one convex hull
  (fast; wrong on concave objects). A list of convex parts may be passed instead of a mesh.
  MuJoCo builds each part's hull from its vertices (at most ``maxhullvert``). Mass
  ``object_mass`` split over parts by volume (so the centre of mass follows the real
  material, not the hull's), inertia from the parts; friction (tangential, torsional,
  rolling) set on the object geoms with ``priority=1`` so every hand-object contact uses
  exactly those values.
- optional ``table`` (tabletop scenes): a plane whose top is ``table_clearance`` below the
  object's lowest vertex (object-frame z). There the hand hangs from the mocap through a
  slide joint along world z driven by a stiff position servo (``lift_kp``/``lift_kv``), so the
  lift moves the hand with real velocity (a teleported mocap has zero velocity, and friction
  would not carry the object).

Models are compiled once per (hand, object, scene kind, physics config) and cached in-process
(:func:`get_scene`); grasps reuse them with ``mj_resetData`` + qpos/mocap writes.
"""
from __future__ import annotations

import hashlib
import warnings
from collections import OrderedDict
from dataclasses import dataclass

import mujoco
import numpy as np
import trimesh

from ..geometry.decompose import convex_parts
from ..hands import load_hand_spec
from ..hands.config import HandConfig
from .config import ValidatorConfig

HAND_PREFIX = "hand/"
_INTEGRATORS = {"euler": mujoco.mjtIntegrator.mjINT_EULER, "implicit": mujoco.mjtIntegrator.mjINT_IMPLICIT,
                "implicitfast": mujoco.mjtIntegrator.mjINT_IMPLICITFAST, "rk4": mujoco.mjtIntegrator.mjINT_RK4}
_CONES = {"elliptic": mujoco.mjtCone.mjCONE_ELLIPTIC, "pyramidal": mujoco.mjtCone.mjCONE_PYRAMIDAL}
# config fields that change the compiled model (the cache key uses them)
_SCENE_FIELDS = ("timestep", "integrator", "cone", "impratio", "gravity", "solver_iterations", "object_mass",
                 "friction", "torsional_friction", "rolling_friction", "condim", "maxhullvert", "actuator_kp",
                 "actuator_kv", "actuator_forcerange", "table_clearance", "lift_kp", "lift_kv", "object_collision",
                 "decomposition")


@dataclass
class Scene:
    """A compiled hand + object model and the indices the validator needs.

    Attributes:
        model: the compiled ``MjModel``.
        hand_qpos (J,) int: qpos addresses of the hand joints, ``HandConfig.joint_names`` order.
        hand_dof (J,) int: dof addresses of the same joints.
        hand_act (J,) int: actuator index driving each joint (same order).
        ctrl_lo / ctrl_hi (J,) float: actuator control range (rad).
        obj_qpos: qpos address of the object's free joint (7 values: pos, quat wxyz), or -1 if fixed.
        obj_dof: dof address of the free joint (6 values), or -1.
        obj_body: body id of the object.
        mocap_id: mocap index of the hand's mocap body.
        hand_geoms (G,) int: collision geoms of the hand; ``geom_link`` (G,) their hand body id.
        obj_geoms (K,) int: collision geoms of the object; table_geom: id or -1.
        is_hand_geom / is_obj_geom (ngeom,) bool masks.
        obj_zmin: m, lowest object vertex (object frame z).
        lift_qpos / lift_dof / lift_act: the tabletop lift slide joint and its servo (-1 if none).
        palm_body: body id of the hand's root (palm).
    """

    model: mujoco.MjModel
    hand_qpos: np.ndarray
    hand_dof: np.ndarray
    hand_act: np.ndarray
    ctrl_lo: np.ndarray
    ctrl_hi: np.ndarray
    obj_qpos: int
    obj_dof: int
    obj_body: int
    mocap_id: int
    hand_geoms: np.ndarray
    geom_link: np.ndarray
    obj_geoms: np.ndarray
    table_geom: int
    is_hand_geom: np.ndarray
    is_obj_geom: np.ndarray
    obj_zmin: float
    tabletop: bool
    fixed_object: bool
    lift_qpos: int = -1
    lift_dof: int = -1
    lift_act: int = -1
    palm_body: int = -1


#: m^3, parts with a smaller convex hull are left out of the MuJoCo object (MuJoCo rejects them)
_MIN_PART_VOLUME = 1e-9


def _as_parts(mesh, config: ValidatorConfig | None = None) -> list[trimesh.Trimesh]:
    """A list of parts as given, or the collision parts of one mesh under ``config``."""
    if isinstance(mesh, trimesh.Trimesh) and config is not None:
        _as_parts(mesh)  # validate the mesh itself first
        if config.object_collision == "decomposition":
            mesh = convex_parts(mesh, config.decomposition)
    parts = list(mesh) if isinstance(mesh, (list, tuple)) else [mesh]
    if not parts:
        raise ValueError("object_mesh: empty list of parts")
    for i, p in enumerate(parts):
        if not isinstance(p, trimesh.Trimesh):
            raise TypeError(f"object_mesh[{i}]: expected trimesh.Trimesh, got {type(p).__name__}")
        if len(p.vertices) < 4:
            raise ValueError(f"object_mesh[{i}]: needs >= 4 vertices, got {len(p.vertices)}")
        if not np.all(np.isfinite(p.vertices)):
            raise ValueError(f"object_mesh[{i}]: vertices contain NaN/inf")
    return parts


def mesh_key(mesh) -> str:
    """Stable hash of an object mesh (or list of parts): vertices and faces bytes."""
    h = hashlib.sha1()
    for p in _as_parts(mesh):
        h.update(np.ascontiguousarray(p.vertices, dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(p.faces, dtype=np.int64).tobytes())
    return h.hexdigest()


def _set_options(opt, config: ValidatorConfig):
    opt.timestep = config.timestep
    opt.integrator = _INTEGRATORS[config.integrator]
    opt.cone = _CONES[config.cone]
    opt.impratio = config.impratio
    opt.gravity = [0.0, 0.0, -9.81] if config.gravity else [0.0, 0.0, 0.0]
    opt.iterations = config.solver_iterations


def _drop_visual_geoms(spec: mujoco.MjSpec) -> None:
    """Delete from a hand ``spec`` the geoms that collide with nothing (contype = conaffinity = 0)
    and weigh nothing (their body has an explicit inertial, or the geom has zero density or
    mass), and the meshes no remaining geom uses. Physics unchanged by construction."""
    explicit = {b.name for b in spec.bodies if b.explicitinertial}

    def weightless(g) -> bool:
        return g.parent.name in explicit or g.density == 0 or g.mass == 0

    vis = [g for g in spec.geoms if g.contype == 0 and g.conaffinity == 0 and weightless(g)]
    drop = {id(g) for g in vis}
    used = {g.meshname for g in spec.geoms if id(g) not in drop}
    for g in vis:
        spec.delete(g)
    for m in list(spec.meshes):
        if m.name not in used:
            spec.delete(m)


def build_scene(hand_cfg: HandConfig, object_mesh, config: ValidatorConfig, tabletop: bool = False,
                fixed_object: bool = False, hands_dir=None, visual_meshes: bool = True,
                table_z: float | None = None) -> Scene:
    """Compile the hand + object scene (uncached; see :func:`get_scene`).

    Args:
        hand_cfg: the hand's config.
        object_mesh: ``trimesh.Trimesh`` in the object frame (metres; decomposed per
            ``config.object_collision``), or a list of convex parts (used as given).
        config: physics/object/actuator settings.
        tabletop: add the table plane below the object.
        table_z: m, object-frame height of the table top (tabletop scenes); None = ``table_clearance``
            below the object's lowest point. For an object GUESSED from one view whose unseen bottom
            floats above the known table: the table where it really is (never above the lowest point).
        fixed_object: no free joint (the object is welded to the world); used by
            :func:`~dex1b_ros.validate.validator.close_fingers_until_contact`.
        visual_meshes: keep the hand's visual-only geoms (contype = conaffinity = 0). False
            drops those that also weigh nothing, and their meshes: same physics, ~2x faster
            compile and ~40 MB less per LEAP model; renders then show collision geoms.
    """
    parts = _as_parts(object_mesh, config)
    _, hand_spec = load_hand_spec(hand_cfg, hands_dir)
    if not visual_meshes:
        _drop_visual_geoms(hand_spec)
    spec = mujoco.MjSpec()
    spec.modelname = f"validate_{hand_cfg.name}"
    for s in (spec, hand_spec):  # same options on both: attach keeps the parent's, silently
        _set_options(s.option, config)
    spec.visual.global_.offwidth = 1280
    spec.visual.global_.offheight = 960
    spec.add_texture(name="sky", type=mujoco.mjtTexture.mjTEXTURE_SKYBOX, builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT,
                     rgb1=[0.95, 0.95, 0.97], rgb2=[0.55, 0.6, 0.68], width=64, height=64)  # render backdrop only
    spec.worldbody.add_light(pos=[0, 0, 1.5], dir=[0, 0, -1], diffuse=[0.8, 0.8, 0.8])
    spec.worldbody.add_light(pos=[1, 1, 1.0], dir=[-1, -1, -1], diffuse=[0.4, 0.4, 0.4])

    mocap = spec.worldbody.add_body(name="hand_mocap", mocap=True)
    parent = mocap
    if tabletop:
        # the lift needs real hand velocity (a teleported mocap has none, so friction would not
        # drag the object): mocap (position only) -> slide joint along world z driven by a stiff
        # position servo -> the hand, whose orientation is written into body_quat per grasp
        parent = mocap.add_body(name="hand_lift")
        parent.add_joint(name="hand_lift_z", type=mujoco.mjtJoint.mjJNT_SLIDE, axis=[0, 0, 1])
        act = spec.add_actuator(name="hand_lift_act", target="hand_lift_z", trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.set_to_position(kp=config.lift_kp, kv=config.lift_kv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec.attach(hand_spec, frame=parent.add_frame(), prefix=HAND_PREFIX)

    # object: convex hull of each part, mass split by part volume
    hulls = [p.convex_hull for p in parts]
    # drop crumbs and slivers (CoACD leaves some on thin walls): MuJoCo rejects them ("mesh volume
    # is too small", "coplanar vertices"), and a part under 1 mm^3 changes no contact
    big = [h for h in hulls if abs(h.volume) >= _MIN_PART_VOLUME]
    hulls = big or [max(hulls, key=lambda h: abs(h.volume))]
    vols = np.array([max(h.volume, 1e-12) for h in hulls])
    masses = config.object_mass * vols / vols.sum()
    obj = spec.worldbody.add_body(name="object")
    if not fixed_object:
        obj.add_freejoint(name="object_free")
    for i, (h, mass) in enumerate(zip(hulls, masses)):
        spec.add_mesh(name=f"object_part{i}", uservert=np.asarray(h.vertices, dtype=np.float64).ravel().tolist(),
                      userface=np.asarray(h.faces, dtype=np.int64).ravel().tolist(), maxhullvert=config.maxhullvert)
        obj.add_geom(name=f"object_geom{i}", type=mujoco.mjtGeom.mjGEOM_MESH, meshname=f"object_part{i}",
                     mass=float(mass), condim=config.condim, priority=1,
                     friction=[config.friction, config.torsional_friction, config.rolling_friction],
                     rgba=[0.85, 0.55, 0.2, 1.0])
    zmin = float(min(h.vertices[:, 2].min() for h in hulls))
    if tabletop:
        top = zmin - config.table_clearance if table_z is None else min(float(table_z), zmin)
        spec.worldbody.add_geom(name="table", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 1],
                                pos=[0, 0, top], rgba=[0.5, 0.5, 0.55, 1.0])
    try:
        model = spec.compile()
    except Exception as e:
        raise ValueError(f"scene: MuJoCo cannot compile hand {hand_cfg.name!r} with the object: {e}") from None
    return _index(model, hand_cfg, config, zmin, tabletop, fixed_object)


def _index(model: mujoco.MjModel, hand_cfg: HandConfig, config: ValidatorConfig, zmin: float, tabletop: bool,
           fixed_object: bool) -> Scene:
    m = model
    jid = []
    for n in hand_cfg.joint_names:
        try:
            jid.append(m.joint(HAND_PREFIX + n).id)
        except KeyError:
            raise ValueError(f"scene: hand {hand_cfg.name!r} joint {n!r} not found in the model") from None
    jid = np.array(jid)
    act_of_joint = {int(m.actuator_trnid[a, 0]): a for a in range(m.nu)
                    if m.actuator_trntype[a] == mujoco.mjtTrn.mjTRN_JOINT}
    missing = [hand_cfg.joint_names[i] for i, j in enumerate(jid) if int(j) not in act_of_joint]
    if missing:
        raise ValueError(f"scene: hand {hand_cfg.name!r} joints without a position actuator: {missing}")
    act = np.array([act_of_joint[int(j)] for j in jid])
    # actuator overrides: position servo  tau = kp*(ctrl - q) - kv*qdot, clamped to forcerange
    if config.actuator_kp is not None:
        m.actuator_gainprm[act, 0] = config.actuator_kp
        m.actuator_biasprm[act, 1] = -config.actuator_kp
    if config.actuator_kv is not None:
        m.actuator_biasprm[act, 2] = -config.actuator_kv
    if config.actuator_forcerange is not None:
        m.actuator_forcelimited[act] = 1
        m.actuator_forcerange[act] = [-config.actuator_forcerange, config.actuator_forcerange]
    ctrl_lo = np.where(m.actuator_ctrllimited[act] > 0, m.actuator_ctrlrange[act, 0], m.jnt_range[jid, 0])
    ctrl_hi = np.where(m.actuator_ctrllimited[act] > 0, m.actuator_ctrlrange[act, 1], m.jnt_range[jid, 1])

    obj_body = m.body("object").id
    mocap_body = m.body("hand_mocap").id
    root = m.body(HAND_PREFIX + hand_cfg.root_body).id
    collide = (m.geom_contype | m.geom_conaffinity) > 0
    body_of = m.geom_bodyid

    def under(b, top):
        while b > 0:
            if b == top:
                return True
            b = m.body_parentid[b]
        return False

    is_hand = np.array([collide[g] and under(body_of[g], root) for g in range(m.ngeom)])
    is_obj = np.array([collide[g] and body_of[g] == obj_body for g in range(m.ngeom)])
    if fixed_object:
        oq = od = -1
    else:
        fj = m.joint("object_free").id
        oq, od = int(m.jnt_qposadr[fj]), int(m.jnt_dofadr[fj])
    return Scene(model=m, hand_qpos=m.jnt_qposadr[jid].astype(int), hand_dof=m.jnt_dofadr[jid].astype(int),
                 hand_act=act.astype(int), ctrl_lo=ctrl_lo, ctrl_hi=ctrl_hi, obj_qpos=oq, obj_dof=od,
                 obj_body=obj_body, mocap_id=int(m.body_mocapid[mocap_body]),
                 hand_geoms=np.where(is_hand)[0], geom_link=body_of[is_hand].astype(int),
                 obj_geoms=np.where(is_obj)[0], table_geom=m.geom("table").id if tabletop else -1,
                 is_hand_geom=is_hand, is_obj_geom=is_obj, obj_zmin=zmin, tabletop=tabletop,
                 fixed_object=fixed_object, palm_body=root,
                 lift_qpos=int(m.jnt_qposadr[m.joint("hand_lift_z").id]) if tabletop else -1,
                 lift_dof=int(m.jnt_dofadr[m.joint("hand_lift_z").id]) if tabletop else -1,
                 lift_act=int(m.actuator("hand_lift_act").id) if tabletop else -1)


_CACHE: "OrderedDict[tuple, Scene]" = OrderedDict()
_CACHE_SIZE = 16


def get_scene(hand_cfg: HandConfig, object_mesh, config: ValidatorConfig, tabletop: bool = False,
              fixed_object: bool = False, hands_dir=None, visual_meshes: bool = True,
              table_z: float | None = None) -> Scene:
    """Cached :func:`build_scene`: one compiled model per (hand, mesh, scene kind, physics config).

    The returned ``Scene.model`` is shared: do not modify it (make an ``MjData`` per user)."""
    key = (hand_cfg.name, hand_cfg.mjcf, str(hands_dir), mesh_key(object_mesh), tabletop, fixed_object,
           visual_meshes, table_z if tabletop else None, tuple(getattr(config, f) for f in _SCENE_FIELDS))
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    scene = build_scene(hand_cfg, object_mesh, config, tabletop, fixed_object, hands_dir, visual_meshes, table_z)
    _CACHE[key] = scene
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return scene


def set_hand(scene: Scene, data: mujoco.MjData, wrist_pos: np.ndarray, wrist_quat: np.ndarray,
             q: np.ndarray) -> None:
    """Place the hand: mocap at the wrist pose (object frame, quat wxyz), joints at ``q`` (J,)
    rad, actuator targets at ``q``, velocities zero. Does not run the pipeline.

    Tabletop scenes take the orientation in ``model.body_quat`` of the palm (the mocap stays
    axis-aligned so the lift joint is along world z): the scene's model is per-process state."""
    wq = wrist_quat / np.linalg.norm(wrist_quat)
    data.mocap_pos[scene.mocap_id] = wrist_pos
    if scene.lift_qpos >= 0:
        data.mocap_quat[scene.mocap_id] = [1.0, 0.0, 0.0, 0.0]
        scene.model.body_quat[scene.palm_body] = wq
        data.qpos[scene.lift_qpos] = 0.0
        data.qvel[scene.lift_dof] = 0.0
        data.ctrl[scene.lift_act] = 0.0
    else:
        data.mocap_quat[scene.mocap_id] = wq
    data.qpos[scene.hand_qpos] = q
    data.qvel[scene.hand_dof] = 0.0
    data.ctrl[scene.hand_act] = np.clip(q, scene.ctrl_lo, scene.ctrl_hi)



