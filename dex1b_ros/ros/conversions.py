"""Every ROS message <-> numpy / core-type conversion of the project (the only module that does it).

Point clouds (``sensor_msgs/PointCloud2``) are read and written with numpy structured dtypes
(field names, formats, offsets, ``itemsize = point_step``) over the message buffer: reading is
zero-copy up to the final (N, 3) float64 arrays. Supported: x/y/z as FLOAT32 or FLOAT64,
optional ``normal_x/normal_y/normal_z``, any other fields (ignored when reading xyz), either
endianness, padding inside a point and at the end of each row (``row_step``), organised
(``height > 1``) and unorganised clouds. Malformed messages raise :class:`CloudFormatError`
with a message naming what is wrong.

Conventions: core quaternions are (w, x, y, z); ROS ``geometry_msgs/Quaternion`` is (x, y, z, w).
Joint vectors are in the hand's driver order, simulation convention, except in the driver
adapters (:func:`driver_command`, :func:`driver_trajectory`), which apply the hand's
``driver.position_offset`` (LEAP motors: sim angle + pi) and driver joint names.
"""
from __future__ import annotations

import array
from dataclasses import dataclass

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import Point, Pose, PoseStamped, Quaternion, Vector3
from sensor_msgs.msg import JointState, PointCloud2, PointField
from std_msgs.msg import ColorRGBA, Float64MultiArray, Header, MultiArrayDimension
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint
from visualization_msgs.msg import Marker, MarkerArray

from dex1b_msgs.msg import Grasp, GraspArray

from ..hands.config import HandConfig
from ..planner.trajectory import GraspTrajectory
from ..planner.types import PlannedGrasp, PlanResult
from ..rotation import quat_to_matrix_np, quat_wxyz_to_xyzw, quat_xyzw_to_wxyz

# ----------------------------------------------------------------------------------------------
# PointCloud2
# ----------------------------------------------------------------------------------------------


class CloudFormatError(ValueError):
    """A PointCloud2 message cannot be read (missing fields, bad sizes, unsupported types)."""


#: PointField datatype -> numpy type code (without byte order).
POINTFIELD_TO_NUMPY = {
    PointField.INT8: "i1", PointField.UINT8: "u1", PointField.INT16: "i2", PointField.UINT16: "u2",
    PointField.INT32: "i4", PointField.UINT32: "u4", PointField.FLOAT32: "f4", PointField.FLOAT64: "f8",
}
NUMPY_TO_POINTFIELD = {np.dtype(v).str[1:]: k for k, v in POINTFIELD_TO_NUMPY.items()}
_DATATYPE_NAMES = {PointField.INT8: "INT8", PointField.UINT8: "UINT8", PointField.INT16: "INT16",
                   PointField.UINT16: "UINT16", PointField.INT32: "INT32", PointField.UINT32: "UINT32",
                   PointField.FLOAT32: "FLOAT32", PointField.FLOAT64: "FLOAT64"}
XYZ = ("x", "y", "z")
NORMALS = ("normal_x", "normal_y", "normal_z")


def cloud_dtype(fields, point_step: int, is_bigendian: bool = False) -> np.dtype:
    """Structured dtype of one point: one entry per PointField, ``itemsize = point_step``.

    Raises CloudFormatError on an unknown datatype, a field outside the point, duplicate names.
    """
    names, formats, offsets = [], [], []
    order = ">" if is_bigendian else "<"
    for f in fields:
        if f.datatype not in POINTFIELD_TO_NUMPY:
            raise CloudFormatError(f"PointCloud2: field {f.name!r} has unsupported datatype {f.datatype} "
                                   f"(supported: 1..8 = INT8..FLOAT64)")
        if f.name in names:
            raise CloudFormatError(f"PointCloud2: field {f.name!r} appears twice")
        count = max(int(f.count), 1)
        code = order + POINTFIELD_TO_NUMPY[f.datatype]
        size = np.dtype(code).itemsize * count
        if f.offset < 0 or f.offset + size > point_step:
            raise CloudFormatError(f"PointCloud2: field {f.name!r} (offset {f.offset}, {size} bytes) does not fit "
                                   f"in point_step {point_step}")
        names.append(f.name)
        formats.append(code if count == 1 else (code, (count,)))
        offsets.append(int(f.offset))
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": int(point_step)})


def pointcloud2_to_array(msg: PointCloud2) -> np.ndarray:
    """View of the cloud as a structured array, shape (height, width); no copy.

    Row padding (``row_step > width * point_step``) is skipped through the array strides.
    Raises CloudFormatError if the sizes are inconsistent.
    """
    h, w, ps, rs = int(msg.height), int(msg.width), int(msg.point_step), int(msg.row_step)
    dt = cloud_dtype(msg.fields, ps, bool(msg.is_bigendian)) if ps > 0 else None
    n_bytes = len(msg.data)
    if h * w == 0:
        if n_bytes != 0 and rs * h != n_bytes:
            raise CloudFormatError(f"PointCloud2: width*height is 0 but data has {n_bytes} bytes")
        return np.zeros((h, w), dtype=dt if dt is not None else np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4")]))
    if ps <= 0:
        raise CloudFormatError(f"PointCloud2: point_step must be > 0, got {ps}")
    if rs < w * ps:
        raise CloudFormatError(f"PointCloud2: row_step {rs} is smaller than width*point_step = {w}*{ps} = {w * ps}")
    if n_bytes != rs * h:
        raise CloudFormatError(f"PointCloud2: data has {n_bytes} bytes, expected row_step*height = {rs}*{h} = {rs * h}")
    buf = np.frombuffer(msg.data, dtype=np.uint8)
    return np.ndarray(shape=(h, w), dtype=dt, buffer=buf, offset=0, strides=(rs, ps))


@dataclass
class CloudArrays:
    """Points (and normals) read from a PointCloud2, flattened row-major.

    Attributes:
        points: (N, 3) float64 m, in ``frame_id``; may contain NaN/inf (not filtered here).
        normals: (N, 3) float64 unit-ish vectors, or None when the cloud has no normal fields.
        frame_id: the message's header.frame_id.
        shape: (height, width) of the message (organised clouds have height > 1).
        is_dense: the message's claim that it has no invalid points.
    """

    points: np.ndarray
    normals: np.ndarray | None
    frame_id: str
    shape: tuple[int, int]
    is_dense: bool


def _stack_fields(arr: np.ndarray, names: tuple[str, ...], msg: PointCloud2) -> np.ndarray:
    types = {f.name: f.datatype for f in msg.fields}
    for n in names:
        if types[n] not in (PointField.FLOAT32, PointField.FLOAT64):
            raise CloudFormatError(f"PointCloud2: field {n!r} has datatype {_DATATYPE_NAMES.get(types[n], types[n])}; "
                                   "expected FLOAT32 or FLOAT64")
        if arr.dtype.fields[n][0].shape != ():
            raise CloudFormatError(f"PointCloud2: field {n!r} has count > 1; expected a scalar")
    out = np.empty((arr.size, len(names)), dtype=np.float64)
    flat = arr.reshape(-1)
    for i, n in enumerate(names):
        out[:, i] = flat[n]
    return out


def pointcloud2_to_xyz(msg: PointCloud2, read_normals: bool = True) -> CloudArrays:
    """Points (N, 3) float64 and optional normals of a PointCloud2 (see :class:`CloudArrays`).

    Raises CloudFormatError when x/y/z are missing or not float, when only some of the normal
    fields are present, or when sizes are inconsistent.
    """
    names = [f.name for f in msg.fields]
    missing = [n for n in XYZ if n not in names]
    if missing:
        raise CloudFormatError(f"PointCloud2: missing field(s) {', '.join(missing)} (fields present: "
                               f"{', '.join(names) or 'none'}); need float x, y, z")
    arr = pointcloud2_to_array(msg)
    pts = _stack_fields(arr, XYZ, msg)
    nrm = None
    have = [n for n in NORMALS if n in names]
    if read_normals and have:
        if len(have) != 3:
            raise CloudFormatError(f"PointCloud2: only some normal fields present ({', '.join(have)}); "
                                   "need all of normal_x, normal_y, normal_z or none")
        nrm = _stack_fields(arr, NORMALS, msg)
    return CloudArrays(points=pts, normals=nrm, frame_id=msg.header.frame_id, shape=(int(msg.height), int(msg.width)),
                       is_dense=bool(msg.is_dense))


def xyz_to_pointcloud2(points: np.ndarray, normals: np.ndarray | None = None, *, frame_id: str = "",
                       stamp: Time | None = None, dtype=np.float32, shape: tuple[int, int] | None = None,
                       is_bigendian: bool = False, point_padding: int = 0, row_padding: int = 0,
                       extra: dict[str, np.ndarray] | None = None) -> PointCloud2:
    """A PointCloud2 holding ``points`` (N, 3) m and optional ``normals`` (N, 3).

    Args:
        dtype: float32 or float64 for x/y/z and normals.
        shape: (height, width) with height*width == N for an organised cloud; default (1, N).
        is_bigendian, point_padding (bytes appended to each point), row_padding (bytes appended
            to each row): produce the layouts real drivers send (used by the round-trip tests).
        extra: more per-point fields, name -> (N,) array of a PointField-compatible dtype
            (e.g. ``{"intensity": float32}``, ``{"rgb": uint32}``).
    ``is_dense`` is set to whether every coordinate is finite.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    n = len(pts)
    h, w = shape if shape is not None else (1, n)
    if h * w != n:
        raise ValueError(f"xyz_to_pointcloud2: shape {shape} does not hold {n} points")
    fdt = np.dtype(dtype)
    if fdt.str[1:] not in ("f4", "f8"):
        raise ValueError(f"xyz_to_pointcloud2: dtype must be float32 or float64, got {fdt}")
    order = ">" if is_bigendian else "<"
    cols: list[tuple[str, np.dtype, np.ndarray]] = [(c, np.dtype(order + fdt.str[1:]), pts[:, i])
                                                    for i, c in enumerate(XYZ)]
    if normals is not None:
        nrm = np.asarray(normals, dtype=np.float64).reshape(-1, 3)
        if len(nrm) != n:
            raise ValueError(f"xyz_to_pointcloud2: {len(nrm)} normals for {n} points")
        cols += [(c, np.dtype(order + fdt.str[1:]), nrm[:, i]) for i, c in enumerate(NORMALS)]
    for name, values in (extra or {}).items():
        v = np.asarray(values).reshape(-1)
        if len(v) != n or v.dtype.str[1:] not in NUMPY_TO_POINTFIELD:
            raise ValueError(f"xyz_to_pointcloud2: extra field {name!r} must be ({n},) of a PointField type")
        cols.append((name, np.dtype(order + v.dtype.str[1:]), v))
    fields, offset = [], 0
    for name, dt, _ in cols:
        fields.append(PointField(name=name, offset=offset, datatype=NUMPY_TO_POINTFIELD[dt.str[1:]], count=1))
        offset += dt.itemsize
    point_step = offset + int(point_padding)
    st = cloud_dtype(fields, point_step, is_bigendian)
    rec = np.zeros(n, dtype=st)
    for name, _, values in cols:
        rec[name] = values
    row_bytes = w * point_step
    row_step = row_bytes + int(row_padding)
    if row_padding:
        buf = np.zeros((h, row_step), dtype=np.uint8)
        buf[:, :row_bytes] = rec.view(np.uint8).reshape(h, row_bytes)
    else:
        buf = rec.view(np.uint8)
    msg = PointCloud2()
    msg.header = Header(frame_id=frame_id, stamp=stamp if stamp is not None else Time())
    msg.height, msg.width = int(h), int(w)
    msg.fields = fields
    msg.is_bigendian = bool(is_bigendian)
    msg.point_step = int(point_step)
    msg.row_step = int(row_step)
    data = array.array("B")
    data.frombytes(np.ascontiguousarray(buf).tobytes())
    msg.data = data
    msg.is_dense = bool(np.all(np.isfinite(pts)))
    return msg


def cloud_is_empty(msg: PointCloud2 | None) -> bool:
    """True for no message or a cloud with width*height == 0 (the service's "use the latest")."""
    return msg is None or int(msg.width) * int(msg.height) == 0


# ----------------------------------------------------------------------------------------------
# Time, poses
# ----------------------------------------------------------------------------------------------


def duration_msg(seconds: float) -> Duration:
    """builtin_interfaces/Duration of ``seconds`` (>= 0)."""
    ns = int(round(float(seconds) * 1e9))
    return Duration(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def duration_to_sec(d: Duration) -> float:
    return float(d.sec) + 1e-9 * float(d.nanosec)


def time_to_sec(t: Time) -> float:
    return float(t.sec) + 1e-9 * float(t.nanosec)


def quat_wxyz_to_msg(q_wxyz) -> Quaternion:
    """Core (w, x, y, z) -> ROS Quaternion (fields x, y, z, w); normalised."""
    q = np.asarray(q_wxyz, dtype=np.float64).reshape(4)
    nrm = np.linalg.norm(q)
    if not np.isfinite(nrm) or nrm < 1e-9:
        raise ValueError(f"quaternion {q.tolist()} is not a rotation")
    x, y, z, w = quat_wxyz_to_xyzw(q / nrm)
    return Quaternion(x=float(x), y=float(y), z=float(z), w=float(w))


def quat_msg_to_wxyz(q: Quaternion) -> np.ndarray:
    """ROS Quaternion -> core (4,) (w, x, y, z)."""
    return quat_xyzw_to_wxyz([q.x, q.y, q.z, q.w])


def pose_msg(pos, quat_wxyz) -> Pose:
    p = np.asarray(pos, dtype=np.float64).reshape(3)
    return Pose(position=Point(x=float(p[0]), y=float(p[1]), z=float(p[2])), orientation=quat_wxyz_to_msg(quat_wxyz))


def pose_stamped_msg(pos, quat_wxyz, header: Header) -> PoseStamped:
    """PoseStamped of a wrist (palm-frame) pose; ``quat_wxyz`` is core order (w, x, y, z)."""
    return PoseStamped(header=header, pose=pose_msg(pos, quat_wxyz))


def pose_to_arrays(pose: Pose) -> tuple[np.ndarray, np.ndarray]:
    """Pose -> ((3,) m, (4,) (w, x, y, z))."""
    p = pose.position
    return np.array([p.x, p.y, p.z], dtype=np.float64), quat_msg_to_wxyz(pose.orientation)


# ----------------------------------------------------------------------------------------------
# Grasps
# ----------------------------------------------------------------------------------------------


def _f32(v) -> float:
    return float(np.float32(v))


def grasp_to_msg(g: PlannedGrasp, hand: str, joint_names: list[str], header: Header) -> Grasp:
    """One PlannedGrasp -> dex1b_msgs/Grasp (sim convention; wrist pose in ``header.frame_id``)."""
    J = len(joint_names)
    vecs = {}
    for name in ("pregrasp", "grasp", "squeeze", "approach"):
        if name == "approach" and g.approach is None:
            vecs[name] = []     # empty = the hand's open pose
            continue
        v = np.asarray(getattr(g, name), dtype=np.float64).reshape(-1)
        if v.size != J:
            raise ValueError(f"grasp_to_msg: {name} has {v.size} values, expected {J} (joint_names)")
        vecs[name] = [float(x) for x in v]
    return Grasp(hand=hand, joint_names=list(joint_names), pregrasp_positions=vecs["pregrasp"],
                 grasp_positions=vecs["grasp"], squeeze_positions=vecs["squeeze"],
                 approach_positions=vecs["approach"],
                 wrist_pose=pose_stamped_msg(g.wrist_pos, g.wrist_quat, header),
                 score=_f32(g.score), energy=_f32(g.energy), contact_distance_mm=_f32(g.contact_distance_mm),
                 penetration_mm=_f32(g.penetration_mm), self_penetration_mm=_f32(g.self_penetration_mm),
                 num_contacts=int(g.num_contacts), validated=bool(g.validated), sim_success=bool(g.sim_success),
                 success_probability=_f32(float("nan") if g.evaluator_prob is None else g.evaluator_prob),
                 predicted_success=bool(g.predicted_success), grasp_type=str(g.grasp_type), source=str(g.source))


def grasp_from_msg(m: Grasp) -> PlannedGrasp:
    """dex1b_msgs/Grasp -> PlannedGrasp (float fields come back as float32-rounded)."""
    pos, quat = pose_to_arrays(m.wrist_pose.pose)
    return PlannedGrasp(wrist_pos=pos, wrist_quat=quat, pregrasp=np.asarray(m.pregrasp_positions, dtype=np.float64),
                        grasp=np.asarray(m.grasp_positions, dtype=np.float64),
                        squeeze=np.asarray(m.squeeze_positions, dtype=np.float64),
                        approach=(np.asarray(m.approach_positions, dtype=np.float64)
                                  if len(m.approach_positions) else None),
                        score=float(m.score),
                        energy=float(m.energy), contact_distance_mm=float(m.contact_distance_mm),
                        penetration_mm=float(m.penetration_mm), self_penetration_mm=float(m.self_penetration_mm),
                        num_contacts=int(m.num_contacts), validated=bool(m.validated),
                        sim_success=bool(m.sim_success),
                        evaluator_prob=None if np.isnan(m.success_probability) else float(m.success_probability),
                        predicted_success=bool(m.predicted_success), grasp_type=m.grasp_type, source=m.source)


def plan_result_to_msg(result: PlanResult, header: Header, hand: str = "", joint_names: list[str] | None = None,
                       info: str | None = None) -> GraspArray:
    """PlanResult -> GraspArray (ranked as given, best first). ``hand``/``joint_names`` default to
    the result's; ``info`` defaults to the result's info/message and stage timings."""
    hand = result.hand or hand
    names = list(result.joint_names or joint_names or [])
    if info is None:
        t = ", ".join(f"{k} {v:.3f}s" for k, v in result.timings.items())
        info = "; ".join(s for s in (result.message, result.info, t and f"timings: {t}") if s)
    return GraspArray(header=header, grasps=[grasp_to_msg(g, hand, names, header) for g in result.grasps],
                      planner_info=info)


# ----------------------------------------------------------------------------------------------
# Trajectories and hand-driver adapters
# ----------------------------------------------------------------------------------------------


def trajectory_to_msg(traj: GraspTrajectory, header: Header, offset: float = 0.0,
                      joint_names: list[str] | None = None) -> JointTrajectory:
    """GraspTrajectory -> JointTrajectory (positions + ``offset`` rad; names default to the
    trajectory's). Velocities/accelerations are left empty (the controller interpolates)."""
    names = list(joint_names if joint_names is not None else traj.joint_names)
    if len(names) != traj.positions.shape[1]:
        raise ValueError(f"trajectory_to_msg: {len(names)} joint names for {traj.positions.shape[1]} joints")
    pts = [JointTrajectoryPoint(positions=[float(v) for v in q + offset], time_from_start=duration_msg(t))
           for t, q in zip(traj.times, traj.positions)]
    return JointTrajectory(header=header, joint_names=names, points=pts)


def trajectory_from_msg(msg: JointTrajectory, offset: float = 0.0) -> GraspTrajectory:
    """JointTrajectory -> GraspTrajectory (positions - ``offset``). Raises ValueError on an empty
    or inconsistent message (wrong lengths, non-increasing times)."""
    if not msg.points:
        raise ValueError("JointTrajectory has no points")
    J = len(msg.joint_names)
    for i, p in enumerate(msg.points):
        if len(p.positions) != J:
            raise ValueError(f"JointTrajectory point {i} has {len(p.positions)} positions for {J} joint names")
    times = [duration_to_sec(p.time_from_start) for p in msg.points]
    pos = np.array([list(p.positions) for p in msg.points], dtype=np.float64) - offset
    return GraspTrajectory(joint_names=list(msg.joint_names), times=times, positions=pos)


#: Output adapters of the planner node (``auto`` = the hand config's driver.command_type).
ADAPTERS = ("auto", "none", "joint_state", "float64_multi_array", "joint_trajectory")


def resolve_adapter(adapter: str, hand: HandConfig) -> str:
    if adapter not in ADAPTERS:
        raise ValueError(f"output_adapter: expected one of {', '.join(ADAPTERS)}, got {adapter!r}")
    return hand.driver.command_type if adapter == "auto" else adapter


def adapter_message_type(adapter: str):
    """Message class published by an adapter (None for ``none``)."""
    return {"joint_state": JointState, "float64_multi_array": Float64MultiArray,
            "joint_trajectory": JointTrajectory, "none": None}[adapter]


def driver_joint_names(hand: HandConfig) -> list[str]:
    return list(hand.driver.joint_names or hand.joint_names)


def driver_command(q_sim, hand: HandConfig, adapter: str, header: Header | None = None):
    """A single position command for the real hand's driver.

    Args:
        q_sim: (J,) rad, simulation convention, driver order.
        adapter: ``joint_state`` (LEAP: sensor_msgs/JointState on ``cmd_leap``, motor convention =
            sim + ``driver.position_offset`` = sim + pi) or ``float64_multi_array`` (Allegro
            ros2_control position controller: std_msgs/Float64MultiArray of J values).
    """
    q = np.asarray(q_sim, dtype=np.float64).reshape(-1)
    if q.size != len(hand.joint_names):
        raise ValueError(f"driver_command: {q.size} positions for hand {hand.name!r} "
                         f"with {len(hand.joint_names)} joints")
    out = [float(v) for v in q + hand.driver.position_offset]
    if adapter == "joint_state":
        return JointState(header=header or Header(), name=driver_joint_names(hand), position=out)
    if adapter == "float64_multi_array":
        m = Float64MultiArray(data=out)
        m.layout.dim = [MultiArrayDimension(label="joints", size=len(out), stride=len(out))]
        return m
    raise ValueError(f"driver_command: adapter {adapter!r} has no single-command form (use driver_trajectory)")


def driver_trajectory(traj: GraspTrajectory, hand: HandConfig, header: Header) -> JointTrajectory:
    """The trajectory in the driver's convention: driver joint names, positions + offset."""
    return trajectory_to_msg(traj, header, offset=hand.driver.position_offset, joint_names=driver_joint_names(hand))


# ----------------------------------------------------------------------------------------------
# RViz markers
# ----------------------------------------------------------------------------------------------


def score_color(s: float, alpha: float = 1.0) -> ColorRGBA:
    """s in [0, 1] -> red (0) .. yellow .. green (1)."""
    s = float(np.clip(s, 0.0, 1.0)) if np.isfinite(s) else 0.0
    return ColorRGBA(r=float(min(1.0, 2 * (1 - s))), g=float(min(1.0, 2 * s)), b=0.1, a=float(alpha))


def grasp_markers(result: PlanResult, header: Header, top_n: int = 5, axis_length: float = 0.05,
                  ns: str = "grasps") -> MarkerArray:
    """RViz markers of the top grasps, in ``header.frame_id``.

    First a DELETEALL (clears the previous plan). Per grasp i (rank order): a sphere at the wrist
    coloured by normalised score (red = worst shown, green = best), and the wrist axes as a
    LINE_LIST (x red, y green, z blue, ``axis_length`` m; the best grasp's are 2x longer). The
    best grasp also gets a text label with its score.
    """
    out = MarkerArray()
    out.markers.append(Marker(header=header, ns=ns, id=0, action=Marker.DELETEALL))
    grasps = result.grasps[:max(top_n, 0)]
    if not grasps:
        return out
    scores = np.array([g.score for g in grasps], dtype=np.float64)
    finite = np.isfinite(scores)
    lo, hi = (scores[finite].min(), scores[finite].max()) if finite.any() else (0.0, 0.0)
    norm = np.where(finite, (scores - lo) / (hi - lo) if hi > lo else 1.0, 0.0)
    mid = 1
    for i, g in enumerate(grasps):
        p = np.asarray(g.wrist_pos, dtype=np.float64).reshape(3)
        R = quat_to_matrix_np(g.wrist_quat)
        sph = Marker(header=header, ns=ns, id=mid, type=Marker.SPHERE, action=Marker.ADD,
                     pose=pose_msg(p, [1, 0, 0, 0]), color=score_color(norm[i], 0.9))
        sph.scale = Vector3(x=0.012, y=0.012, z=0.012)
        mid += 1
        L = axis_length * (2.0 if i == 0 else 1.0)
        ax = Marker(header=header, ns=ns, id=mid, type=Marker.LINE_LIST, action=Marker.ADD,
                    pose=pose_msg([0, 0, 0], [1, 0, 0, 0]))
        ax.scale = Vector3(x=0.004 if i == 0 else 0.002, y=0.0, z=0.0)
        for k, rgb in enumerate(((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))):
            tip = p + L * R[:, k]
            ax.points += [Point(x=float(p[0]), y=float(p[1]), z=float(p[2])),
                          Point(x=float(tip[0]), y=float(tip[1]), z=float(tip[2]))]
            c = ColorRGBA(r=rgb[0], g=rgb[1], b=rgb[2], a=1.0)
            ax.colors += [c, c]
        mid += 1
        out.markers += [sph, ax]
    best = grasps[0]
    txt = Marker(header=header, ns=ns, id=mid, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD,
                 pose=pose_msg(np.asarray(best.wrist_pos, dtype=np.float64).reshape(3) + [0, 0, 0.04], [1, 0, 0, 0]),
                 color=ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0), text=f"best score {best.score:.3f}")
    txt.scale = Vector3(x=0.0, y=0.0, z=0.02)
    out.markers.append(txt)
    return out


def header_msg(frame_id: str, stamp: Time | None = None) -> Header:
    return Header(frame_id=frame_id, stamp=stamp if stamp is not None else Time())


__all__ = [
    "ADAPTERS", "CloudArrays", "CloudFormatError", "POINTFIELD_TO_NUMPY", "adapter_message_type", "cloud_dtype",
    "cloud_is_empty", "driver_command", "driver_joint_names", "driver_trajectory", "duration_msg", "duration_to_sec",
    "grasp_from_msg", "grasp_markers", "grasp_to_msg", "header_msg", "plan_result_to_msg", "pointcloud2_to_array",
    "pointcloud2_to_xyz", "pose_msg", "pose_stamped_msg", "pose_to_arrays", "quat_msg_to_wxyz", "quat_wxyz_to_msg",
    "resolve_adapter", "score_color", "time_to_sec", "trajectory_from_msg", "trajectory_to_msg", "xyz_to_pointcloud2",
]
