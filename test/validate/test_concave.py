"""The validator's object is a convex decomposition: known answers on concave objects.

A single convex hull puts phantom walls across every concavity. These cases are built so
that the hull and the real shape disagree, and check that the decomposition (the default)
gives the physical answer:

* a "handle": two 5 cm bulbs joined by a 1 cm rod (a mug handle / tool grip). Fingers closed
  against the hull stop 2 cm from the rod: the hull says the grasp holds, the decomposition
  says it touches (almost) nothing and fails. Fingers closed against the decomposition wrap
  the real shape, and that grasp passes.
* the opening of a mug and of a bowl: a point in the cavity is inside the hull and outside
  every part; the parts hug the mesh (excess over the surface <= 4 mm).
* a real enveloping grasp of a cup (open top, 4 mm wall) passes.
* the fast mode's verdicts equal the slow reference on a mug.
"""
import manifold3d as mf
import numpy as np
import pytest
import trimesh

from dex1b_ros.geometry import cast_rays
from dex1b_ros.geometry.decompose import convex_parts, decomposition_error
from dex1b_ros.hands import load_hand_config
from dex1b_ros.objects import make_object
from dex1b_ros.validate import GraspValidator, ValidatorConfig, close_fingers_until_contact
from dex1b_ros.validate.bench import CLOSED_POSE, palm_facing_pose, palm_frame, sample_grasps

HULL = ValidatorConfig(object_collision="hull")
DECOMP = ValidatorConfig()


def _trimesh(m: mf.Manifold) -> trimesh.Trimesh:
    mesh = m.to_mesh()
    tm = trimesh.Trimesh(np.asarray(mesh.vert_properties)[:, :3], np.asarray(mesh.tri_verts))
    tm.apply_translation(-tm.bounds.mean(0))
    return tm


def handle() -> trimesh.Trimesh:
    bulb = mf.Manifold.sphere(0.025, 48)
    rod = mf.Manifold.cylinder(0.1, 0.005, 0.005, 24).translate([0, 0, -0.05])
    return _trimesh(bulb.translate([0, 0, -0.05]) + bulb.translate([0, 0, 0.05]) + rod)


def cup(r=0.03, h=0.12, wall=0.004) -> trimesh.Trimesh:
    return _trimesh(mf.Manifold.cylinder(h, r, r, 48)
                    - mf.Manifold.cylinder(h, r - wall, r - wall, 48).translate([0, 0, wall]))


def _b(*xs):
    return [np.asarray(x, np.float64)[None] for x in xs]


@pytest.fixture(scope="module")
def leap():
    cfg = load_hand_config("leap")
    pf = palm_frame("leap")
    return cfg, pf, np.asarray(cfg.open_pose), np.asarray(CLOSED_POSE["leap"])


def test_phantom_wall_of_the_hull_holds_nothing(leap):
    cfg, pf, op, cl = leap
    obj = handle()
    # palm facing the rod from -x, finger row along the rod, 8 mm outside the bulbs' radius
    t, q = palm_facing_pose(pf.center, pf.approach, np.array([1.0, 0, 0]), np.pi, 0.033, pf.spread,
                            np.array([0, 0, 1.0]))
    on_hull = close_fingers_until_contact(cfg, obj, t, q, op, cl, config=HULL)
    hull_says = GraspValidator(cfg, obj, HULL).validate(*_b(t, q, on_hull.pregrasp, on_hull.grasp, on_hull.squeeze))
    truth = GraspValidator(cfg, obj, DECOMP).validate(*_b(t, q, on_hull.pregrasp, on_hull.grasp, on_hull.squeeze))
    assert hull_says.success[0]            # the phantom capsule "holds"
    assert not truth.success[0]            # nothing holds the real rod
    assert truth.n_contact_links[0] < hull_says.n_contact_links[0]
    on_real = close_fingers_until_contact(cfg, obj, t, q, op, cl, config=DECOMP)
    real = GraspValidator(cfg, obj, DECOMP).validate(*_b(t, q, on_real.pregrasp, on_real.grasp, on_real.squeeze))
    assert real.success[0] and real.n_real_contact_links[0] >= 2   # wrapping the real rod holds
    assert real.penetration_mm[0] < 1.0


@pytest.mark.parametrize("kind", ["mug", "bowl"])
def test_cavity_is_free_space_and_parts_hug_the_mesh(kind):
    obj = make_object(kind, 80)  # test-split seed
    parts = convex_parts(obj.mesh)
    assert len(parts) > 3
    # a point in the opening: drop rays from above on a grid; the deepest first hit is the
    # floor of the cavity; take the point 1 cm above it
    lo, hi = obj.mesh.bounds
    xs, ys = np.meshgrid(np.linspace(lo[0], hi[0], 25), np.linspace(lo[1], hi[1], 25))
    origins = np.stack([xs.ravel(), ys.ravel(), np.full(xs.size, hi[2] + 0.01)], axis=1)
    t, _ = cast_rays(obj.mesh, origins, np.tile([0.0, 0.0, -1.0], (len(origins), 1)))
    t[~np.isfinite(t)] = -1
    k = int(np.argmax(t))
    p = origins[k:k + 1] - [0, 0, t[k] - 0.01]
    assert obj.mesh.convex_hull.contains(p)[0] and not obj.mesh.contains(p)[0]
    assert not any(part.contains(p)[0] for part in parts)
    err = decomposition_error(obj.mesh, parts, n_samples=5000)
    assert err["excess_max_m"] < 0.004 and err["missing_max_m"] < 0.001
    assert err["volume_ratio"] < 1.35 < err["hull_volume_ratio"]


def test_real_grasp_of_a_cup_passes(leap):
    cfg, pf, op, cl = leap
    obj = cup()
    v = GraspValidator(cfg, obj, DECOMP.reference())
    passed = 0
    for roll in (0.0, np.pi):
        for standoff in (0.005, 0.01):
            t, q = palm_facing_pose(pf.center, pf.approach, np.array([1.0, 0, 0]), roll, 0.03 + standoff, pf.spread,
                                    np.array([0, 0, 1.0]))
            g = close_fingers_until_contact(cfg, obj, t, q, op, cl, config=DECOMP)
            passed += int(v.validate(*_b(t, q, g.pregrasp, g.grasp, g.squeeze)).success[0])
    assert passed >= 1


@pytest.mark.slow
def test_fast_mode_equals_reference_on_a_mug():
    cfg = load_hand_config("leap")
    mug = make_object("mug", 81).mesh
    g = sample_grasps("leap", mug, 8, seed=5)
    args = (g["wrist_pos"], g["wrist_quat"], g["pregrasp"], g["grasp"], g["squeeze"])
    fast = GraspValidator(cfg, mug, DECOMP).validate(*args)
    ref = GraspValidator(cfg, mug, DECOMP.reference()).validate(*args)
    np.testing.assert_array_equal(fast.success, ref.success)
    np.testing.assert_array_equal(fast.rejected_by_prefilter, ref.rejected_by_prefilter)
    np.testing.assert_array_equal(fast.no_real_contact, ref.no_real_contact)
    assert len(GraspValidator(cfg, mug, DECOMP).scene.obj_geoms) > 3  # simulated as parts
