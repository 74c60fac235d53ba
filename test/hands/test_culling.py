"""Spatial chunks and culled energies: the culled sums equal the full (unculled) sums."""
import numpy as np
import torch

from dex1b_ros.hands.culling import chunk_pairs, chunk_points


def test_chunks_hold_every_point_once_and_bound_it():
    rng = np.random.default_rng(0)
    link = np.repeat(np.arange(3), [5, 40, 17])
    pts = rng.normal(size=(len(link), 3)) * 0.02
    rad = rng.uniform(0, 0.01, len(link))
    kind = np.ones(len(link), np.int64)
    ch = chunk_points(link, pts, rad, kind, size=8)
    real = ch.kind > 0
    assert int(real.sum()) == len(link) and ch.points.shape[1] == 8
    got = ch.points[real].numpy()
    assert sorted(map(tuple, np.round(got, 9))) == sorted(map(tuple, np.round(pts, 9)))
    for v in range(len(ch.link)):                       # one link per chunk, bound covers points + radii
        m = real[v]
        p, r = ch.points[v][m], ch.radius[v][m]
        assert ((p - ch.center[v]).norm(dim=-1) + r <= ch.bound[v] + 1e-9).all()
        assert torch.allclose(ch.offset[v][m], (p - ch.center[v]).norm(dim=-1) + r)
        assert torch.isinf(ch.offset[v][~m]).all() and (ch.radius[v][~m] < 0).all()
        owner = {tuple(np.round(q, 9)): l for q, l in zip(pts, link)}
        assert {owner[tuple(np.round(q, 9))] for q in p.numpy()} == {int(ch.link[v])}


def test_pair_chunks_group_pairs_by_link_pair():
    sl = np.array([0, 0, 1, 1, 2])
    c = np.zeros((5, 3))
    pairs = np.array([[0, 2], [1, 3], [0, 4], [3, 4]])
    pc = chunk_pairs(sl, c, np.full(5, 0.01), pairs, 3)
    got = {(int(a), int(b)) for p in range(len(pc.link_pairs)) for a, b, ok in
           zip(pc.pair_i[p], pc.pair_j[p], pc.valid[p]) if ok}
    assert got == {tuple(p) for p in pairs.tolist()}
    assert sorted(map(tuple, pc.link_pairs.tolist())) == [(0, 1), (0, 2), (1, 2)]


def test_self_penetration_equals_the_full_pair_sum(hand):
    g = torch.Generator().manual_seed(1)
    q = hand.lower + (hand.upper - hand.lower) * torch.rand(256, hand.n_joints, generator=g, dtype=hand.dtype)
    T = hand.link_poses_palm(q)
    c = hand._apply(T, hand.self_sphere_link, hand.self_sphere_center)
    i, j = hand.self_pairs[:, 0], hand.self_pairs[:, 1]
    qa = q.clone().requires_grad_(True)
    full = torch.relu(hand.self_sphere_radius[i] + hand.self_sphere_radius[j]
                      - (lambda c: (c[:, i] - c[:, j]).norm(dim=-1))(
                          hand._apply(hand.link_poses_palm(qa), hand.self_sphere_link,
                                      hand.self_sphere_center))).sum(-1)
    ga, = torch.autograd.grad(full.sum(), qa)
    qb = q.clone().requires_grad_(True)
    culled = hand.self_penetration(qb)
    gb, = torch.autograd.grad(culled.sum(), qb)
    ref = torch.relu(hand.self_sphere_radius[i] + hand.self_sphere_radius[j] - (c[:, i] - c[:, j]).norm(dim=-1)).sum(-1)
    assert (ref > 0).float().mean() > 0.2            # random joints collide often: a real comparison
    assert torch.allclose(culled, ref, atol=1e-6)
    assert torch.allclose(ga, gb, atol=1e-4, rtol=1e-4)
