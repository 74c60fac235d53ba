"""``GraspPipeline``: the grasp planner behind the ROS node (no ROS here).

``plan`` takes the raw cloud in the planning frame and runs six named steps, one method each:

1. :meth:`~GraspPipeline.preprocess`: crop, support plane found and removed (or the one given),
   outliers, voxel, largest cluster, size checks (:func:`~dex1b_ros.perception.preprocess_cloud`);
2. :meth:`~GraspPipeline.prepare`: at most ``prepare.cloud_points`` points, normals estimated when
   missing, then :func:`prepare_cloud`: the object field (a single view completed by symmetry)
   and the validator's object;
3. :meth:`~GraspPipeline.sample`: ``sampling.num_samples`` DexSimple candidates conditioned on the
   cloud (none without a generator model);
4. :meth:`~GraspPipeline.refine`: ``refinement.refine_steps`` of the SDF post-optimisation (without
   a generator: synthesis from scratch, ``refinement.synth_steps``; slower, and said so in every
   result);
5. :meth:`~GraspPipeline.rank`: accepted by the energy filter first, then by energy (with
   ``ranking.evaluator``: by the learned evaluator's success probability instead);
6. :meth:`~GraspPipeline.check`: the best ``validation.num_validate`` simulated in MuJoCo against the
   prepared object, best first, stopping after ``validation.validate_stop_after`` passes;

then the top ``ranking.top_k``, checked passes first. Every setting is a field of
:class:`~dex1b_ros.planner.config.PlannerConfig`. One ``np.random.Generator`` seeded with
``config.seed`` per plan feeds every random choice (subsampling, RANSAC's seed, the generator's
and the synthesis' seeds): the same cloud with the same config gives the same grasps.

:func:`prepare_cloud` is also what ``dex1b eval`` runs, so the evaluation prepares its clouds
exactly as the node does.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import resources
from ..config_utils import ConfigError
from ..hands import load_hand
from ..memory import release_free_memory
from ..optim import Cancelled, GraspOptimizer, ObjectField, refinement_config, synthesis_config
from ..optim.energy import EnergyWeights
from ..perception.completion import complete_view
from ..rotation import matrix_to_quat_np, quat_to_matrix_np
from .config import PlannerConfig, PrepareConfig, planner_config
from .types import CancelFn, PlannedGrasp, PlanResult, PlanScene, ProgressFn

#: The package's share directory at import time (see :mod:`dex1b_ros.resources`); kept for compatibility.
REPO_ROOT = resources.resource_path(must_exist=False)

_D = PlannerConfig()


@dataclass
class PipelineConfig:
    """The planning settings as one flat dataclass (the shape before :class:`PlannerConfig`), kept
    for existing callers: ``GraspPipeline(config=PipelineConfig(...))`` and
    ``prepare_cloud(..., PipelineConfig(...))`` still work. Its defaults ARE PlannerConfig's;
    :meth:`planner_config` converts. New code uses PlannerConfig."""

    num_samples: int = _D.sampling.num_samples
    refine_steps: int = _D.refinement.refine_steps
    synth_steps: int = _D.refinement.synth_steps
    num_validate: int = _D.validation.num_validate
    top_k: int = _D.ranking.top_k
    require_validated: bool = _D.validation.require_validated
    cloud_points: int = _D.prepare.cloud_points
    field_resolution: int = _D.prepare.field_resolution
    partial_threshold: float = _D.prepare.partial_threshold
    single_view_field: str = _D.prepare.single_view_field
    partial_shell: float = _D.prepare.partial_shell
    validate_threads: int = _D.validation.validate_threads
    validate_stop_after: int = _D.validation.validate_stop_after
    seed: int = _D.seed

    _SECTIONS = {"sampling": ("num_samples",), "refinement": ("refine_steps", "synth_steps"),
                 "validation": ("num_validate", "require_validated", "validate_threads", "validate_stop_after"),
                 "ranking": ("top_k",),
                 "prepare": ("cloud_points", "field_resolution", "partial_threshold", "single_view_field",
                             "partial_shell")}

    def __post_init__(self):
        self.planner_config()   # validates (errors name the nested field, e.g. validation.validate_stop_after)

    def planner_config(self, base: PlannerConfig | None = None) -> PlannerConfig:
        over = {sec: {k: getattr(self, k) for k in keys} for sec, keys in self._SECTIONS.items()}
        over["seed"] = self.seed
        return planner_config(over, base)


def shipped_model(hand: str) -> Path:
    """The shipped generator weights ``<share>/models/<hand>/dexsimple.safetensors`` (may not exist)."""
    return resources.models_dir(hand, "dexsimple.safetensors", must_exist=False)


def _estimate_normals(points: np.ndarray) -> np.ndarray:
    """Outward normals of a cloud: open3d PCA normals, flipped to point away from the centroid."""
    import open3d as o3d
    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    pc.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(16))
    n = np.asarray(pc.normals)
    flip = np.einsum("ij,ij->i", n, points - points.mean(0)) < 0
    n[flip] *= -1
    return n


@dataclass
class PreparedCloud:
    """What :func:`prepare_cloud` makes of a cleaned cloud (planning / object frame).

    * ``points`` (N, 3) m: the cloud as given, never mirrored; the generator is conditioned on it.
    * ``normals`` (N, 3): outward unit normals of ``points``.
    * ``partial``: one-sided (single-view) cloud, i.e. |mean unit normal| > ``partial_threshold``.
    * ``hull_points`` (M, 3) m: the MuJoCo validator's guess of the whole object (its convex hull
      is what gets simulated, ``estimate_object_mesh(hull_points)``): ``points`` itself for a full
      cloud; for a single view ``points`` followed by their completion (:func:`complete_view`),
      without completed points below the support plane when one is known, and with
      ``prepare.carve`` without those the camera would have seen (:func:`carve_by_view`).
    * ``hull_mesh``: ``estimate_object_mesh(hull_points)`` (the convex hull), the validator's
      object; None when the points span no volume.
    * ``field``: what the optimizer works against, with the support plane when one is known: for
      a full cloud the SDF of ``points``; for a single view (``single_view_field``) the exact SDF
      of ``hull_mesh`` ("hull", default) or the SDF of ``points`` with its inside clipped to
      ``-partial_shell`` ("shell": the unseen back unknown, not solid).
    * ``check_parts``: the MuJoCo check's object when it is not ``hull_mesh``: convex parts (list of
      ``trimesh.Trimesh``, same frame), the completed view as columns on the table
      (``prepare.check_shape: columns``, when the gate let them through); None = ``hull_mesh``.
    """

    points: np.ndarray
    normals: np.ndarray
    partial: bool
    hull_points: np.ndarray
    field: ObjectField
    hull_mesh: object = None
    check_parts: list | None = None

    @property
    def support_plane(self) -> np.ndarray | None:
        """The support plane the field knows (4,) float64 [a, b, c, d] (normal up), or None."""
        plane = getattr(self.field, "plane", None)
        if plane is not None:  # a torch tensor in the field
            plane = np.asarray(plane.detach().cpu().numpy() if hasattr(plane, "detach") else plane, dtype=np.float64)
        return plane


class _SecondOpinion:
    """The check's optional second object guess (``validation.second_completion``): a context
    manager that builds its validator from ``make()`` only when first asked (``validator``; None:
    no second opinion), so plans where nothing passes pay nothing for it."""

    def __init__(self, make=None):
        self._make, self._v = make, None

    @property
    def validator(self):
        if self._v is None and self._make is not None:
            self._v, self._make = self._make(), None
        return self._v

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._v is not None:
            self._v.close()
        return False


def prepare_cloud(points: np.ndarray, normals: np.ndarray, cfg: PrepareConfig | PipelineConfig | PlannerConfig,
                  support_plane: np.ndarray | None = None, device="cpu") -> PreparedCloud:
    """The planner's ``prepare`` step, after cleaning (finite points, at most ``cloud_points``
    of them, normals present): ``GraspPipeline.plan`` and ``dex1b eval`` both run this. ``cfg``:
    a :class:`PrepareConfig` (a PlannerConfig's ``prepare`` is used; a legacy PipelineConfig has
    the same fields).

    ``points`` (N, 3) m with outward ``normals`` (N, 3) (normalised here). A cloud whose
    |mean unit normal| exceeds ``cfg.partial_threshold`` is one-sided (a single camera view): it
    is completed by :func:`~dex1b_ros.perception.completion.complete_view` (``cfg.completion``,
    ``cfg.completion_drop``; ``support_plane`` (4,) [a, b, c, d], normal up, or None). The convex
    hull of that completion is the validator's object and, by default, the optimizer's field (its
    exact SDF); ``single_view_field="shell"`` uses the raw view with its inside clipped to
    ``cfg.partial_shell`` instead. Fields have
    ``cfg.field_resolution`` samples along the longest side, live on ``device``, and know
    ``support_plane`` when given."""
    if isinstance(cfg, PipelineConfig):
        cfg = cfg.planner_config()
    if isinstance(cfg, PlannerConfig):
        cfg = cfg.prepare
    pts = np.asarray(points, dtype=np.float64)
    normals = np.asarray(normals, dtype=np.float64)
    normals = normals / np.linalg.norm(normals, axis=1, keepdims=True)
    partial = bool(np.linalg.norm(normals.mean(0)) > cfg.partial_threshold)
    hull_pts = (complete_view(pts, normals, support_plane, cfg.completion, cfg.completion_drop,
                              cfg.completion_fill_below) if partial else pts)
    carved = partial and cfg.carve
    view = None
    if partial:
        from ..perception.completion import view_direction
        view = view_direction(normals, cfg.carve_view)
    if carved:     # the guessed back only where the camera could not have seen it
        from ..perception.completion import carve_by_view
        hull_pts = hull_pts[carve_by_view(hull_pts, len(pts), view, radius=cfg.carve_radius)]
    from ..perception.preprocess import CloudError, estimate_object_mesh
    try:
        hull_mesh = estimate_object_mesh(hull_pts)
    except CloudError:  # flat or degenerate: no hull (validation then fails with this error)
        hull_mesh = None
    parts = None
    if partial and support_plane is not None and hull_mesh is not None and cfg.check_shape == "columns":
        from ..perception.completion import carve_by_view, column_parts, parts_volume_fraction
        keep = (np.ones(len(hull_pts), bool) if carved
                else carve_by_view(hull_pts, len(pts), view, radius=cfg.carve_radius))
        parts = column_parts(hull_pts[keep], support_plane, cfg.columns_cell, cfg.columns_max_cells)
        if not parts or parts_volume_fraction(parts, hull_mesh) >= cfg.columns_gate:
            parts = None     # (nearly) convex: the hull is as good, and one part is cheaper to simulate
    if parts is not None and cfg.columns_field:
        from ..geometry.pointcloud import _fps
        from ..perception.completion import union_surface
        sp, sn = union_surface(parts, None)          # ~8k points: the grid's distances to the surface
        dense = ObjectField.from_cloud(sp, sn, resolution=cfg.field_resolution, device=device, name="columns")
        sel = _fps(sp, 1024, np.random.default_rng(0))   # the field's surface samples, as from_mesh keeps
        field_ = ObjectField(dense.grid, dense.points[sel], dense.normals[sel], "columns")
    elif partial and cfg.single_view_field in ("hull", "carved") and hull_mesh is not None:
        field_ = ObjectField.from_mesh(hull_mesh, resolution=cfg.field_resolution, n_points=1024, device=device,
                                       single_shell=True,   # a convex hull: one shell, parity sign is exact
                                       name="completed view")
        if cfg.single_view_field == "carved":
            field_ = field_.carved(pts, view, radius=cfg.carve_radius)
    else:
        field_ = ObjectField.from_cloud(pts, normals, resolution=cfg.field_resolution, device=device,
                                        shell=cfg.partial_shell if partial else None)
    if support_plane is not None:
        field_ = field_.with_plane(support_plane)
    return PreparedCloud(pts, normals, partial, hull_pts, field_, hull_mesh, parts)


@dataclass
class _Run:
    """The state of one plan: its config snapshot, its one random generator, callbacks, timings."""

    cfg: PlannerConfig
    rng: np.random.Generator
    say: ProgressFn
    stop: CancelFn
    timings: dict[str, float] = field(default_factory=dict)
    optimizer: GraspOptimizer | None = None   # built by ``prepare`` on the prepared field
    evaluator_prob: np.ndarray | None = None  # (n_candidates,) set by ``rank`` when ranking.evaluator is set
    evaluator_threshold: float = 1.0          # the verdict's threshold on evaluator_prob (set with it)

    @classmethod
    def new(cls, cfg: PlannerConfig, say: ProgressFn | None = None, stop: CancelFn | None = None) -> "_Run":
        """A plan's state: ``cfg`` and its one random generator, seeded with ``cfg.seed``."""
        return cls(cfg, np.random.default_rng(cfg.seed), say or (lambda *a: None), stop or (lambda: False))

    def check_cancel(self) -> None:
        if self.stop():
            raise Cancelled("cancel requested")

    def seed(self) -> int:
        """A seed for a library that takes an int (generator, synthesis), drawn from the plan's generator."""
        return int(self.rng.integers(2 ** 31))


def _scene(points, cloud: "CleanCloud | None", prep: PreparedCloud | None) -> PlanScene:
    """What a plan prepared, as far as it got (``plan(keep_scene=True)``)."""
    empty = np.zeros((0, 3))
    mesh = prep.hull_mesh if prep is not None else None
    return PlanScene(
        object_points=np.asarray(cloud.points if cloud is not None else empty, dtype=np.float64),
        hull_vertices=np.asarray(mesh.vertices, dtype=np.float64) if mesh is not None else empty,
        hull_faces=np.asarray(mesh.faces, dtype=np.int64) if mesh is not None else np.zeros((0, 3), np.int64),
        support_plane=None if cloud is None or cloud.support_plane is None else np.asarray(cloud.support_plane,
                                                                                           dtype=np.float64),
        partial=bool(prep is not None and prep.partial),
        raw_points=None if points is None else np.asarray(points))


def _table_rotation(plane: np.ndarray) -> np.ndarray:
    """(3, 3) rotation taking the support ``plane``'s (4,) [a, b, c, d] unit normal (up) to +z:
    the frame of the validator's tabletop scene (table horizontal under the object)."""
    from ..rotation import rotation_to_z
    return rotation_to_z(plane[:3])


@dataclass
class CleanCloud:
    """Output of the ``preprocess`` step (planning frame, m)."""

    points: np.ndarray                    # (N, 3) the object's points
    normals: np.ndarray | None            # (N, 3) or None when the cloud had none
    support_plane: np.ndarray | None      # (4,) the table (given, or found by preprocessing), or None
    steps: list[str] = field(default_factory=list)


@dataclass
class Checks:
    """Output of the ``check`` step, one entry per candidate of the GraspSet (N,): checked, passed,
    hand-object contacts after the squeeze, penetration and self-penetration (mm), the object's largest
    displacement in the test (mm; NaN when not simulated) and the hand links in real contact."""

    validated: np.ndarray
    success: np.ndarray
    n_contacts: np.ndarray
    pen_mm: np.ndarray
    spen_mm: np.ndarray
    disp_mm: np.ndarray
    n_links: np.ndarray


class PlanFailed(Exception):
    """A step cannot go on; the message becomes the failed PlanResult's message."""


class GraspPipeline:
    """Implements the :class:`~dex1b_ros.planner.types.Planner` protocol.

    Args:
        config: a :class:`PlannerConfig` (or a legacy :class:`PipelineConfig`); None = the defaults.
        hand, hands_dir, device, model_path, num_samples, refine_steps, num_validate, top_k:
            override the config's fields of the same name when given (not None).
    """

    def __init__(self, hand: str | None = None, hands_dir=None, device: str | None = None,
                 num_samples: int | None = None, refine_steps: int | None = None, num_validate: int | None = None,
                 top_k: int | None = None, model_path=None, config: PlannerConfig | PipelineConfig | None = None):
        cfg = config.planner_config() if isinstance(config, PipelineConfig) else (config or PlannerConfig())
        over = {k: str(v) for k, v in (("hand", hand), ("hands_dir", hands_dir), ("device", device),
                                        ("model_path", model_path)) if v is not None}
        for k, sec, v in (("num_samples", "sampling", num_samples), ("refine_steps", "refinement", refine_steps),
                          ("num_validate", "validation", num_validate), ("top_k", "ranking", top_k)):
            if v is not None:
                over[f"{sec}.{k}"] = v
        self.config: PlannerConfig = planner_config(over, cfg) if over else cfg
        cfg = self.config
        self.hands_dir = cfg.hands_dir or None   # "" (a ROS parameter left empty) = the default search path
        self.hand = load_hand(cfg.hand, hands_dir=self.hands_dir, device=cfg.device)
        self.hand_name = self.hand.name
        self.joint_names = list(self.hand.joint_names)
        path = Path(cfg.model_path) if cfg.model_path else shipped_model(self.hand_name)
        self.generator = None
        if path.is_file():
            from ..generator.train import load_generator
            self.generator = load_generator(path, self.hand_name, device=cfg.device)
            self.mode = f"generator+refinement ({path.name})"
        elif cfg.model_path:
            raise FileNotFoundError(f"model_path: generator weights not found at {path}")
        else:
            self.mode = f"optimizer-only (no generator model at {path})"

    # ------------------------------------------------------------------------------------ config
    def configure(self, config: PlannerConfig) -> None:
        """Use ``config`` from the next plan on (a running plan keeps its own). Fields in
        ``PlannerConfig.REBUILD`` (hand, model, device, ...) must equal the built planner's."""
        for k, v in self.config.rebuild_fields().items():
            if getattr(config, k) != v:
                raise ConfigError(f"{k}: cannot change on a built planner ({v!r} -> {getattr(config, k)!r}); "
                                  "build a new one")
        self.config = config

    def warmup(self) -> float:
        """Plan once on a synthetic scene (a 4 cm sphere on a table) so one-time costs (lazy
        tables, open3d's first calls, allocator growth, the validator's first scene) are paid now,
        not by the first request. Returns the seconds it took."""
        t = time.perf_counter()
        rng = np.random.default_rng(0)
        d = rng.normal(size=(512, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        table = np.c_[rng.uniform(-0.12, 0.12, (600, 2)), np.zeros(600)]
        points = np.vstack([0.04 * d + [0.0, 0.0, 0.05], table])
        normals = np.vstack([d, np.tile([0.0, 0.0, 1.0], (600, 1))])
        self.plan(points, normals)
        return time.perf_counter() - t

    # ------------------------------------------------------------------------------------ the plan
    def plan(self, points: np.ndarray, normals: np.ndarray | None = None, num_grasps: int = 0,
             progress: ProgressFn | None = None, cancel: CancelFn | None = None,
             support_plane: np.ndarray | None = None, keep_scene: bool = False) -> PlanResult:
        """Plan grasps for the raw cloud ``points`` (N, 3) m in the planning frame (the object
        and whatever surrounds it; NaN allowed), with optional ``normals`` (N, 3). ``support_plane``
        (4,) [a, b, c, d], unit normal up: the table when the caller knows it (then preprocessing
        does not look for one); None: found by preprocessing, if there is one. ``num_grasps`` > 0
        overrides ``ranking.top_k``. ``keep_scene``: also return what the plan prepared
        (``PlanResult.scene``: object points, completed shape, support plane; for viewers and saved
        plans; costs nothing when off). Never raises for bad input: a failed PlanResult says why."""
        cfg = self.config   # one snapshot for the whole plan (configure() may swap it meanwhile)
        run = _Run.new(cfg, progress, cancel)
        t0 = time.perf_counter()
        base = dict(hand=self.hand_name, joint_names=self.joint_names, info=self.mode)
        cloud = prep = None
        try:
            cloud = self.preprocess(run, points, normals, support_plane)
            prep = self.prepare(run, cloud)
            pose = self.sample(run, prep)
            gs, source = self.refine(run, prep, pose)
            cand = self.rank(run, gs, num_grasps, prep)
            checks = self.check(run, prep, gs, cand)
        except (Cancelled, PlanFailed) as e:
            msg = f"cancelled ({e})" if isinstance(e, Cancelled) else str(e)
            out = PlanResult.failure(msg, timings=run.timings, **base)
        else:
            out = self._result(run, prep, gs, source, cand, checks, num_grasps, t0, base)
        if keep_scene:
            out.scene = _scene(points, cloud, prep)
        del cloud, prep
        release_free_memory()   # hand the plan's freed buffers back to the OS (a node plans for days)
        return out

    def perceive(self, points: np.ndarray, normals: np.ndarray | None = None,
                 support_plane: np.ndarray | None = None,
                 config: PlannerConfig | None = None) -> tuple[CleanCloud, PreparedCloud]:
        """The plan's first two steps alone (``preprocess``, ``prepare``), as :meth:`plan` runs them
        with ``config`` (default: the pipeline's): what the planner makes of a cloud (its object
        points, its guess of the whole object). For viewers and ``dex1b bench completion``.
        Raises PlanFailed for a cloud the plan would reject."""
        cfg = config or self.config
        run = _Run.new(cfg)
        cloud = self.preprocess(run, points, normals, support_plane)
        return cloud, self.prepare(run, cloud)

    def preprocess(self, run: _Run, points, normals, support_plane) -> CleanCloud:
        """Step 1: the object's points out of the raw cloud (:func:`preprocess_cloud` with
        ``config.preprocess``; RANSAC plane search off when ``support_plane`` is given)."""
        from ..perception.preprocess import CloudError, preprocess_cloud

        t = time.perf_counter()
        pcfg = run.cfg.preprocess
        if support_plane is not None and pcfg.remove_plane:
            pcfg = dataclasses.replace(pcfg, remove_plane=False)
        try:
            pre = preprocess_cloud(points, normals, None, pcfg, rng=run.rng)
        except CloudError as e:
            raise PlanFailed(f"bad cloud: {e}") from None
        plane = np.asarray(support_plane, dtype=np.float64) if support_plane is not None else pre.plane
        run.timings["preprocess"] = time.perf_counter() - t
        run.say("preprocess", 0.02, f"{len(pre.points)} object points, extent "
                                    f"{np.round(pre.extent * 1000).astype(int).tolist()} mm"
                                    + (", on a support plane" if plane is not None else ""))
        run.check_cancel()
        return CleanCloud(pre.points, pre.normals, plane, pre.steps)

    def prepare(self, run: _Run, cloud: CleanCloud) -> PreparedCloud:
        """Step 2: at most ``prepare.cloud_points`` points (random subset), normals estimated
        when missing, points with unusable normals dropped, then :func:`prepare_cloud`."""
        cfg = run.cfg.prepare
        t = time.perf_counter()
        pts, nrm = cloud.points, cloud.normals
        if nrm is not None:
            ok = np.isfinite(nrm).all(1) & (np.linalg.norm(nrm, axis=1) > 1e-6)
            pts, nrm = pts[ok], nrm[ok]
            if len(pts) < run.cfg.preprocess.min_points:
                raise PlanFailed(f"bad cloud: only {len(pts)} points with a usable normal; need >= "
                                 f"{run.cfg.preprocess.min_points}")
        if len(pts) > cfg.cloud_points:
            sel = run.rng.choice(len(pts), cfg.cloud_points, replace=False)
            pts, nrm = pts[sel], (None if nrm is None else nrm[sel])
        if nrm is None:
            nrm = _estimate_normals(pts)
        prep = prepare_cloud(pts, nrm, cfg, support_plane=cloud.support_plane, device=self.hand.device)
        run.optimizer = GraspOptimizer(self.hand, prep.field)
        run.timings["field"] = time.perf_counter() - t   # incl. the single-view mirroring (a few ms)
        run.say("preprocess", 0.05, f"{len(prep.points)} points" + (" (single view)" if prep.partial else ""))
        run.check_cancel()
        return prep

    def sample(self, run: _Run, prep: PreparedCloud):
        """Step 3: ``sampling.num_samples`` generator samples (a HandPose), or None without a generator."""
        if self.generator is None:
            return None
        cfg = run.cfg.sampling
        run.say("sample", 0.1, f"{cfg.num_samples} samples from the generator")
        t = time.perf_counter()
        plane = prep.support_plane
        pose = self.generator.sample(prep.points, prep.normals, cfg.num_samples, seed=run.seed(),
                                     temperature=cfg.temperature, up=None if plane is None else plane[:3])
        run.timings["sample"] = time.perf_counter() - t
        run.check_cancel()
        return pose

    def refine(self, run: _Run, prep: PreparedCloud, pose):
        """Step 4: refine the samples (``refinement.refine_steps``), or synthesise
        ``sampling.num_samples`` hands from scratch (``refinement.synth_steps``) when there are none.
        Returns (GraspSet, source)."""
        cfg = run.cfg
        opt = run.optimizer
        t = time.perf_counter()
        if pose is not None:
            run.say("refine", 0.2, f"{cfg.refinement.refine_steps} refinement steps")
            gs = opt.refine(pose, refinement_config(steps=cfg.refinement.refine_steps, prune_at=cfg.refinement.prune_at,
                                                     prune_keep=cfg.refinement.prune_keep,
                                                     pregrasp_above_table=cfg.refinement.pregrasp_above_table,
                                                     weights=EnergyWeights(fc=0.0, table=cfg.refinement.table_weight)),
                            should_stop=run.stop,
                            progress=lambda i, n: run.say("refine", 0.2 + 0.5 * i / max(n, 1), f"step {i}/{n}"))
            source = "generator+refinement"
        else:
            run.say("sample", 0.1, f"optimizer-only: {cfg.sampling.num_samples} hands x "
                                   f"{cfg.refinement.synth_steps} steps")
            gs = opt.synthesize(cfg.sampling.num_samples,
                                synthesis_config(steps=cfg.refinement.synth_steps, seed=run.seed(),
                                                 pregrasp_above_table=cfg.refinement.pregrasp_above_table,
                                                 weights=EnergyWeights(table=cfg.refinement.table_weight)),
                                should_stop=run.stop,
                                progress=lambda i, n: run.say("refine", 0.1 + 0.6 * i / max(n, 1), f"step {i}/{n}"))
            source = "optimizer"
        run.timings["refine"] = time.perf_counter() - t
        run.check_cancel()
        return gs, source

    def rank(self, run: _Run, gs, num_grasps: int = 0, prep: PreparedCloud | None = None) -> np.ndarray:
        """Step 5: candidate indices, accepted by the energy filter first, then lowest energy; as
        many as will be checked or returned. With ``ranking.evaluator`` (and ``prep``, whose cleaned
        view it reads): highest evaluator probability (accepted first only with
        ``ranking.accepted_first: always``; one batched pass over every candidate;
        ``ranking.evaluator_head`` picks the free-space or lift prediction or their product; kept in
        ``run.evaluator_prob``)."""
        cfg = run.cfg
        acc = gs.accepted if cfg.ranking.accepted_go_first(False) else np.zeros(len(gs), bool)
        keys = (gs.energy["total"], ~acc)
        path = self.evaluator_path(cfg.ranking.evaluator)
        if cfg.ranking.evaluator == "auto" and (prep is None or not prep.partial):
            path = None     # the shipped evaluators learned from single views: not used on full clouds
        plane = None if prep is None else prep.support_plane
        if path and prep is not None and len(gs) and self.evaluator(path).needs_plane and plane is None:
            path = None     # an evaluator that reads the table plane, and no table: energy order
            run.say("rank", 0.75, "the evaluator reads the support plane and this cloud has none (no table found "
                                  "or given): candidates ranked by energy")
        if path and prep is not None and len(gs):
            t = time.perf_counter()
            ev = self.evaluator(path)
            energy = None
            if ev.needs_energy:
                from ..evaluator.model import energy_features
                energy = energy_features(gs.energy, gs.contact_distance, gs.penetration)
            prob = ev.predict(self.hand, prep.points, prep.normals, gs.trans, gs.quat, gs.grasp, gs.squeeze,
                              seed=run.seed(), plane=plane, energy=energy)   # (B, 2) [free-space, lift]
            head = self.evaluator_head(cfg) if plane is not None else "free_space"
            run.evaluator_prob = {"free_space": prob[:, 0], "lift": prob[:, 1], "both": prob[:, 0] * prob[:, 1]}[head]
            run.evaluator_threshold = self.verdict_threshold(cfg)
            acc = gs.accepted if cfg.ranking.accepted_go_first(True) else np.zeros(len(gs), bool)
            keys = (-run.evaluator_prob, ~acc)
            run.timings["evaluator"] = time.perf_counter() - t
        order = np.lexsort(keys)
        return order[:max(cfg.validation.num_validate, num_grasps or cfg.ranking.top_k)]

    def evaluator_path(self, spec: str) -> str | None:
        """``ranking.evaluator`` resolved: '' -> None; 'auto' -> the hand's shipped evaluator
        (``models/<hand>/evaluator``) if it has one, else None; otherwise ``spec``."""
        if spec != "auto":
            return spec or None
        d = resources.models_dir(self.hand_name, "evaluator", must_exist=False)
        return str(d) if (d / "model_card.yaml").is_file() else None

    def verdict_threshold(self, cfg: PlannerConfig | None = None) -> float | None:
        """The evaluator_prob at or above which a checked pass is ``predicted_success`` with ``cfg``
        (default: the planner's): ``ranking.evaluator_threshold``, or when 0 the evaluator's calibrated
        one (card ``verdict_threshold``, if it was calibrated for the head in use, ``ranking.evaluator_head``;
        card ``verdict_head``, cards without one: free_space), else the card's ``threshold`` (a
        free-space probability: conservative on the product); None without an evaluator."""
        cfg = cfg or self.config
        path = self.evaluator_path(cfg.ranking.evaluator)
        if not path:
            return None
        ev = self.evaluator(path)
        vt = ev.verdict_threshold
        if vt is not None and ev.card.get("verdict_head", "free_space") != self.evaluator_head(cfg):
            vt = None       # calibrated on another head's probabilities: does not apply
        return cfg.ranking.evaluator_threshold or vt or ev.threshold

    def evaluator_head(self, cfg: PlannerConfig | None = None) -> str:
        """``ranking.evaluator_head`` resolved: ``auto`` -> the head the evaluator's card was calibrated
        for (``verdict_head``; free_space for cards without one, or without an evaluator)."""
        cfg = cfg or self.config
        head = cfg.ranking.evaluator_head
        if head != "auto":
            return head
        path = self.evaluator_path(cfg.ranking.evaluator)
        return self.evaluator(path).card.get("verdict_head", "free_space") if path else "free_space"

    def evaluator(self, path: str):
        """The learned grasp evaluator at ``path`` (loaded once and checked against the hand; see
        :func:`dex1b_ros.evaluator.load_evaluator`)."""
        cache = self.__dict__.setdefault("_evaluators", {})
        if path not in cache:
            from ..evaluator.io import EvaluatorLoadError, load_evaluator
            where = Path(path)
            if not where.is_absolute() and not where.exists():   # e.g. models/leap/evaluator in the share dir
                where = resources.resource_path(path, must_exist=False)
            try:
                cache[path] = load_evaluator(where, self.hand)
            except EvaluatorLoadError as e:
                raise ConfigError(f"ranking.evaluator: {e}") from None
        return cache[path]

    def check(self, run: _Run, prep: PreparedCloud, gs, cand: np.ndarray) -> Checks:
        """Step 6: MuJoCo check of the best ``validation.num_validate`` candidates against
        ``prep.hull_mesh``, ``validate_threads`` at a time, best first, until
        ``validate_stop_after`` passed (with ``pass_order: rank`` the grasp returned first is then the same as
        when checking all; with ``steadiest`` it is the steadiest of those first passes).
        ``validation.check``: with a support plane known, ``lift`` simulates the tabletop lift
        (object on a table under the plane, hand lifted) instead of the free-space six-direction
        test, ``both`` requires both; without a plane always the free-space test."""
        cfg = run.cfg.validation
        n = len(gs)
        out = Checks(np.zeros(n, bool), np.zeros(n, bool), np.full(n, -1), gs.penetration * 1e3, np.full(n, np.nan),
                     np.full(n, np.nan), np.full(n, -1))
        if cfg.num_validate == 0:
            return out
        run.check_cancel()
        todo = cand[:cfg.num_validate]
        run.say("validate", 0.75, f"MuJoCo check of {len(todo)} grasps")
        if prep.hull_mesh is None:
            raise PlanFailed("cannot build an object model for the MuJoCo check: the cloud's points span no volume "
                             "(flat or degenerate)")
        from ..validate import GraspValidator

        t = time.perf_counter()
        # stopping at the first pass: one candidate at a time, its six directions on the threads
        step = len(todo) if cfg.validate_stop_after == 0 else 1
        plane = prep.support_plane
        lift = cfg.check != "free_space" and plane is not None
        free = not lift or cfg.check == "both"
        # the lift needs the table: simulate in a frame whose +z is the support plane's normal
        R = _table_rotation(plane) if lift else np.eye(3)
        T = np.block([[R, np.zeros((3, 1))], [np.zeros((1, 3)), 1.0]])
        if prep.check_parts:
            mesh = [p.copy().apply_transform(T) for p in prep.check_parts]
        else:
            mesh = prep.hull_mesh.copy().apply_transform(T)
        # check_table plane: the table where the cloud showed it (the plane's height in the rotated frame)
        table_z = -float(plane[3]) / float(np.linalg.norm(plane[:3])) if lift and cfg.check_table == "plane" else None
        second = self._second_opinion(run, prep, plane, T, table_z)
        with GraspValidator(self.hand.cfg, mesh, hands_dir=self.hands_dir, threads=cfg.validate_threads,
                            cache_scene=False, visual_meshes=False, table_z=table_z) as v, second:   # a new estimate
            for i in range(0, len(todo), step):
                vi = todo[i:i + step]
                sub = gs.select(vi)
                trans = sub.trans.astype(np.float64) @ R.T
                quat = matrix_to_quat_np(R @ quat_to_matrix_np(sub.quat.astype(np.float64)))
                q = (sub.pregrasp, sub.grasp, sub.squeeze)
                ok = np.ones(len(vi), bool)
                if free:
                    r = v.validate(trans, quat, *q)
                    ok &= r.success
                if lift:
                    rl = v.validate_tabletop(trans, quat, *q)
                    ok &= rl.success
                    r = r if free else rl
                if ok.any() and second.validator is not None:   # the passes again, on the other guess
                    j = np.flatnonzero(ok)
                    args = (trans[j], quat[j]) + tuple(x[j] for x in q)
                    if free:
                        ok[j] &= second.validator.validate(*args).success
                    if lift:
                        ok[j] &= second.validator.validate_tabletop(*args).success
                out.validated[vi] = True
                out.success[vi] = ok
                out.n_contacts[vi] = r.n_contacts
                out.pen_mm[vi] = r.penetration_mm
                out.spen_mm[vi] = r.self_penetration_mm
                d = np.where(r.tested_directions, np.nan_to_num(r.displacement, nan=-np.inf), -np.inf).max(1)
                out.disp_mm[vi] = np.where(np.isfinite(d), 1e3 * d, np.nan)   # NaN: rejected before simulating
                out.n_links[vi] = r.n_real_contact_links
                if (cfg.validate_stop_after and out.success.sum() >= cfg.validate_stop_after) or run.stop():
                    break
        run.timings["validate"] = time.perf_counter() - t
        return out

    def _second_opinion(self, run: _Run, prep, plane, T: np.ndarray, table_z: float | None = None) -> "_SecondOpinion":
        """``validation.second_completion``: for a single view, a validator of the view completed the
        other way (its convex hull, in the check's frame ``T`` (4, 4)), built only when it differs from
        the first guess (built when a candidate first passes); else an empty opinion."""
        method = run.cfg.validation.second_completion
        if not method or not prep.partial or method == run.cfg.prepare.completion:
            return _SecondOpinion(None)
        from ..perception.preprocess import CloudError, estimate_object_mesh
        from ..validate import GraspValidator

        def make():
            try:
                pts = complete_view(prep.points, prep.normals, plane, method, run.cfg.prepare.completion_drop,
                                    run.cfg.prepare.completion_fill_below)
                mesh = estimate_object_mesh(pts).apply_transform(T)
            except CloudError:
                return None
            return GraspValidator(self.hand.cfg, mesh, hands_dir=self.hands_dir,
                                  threads=run.cfg.validation.validate_threads, cache_scene=False, visual_meshes=False,
                                  table_z=table_z)
        return _SecondOpinion(make)

    def _result(self, run: _Run, prep, gs, source: str, cand, c: Checks, num_grasps: int, t0: float,
                base: dict) -> PlanResult:
        """The top ``ranking.top_k`` (or ``num_grasps``): checked passes first (``validation.pass_order``
        steadiest: the smallest displacement of the object in the check first), then accepted, then energy (or
        the evaluator's probability); score = 2 passed + 1 accepted + 1 / (1 + energy) (or the probability); a pass
        ordered by steadiness scores 2 + 1 / (1 + displacement mm) (the score falls along the returned order)."""
        cfg = run.cfg
        k = num_grasps if num_grasps > 0 else cfg.ranking.top_k
        e = gs.energy["total"]
        pe, thr = run.evaluator_prob, run.evaluator_threshold
        second = e if pe is None else -pe   # with an evaluator: its probability replaces the energy
        acc = gs.accepted if cfg.ranking.accepted_go_first(pe is not None) else np.zeros(len(gs), bool)
        # validation.pass_order steadiest: among the passes, the object that moved least in the check goes first
        steadiest = cfg.validation.pass_order == "steadiest"
        steady = np.nan_to_num(c.disp_mm, nan=np.inf) if steadiest else np.zeros(len(gs))
        final = sorted(cand, key=lambda i: (not c.success[i], steady[i] if c.success[i] else 0.0, not acc[i],
                                            second[i]))[:k]
        grasps = [PlannedGrasp(
            wrist_pos=gs.trans[i].astype(np.float64), wrist_quat=gs.quat[i].astype(np.float64),
            pregrasp=gs.pregrasp[i].astype(np.float64), grasp=gs.grasp[i].astype(np.float64),
            squeeze=gs.squeeze[i].astype(np.float64),
            approach=None if gs.approach is None else gs.approach[i].astype(np.float64),
            score=float(2.0 + 1.0 / (1.0 + steady[i]) if steadiest and c.success[i] else
                        2.0 * c.success[i] + 1.0 * gs.accepted[i] + (1.0 / (1.0 + e[i]) if pe is None else pe[i])),
            energy=float(e[i]),
            contact_distance_mm=float(gs.contact_distance[i] * 1e3), penetration_mm=float(c.pen_mm[i]),
            self_penetration_mm=float(c.spen_mm[i]), num_contacts=int(c.n_contacts[i]), validated=bool(c.validated[i]),
            sim_success=bool(c.success[i]),
            grasp_type="+".join(n for n, a in zip(self.hand.tip_names, gs.active[i]) if a),
            source=source, evaluator_prob=None if pe is None else float(pe[i]),
            predicted_success=bool(c.success[i] and (pe is None or pe[i] >= thr)))
            for i in final]
        run.timings["total"] = time.perf_counter() - t0
        n_ok = int(c.success.sum())
        completed = " (single view)" if prep.partial else ""
        checked = cfg.validation.num_validate > 0
        summary = (f"{self.mode}{completed}: {len(gs)} candidates, {int(gs.accepted.sum())} passed the energy filter, "
                   + (f"{n_ok}/{int(c.validated.sum())} passed MuJoCo" if checked else "no MuJoCo check")
                   + ("" if pe is None else f", {int((pe >= thr).sum())} predicted good "
                      f"by the evaluator (p >= {thr:.3g})")
                   + f"; {run.timings['total']:.2f} s")
        run.say("publish", 1.0, summary)
        if checked and cfg.validation.require_validated and n_ok == 0:
            return PlanResult(False, "no grasp passed the MuJoCo check: " + summary, grasps=grasps,
                              timings=run.timings, **base)
        return PlanResult(True, summary, grasps=grasps, timings=run.timings, **base)
