"""Procedural objects: watertight, sized for a hand, seed-deterministic."""
import numpy as np
import pytest

from dex1b_ros.objects import KINDS, check_mesh, make_object


@pytest.mark.parametrize("kind", KINDS)
def test_kind_watertight_and_in_size_range(kind):
    for seed in range(6):
        o = make_object(kind, seed)
        assert o.mesh.is_watertight and o.mesh.is_winding_consistent and o.mesh.volume > 0
        ext = o.extents
        assert 0.04 - 1e-9 <= ext.max() <= 0.15 + 1e-9, (kind, seed, ext)
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
    with pytest.raises(ValueError, match="minimum extent"):
        make_object("box", 0, size=0.01)
    with pytest.raises(ValueError, match="unknown procedural kind"):
        make_object("torus", 0)


def test_nonconvex_blob_is_nonconvex():
    ratios = [make_object("nonconvex_blob", s).mesh.volume
              / make_object("nonconvex_blob", s).mesh.convex_hull.volume for s in range(8)]
    assert max(ratios) < 0.99 and np.mean(ratios) < 0.92
