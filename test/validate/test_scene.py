"""Scene construction: options, object physics, actuator overrides, hull size, cache."""
import mujoco
import numpy as np
import pytest
import trimesh

from dex1b_ros.hands import load_hand_config
from dex1b_ros.validate import ValidatorConfig, build_scene, get_scene


def test_scene_options_and_object():
    cfg = ValidatorConfig(maxhullvert=16)
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=0.04)  # 642 vertices
    sc = build_scene(load_hand_config("leap"), mesh, cfg)
    m = sc.model
    assert m.opt.timestep == 0.004 and m.opt.integrator == mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    assert m.opt.cone == mujoco.mjtCone.mjCONE_ELLIPTIC and np.all(m.opt.gravity == 0)
    assert abs(m.body_mass[sc.obj_body] - 0.1) < 1e-9
    g = sc.obj_geoms[0]
    np.testing.assert_allclose(m.geom_friction[g], [0.6, 0.02, 0.0])
    assert m.geom_priority[g] > 0 and m.geom_condim[g] == 4
    assert m.mesh_graph[m.mesh_graphadr[m.geom_dataid[g]]] <= 16  # hull vertices (maxhullvert)
    # actuator overrides
    np.testing.assert_allclose(m.actuator_gainprm[sc.hand_act, 0], 10.0)
    np.testing.assert_allclose(m.actuator_biasprm[sc.hand_act, 1], -10.0)
    np.testing.assert_allclose(m.actuator_forcerange[sc.hand_act], [[-2.0, 2.0]] * 16)
    assert len(sc.hand_qpos) == 16 and sc.table_geom == -1 and sc.obj_qpos >= 0
    assert sc.is_hand_geom.sum() > 10 and sc.is_obj_geom.sum() == 1


def test_hull_vertex_limit():
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=0.04)
    for n in (8, 32):
        m = build_scene(load_hand_config("allegro"), mesh, ValidatorConfig(maxhullvert=n)).model
        g = m.geom("object_geom0").id
        # MuJoCo keeps the hull as a graph: its vertex count is the first int of mesh_graph
        nvert = m.mesh_graph[m.mesh_graphadr[m.geom_dataid[g]]]
        assert nvert <= n


def test_tabletop_scene_and_cache():
    cfg = ValidatorConfig()
    box = trimesh.creation.box(extents=[0.05, 0.05, 0.1])
    hand = load_hand_config("allegro")
    sc = get_scene(hand, box, cfg, tabletop=True)
    assert sc.table_geom >= 0 and sc.lift_act >= 0
    assert abs(sc.model.geom_pos[sc.table_geom][2] - (-0.05)) < 1e-9
    assert get_scene(hand, box, cfg, tabletop=True) is sc
    assert get_scene(hand, box.copy(), cfg, tabletop=True) is sc  # same vertices -> same model
    assert get_scene(hand, box, ValidatorConfig(friction=0.3), tabletop=True) is not sc



def test_crumb_and_sliver_parts_are_left_out():
    """CoACD leaves crumbs and slivers on thin walls; MuJoCo refuses to compile them (seen in the
    dataset build): the scene leaves parts under 1 mm^3 out and gives the mass to the rest."""
    body = trimesh.creation.box(extents=[0.05, 0.05, 0.1])
    crumb = trimesh.creation.box(extents=[3e-4, 3e-4, 3e-4])
    sliver = trimesh.creation.box(extents=[0.04, 0.04, 1e-9])
    crumb.apply_translation([0, 0, 0.05])
    sliver.apply_translation([0, 0, -0.05])
    cfg = ValidatorConfig()
    for parts in ([body, crumb], [body, sliver], [body, crumb, sliver]):
        m = build_scene(load_hand_config("leap"), parts, cfg, tabletop=True).model
        names = [m.geom(i).name for i in range(m.ngeom)]
        assert sum(n.startswith("object_geom") for n in names) == 1
        assert np.isclose(m.body("object").mass[0], cfg.object_mass, rtol=1e-6)


def test_validator_without_scene_cache_leaves_the_cache_alone():
    """The node checks a new object estimate every plan: cache_scene=False keeps those one-off
    models (~40 MB each for LEAP) out of the process-wide cache (measured: node RSS grew by
    ~0.7 GB over its first 20 plans before)."""
    from dex1b_ros.validate import GraspValidator
    from dex1b_ros.validate import scene as scene_mod
    mesh = trimesh.creation.box(extents=[0.05, 0.061, 0.1])
    before = len(scene_mod._CACHE)
    keys = set(scene_mod._CACHE)
    with GraspValidator(load_hand_config("leap"), mesh, cache_scene=False) as v:
        v._sim(True)   # the tabletop scene too
    assert set(scene_mod._CACHE) == keys and len(scene_mod._CACHE) == before
    GraspValidator(load_hand_config("leap"), mesh).close()
    assert len(set(scene_mod._CACHE) - keys) == 1


@pytest.mark.parametrize("hand", ["leap", "allegro"])
def test_without_visual_meshes_the_physics_and_verdicts_are_the_same(hand):
    """visual_meshes=False (the planner's per-plan check) drops only geoms that collide with
    nothing and weigh nothing: same masses, inertias, collision geoms, and the same verdicts."""
    from dex1b_ros.validate import GraspValidator
    from dex1b_ros.validate.bench import sample_grasps
    cfg = load_hand_config(hand)
    box = trimesh.creation.box(extents=[0.05, 0.07, 0.1])
    full = build_scene(cfg, box, ValidatorConfig(), tabletop=True).model
    lite = build_scene(cfg, box, ValidatorConfig(), tabletop=True, visual_meshes=False).model
    if hand == "leap":    # LEAP: visual geoms weigh nothing (explicit inertials) -> dropped
        assert lite.ngeom < full.ngeom and lite.nmeshvert < full.nmeshvert
    else:                 # Allegro's visual geoms carry the links' mass (density 800) -> kept
        assert lite.ngeom == full.ngeom
    np.testing.assert_array_equal(lite.body_mass, full.body_mass)
    np.testing.assert_array_equal(lite.body_inertia, full.body_inertia)
    coll = lambda m: sorted(m.geom(i).name for i in range(m.ngeom) if m.geom_contype[i] or m.geom_conaffinity[i])
    assert coll(lite) == coll(full)
    g = sample_grasps(hand, box, 6, seed=0)
    args = [g[k] for k in ("wrist_pos", "wrist_quat", "pregrasp", "grasp", "squeeze")]
    with GraspValidator(cfg, box, cache_scene=False) as a, \
            GraspValidator(cfg, box, cache_scene=False, visual_meshes=False) as b:
        ra, rb = a.validate(*args), b.validate(*args)
        np.testing.assert_array_equal(ra.success, rb.success)
        np.testing.assert_allclose(ra.penetration_mm, rb.penetration_mm)
        np.testing.assert_array_equal(a.validate_tabletop(*args).success, b.validate_tabletop(*args).success)
