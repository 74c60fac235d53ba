"""Grasp energy terms, batched over grasps and differentiable (DexGraspNet-style energy,
reimplemented from the papers' descriptions).

Inputs are a :class:`~dex1b_ros.hands.HandPose` batch (B grasps, object frame) and an
:class:`~dex1b_ros.optim.field.ObjectField`. Every term returns a (B,) tensor:

=================  =====  ==========================================================
term               unit   meaning
=================  =====  ==========================================================
``dis``            m      contact distance: for each *active* finger, |sdf| of its
                          contact candidate closest to the surface, summed
``pen``            m      penetration: sum over hand spheres of max(0, r - sdf(centre))
``surface``        m      penetration of the hand's collision-surface samples (32 per
                          link): sum of max(0, -sdf); catches what the spheres miss
``table``          m      hand spheres below the support plane: sum max(0, r - height)
                          (0 when the field has no plane)
``spen``           m      self-penetration of the coarse self-collision spheres
``joints``         rad    joint-limit hinge: sum max(0, q - upper) + max(0, lower - q)
``fc``             1      force closure: norm of the net wrench of forces along the
                          active contacts' pad normals, torques about the object centre
                          divided by the object radius (0 = the forces balance); the
                          force magnitudes are the best non-negative ones (mean 1, each
                          >= ``min_force``), so a thumb may press as hard as two fingers
``align``          1      per active contact, 1 + n_pad . n_object (0 when the pad
                          faces straight into the surface), summed
=================  =====  ==========================================================

``active`` (B, F) bool selects the fingers (``HandModel.tip_names`` order) that should
touch the object.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..config_utils import fail
from ..hands import HandModel, HandPose
from .field import ObjectField


@dataclass
class EnergyWeights:
    """Weights of the energy terms (dimensionless multipliers of the units above)."""

    fc: float = 1.0        # force closure (synthesis only; 0 disables)
    dis: float = 100.0     # contact distance, per m
    pen: float = 100.0     # hand-sphere-into-object penetration, per m
    surface: float = 100.0  # hand-surface-sample penetration, per m (0 skips the term)
    table: float = 100.0   # hand spheres below the support plane, per m
    spen: float = 10.0     # self-penetration, per m
    joints: float = 1.0    # joint-limit hinge, per rad
    align: float = 0.5     # pad normal against the surface normal

    def __post_init__(self):
        for k, v in vars(self).items():
            if v < 0:
                fail(k, f"energy weight must be >= 0, got {v}")


def force_closure(x: torch.Tensor, n: torch.Tensor, act: torch.Tensor, center: torch.Tensor, radius: float,
                  min_force: float = 0.3, iters: int = 25) -> torch.Tensor:
    """(B,) net-wrench residual |G lam| of contacts x (B, F, 3) pushing along n (B, F, 3).

    G (B, 6, F) stacks each active contact's force direction and its torque about
    ``center`` (divided by ``radius``). lam (B, F) are force magnitudes chosen by projected
    gradient descent on |G lam|^2 with lam >= min_force on active contacts and mean 1 (no
    gradient flows through the choice: by the envelope theorem the residual's gradient
    w.r.t. G at the optimum is the same)."""
    r = (x - center) / radius
    G = torch.cat([n, torch.cross(r, n, dim=-1)], -1).transpose(1, 2) * act[:, None, :]  # (B, 6, F)
    with torch.no_grad():
        Gd = G.detach()
        GtG = Gd.transpose(1, 2) @ Gd                                   # (B, F, F)
        k = act.sum(-1, keepdim=True).clamp_min(1)
        lam = act.clone()
        step = 1.0 / (torch.linalg.matrix_norm(GtG, ord=2)[:, None] + 1e-6)
        for _ in range(iters):
            lam = lam - step * (GtG @ lam[..., None])[..., 0]
            lam = torch.maximum(lam, torch.full_like(lam, min_force)) * act
            lam = lam * k / lam.sum(-1, keepdim=True).clamp_min(1e-9)
    w = (G @ lam[..., None])[..., 0]
    return torch.sqrt((w ** 2).sum(-1) + 1e-12)


def finger_groups(hand: HandModel) -> torch.Tensor:
    """(F, K) long: indices of each finger's contact candidates, padded with -1."""
    F = len(hand.tip_names)
    lists = [torch.nonzero(hand.contact_finger == f).flatten() for f in range(F)]
    K = max(len(l) for l in lists)
    out = torch.full((F, K), -1, dtype=torch.long, device=hand.contact_finger.device)
    for f, l in enumerate(lists):
        out[f, :len(l)] = l
    return out


def grasp_energy(hand: HandModel, field: ObjectField, pose: HandPose, active: torch.Tensor,
                 weights: EnergyWeights, groups: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """All energy terms (B,) plus ``total`` (B,) and diagnostics:
    ``contact_idx`` (B, F) chosen candidate per finger, ``contact_sdf`` (B, F) its sdf (m),
    ``sphere_sdf_min`` (B,) deepest penetration of a sphere or surface sample (m, <0 = penetrating)."""
    groups = finger_groups(hand) if groups is None else groups
    T = hand.link_poses_palm(pose.q)
    centers, radii = hand.spheres(pose, T)
    sd_s = field.sdf(centers)                                    # (B, S)
    pen = torch.relu(radii - sd_s).sum(-1)
    deepest = (sd_s - radii).min(-1).values                      # (B,) m, < 0 = penetrating
    if weights.surface > 0:
        sd_p = field.sdf(hand.surface_points(pose, T, sparse=True))  # (B, N)
        surface = torch.relu(-sd_p).sum(-1)
        deepest = torch.minimum(deepest, sd_p.min(-1).values)
    else:
        surface = torch.zeros_like(pen)
    p, n = hand.contact_candidates(pose, T)                      # (B, C, 3)
    sd_c = field.sdf(p)                                          # (B, C)
    # per finger: the candidate closest to the surface (index chosen without gradient)
    valid = groups >= 0
    g = groups.clamp_min(0)
    with torch.no_grad():
        d_fk = sd_c.abs()[:, g].masked_fill(~valid, float("inf"))  # (B, F, K)
        k = d_fk.argmin(-1)                                        # (B, F)
        idx = g[torch.arange(g.shape[0], device=g.device), k]      # (B, F) candidate index
    sd_chosen = torch.gather(sd_c, 1, idx)                         # (B, F)
    act = active.to(sd_c.dtype)
    dis = (sd_chosen.abs() * act).sum(-1)
    x = torch.gather(p, 1, idx[..., None].expand(-1, -1, 3))       # (B, F, 3)
    nf = torch.gather(n, 1, idx[..., None].expand(-1, -1, 3))
    terms = {"dis": dis, "pen": pen, "surface": surface}
    terms["table"] = (torch.relu(radii - field.height(centers)).sum(-1) if field.plane is not None
                      else torch.zeros_like(dis))
    terms["spen"] = hand.self_penetration(pose.q, T) if weights.spen > 0 else torch.zeros_like(dis)
    terms["joints"] = hand.joint_limit_violation(pose.q)
    if weights.align > 0:
        _, n_obj = field.sdf_and_normal(x.detach())
        terms["align"] = ((1 + (nf * n_obj).sum(-1)) * act).sum(-1)
    else:
        terms["align"] = torch.zeros_like(dis)
    if weights.fc > 0:
        terms["fc"] = force_closure(x, nf, act, field.center, max(field.radius, 1e-3))
    else:
        terms["fc"] = torch.zeros_like(dis)
    total = sum(getattr(weights, k) * v for k, v in terms.items())
    terms["total"] = total
    terms["contact_idx"] = idx
    terms["contact_sdf"] = sd_chosen.detach()
    terms["sphere_sdf_min"] = deepest.detach()
    return terms
