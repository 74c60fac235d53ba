"""Geometry derived from a hand's MJCF and config (no ROS): collision spheres (sphere fit per
link), contact candidates on the pads, palm centre and approach direction, fingertip points,
self-collision sphere pairs, and surface samples of every link.

All of it is computed once per hand, in float64, from the *partially built* ``HandModel``
(its MuJoCo model, link list, collision geoms and kinematic chain), and returned as arrays in
link frames or the palm frame (metres). :func:`derive_geometry` is the part cached on disk
(see :mod:`dex1b_ros.hands.cache`, whose key hashes this module's source);
:func:`finger_and_surface` is cheap and recomputed every time.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..config_utils import ConfigError
from .collision import fit_spheres, sample_union_surface, union_depth
from .kinematics import apply_link_matrix, link_point_matrix

if TYPE_CHECKING:
    from .model import HandModel

#: The attributes :func:`derive_geometry` produces that are tensors (the cached set), plus
#: ``sphere_coverage`` and ``pad_direction`` (dicts by link name).
DERIVED_FIELDS = ("sphere_center", "sphere_radius", "sphere_link", "self_sphere_center", "self_sphere_radius",
                  "self_sphere_link", "contact_point", "contact_normal", "contact_link",
                  "palm_center", "approach", "tip_link", "tip_point", "self_pairs")


def farthest_points(p: np.ndarray, k: int) -> np.ndarray:
    """Indices of k farthest-point samples of p (N, 3) (small N: plain numpy)."""
    k = min(k, len(p))
    idx = [int(np.argmin(np.linalg.norm(p - p.mean(0), axis=1)))]
    d = np.linalg.norm(p - p[idx[0]], axis=1)
    for _ in range(k - 1):
        i = int(np.argmax(d))
        idx.append(i)
        d = np.minimum(d, np.linalg.norm(p - p[i], axis=1))
    return np.asarray(idx)


def fk_np(hand: HandModel, q: np.ndarray) -> np.ndarray:
    """(L, 4, 4) palm-frame link poses of one joint vector q (J,) rad, float64 numpy."""
    with torch.no_grad():
        return hand.link_poses_palm(torch.as_tensor(q, dtype=torch.float64)[None])[0].numpy()


def moving_joint(hand: HandModel, body: int) -> int:
    """Index (driver order) of the nearest joint at or above MuJoCo body ``body``."""
    m = hand.mj_model
    while body > 0:
        if m.body_jntnum[body] > 0:
            return hand.joint_names.index(m.joint(m.body_jntadr[body]).name)
        body = m.body_parentid[body]
    raise ConfigError(f"contacts.links: body {m.body(body).name} has no moving joint above it")


def point_velocity(hand: HandModel, q: np.ndarray, link: int, p_link: np.ndarray, j: int, h=1e-4) -> np.ndarray:
    """Palm-frame velocity (3,) of a link-frame point when joint j increases."""
    dq = np.zeros_like(q)
    dq[j] = h
    Ta, Tb = fk_np(hand, q - dq)[link], fk_np(hand, q + dq)[link]
    return ((Tb[:3, :3] @ p_link + Tb[:3, 3]) - (Ta[:3, :3] @ p_link + Ta[:3, 3])) / (2 * h)


def leaf_below(hand: HandModel, body: int) -> int:
    """The first leaf body reached from ``body`` following first children."""
    m = hand.mj_model
    while True:
        kids = [b for b in range(m.nbody) if m.body_parentid[b] == body and b != body]
        if not kids:
            return body
        body = kids[0]


# ---------------------------------------------------------------------- the cached part
def derive_geometry(hand: HandModel, dtype=torch.float64) -> dict[str, Any]:
    """Spheres, self-collision spheres and pairs, contacts, palm, tips of ``hand`` (which needs
    ``cfg``, ``mj_model``, ``spec``, ``link_names``, ``_body_ids``, ``geoms``, joint limits
    and working kinematics). Returns ``DERIVED_FIELDS`` (tensors) + ``sphere_coverage``,
    ``self_sphere_coverage`` and ``pad_direction``."""
    out: dict[str, Any] = {}
    cfg = hand.cfg
    sc = cfg.spheres
    for prefix, budget in (("", lambda n: sc.link_max.get(n, sc.max_per_link)),
                           ("self_", lambda n: sc.self_link_max.get(n, sc.self_max_per_link))):
        centers, radii, slink, coverage = [], [], [], {}
        for li, name in enumerate(hand.link_names):
            if name not in hand.geoms:
                continue
            fit = fit_spheres(hand.geoms[name], sc, seed=li, max_spheres=budget(name))
            centers.append(fit.centers)
            radii.append(fit.radii)
            slink += [li] * len(fit.radii)
            coverage[name] = fit.coverage
        out[prefix + "sphere_center"] = torch.as_tensor(np.concatenate(centers), dtype=dtype)
        out[prefix + "sphere_radius"] = torch.as_tensor(np.concatenate(radii), dtype=dtype)
        out[prefix + "sphere_link"] = torch.as_tensor(slink, dtype=torch.long)
        out[prefix + "sphere_coverage"] = coverage
    # kinematics at the open pose, used for automatic pads/palm and self-collision pairs
    open_np = np.asarray(cfg.open_pose, dtype=np.float64)
    T_open = fk_np(hand, open_np)
    out.update(contacts(hand, T_open, open_np))
    out.update(palm(hand, open_np))
    out.update(tips(hand))
    out["self_pairs"] = self_pairs(hand, T_open, out["self_sphere_link"], out["self_sphere_center"],
                                   out["self_sphere_radius"])
    return out


def contacts(hand: HandModel, T_open: np.ndarray, open_np: np.ndarray) -> dict[str, Any]:
    """Contact candidates on the links of ``contacts.links``: surface samples facing each link's
    pad direction (the direction its centroid moves when its joint flexes), farthest-point
    thinned. Returns contact_point / contact_normal (C, 3) link frame, contact_link (C,),
    pad_direction {link: (3,)}."""
    cc = hand.cfg.contacts
    rng = np.random.default_rng(1234)
    pts, nrm, lnk, pad_direction = [], [], [], {}
    for name in cc.links:
        if name not in hand.link_names:
            raise ConfigError(f"contacts.links: unknown body {name!r} (hand bodies: {', '.join(hand.link_names)})")
        if name not in hand.geoms:
            raise ConfigError(f"contacts.links: body {name!r} has no collision geometry")
        li = hand.link_names.index(name)
        gs = hand.geoms[name]
        centroid = np.mean([g.mesh.centroid for g in gs], axis=0)
        j = moving_joint(hand, hand._body_ids[li])
        v = cc.flex_sign * point_velocity(hand, open_np, li, centroid, j)
        pad = T_open[li][:3, :3].T @ v
        pad /= np.linalg.norm(pad) + 1e-12
        pad_direction[name] = pad
        p, n = sample_union_surface(gs, 3000, rng)
        keep = n @ pad >= math.cos(math.radians(cc.pad_cone_deg))
        if keep.sum() < cc.points_per_link:
            raise ConfigError(f"contacts.links: body {name!r} has only {int(keep.sum())} surface samples facing its "
                              f"pad direction {np.round(pad, 3).tolist()}; check contacts.flex_sign/pad_cone_deg")
        p, n = p[keep], n[keep]
        sel = farthest_points(p, cc.points_per_link)
        pts.append(p[sel])
        nrm.append(n[sel])
        lnk += [li] * len(sel)
    return {"contact_point": torch.as_tensor(np.concatenate(pts)),
            "contact_normal": torch.as_tensor(np.concatenate(nrm)),
            "contact_link": torch.as_tensor(lnk, dtype=torch.long), "pad_direction": pad_direction}


def palm(hand: HandModel, open_np: np.ndarray) -> dict[str, torch.Tensor]:
    """palm_center (3,) m and approach (3,) unit vector, palm frame: given in the config, or
    the mean flexion direction of ``palm.approach_joints`` and the palm surface facing it."""
    cfg = hand.cfg
    pc = cfg.palm
    root_geoms = hand.geoms.get(cfg.root_body)
    if pc.approach is not None:
        a = np.asarray(pc.approach, dtype=np.float64)
    else:
        if not pc.approach_joints:
            raise ConfigError("palm.approach_joints: give the fingers' base flexion joints, or palm.approach")
        vs = []
        for jn in pc.approach_joints:
            if jn not in hand.joint_names:
                raise ConfigError(f"palm.approach_joints: unknown joint {jn!r}")
            j = hand.joint_names.index(jn)
            leaf = leaf_below(hand, hand.mj_model.jnt_bodyid[hand.mj_model.joint(jn).id])
            li = hand._body_ids.index(leaf)
            vs.append(point_velocity(hand, open_np, li, np.zeros(3), j))
        vs = np.asarray(vs) * cfg.contacts.flex_sign
        a = (vs / np.linalg.norm(vs, axis=1, keepdims=True)).mean(0)
        if np.linalg.norm(a) < 0.3:
            raise ConfigError("palm.approach_joints: these joints move the fingers in opposite directions, so "
                              "no approach direction follows from them; set palm.approach")
    a = a / np.linalg.norm(a)
    if pc.center is not None:
        c = np.asarray(pc.center, dtype=np.float64)
    else:
        if not root_geoms:
            raise ConfigError(f"palm.center: root body {cfg.root_body!r} has no collision geometry; set palm.center")
        p, n = sample_union_surface(root_geoms, 4000, np.random.default_rng(7))
        front = p[n @ a > math.cos(math.radians(30))]
        if len(front) == 0:
            raise ConfigError("palm.center: no palm surface faces the approach direction; set palm.center")
        h = front @ a
        c = front[h >= h.max() - 0.005].mean(0)
    return {"palm_center": torch.as_tensor(c), "approach": torch.as_tensor(a)}


def tips(hand: HandModel) -> dict[str, torch.Tensor]:
    """tip_link (F,) and tip_point (F, 3) link frame: per finger of ``fingertips``, the surface
    point of the tip body farthest from its origin."""
    tl, tp = [], []
    for finger, body in hand.cfg.fingertips.items():
        if body not in hand.geoms:
            raise ConfigError(f"fingertips.{finger}: body {body!r} is not a hand body with collision geometry")
        p, _ = sample_union_surface(hand.geoms[body], 2000, np.random.default_rng(3))
        far = p[np.argmax(np.linalg.norm(p, axis=1))]
        tl.append(hand.link_names.index(body))
        tp.append(far)
    return {"tip_link": torch.as_tensor(tl, dtype=torch.long), "tip_point": torch.as_tensor(np.asarray(tp))}


def self_pairs(hand: HandModel, T_open: np.ndarray, sphere_link: torch.Tensor, sphere_center: torch.Tensor,
               sphere_radius: torch.Tensor) -> torch.Tensor:
    """(P, 2) long: pairs of self-collision spheres that can collide: not on the same rigid
    group or adjacent groups, not excluded by the MJCF, apart in the open pose, and within
    ``spheres.self_pair_margin`` in some of ``spheres.self_pair_samples`` random joint
    configurations."""
    m = hand.mj_model
    body_ids = hand._body_ids
    L = len(hand.link_names)
    # rigid groups: bodies welded to their parent (no joint) move with it
    group = list(range(L))
    for li, b in enumerate(body_ids):
        if m.body_jntnum[b] == 0 and li > 0:
            group[li] = group[body_ids.index(m.body_parentid[b])]
    parent_group = {}
    for li, b in enumerate(body_ids):
        if li > 0 and group[li] == li:
            parent_group[li] = group[body_ids.index(m.body_parentid[b])]
    allowed = np.ones((L, L), bool)
    for i in range(L):
        for j in range(L):
            gi, gj = group[i], group[j]
            if gi == gj or parent_group.get(gi) == gj or parent_group.get(gj) == gi:
                allowed[i, j] = False
    for ex in hand.spec.excludes:
        b1, b2 = ex.bodyname1, ex.bodyname2
        if b1 in hand.link_names and b2 in hand.link_names:
            i, j = hand.link_names.index(b1), hand.link_names.index(b2)
            allowed[i, j] = allowed[j, i] = False
    sl = sphere_link.numpy()
    ii, jj = np.triu_indices(len(sl), k=1)
    keep = allowed[sl[ii], sl[jj]]
    ii, jj = ii[keep], jj[keep]
    # drop pairs already touching in the open pose (structural, not a collision)
    c = sphere_center.double().numpy()
    Tw = T_open[sl]
    cw = np.einsum("sij,sj->si", Tw[:, :3, :3], c) + Tw[:, :3, 3]
    r = sphere_radius.double().numpy()
    gap = np.linalg.norm(cw[ii] - cw[jj], axis=1) - r[ii] - r[jj]
    ok = gap > 0
    ii, jj = ii[ok], jj[ok]
    # keep only pairs that can actually come close: sample random joint configurations
    # (uniform within limits) and keep a pair if its gap ever drops below the margin.
    # First on links (one bounding sphere each), then on the sphere pairs that survive.
    sc = hand.cfg.spheres
    g = torch.Generator().manual_seed(0)
    lo, hi = torch.as_tensor(hand.lower_np), torch.as_tensor(hand.upper_np)
    qs = lo + (hi - lo) * torch.rand(sc.self_pair_samples, len(lo), generator=g, dtype=torch.float64)
    sl_t = sphere_link
    cen = sphere_center.double()
    links = sorted(set(sl.tolist()))
    bc = torch.stack([cen[sl_t == k].mean(0) for k in links])
    br = torch.stack([((cen[sl_t == k] - bc[n]).norm(dim=-1) + sphere_radius.double()[sl_t == k]).max()
                      for n, k in enumerate(links)])
    link_pos = {k: n for n, k in enumerate(links)}
    lt = torch.as_tensor(links)
    with torch.no_grad():
        Tq = hand.link_poses_palm(qs)
        bw = apply_link_matrix(Tq, link_point_matrix(Tq.shape[1], lt, bc))     # (N, Lg, 3)
        lgap = (torch.cdist(bw, bw) - br[:, None] - br[None, :]).min(0).values.numpy()
    li_ = np.array([link_pos[k] for k in sl[ii]])
    lj_ = np.array([link_pos[k] for k in sl[jj]])
    cand = lgap[li_, lj_] < sc.self_pair_margin
    ii, jj = ii[cand], jj[cand]
    ti, tj = torch.as_tensor(ii), torch.as_tensor(jj)
    rr = torch.as_tensor(r)
    min_gap = torch.full((len(ii),), float("inf"), dtype=torch.float64)
    W = link_point_matrix(Tq.shape[1], sl_t, cen)
    with torch.no_grad():
        for start in range(0, len(qs), 500):
            cq = apply_link_matrix(Tq[start:start + 500], W)
            gap = (cq[:, ti] - cq[:, tj]).norm(dim=-1) - rr[ti] - rr[tj]
            min_gap = torch.minimum(min_gap, gap.min(0).values)
    near = (min_gap < sc.self_pair_margin).numpy()
    return torch.as_tensor(np.stack([ii[near], jj[near]], 1), dtype=torch.long)


# ---------------------------------------------------------------------- recomputed every time
def finger_and_surface(hand: HandModel, per_link: int = 96) -> dict[str, Any]:
    """tip_names (F) and contact_finger (C,): index into ``tip_names`` of the finger each
    contact candidate belongs to (its link is the fingertip body or an ancestor of it);
    surface_point / surface_link: ``per_link`` samples of every link's collision surface (link
    frame), for exact penetration checks against a mesh; energy_surface_point / _link: the
    first 32 of them per link (farthest-point order), for the optimizer's energy."""
    m = hand.mj_model
    tip_names = list(hand.cfg.fingertips)
    chains = []
    for finger in tip_names:
        b, anc = m.body(hand.cfg.fingertips[finger]).id, set()
        while b > 0:
            anc.add(hand.link_names[hand._body_ids.index(b)] if b in hand._body_ids else None)
            b = m.body_parentid[b]
        chains.append(anc - {hand.cfg.root_body})
    cf = []
    for li in hand.contact_link.tolist():
        owners = [f for f, anc in enumerate(chains) if hand.link_names[li] in anc]
        if not owners:
            raise ConfigError(f"contacts.links: {hand.link_names[li]!r} is on no finger listed in fingertips")
        cf.append(owners[0])
    rng = np.random.default_rng(5)
    pts, lnk = [], []
    for li, name in enumerate(hand.link_names):
        if name in hand.geoms:
            p, _ = sample_union_surface(hand.geoms[name], per_link * 2, rng)
            # the geoms' corners on the union's boundary join the candidates: against a
            # flat or convex object a polytope penetrates deepest at a vertex, which random
            # samples miss (measured on LEAP's 2-4 mm plates: MuJoCo saw 1-3.5 mm where
            # the samples said clear); farthest-point order then takes them early
            geoms = hand.geoms[name]
            v = np.concatenate([g.mesh.vertices for g in geoms if g.kind in ("box", "hull")] + [np.zeros((0, 3))])
            p = np.concatenate([v[union_depth(geoms, v) <= 5e-4], p]) if len(v) else p
            p = p[farthest_points(p, per_link)]
            pts.append(p)
            lnk += [li] * len(p)
    surface_point = torch.as_tensor(np.concatenate(pts))
    surface_link = torch.as_tensor(lnk, dtype=torch.long)
    first = np.concatenate([np.nonzero(np.asarray(lnk) == li)[0][:32] for li in sorted(set(lnk))])
    return {"tip_names": tip_names, "contact_finger": torch.as_tensor(cf, dtype=torch.long),
            "surface_point": surface_point, "surface_link": surface_link,
            "energy_surface_point": surface_point[first].clone(), "energy_surface_link": surface_link[first].clone()}


__all__ = ["DERIVED_FIELDS", "contacts", "derive_geometry", "farthest_points", "finger_and_surface", "fk_np",
           "leaf_below", "moving_joint", "palm", "point_velocity", "self_pairs", "tips"]
