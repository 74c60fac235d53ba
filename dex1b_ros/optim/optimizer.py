"""One optimizer, two modes (no ROS):

* **synthesis** (seed data, DexGraspNet-style): hands initialised around the object, palm
  facing it, then many steps of the full energy *with* force closure, then filtering;
* **refinement** (Dex1B post-optimisation): given poses, ~100 small steps *without* force
  closure and with a proximity term that keeps each grasp near where it started.

Both optimise x = [wrist translation (3), 6D rotation (6), joints (J)] with Adam, joints
projected onto their limits after every step, everything batched in torch (CPU or CUDA).
The result is a :class:`GraspSet`: wrist pose, pregrasp / grasp / squeeze joint vectors and
the energies, as numpy arrays.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..config_utils import fail
from ..hands import HandModel, HandPose
from ..rotation import look_at_rotation, matrix_to_quat, matrix_to_rot6d, quat_to_matrix
from .energy import EnergyWeights, finger_groups, grasp_energy
from .field import ObjectField


@dataclass
class OptimizerConfig:
    """Settings of one optimisation run. Lengths m, angles rad unless named otherwise."""

    steps: int = 300                 # gradient steps
    lr_trans: float = 0.004          # Adam step scale of the wrist translation (m)
    lr_rot: float = 0.03             # ... of the 6D rotation entries
    lr_joints: float = 0.06          # ... of the joints (rad)
    lr_final: float = 0.1            # cosine decay of the step scales to this fraction
    weights: EnergyWeights = field(default_factory=EnergyWeights)
    proximity: float = 0.0           # weight of |x - x_start|^2 (refinement keeps grasps close)
    # synthesis initialisation
    standoff: tuple[float, float] = (0.02, 0.05)  # palm centre distance from the surface (m)
    jitter_deg: float = 25.0         # approach direction jitter around the inward normal
    close_init: tuple[float, float] = (0.0, 0.35)  # initial closing, fraction of (upper - open)
    extra_finger_prob: float = 0.5   # chance that each finger beyond thumb/index/middle is active
    # refinement: fingers whose closest candidate starts within this distance are active
    active_radius: float = 0.02
    min_fingers: int = 3             # at least this many active fingers (thumb + the closest others);
                                     # grasps with fewer are not accepted
    # acceptance filter (checked on the optimised field)
    max_contact_dist: float = 0.005  # every active finger within this of the surface (m)
    max_penetration: float = 0.001   # deepest sphere or surface-sample penetration (m)
    max_self_penetration: float = 0.002  # summed self-penetration (m)
    max_fc: float = 0.15             # force-closure residual (synthesis only; 0.15 measured: 42% of accepted
                                     # LEAP grasps then pass MuJoCo vs 22% at 0.5)
    # successive halving: after ``prune_at * steps`` steps only the ``prune_keep`` fraction of the
    # batch with the lowest loss goes on (the others stop where they are and are still returned);
    # a kept grasp's trajectory is the same as without pruning (grasps are independent). 0 = off
    prune_at: float = 0.0
    prune_keep: float = 0.5
    # pregrasp with a support plane: the largest opening (hand ``pregrasp_open`` times 1, 0.75, 0.5,
    # 0.25, 0) whose hand spheres go no deeper below the plane than the grasp's own (or 1 mm), so
    # the open -> pregrasp -> grasp motion does not pass through the table, and an approach posture
    # opened the same way (:meth:`GraspOptimizer.postures`); False = always ``pregrasp_open`` (the
    # free-space pregrasp) and the open pose
    pregrasp_above_table: bool = True
    seed: int = 0

    def __post_init__(self):
        if self.steps < 0:
            fail("steps", f"must be >= 0, got {self.steps}")
        for k in ("lr_trans", "lr_rot", "lr_joints"):
            if getattr(self, k) <= 0:
                fail(k, f"must be > 0, got {getattr(self, k)}")
        if not 0 < self.lr_final <= 1:
            fail("lr_final", f"must be in (0, 1], got {self.lr_final}")
        if not 0 <= self.prune_at < 1:
            fail("prune_at", f"must be in [0, 1), got {self.prune_at}")
        if not 0 < self.prune_keep <= 1:
            fail("prune_keep", f"must be in (0, 1], got {self.prune_keep}")
        if self.standoff[0] > self.standoff[1] or self.standoff[0] < 0:
            fail("standoff", f"need 0 <= min <= max, got {self.standoff}")


def synthesis_config(**kw) -> OptimizerConfig:
    return OptimizerConfig(**kw)


def refinement_config(**kw) -> OptimizerConfig:
    """Dex1B post-optimisation defaults: 100 small steps, no force closure, stay close."""
    base = dict(steps=100, lr_trans=0.001, lr_rot=0.005, lr_joints=0.02, proximity=50.0,
                weights=EnergyWeights(fc=0.0))
    base.update(kw)
    return OptimizerConfig(**base)


@dataclass
class GraspSet:
    """B grasps of one hand on one object (object frame, m, rad; joints in driver order)."""

    hand: str
    trans: np.ndarray          # (B, 3) wrist (palm frame origin)
    quat: np.ndarray           # (B, 4) wrist rotation (w, x, y, z)
    pregrasp: np.ndarray       # (B, J)
    grasp: np.ndarray          # (B, J)
    squeeze: np.ndarray        # (B, J)
    energy: dict[str, np.ndarray]   # each (B,): total, dis, pen, surface, spen, joints, fc, align
    contact_distance: np.ndarray    # (B,) m, max over active fingers of |sdf| of the contact
    penetration: np.ndarray         # (B,) m, deepest sphere penetration (>= 0)
    active: np.ndarray              # (B, F) bool, fingers meant to touch
    accepted: np.ndarray            # (B,) bool, passed the filter
    seconds: float = 0.0            # wall time of the run that made them
    approach: np.ndarray | None = None  # (B, J) fingers while the arm approaches: the open pose, or with a support
                                        # plane opened only as far as the hand stays above it; None = open pose

    def __len__(self) -> int:
        return len(self.trans)

    def select(self, mask) -> "GraspSet":
        m = np.asarray(mask)
        return GraspSet(self.hand, self.trans[m], self.quat[m], self.pregrasp[m], self.grasp[m], self.squeeze[m],
                        {k: v[m] for k, v in self.energy.items()}, self.contact_distance[m], self.penetration[m],
                        self.active[m], self.accepted[m], self.seconds,
                        None if self.approach is None else self.approach[m])

    def pose(self, hand: HandModel, which: str = "grasp") -> HandPose:
        dev, dt = hand.device, hand.dtype
        R = quat_to_matrix(torch.as_tensor(self.quat, dtype=dt, device=dev))
        return HandPose(torch.as_tensor(self.trans, dtype=dt, device=dev), matrix_to_rot6d(R),
                        torch.as_tensor(getattr(self, which), dtype=dt, device=dev))


class Cancelled(RuntimeError):
    """Raised inside an optimisation when its ``should_stop`` callback returned True."""


class GraspOptimizer:
    """Batched grasp optimisation of one hand against one object field."""

    def __init__(self, hand: HandModel, field_: ObjectField):
        self.hand = hand
        self.field = field_.to(hand.device)
        self.groups = finger_groups(hand)

    # ------------------------------------------------------------------ initialisation
    def initial_poses(self, n: int, cfg: OptimizerConfig) -> tuple[HandPose, torch.Tensor]:
        """n hands around the object: palm centre ``standoff`` off a random surface point,
        approach along the inward normal (jittered), random roll; joints slightly closed.
        Returns the poses and the active-finger mask (B, F)."""
        h, f = self.hand, self.field
        dev, dt = h.device, h.dtype
        g = torch.Generator(device="cpu").manual_seed(cfg.seed)
        rnd = lambda *s: torch.rand(*s, generator=g, dtype=dt).to(dev)
        i = torch.randint(len(f.points), (n,), generator=g).to(dev)
        if f.plane is not None:
            # start only from surface points whose normal does not point into the table, so the
            # palm starts above it (resampled among those; deterministic for the seed)
            nz = f.normals @ f.plane[:3]
            ok = torch.nonzero(nz > -0.2).flatten()
            if len(ok):
                i = ok[torch.randint(len(ok), (n,), generator=g).to(dev)]
        p, nrm = f.points[i].to(dt), f.normals[i].to(dt)
        # approach = -normal jittered within a cone
        jit = torch.randn(n, 3, generator=g, dtype=dt).to(dev)
        jit = jit - (jit * nrm).sum(-1, keepdim=True) * nrm
        jit = jit / jit.norm(dim=-1, keepdim=True).clamp_min(1e-9)
        ang = torch.deg2rad(torch.as_tensor(cfg.jitter_deg, dtype=dt)) * rnd(n, 1)
        approach = -(torch.cos(ang) * nrm + torch.sin(ang) * jit)
        # rotation: hand approach axis -> approach, random roll about it
        R_target = look_at_rotation(approach)                       # z axis = approach
        R_hand = look_at_rotation(h.approach[None].to(dt))[0]      # hand frame whose z = hand approach
        roll = 2 * math.pi * rnd(n)
        c, s = torch.cos(roll), torch.sin(roll)
        Rz = torch.zeros(n, 3, 3, dtype=dt, device=dev)
        Rz[:, 0, 0], Rz[:, 0, 1], Rz[:, 1, 0], Rz[:, 1, 1], Rz[:, 2, 2] = c, -s, s, c, 1
        R = R_target @ Rz @ R_hand.T
        standoff = cfg.standoff[0] + (cfg.standoff[1] - cfg.standoff[0]) * rnd(n, 1)
        palm_target = p + nrm * standoff
        trans = palm_target - (R @ h.palm_center.to(dt))
        frac = cfg.close_init[0] + (cfg.close_init[1] - cfg.close_init[0]) * rnd(n, 1)
        q = h.open_pose + frac * (h.upper - h.open_pose) * 0.5
        q = h.clamp_joints(q)
        F = len(h.tip_names)
        active = torch.zeros(n, F, dtype=torch.bool, device=dev)
        names = h.tip_names
        for k, name in enumerate(names):
            if name in ("thumb", "index", "middle"):
                active[:, k] = True
            else:
                active[:, k] = rnd(n) < cfg.extra_finger_prob
        return HandPose(trans, matrix_to_rot6d(R), q), active

    def active_from_start(self, pose: HandPose, cfg: OptimizerConfig) -> torch.Tensor:
        """Refinement: the thumb, every finger already within ``active_radius``, and the
        closest others until ``min_fingers`` are active (a grasp needs opposing fingers)."""
        with torch.no_grad():
            e = grasp_energy(self.hand, self.field, pose, torch.ones(pose.batch, len(self.hand.tip_names),
                             dtype=torch.bool, device=pose.q.device), EnergyWeights(fc=0, spen=0, align=0), self.groups)
        d = e["contact_sdf"].abs()
        if "thumb" in self.hand.tip_names:
            d[:, self.hand.tip_names.index("thumb")] = -1.0  # always active, ranked first
        rank = d.argsort(-1).argsort(-1)                       # 0 = closest
        return (d < cfg.active_radius) | (rank < min(cfg.min_fingers, d.shape[1]))

    # ------------------------------------------------------------------ the loop
    def optimize(self, pose: HandPose, active: torch.Tensor, cfg: OptimizerConfig, progress=None,
                 should_stop=None) -> GraspSet:
        """Run ``cfg.steps`` Adam steps from ``pose`` (B grasps) with fingers ``active`` (B, F).
        ``progress(step, steps)`` is called every 10 steps; ``should_stop()`` every step
        (raise :class:`Cancelled` when it returns True)."""
        h = self.hand
        t0 = time.perf_counter()
        x0 = pose.pack().detach()
        x = x0.clone().requires_grad_(True)
        J = h.n_joints
        scale = torch.cat([torch.full((3,), cfg.lr_trans), torch.full((6,), cfg.lr_rot),
                           torch.full((J,), cfg.lr_joints)]).to(x)
        # Adam on x / scale: every coordinate moves about its own step scale per step
        y = (x0 / scale).clone().requires_grad_(True)
        opt = torch.optim.Adam([y], lr=1.0)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(cfg.steps, 1), eta_min=cfg.lr_final)
        lo, hi = h.lower / scale[9:], h.upper / scale[9:]
        prune_step = round(cfg.prune_at * cfg.steps) if cfg.prune_at > 0 and cfg.prune_keep < 1 else -1
        y_all, rows = None, None                 # the whole batch, and the rows of it still optimised
        act, x0_ = active, x0
        loss = None                              # (B,) the last step's loss (the pruning's ranking)
        for step in range(cfg.steps):
            if should_stop is not None and should_stop():
                raise Cancelled(f"optimisation cancelled at step {step}/{cfg.steps}")
            if step == prune_step and loss is not None:
                y_all, rows, y, act, x0_ = self._prune(opt, y, loss.detach(), cfg.prune_keep, act, x0_)
            opt.zero_grad(set_to_none=True)
            x = y * scale
            e = grasp_energy(h, self.field, HandPose.unpack(x), act, cfg.weights, self.groups)
            loss = e["total"]
            if cfg.proximity > 0:
                loss = loss + cfg.proximity * ((x - x0_) ** 2).sum(-1)
            loss.sum().backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                y[:, 9:] = torch.maximum(torch.minimum(y[:, 9:], hi), lo)
            if progress is not None and (step % 10 == 0 or step == cfg.steps - 1):
                progress(step + 1, cfg.steps)
        with torch.no_grad():
            if rows is not None:
                y_all[rows] = y.detach()
                y = y_all
            final = HandPose.unpack(y * scale)
        return self._finish(final, active, cfg, time.perf_counter() - t0)

    @staticmethod
    def _prune(opt: torch.optim.Adam, y: torch.Tensor, loss: torch.Tensor, keep: float, active: torch.Tensor,
               x0: torch.Tensor):
        """Successive halving: go on with the ``keep`` fraction of the batch of lowest ``loss`` (B,)
        only. Slices the Adam state with it (the kept rows continue exactly as before); returns
        (the whole batch (B, D) as it stands, the kept rows (K,), the new leaf (K, D), their
        active masks and start points)."""
        B = len(y)
        k = max(1, math.ceil(keep * B))
        rows = torch.sort(torch.topk(loss, k, largest=False).indices).values
        y_all = y.detach().clone()
        y_new = y.detach()[rows].clone().requires_grad_(True)
        st = opt.state.pop(y)
        opt.state[y_new] = {n: (v[rows].clone() if torch.is_tensor(v) and v.dim() > 0 and len(v) == B else v)
                            for n, v in st.items()}
        opt.param_groups[0]["params"] = [y_new]
        return y_all, rows, y_new, active[rows], x0[rows]

    def _finish(self, pose: HandPose, active: torch.Tensor, cfg: OptimizerConfig, seconds: float) -> GraspSet:
        h = self.hand
        with torch.no_grad():
            e = grasp_energy(h, self.field, pose, active, cfg.weights, self.groups)
            # the filter checks the dense collision-surface samples (the energy used a subset)
            dense = self.field.sdf(h.surface_points(pose)).min(-1).values
        cd = (e["contact_sdf"].abs() * active).max(-1).values
        pen = torch.relu(-torch.minimum(e["sphere_sdf_min"], dense))
        ok = (cd < cfg.max_contact_dist) & (pen < cfg.max_penetration) & (e["spen"] < cfg.max_self_penetration)
        ok &= e["table"] < cfg.max_penetration
        ok &= active.sum(-1) >= min(cfg.min_fingers, active.shape[1])
        if cfg.weights.fc > 0:
            ok &= e["fc"] < cfg.max_fc
        if h.cfg.squeeze_mode == "balanced":
            squeeze = self.squeeze_balanced(pose, active, h.cfg.squeeze_balanced_delta)
        else:
            squeeze = self.squeeze(pose, active, h.cfg.squeeze_delta)
        grasp = pose.q
        pregrasp, approach = self.postures(pose, above_table=cfg.pregrasp_above_table)
        np_ = lambda t: t.detach().cpu().numpy()
        R = pose.rotation
        return GraspSet(
            hand=h.name, trans=np_(pose.trans), quat=np_(matrix_to_quat(R)), pregrasp=np_(pregrasp), grasp=np_(grasp),
            squeeze=np_(squeeze),
            energy={k: np_(e[k]) for k in ("total", "dis", "pen", "surface", "table", "spen", "joints", "fc", "align")},
            contact_distance=np_(cd), penetration=np_(pen), active=np_(active), accepted=np_(ok), seconds=seconds,
            approach=np_(approach))

    def postures(self, pose: HandPose, above_table: bool = True,
                 tol: float = 0.001) -> tuple[torch.Tensor, torch.Tensor]:
        """(pregrasp, approach), each (B, J) rad, of the grasps ``pose`` against this optimizer's
        support plane (:func:`grasp_postures`; without a plane or with ``above_table=False``: the
        free-space pregrasp and the open pose)."""
        return grasp_postures(self.hand, pose, self.field.plane if above_table else None, tol)

    def nearest_per_finger(self, sd: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each finger's contact candidate nearest the surface, from the candidates' signed
        distances sd (B, C) m: ``(idx (B, F) long`` candidate index, ``dist (B, F)`` m unsigned)."""
        d = sd.abs()[:, self.groups.clamp_min(0)].masked_fill(self.groups < 0, float("inf"))   # (B, F, K)
        dist, k = d.min(-1)
        return self.groups.clamp_min(0)[torch.arange(len(self.groups)), k], dist

    def squeeze(self, pose: HandPose, active: torch.Tensor, delta: float) -> torch.Tensor:
        """(B, J) joints pushed ``delta`` rad further into the object: each joint moves in
        the direction that drives the active contacts' signed distance down (joints that do
        not move any active contact stay put)."""
        q = pose.q.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            p, _ = self.hand.contact_candidates(HandPose(pose.trans.detach(), pose.rot6d.detach(), q))
            sd = self.field.sdf(p)                                            # (B, C)
            idx, _ = self.nearest_per_finger(sd.detach())
            (torch.gather(sd, 1, idx) * active).sum().backward()
        g = q.grad
        moving = g.abs() > 1e-3 * g.abs().amax(-1, keepdim=True).clamp_min(1e-12)
        return self.hand.clamp_joints(q.detach() - delta * torch.sign(g) * moving)

    def balanced_forces(self, pose: HandPose, active: torch.Tensor, mu: float = 0.1, arm: float = 0.05,
                        points: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The pressing forces of :meth:`squeeze_balanced`: per active finger its contact (the
        candidate nearest the surface), pushed along the inward surface normal with a magnitude
        lambda_i that cancels the net wrench on the object: lambda = argmin |W lambda|^2 +
        mu |lambda - 1|^2 (W (6, F): the unit forces and their moments about the contacts'
        centroid divided by ``arm`` m), clamped to [0.2, 5] x the mean (mean 1).

        Returns ``(idx (B, F) long`` candidate index per finger, ``force (B, F, 3)`` on the object
        (object frame, unitless scale; 0 for inactive fingers), ``points (B, F, 3)`` m).
        ``points``: the candidates (B, C, 3) of ``pose`` when the caller has them (else computed)."""
        B = pose.batch
        a = active.to(pose.q.dtype)                                             # (B, F)
        with torch.no_grad():
            p = self.hand.contact_candidates(pose)[0] if points is None else points.detach()
            sd, nrm = self.field.sdf_and_normal(p)                             # (B, C), (B, C, 3)
            idx, _ = self.nearest_per_finger(sd)                                # (B, F)
            n = torch.gather(nrm, 1, idx[..., None].expand(B, -1, 3))           # (B, F, 3) outward
            pc = torch.gather(p, 1, idx[..., None].expand(B, -1, 3))
            c = (pc * a[..., None]).sum(1) / a.sum(1, keepdim=True).clamp_min(1)
            f_dir = -n                                                          # force ON the object: inward
            W = torch.cat([f_dir, torch.cross(pc - c[:, None], f_dir, dim=-1) / arm], -1) * a[..., None]
            A = W @ W.transpose(1, 2) + mu * torch.eye(W.shape[1], dtype=W.dtype, device=W.device)
            lam = torch.linalg.solve(A, (mu * a)[..., None])[..., 0]           # (B, F)
            mean = (lam * a).sum(1, keepdim=True) / a.sum(1, keepdim=True).clamp_min(1)
            mean = mean.clamp_min(1e-9)
            lam = torch.minimum(torch.maximum(lam, 0.2 * mean), 5 * mean) / mean * a
        return idx, lam[..., None] * f_dir, pc

    def squeeze_balanced(self, pose: HandPose, active: torch.Tensor, delta: float) -> torch.Tensor:
        """(B, J) squeeze joints whose pressing forces balance on the object.

        The uniform :meth:`squeeze` closes every moving joint by the same angle; under position
        control that sets equal joint torques, whose contact forces rarely cancel, and the free
        object is pushed out of the hand (measured on the LEAP dataset: 26-44 % of simulated
        grasps lose every contact during the squeeze; none of them holds). Here the joints are
        offset by the torques that press with :meth:`balanced_forces`, tau = J^T f (one backward
        pass through the contact points), divided by a uniform gain (the hands' finger gains are
        uniform: LEAP kp 3, Allegro kp 1) and scaled so the largest offset is ``delta`` rad."""
        q = pose.q.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            p, _ = self.hand.contact_candidates(HandPose(pose.trans.detach(), pose.rot6d.detach(), q))
            idx, force, _ = self.balanced_forces(pose, active, points=p)
            pts = torch.gather(p, 1, idx[..., None].expand(len(q), -1, 3))
            (pts * force).sum().backward()
        tau = q.grad                                                            # J^T f, (B, J)
        scale = delta / tau.abs().amax(-1, keepdim=True).clamp_min(1e-12)
        return self.hand.clamp_joints(q.detach() + tau * scale)

    # ------------------------------------------------------------------ the two modes
    def synthesize(self, n: int, cfg: OptimizerConfig | None = None, progress=None, should_stop=None) -> GraspSet:
        cfg = cfg or synthesis_config()
        pose, active = self.initial_poses(n, cfg)
        return self.optimize(pose, active, cfg, progress, should_stop)

    def refine(self, pose: HandPose, cfg: OptimizerConfig | None = None, progress=None, should_stop=None) -> GraspSet:
        cfg = cfg or refinement_config()
        return self.optimize(pose, self.active_from_start(pose, cfg), cfg, progress, should_stop)


def grasp_postures(hand: HandModel, pose: HandPose, plane: torch.Tensor | None = None,
                   tol: float = 0.001) -> tuple[torch.Tensor, torch.Tensor]:
    """(pregrasp, approach), each (B, J) rad, of the grasps ``pose`` (B poses of ``hand``): grasp + a (open - grasp).

    pregrasp: a = the hand's ``pregrasp_open`` (p); approach (the trajectory's first point, the
    fingers while the arm brings the wrist in): a = 1, the open pose. With a support ``plane``
    ((4,) [a, b, c, d], normal up, or (B, 4): one per grasp; None: no table), per grasp the
    largest a of p x (1, 0.75, 0.5, 0.25, 0) for the pregrasp and of
    (1, 0.8, those) for the approach at which no hand sphere lies deeper below the plane than
    min(0, the grasp's own lowest clearance) + ``tol`` (m), from one batched FK: opening the
    fingers of a hand that holds an object low on a table pushes them into it (docs/ros.md
    "Plan for the table"). The approach is never less open than the pregrasp (its list holds
    the pregrasp's)."""
    h = hand
    grasp = pose.q.detach()
    open_ = h.open_pose.to(grasp)
    p = h.cfg.pregrasp_open
    if plane is None:
        return grasp + p * (open_ - grasp), open_.expand_as(grasp).clone()
    plane = torch.as_tensor(plane).to(grasp)
    plane = (plane / plane[..., :3].norm(dim=-1, keepdim=True)).expand(len(grasp), 4)    # (B, 4), unit normal
    alphas = torch.tensor([1.0, 0.8] + [p * f for f in (1.0, 0.75, 0.5, 0.25, 0.0)]).to(grasp)
    K, B = len(alphas), len(grasp)
    with torch.no_grad():
        q = (grasp[None] + alphas[:, None, None] * (open_ - grasp)[None]).reshape(K * B, -1)
        rep = lambda t: t.detach()[None].expand(K, *t.shape).reshape(K * B, *t.shape[1:])  # noqa: E731
        c, r = h.spheres(HandPose(rep(pose.trans), rep(pose.rot6d), q))
        pl = rep(plane)                                                  # (K * B, 4)
        height = (c * pl[:, None, :3]).sum(-1) + pl[:, None, 3]          # (K * B, S) m
        clear = (height - r).amin(-1).view(K, B)                         # (K, B) m
        ok = clear >= clear[-1].clamp_max(0.0) - tol                     # the last alpha (0) = the grasp
        k_app = ok.float().argmax(0)                                     # first (most open) passing row
        k_pre = 2 + ok[2:].float().argmax(0)                             # ... among the pregrasp's
    return (grasp + alphas[k_pre][:, None] * (open_ - grasp),
            grasp + alphas[k_app][:, None] * (open_ - grasp))
