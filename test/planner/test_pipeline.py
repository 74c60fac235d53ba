"""GraspPipeline end to end on a real cloud (small budgets), its steps, determinism, cancel and
bad input; prepare_cloud; the legacy PipelineConfig."""
import numpy as np
import pytest

from dex1b_ros.eval.clouds import table_scene
from dex1b_ros.geometry.pointcloud import sample_surface
from dex1b_ros.objects import make_object
from dex1b_ros.planner.config import PlannerConfig, PrepareConfig, planner_config
from dex1b_ros.planner.pipeline import GraspPipeline, PipelineConfig

SMALL = {"sampling": {"num_samples": 32}, "refinement": {"synth_steps": 60}, "validation": {"num_validate": 4},
         "ranking": {"top_k": 3}}


@pytest.fixture(scope="module")
def box_cloud():
    return sample_surface(make_object("box", 0, size=0.08).mesh, 1500, seed=0)


@pytest.fixture(scope="module")
def pipe():
    return GraspPipeline(config=planner_config(SMALL))


def _scene(seed=0):
    """A raw cloud in the planning frame: an 8 cm box standing on a table (z = 0) at (0.4, 0), the
    table around it, a few NaN rows; normals included."""
    return table_scene("box", object_seed=0, seed=seed, nan_every=97)


def test_plan_returns_ranked_grasps_with_metrics(pipe, box_cloud):
    stages = []
    r = pipe.plan(box_cloud[0], box_cloud[1], progress=lambda s, f, d: stages.append((s, f)))
    assert "optimizer-only" in r.info or "generator" in r.info  # the mode is always stated
    assert len(r.grasps) == 3 and r.joint_names == pipe.joint_names
    g = r.grasps[0]
    assert g.wrist_pos.shape == (3,) and g.wrist_quat.shape == (4,) and abs(np.linalg.norm(g.wrist_quat) - 1) < 1e-4
    assert g.grasp.shape == (16,) and g.pregrasp.shape == (16,) and g.squeeze.shape == (16,)
    assert [x.score for x in r.grasps] == sorted([x.score for x in r.grasps], reverse=True)
    assert sum(x.validated for x in r.grasps) >= 1
    assert [s for s, _ in stages][0] == "preprocess" and stages[-1][0] == "publish"
    assert all(b >= a for (_, a), (_, b) in zip(stages, stages[1:]))  # progress never goes back
    assert set(r.timings) >= {"preprocess", "field", "refine", "validate", "total"}


def test_plan_preprocesses_the_raw_cloud_itself(pipe, monkeypatch):
    """The planner owns perception: NaN rows and the table go, the table becomes the support
    plane, and the steps run in order."""
    import dex1b_ros.planner.pipeline as pl
    order, seen = [], {}
    for step in ("preprocess", "prepare", "sample", "refine", "rank", "check"):
        real = getattr(GraspPipeline, step)

        def spy(self, run, *a, _real=real, _step=step, **k):
            order.append(_step)
            out = _real(self, run, *a, **k)
            seen[_step] = out
            return out
        monkeypatch.setattr(GraspPipeline, step, spy)
    r = pipe.plan(*_scene())
    assert r.success, r.message
    assert order == ["preprocess", "prepare", "sample", "refine", "rank", "check"]
    clean = seen["preprocess"]
    assert np.isfinite(clean.points).all() and clean.points[:, 2].min() > 0.003     # NaN and table removed
    np.testing.assert_allclose(clean.support_plane, [0, 0, 1, 0], atol=0.01)        # the table, found
    assert seen["prepare"].field.plane is not None                                  # ... and kept as a constraint
    assert len(seen["prepare"].points) <= pipe.config.prepare.cloud_points
    assert isinstance(seen["rank"], np.ndarray)
    assert pl.CleanCloud is type(clean)


def test_same_cloud_and_config_give_the_same_grasps():
    """One seeded generator per plan: two fresh pipelines, the same raw cloud -> identical grasps."""
    cfg = planner_config(SMALL)
    pts, nrm = _scene()
    a = GraspPipeline(config=cfg).plan(pts, nrm)
    b = GraspPipeline(config=cfg).plan(pts, nrm)
    assert a.success and b.success and len(a.grasps) == len(b.grasps) == 3
    for ga, gb in zip(a.grasps, b.grasps):
        for k in ("wrist_pos", "wrist_quat", "pregrasp", "grasp", "squeeze"):
            np.testing.assert_array_equal(getattr(ga, k), getattr(gb, k))
        assert (ga.score, ga.validated, ga.sim_success) == (gb.score, gb.validated, gb.sim_success)
    c = GraspPipeline(config=planner_config({"seed": 1}, cfg)).plan(pts, nrm)   # the seed matters
    assert not np.array_equal(c.grasps[0].wrist_pos, a.grasps[0].wrist_pos)


def test_bare_table_gives_no_grasp(pipe):
    """No object, no grasp: a bare table (2.5 k points, 1 mm noise) fails with a clear message."""
    rng = np.random.default_rng(5)
    t = np.c_[rng.uniform(0.25, 0.55, 2500), rng.uniform(-0.15, 0.15, 2500), rng.normal(0.0, 0.001, 2500)]
    r = pipe.plan(t)
    assert not r.success and not r.grasps and "no object on the support plane" in r.message


@pytest.mark.parametrize("check", ["lift", "both"])
def test_lift_check_simulates_the_table(check, monkeypatch):
    """validation.check lift|both: the candidates are lifted off the support plane in MuJoCo
    (the tabletop scene, in the table's frame), both = free space AND lift."""
    from dex1b_ros.validate import GraspValidator
    calls = []
    for name in ("validate", "validate_tabletop"):
        real = getattr(GraspValidator, name)

        def spy(self, *a, _real=real, _name=name, **k):
            calls.append(_name)
            return _real(self, *a, **k)
        monkeypatch.setattr(GraspValidator, name, spy)
    cfg = planner_config({**SMALL, "validation": {"num_validate": 2, "validate_stop_after": 0, "check": check}})
    r = GraspPipeline(config=cfg).plan(*_scene())
    assert r.success, r.message
    assert "validate_tabletop" in calls and (("validate" in calls) == (check == "both"))
    assert sum(g.validated for g in r.grasps) == 2
    with pytest.raises(Exception, match="check"):
        planner_config({"validation": {"check": "sideways"}})


def test_configure_swaps_the_settings_but_not_the_hand(pipe):
    old = pipe.config
    try:
        pipe.configure(planner_config({"ranking": {"top_k": 2}}, old))
        assert pipe.config.ranking.top_k == 2
        from dex1b_ros.config_utils import ConfigError
        with pytest.raises(ConfigError, match="hand: cannot change"):
            pipe.configure(planner_config({"hand": "allegro"}, old))
    finally:
        pipe.configure(old)


def test_legacy_pipeline_config_maps_onto_planner_config():
    pc = PipelineConfig(num_samples=16, refine_steps=10, num_validate=2, top_k=2, field_resolution=24, seed=3)
    cfg = pc.planner_config()
    assert (cfg.sampling.num_samples, cfg.refinement.refine_steps, cfg.validation.num_validate, cfg.ranking.top_k,
            cfg.prepare.field_resolution, cfg.seed) == (16, 10, 2, 2, 24, 3)
    d = PlannerConfig()
    assert (PipelineConfig().num_samples, PipelineConfig().refine_steps, PipelineConfig().num_validate) == \
        (d.sampling.num_samples, d.refinement.refine_steps, d.validation.num_validate)    # one source of defaults


def test_cancel_stops_the_plan(pipe, box_cloud):
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 5

    r = pipe.plan(box_cloud[0], box_cloud[1], cancel=cancel)
    assert not r.success and "cancel" in r.message


@pytest.mark.parametrize("points, why", [
    (np.zeros((0, 3)), "bad cloud: empty cloud"),
    (np.full((100, 3), np.nan), "bad cloud: cloud has only 0 finite points"),
    (np.zeros((10, 2)), "points must be (N, 3)"),
])
def test_bad_clouds_fail_with_a_clear_message(pipe, points, why):
    r = pipe.plan(points)
    assert not r.success and why in r.message


# ------------------------------------------------------------------------------ prepare_cloud
R = 0.04  # m, sphere radius


def _sphere(n=2000, seed=0):
    """Points on a sphere of radius R about the origin, with outward normals."""
    d = np.random.default_rng(seed).normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return R * d, d


def _view(cam, n=2000, seed=0):
    """The part of the sphere a camera in direction ``cam`` sees: normals toward the camera."""
    p, nrm = _sphere(n, seed)
    cam = np.asarray(cam, dtype=np.float64) / np.linalg.norm(cam)
    seen = nrm @ cam > 0.1
    return p[seen], nrm[seen]


def _sdf(field, q):
    import torch
    return field.sdf(torch.as_tensor(np.asarray(q), dtype=torch.float32, device=field.device)).cpu().numpy()


def test_prepare_cloud_single_view_hull_field_is_the_completed_object():
    from dex1b_ros.planner.pipeline import prepare_cloud
    p, n = _view([1, 0, 0])
    prep = prepare_cloud(p, n, PipelineConfig(field_resolution=24))
    assert prep.partial and prep.hull_mesh is not None and prep.hull_mesh.is_watertight
    # solid through the middle and at the unseen back (the mirror recovers the sphere), outside beyond it
    d = _sdf(prep.field, [[0.0, 0, 0], [-R + 0.006, 0, 0], [-R - 0.01, 0, 0], [R + 0.01, 0, 0]])
    assert d[0] < -0.8 * R and d[1] < 0 and d[2] > 0.005 and d[3] > 0.005
    assert abs(prep.hull_mesh.volume / (4 / 3 * np.pi * R ** 3) - 1) < 0.15
    assert prep.field.points[:, 0].min().item() < -0.8 * R   # surface samples include the completed back


def test_prepare_cloud_single_view_shell_field_and_mirrored_hull():
    from dex1b_ros.planner.pipeline import prepare_cloud
    cfg = PipelineConfig(field_resolution=24, partial_shell=0.005, single_view_field="shell")
    p, n = _view([1, 0, 0])
    prep = prepare_cloud(p, 3 * n, cfg)               # normals are normalised
    assert prep.partial is True
    np.testing.assert_allclose(np.linalg.norm(prep.normals, axis=1), 1, atol=1e-12)
    np.testing.assert_array_equal(prep.points, p)      # the field and generator get the view as seen
    # the field: distances from the unmirrored view, the inside clipped to -shell
    deep = np.array([[0.0, 0, 0], [-0.02, 0, 0], [0.01, 0.01, 0], [0.0, 0, -0.015]])
    np.testing.assert_allclose(_sdf(prep.field, deep), -cfg.partial_shell, atol=1e-4)
    assert prep.field.grid.values.min().item() >= -cfg.partial_shell - 1e-6
    assert _sdf(prep.field, [[R + 0.01, 0, 0]])[0] > 0.005  # in front of the seen surface: outside
    assert prep.field.plane is None
    # the hull: the view, then its mirror image behind it (reaching the unseen back, x < 0)
    N = len(p)
    assert len(prep.hull_points) == 2 * N
    np.testing.assert_array_equal(prep.hull_points[:N], p)
    assert prep.hull_points[N:, 0].min() < -0.02 < p[:, 0].min()


def test_prepare_cloud_with_a_table_mirrors_vertically_and_keeps_the_hull_above_it():
    from dex1b_ros.planner.pipeline import prepare_cloud
    cfg = PrepareConfig(field_resolution=24, single_view_field="shell", completion="mirror")
    p, n = _view([1, 0, 1])                            # camera 45 deg above the object
    plane = np.array([0.0, 0.0, 2.0, 0.03])            # z = -0.015 (not unit length on purpose)
    assert (p[:, 2] < -0.015).any()                    # the view itself reaches below the table
    prep = prepare_cloud(p, n, cfg, support_plane=plane)
    assert prep.partial
    N = len(p)
    hull = prep.hull_points
    np.testing.assert_array_equal(hull[:N], p)
    assert N < len(hull) < 2 * N                       # mirrored points below the table dropped
    below = np.flatnonzero(hull[:, 2] < -0.015)
    assert len(below) and (below < N).all()            # only original points lie below the table
    # mirrored about a vertical plane: heights are those of seen points
    assert np.isin(hull[N:, 2], p[:, 2]).all()
    assert prep.field.plane is not None
    np.testing.assert_allclose(prep.field.plane.cpu().numpy(), [0, 0, 1, 0.015], atol=1e-6)
    assert _sdf(prep.field, [[0.0, 0, 0]])[0] == pytest.approx(-cfg.partial_shell, abs=1e-4)


def test_prepare_cloud_with_a_table_completes_the_object_to_about_its_true_size():
    """Seen from 45 deg above with the table known: the mirror plane lies halfway through the seen
    depth (a plane at the deepest seen point - the far edge of what is seen of the top - made the
    completed object about twice too deep)."""
    from dex1b_ros.planner.pipeline import prepare_cloud
    p, n = _view([1, 0, 1])
    for completion in ("mirror", "side", "revolve"):
        prep = prepare_cloud(p, n, PrepareConfig(field_resolution=24, completion=completion),
                             support_plane=np.array([0.0, 0, 1, R]))
        ext = prep.hull_mesh.extents
        assert abs(ext[0] - 2 * R) < 0.25 * 2 * R and abs(ext[1] - 2 * R) < 0.1 * 2 * R, completion
        assert prep.field.plane is not None and _sdf(prep.field, [[0.0, 0, 0]])[0] < -0.5 * R


def test_prepare_cloud_revolves_a_round_object_about_its_axis():
    """The default completion turns a round view about the vertical axis the normals point at: the
    sphere's unseen back comes out where it is (the mirror halfway through the seen depth leaves it
    short), and the completed hull is close to the sphere."""
    import trimesh

    from dex1b_ros.perception.completion import completion_error
    from dex1b_ros.planner.pipeline import prepare_cloud
    p, n = _view([1, 0, 0.5])
    plane = np.array([0.0, 0, 1, R])
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=R)
    err = {c: completion_error(sphere, prepare_cloud(p, n, PrepareConfig(field_resolution=24, completion=c),
                                                     support_plane=plane).hull_mesh) for c in ("mirror", "revolve")}
    assert PrepareConfig().completion == "revolve"
    assert err["revolve"]["iou"] > 0.9 and err["revolve"]["iou"] > err["mirror"]["iou"] + 0.05


def test_prepare_cloud_seen_from_straight_above_drops_the_view_onto_the_table():
    from dex1b_ros.planner.pipeline import prepare_cloud
    p, n = _view([0, 0, 1])                            # camera overhead: no horizontal view direction
    prep = prepare_cloud(p, n, PrepareConfig(field_resolution=24, completion="mirror"),   # revolve: when round
                         support_plane=np.array([0.0, 0, 1, R]))
    assert prep.partial and np.isfinite(prep.hull_points).all()
    N = len(p)
    np.testing.assert_allclose(prep.hull_points[N:, 2], -R + 1e-3, atol=1e-9)   # on the table (z = -R)
    np.testing.assert_allclose(prep.hull_points[N:, :2], p[:, :2])


def test_prepare_cloud_full_cloud_is_left_whole():
    from dex1b_ros.planner.pipeline import prepare_cloud
    cfg = PipelineConfig(field_resolution=24)
    p, n = _sphere()
    prep = prepare_cloud(p, n, cfg)
    assert prep.partial is False
    np.testing.assert_array_equal(prep.hull_points, prep.points)
    np.testing.assert_array_equal(prep.points, p)
    assert _sdf(prep.field, [[0.0, 0, 0]])[0] < -0.025      # solid inside (~ -R on this grid), not clipped
    prep = prepare_cloud(p, n, cfg, support_plane=np.array([0.0, 0, 1, 0.04]))
    assert not prep.partial and prep.field.plane is not None and len(prep.hull_points) == len(p)


def test_plan_uses_prepare_cloud_and_validates_against_its_hull(pipe, monkeypatch):
    import dex1b_ros.perception.preprocess as pre
    import dex1b_ros.planner.pipeline as pl

    seen = {}
    real_prepare, real_mesh = pl.prepare_cloud, pre.estimate_object_mesh

    def spy_prepare(*a, **k):
        seen["prep"] = real_prepare(*a, **k)
        seen["plane"] = k.get("support_plane")
        return seen["prep"]

    def spy_mesh(points, *a, **k):
        seen["hull"] = np.array(points)
        return real_mesh(points, *a, **k)

    monkeypatch.setattr(pl, "prepare_cloud", spy_prepare)
    monkeypatch.setattr(pre, "estimate_object_mesh", spy_mesh)
    p, n = _view([1, 0, 1])
    plane = np.array([0.0, 0, 1, 0.03])
    r = pipe.plan(p, n, support_plane=plane)
    assert r.success and "(single view)" in r.message
    prep = seen["prep"]
    assert prep.partial and seen["plane"] is plane
    assert len(prep.points) <= min(len(p), pipe.config.prepare.cloud_points)   # after the planner's cleaning
    np.testing.assert_array_equal(seen["hull"], prep.hull_points)
    assert len(prep.hull_points) > len(prep.points)


@pytest.mark.slow
def test_validation_stops_at_the_first_pass_without_changing_the_chosen_grasp(box_cloud):
    # the six-direction check (the box's full cloud may be read as standing on its bottom face,
    # where the default check would lift it instead)
    base = planner_config({"sampling": {"num_samples": 48}, "refinement": {"refine_steps": 20},
                           "validation": {"num_validate": 8, "check": "free_space", "pass_order": "rank"},
                           "ranking": {"top_k": 3}})
    all_ = GraspPipeline("leap", config=planner_config({"validation.validate_stop_after": 0}, base))
    first = GraspPipeline("leap", config=planner_config({"validation.validate_stop_after": 1}, base))
    a = all_.plan(box_cloud[0], box_cloud[1])
    b = first.plan(box_cloud[0], box_cloud[1])
    n_a, n_b = sum(g.validated for g in a.grasps), sum(g.validated for g in b.grasps)
    assert any(g.sim_success for g in a.grasps)           # a real comparison: something passes
    np.testing.assert_allclose(a.grasps[0].wrist_pos, b.grasps[0].wrist_pos)
    np.testing.assert_allclose(a.grasps[0].grasp, b.grasps[0].grasp)
    assert a.grasps[0].sim_success and b.grasps[0].sim_success
    assert "passed MuJoCo" in b.message and n_b <= n_a
    with pytest.raises(ValueError, match="validate_stop_after"):
        PipelineConfig(validate_stop_after=-1)


def test_a_flat_cloud_fails_the_plan_with_a_clear_message(pipe):
    rng = np.random.default_rng(0)
    p = np.c_[rng.uniform(-0.04, 0.04, (400, 2)), np.zeros(400)]   # a flat disc: no volume
    n = np.tile([0.0, 0.0, 1.0], (400, 1))
    old = pipe.config
    pipe.configure(planner_config({"preprocess.remove_plane": False}, old))   # else: taken for a table, removed
    try:
        r = pipe.plan(p, n)
    finally:
        pipe.configure(old)
    assert not r.success and "span no volume" in r.message
    r = pipe.plan(p, n)
    assert not r.success and "no object on the support plane" in r.message


def test_table_rotation_takes_the_plane_normal_to_z():
    from dex1b_ros.planner.pipeline import _table_rotation
    for n in ([0, 0, 1], [0.2, -0.1, 1.0], [0.5, 0.5, 0.7]):
        plane = np.r_[np.asarray(n, float) * 2.0, 0.3]
        R = _table_rotation(plane)
        np.testing.assert_allclose(R @ (plane[:3] / np.linalg.norm(plane[:3])), [0, 0, 1], atol=1e-9)
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-9)


def test_the_shipped_evaluator_ranks_single_views_only(box_cloud):
    """ranking.evaluator 'auto' (the default): LEAP's shipped evaluator scores single views (what it
    learned from), not full clouds; '' turns it off."""
    from dex1b_ros.planner.bench_quality import view_scene
    from dex1b_ros.resources import models_dir

    cfg = planner_config({"sampling.num_samples": 24, "refinement.refine_steps": 10, "validation.num_validate": 0})
    assert cfg.ranking.evaluator == "auto"
    p = GraspPipeline("leap", config=cfg)
    assert p.evaluator_path("auto") == str(models_dir("leap", "evaluator")) and p.evaluator_path("") is None
    full = p.plan(*box_cloud)
    assert full.success and all(g.evaluator_prob is None for g in full.grasps)
    pts, nrm, plane = view_scene(make_object("box", 0, size=0.08).mesh, "leap", seed=0)
    view = p.plan(pts, nrm, support_plane=plane)
    assert view.success and all(0.0 <= g.evaluator_prob <= 1.0 for g in view.grasps), view.message
    assert "predicted good by the evaluator" in view.message
    assert [g.score for g in view.grasps] == sorted([g.score for g in view.grasps], reverse=True)
    p.configure(planner_config({"ranking.evaluator": ""}, cfg))
    assert all(g.evaluator_prob is None for g in p.plan(pts, nrm, support_plane=plane).grasps)


def test_predicted_success_is_the_check_gated_by_the_evaluator_threshold():
    """predicted_success (the node's verdict) = passed the MuJoCo check and, with an evaluator,
    evaluator_prob >= ranking.evaluator_threshold; without one it is the check's verdict."""
    from dex1b_ros.planner.bench_quality import view_scene

    cfg = planner_config({"sampling.num_samples": 24, "refinement.refine_steps": 20, "validation.num_validate": 5,
                          "validation.validate_stop_after": 0})
    p = GraspPipeline("leap", config=cfg)
    pts, nrm, plane = view_scene(make_object("box", 0, size=0.06).mesh, "leap", seed=0)
    ev = p.evaluator(p.evaluator_path("auto"))
    assert p.verdict_threshold() == (ev.verdict_threshold or ev.threshold)     # 0 = the card's calibrated one
    # 'auto' (the default) ranks with the head the card was calibrated for; no evaluator: free_space
    assert p.evaluator_head() == ev.card.get("verdict_head", "free_space")
    assert p.evaluator_head(planner_config({"ranking.evaluator": ""}, cfg)) == "free_space"
    assert p.evaluator_head(planner_config({"ranking.evaluator_head": "lift"}, cfg)) == "lift"
    # calibrated for one head (card verdict_head): with another head it does not apply
    other = "free_space" if ev.card.get("verdict_head", "free_space") != "free_space" else "lift"
    assert p.verdict_threshold(planner_config({"ranking.evaluator_head": other}, cfg)) == ev.threshold
    for over in ({"ranking.evaluator_threshold": 1e-6}, {"ranking.evaluator_threshold": 1.0},
                 {"ranking.evaluator_threshold": 0.0}, {"ranking.evaluator": ""}):
        p.configure(planner_config(over, cfg))
        r = p.plan(pts, nrm, support_plane=plane)
        assert r.success, r.message
        thr = p.verdict_threshold()
        for g in r.grasps:
            gate = g.evaluator_prob is None or g.evaluator_prob >= thr
            assert g.predicted_success == (g.sim_success and gate), (over, g.sim_success, g.evaluator_prob)
        if over.get("ranking.evaluator_threshold") == 1.0:
            assert any(g.sim_success for g in r.grasps) and not any(g.predicted_success for g in r.grasps)
        if over.get("ranking.evaluator_threshold") == 1e-6 or "ranking.evaluator" in over:
            assert [g.predicted_success for g in r.grasps] == [g.sim_success for g in r.grasps]


def test_second_completion_only_removes_passes():
    """validation.second_completion: a pass must pass again on the view completed another way, so
    the passes with it are a subset of those without it (same candidates, same first check)."""
    from dex1b_ros.config_utils import ConfigError
    from dex1b_ros.planner.bench_quality import view_scene

    cfg = planner_config({"sampling.num_samples": 24, "refinement.refine_steps": 20, "validation.num_validate": 8,
                          "validation.validate_stop_after": 0, "ranking.top_k": 8})
    p = GraspPipeline("leap", config=cfg)
    pts, nrm, plane = view_scene(make_object("bottle", 0).mesh, "leap", seed=0)   # revolve and mirror differ
    one = {tuple(np.round(g.wrist_pos, 6)): g.sim_success for g in p.plan(pts, nrm, support_plane=plane).grasps}
    p.configure(planner_config({"validation.second_completion": "mirror"}, cfg))
    two = {tuple(np.round(g.wrist_pos, 6)): g.sim_success for g in p.plan(pts, nrm, support_plane=plane).grasps}
    assert one.keys() == two.keys() and any(one.values())
    assert all(one[k] or not two[k] for k in one)          # nothing passes only with the second opinion
    assert sum(two.values()) < sum(one.values())           # and here the mirrored guess turns a pass down
    with pytest.raises(ConfigError, match="second_completion"):
        planner_config({"validation.second_completion": "guess"})


def test_check_table_plane_lets_fingers_reach_under_a_floating_guess():
    """validation.check_table: a ball seen from above is guessed with its unseen bottom floating above
    the table; checked on a table under that guess, the grasps around its equator hit the table; on the
    table where the cloud showed it ("plane") more of the same candidates pass. A bad value names the field."""
    from dex1b_ros.config_utils import ConfigError
    from dex1b_ros.planner.bench_quality import view_scene

    cfg = planner_config({"sampling.num_samples": 24, "refinement.refine_steps": 20, "validation.num_validate": 12,
                          "validation.validate_stop_after": 0, "ranking.top_k": 12, "validation.check_table": "guess"})
    p = GraspPipeline("leap", config=cfg)
    pts, nrm, plane = view_scene(make_object("sphere", 0).mesh, "leap", seed=0)
    r = p.plan(pts, nrm, support_plane=plane, keep_scene=True)
    assert (r.scene.hull_vertices @ plane[:3] + plane[3]).min() > 0.01   # the guess floats > 1 cm above the table
    guess = {tuple(np.round(g.wrist_pos, 6)): g.sim_success for g in r.grasps}
    p.configure(planner_config({"validation.check_table": "plane"}, cfg))
    table = {tuple(np.round(g.wrist_pos, 6)): g.sim_success for g in p.plan(pts, nrm, support_plane=plane).grasps}
    assert guess.keys() == table.keys()                               # same candidates, another check
    assert sum(table.values()) > sum(guess.values())
    with pytest.raises(ConfigError, match="check_table"):
        planner_config({"validation.check_table": "floor"})


def test_pass_order_steadiest_puts_the_pass_that_moved_least_first():
    """validation.pass_order: the check measures how far the object moved (Checks.disp_mm); with
    "steadiest" the passes are returned in that order, the rest as before. A bad value names the field."""
    from dex1b_ros.config_utils import ConfigError
    from dex1b_ros.planner.bench_quality import view_scene
    from dex1b_ros.planner.pipeline import _Run

    cfg = planner_config({"sampling.num_samples": 24, "refinement.refine_steps": 20, "validation.num_validate": 12,
                          "validation.validate_stop_after": 0, "ranking.top_k": 12, "validation.pass_order": "rank"})
    p = GraspPipeline("leap", config=cfg)
    pts, nrm, plane = view_scene(make_object("sphere", 0).mesh, "leap", seed=0)
    run = _Run.new(cfg)
    prep = p.prepare(run, p.preprocess(run, pts, nrm, plane))
    gs, _ = p.refine(run, prep, p.sample(run, prep))
    cand = p.rank(run, gs, 0, prep)
    c = p.check(run, prep, gs, cand)
    disp = {tuple(np.round(gs.trans[i].astype(np.float64), 6)): c.disp_mm[i] for i in cand[:12]}
    assert np.isfinite(c.disp_mm[cand[:12]][c.success[cand[:12]]]).all() and c.success.sum() >= 2
    rank = p.plan(pts, nrm, support_plane=plane).grasps
    p.configure(planner_config({"validation.pass_order": "steadiest"}, cfg))
    steady = p.plan(pts, nrm, support_plane=plane).grasps
    key = [tuple(np.round(g.wrist_pos, 6)) for g in steady]
    n = sum(g.sim_success for g in steady)
    assert [disp[k] for k in key[:n]] == sorted(disp[k] for k in key[:n])          # the passes, steadiest first
    assert [g.score for g in steady] == sorted((g.score for g in steady), reverse=True)   # the score agrees
    ranked = [disp[tuple(np.round(g.wrist_pos, 6))] for g in rank if g.sim_success]
    assert ranked != sorted(ranked)                                               # (not so by rank here)
    assert set(key[:n]) == {tuple(np.round(g.wrist_pos, 6)) for g in rank if g.sim_success}
    assert key[n:] == [tuple(np.round(g.wrist_pos, 6)) for g in rank if not g.sim_success]
    with pytest.raises(ConfigError, match="pass_order"):
        planner_config({"validation.pass_order": "fastest"})


def test_evaluator_head_picks_the_prediction_that_ranks(box_cloud):
    """ranking.evaluator_head: free_space | lift | both (product) on a single view with a table;
    the candidates are the same (same cloud, same answer), only their probability and order change;
    a bad value names the field."""
    from dex1b_ros.planner.bench_quality import view_scene

    base = planner_config({"sampling.num_samples": 16, "refinement.refine_steps": 5, "validation.num_validate": 0,
                           "ranking.top_k": 16})
    pts, nrm, plane = view_scene(make_object("box", 0, size=0.08).mesh, "leap", seed=1)
    prob = {}
    for head in ("free_space", "lift", "both"):
        r = GraspPipeline("leap", config=planner_config({"ranking.evaluator_head": head}, base)).plan(
            pts, nrm, support_plane=plane)
        assert r.success and len(r.grasps) == 16, r.message
        prob[head] = {tuple(np.round(g.wrist_pos, 6)): g.evaluator_prob for g in r.grasps}
    assert prob["free_space"].keys() == prob["lift"].keys() == prob["both"].keys()
    for k, p in prob["both"].items():
        assert p == pytest.approx(prob["free_space"][k] * prob["lift"][k], abs=1e-6)
    assert prob["free_space"] != prob["lift"]
    with pytest.raises(Exception, match="evaluator_head"):
        planner_config({"ranking.evaluator_head": "vibes"})


def test_accepted_first_orders_by_the_evaluator_alone_unless_always():
    """ranking.accepted_first: energy (default: energy-filter-accepted candidates first only when ranking
    by energy) | always | never; with the evaluator the default ranks by its probability alone, always
    puts accepted candidates first; a bad value names the field."""
    from dex1b_ros.config_utils import ConfigError
    from dex1b_ros.planner.bench_quality import view_scene

    base = planner_config({"sampling.num_samples": 32, "refinement.refine_steps": 50, "validation.num_validate": 0,
                           "ranking.top_k": 32})
    assert base.ranking.accepted_first == "energy"
    assert base.ranking.accepted_go_first(False) and not base.ranking.accepted_go_first(True)
    pts, nrm, plane = view_scene(make_object("bottle", 1).mesh, "leap", seed=2)
    got = {}
    for mode in ("energy", "always"):
        p = GraspPipeline("leap", config=planner_config({"ranking.accepted_first": mode}, base))
        r = p.plan(pts, nrm, support_plane=plane)
        assert r.success and len(r.grasps) == 32, r.message
        got[mode] = [(g.evaluator_prob, round(g.score - g.evaluator_prob)) for g in r.grasps]   # score: + 1 accepted
    probs = [e for e, _ in got["energy"]]
    assert probs == sorted(probs, reverse=True)                         # the probability alone
    acc = [a for _, a in got["always"]]
    assert acc == sorted(acc, reverse=True) and 0 < sum(acc) < 32       # accepted ones first
    assert got["energy"] != got["always"]                               # here an accepted one is not the likeliest
    k = sum(acc)
    for part in (got["always"][:k], got["always"][k:]):                 # then by probability within each
        assert [e for e, _ in part] == sorted((e for e, _ in part), reverse=True)
    assert sorted(got["energy"]) == sorted(got["always"])               # the same candidates
    with pytest.raises(ConfigError, match="accepted_first"):
        planner_config({"ranking.accepted_first": True})
    with pytest.raises(ConfigError, match="accepted_first"):
        planner_config({"ranking.accepted_first": "sometimes"})


def test_columns_check_simulates_the_parts_not_the_hull(monkeypatch):
    """prepare.check_shape: columns: a single view of a non-convex object on a table is checked as its
    column parts (a list of convex meshes, in the table's frame), a convex one as its hull."""
    import trimesh

    import dex1b_ros.validate as val
    from dex1b_ros.geometry.pointcloud import look_at, render_partial_cloud

    got = []
    real = val.GraspValidator

    def spy(hand_cfg, obj, *a, **k):
        got.append(obj)
        return real(hand_cfg, obj, *a, **k)

    monkeypatch.setattr(val, "GraspValidator", spy)
    a = trimesh.creation.box([0.10, 0.03, 0.03])
    b = trimesh.creation.box([0.03, 0.10, 0.03])
    a.apply_translation([0.035, 0.0, 0.015])
    b.apply_translation([0.0, 0.035, 0.015])
    ell = trimesh.boolean.union([a, b], engine="manifold")          # an L lying on the table z = 0
    c = ell.bounds.mean(0)
    pc = render_partial_cloud(ell, 2000, seed=0, camera_pose=look_at(c + [0.2, 0.15, 0.42], c))
    cfg = planner_config({**SMALL, "prepare": {"check_shape": "columns"},
                          "validation": {"num_validate": 1, "validate_stop_after": 0}})
    r = GraspPipeline(config=cfg).plan(pc.points, pc.normals, support_plane=np.array([0.0, 0, 1, 0]))
    assert r.success, r.message
    assert isinstance(got[0], list) and len(got[0]) >= 4
    assert all(isinstance(p, trimesh.Trimesh) and p.bounds[0, 2] > -1e-6 for p in got[0])   # on the table
    got.clear()
    r = GraspPipeline(config=cfg).plan(*_scene())                   # a box: convex, the hull
    assert r.success and isinstance(got[0], trimesh.Trimesh)


def test_prepare_cloud_carved_field_keeps_a_seen_opening_open():
    """An open box (a tray 4 cm deep) seen from straight above: its floor and its rim. The hull of
    the completed view fills the opening; ``single_view_field: carved`` makes the space the camera
    saw through (above the floor, inside the rim) outside again, and leaves the hull below the floor."""
    from dex1b_ros.planner.pipeline import prepare_cloud
    g = np.arange(-0.044, 0.0441, 0.004)
    xx, yy = np.meshgrid(g, g)
    xy = np.c_[xx.ravel(), yy.ravel()]
    rim = np.abs(xy).max(1) > 0.036
    p = np.r_[np.c_[xy[~rim], np.zeros((~rim).sum())], np.c_[xy[rim], np.full(rim.sum(), 0.04)]]
    n = np.tile([0.0, 0.0, 1.0], (len(p), 1))
    fields = {f: prepare_cloud(p, n, PrepareConfig(field_resolution=32, single_view_field=f, completion="mirror"))
              for f in ("hull", "carved")}
    assert all(f.partial for f in fields.values())
    q = [[0.0, 0.0, 0.02],      # in the opening, 2 cm above the floor
         [0.0, 0.0, -0.01]]     # under the floor (the guessed back)
    h, c = _sdf(fields["hull"].field, q), _sdf(fields["carved"].field, q)
    assert h[0] < -0.005 and c[0] > 0.01
    assert h[1] < 0 and c[1] == pytest.approx(h[1], abs=1e-6)
    assert fields["carved"].hull_mesh is not None       # the check's object is still the hull
