"""DexSimple model: pose-vector normalisation, associated points, losses, seeded sampling."""
import time

import numpy as np
import pytest
import torch

from dex1b_ros.config_utils import ConfigError, from_dict
from dex1b_ros.generator.model import DexSimple, GeneratorConfig, associated_points
from dex1b_ros.hands import HandPose
from dex1b_ros.rotation import matrix_to_rot6d, random_rotations

torch.set_num_threads(1)
TINY = GeneratorConfig(n_points=64, point_mlp=(32,), point_feature=32, latent=8, hidden=(64, 64))


def random_pose(hand, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = hand.lower + (hand.upper - hand.lower) * torch.rand(n, hand.n_joints, generator=g)
    return HandPose(0.1 * torch.randn(n, 3, generator=g), matrix_to_rot6d(random_rotations(n, generator=g)), q)


def box_cloud(n=256, seed=0):
    from dex1b_ros.geometry.pointcloud import sample_surface
    from dex1b_ros.objects import make_object
    return sample_surface(make_object("box", 3).mesh, n, seed=seed, fps=True)


def test_pose_vector_round_trip(leap):
    m = DexSimple(leap, TINY)
    pose = random_pose(leap, 32)
    centre = torch.tensor([0.01, -0.02, 0.03])
    g = m.pose_to_vector(pose, centre)
    assert g.shape == (32, 9 + leap.n_joints)
    assert g[:, 9:].min() >= -1 - 1e-6 and g[:, 9:].max() <= 1 + 1e-6
    torch.testing.assert_close(g[:, :3], (pose.trans - centre) / TINY.trans_scale)
    back = m.vector_to_pose(g, centre)
    torch.testing.assert_close(back.trans, pose.trans, atol=1e-6, rtol=0)
    torch.testing.assert_close(back.rot6d, pose.rot6d, atol=1e-5, rtol=0)
    torch.testing.assert_close(back.q, pose.q, atol=1e-5, rtol=0)


def _ray(hand, pose):
    palm, _ = hand.palm_frame(pose)
    tips = hand.fingertips(pose)
    mid = 0.5 * (tips[:, hand.tip_names.index("thumb")] + tips[:, hand.tip_names.index("middle")])
    d = mid - palm
    return palm, d / d.norm(dim=-1, keepdim=True)


def test_associated_point_constructed_case(leap):
    pose = random_pose(leap, 3, seed=1)
    palm, d = _ray(leap, pose)
    # an arbitrary unit vector perpendicular to each ray
    perp = torch.linalg.cross(d, torch.tensor([0.3, 0.5, 0.8]).expand_as(d))
    perp = perp / perp.norm(dim=-1, keepdim=True)
    clouds = torch.stack([
        palm - 0.03 * d,                         # 0 behind the palm, on the line
        palm + 0.06 * d + 0.002 * perp,          # 1 first surface in front, near the ray  <- expected
        palm + 0.12 * d + 0.001 * perp,          # 2 far side of the object, even nearer the ray
        palm + 0.04 * d + 0.03 * perp,           # 3 close to the palm but off the ray
        palm + 0.02 * d + 0.05 * perp,           # 4
    ], 1)                                         # (B, 5, 3)
    idx, pt = associated_points(leap, pose, clouds, ray_radius=0.01)
    assert idx.tolist() == [1, 1, 1]
    torch.testing.assert_close(pt, clouds[:, 1])
    # nothing within ray_radius: the point nearest the ray (in front) wins
    idx2, _ = associated_points(leap, pose, clouds[:, [0, 3, 4]], ray_radius=0.01)
    assert idx2.tolist() == [1, 1, 1]
    # nothing in front: the point nearest the palm
    idx3, _ = associated_points(leap, pose, torch.stack([palm - 0.05 * d, palm - 0.02 * d], 1))
    assert idx3.tolist() == [1, 1, 1]


def test_associated_points_batch_equals_loop(leap):
    pose = random_pose(leap, 5, seed=2)
    cloud = torch.as_tensor(box_cloud(128)[0])
    idx, pt = associated_points(leap, pose, cloud)
    for i in range(5):
        j, p = associated_points(leap, pose[i:i + 1], cloud)
        assert j.item() == idx[i].item()
        torch.testing.assert_close(p[0], pt[i])


def test_losses_finite_and_gradients_reach_every_parameter(leap):
    torch.manual_seed(0)
    m = DexSimple(leap, TINY)
    pts, nrm = box_cloud(64)
    x, c = m.prepare_cloud(pts, nrm)
    pose = random_pose(leap, 6)
    pose.trans = pose.trans * 0.5
    g = m.pose_to_vector(pose, c[0])
    L = m.losses(x, c, torch.zeros(6, dtype=torch.long), torch.arange(6), g, torch.as_tensor(pts)[None])
    assert set(L) >= {"total", "rec_trans", "rec_rot", "rec_joints", "kl", "sdf", "contact"}
    assert all(torch.isfinite(v) for v in L.values())
    L["total"].backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing


def test_sdf_term_zero_when_clear_positive_when_penetrating(leap):
    m = DexSimple(leap, TINY)
    pose = random_pose(leap, 1, seed=3)
    centres, radii = leap.spheres(pose)
    far = centres[0, :1] + torch.tensor([[1.0, 1.0, 1.0]])       # one point 1.7 m away
    inside = centres[0, :1]                                        # a sphere centre itself
    sdf_far, _ = m.geometry_terms(pose, far[None].expand(1, -1, -1))
    sdf_in, _ = m.geometry_terms(pose, inside[None])
    assert sdf_far.item() == 0.0
    assert sdf_in.item() > 0.0


def test_sampling_seeded_shapes_and_joint_ranges(leap):
    torch.manual_seed(0)
    m = DexSimple(leap, GeneratorConfig()).eval()
    pts, nrm = box_cloud(1024)
    pts = pts + np.array([0.3, -0.2, 0.5], np.float32)          # a cloud away from the origin
    a = m.sample_detailed(pts, nrm, 200, seed=7)
    b = m.sample_detailed(pts, nrm, 200, seed=7)
    c = m.sample_detailed(pts, nrm, 200, seed=8)
    assert a.pose.trans.shape == (200, 3) and a.pose.rot6d.shape == (200, 6) and a.pose.q.shape == (200, 16)
    for k in ("trans", "rot6d", "q"):
        assert torch.equal(getattr(a.pose, k), getattr(b.pose, k))
    assert not torch.equal(a.pose.q, c.pose.q)
    assert torch.equal(a.associated_index, b.associated_index)
    assert (a.pose.q >= leap.lower - 1e-5).all() and (a.pose.q <= leap.upper + 1e-5).all()
    R = a.pose.rotation
    torch.testing.assert_close(R @ R.transpose(1, 2), torch.eye(3).expand(200, 3, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(a.associated_point, torch.as_tensor(pts)[a.associated_index], atol=1e-6, rtol=0)
    # an untrained model still puts wrists near the cloud (translation relative to the centroid)
    assert (a.pose.trans - torch.as_tensor(pts).mean(0)).norm(dim=-1).max() < 1.0


def test_sampling_counts_favour_unused_points(leap):
    m = DexSimple(leap, TINY).eval()
    pts, nrm = box_cloud(64)
    counts = np.full(64, 1e9)
    counts[5] = 0
    s = m.sample_detailed(pts, nrm, 50, associated_counts=counts, seed=0)
    assert (s.associated_index == 5).all()
    with pytest.raises(ValueError, match="counts/weights"):
        m.sample(pts, nrm, 5, associated_weights=np.zeros(64))
    with pytest.raises(ValueError, match="not both"):
        m.sample(pts, nrm, 5, associated_counts=counts, associated_weights=counts)


def test_sampling_speed_1000(leap):
    m = DexSimple(leap, GeneratorConfig()).eval()
    pts, nrm = box_cloud(1024)
    m.sample(pts, nrm, 1000, seed=0)                             # warm-up
    t = min(_timed(lambda: m.sample(pts, nrm, 1000, seed=1)) for _ in range(3))
    assert t < 0.1, f"1,000 samples took {t * 1000:.0f} ms"      # target < 100 ms on one CPU core


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def test_config_validation_names_field():
    with pytest.raises(ConfigError, match="latent"):
        from_dict(GeneratorConfig, {"latent": 0})
    with pytest.raises(ConfigError, match="hidden"):
        from_dict(GeneratorConfig, {"hidden": []})
    with pytest.raises(ConfigError, match="unknown field"):
        from_dict(GeneratorConfig, {"laten": 3})
    assert from_dict(GeneratorConfig, {"hidden": [8, 8], "beta": 0.1}).hidden == (8, 8)


def test_unknown_contact_finger_rejected(leap):
    with pytest.raises(ConfigError, match="contact_fingers"):
        DexSimple(leap, GeneratorConfig(contact_fingers=("pinky",)))


def test_mesh_penetration_term_sees_a_hand_buried_in_the_object(leap):
    """A hand inside a large ball (no surface sample in any sphere): the Dex1B point-sphere term
    reads 0, the mesh-SDF one (``penetration: mesh``) is positive; the losses need the SDF then."""
    from dataclasses import replace

    import trimesh

    from dex1b_ros.geometry.pointcloud import sample_surface
    from dex1b_ros.geometry.sdf import SDFGrid
    pose = random_pose(leap, 1, seed=3)
    centres, _ = leap.spheres(pose)
    mid = centres[0].mean(0).double()
    ball = trimesh.creation.icosphere(3, radius=0.4)
    ball.apply_translation(mid.numpy())
    pts, nrm = sample_surface(ball, 512, seed=0, fps=True)
    cloud = torch.as_tensor(pts, dtype=centres.dtype)[None]
    grid = SDFGrid.from_mesh(ball, resolution=24)
    m = DexSimple(leap, replace(TINY, penetration="mesh"))
    sdf_cloud, _ = m.geometry_terms(pose, cloud)
    sdf_mesh, _ = m.geometry_terms(pose, cloud, lambda p: grid.query(p, with_grad=False)[0].to(p.dtype))
    assert sdf_cloud.item() == 0.0
    assert sdf_mesh.item() > 10.0          # every sphere ~0.3-0.4 m deep: sum of (depth / 0.1 m)^2
    x, c = m.prepare_cloud(pts, nrm)
    g = m.pose_to_vector(pose, c[0])
    with pytest.raises(ValueError, match="mesh_sdf"):
        m.losses(x, c, torch.zeros(1, dtype=torch.long), torch.arange(1), g, torch.as_tensor(pts)[None])


def test_penetration_config_checked():
    with pytest.raises(ConfigError, match="penetration"):
        GeneratorConfig(penetration="deep")


def test_prior_geometry_terms(leap):
    """w_prior > 0: the geometry terms of one prior sample per grasp join the loss (and its gradient
    reaches the decoder); 0: no such terms (Dex1B's loss)."""
    from dataclasses import replace
    pts, nrm = box_cloud(64)
    pose = random_pose(leap, 6)
    pose.trans = pose.trans * 0.5
    for w in (0.0, 1.0):
        torch.manual_seed(0)
        m = DexSimple(leap, replace(TINY, w_prior=w))
        x, c = m.prepare_cloud(pts, nrm)
        L = m.losses(x, c, torch.zeros(6, dtype=torch.long), torch.arange(6), m.pose_to_vector(pose, c[0]),
                     torch.as_tensor(pts)[None])
        assert ("prior_contact" in L) == (w > 0)
        if w > 0:
            assert torch.isfinite(L["prior_sdf"]) and L["prior_contact"] > 0
            (g,) = torch.autograd.grad(L["prior_contact"], m.decoder[0].weight)
            assert g.abs().sum() > 0


def test_association_term_constructed_case(leap):
    """(perp / s)^2 + relu(-t / s)^2 of a point on, off and behind each pose's palm ray."""
    m = DexSimple(leap, TINY)
    pose = random_pose(leap, 3, seed=2)
    palm, d = _ray(leap, pose)
    perp = torch.linalg.cross(d, torch.tensor([0.3, 0.5, 0.8]).expand_as(d))
    perp = perp / perp.norm(dim=-1, keepdim=True)
    s = TINY.trans_scale
    one = lambda pt, k: m.association_term(HandPose(pose.trans[k:k + 1], pose.rot6d[k:k + 1], pose.q[k:k + 1]),  # noqa: E731
                                           pt[k:k + 1]).item()
    for k in range(3):
        assert one(palm + 0.07 * d, k) == pytest.approx(0.0, abs=1e-9)                  # on the ray, in front
        assert one(palm + 0.07 * d + 0.02 * perp, k) == pytest.approx((0.02 / s) ** 2, rel=1e-4)
        assert one(palm - 0.05 * d, k) == pytest.approx((0.05 / s) ** 2, rel=1e-4)       # behind the palm


def test_association_term_in_the_loss(leap):
    """w_assoc > 0 (with w_prior): the prior samples' association term joins the loss, with a finite
    gradient into the decoder; without w_prior it is refused, naming the field."""
    from dataclasses import replace
    with pytest.raises(ConfigError, match="w_assoc"):
        GeneratorConfig(w_assoc=1.0)
    pts, nrm = box_cloud(64)
    pose = random_pose(leap, 6)
    pose.trans = pose.trans * 0.5
    torch.manual_seed(0)
    m = DexSimple(leap, replace(TINY, w_prior=1.0, w_assoc=10.0))
    x, c = m.prepare_cloud(pts, nrm)
    L = m.losses(x, c, torch.zeros(6, dtype=torch.long), torch.arange(6), m.pose_to_vector(pose, c[0]),
                 torch.as_tensor(pts)[None])
    assert L["prior_assoc"] > 0
    (g,) = torch.autograd.grad(L["total"], m.decoder[0].weight)
    assert torch.isfinite(g).all() and g.abs().sum() > 0
