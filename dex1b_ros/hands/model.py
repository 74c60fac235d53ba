"""``HandModel``: batched, differentiable kinematics and geometry of one dexterous hand.

Frames and units
- Object frame ``O``: the frame grasps are expressed in (the object's mesh frame or the
  planning frame of a cloud). Metres.
- Palm (wrist) frame ``P``: the frame of the hand's root body (``HandConfig.root_body``).
  The *wrist pose* is the pose of ``P`` in ``O``: translation ``t`` (B, 3) m and rotation
  ``R`` (B, 3, 3), parametrised by the continuous 6D representation (B, 6) (see
  :mod:`dex1b_ros.rotation`).
- Link frames: MuJoCo body frames. Link poses returned in ``P`` or ``O`` as (B, L, 4, 4).
- Joints ``q``: (B, J) radians in the hand driver's order (``HandConfig.joint_names``),
  simulation convention (MuJoCo Menagerie). Driver offsets are applied only at the ROS
  boundary.

A ``HandModel`` is built once per hand (a second or so: sphere fit) and moved with ``.to``.
All per-grasp work is batched torch; nothing loops over grasps in Python.

The parts live in their own modules: :mod:`.kinematics` (MJCF -> pytorch_kinematics chain,
batched point transforms), :mod:`.derived` (sphere fit, contacts, palm, tips, self pairs,
surface samples), :mod:`.cache` (the on-disk cache of the derived geometry). This module
assembles them; the old names (``transform_points``, ``link_points``, ``load_hand_spec``,
``CACHE_ENV``, ...) are re-exported here.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np
import pytorch_kinematics as pk
import torch

from ..config_utils import ConfigError
from ..rotation import matrix_to_rot6d, rot6d_to_matrix
from .cache import CACHE_ENV, cache_path, load_derived, save_derived
from .collision import ConvexGeom, link_geoms
from .config import HandConfig, load_hand_config
from .culling import PairChunks, PointChunks, chunk_pairs, chunk_points
from .derived import DERIVED_FIELDS, derive_geometry, farthest_points, finger_and_surface
from .kinematics import (
    apply_link_matrix,
    build_chain,
    check_joints,
    is_descendant,
    link_point_matrix,
    link_points,
    load_hand_spec,
    transform_points,
    xml_with_assets,
)


@dataclass
class HandPose:
    """A batch of hand poses in the object frame.

    trans: (B, 3) m, palm-frame origin in the object frame.
    rot6d: (B, 6) 6D rotation of the palm frame in the object frame.
    q:     (B, J) rad, joint angles in driver order.
    """

    trans: torch.Tensor
    rot6d: torch.Tensor
    q: torch.Tensor

    @property
    def batch(self) -> int:
        return self.q.shape[0]

    @property
    def rotation(self) -> torch.Tensor:
        """(B, 3, 3) palm rotation in the object frame."""
        return rot6d_to_matrix(self.rot6d)

    def matrix(self) -> torch.Tensor:
        """(B, 4, 4) palm pose in the object frame."""
        T = torch.zeros(self.batch, 4, 4, dtype=self.q.dtype, device=self.q.device)
        T[:, :3, :3] = self.rotation
        T[:, :3, 3] = self.trans
        T[:, 3, 3] = 1.0
        return T

    def pack(self) -> torch.Tensor:
        """(B, 9 + J) = [trans, rot6d, q]."""
        return torch.cat([self.trans, self.rot6d, self.q], dim=-1)

    @classmethod
    def unpack(cls, x: torch.Tensor) -> "HandPose":
        return cls(x[..., :3], x[..., 3:9], x[..., 9:])

    @classmethod
    def from_matrix(cls, T: torch.Tensor, q: torch.Tensor) -> "HandPose":
        """From (B, 4, 4) palm poses and (B, J) joints."""
        return cls(T[:, :3, 3].clone(), matrix_to_rot6d(T[:, :3, :3]), q)

    def detach(self) -> "HandPose":
        return HandPose(self.trans.detach(), self.rot6d.detach(), self.q.detach())

    def __getitem__(self, idx) -> "HandPose":
        return HandPose(self.trans[idx], self.rot6d[idx], self.q[idx])


class HandModel:
    """Kinematics and collision model of one hand (see module docstring for frames).

    Attributes (torch tensors on ``self.device``):
        joint_names (list[str], J), lower / upper (J,) rad, open_pose (J,) rad
        link_names (list[str], L)
        sphere_link (S,) long, sphere_center (S, 3) m link frame, sphere_radius (S,) m:
            the collision spheres used for hand-object penetration
        self_sphere_link / self_sphere_center / self_sphere_radius (S2,): a coarser set
            (a few per link) used for self-collision, and
        self_pairs (P, 2) long: pairs of those that can collide (not adjacent, not excluded
            by the MJCF, apart in the open pose, and within reach in some joint configuration)
        contact_link (C,) long, contact_point (C, 3) m link frame, contact_normal (C, 3)
            outward unit normals (link frame) of the candidate contact points on pads/tips
        palm_center (3,) m and approach (3,) unit vector, palm frame
        tip_link / tip_point: fingertip link index and point (link frame) per finger
    """

    def __init__(self, cfg: HandConfig, mjcf_path: Path, spec: mujoco.MjSpec, model: mujoco.MjModel,
                 chain: pk.Chain, device="cpu", dtype=torch.float32, analytical_grad: bool = True):
        self.cfg = cfg
        self.name = cfg.name
        self.mjcf_path = mjcf_path
        self.spec = spec
        self.mj_model = model
        self.chain = chain
        self.analytical_grad = analytical_grad
        self.joint_names = list(cfg.joint_names)
        self.n_joints = len(self.joint_names)
        self.device, self.dtype = torch.device("cpu"), torch.float64
        self._layouts: dict = {}
        self._build(dtype)
        self._build_fingers_and_surface()
        self.to(device, dtype)

    # ------------------------------------------------------------------ construction
    def _build(self, dtype):
        m, cfg = self.mj_model, self.cfg
        root = m.body(cfg.root_body).id
        # bodies of the hand: the root and its descendants, in MuJoCo order
        bodies = [b for b in range(m.nbody) if is_descendant(m, b, root)]
        self.link_names = [m.body(b).name for b in bodies]
        self._body_ids = bodies
        chain_joints = self.chain.get_joint_parameter_names()
        self._chain_from_driver = torch.tensor([self.joint_names.index(n) for n in chain_joints])
        self._link_frame_idx = self.chain.get_frame_indices(*self.link_names)
        jid = [m.joint(n).id for n in self.joint_names]
        self.lower_np = m.jnt_range[jid, 0].astype(np.float64)
        self.upper_np = m.jnt_range[jid, 1].astype(np.float64)
        open_np = np.asarray(cfg.open_pose, dtype=np.float64)
        bad = np.where((open_np < self.lower_np - 1e-9) | (open_np > self.upper_np + 1e-9))[0]
        if len(bad):
            raise ConfigError(f"open_pose: {self.joint_names[bad[0]]}={open_np[bad[0]]:.3f} is outside its "
                              f"limits [{self.lower_np[bad[0]]:.3f}, {self.upper_np[bad[0]]:.3f}]")
        self.lower, self.upper, self.open_pose = (torch.as_tensor(a, dtype=dtype)
                                                  for a in (self.lower_np, self.upper_np, open_np))
        # collision geometry per link (cheap), then the derived geometry (sphere fit, contact
        # candidates, palm, tips, self-collision pairs), cached on disk by content hash
        self.geoms: dict[str, list[ConvexGeom]] = {}
        for li, b in enumerate(bodies):
            gs = link_geoms(m, b)
            if gs:
                self.geoms[self.link_names[li]] = gs
        cache = cache_path(cfg, self.mjcf_path)
        derived = None
        if cache is not None and cache.is_file():
            try:
                derived = load_derived(cache)
            except Exception:  # noqa: BLE001 - stale or corrupt cache: rebuild it
                derived = None
        if derived is None:
            derived = derive_geometry(self, dtype)
            if cache is not None:
                save_derived(cache, derived)
        for k, v in derived.items():
            setattr(self, k, v)

    def _build_fingers_and_surface(self, per_link: int = 96):
        """contact_finger, tip_names, surface_point / surface_link and the sparse
        energy_surface_* samples (see :func:`dex1b_ros.hands.derived.finger_and_surface`)."""
        for k, v in finger_and_surface(self, per_link).items():
            setattr(self, k, v)

    def surface_points(self, pose: HandPose, link_poses_palm: torch.Tensor | None = None,
                       sparse: bool = False) -> torch.Tensor:
        """(B, N, 3) m: samples of the hand's collision surface in the object frame
        (96 per link; ``sparse``: the 32 per link the optimizer uses)."""
        T = self.link_poses_palm(pose.q) if link_poses_palm is None else link_poses_palm
        if sparse:
            p = self._apply(T, self.energy_surface_link, self.energy_surface_point, cache="surface_sparse")
        else:
            p = self._apply(T, self.surface_link, self.surface_point, cache="surface")
        return self.to_object(pose, p)

    # ------------------------------------------------------------------ device
    def to(self, device=None, dtype=None) -> "HandModel":
        """Move every tensor (and the kinematic chain) to ``device``/``dtype``."""
        device = torch.device(device) if device is not None else self.device
        dtype = dtype or self.dtype
        for k, v in list(vars(self).items()):
            if isinstance(v, torch.Tensor):
                setattr(self, k, v.to(device=device, dtype=dtype if v.is_floating_point() else v.dtype))
        self.chain = self.chain.to(dtype=dtype, device=device)
        self.device, self.dtype = device, dtype
        self._layouts = {}
        return self

    # ------------------------------------------------------------------ kinematics
    def link_poses_palm(self, q: torch.Tensor) -> torch.Tensor:
        """(B, L, 4, 4) link poses in the palm frame for joints q (B, J) rad."""
        th = q[:, self._chain_from_driver.to(q.device)]
        T = self.chain.forward_kinematics_tensor(th.to(self.chain.dtype), analytical_grad=self.analytical_grad)
        return T[self._link_frame_idx.to(q.device)].transpose(0, 1)

    def link_poses(self, pose: HandPose) -> torch.Tensor:
        """(B, L, 4, 4) link poses in the object frame."""
        return pose.matrix()[:, None] @ self.link_poses_palm(pose.q)

    def link_poses_object(self, pose: HandPose, link_poses_palm: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L, 3, 4) [R | t] of every link in the object frame (reuses ``link_poses_palm``
        (B, L, 4, 4) when given)."""
        T = self.link_poses_palm(pose.q) if link_poses_palm is None else link_poses_palm
        R = pose.rotation                                                # (B, 3, 3)
        # einsum: 0.3 ms forward for 1,024 x 17 links (1 thread), vs 0.7 ms for a broadcast
        # matmul (a per-matrix loop on CPU) and 2.5 ms for broadcast multiply + sum
        out = torch.einsum("bij,bljk->blik", R, T[:, :, :3, :])         # (B, L, 3, 4)
        return out + torch.cat([torch.zeros_like(R), pose.trans[..., None]], -1)[:, None]

    @property
    def collision_chunks(self) -> PointChunks:
        """The optimizer's object-collision points in spatial chunks (see ``culling``): the
        collision spheres (kind 1) and the sparse surface samples (kind 2, radius 0)."""
        ch = self._layouts.get("collision_chunks")
        if ch is None:
            n_s, n_p = len(self.sphere_radius), len(self.energy_surface_link)
            ch = chunk_points(
                torch.cat([self.sphere_link, self.energy_surface_link]).cpu().numpy(),
                torch.cat([self.sphere_center, self.energy_surface_point]).cpu().numpy(),
                np.concatenate([self.sphere_radius.cpu().numpy(), np.zeros(n_p)]),
                np.concatenate([np.ones(n_s, np.int64), np.full(n_p, 2, np.int64)]), size=12,
            ).to(self.device, self.dtype)
            self._layouts["collision_chunks"] = ch
        return ch

    @property
    def self_pair_chunks(self) -> PairChunks:
        """Self-collision sphere pairs grouped by link pair (see ``culling``)."""
        pc = self._layouts.get("self_pair_chunks")
        if pc is None:
            pc = chunk_pairs(self.self_sphere_link.cpu().numpy(), self.self_sphere_center.cpu().numpy(),
                             self.self_sphere_radius.cpu().numpy(), self.self_pairs.cpu().numpy(),
                             len(self.link_names)).to(self.device, self.dtype)
            self._layouts["self_pair_chunks"] = pc
        return pc

    def _apply(self, T: torch.Tensor, link: torch.Tensor, p: torch.Tensor, vec: bool = False,
               cache: str | None = None) -> torch.Tensor:
        """Transform link-frame points p (K, 3) on links ``link`` (K,) with T (B, L, 4, 4) or
        (B, L, 3, 4) -> (B, K, 3) (``vec``: directions, no translation); one dense GEMM (see
        :func:`dex1b_ros.hands.kinematics.apply_link_matrix`). ``cache`` names a fixed point
        set so its matrix is built once."""
        key = (cache, vec) if cache else None
        W = self._layouts.get(key) if key else None
        if W is None or W.device != p.device or W.dtype != p.dtype:
            W = link_point_matrix(T.shape[1], link, p, vec)
            if key:
                self._layouts[key] = W
        return apply_link_matrix(T, W)

    @staticmethod
    def to_object(pose: HandPose, p_palm: torch.Tensor, vec: bool = False) -> torch.Tensor:
        """Palm-frame points/vectors (B, K, 3) -> object frame (one batched matmul)."""
        return transform_points(pose.rotation, None if vec else pose.trans, p_palm)

    def spheres(self, pose: HandPose, link_poses_palm: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Collision spheres: centres (B, S, 3) m in the object frame, radii (S,) m.
        Pass ``link_poses_palm`` (B, L, 4, 4) to reuse an FK result."""
        T = self.link_poses_palm(pose.q) if link_poses_palm is None else link_poses_palm
        c = self._apply(T, self.sphere_link, self.sphere_center, cache="spheres")
        return self.to_object(pose, c), self.sphere_radius

    def contact_candidates(self, pose: HandPose, link_poses_palm: torch.Tensor | None = None
                           ) -> tuple[torch.Tensor, torch.Tensor]:
        """Contact candidates on pads/tips: points (B, C, 3) m and outward normals (B, C, 3), object frame."""
        T = self.link_poses_palm(pose.q) if link_poses_palm is None else link_poses_palm
        p = self._apply(T, self.contact_link, self.contact_point, cache="contacts")
        n = self._apply(T, self.contact_link, self.contact_normal, vec=True, cache="normals")
        return self.to_object(pose, p), self.to_object(pose, n, vec=True)

    def palm_frame(self, pose: HandPose) -> tuple[torch.Tensor, torch.Tensor]:
        """Palm centre (B, 3) m and approach direction (B, 3), object frame."""
        R = pose.rotation
        return R @ self.palm_center + pose.trans, R @ self.approach

    def fingertips(self, pose: HandPose, link_poses_palm: torch.Tensor | None = None) -> torch.Tensor:
        """(B, F, 3) m fingertip points in the object frame, ordered like ``tip_names``."""
        T = self.link_poses_palm(pose.q) if link_poses_palm is None else link_poses_palm
        return self.to_object(pose, self._apply(T, self.tip_link, self.tip_point, cache="tips"))

    # ------------------------------------------------------------------ energies on the hand alone
    def self_penetration(self, q: torch.Tensor, link_poses_palm: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) m: sum over checked pairs of the coarse self-collision spheres of
        max(0, r_i + r_j - |c_i - c_j|). Pass ``link_poses_palm`` (B, L, 4, 4) to reuse FK.

        Only link pairs whose bounding spheres overlap are evaluated, without autograd (in
        grasps that is ~5-10 % of the sphere pairs); only the overlapping sphere pairs found
        there are recomputed with autograd. Values and gradients equal the full sum."""
        T = self.link_poses_palm(q) if link_poses_palm is None else link_poses_palm
        pc = self.self_pair_chunks
        B, L = T.shape[:2]
        zero = T.new_zeros(B)
        if len(pc.link_pairs) == 0:
            return zero
        r = self.self_sphere_radius
        with torch.no_grad():
            Td = T.detach()
            c = self._apply(Td, torch.arange(L, device=T.device), pc.link_center,
                            cache="self_link_centres")                                  # (B, L, 3)
            a, b = pc.link_pairs[:, 0], pc.link_pairs[:, 1]
            gap = (c[:, a] - c[:, b]).norm(dim=-1) - pc.link_bound[a] - pc.link_bound[b]  # (B, P)
            bi, pi = torch.nonzero(gap < 0, as_tuple=True)
            i, j = pc.pair_i[pi], pc.pair_j[pi]                                         # (A, K)
            S = len(r)
            cs = self._apply(Td, self.self_sphere_link, self.self_sphere_center, cache="self_spheres").reshape(-1, 3)
            base = (bi * S)[:, None]
            d = (cs[(base + i).flatten()] - cs[(base + j).flatten()]).norm(dim=-1).view(i.shape)
            ai, ki = torch.nonzero(pc.valid[pi] & (d < r[i] + r[j]), as_tuple=True)     # overlapping pairs
            bp, si, sj = bi[ai], i[ai, ki], j[ai, ki]
        if len(bp) == 0:
            return zero
        Tf = T[..., :3, :].reshape(-1, 3, 4)
        sl, sc = self.self_sphere_link, self.self_sphere_center
        ci, cj = (link_points(Tf, bp * L + sl[s], sc[s]) for s in (si, sj))            # (N, 3) palm frame
        dist = torch.sqrt(((ci - cj) ** 2).sum(-1) + 1e-12)
        return zero.index_add(0, bp, torch.relu(r[si] + r[sj] - dist))

    def joint_limit_violation(self, q: torch.Tensor) -> torch.Tensor:
        """(B,) rad: sum of hinge violations max(0, q - upper) + max(0, lower - q)."""
        return (torch.relu(q - self.upper) + torch.relu(self.lower - q)).sum(-1)

    def clamp_joints(self, q: torch.Tensor) -> torch.Tensor:
        return torch.maximum(torch.minimum(q, self.upper), self.lower)

    def normalize_joints(self, q: torch.Tensor) -> torch.Tensor:
        """Joints (B, J) rad -> [-1, 1] over the limits."""
        return 2 * (q - self.lower) / (self.upper - self.lower) - 1

    def denormalize_joints(self, u: torch.Tensor) -> torch.Tensor:
        return self.lower + (u + 1) * 0.5 * (self.upper - self.lower)

    def open_pose_batch(self, batch: int) -> torch.Tensor:
        return self.open_pose.expand(batch, -1).clone()

    def summary(self) -> dict:
        """Plain-data description (for the CLI and docs)."""
        return {
            "hand": self.name,
            "mjcf": str(self.mjcf_path),
            "joints": self.n_joints,
            "links": len(self.link_names),
            "spheres": int(self.sphere_radius.numel()),
            "spheres_per_link": {n: int((self.sphere_link == i).sum()) for i, n in enumerate(self.link_names)
                                 if (self.sphere_link == i).any()},
            "min_sphere_coverage": round(min(self.sphere_coverage.values()), 3),
            "contact_candidates": int(self.contact_point.shape[0]),
            "self_collision_spheres": int(self.self_sphere_radius.numel()),
            "self_collision_pairs": int(self.self_pairs.shape[0]),
            "palm_center_m": [round(float(x), 4) for x in self.palm_center],
            "approach": [round(float(x), 3) for x in self.approach],
            "joint_limits_rad": {n: [round(float(lo), 3), round(float(hi), 3)]
                                 for n, lo, hi in zip(self.joint_names, self.lower, self.upper)},
        }


def load_hand(hand: str | Path | HandConfig, hands_dir: str | Path | None = None, device="cpu",
              dtype=torch.float32, analytical_grad: bool = True) -> HandModel:
    """Build the ``HandModel`` of a hand given by name (``"leap"``), YAML path or config."""
    cfg = hand if isinstance(hand, HandConfig) else load_hand_config(hand)
    path, spec = load_hand_spec(cfg, hands_dir)
    model = spec.compile()
    check_joints(cfg, model, path)
    chain = build_chain(spec, path, cfg.root_body, dtype=torch.float64)
    hm = HandModel(cfg, path, spec, model, chain, device="cpu", dtype=torch.float64, analytical_grad=analytical_grad)
    return hm.to(device, dtype)


# old private names, kept for callers of this module
_cache_path = cache_path
_is_descendant = is_descendant
_farthest_points = farthest_points
_xml_with_assets = xml_with_assets
_DERIVED = DERIVED_FIELDS

__all__ = ["CACHE_ENV", "HandModel", "HandPose", "link_points", "load_hand", "load_hand_spec", "transform_points"]
