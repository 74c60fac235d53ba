"""Synthesis and refinement: real optimisation on real meshes, checked with the exact SDF."""
import numpy as np
import pytest
import torch

from dex1b_ros.objects import make_object
from dex1b_ros.optim import GraspOptimizer, ObjectField, refinement_config, synthesis_config
from dex1b_ros.optim.metrics import exact_grasp_metrics


@pytest.fixture(scope="module")
def box():
    return make_object("box", 0, size=0.08).mesh


@pytest.fixture(scope="module")
def cylinder():
    return make_object("cylinder", 1, size=0.09).mesh


@pytest.mark.slow
@pytest.mark.parametrize("obj", ["box", "cylinder"])
def test_synthesis_gives_touching_non_penetrating_grasps(hand, obj, request):
    mesh = request.getfixturevalue(obj)
    opt = GraspOptimizer(hand, ObjectField.from_mesh(mesh, resolution=64))
    gs = opt.synthesize(96, synthesis_config(steps=250, seed=1))
    acc = gs.select(gs.accepted)
    assert len(acc) >= 5, f"only {len(acc)} of 96 accepted"
    m = exact_grasp_metrics(hand, mesh, acc)
    # checked against the exact mesh SDF, not the grid that was optimised
    assert np.median(m["contact_distance"]) < 0.004 and (m["contact_distance"] < 0.008).mean() > 0.9
    assert (m["penetration"] < 0.002).mean() > 0.9, np.sort(m["penetration"])[-5:]
    # squeeze closes relative to grasp, pregrasp opens toward the open pose
    assert (np.abs(acc.squeeze - acc.grasp).max(-1) > 0).all()
    open_q = hand.open_pose.cpu().numpy()
    assert (np.abs(acc.pregrasp - open_q).sum(-1) < np.abs(acc.grasp - open_q).sum(-1) + 1e-6).all()


def test_refinement_reduces_penetration_of_perturbed_grasps(hand, box):
    opt = GraspOptimizer(hand, ObjectField.from_mesh(box, resolution=48))
    start = opt.synthesize(48, synthesis_config(steps=120, seed=2))
    pose = start.pose(hand)
    # push each hand 6 mm along its approach (into the object) and jitter the joints
    g = torch.Generator().manual_seed(3)
    _, approach = hand.palm_frame(pose)
    pose.trans = pose.trans + 0.006 * approach
    pose.q = hand.clamp_joints(pose.q + 0.05 * torch.randn(pose.q.shape, generator=g, dtype=pose.q.dtype))
    before = opt._finish(pose, opt.active_from_start(pose, refinement_config()), refinement_config(), 0.0)
    after = opt.refine(pose, refinement_config())
    hit = before.energy["pen"] > 1e-4
    assert hit.sum() >= 10
    assert (after.energy["pen"][hit] < before.energy["pen"][hit]).all()
    assert after.energy["pen"].mean() < 0.3 * before.energy["pen"].mean()
    # and stays close to where it started
    assert np.linalg.norm(after.trans - pose.trans.numpy(), axis=1).max() < 0.03


def test_results_are_seeded_and_deterministic(hand, box):
    opt = GraspOptimizer(hand, ObjectField.from_mesh(box, resolution=32))
    a = opt.synthesize(8, synthesis_config(steps=20, seed=5))
    b = opt.synthesize(8, synthesis_config(steps=20, seed=5))
    np.testing.assert_array_equal(a.grasp, b.grasp)
    np.testing.assert_array_equal(a.trans, b.trans)


def test_cloud_field_matches_mesh_field_near_the_surface(box):
    from dex1b_ros.geometry.pointcloud import sample_surface
    p, n = sample_surface(box, 4096, seed=0)
    fc = ObjectField.from_cloud(p, n, resolution=48)
    fm = ObjectField.from_mesh(box, resolution=48)
    q = torch.as_tensor(p[:500] + 0.01 * n[:500])
    assert float((fc.sdf(q) - fm.sdf(q)).abs().max()) < 0.004


def test_successive_halving_keeps_the_kept_grasps_trajectories(hand, box):
    """prune_at/prune_keep: the kept half ends exactly where it would without pruning; the rest
    stop where they were at the prune step (returned, in place), and cost less time."""
    opt = GraspOptimizer(hand, ObjectField.from_mesh(box, resolution=32))
    start = opt.synthesize(16, synthesis_config(steps=30, seed=4))
    pose = start.pose(hand)
    g = torch.Generator().manual_seed(1)
    pose.q = hand.clamp_joints(pose.q + 0.1 * torch.randn(pose.q.shape, generator=g, dtype=pose.q.dtype))
    full = opt.refine(pose, refinement_config(steps=20))
    half = opt.refine(pose, refinement_config(steps=20, prune_at=0.25, prune_keep=0.5))
    assert len(half) == len(full) == 16
    same = np.isclose(half.grasp, full.grasp, atol=1e-5).all(1) & np.isclose(half.trans, full.trans, atol=1e-6).all(1)
    assert same.sum() == 8, same          # the kept 8 continue exactly as before ...
    # ... the others were refined for the first 5 of the 20 steps only: moved, but not to the same place
    moved = np.linalg.norm(half.grasp - pose.q.numpy(), axis=1)
    assert (moved[~same] > 1e-4).all()
    # the default keeps every sample
    assert np.array_equal(opt.refine(pose, refinement_config(steps=20)).grasp, full.grasp)


@pytest.mark.parametrize("bad", [{"prune_at": 1.0}, {"prune_at": -0.1}, {"prune_keep": 0.0}, {"prune_keep": 1.5}])
def test_pruning_settings_are_checked(bad):
    from dex1b_ros.config_utils import ConfigError
    with pytest.raises(ConfigError, match=next(iter(bad))):
        refinement_config(**bad)


def _lowest_clearance(hand, field, pose, q):
    """(B,) m: the lowest hand sphere's height above the field's support plane at joints q."""
    from dex1b_ros.hands import HandPose
    c, r = hand.spheres(HandPose(pose.trans, pose.rot6d, torch.as_tensor(q, dtype=pose.trans.dtype)))
    return (field.height(c) - r).amin(-1).numpy()


def test_pregrasp_opens_only_as_far_as_the_hand_stays_above_the_table(hand, box):
    """With a support plane, opening the fingers must not push them into the table: the pregrasp
    goes no deeper below the plane than the grasp itself (+1 mm); hands high above the table, and
    every hand without a plane, get the full ``pregrasp_open``."""
    field = ObjectField.from_mesh(box, resolution=32)
    opt = GraspOptimizer(hand, field)
    gs = opt.synthesize(48, synthesis_config(steps=60, seed=4))
    pose = gs.pose(hand)
    full = pose.q + hand.cfg.pregrasp_open * (hand.open_pose - pose.q)
    pre0, app0 = opt.postures(pose)                                                      # no plane
    np.testing.assert_allclose(pre0.numpy(), full.numpy(), atol=1e-6)
    np.testing.assert_allclose(app0.numpy(), hand.open_pose.expand_as(pose.q).numpy())
    # a table at the height of the grasps' lowest fingers: many open hands would reach into it
    z = float(np.median(gs.trans[:, 2]))
    tabled = GraspOptimizer(hand, field.with_plane([0.0, 0.0, 1.0, -z]))
    pre, app = tabled.postures(pose)
    cg = _lowest_clearance(hand, tabled.field, pose, pose.q)
    cfull = _lowest_clearance(hand, tabled.field, pose, full)
    cpre = _lowest_clearance(hand, tabled.field, pose, pre)
    assert (cfull < np.minimum(cg, 0) - 0.001).sum() >= 5, "the test needs hands that open into the table"
    assert (cpre >= np.minimum(cg, 0) - 0.001 - 1e-6).all()
    # the pregrasp stays on the grasp -> open segment, and opens fully where that is harmless
    frac = ((pre - pose.q) * (hand.open_pose - pose.q)).sum(-1) / ((hand.open_pose - pose.q) ** 2).sum(-1)
    assert ((frac >= -1e-5) & (frac <= hand.cfg.pregrasp_open + 1e-5)).all()
    free = cfull >= np.minimum(cg, 0) - 0.001
    assert free.any()
    np.testing.assert_allclose(pre[free].numpy(), full[free].numpy(), atol=1e-6)
    # off: the free-space pregrasp even with a plane
    pre_off, app_off = tabled.postures(pose, above_table=False)
    np.testing.assert_allclose(pre_off.numpy(), full.numpy(), atol=1e-6)
    np.testing.assert_allclose(app_off.numpy(), hand.open_pose.expand_as(pose.q).numpy())
    # the approach posture (the trajectory's first point): at least as open as the pregrasp, fully
    # open where that stays above the table, never deeper than the grasp
    capp = _lowest_clearance(hand, tabled.field, pose, app)
    assert (capp >= np.minimum(cg, 0) - 0.001 - 1e-6).all()
    d = hand.open_pose - pose.q
    a_app = ((app - pose.q) * d).sum(-1) / (d * d).sum(-1)
    assert (a_app >= frac - 1e-5).all() and (a_app <= 1 + 1e-5).all()
    wide = _lowest_clearance(hand, tabled.field, pose, hand.open_pose.expand_as(pose.q)) >= np.minimum(cg, 0) - 0.001
    assert wide.any() and (~wide).any()
    np.testing.assert_allclose(app[wide].numpy(), hand.open_pose.expand_as(pose.q)[wide].numpy(), atol=1e-5)
    # and what the planner hands out carries it
    out = tabled._finish(pose, tabled.active_from_start(pose, refinement_config()), refinement_config(), 0.0)
    np.testing.assert_allclose(out.approach, app.numpy(), atol=1e-5)
    assert out.select(np.arange(3)).approach.shape == (3, pose.q.shape[1])
    free_out = opt._finish(pose, opt.active_from_start(pose, refinement_config()), refinement_config(), 0.0)
    np.testing.assert_allclose(free_out.approach, hand.open_pose.expand_as(pose.q).numpy(), atol=1e-6)


def test_balanced_squeeze_presses_every_contact_with_forces_that_cancel(hand, box):
    opt = GraspOptimizer(hand, ObjectField.from_mesh(box, resolution=48))
    gs = opt.synthesize(32, synthesis_config(steps=150, seed=4))
    pose = gs.pose(hand)
    active = torch.as_tensor(gs.active)
    idx, force, pts = opt.balanced_forces(pose, active)
    many = active.sum(-1) >= 2
    assert many.sum() >= 8
    # the chosen magnitudes cancel the net force better than equal ones (the uniform squeeze's ideal)
    unit = force / force.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    net_bal = force.sum(1).norm(dim=-1)[many]
    net_eq = unit.sum(1).norm(dim=-1)[many]
    assert (net_bal <= net_eq + 1e-5).all() and net_bal.mean() < 0.8 * net_eq.mean()
    assert torch.all(force.norm(dim=-1)[~active] == 0)
    # the joints move by at most delta (the largest exactly) and push the contacts into the object
    delta = 0.1
    sq = opt.squeeze_balanced(pose, active, delta)
    dq = (sq - pose.q).abs().amax(-1)
    assert torch.all(dq <= delta + 1e-5)
    assert (dq[many] > delta - 2e-3).float().mean() > 0.7        # less only where a joint limit clips it
    p_sq, _ = hand.contact_candidates(type(pose)(pose.trans, pose.rot6d, sq))
    p_sq = torch.gather(p_sq, 1, idx[..., None].expand(len(sq), -1, 3))
    moved_along_force = ((p_sq - pts) * force).sum((1, 2))
    assert (moved_along_force[many] > 0).all()
