"""Training data for a generator that plans for the table (``GeneratorConfig.table_frame``; no ROS).

What the node meets is one camera view of an object resting on a table, the table known
(``GraspPipeline`` rotates such a cloud into its table frame, z up, before sampling). A generator
trained on free-space clouds in random orientations proposes grasps from every side, most of them
through the table (of LEAP's 45,187 free-space-valid grasps, 4 % keep the hand above the table
with the object upright). This module turns a dataset into that case:

* **scenes**: each training object in its rest poses (:mod:`dex1b_ros.objects.rest`): upright as
  loaded (how ``dex1b eval`` and ``dex1b bench plan-quality`` stand it) and its stable poses of
  probability >= ``min_prob``; a scene's id is ``"<object_id>@<k>"`` (k = 0 upright, 1.. stable);
* **grasps**: the object's records moved into each scene's table frame, kept where every
  collision sphere of the hand at the grasp posture clears the table (z = 0) by more than
  ``-margin`` (:func:`table_records`);
* **clouds**: single views from a camera above the table (elevation in ``elevation_deg``, random
  azimuth, like ``dex1b eval``'s ``partial`` view) and full-surface samples of the posed mesh
  (:class:`TableCloudCache`); the exact SDF of the posed mesh for ``penetration: mesh``.

Batches then rotate scenes only about z (``rotation_augment: z``), so "up" stays up, and the
loss's table term (``GeneratorConfig.w_table``) sees the table at z = 0 of each scene.
Frames: table frame of each scene, m.
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch

from ..hands import HandModel, HandPose
from ..records import GraspRecords
from ..rotation import matrix_to_rot6d, quat_to_matrix
from .data import CloudCache

SEP = "@"


def scene_id(object_id: str, k: int) -> str:
    return f"{object_id}{SEP}{k}"


def split_scene(sid: str) -> tuple[str, int]:
    o, _, k = sid.rpartition(SEP)
    return o, int(k)


class TableCloudCache(CloudCache):
    """:class:`CloudCache` of table scenes (``"<object_id>@<k>"``): the object's mesh moved into rest
    pose k (:meth:`pose`), partial views from above the table. Everything in the scene's table frame."""

    def __init__(self, n_points: int, views: int, seed: int = 0, geom_points: int = 512, sdf_resolution: int = 40,
                 min_prob: float = 0.05, elevation_deg: tuple[float, float] = (15.0, 60.0),
                 camera_distance: float = 0.5):
        super().__init__(n_points, views, seed, geom_points, sdf_resolution)
        self.min_prob, self.elevation_deg, self.camera_distance = min_prob, elevation_deg, camera_distance
        self._base, self._poses = {}, {}

    def base_mesh(self, object_id: str):
        if object_id not in self._base:
            from ..objects import load_object
            self._base[object_id] = load_object(object_id).mesh
        return self._base[object_id]

    def poses(self, object_id: str) -> np.ndarray:
        """(K, 4, 4) the object's rest poses, object frame -> table frame: [upright, stable...]."""
        if object_id not in self._poses:
            from ..objects.rest import rest_poses, upright_pose
            m = self.base_mesh(object_id)
            self._poses[object_id] = np.concatenate([upright_pose(m)[None], rest_poses(m, self.min_prob)[0]])
        return self._poses[object_id]

    def pose(self, sid: str) -> np.ndarray:
        o, k = split_scene(sid)
        return self.poses(o)[k]

    def mesh(self, object_id: str):
        if object_id not in self._mesh:
            o, _ = split_scene(object_id)
            self._mesh[object_id] = self.base_mesh(o).copy().apply_transform(self.pose(object_id))
        return self._mesh[object_id]

    def partial(self, object_id: str, view: int) -> tuple[np.ndarray, np.ndarray]:
        key = (object_id, view)
        if key not in self._partial:
            from ..geometry.pointcloud import render_view_from_above
            s = int.from_bytes(hashlib.sha256(f"table/{object_id}/{view}/{self.seed}".encode()).digest()[:4], "little")
            pc = render_view_from_above(self.mesh(object_id), self.n_points, seed=s, elevation_deg=self.elevation_deg,
                                        distance=self.camera_distance)
            self._partial[key] = (pc.points, pc.normals)
        return self._partial[key]


def hand_spheres(hand: HandModel, records: GraspRecords, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """The collision spheres of each record's hand at its grasp posture, in the object frame:
    centres (N, S, 3) m and radii (S,) m (one batched FK per ``chunk`` records)."""
    dt = hand.dtype
    out = []
    with torch.no_grad():
        for i in range(0, len(records), chunk):
            sl = slice(i, i + chunk)
            R = quat_to_matrix(torch.as_tensor(records.quat[sl], dtype=torch.float64)).to(dt)
            pose = HandPose(torch.as_tensor(records.trans[sl], dtype=dt), matrix_to_rot6d(R),
                            torch.as_tensor(records.grasp[sl], dtype=dt))
            out.append(hand.spheres(pose)[0].double().cpu().numpy())
    r = hand.sphere_radius.double().cpu().numpy()
    return (np.concatenate(out) if out else np.zeros((0, len(r), 3))), r


def clearance(centres: np.ndarray, radii: np.ndarray, T: np.ndarray) -> np.ndarray:
    """(N,) m: the lowest sphere's clearance above the table (z = 0; the sphere's bottom, negative =
    below) of spheres ``centres`` (N, S, 3) / ``radii`` (S,) given in the object frame, the object in
    rest pose ``T`` (4, 4)."""
    z = centres @ T[2, :3] + T[2, 3]
    return (z - radii).min(-1) if len(z) else np.zeros(0)


def table_clearance(hand: HandModel, records: GraspRecords, T: np.ndarray) -> np.ndarray:
    """(N,) m: :func:`clearance` of each record's hand at its grasp posture, its object in rest pose ``T``."""
    return clearance(*hand_spheres(hand, records), T)


def table_records(hand: HandModel, records: GraspRecords, clouds: TableCloudCache, margin: float = 0.001
                  ) -> tuple[GraspRecords, dict]:
    """``records`` moved into the table scenes of their objects (see the module doc): per object and
    rest pose, the records whose hand clears the table by more than ``-margin`` m, with wrist pose
    and associated point in the scene's table frame and ``object_id`` the scene id. Returns
    (records, info: scenes, records per kind of pose). The hand's spheres are computed once per
    record (object frame) and only moved per pose."""
    from ..objects.rest import to_rest_frame
    ids = np.asarray(records.object_id)
    centres, radii = hand_spheres(hand, records)
    parts, n_up, n_stable, scenes = [], 0, 0, 0
    for o in sorted(set(ids.tolist())):
        sel = np.flatnonzero(ids == o)
        for k, T in enumerate(clouds.poses(o)):
            keep = sel[clearance(centres[sel], radii, T) > -margin]
            if len(keep) == 0:
                continue
            r = records.select(keep)
            p, q = to_rest_frame(T, r.trans, r.quat)
            ap = np.asarray(r.assoc_point, np.float64) @ T[:3, :3].T + T[:3, 3]
            r.trans, r.quat, r.assoc_point = p.astype(np.float32), q.astype(np.float32), ap.astype(np.float32)
            r.object_id = np.full(len(r), scene_id(o, k), dtype=object)
            parts.append(r)
            scenes += 1
            n_up, n_stable = (n_up + len(r), n_stable) if k == 0 else (n_up, n_stable + len(r))
    if not parts:
        return records.select(np.zeros(len(records), bool)), {"table_scenes": 0, "table_records": 0}
    out = GraspRecords.concat(parts)
    return out, {"table_scenes": scenes, "table_records": int(len(out)), "table_records_upright": n_up,
                 "table_records_stable": n_stable, "table_source_records": int(len(records)),
                 "table_margin_m": margin}


__all__ = ["TableCloudCache", "clearance", "hand_spheres", "scene_id", "split_scene", "table_clearance",
           "table_records"]
