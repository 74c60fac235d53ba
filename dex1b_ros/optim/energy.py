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
from ..hands.model import link_points, transform_points
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


def _to_object(T_flat: torch.Tensor, R: torch.Tensor, t: torch.Tensor, b: torch.Tensor, lidx: torch.Tensor,
               p: torch.Tensor, vec: bool = False) -> torch.Tensor:
    """Object-frame points (N, 3) of link-frame points p (N, 3) on flat link index ``lidx``
    (N,) = grasp * L + link, with autograd through the palm-frame link poses T_flat (B * L, 3, 4)
    and the wrist (R (B, 3, 3), t (B, 3)) of grasps ``b`` (N,)."""
    x = link_points(T_flat, lidx, p, vec)[:, None, :]                          # (N, 1, 3) palm frame
    return transform_points(R.index_select(0, b), None if vec else t.index_select(0, b), x)[:, 0]


def collision_terms(hand: HandModel, field: ObjectField, pose: HandPose, link_poses_palm: torch.Tensor,
                    surface: bool = True, margin: float = 0.001, rotation: torch.Tensor | None = None,
                    object_links: torch.Tensor | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hand-object and hand-table collision, each (B,) m: ``pen`` (spheres into the object),
    ``surface`` (surface samples into the object; 0 when ``surface`` is False), ``table``
    (spheres below the support plane) and ``deepest`` (min over the evaluated points of
    sdf - radius; +inf when no point is near; < 0 = penetrating).

    Cheap by construction, with exactly the values and gradients of evaluating every point:

    1. cull (no autograd): only the chunks of points (``HandModel.collision_chunks``) whose
       bounding sphere comes within ``margin`` of the object or the table are looked at, per
       grasp (the SDF is ~1-Lipschitz, so the others cannot penetrate; ``margin`` absorbs the
       grid's interpolation error); in grasps this skips ~75 % of the chunks; within a kept
       chunk, points whose own bound (``offset``) rules them out are skipped too;
    2. evaluate the rest without autograd and keep the points that penetrate (a few %);
    3. differentiate only those: their transform (palm-frame link pose from FK, then the
       wrist) and SDF are recomputed with autograd.

    ``rotation`` (B, 3, 3) reuses ``pose.rotation``; ``object_links`` (B, L, 3, 4) reuses
    ``HandModel.link_poses_object`` (no autograd needed)."""
    ch = hand.collision_chunks
    T = link_poses_palm
    B, L = T.shape[:2]
    zero = T.new_zeros(B)
    has_plane = field.plane is not None
    with torch.no_grad():
        Td = (hand.link_poses_object(pose.detach(), T.detach()) if object_links is None
              else object_links.detach())                                  # (B, L, 3, 4)
        cc = hand._apply(Td, ch.link, ch.center, cache="chunk_centres")   # (B, V, 3) chunk centres
        # a lower bound of sdf - radius (and height - radius) per chunk, then per point
        lb = field.sdf(cc)                                                 # (B, V)
        if has_plane:
            lb = torch.minimum(lb, field.height(cc))
        bi, vi = torch.nonzero(lb < ch.bound + margin, as_tuple=True)     # (A,) grasp, chunk
        kind = ch.kind.index_select(0, vi)                                 # (A, K)
        if not surface:
            kind = torch.where(kind == 2, torch.zeros_like(kind), kind)
        cand = (kind > 0) & (lb[bi, vi][:, None] - ch.offset.index_select(0, vi) < margin)
        ai, ki = torch.nonzero(cand, as_tuple=True)                        # (M,) candidate points
        bc, vc = bi.index_select(0, ai), vi.index_select(0, ai)
        flat = vc * ch.points.shape[1] + ki
        p_link = ch.points.reshape(-1, 3).index_select(0, flat)            # (M, 3)
        r, kind = ch.radius.reshape(-1).index_select(0, flat), kind[ai, ki]
        lc = bc * L + ch.link.index_select(0, vc)
        Tk = Td.reshape(-1, 3, 4).index_select(0, lc)                      # (M, 3, 4)
        x = transform_points(Tk[..., :3], Tk[..., 3], p_link[:, None, :])[:, 0]  # (M, 3)
        sd = field.sdf(x)                                                  # (M,)
        hit = sd < r                                                       # penetrating (r = 0: surface samples)
        if has_plane:
            hit |= (kind == 1) & (field.height(x) < r)
        deepest = torch.full_like(zero, float("inf")).scatter_reduce(0, bc, sd - r.clamp_min(0), "amin")
        sel = torch.nonzero(hit).flatten()                                 # (N,) the penetrating points
        bp, lp, p_link, rp, kp = (t.index_select(0, sel) for t in (bc, lc, p_link, r, kind))
    if len(bp) == 0:
        return zero, zero, zero, deepest
    T_flat = T[..., :3, :].reshape(-1, 3, 4)
    xp = _to_object(T_flat, rotation if rotation is not None else pose.rotation, pose.trans, bp, lp, p_link)  # (N, 3)
    sph = (kp == 1).to(xp.dtype)
    inside = torch.relu(rp - field.sdf(xp))
    pen = zero.index_add(0, bp, inside * sph)
    surf = zero.index_add(0, bp, inside * (kp == 2).to(xp.dtype))
    table = zero.index_add(0, bp, torch.relu(rp - field.height(xp)) * sph) if has_plane else zero
    return pen, surf, table, deepest


def grasp_energy(hand: HandModel, field: ObjectField, pose: HandPose, active: torch.Tensor,
                 weights: EnergyWeights, groups: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """All energy terms (B,) plus ``total`` (B,) and diagnostics:
    ``contact_idx`` (B, F) chosen candidate per finger, ``contact_sdf`` (B, F) its sdf (m),
    ``sphere_sdf_min`` (B,) deepest penetration of a sphere or surface sample (m, <0 = penetrating)."""
    groups = finger_groups(hand) if groups is None else groups
    T = hand.link_poses_palm(pose.q)                             # (B, L, 4, 4), autograd
    R = pose.rotation                                            # (B, 3, 3), autograd
    with torch.no_grad():
        To = hand.link_poses_object(pose.detach(), T.detach())   # (B, L, 3, 4), no autograd
    pen, surface, table, deepest = collision_terms(hand, field, pose, T, surface=weights.surface > 0,
                                                   rotation=R, object_links=To)
    # contacts: per finger the candidate closest to the surface, chosen without autograd
    # among all candidates; then only the chosen ones are recomputed with autograd
    valid = groups >= 0
    g = groups.clamp_min(0)
    B, L = T.shape[:2]
    with torch.no_grad():
        sd_all = field.sdf(hand._apply(To, hand.contact_link, hand.contact_point, cache="contacts"))  # (B, C)
        d_fk = sd_all.abs()[:, g].masked_fill(~valid, float("inf"))  # (B, F, K)
        k = d_fk.argmin(-1)                                        # (B, F)
        idx = g[torch.arange(g.shape[0], device=g.device), k]      # (B, F) candidate index
        bb = torch.arange(B, device=T.device)[:, None].expand_as(idx).reshape(-1)
        lidx = bb * L + hand.contact_link[idx].reshape(-1)
    F_ = idx.shape[1]
    T_flat = T[..., :3, :].reshape(-1, 3, 4)
    x = _to_object(T_flat, R, pose.trans, bb, lidx, hand.contact_point[idx].reshape(-1, 3)).view(B, F_, 3)
    nf = _to_object(T_flat, R, pose.trans, bb, lidx, hand.contact_normal[idx].reshape(-1, 3), vec=True).view(B, F_, 3)
    sd_chosen = field.sdf(x)                                       # (B, F)
    act = active.to(sd_chosen.dtype)
    dis = (sd_chosen.abs() * act).sum(-1)
    terms = {"dis": dis, "pen": pen, "surface": surface, "table": table}
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
