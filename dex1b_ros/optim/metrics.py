"""Exact checks of optimised grasps against the object MESH (not the grid that was
optimised): penetration of the hand's collision surface and contact distance of the
active fingers, via :func:`~dex1b_ros.geometry.sdf.exact_signed_distance`."""
from __future__ import annotations

import numpy as np
import torch

from ..geometry.sdf import exact_signed_distance
from ..hands import HandModel
from .energy import finger_groups
from .optimizer import GraspSet


def exact_grasp_metrics(hand: HandModel, mesh, grasps: GraspSet, which: str = "grasp") -> dict[str, np.ndarray]:
    """Per grasp (B,): ``penetration`` m (deepest hand collision-surface sample inside the
    mesh, >= 0), ``contact_distance`` m (max over active fingers of the smallest |sdf| of
    that finger's contact candidates), ``sphere_penetration`` m (deepest sphere)."""
    with torch.no_grad():
        pose = grasps.pose(hand, which)
        surf = hand.surface_points(pose).cpu().numpy()
        cand, _ = hand.contact_candidates(pose)
        centers, radii = hand.spheres(pose)
    B = len(grasps)
    sd_surf = exact_signed_distance(mesh, surf.reshape(-1, 3)).reshape(B, -1)
    sd_c = np.abs(exact_signed_distance(mesh, cand.cpu().numpy().reshape(-1, 3)).reshape(B, -1))
    sd_s = exact_signed_distance(mesh, centers.cpu().numpy().reshape(-1, 3)).reshape(B, -1) - radii.cpu().numpy()
    g = finger_groups(hand).cpu().numpy()
    per_finger = np.where(g[None] >= 0, sd_c[:, np.maximum(g, 0)], np.inf).min(-1)  # (B, F)
    cd = np.where(grasps.active, per_finger, 0.0).max(-1)
    return {"penetration": np.maximum(0.0, -sd_surf.min(-1)), "contact_distance": cd,
            "sphere_penetration": np.maximum(0.0, -sd_s.min(-1))}
