"""A generator that plans for the table: rest poses, table scenes, the table term, sampling with ``up``."""
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from dex1b_ros.generator import train as T
from dex1b_ros.generator.model import DexSimple, GeneratorConfig
from dex1b_ros.generator.table import TableCloudCache, split_scene, table_clearance, table_records
from dex1b_ros.objects import load_object
from dex1b_ros.objects.rest import rest_poses, to_rest_frame, upright_pose
from dex1b_ros.rotation import rotation_to_z

torch.set_num_threads(1)
TINY = GeneratorConfig(n_points=128, point_mlp=(32,), point_feature=32, latent=8, hidden=(64, 64))
ROUND0 = Path(__file__).resolve().parents[2] / "data" / "leap" / "grasps" / "round=0" / "hand=leap"
OBJECTS = ("proc_box_1", "proc_box_12", "ycb_005_tomato_soup_can")


@pytest.fixture(scope="module")
def shards():
    out = [ROUND0 / f"part-r0-{o}-c000.parquet" for o in OBJECTS]
    missing = [p for p in out if not p.is_file()]
    assert not missing, f"committed round-0 shards missing: {missing}"
    return out


def test_rest_poses_stand_the_object_on_the_table():
    mesh = load_object("proc:box:1").mesh
    T_, p = rest_poses(mesh)
    assert len(T_) >= 2 and np.isclose(p.sum(), 1) and (p > 0).all()
    for t in [upright_pose(mesh), *T_]:
        m = mesh.copy().apply_transform(t)
        assert abs(m.bounds[0, 2]) < 1e-6                    # resting on z = 0
    # to_rest_frame moves wrist poses like the mesh: a point fixed to the wrist follows the pose
    rng = np.random.default_rng(0)
    q = rng.normal(size=(5, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    p0 = rng.normal(size=(5, 3)) * 0.1
    p1, q1 = to_rest_frame(T_[0], p0, q)
    np.testing.assert_allclose(p1, p0 @ T_[0][:3, :3].T + T_[0][:3, 3], atol=1e-12)
    from dex1b_ros.rotation import quat_to_matrix_np
    np.testing.assert_allclose(quat_to_matrix_np(q1), T_[0][:3, :3] @ quat_to_matrix_np(q), atol=1e-9)


def test_table_records_keep_the_hands_above_the_table(leap, shards):
    recs = T.read_shards(shards)
    clouds = TableCloudCache(128, 2, 0, 128)
    out, info = table_records(leap, recs, clouds, margin=0.001)
    assert info["table_records"] == len(out) > 0 and info["table_scenes"] >= 2
    assert info["table_records_upright"] + info["table_records_stable"] == len(out)
    ident = np.eye(4)
    for sid in sorted(set(out.object_id.tolist())):
        rows = out.select(out.object_id == sid)
        assert (table_clearance(leap, rows, ident) > -0.001).all()     # in the scene frame, above z = 0
        o, k = split_scene(sid)
        src = recs.select((recs.object_id == o))
        n_kept = int((table_clearance(leap, src, clouds.pose(sid)) > -0.001).sum())
        assert n_kept == len(rows)                                      # exactly the ones that clear it
        # associated points moved with the object: still on its (posed) surface
        d = np.abs(clouds.mesh(sid).nearest.signed_distance(rows.assoc_point.astype(np.float64)))
        d0 = np.abs(clouds.base_mesh(o).nearest.signed_distance(src.assoc_point.astype(np.float64)))
        assert d.max() <= d0.max() + 1e-5
    # a generous margin keeps more, never fewer
    more, _ = table_records(leap, recs, clouds, margin=0.05)
    assert len(more) >= len(out)


def test_table_views_are_seen_from_above(shards):
    clouds = TableCloudCache(256, 2, 0, 128)
    sid = "proc:box:1@0"
    p, n = clouds.partial(sid, 0)
    assert p.shape == (256, 3) and p[:, 2].min() > -1e-6               # nothing below the table
    up = (n @ np.array([0.0, 0.0, 1.0]))
    assert (up > 0.5).any()                                             # the top face is seen
    p2, _ = clouds.partial(sid, 0)
    assert p2 is p                                                      # cached


def test_table_term_sees_a_hand_below_the_table(leap):
    m = DexSimple(leap, dataclasses.replace(TINY, table_frame=True, w_table=1.0))
    from dex1b_ros.hands import HandPose
    from dex1b_ros.rotation import matrix_to_rot6d
    pose = HandPose(torch.zeros(2, 3), matrix_to_rot6d(torch.eye(3).expand(2, 3, 3)), leap.open_pose_batch(2))
    c, r = leap.spheres(pose)
    low = float(c[..., 2].min() - r.max())
    high = float(c[..., 2].max())
    above = m.table_term(pose, torch.full((2,), low - 0.001))         # the table under every sphere
    below = m.table_term(pose, torch.full((2,), high + 0.01))         # every sphere under the table
    assert float(above) == 0.0 and float(below) > 0.0
    with pytest.raises(T.ConfigError, match="w_table"):
        GeneratorConfig(w_table=1.0)                                    # needs table_frame


def test_sampling_in_the_table_frame(leap):
    """A table_frame generator given ``up`` samples in the table frame and rotates back: the same
    cloud seen in a tilted frame gives the same grasps, tilted. Others ignore ``up``."""
    mesh = load_object("proc:box:1").mesh
    from dex1b_ros.geometry.pointcloud import sample_surface
    p, n = sample_surface(mesh, 128, seed=0, fps=True)
    up = np.array([0.3, -0.5, 0.8])
    M = rotation_to_z(up)                                               # tilted -> table frame
    pw, nw = p @ M, n @ M                                               # the cloud in the tilted frame
    torch.manual_seed(0)
    m = DexSimple(leap, dataclasses.replace(TINY, table_frame=True)).double().eval()
    ref = m.sample_detailed(p, n, 6, seed=3)
    got = m.sample_detailed(pw, nw, 6, seed=3, up=up)
    Mt = torch.as_tensor(M)
    torch.testing.assert_close(got.pose.trans, ref.pose.trans @ Mt)
    torch.testing.assert_close(got.pose.rotation, Mt.T @ ref.pose.rotation)
    torch.testing.assert_close(got.pose.q, ref.pose.q)
    torch.testing.assert_close(got.associated_point, ref.associated_point @ Mt)
    with pytest.raises(ValueError, match="up"):
        m.sample(pw, nw, 2, up=[0.0, 0.0, 0.0])
    free = DexSimple(leap, TINY).double().eval()
    a, b = free.sample(pw, nw, 4, seed=1, up=up), free.sample(pw, nw, 4, seed=1)
    torch.testing.assert_close(a.trans, b.trans)


def test_table_frame_trains_and_exports(leap, shards, tmp_path):
    from dex1b_ros.generator.load import load_generator
    model = dataclasses.replace(TINY, table_frame=True, w_table=10.0, w_prior=1.0, penetration="mesh")
    cfg = T.TrainConfig(model=model, steps=4, batch_size=8, objects_per_batch=2, partial_fraction=1.0,
                        views_per_object=1, rotation_augment="z", only_success=False, val_every=0, ckpt_every=0,
                        log_every=1, sdf_resolution=16, geom_points=64)
    res = T.train(leap, shards, tmp_path / "run", cfg, progress=False)
    assert res.data["table_records"] > 0
    assert all(np.isfinite(h["table"]) and np.isfinite(h["prior_table"]) for h in res.history)
    assert not any("@" in o for o in res.data["train_objects"])       # info names the source objects
    w = T.export_model(res, tmp_path / "model", cfg, "test")
    g = load_generator(w.parent, leap)
    assert g.cfg.table_frame and g.cfg.w_table == 10.0
    with pytest.raises(T.ConfigError, match="rotation_augment"):
        T.TrainConfig(model=model)                                      # so3 would turn the table
