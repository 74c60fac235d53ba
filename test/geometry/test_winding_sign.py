"""The exact SDF's sign on any closed mesh: one shell, several overlapping shells, strongly
non-convex shapes. Reference: an independent brute-force generalised winding number (sum of
the triangles' solid angles, van Oosterom & Strackee), not the library the SDF uses."""
import numpy as np
import pytest
import trimesh

from dex1b_ros.geometry import exact_signed_distance, winding_number
from dex1b_ros.geometry.bench_sdf import near_surface_points
from dex1b_ros.objects import load_ycb
from dex1b_ros.objects.mesh import union_shells


def brute_winding_number(tm: trimesh.Trimesh, q: np.ndarray, chunk: int = 64) -> np.ndarray:
    tri = np.asarray(tm.triangles)  # (T, 3, 3)
    out = np.empty(len(q))
    for i in range(0, len(q), chunk):
        r = tri[None] - q[i:i + chunk, None, None, :]          # (c, T, 3, 3)
        a, b, c = r[..., 0, :], r[..., 1, :], r[..., 2, :]
        la, lb, lc = (np.linalg.norm(v, axis=-1) for v in (a, b, c))
        det = np.einsum("ctk,ctk->ct", a, np.cross(b, c))
        den = (la * lb * lc + np.einsum("ctk,ctk->ct", a, b) * lc + np.einsum("ctk,ctk->ct", b, c) * la
               + np.einsum("ctk,ctk->ct", c, a) * lb)
        out[i:i + chunk] = 2 * np.arctan2(det, den).sum(-1) / (4 * np.pi)
    return out


def _two_boxes():
    a = trimesh.creation.box(extents=[0.08, 0.04, 0.04])
    b = trimesh.creation.box(extents=[0.04, 0.08, 0.04])
    b.apply_translation([0.01, 0.01, 0.005])
    return trimesh.util.concatenate([a, b])


def _parts():  # an object composed of 4 overlapping pieces
    body = trimesh.creation.cylinder(radius=0.025, height=0.09, sections=24)
    cap = trimesh.creation.icosphere(subdivisions=2, radius=0.02)
    cap.apply_translation([0, 0, 0.045])
    handle = trimesh.creation.box(extents=[0.05, 0.012, 0.012])
    handle.apply_translation([0.03, 0, 0.01])
    knob = trimesh.creation.capsule(height=0.03, radius=0.008)
    knob.apply_translation([0.05, 0, 0.01])
    return trimesh.util.concatenate([body, cap, handle, knob])


def _hull_soup(n=15, seed=0):  # a convex-decomposition-like output: 15 overlapping hulls
    rng = np.random.default_rng(seed)
    hulls = []
    for _ in range(n):
        c = rng.normal(scale=0.025, size=3)
        hulls.append(trimesh.convex.convex_hull(c + rng.normal(scale=0.012, size=(12, 3))))
    return trimesh.util.concatenate(hulls)


def _queries(tm, n=3000, seed=0):
    rng = np.random.default_rng(seed)
    lo, hi = tm.bounds
    box = rng.uniform(lo - 0.02, hi + 0.02, size=(n, 3))
    return np.concatenate([box, near_surface_points(tm, n, 0.01, seed)])


CASES = {
    "two_boxes": _two_boxes,
    "four_parts": _parts,
    "hull_soup_15": _hull_soup,
    "ycb_mug": lambda: load_ycb("025_mug").mesh,        # strongly non-convex single shell (volume/hull 0.26)
    "ycb_bowl": lambda: load_ycb("024_bowl").mesh,      # thin-walled open bowl
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_sign_matches_brute_force_winding_number(case):
    tm = CASES[case]()
    q = _queries(tm, 400 if case.startswith("ycb") else 3000)
    ref_inside = brute_winding_number(tm, q) > 0.5
    d = exact_signed_distance(tm, q)
    wrong = (d < 0) != ref_inside
    # no wrong sign beyond 0.5 mm of the surface
    assert not np.any(wrong & (np.abs(d) > 5e-4)), (case, int(wrong.sum()), np.abs(d[wrong]).max())
    far = np.abs(d) > 1e-3   # the fast (Barnes-Hut) winding number agrees with the exact one
    w, ref = winding_number(tm, q[far][:500]), brute_winding_number(tm, q[far][:500])
    assert np.abs(w - ref).max() < 0.05


def test_overlap_region_is_inside_and_ray_parity_was_not():
    tm = _two_boxes()
    p = np.array([[0.015, 0.015, 0.0], [0.0, 0.0, 0.0]])  # inside both boxes
    # depth to the nearest (inner) face: union_shells fixes the magnitude
    assert (exact_signed_distance(tm, p) < -0.004).all()
    assert winding_number(tm, p) == pytest.approx([2.0, 2.0], abs=0.02)


def test_union_of_shells_is_one_volume_with_the_same_inside():
    tm = _parts()
    u, notes = union_shells(tm)
    assert u.is_watertight and u.is_volume and len(u.split(only_watertight=False)) == 1
    assert notes and "union" in notes[0]
    assert u.volume < tm.volume  # the overlaps were counted twice
    q = _queries(tm, 2000, seed=3)
    a, b = exact_signed_distance(tm, q), exact_signed_distance(u, q)
    far = np.abs(a) > 5e-4
    assert np.array_equal(a[far] < 0, b[far] < 0)
    # disjoint shells stay as they are
    two = trimesh.util.concatenate([trimesh.creation.box(extents=[0.02] * 3),
                                    trimesh.creation.box(extents=[0.02] * 3).apply_translation([0.1, 0, 0])])
    same, notes = union_shells(two)
    assert same is two and notes == []


def test_single_shell_fast_path_equals_the_winding_sign_on_hulls():
    """single_shell=True (the node's per-plan hull field): open3d's parity sign with 3 rays must
    give exactly the winding number's sign and the same distances on convex hulls, also for
    points on the hull's vertices' planes (edge hits)."""
    rng = np.random.default_rng(3)
    for hull in (load_ycb("006_mustard_bottle").mesh.convex_hull, trimesh.creation.box(extents=[0.05, 0.08, 0.1]),
                 trimesh.convex.convex_hull(rng.normal(size=(300, 3)) * [0.03, 0.05, 0.04])):
        lo, hi = hull.bounds[0] - 0.02, hull.bounds[1] + 0.02
        pts = np.vstack([rng.uniform(lo, hi, (20000, 3)), near_surface_points(hull, 2000, 0.003, seed=1),
                         hull.vertices * 0.999])   # points just inside the corners
        ref = exact_signed_distance(hull, pts)
        fast = exact_signed_distance(hull, pts, single_shell=True)
        far = np.abs(ref) > 1e-5
        assert np.array_equal(np.sign(fast[far]), np.sign(ref[far]))
        np.testing.assert_allclose(np.abs(fast), np.abs(ref), atol=1e-6)
