"""The grasp evaluator network and its input features (torch, no ROS).

Input of one grasp (:func:`grasp_features`), everything in the grasp's WRIST frame (the hand's
palm frame at the grasp pose), lengths in decimetres (m x 10) so the numbers are O(1):

* per point (B, N, 6 + F): the single-view cloud point (3), its outward normal (3), and its
  distance to each of the F fingertips at the grasp posture;
* per grasp (B, 2 J + 6 F): the grasp joints (J, rad), squeeze minus grasp joints (J, rad), the
  fingertips at the grasp and at the squeeze posture (F x 3 each, dm);
* with the support plane (a model made with ``plane_features``; :func:`plane_features`), per grasp
  also (4 + 2 F): the plane's up direction in the wrist frame (3), the wrist's height above the
  plane (dm) and each fingertip's at the grasp and at the squeeze posture (F each, dm): where the
  table and gravity are, which a single view's points alone do not say;
* with the refinement's energies (a model made with ``energy``; :func:`energy_features`), per grasp
  also :data:`N_ENERGY` numbers: how well the grasp fits the planner's GUESSED object (the energy
  terms against the completed view's field, the contact distance and the penetration), each as
  log(1 + value / scale).

:class:`GraspEvaluator`: a shared per-point MLP (6 + F -> 64 -> ``width``), max- and mean-pooled
over the points (so the output does not depend on the points' order), concatenated with an
MLP embedding of the per-grasp vector, then an MLP to two logits: [free-space success,
tabletop lift success]. With ``finger_pool`` also, per fingertip, the point features averaged with
weights softmax(-distance to that fingertip / :data:`FINGER_POOL_TAU`) over the points (what the
surface looks like where each finger lands), embedded by a linear layer.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..hands import HandModel, HandPose
from ..rotation import matrix_to_rot6d, quat_to_matrix

SCALE = 10.0
"""Metres -> network units (decimetres)."""

FINGER_POOL_TAU = 0.1
"""dm (1 cm): the softmin temperature of the per-fingertip pooling (``finger_pool``)."""

HEADS = ("free_space", "lift")
"""The two outputs, in logit order."""


ENERGY_FEATURES = (("align", 1.0), ("dis", 0.01), ("pen", 0.01), ("spen", 0.001), ("surface", 0.01),
                   ("table", 0.1), ("total", 10.0))
"""(term, scale) of the refinement's energy terms fed with ``energy`` (:mod:`dex1b_ros.optim.energy`;
units there: m for dis, pen, spen, surface, table; 1 for align; total is their weighted sum)."""

N_ENERGY = len(ENERGY_FEATURES) + 2
"""Energy features per grasp: the terms above, then contact distance (scale 10 mm) and penetration (5 mm)."""


def energy_features(terms, contact_distance, penetration) -> np.ndarray:
    """(B, N_ENERGY) float32: log(1 + max(x, 0) / scale) of the refinement's energy ``terms`` (a mapping
    name -> (B,), as the planner's GraspSet.energy and the ``energy_<name>`` columns of collect-plans
    shards; every name of :data:`ENERGY_FEATURES` is needed: KeyError names a missing one),
    ``contact_distance`` (B,) m and ``penetration`` (B,) m (both measured on the planner's guess)."""
    cols = [np.asarray(terms[k], np.float64) / s for k, s in ENERGY_FEATURES]
    cols += [np.asarray(contact_distance, np.float64) / 0.01, np.asarray(penetration, np.float64) / 0.005]
    x = np.stack(cols, -1)
    return np.log1p(np.clip(np.nan_to_num(x, nan=0.0, posinf=1e6), 0.0, 1e6)).astype(np.float32)


def palm_fingertips(hand: HandModel, q: torch.Tensor) -> torch.Tensor:
    """(B, F, 3) m fingertips in the palm frame for joints ``q`` (B, J) rad (hand FK)."""
    B = q.shape[0]
    eye = torch.eye(3, dtype=q.dtype, device=q.device).expand(B, 3, 3)
    pose = HandPose(torch.zeros(B, 3, dtype=q.dtype, device=q.device), matrix_to_rot6d(eye), q)
    return hand.fingertips(pose)


def plane_features(plane: torch.Tensor, trans: torch.Tensor, quat: torch.Tensor, tips_grasp: torch.Tensor,
                   tips_squeeze: torch.Tensor) -> torch.Tensor:
    """(B, 4 + 2 F) float32: the support plane seen from each grasp's wrist.

    plane: (4,) or (B, 4) [a, b, c, d] in the grasp's frame, a x + b y + c z + d = 0, normal (a, b, c)
    pointing up (away from the table; need not be unit). trans (B, 3) m, quat (B, 4) wxyz: wrists;
    tips_grasp, tips_squeeze (B, F, 3) m in the PALM frame. Returns [up direction in the wrist frame
    (3), wrist height above the plane (dm), fingertip heights at the grasp (F, dm), at the squeeze
    (F, dm)]."""
    dt = torch.float32
    B = trans.shape[0]
    pl = plane.to(dt).reshape(-1, 4).expand(B, 4)
    norm = pl[:, :3].norm(dim=1, keepdim=True).clamp(min=1e-12)
    n, d = pl[:, :3] / norm, pl[:, 3:] / norm                      # unit normal, offset (m)
    R = quat_to_matrix(quat.to(dt))                                # palm -> frame
    up = torch.einsum("bji,bj->bi", R, n)                          # R^T n: up in the wrist frame
    h = (n * trans.to(dt)).sum(1, keepdim=True) + d                # (B, 1) wrist height, m
    hg = h + torch.einsum("bfi,bi->bf", tips_grasp.to(dt), up)     # n.(R tip + t) + d
    hs = h + torch.einsum("bfi,bi->bf", tips_squeeze.to(dt), up)
    return torch.cat([up, h * SCALE, hg * SCALE, hs * SCALE], -1)


def grasp_features(points: torch.Tensor, normals: torch.Tensor, trans: torch.Tensor, quat: torch.Tensor,
                   q_grasp: torch.Tensor, q_squeeze: torch.Tensor, tips_grasp: torch.Tensor,
                   tips_squeeze: torch.Tensor, plane: torch.Tensor | None = None,
                   energy: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Network inputs of B grasps.

    points, normals: (B, N, 3) or (N, 3) (one cloud shared by every grasp), the single view in the
    grasp's frame (object / planning frame), m. trans (B, 3) m and quat (B, 4) wxyz: the wrist
    (palm-frame origin) in that frame. q_grasp, q_squeeze (B, J) rad. tips_grasp, tips_squeeze
    (B, F, 3) m: fingertips in the PALM frame (:func:`palm_fingertips`). plane: None, or the support
    plane (4,) / (B, 4) in the grasp's frame (:func:`plane_features`, appended to the per-grasp part).
    energy: None, or (B, N_ENERGY) :func:`energy_features` (appended after the plane's).
    Returns (per-point (B, N, 6 + F), per-grasp (B, 2 J + 6 F [+ 4 + 2 F] [+ N_ENERGY])), float32."""
    dt = torch.float32
    R = quat_to_matrix(quat.to(dt))                                # (B, 3, 3) palm -> frame
    if points.dim() == 2:
        points, normals = points[None], normals[None]
    p = torch.matmul(points.to(dt) - trans.to(dt)[:, None, :], R) * SCALE      # (B, N, 3) = R^T (x - t)
    n = torch.matmul(normals.to(dt), R)
    tg = tips_grasp.to(dt) * SCALE
    d = torch.cdist(p, tg)                                         # (B, N, F)
    per_point = torch.cat([p, n, d], -1)
    B = trans.shape[0]
    qg, qs = q_grasp.to(dt), q_squeeze.to(dt)
    per_grasp = torch.cat([qg, qs - qg, tg.reshape(B, -1), tips_squeeze.to(dt).reshape(B, -1) * SCALE], -1)
    if plane is not None:
        per_grasp = torch.cat([per_grasp, plane_features(plane, trans, quat, tips_grasp, tips_squeeze)], -1)
    if energy is not None:
        per_grasp = torch.cat([per_grasp, torch.as_tensor(energy, dtype=dt).reshape(B, -1)], -1)
    return per_point, per_grasp


class GraspEvaluator(nn.Module):
    """PointNet-style classifier: (per-point (B, N, 6 + F), per-grasp (B, 2 J + 6 F [+ 4 + 2 F with
    ``plane``])) -> logits (B, 2) ordered like :data:`HEADS`. Invariant to the order of the N points
    (max + mean pooling). ``plane``: the model reads the support plane (:func:`plane_features`);
    ``energy``: the refinement's energies (:func:`energy_features`)."""

    def __init__(self, n_joints: int, n_tips: int, width: int = 128, plane: bool = False, energy: bool = False,
                 finger_pool: bool = False):
        super().__init__()
        self.n_joints, self.n_tips, self.width, self.plane = int(n_joints), int(n_tips), int(width), bool(plane)
        self.energy, self.finger_pool = bool(energy), bool(finger_pool)
        self.point_mlp = nn.Sequential(nn.Linear(6 + n_tips, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                                       nn.Linear(64, width), nn.ReLU())
        n_grasp = 2 * n_joints + 6 * n_tips + (4 + 2 * n_tips if self.plane else 0) + (N_ENERGY if self.energy else 0)
        self.grasp_mlp = nn.Sequential(nn.Linear(n_grasp, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
        n_local = 128 if self.finger_pool else 0
        if self.finger_pool:
            self.local = nn.Sequential(nn.Linear(n_tips * width, n_local), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(2 * width + 64 + n_local, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                                  nn.Linear(64, len(HEADS)))

    def forward(self, per_point: torch.Tensor, per_grasp: torch.Tensor) -> torch.Tensor:
        h = self.point_mlp(per_point)                              # (B, N, width)
        parts = [h.amax(1), h.mean(1), self.grasp_mlp(per_grasp)]
        if self.finger_pool:
            parts.append(self.local(self.pool_fingers(per_point, h).flatten(1)))
        return self.head(torch.cat(parts, -1))

    def pool_fingers(self, per_point: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """(B, F, width): per fingertip, the point features ``h`` (B, N, width; default the per-point
        MLP of ``per_point``) averaged with weights softmax over the points of -distance / FINGER_POOL_TAU."""
        h = self.point_mlp(per_point) if h is None else h
        w = torch.softmax(-per_point[..., 6:6 + self.n_tips] / FINGER_POOL_TAU, dim=1)     # (B, N, F)
        return torch.einsum("bnf,bnw->bfw", w, h)


def subsample(n_have: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` of ``n_have`` points: a random subset (with repeats only when too few)."""
    return rng.choice(n_have, n, replace=n_have < n)


__all__ = ["ENERGY_FEATURES", "FINGER_POOL_TAU", "HEADS", "N_ENERGY", "SCALE", "GraspEvaluator", "energy_features",
           "grasp_features", "palm_fingertips", "plane_features", "subsample"]
