"""Energy terms: zero/low where they should be, large where they should be, gradients sane."""
import pytest
import torch

from dex1b_ros.hands import HandPose
from dex1b_ros.objects import make_object
from dex1b_ros.optim import EnergyWeights, GraspOptimizer, ObjectField, grasp_energy
from dex1b_ros.rotation import look_at_rotation, matrix_to_rot6d


@pytest.fixture(scope="module")
def box_field():
    return ObjectField.from_mesh(make_object("box", 0, size=0.08).mesh, resolution=48)


def _facing(hand, field, distance, n=1):
    """Hands whose palm centre is ``distance`` m above the top of the box, palm facing down."""
    dt = hand.dtype
    top = float(field.points[:, 2].max())
    R_hand = look_at_rotation(hand.approach[None].to(dt))[0]
    R = look_at_rotation(torch.tensor([[0.0, 0.0, -1.0]], dtype=dt)) @ R_hand.T
    palm = torch.tensor([0.0, 0.0, top + distance], dtype=dt)
    trans = palm - R[0] @ hand.palm_center
    return HandPose(trans.expand(n, 3).clone(), matrix_to_rot6d(R).expand(n, 6).clone(),
                    hand.open_pose.expand(n, -1).clone())


def _all(hand, n=1):
    return torch.ones(n, len(hand.tip_names), dtype=torch.bool)


def test_far_hand_has_no_penetration_and_large_contact_distance(hand, box_field):
    e = grasp_energy(hand, box_field, _facing(hand, box_field, 0.15), _all(hand), EnergyWeights())
    assert float(e["pen"][0]) == 0.0 and float(e["spen"][0]) == 0.0 and float(e["joints"][0]) == 0.0
    assert float(e["dis"][0]) > 4 * 0.08  # every finger is centimetres away


def test_hand_pushed_into_the_box_penetrates(hand, box_field):
    near = grasp_energy(hand, box_field, _facing(hand, box_field, 0.01), _all(hand), EnergyWeights())
    deep = grasp_energy(hand, box_field, _facing(hand, box_field, -0.03), _all(hand), EnergyWeights())
    assert float(deep["pen"][0]) > 0.1  # many spheres, centimetres deep
    assert float(deep["pen"][0]) > 10 * float(near["pen"][0])


def test_joint_limit_term_positive_outside_limits(hand, box_field):
    pose = _facing(hand, box_field, 0.1)
    pose.q = pose.q.clone()
    pose.q[0, 0] = hand.upper[0] + 0.3
    e = grasp_energy(hand, box_field, pose, _all(hand), EnergyWeights())
    assert float(e["joints"][0]) == pytest.approx(0.3, abs=1e-4)


def test_gradients_are_finite_and_point_the_right_way(hand, box_field):
    """Penetration pushes the hand up (out of the box); contact distance pulls it down."""
    x = _facing(hand, box_field, -0.01).pack().requires_grad_(True)
    e = grasp_energy(hand, box_field, HandPose.unpack(x), _all(hand), EnergyWeights())
    e["pen"].sum().backward()
    assert torch.isfinite(x.grad).all()
    assert float(x.grad[0, 2]) < 0  # increasing z reduces penetration
    y = _facing(hand, box_field, 0.05).pack().requires_grad_(True)
    e = grasp_energy(hand, box_field, HandPose.unpack(y), _all(hand), EnergyWeights())
    e["dis"].sum().backward()
    assert torch.isfinite(y.grad).all()
    assert float(y.grad[0, 2]) > 0  # decreasing z brings the fingers to the surface


def test_force_closure_balances_thumb_against_two_fingers():
    """Thumb opposing two parallel fingers can balance (the thumb presses twice as hard);
    three contacts pushing the same way cannot."""
    from dex1b_ros.optim.energy import force_closure
    c = torch.zeros(3)
    x = torch.tensor([[[0.04, 0.01, 0], [0.04, -0.01, 0], [-0.04, 0.0, 0]]])
    n_opp = torch.tensor([[[-1.0, 0, 0], [-1.0, 0, 0], [1.0, 0, 0]]])
    n_same = torch.tensor([[[-1.0, 0, 0], [-1.0, 0, 0], [-1.0, 0, 0]]])
    act = torch.ones(1, 3)
    assert float(force_closure(x, n_opp, act, c, 0.04)) < 1e-3
    assert float(force_closure(x, n_same, act, c, 0.04)) > 2.5
    # an inactive finger does not count
    assert float(force_closure(x[:, :2], n_opp[:, :2], torch.ones(1, 2), c, 0.04)) > 1.0


def test_table_term_penalises_spheres_below_the_support_plane(hand, box_field):
    """A support plane just under the hand: the term is zero when the plane is far below and
    grows when the plane is raised into the hand."""
    pose = _facing(hand, box_field, 0.05)
    low = grasp_energy(hand, box_field.with_plane([0, 0, 1.0, 1.0]), pose, _all(hand), EnergyWeights())
    high = grasp_energy(hand, box_field.with_plane([0, 0, 1.0, -0.2]), pose, _all(hand), EnergyWeights())
    assert float(low["table"][0]) == 0.0 and float(high["table"][0]) > 0.1
    plain = grasp_energy(hand, box_field, pose, _all(hand), EnergyWeights())
    assert float(plain["table"][0]) == 0.0


def test_synthesis_with_a_table_keeps_hands_above_it(hand, box_field):
    """Box on a table at its bottom face: every accepted grasp has all spheres above the table."""
    bottom = float(box_field.points[:, 2].min())
    f = box_field.with_plane([0, 0, 1.0, -bottom])
    opt = GraspOptimizer(hand, f)
    from dex1b_ros.optim import synthesis_config
    gs = opt.synthesize(32, synthesis_config(steps=80, seed=0))
    with torch.no_grad():
        c, r = hand.spheres(gs.pose(hand))
    h = f.height(c) - r
    acc = torch.as_tensor(gs.accepted)
    if acc.any():
        assert float(h[acc].min()) > -0.002
    assert float(torch.median(h.min(-1).values)) > -0.01  # most hands start and stay above the table


def _full_collision(hand, field, pose):
    """Reference: every sphere and sparse surface sample, no culling."""
    T = hand.link_poses_palm(pose.q)
    c, r = hand.spheres(pose, T)
    sd_s = field.sdf(c)
    sd_p = field.sdf(hand.surface_points(pose, T, sparse=True))
    table = torch.relu(r - field.height(c)).sum(-1) if field.plane is not None else torch.zeros(len(c))
    deepest = torch.minimum((sd_s - r).min(-1).values, sd_p.min(-1).values)
    return torch.relu(r - sd_s).sum(-1), torch.relu(-sd_p).sum(-1), table, deepest


@pytest.mark.parametrize("plane", [False, True])
def test_culled_collision_equals_the_full_sum(hand, box_field, plane):
    from dex1b_ros.optim.energy import collision_terms
    field = box_field.with_plane([0, 0, 1, -float(box_field.points[:, 2].min()) + 0.01]) if plane else box_field
    g = torch.Generator().manual_seed(2)
    n = 96
    base = _facing(hand, field, 0.0, n)
    base.trans = base.trans + 0.03 * torch.randn(n, 3, generator=g, dtype=hand.dtype)
    base.q = hand.clamp_joints(base.q + 0.4 * torch.randn(n, hand.n_joints, generator=g, dtype=hand.dtype))
    xa = base.pack().requires_grad_(True)
    pa = HandPose.unpack(xa)
    ref = _full_collision(hand, field, pa)
    ga, = torch.autograd.grad(sum(t.sum() for t in ref[:3]), xa)
    xb = base.pack().requires_grad_(True)
    pb = HandPose.unpack(xb)
    got = collision_terms(hand, field, pb, hand.link_poses_palm(pb.q))
    gb, = torch.autograd.grad(sum(t.sum() for t in got[:3]), xb)
    assert (ref[0] > 0).float().mean() > 0.3 and (ref[1] > 0).any()   # penetrating and clear grasps both present
    assert (ref[0] == 0).any()
    if plane:
        assert (ref[2] > 0).any()
    for a, b in zip(ref[:3], got[:3]):
        assert torch.allclose(a, b, atol=1e-5)
    pen = ref[3] < 0
    assert torch.allclose(ref[3][pen], got[3][pen], atol=1e-6)
    assert torch.allclose(ga, gb, atol=1e-3, rtol=1e-4)


def test_culled_collision_of_a_far_hand_is_zero(hand, box_field):
    from dex1b_ros.optim.energy import collision_terms
    pose = _facing(hand, box_field, 0.3, 4)
    pen, surf, table, deepest = collision_terms(hand, box_field, pose, hand.link_poses_palm(pose.q))
    assert float(pen.abs().sum() + surf.abs().sum() + table.abs().sum()) == 0.0
    assert torch.isinf(deepest).all() or (deepest > 0.1).all()
