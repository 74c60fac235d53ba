"""GraspValidator: real MuJoCo runs on trimesh primitives (seeded, deterministic).

The "firm enveloping grasp" is constructed, not hard-coded: the palm faces the side of an
upright cylinder (palm approach -> object +x, finger row along the cylinder axis z), for a
fixed list of stand-offs / offsets, and ``close_fingers_until_contact`` closes every finger
from the open pose toward a power-grasp pose until it touches; the first candidate that the
(reference-mode) validator passes is used. Tests that need a passing grasp also check that
at least one candidate passes.
"""
import dataclasses

import numpy as np
import pytest
import trimesh

from dex1b_ros.config_utils import ConfigError
from dex1b_ros.hands import load_hand_config
from dex1b_ros.validate import GraspValidator, ValidatorConfig, close_fingers_until_contact
from dex1b_ros.validate.bench import CLOSED_POSE, palm_facing_pose, palm_frame, sample_grasps

HANDS = ["leap", "allegro"]
CYL = trimesh.creation.cylinder(radius=0.03, height=0.14, sections=32)  # axis = object z
BOX = trimesh.creation.box(extents=[0.05, 0.06, 0.12])
TALL = trimesh.creation.cylinder(radius=0.03, height=0.30, sections=32)  # tabletop: grasp 15 cm above the table


def _batch(*xs):
    return [np.asarray(x, np.float64)[None] for x in xs]


@pytest.fixture(scope="module", params=HANDS)
def hand(request):
    name = request.param
    cfg = load_hand_config(name)
    pf = palm_frame(name)
    return dict(name=name, cfg=cfg, center=pf.center, approach=pf.approach, spread=pf.spread,
                open=np.asarray(cfg.open_pose), closed=np.asarray(CLOSED_POSE[name]))


def side_pose(hand, distance, offset=0.0, roll=0.0):
    """Palm facing the cylinder from -x (approach along +x), finger row along z, the palm
    centre ``distance`` m from the axis, shifted ``offset`` m along y."""
    t, q = palm_facing_pose(hand["center"], hand["approach"], np.array([1.0, 0, 0]), roll, distance,
                            hand["spread"], np.array([0, 0, 1.0]))
    return t + np.array([0, offset, 0]), q


def candidates(hand):
    for roll in (0.0, np.pi):
        for standoff in (0.005, 0.01, 0.015):
            for offset in (0.0, -0.02, 0.02):
                yield side_pose(hand, 0.03 + standoff, offset, roll)


_FIRM = {}


def firm_grasp(hand, mesh=CYL, tabletop=False):
    """First candidate (fixed order) whose closed-until-contact grasp passes the reference
    test (the tabletop test with ``tabletop``)."""
    key = (hand["name"], id(mesh), tabletop)
    if key in _FIRM:
        return _FIRM[key]
    v = GraspValidator(hand["cfg"], mesh, ValidatorConfig().reference())
    for t, q in candidates(hand):
        g = close_fingers_until_contact(hand["cfg"], mesh, t, q, hand["open"], hand["closed"])
        r = (v.validate_tabletop if tabletop else v.validate)(*_batch(t, q, g.pregrasp, g.grasp, g.squeeze))
        if r.success[0]:
            _FIRM[key] = (t, q, g)
            return _FIRM[key]
    pytest.fail(f"{hand['name']}: no candidate enveloping grasp of the cylinder passes")


def test_far_hand_fails(hand):
    v = GraspValidator(hand["cfg"], CYL)
    t, q = side_pose(hand, 0.3)
    o = hand["open"]
    r = v.validate(*_batch(t, q, o, o, hand["closed"]))
    assert not r.success[0] and not r.rejected_by_prefilter[0]
    assert r.no_real_contact[0] and r.n_near_links[0] == 0
    assert r.failed_directions[0].any() and np.nanmax(r.displacement[0]) > 0.05


def test_open_hand_around_object_fails(hand):
    v = GraspValidator(hand["cfg"], CYL)
    t, q = side_pose(hand, 0.035)
    o = hand["open"]
    r = v.validate(*_batch(t, q, o, o, o))
    assert not r.rejected_by_prefilter[0]
    assert not r.success[0]
    assert r.failed_directions[0].any()


def test_hand_inside_object_rejected(hand):
    v = GraspValidator(hand["cfg"], CYL)
    t, q = side_pose(hand, 0.0)  # palm centre on the cylinder axis
    o = hand["open"]
    r = v.validate(*_batch(t, q, o, o, o))
    assert r.rejected_by_prefilter[0] and not r.success[0]
    assert r.penetration_mm[0] > 10.0
    assert not r.tested_directions[0].any() and r.n_contacts[0] == -1


def test_firm_enveloping_grasp_passes(hand):
    t, q, g = firm_grasp(hand)
    assert sum(g.touched.values()) >= 2 and g.contact_links >= 2
    r = GraspValidator(hand["cfg"], CYL).validate(*_batch(t, q, g.pregrasp, g.grasp, g.squeeze))
    assert r.success[0], r
    assert r.tested_directions[0].all() and not r.failed_directions[0].any()
    assert np.all(r.displacement[0] < 0.05) and np.all(r.rotation[0] < 15)
    assert r.penetration_mm[0] <= 10.0 and not r.no_real_contact[0] and r.n_real_contact_links[0] >= 2
    assert r.n_contacts[0] >= 2 and r.n_contact_links[0] >= 2


def test_squeezing_air_fails(hand):
    """Grasp vector = open hand (no finger near the object), squeeze = a real grasp's squeeze:
    the fingers only reach the object beyond the grasp pose -> no_real_contact -> failure."""
    t, q, g = firm_grasp(hand)
    o = hand["open"]
    r = GraspValidator(hand["cfg"], CYL).validate(*_batch(t, q, o, o, g.squeeze))
    assert r.no_real_contact[0] and r.n_real_contact_links[0] < 2
    assert not r.success[0]
    # the flag alone refuses it: without the real-contact rule the verdict rests on physics only
    lax = GraspValidator(hand["cfg"], CYL, ValidatorConfig(require_real_contact=False))
    r2 = lax.validate(*_batch(t, q, o, o, g.squeeze))
    assert r2.success[0] == (not r2.failed_directions[0].any() and r2.tested_directions[0].all())


def test_zero_friction_fails(hand):
    t, q, g = firm_grasp(hand)
    cfg = ValidatorConfig(friction=1e-4, torsional_friction=0.0)
    r = GraspValidator(hand["cfg"], CYL, cfg).validate(*_batch(t, q, g.pregrasp, g.grasp, g.squeeze))
    assert not r.success[0] and r.failed_directions[0].any()


def test_close_fingers_until_contact(hand):
    t, q = side_pose(hand, 0.04)
    g = close_fingers_until_contact(hand["cfg"], CYL, t, q, hand["open"], hand["closed"])
    assert g.grasp.shape == g.squeeze.shape == g.pregrasp.shape == (16,)
    assert any(g.touched.values())
    # grasp within one sweep step of the surface: no penetration beyond ~1 mm, links near the object
    r = GraspValidator(hand["cfg"], CYL).validate(*_batch(t, q, g.pregrasp, g.grasp, g.squeeze))
    assert r.penetration_mm[0] < 1.5
    assert r.n_near_links[0] == g.contact_links
    moved = np.abs(g.squeeze - g.grasp) > 0
    assert moved.any() and np.all(np.abs(g.squeeze - g.grasp) <= hand["cfg"].squeeze_delta + 1e-12)


@pytest.mark.parametrize("name", HANDS)
def test_fast_mode_equals_reference(name):
    cfg = load_hand_config(name)
    g = sample_grasps(name, BOX, 8, seed=3)
    args = (g["wrist_pos"], g["wrist_quat"], g["pregrasp"], g["grasp"], g["squeeze"])
    fast = GraspValidator(cfg, BOX, ValidatorConfig()).validate(*args)
    ref = GraspValidator(cfg, BOX, ValidatorConfig().reference()).validate(*args)
    assert ref.tested_directions[~ref.rejected_by_prefilter].all()
    np.testing.assert_array_equal(fast.success, ref.success)
    np.testing.assert_array_equal(fast.rejected_by_prefilter, ref.rejected_by_prefilter)
    np.testing.assert_array_equal(fast.no_real_contact, ref.no_real_contact)
    np.testing.assert_array_equal(fast.n_contacts, ref.n_contacts)
    for i in range(len(ref)):
        if ref.rejected_by_prefilter[i]:
            continue
        # the fast mode stops at the reference's first failed direction
        first = np.argmax(ref.failed_directions[i]) if ref.failed_directions[i].any() else 5
        assert fast.tested_directions[i, : first + 1].all() and not fast.tested_directions[i, first + 1:].any()
        np.testing.assert_array_equal(fast.failed_directions[i, : first + 1], ref.failed_directions[i, : first + 1])
        # shared closing is bit-identical: passed directions have identical displacements
        ok = fast.tested_directions[i] & ~fast.failed_directions[i]
        np.testing.assert_array_equal(fast.displacement[i, ok], ref.displacement[i, ok])
    assert (~ref.success & ~ref.rejected_by_prefilter).any()  # the set has real failures


@pytest.mark.slow
def test_deterministic_and_workers():
    cfg = load_hand_config("allegro")
    g = sample_grasps("allegro", CYL, 6, seed=5)
    args = (g["wrist_pos"], g["wrist_quat"], g["pregrasp"], g["grasp"], g["squeeze"])
    a = GraspValidator(cfg, CYL).validate(*args)
    b = GraspValidator(cfg, CYL).validate(*args)
    with GraspValidator(cfg, CYL, workers=2) as v:
        c = v.validate(*args)
    t = GraspValidator(cfg, CYL, threads=3)
    d = t.validate(*args)
    e = t.validate(*args)                  # reusing the per-thread MjData changes nothing
    for f in dataclasses.fields(a):
        if f.name != "directions":
            for other in (b, c, d, e):
                np.testing.assert_array_equal(getattr(a, f.name), getattr(other, f.name), err_msg=f.name)
    assert len(t._thread_sims) == 3


def test_deterministic_repeat():
    cfg = load_hand_config("allegro")
    g = sample_grasps("allegro", BOX, 3, seed=7)
    args = (g["wrist_pos"], g["wrist_quat"], g["pregrasp"], g["grasp"], g["squeeze"])
    v = GraspValidator(cfg, BOX)
    a, b = v.validate(*args), v.validate(*args)
    np.testing.assert_array_equal(a.success, b.success)
    np.testing.assert_array_equal(a.displacement, b.displacement)
    np.testing.assert_array_equal(a.rotation, b.rotation)


def test_tabletop(hand):
    """Tall upright cylinder on the table: the firm side grasp lifts it, the open hand does not."""
    t, q, g = firm_grasp(hand, TALL, tabletop=True)
    v = GraspValidator(hand["cfg"], TALL)
    r = v.validate_tabletop(np.stack([t, t]), np.stack([q, q]), np.stack([g.pregrasp, hand["open"]]),
                            np.stack([g.grasp, hand["open"]]), np.stack([g.squeeze, hand["open"]]))
    assert r.directions == ("lift",) and r.displacement.shape == (2, 1)
    assert not r.rejected_by_prefilter.any()
    assert r.success[0] and r.displacement[0, 0] < 0.05
    assert not r.success[1] and r.displacement[1, 0] > 0.05


def test_tabletop_table_z_puts_the_table_where_it_really_is(hand):
    """A guessed object whose unseen bottom floats above the known table (the upper part of TALL,
    seen from above): with the table under the guess's lowest point the fingers that reach below it
    hit that table (the pre-filter rejects the grasp); with ``table_z`` at the real table they do not."""
    t, q, g = firm_grasp(hand, TALL, tabletop=True)
    guess = trimesh.creation.cylinder(radius=0.03, height=0.16, sections=32)
    guess.apply_translation([0, 0, 0.07])                          # z from -0.01 to 0.15; TALL from -0.15
    args = _batch(t, q, g.pregrasp, g.grasp, g.squeeze)
    under = GraspValidator(hand["cfg"], guess).validate_tabletop(*args)
    real = GraspValidator(hand["cfg"], guess, table_z=-0.15)
    r = real.validate_tabletop(*args)
    assert under.rejected_by_prefilter[0] and not under.success[0]
    assert not r.rejected_by_prefilter[0]
    assert abs(real._sim(True).m.geom_pos[real._sim(True).s.table_geom][2] + 0.15) < 1e-9
    # never above the object's lowest point
    high = GraspValidator(hand["cfg"], guess, table_z=0.05)
    assert abs(high._sim(True).m.geom_pos[high._sim(True).s.table_geom][2] + 0.01) < 1e-9


def test_input_errors():
    cfg = load_hand_config("allegro")
    v = GraspValidator(cfg, BOX)
    z = np.zeros((2, 16))
    with pytest.raises(ValueError, match="wrist_pos"):
        v.validate(np.zeros((2, 2)), np.tile([1.0, 0, 0, 0], (2, 1)), z, z, z)
    with pytest.raises(ValueError, match="squeeze"):
        v.validate(np.zeros((2, 3)), np.tile([1.0, 0, 0, 0], (2, 1)), z, z, np.zeros((2, 15)))
    with pytest.raises(ValueError, match="wrist_quat"):
        v.validate(np.zeros((2, 3)), np.zeros((2, 4)), z, z, z)


@pytest.mark.parametrize("field,value", [("timestep", 0.0), ("friction", -1.0), ("cone", "round"),
                                         ("maxhullvert", 2), ("actuator_kp", -5.0), ("condim", 5),
                                         ("hold_exit_factor", 0.5), ("max_displacement", 0)])
def test_config_errors_name_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        ValidatorConfig(**{field: value})
    assert issubclass(ConfigError, ValueError)


def test_render(tmp_path, hand):
    from dex1b_ros.validate.render import render_grasp
    t, q, g = firm_grasp(hand)
    v = GraspValidator(hand["cfg"], CYL)
    img = render_grasp(v, t, q, g.pregrasp, g.grasp, g.squeeze, direction="+z", path=tmp_path / "g.png",
                       width=160, height=120)
    assert img.shape == (120, 480, 3) and img.dtype == np.uint8
    assert img.std() > 5 and (tmp_path / "g.png").stat().st_size > 1000


@pytest.mark.slow
def test_one_grasp_with_threads_splits_its_directions_with_the_same_verdicts():
    """validate() of ONE grasp with threads > 1 runs its six directions on the threads (the node
    checks one candidate at a time): each tested direction's outcome, the verdict and the contact
    counts equal the sequential run; passing grasps are tested in all six directions."""
    cfg = load_hand_config("leap")
    g = sample_grasps("leap", CYL, 8, seed=1)
    seq = GraspValidator(cfg, CYL)
    par = GraspValidator(cfg, CYL, threads=2)
    verdicts = []
    for i in range(8):
        args = [g[k][i:i + 1] for k in ("wrist_pos", "wrist_quat", "pregrasp", "grasp", "squeeze")]
        a, b = seq.validate(*args), par.validate(*args)
        for f in ("success", "rejected_by_prefilter", "n_contacts", "n_contact_links", "penetration_mm"):
            np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f"grasp {i}: {f}")
        both = a.tested_directions & b.tested_directions
        np.testing.assert_array_equal(a.displacement[both], b.displacement[both])
        np.testing.assert_array_equal(a.failed_directions[both], b.failed_directions[both])
        if a.success[0]:
            assert b.tested_directions.all()
        verdicts.append(bool(a.success[0]))
    assert any(verdicts) and not all(verdicts), verdicts   # a real comparison: passes and failures
    assert len(par._thread_sims) == 2
