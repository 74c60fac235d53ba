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
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np
import pytorch_kinematics as pk
import pytorch_kinematics.mjcf as pk_mjcf
import torch

from ..config_utils import ConfigError, to_dict
from ..rotation import matrix_to_rot6d, rot6d_to_matrix
from .collision import ConvexGeom, fit_spheres, link_geoms, sample_union_surface, union_depth
from .culling import PairChunks, PointChunks, chunk_pairs, chunk_points
from .config import HandConfig, load_hand_config, resolve_mjcf

# pytorch_kinematics 0.10 keys its joint-type map by mujoco enums, but looks joints up by
# numpy ints (KeyError: np.int32(3)). A map keyed by plain ints works for both.
pk_mjcf.JOINT_TYPE_MAP = {int(mujoco.mjtJoint.mjJNT_HINGE): "revolute", int(mujoco.mjtJoint.mjJNT_SLIDE): "prismatic"}


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
        bodies = [b for b in range(m.nbody) if _is_descendant(m, b, root)]
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
        t = lambda a, dt=dtype: torch.as_tensor(np.asarray(a), dtype=dt)
        self.lower, self.upper, self.open_pose = t(self.lower_np), t(self.upper_np), t(open_np)
        # collision geometry per link (cheap), then the derived geometry (sphere fit, contact
        # candidates, palm, tips, self-collision pairs), cached on disk by content hash
        self.geoms: dict[str, list[ConvexGeom]] = {}
        for li, b in enumerate(bodies):
            gs = link_geoms(m, b)
            if gs:
                self.geoms[self.link_names[li]] = gs
        cache = _cache_path(cfg, self.mjcf_path)
        if cache is not None and cache.is_file():
            try:
                self._load_derived(cache)
                return
            except Exception:  # stale or corrupt cache: rebuild it
                pass
        sc = cfg.spheres
        for prefix, budget in (("", lambda n: sc.link_max.get(n, sc.max_per_link)),
                               ("self_", lambda n: sc.self_link_max.get(n, sc.self_max_per_link))):
            centers, radii, slink, coverage = [], [], [], {}
            for li, name in enumerate(self.link_names):
                if name not in self.geoms:
                    continue
                fit = fit_spheres(self.geoms[name], sc, seed=li, max_spheres=budget(name))
                centers.append(fit.centers)
                radii.append(fit.radii)
                slink += [li] * len(fit.radii)
                coverage[name] = fit.coverage
            setattr(self, prefix + "sphere_center", t(np.concatenate(centers)))
            setattr(self, prefix + "sphere_radius", t(np.concatenate(radii)))
            setattr(self, prefix + "sphere_link", torch.as_tensor(slink, dtype=torch.long))
            setattr(self, prefix + "sphere_coverage", coverage)
        # kinematics at the open pose, used for automatic pads/palm and self-collision pairs
        T_open = self._fk_np(open_np)
        self._build_contacts(T_open, open_np)
        self._build_palm(T_open, open_np)
        self._build_tips()
        self._build_self_pairs(T_open)
        if cache is not None:
            self._save_derived(cache)

    def _build_fingers_and_surface(self, per_link: int = 96):
        """contact_finger (C,): index into ``tip_names`` of the finger each contact candidate
        belongs to (its link is the fingertip body or an ancestor of it), and surface_point /
        surface_link: samples of every link's collision surface (link frame), used for exact
        penetration checks against a mesh."""
        m = self.mj_model
        self.tip_names = list(self.cfg.fingertips)
        chains = []
        for finger in self.tip_names:
            b, anc = m.body(self.cfg.fingertips[finger]).id, set()
            while b > 0:
                anc.add(self.link_names[self._body_ids.index(b)] if b in self._body_ids else None)
                b = m.body_parentid[b]
            chains.append(anc - {self.cfg.root_body})
        cf = []
        for li in self.contact_link.tolist():
            owners = [f for f, anc in enumerate(chains) if self.link_names[li] in anc]
            if not owners:
                raise ConfigError(f"contacts.links: {self.link_names[li]!r} is on no finger listed in fingertips")
            cf.append(owners[0])
        self.contact_finger = torch.as_tensor(cf, dtype=torch.long)
        rng = np.random.default_rng(5)
        pts, lnk = [], []
        for li, name in enumerate(self.link_names):
            if name in self.geoms:
                p, _ = sample_union_surface(self.geoms[name], per_link * 2, rng)
                # the geoms' corners on the union's boundary join the candidates: against a
                # flat or convex object a polytope penetrates deepest at a vertex, which random
                # samples miss (measured on LEAP's 2-4 mm plates: MuJoCo saw 1-3.5 mm where
                # the samples said clear); farthest-point order then takes them early
                geoms = self.geoms[name]
                v = np.concatenate([g.mesh.vertices for g in geoms if g.kind in ("box", "hull")] + [np.zeros((0, 3))])
                p = np.concatenate([v[union_depth(geoms, v) <= 5e-4], p]) if len(v) else p
                p = p[_farthest_points(p, per_link)]
                pts.append(p)
                lnk += [li] * len(p)
        self.surface_point = torch.as_tensor(np.concatenate(pts))
        self.surface_link = torch.as_tensor(lnk, dtype=torch.long)
        # a sparser subset (the first FPS samples of each link) for the optimizer's energy
        first = np.concatenate([np.nonzero(np.asarray(lnk) == li)[0][:32] for li in sorted(set(lnk))])
        self.energy_surface_point = self.surface_point[first].clone()
        self.energy_surface_link = self.surface_link[first].clone()

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

    _DERIVED = ("sphere_center", "sphere_radius", "sphere_link", "self_sphere_center", "self_sphere_radius",
                "self_sphere_link", "contact_point", "contact_normal", "contact_link",
                "palm_center", "approach", "tip_link", "tip_point", "self_pairs")

    def _save_derived(self, path: Path):
        arrays = {k: getattr(self, k).cpu().numpy() for k in self._DERIVED}
        arrays["coverage_names"] = np.array(list(self.sphere_coverage))
        arrays["coverage_values"] = np.array(list(self.sphere_coverage.values()))
        arrays["pad_names"] = np.array(list(self.pad_direction))
        arrays["pad_values"] = np.array(list(self.pad_direction.values()))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(tmp, **arrays)
            os.replace(tmp, path)
        except OSError:  # a read-only cache dir only costs rebuild time
            pass

    def _load_derived(self, path: Path):
        with np.load(path) as z:
            for k in self._DERIVED:
                a = z[k]
                setattr(self, k, torch.as_tensor(a, dtype=torch.long if a.dtype.kind == "i" else torch.float64))
            self.sphere_coverage = dict(zip(z["coverage_names"].tolist(), z["coverage_values"].tolist()))
            self.pad_direction = dict(zip(z["pad_names"].tolist(), list(z["pad_values"])))

    def _fk_np(self, q: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.link_poses_palm(torch.as_tensor(q, dtype=torch.float64)[None])[0].numpy()

    def _moving_joint(self, body: int) -> int:
        """Index (driver order) of the nearest joint at or above ``body``."""
        m = self.mj_model
        while body > 0:
            if m.body_jntnum[body] > 0:
                return self.joint_names.index(m.joint(m.body_jntadr[body]).name)
            body = m.body_parentid[body]
        raise ConfigError(f"contacts.links: body {m.body(body).name} has no moving joint above it")

    def _point_velocity(self, q: np.ndarray, link: int, p_link: np.ndarray, j: int, h=1e-4) -> np.ndarray:
        """Palm-frame velocity (3,) of a link-frame point when joint j increases."""
        dq = np.zeros_like(q)
        dq[j] = h
        Ta, Tb = self._fk_np(q - dq)[link], self._fk_np(q + dq)[link]
        return ((Tb[:3, :3] @ p_link + Tb[:3, 3]) - (Ta[:3, :3] @ p_link + Ta[:3, 3])) / (2 * h)

    def _build_contacts(self, T_open, open_np):
        cc = self.cfg.contacts
        rng = np.random.default_rng(1234)
        pts, nrm, lnk, self.pad_direction = [], [], [], {}
        for name in cc.links:
            if name not in self.link_names:
                raise ConfigError(f"contacts.links: unknown body {name!r} (hand bodies: {', '.join(self.link_names)})")
            if name not in self.geoms:
                raise ConfigError(f"contacts.links: body {name!r} has no collision geometry")
            li = self.link_names.index(name)
            gs = self.geoms[name]
            centroid = np.mean([g.mesh.centroid for g in gs], axis=0)
            j = self._moving_joint(self._body_ids[li])
            v = cc.flex_sign * self._point_velocity(open_np, li, centroid, j)
            pad = T_open[li][:3, :3].T @ v
            pad /= np.linalg.norm(pad) + 1e-12
            self.pad_direction[name] = pad
            p, n = sample_union_surface(gs, 3000, rng)
            keep = n @ pad >= math.cos(math.radians(cc.pad_cone_deg))
            if keep.sum() < cc.points_per_link:
                raise ConfigError(f"contacts.links: body {name!r} has only {int(keep.sum())} surface samples facing its "
                                  f"pad direction {np.round(pad, 3).tolist()}; check contacts.flex_sign/pad_cone_deg")
            p, n = p[keep], n[keep]
            sel = _farthest_points(p, cc.points_per_link)
            pts.append(p[sel]); nrm.append(n[sel]); lnk += [li] * len(sel)
        self.contact_point = torch.as_tensor(np.concatenate(pts))
        self.contact_normal = torch.as_tensor(np.concatenate(nrm))
        self.contact_link = torch.as_tensor(lnk, dtype=torch.long)

    def _build_palm(self, T_open, open_np):
        pc = self.cfg.palm
        root_geoms = self.geoms.get(self.cfg.root_body)
        if pc.approach is not None:
            a = np.asarray(pc.approach, dtype=np.float64)
        else:
            if not pc.approach_joints:
                raise ConfigError("palm.approach_joints: give the fingers' base flexion joints, or palm.approach")
            vs = []
            for jn in pc.approach_joints:
                if jn not in self.joint_names:
                    raise ConfigError(f"palm.approach_joints: unknown joint {jn!r}")
                j = self.joint_names.index(jn)
                leaf = self._leaf_below(self.mj_model.jnt_bodyid[self.mj_model.joint(jn).id])
                li = self._body_ids.index(leaf)
                vs.append(self._point_velocity(open_np, li, np.zeros(3), j))
            vs = np.asarray(vs) * self.cfg.contacts.flex_sign
            a = (vs / np.linalg.norm(vs, axis=1, keepdims=True)).mean(0)
            if np.linalg.norm(a) < 0.3:
                raise ConfigError("palm.approach_joints: these joints move the fingers in opposite directions, so "
                                  "no approach direction follows from them; set palm.approach")
        a = a / np.linalg.norm(a)
        if pc.center is not None:
            c = np.asarray(pc.center, dtype=np.float64)
        else:
            if not root_geoms:
                raise ConfigError(f"palm.center: root body {self.cfg.root_body!r} has no collision geometry; set palm.center")
            p, n = sample_union_surface(root_geoms, 4000, np.random.default_rng(7))
            front = p[n @ a > math.cos(math.radians(30))]
            if len(front) == 0:
                raise ConfigError("palm.center: no palm surface faces the approach direction; set palm.center")
            h = front @ a
            c = front[h >= h.max() - 0.005].mean(0)
        self.palm_center = torch.as_tensor(c)
        self.approach = torch.as_tensor(a)

    def _leaf_below(self, body: int) -> int:
        m = self.mj_model
        while True:
            kids = [b for b in range(m.nbody) if m.body_parentid[b] == body and b != body]
            if not kids:
                return body
            body = kids[0]

    def _build_tips(self):
        self.tip_names = list(self.cfg.fingertips)
        tl, tp = [], []
        for finger, body in self.cfg.fingertips.items():
            if body not in self.geoms:
                raise ConfigError(f"fingertips.{finger}: body {body!r} is not a hand body with collision geometry")
            p, _ = sample_union_surface(self.geoms[body], 2000, np.random.default_rng(3))
            far = p[np.argmax(np.linalg.norm(p, axis=1))]
            tl.append(self.link_names.index(body))
            tp.append(far)
        self.tip_link = torch.as_tensor(tl, dtype=torch.long)
        self.tip_point = torch.as_tensor(np.asarray(tp))

    def _build_self_pairs(self, T_open):
        m = self.mj_model
        L = len(self.link_names)
        # rigid groups: bodies welded to their parent (no joint) move with it
        group = list(range(L))
        for li, b in enumerate(self._body_ids):
            if m.body_jntnum[b] == 0 and li > 0:
                group[li] = group[self._body_ids.index(m.body_parentid[b])]
        parent_group = {}
        for li, b in enumerate(self._body_ids):
            if li > 0 and group[li] == li:
                parent_group[li] = group[self._body_ids.index(m.body_parentid[b])]
        allowed = np.ones((L, L), bool)
        for i in range(L):
            for j in range(L):
                gi, gj = group[i], group[j]
                if gi == gj or parent_group.get(gi) == gj or parent_group.get(gj) == gi:
                    allowed[i, j] = False
        for ex in self.spec.excludes:
            b1, b2 = ex.bodyname1, ex.bodyname2
            if b1 in self.link_names and b2 in self.link_names:
                i, j = self.link_names.index(b1), self.link_names.index(b2)
                allowed[i, j] = allowed[j, i] = False
        sl = self.self_sphere_link.numpy()
        ii, jj = np.triu_indices(len(sl), k=1)
        keep = allowed[sl[ii], sl[jj]]
        ii, jj = ii[keep], jj[keep]
        # drop pairs already touching in the open pose (structural, not a collision)
        c = self.self_sphere_center.double().numpy()
        Tw = T_open[sl]
        cw = np.einsum("sij,sj->si", Tw[:, :3, :3], c) + Tw[:, :3, 3]
        r = self.self_sphere_radius.double().numpy()
        gap = np.linalg.norm(cw[ii] - cw[jj], axis=1) - r[ii] - r[jj]
        ok = gap > 0
        ii, jj = ii[ok], jj[ok]
        # keep only pairs that can actually come close: sample random joint configurations
        # (uniform within limits) and keep a pair if its gap ever drops below the margin.
        # First on links (one bounding sphere each), then on the sphere pairs that survive.
        sc = self.cfg.spheres
        g = torch.Generator().manual_seed(0)
        lo, hi = torch.as_tensor(self.lower_np), torch.as_tensor(self.upper_np)
        qs = lo + (hi - lo) * torch.rand(sc.self_pair_samples, len(lo), generator=g, dtype=torch.float64)
        sl_t = self.self_sphere_link
        cen = self.self_sphere_center.double()
        links = sorted(set(sl.tolist()))
        bc = torch.stack([cen[sl_t == k].mean(0) for k in links])
        br = torch.stack([((cen[sl_t == k] - bc[n]).norm(dim=-1) + self.self_sphere_radius.double()[sl_t == k]).max()
                          for n, k in enumerate(links)])
        link_pos = {k: n for n, k in enumerate(links)}
        lt = torch.as_tensor(links)
        with torch.no_grad():
            Tq = self.link_poses_palm(qs)
            bw = self._apply(Tq, lt, bc)                               # (N, Lg, 3)
            lgap = (torch.cdist(bw, bw) - br[:, None] - br[None, :]).min(0).values.numpy()
        li_ = np.array([link_pos[k] for k in sl[ii]]); lj_ = np.array([link_pos[k] for k in sl[jj]])
        cand = lgap[li_, lj_] < sc.self_pair_margin
        ii, jj = ii[cand], jj[cand]
        ti, tj = torch.as_tensor(ii), torch.as_tensor(jj)
        rr = torch.as_tensor(r)
        min_gap = torch.full((len(ii),), float("inf"), dtype=torch.float64)
        with torch.no_grad():
            for start in range(0, len(qs), 500):
                cq = self._apply(Tq[start:start + 500], sl_t, cen)
                gap = (cq[:, ti] - cq[:, tj]).norm(dim=-1) - rr[ti] - rr[tj]
                min_gap = torch.minimum(min_gap, gap.min(0).values)
        near = (min_gap < sc.self_pair_margin).numpy()
        self.self_pairs = torch.as_tensor(np.stack([ii[near], jj[near]], 1), dtype=torch.long)

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
                np.concatenate([np.ones(n_s, np.int64), np.full(n_p, 2, np.int64)]), size=12).to(self.device, self.dtype)
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
        (B, L, 3, 4) -> (B, K, 3) (``vec``: directions, no translation).

        One dense GEMM: T as a (3B, 4L) matrix times a fixed (4L, K) matrix that holds each
        point's homogeneous coordinates in its link's 4 rows (zeros elsewhere). The zeros cost
        little next to what a gather of per-point transforms costs in backward (measured, 1,024
        LEAP poses, forward + backward, 1 thread: 544 points 7 ms vs 17 ms for broadcast batched
        3x3 matmuls, 76 points 1.6 vs 7 ms). ``cache`` names a fixed point set so its matrix is
        built once."""
        key = (cache, vec) if cache else None
        W = self._layouts.get(key) if key else None
        if W is None or W.device != p.device or W.dtype != p.dtype:
            L, K = T.shape[1], len(link)
            W = torch.zeros(L, 4, K, dtype=p.dtype, device=p.device)
            k = torch.arange(K, device=p.device)
            W[link, :3, k] = p
            if not vec:
                W[link, 3, k] = 1.0
            W = W.reshape(L * 4, K)
            if key:
                self._layouts[key] = W
        B = T.shape[0]
        Tt = T[..., :3, :].transpose(1, 2).reshape(B * 3, -1)              # (3B, 4L)
        return (Tt @ W.to(Tt.dtype)).view(B, 3, -1).transpose(1, 2)        # (B, K, 3)

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
            c = self._apply(Td, torch.arange(L, device=T.device), pc.link_center, cache="self_link_centres")  # (B, L, 3)
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


#: Where derived hand geometry is cached ($DEX1B_CACHE_DIR, default ~/.cache/dex1b_ros).
CACHE_ENV = "DEX1B_CACHE_DIR"


def _cache_path(cfg: HandConfig, mjcf: Path) -> Path | None:
    """Cache file for the derived geometry: keyed by the config, every model file and the
    source of the code that derives it, so any change rebuilds. None disables caching."""
    root = os.environ.get(CACHE_ENV, str(Path.home() / ".cache" / "dex1b_ros"))
    if root in ("", "0", "off"):
        return None
    h = hashlib.sha256(json.dumps(to_dict(cfg), sort_keys=True).encode())
    for f in sorted(mjcf.parent.rglob("*")):
        if f.is_file() and f.suffix.lower() in (".xml", ".obj", ".stl", ".msh"):
            h.update(f.name.encode() + f.read_bytes())
    for src in (Path(__file__), Path(__file__).with_name("collision.py")):
        h.update(src.read_bytes())
    return Path(root) / "hands" / f"{cfg.name}-{h.hexdigest()[:20]}.npz"


def transform_points(R: torch.Tensor, t: torch.Tensor | None, p: torch.Tensor) -> torch.Tensor:
    """R (..., 3, 3) @ p (..., K, 3) (+ t (..., 3)) -> (..., K, 3), as three broadcast
    multiply-adds: on CPU a batched matmul of many 3x3 matrices loops per matrix and costs
    several times more (forward and backward)."""
    out = p[..., 0:1] * R[..., None, :, 0] + p[..., 1:2] * R[..., None, :, 1] + p[..., 2:3] * R[..., None, :, 2]
    return out if t is None else out + t[..., None, :]


def link_points(T_flat: torch.Tensor, lidx: torch.Tensor, p: torch.Tensor, vec: bool = False) -> torch.Tensor:
    """Points p (N, 3), each given in the frame of link pose ``T_flat[lidx]``: T_flat (B * L, 3, 4)
    (link poses flattened, index = grasp * L + link), lidx (N,). Returns (N, 3) in the frame
    of T_flat, differentiable w.r.t. it (``vec``: directions, no translation)."""
    Tp = T_flat.index_select(0, lidx)                                                  # (N, 3, 4)
    return transform_points(Tp[..., :3], None if vec else Tp[..., 3], p[:, None, :])[:, 0]


def _is_descendant(m: mujoco.MjModel, body: int, root: int) -> bool:
    while True:
        if body == root:
            return True
        if body == 0:
            return False
        body = m.body_parentid[body]


def _farthest_points(p: np.ndarray, k: int) -> np.ndarray:
    """Indices of k farthest-point samples of p (N, 3) (small N: plain numpy)."""
    k = min(k, len(p))
    idx = [int(np.argmin(np.linalg.norm(p - p.mean(0), axis=1)))]
    d = np.linalg.norm(p - p[idx[0]], axis=1)
    for _ in range(k - 1):
        i = int(np.argmax(d))
        idx.append(i)
        d = np.minimum(d, np.linalg.norm(p - p[i], axis=1))
    return np.asarray(idx)


def load_hand_spec(cfg: HandConfig, hands_dir: str | Path | None = None) -> tuple[Path, mujoco.MjSpec]:
    """The hand's MjSpec with the root body moved to the origin (palm frame = world)."""
    path = resolve_mjcf(cfg, hands_dir)
    try:
        spec = mujoco.MjSpec.from_file(str(path))
    except Exception as e:  # mujoco raises ValueError with the parser's message
        raise ConfigError(f"mjcf: cannot load {path}: {e}") from None
    root = spec.body(cfg.root_body)
    if root is None:
        raise ConfigError(f"root_body: no body {cfg.root_body!r} in {path}")
    root.pos = [0.0, 0.0, 0.0]
    root.quat = [1.0, 0.0, 0.0, 0.0]
    return path, spec


def _xml_with_assets(spec: mujoco.MjSpec, path: Path) -> tuple[str, dict[str, bytes]]:
    """The spec as an XML string whose mesh files are passed in memory (keyed by file name),
    as ``pytorch_kinematics`` compiles from a string and cannot resolve ``meshdir``."""
    meshdir = spec.meshdir or ""
    assets = {}
    for mesh in spec.meshes:
        if not mesh.file:
            continue
        f = (path.parent / meshdir / mesh.file).resolve()
        if not f.is_file():
            raise FileNotFoundError(f"hand model {path}: mesh file {f} is missing")
        assets[mesh.file] = f.read_bytes()
    flat = spec.copy()
    flat.meshdir = ""
    flat.assets = assets
    return flat.to_xml(), assets


def load_hand(hand: str | Path | HandConfig, hands_dir: str | Path | None = None, device="cpu",
              dtype=torch.float32, analytical_grad: bool = True) -> HandModel:
    """Build the ``HandModel`` of a hand given by name (``"leap"``), YAML path or config."""
    cfg = hand if isinstance(hand, HandConfig) else load_hand_config(hand)
    path, spec = load_hand_spec(cfg, hands_dir)
    model = spec.compile()
    root_id = model.body(cfg.root_body).id
    mj_joints = [model.joint(j).name for j in range(model.njnt) if _is_descendant(model, model.jnt_bodyid[j], root_id)]
    if set(mj_joints) != set(cfg.joint_names) or len(mj_joints) != len(cfg.joint_names):
        missing = sorted(set(mj_joints) - set(cfg.joint_names))
        extra = sorted(set(cfg.joint_names) - set(mj_joints))
        raise ConfigError(f"{cfg.source or cfg.name}: joint_names: expected the {len(mj_joints)} joints of {path.name}, got {len(cfg.joint_names)}"
                          + (f"; missing {missing}" if missing else "") + (f"; not in the model {extra}" if extra else ""))
    xml, assets = _xml_with_assets(spec, path)
    chain = pk.build_chain_from_mjcf(xml, body=cfg.root_body, assets=assets)
    chain = chain.to(dtype=torch.float64)
    hm = HandModel(cfg, path, spec, model, chain, device="cpu", dtype=torch.float64, analytical_grad=analytical_grad)
    return hm.to(device, dtype)
