"""HandModel: kinematics against MuJoCo, batching, gradients, spheres, contacts, energies."""
import mujoco
import numpy as np
import pytest
import torch
import trimesh

from dex1b_ros.hands import HandPose, load_hand
from dex1b_ros.rotation import matrix_to_rot6d, quat_to_matrix, random_rotations


def _random_q(hand, n, seed):
    g = torch.Generator().manual_seed(seed)
    return hand.lower + (hand.upper - hand.lower) * torch.rand(n, hand.n_joints, generator=g, dtype=hand.dtype)


def _rot_err(Ra, Rb):
    c = (np.trace(Ra.T @ Rb) - 1) / 2
    return float(np.arccos(np.clip(c, -1, 1)))


@pytest.fixture(scope="module", params=["leap", "allegro"])
def hand64(request):
    return load_hand(request.param, dtype=torch.float64)


def test_fk_matches_mujoco_body_poses(hand64):
    """Random joint configurations and a random wrist pose: every link pose equals MuJoCo's."""
    rng = np.random.default_rng(1)
    q = _random_q(hand64, 8, seed=2)
    wrist_q = rng.normal(size=4)
    wrist_q /= np.linalg.norm(wrist_q)
    wrist_t = rng.uniform(-0.3, 0.3, size=3)
    # MuJoCo reference: the same MJCF with the palm placed at the wrist pose
    spec = hand64.spec.copy()
    spec.body(hand64.cfg.root_body).pos = wrist_t
    spec.body(hand64.cfg.root_body).quat = wrist_q
    m = spec.compile()
    d = mujoco.MjData(m)
    R = quat_to_matrix(torch.as_tensor(wrist_q)[None])
    pose = HandPose(torch.as_tensor(wrist_t)[None].expand(8, 3), matrix_to_rot6d(R).expand(8, 6), q)
    T = hand64.link_poses(pose).numpy()
    max_pos, max_rot = 0.0, 0.0
    for b in range(8):
        for name, v in zip(hand64.joint_names, q[b].numpy()):
            d.qpos[m.joint(name).qposadr[0]] = v
        mujoco.mj_kinematics(m, d)
        for li, link in enumerate(hand64.link_names):
            bid = m.body(link).id
            max_pos = max(max_pos, float(np.abs(T[b, li, :3, 3] - d.xpos[bid]).max()))
            max_rot = max(max_rot, _rot_err(T[b, li, :3, :3], d.xmat[bid].reshape(3, 3)))
    assert max_pos < 1e-5, f"max link position error {max_pos:.2e} m"
    assert max_rot < 1e-4, f"max link rotation error {max_rot:.2e} rad"


def test_batched_fk_equals_loop(hand):
    q = _random_q(hand, 16, seed=3)
    batched = hand.link_poses_palm(q)
    single = torch.cat([hand.link_poses_palm(q[i:i + 1]) for i in range(16)])
    torch.testing.assert_close(batched, single, atol=1e-6, rtol=0)


def test_gradients_reach_joints_and_wrist(hand64):
    """Autograd (pytorch_kinematics' analytical backward) equals central differences."""
    n = 3
    q = _random_q(hand64, n, seed=4)
    R = random_rotations(n, torch.Generator().manual_seed(5), dtype=torch.float64)
    x = HandPose(torch.randn(n, 3, dtype=torch.float64) * 0.1, matrix_to_rot6d(R), q).pack().requires_grad_(True)
    w = torch.randn(hand64.sphere_center.shape[0], 3, dtype=torch.float64)

    def f(xx):
        c, _ = hand64.spheres(HandPose.unpack(xx))
        return (c * w).sum()

    f(x).backward()
    g = x.grad
    assert torch.isfinite(g).all()
    assert (g[:, :3].abs() > 0).all() and (g[:, 3:9].abs().sum(-1) > 0).all() and (g[:, 9:].abs().sum(-1) > 0).all()
    num = torch.zeros_like(g)
    h = 1e-6
    with torch.no_grad():
        for i in range(x.shape[1]):
            e = torch.zeros_like(x)
            e[:, i] = h
            rows = [e * (k == torch.arange(n))[:, None] for k in range(n)]   # perturb grasp k only
            num[:, i] = torch.stack([(f(x + r) - f(x - r)) / (2 * h) for r in rows])
    torch.testing.assert_close(g, num, atol=1e-5, rtol=1e-4)


def test_joint_limits_parsed_exactly(hand):
    m = mujoco.MjModel.from_xml_path(str(hand.mjcf_path))  # the untouched model file
    for i, name in enumerate(hand.joint_names):
        lo, hi = m.jnt_range[m.joint(name).id]
        assert hand.lower_np[i] == lo and hand.upper_np[i] == hi  # exact (float64)
        assert float(hand.lower[i]) == float(torch.tensor(lo, dtype=hand.dtype))
        assert float(hand.upper[i]) == float(torch.tensor(hi, dtype=hand.dtype))


def _dist_to_spheres(p, c, r):
    return (np.linalg.norm(p[:, None] - c[None], axis=-1) - r[None]).min(1)


def test_spheres_cover_and_stay_inside_collision_geometry(hand):
    """Fresh surface samples of every collision geom lie near the sphere union, and no sphere
    sticks out of the geometry by more than the configured protrusion (exact mesh distance)."""
    sc = hand.cfg.spheres
    c_all, r_all = hand.sphere_center.double().numpy(), hand.sphere_radius.double().numpy()
    link = hand.sphere_link.numpy()
    rng = np.random.default_rng(11)
    covered_area, area = 0.0, 0.0
    for li, name in enumerate(hand.link_names):
        if name not in hand.geoms:
            assert not (link == li).any()
            continue
        sel = link == li
        assert 1 <= sel.sum() <= max(sc.max_per_link, sc.link_max.get(name, 0))
        union = trimesh.util.concatenate([g.mesh for g in hand.geoms[name]])
        p, _ = trimesh.sample.sample_surface(union, 3000, seed=int(rng.integers(1 << 30)))
        inside_other = np.max([-trimesh.proximity.signed_distance(g.mesh, p) for g in hand.geoms[name]], 0) < -5e-4
        p = p[~inside_other]  # keep the union's outer surface
        frac = float((_dist_to_spheres(p, c_all[sel], r_all[sel]) <= sc.tolerance).mean())
        assert frac >= 0.75, f"{hand.name}/{name}: only {frac:.2f} of the surface within {sc.tolerance} m of a sphere"
        covered_area += frac * union.area
        area += union.area
        # protrusion: points on each sphere's surface vs the exact distance to the geoms
        dirs = rng.normal(size=(64, 3))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        sp = (c_all[sel][:, None] + r_all[sel][:, None, None] * dirs[None]).reshape(-1, 3)
        outside = -np.max([trimesh.proximity.signed_distance(g.mesh, sp) for g in hand.geoms[name]], 0)
        assert outside.max() <= sc.protrusion + 5e-4, \
            f"{hand.name}/{name}: a sphere sticks out {outside.max() * 1e3:.2f} mm"
    assert covered_area / area >= 0.85


def test_contact_candidates_face_the_pads(hand):
    """Contact normals are outward unit normals within the pad cone of their link."""
    n = hand.contact_normal.double()
    assert torch.allclose(n.norm(dim=-1), torch.ones(len(n), dtype=torch.float64), atol=1e-6)
    cos = np.cos(np.radians(hand.cfg.contacts.pad_cone_deg))
    for name in hand.cfg.contacts.links:
        li = hand.link_names.index(name)
        sel = (hand.contact_link == li)
        assert int(sel.sum()) == hand.cfg.contacts.points_per_link
        pad = torch.as_tensor(hand.pad_direction[name], dtype=torch.float64)
        assert (n[sel] @ pad >= cos - 1e-6).all()
        # points lie on the collision surface of their link
        depth = np.max([g.depth(hand.contact_point[sel].double().numpy()) for g in hand.geoms[name]], 0)
        assert np.abs(depth).max() < 1e-3


def test_finger_pads_face_the_palm_side_when_open(hand):
    """In the open pose, non-thumb pads point along the approach direction (the way the palm faces)."""
    pose = HandPose(torch.zeros(1, 3, dtype=hand.dtype), matrix_to_rot6d(torch.eye(3, dtype=hand.dtype)[None]),
                    hand.open_pose[None])
    _, normals = hand.contact_candidates(pose)
    thumb_links = {hand.link_names.index(n) for n in hand.cfg.contacts.links if n.startswith("th")}
    fingers = torch.tensor([int(li) not in thumb_links for li in hand.contact_link])
    dots = normals[0, fingers] @ hand.approach
    assert dots.mean() > 0.7, dots


def test_self_penetration_zero_when_open_positive_when_fingers_cross(hand):
    assert float(hand.self_penetration(hand.open_pose[None])[0]) == 0.0
    sp = hand.self_penetration(_random_q(hand, 512, seed=6))
    assert (sp >= 0).all() and (sp > 1e-3).any()


def test_joint_limit_violation_is_exact_hinge(hand):
    q = hand.open_pose[None].repeat(2, 1)
    assert float(hand.joint_limit_violation(q[:1])[0]) == 0.0
    q[1, 0] = hand.upper[0] + 0.2
    q[1, 1] = hand.lower[1] - 0.1
    assert float(hand.joint_limit_violation(q)[1]) == pytest.approx(0.3, abs=1e-5)


def test_pose_pack_roundtrip_and_normalisation(hand):
    q = _random_q(hand, 5, seed=7)
    R = random_rotations(5, torch.Generator().manual_seed(8), dtype=hand.dtype)
    pose = HandPose(torch.randn(5, 3, dtype=hand.dtype), matrix_to_rot6d(R), q)
    back = HandPose.unpack(pose.pack())
    torch.testing.assert_close(back.rotation, R, atol=1e-5, rtol=0)
    torch.testing.assert_close(hand.denormalize_joints(hand.normalize_joints(q)), q, atol=1e-5, rtol=0)
    u = hand.normalize_joints(q)
    assert (u >= -1 - 1e-6).all() and (u <= 1 + 1e-6).all()


def test_palm_center_is_on_the_palm_and_approach_unit(hand):
    a = hand.approach.double()
    assert abs(float(a.norm()) - 1) < 1e-6
    depth = np.max([g.depth(hand.palm_center.double().numpy()[None]) for g in hand.geoms[hand.cfg.root_body]], 0)
    assert abs(float(depth[0])) < 2e-3  # on the palm surface


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(hand):
    q = _random_q(hand, 4, seed=9)
    cpu = hand.self_penetration(q)
    hand.to("cuda")
    try:
        gpu = hand.self_penetration(q.cuda()).cpu()
    finally:
        hand.to("cpu")
    torch.testing.assert_close(cpu, gpu, atol=1e-5, rtol=1e-4)
