"""Procedural objects: watertight, sized for a hand, seed-deterministic."""
import numpy as np
import pytest

from dex1b_ros.objects import FAMILY_KINDS, KINDS, check_mesh, hull_ratio, make_object
from dex1b_ros.objects.procedural import largest_range


def _size_range(kind):
    # "small" is the one kind whose largest extent is below 4 cm by design (2-4 cm objects
    # for pinch grasps); every other kind spans [0.04, 0.15] m.
    return (0.02, 0.04) if kind == "small" else (0.04, 0.15)


@pytest.mark.parametrize("kind", KINDS)
def test_kind_watertight_and_in_size_range(kind):
    lo, hi = _size_range(kind)
    assert largest_range(kind) == (lo, hi)
    for seed in range(6):
        o = make_object(kind, seed)
        assert o.mesh.is_watertight and o.mesh.is_winding_consistent and o.mesh.volume > 0
        assert o.mesh.is_volume
        ext = o.extents
        assert lo - 1e-9 <= ext.max() <= hi + 1e-9, (kind, seed, ext)
        assert ext.min() >= 0.02 - 1e-9, (kind, seed, ext)
        np.testing.assert_allclose(o.center, 0.0, atol=1e-9)
        check_mesh(o)
        assert o.name == f"proc_{kind}_{seed:04d}" and o.source == f"proc:{kind}:{seed}"


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_mesh_other_seed_differs(kind):
    a, b, c = make_object(kind, 7), make_object(kind, 7), make_object(kind, 8)
    assert np.array_equal(a.mesh.vertices, b.mesh.vertices)
    assert np.array_equal(a.mesh.faces, b.mesh.faces)
    assert not (a.mesh.vertices.shape == c.mesh.vertices.shape
                and np.allclose(a.mesh.vertices, c.mesh.vertices))


def test_explicit_size_and_limits():
    for kind in KINDS:
        assert make_object(kind, 1, size=0.1).extents.max() == pytest.approx(0.1, rel=1e-6)
    for kind in FAMILY_KINDS:  # a small explicit size keeps every extent >= 2 cm
        o = make_object(kind, 2, size=0.03)
        assert o.extents.max() == pytest.approx(0.03, rel=1e-6) and o.extents.min() >= 0.02 - 1e-9
        assert o.mesh.is_volume
    with pytest.raises(ValueError, match="minimum extent"):
        make_object("box", 0, size=0.01)
    with pytest.raises(ValueError, match="minimum extent"):
        make_object("mug", 0, size=0.01)
    with pytest.raises(ValueError, match="unknown procedural kind"):
        make_object("torus", 0)


def test_nonconvex_blob_is_nonconvex():
    ratios = [make_object("nonconvex_blob", s).mesh.volume
              / make_object("nonconvex_blob", s).mesh.convex_hull.volume for s in range(8)]
    assert max(ratios) < 0.99 and np.mean(ratios) < 0.92


HULL_RATIO_MAX = {"mug": 0.6, "bowl": 0.4, "banana": 0.7, "lshape": 0.7, "tshape": 0.7,
                  "tool": 0.7, "machine_part": 0.85}


@pytest.mark.parametrize("kind", sorted(HULL_RATIO_MAX))
def test_family_hull_ratio_targets(kind):
    ratios = [hull_ratio(make_object(kind, s)) for s in range(6)]
    assert 0.05 < min(ratios) and max(ratios) <= HULL_RATIO_MAX[kind], (kind, np.round(ratios, 3))


@pytest.mark.parametrize("kind", FAMILY_KINDS)
def test_family_passes_check_mesh_and_stays_light(kind):
    for seed in (0, 1, 61, 99):  # train, val and test seeds
        o = make_object(kind, seed)
        check_mesh(o)
        assert len(o.mesh.faces) <= 6000, (kind, seed, len(o.mesh.faces))
        assert np.isclose(hull_ratio(o), o.mesh.volume / o.mesh.convex_hull.volume)


def test_hull_ratio_of_convex_shapes_is_one():
    assert hull_ratio(make_object("box", 0)) == pytest.approx(1.0)
    assert hull_ratio(make_object("convex_blob", 3).mesh) == pytest.approx(1.0)
