"""``GraspPipeline``: the grasp planner behind the ROS node (no ROS here).

cloud (planning frame) -> :func:`prepare_cloud` (object field = SDF grid from the cloud, and
the validator's hull points) -> candidates from the DexSimple generator, refined by the short
post-optimisation (or, when no generator model is available, synthesised by the optimizer
alone: slower, and said so in every result) -> ranked by energy -> the best ``num_validate``
checked in MuJoCo against the convex hull of the hull points -> the top ``top_k``, validated
successes first.

:func:`prepare_cloud` is also what ``dex1b eval`` runs, so the evaluation sees exactly the
node's preprocessing.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import resources
from ..config_utils import fail
from ..hands import load_hand
from ..optim import Cancelled, GraspOptimizer, ObjectField, refinement_config, synthesis_config
from .types import CancelFn, PlannedGrasp, PlanResult, ProgressFn

#: The package's share directory at import time (see :mod:`dex1b_ros.resources`); kept for compatibility.
REPO_ROOT = resources.resource_path(must_exist=False)


@dataclass
class PipelineConfig:
    num_samples: int = 256        # candidates per plan
    refine_steps: int = 100       # post-optimisation steps (generator mode)
    synth_steps: int = 150        # optimisation steps in optimizer-only mode
    num_validate: int = 16        # best candidates simulated in MuJoCo (0: none)
    top_k: int = 5                # grasps returned
    require_validated: bool = False  # fail the plan when validation is on and nothing passes (else: best, flagged)
    cloud_points: int = 1024      # cloud points used (random subset when larger)
    field_resolution: int = 40    # SDF grid samples along the longest side
    partial_threshold: float = 0.3  # |mean normal| above this marks a cloud as one-sided (partial)
    single_view_field: str = "hull"  # one-sided clouds: "hull" | "shell" (see prepare_cloud)
    partial_shell: float = 0.005  # m; "shell" mode: only this much behind the seen surface counts as solid
    validate_threads: int = 2     # MuJoCo check threads (GraspValidator ``threads``; 2 cores: ~1.3x faster)
    validate_stop_after: int = 1  # stop checking once this many passed (0: check all ``num_validate``).
    # Candidates are checked best first, ``validate_threads`` at a time, so the grasp returned
    # first is the same as when checking all; only the later ones may stay unchecked. A passing
    # LEAP grasp costs all six 2 s holds (~0.13 s), so checking all 8 took ~1 s once most passed.
    # Single views, measured (LEAP, 8 unseen objects, one view each, 256 samples x 100 steps,
    # the 16 lowest-energy grasps simulated on the TRUE object): refining on the SDF of the
    # completed object's convex hull 51/128 with the table known, 40/128 without; on the 5 mm
    # shell field 20/128 and 18/128; on the true mesh ~50 % (the ceiling).
    seed: int = 0

    def __post_init__(self):
        for k, lo in (("num_samples", 1), ("refine_steps", 0), ("synth_steps", 0), ("num_validate", 0),
                      ("top_k", 1), ("cloud_points", 64), ("field_resolution", 8), ("validate_threads", 1),
                      ("validate_stop_after", 0)):
            if getattr(self, k) < lo:
                fail(k, f"must be >= {lo}, got {getattr(self, k)}")
        if not self.partial_shell > 0:
            fail("partial_shell", f"must be > 0 m, got {self.partial_shell}")
        if self.single_view_field not in ("hull", "shell"):
            fail("single_view_field", f"expected 'hull' or 'shell', got {self.single_view_field!r}")


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


def complete_by_symmetry(points: np.ndarray, normals: np.ndarray, view_dir: np.ndarray | None = None,
                         plane_at: str = "deepest") -> tuple[np.ndarray, np.ndarray]:
    """Complete a single-view cloud by mirroring it behind itself.

    A camera sees only the front of an object; everything behind it would look like solid
    "inside" to the optimizer and the validator. Assuming the object is roughly symmetric
    about a plane through its centroid facing the camera (true for boxes, cylinders, bottles
    seen from the side), the seen points are reflected through that plane. ``view_dir`` (3,)
    is the direction from the camera into the scene; default: minus the mean normal (normals of
    a single view face the camera). Returns points (2N, 3) and normals (2N, 3).

    ``plane_at``: where the mirror plane lies along ``view_dir``. ``"deepest"``: at the deepest
    seen point (along the true viewing direction the deepest seen points are the silhouette,
    i.e. the middle of a symmetric object). ``"middle"``: halfway between the nearest and the
    deepest seen point; right for a HORIZONTAL ``view_dir`` of an object seen from above (on a
    table), where the far edge of the seen top face is the object's back, not its middle
    (with "deepest" the completed object came out 2-2.6x too large, measured on 6 objects)."""
    v = -normals.mean(0) if view_dir is None else np.asarray(view_dir, dtype=np.float64)
    v = v / np.linalg.norm(v)
    depth = (points - points.mean(0)) @ v
    if plane_at == "middle":
        c = points.mean(0) + v * 0.5 * float(depth.max() + depth.min())
    elif plane_at == "deepest":
        c = points.mean(0) + v * max(float(depth.max()), 0.0)
    else:
        raise ValueError(f"plane_at: expected 'deepest' or 'middle', got {plane_at!r}")
    d = (points - c) @ v
    mp = points - 2 * d[:, None] * v
    mn = normals - 2 * (normals @ v)[:, None] * v
    return np.concatenate([points, mp]), np.concatenate([normals, mn])


@dataclass
class PreparedCloud:
    """What :func:`prepare_cloud` makes of a cleaned cloud (planning / object frame).

    * ``points`` (N, 3) m: the cloud as given, never mirrored; the generator is conditioned on it.
    * ``normals`` (N, 3): outward unit normals of ``points``.
    * ``partial``: one-sided (single-view) cloud, i.e. |mean unit normal| > ``partial_threshold``.
    * ``hull_points`` (M, 3) m: the MuJoCo validator's guess of the whole object (its convex hull
      is what gets simulated, ``estimate_object_mesh(hull_points)``): ``points`` itself for a full
      cloud; for a single view ``points`` followed by their mirror images
      (:func:`complete_by_symmetry`), without the mirrored points below the support plane when
      one is known.
    * ``hull_mesh``: ``estimate_object_mesh(hull_points)`` (the convex hull), the validator's
      object; None when the points span no volume.
    * ``field``: what the optimizer works against, with the support plane when one is known: for
      a full cloud the SDF of ``points``; for a single view (``single_view_field``) the exact SDF
      of ``hull_mesh`` ("hull", default) or the SDF of ``points`` with its inside clipped to
      ``-partial_shell`` ("shell": the unseen back unknown, not solid).
    """

    points: np.ndarray
    normals: np.ndarray
    partial: bool
    hull_points: np.ndarray
    field: ObjectField
    hull_mesh: object = None


def prepare_cloud(points: np.ndarray, normals: np.ndarray, cfg: PipelineConfig,
                  support_plane: np.ndarray | None = None, device="cpu") -> PreparedCloud:
    """The planner's cloud preprocessing, after cleaning (finite points, at most
    ``cfg.cloud_points`` of them, normals present): ``GraspPipeline.plan`` and ``dex1b eval`` both
    run this.

    ``points`` (N, 3) m with outward ``normals`` (N, 3) (normalised here). A cloud whose
    |mean unit normal| exceeds ``cfg.partial_threshold`` is one-sided (a single camera view): it
    is completed by mirroring it behind itself (:func:`complete_by_symmetry`; with a
    ``support_plane`` (4,) [a, b, c, d], normal up, about a vertical plane halfway through the
    seen depth, mirrored points below the table dropped; seen from straight above, the view
    dropped onto the plane instead). The convex hull of that completion is the validator's object
    and, by default, the optimizer's field (its exact SDF); ``single_view_field="shell"`` uses the
    raw view with its inside clipped to ``cfg.partial_shell`` instead. Fields have
    ``cfg.field_resolution`` samples along the longest side, live on ``device``, and know
    ``support_plane`` when given."""
    pts = np.asarray(points, dtype=np.float64)
    normals = np.asarray(normals, dtype=np.float64)
    normals = normals / np.linalg.norm(normals, axis=1, keepdims=True)
    partial = bool(np.linalg.norm(normals.mean(0)) > cfg.partial_threshold)
    hull_pts = pts
    if partial:
        view = -normals.mean(0)
        if support_plane is not None:  # mirror about a plane perpendicular to the table
            up = np.asarray(support_plane[:3], dtype=np.float64) / np.linalg.norm(support_plane[:3])
            horizontal = view - (view @ up) * up
            if np.linalg.norm(horizontal) > 0.2 * np.linalg.norm(view):
                hull_pts, _ = complete_by_symmetry(pts, normals, horizontal, plane_at="middle")
                h = hull_pts @ up + support_plane[3] / np.linalg.norm(support_plane[:3])
                hull_pts = hull_pts[(np.arange(len(hull_pts)) < len(pts)) | (h > 0)]
            else:  # seen from (nearly) straight above: the object stands on the table below the view
                h = pts @ up + support_plane[3] / np.linalg.norm(support_plane[:3])
                hull_pts = np.concatenate([pts, pts - (h - 1e-3)[:, None] * up])
        else:
            hull_pts, _ = complete_by_symmetry(pts, normals, view)
    from ..perception.preprocess import CloudError, estimate_object_mesh
    try:
        hull_mesh = estimate_object_mesh(hull_pts)
    except CloudError:  # flat or degenerate: no hull (validation then fails with this error)
        hull_mesh = None
    if partial and cfg.single_view_field == "hull" and hull_mesh is not None:
        field_ = ObjectField.from_mesh(hull_mesh, resolution=cfg.field_resolution, n_points=1024, device=device,
                                       name="completed view")
    else:
        field_ = ObjectField.from_cloud(pts, normals, resolution=cfg.field_resolution, device=device,
                                        shell=cfg.partial_shell if partial else None)
    if support_plane is not None:
        field_ = field_.with_plane(support_plane)
    return PreparedCloud(pts, normals, partial, hull_pts, field_, hull_mesh)


class GraspPipeline:
    """Implements the :class:`~dex1b_ros.planner.types.Planner` protocol."""

    def __init__(self, hand: str, hands_dir=None, device: str = "cpu", num_samples: int = 256,
                 refine_steps: int = 100, num_validate: int = 16, top_k: int = 5, model_path=None,
                 config: PipelineConfig | None = None):
        self.cfg = config or PipelineConfig(num_samples=num_samples, refine_steps=refine_steps,
                                            num_validate=num_validate, top_k=top_k)
        hands_dir = hands_dir or None  # "" (a ROS parameter left empty) = the default search path
        self.hand = load_hand(hand, hands_dir=hands_dir, device=device)
        self.hand_name = self.hand.name
        self.joint_names = list(self.hand.joint_names)
        self.hands_dir = hands_dir
        path = Path(model_path) if model_path else shipped_model(self.hand_name)
        self.generator = None
        if path.is_file():
            from ..generator.train import load_generator
            self.generator = load_generator(path, self.hand_name, device=device)
            self.mode = f"generator+refinement ({path.name})"
        elif model_path:
            raise FileNotFoundError(f"model_path: generator weights not found at {path}")
        else:
            self.mode = f"optimizer-only (no generator model at {path})"

    def warmup(self) -> float:
        """Plan once on a synthetic cloud (a 4 cm sphere above a table) so one-time costs (lazy
        tables, allocator growth, the validator's first scene) are paid now, not by the first
        request. Returns the seconds it took."""
        t = time.perf_counter()
        d = np.random.default_rng(0).normal(size=(512, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        self.plan(0.04 * d + [0.0, 0.0, 0.05], d, support_plane=np.array([0.0, 0.0, 1.0, 0.0]))
        return time.perf_counter() - t

    def plan(self, points: np.ndarray, normals: np.ndarray | None = None, num_grasps: int = 0,
             progress: ProgressFn | None = None, cancel: CancelFn | None = None,
             support_plane: np.ndarray | None = None) -> PlanResult:
        cfg, hand = self.cfg, self.hand
        say = progress or (lambda *a: None)
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        base = dict(hand=self.hand_name, joint_names=self.joint_names, info=self.mode)
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 3:
            return PlanResult.failure(f"points must be (N, 3), got {pts.shape}", **base)
        keep = np.isfinite(pts).all(1)
        if normals is not None:
            normals = np.asarray(normals, dtype=np.float64)
            keep &= np.isfinite(normals).all(1) & (np.linalg.norm(normals, axis=1) > 1e-6)
        pts = pts[keep]
        if len(pts) < 32:
            return PlanResult.failure(f"too few valid points: {len(pts)} (need >= 32)", **base)
        rng = np.random.default_rng(cfg.seed)
        if len(pts) > cfg.cloud_points:
            sel = rng.choice(len(pts), cfg.cloud_points, replace=False)
            pts = pts[sel]
            normals = None if normals is None else normals[keep][sel]
        elif normals is not None:
            normals = normals[keep]
        if normals is None:
            normals = _estimate_normals(pts)
        t = time.perf_counter()
        prep = prepare_cloud(pts, normals, cfg, support_plane=support_plane, device=hand.device)
        pts, normals = prep.points, prep.normals
        completed = " (single view)" if prep.partial else ""
        say("preprocess", 0.05, f"{len(pts)} points{completed}")
        opt = GraspOptimizer(hand, prep.field)
        timings["field"] = time.perf_counter() - t  # incl. the single-view mirroring (a few ms)
        stop = cancel or (lambda: False)
        try:
            t = time.perf_counter()
            if self.generator is not None:
                say("sample", 0.1, f"{cfg.num_samples} samples from the generator")
                pose = self.generator.sample(pts, normals, cfg.num_samples, seed=cfg.seed)
                timings["sample"] = time.perf_counter() - t
                if stop():
                    return PlanResult.failure("cancelled", timings=timings, **base)
                say("refine", 0.2, f"{cfg.refine_steps} refinement steps")
                t = time.perf_counter()
                gs = opt.refine(pose, refinement_config(steps=cfg.refine_steps), should_stop=stop,
                                progress=lambda i, n: say("refine", 0.2 + 0.5 * i / max(n, 1), f"step {i}/{n}"))
                source = "generator+refinement"
            else:
                say("sample", 0.1, f"optimizer-only: {cfg.num_samples} hands x {cfg.synth_steps} steps")
                gs = opt.synthesize(cfg.num_samples, synthesis_config(steps=cfg.synth_steps, seed=cfg.seed),
                                    should_stop=stop,
                                    progress=lambda i, n: say("refine", 0.1 + 0.6 * i / max(n, 1), f"step {i}/{n}"))
                source = "optimizer"
            timings["refine"] = time.perf_counter() - t
        except Cancelled as e:
            return PlanResult.failure(f"cancelled ({e})", timings=timings, **base)
        order = np.lexsort((gs.energy["total"], ~gs.accepted))  # accepted first, then lowest energy
        cand = order[:max(cfg.num_validate, num_grasps or cfg.top_k)]
        success = np.zeros(len(gs), bool)
        validated = np.zeros(len(gs), bool)
        n_contacts = np.full(len(gs), -1)
        pen_mm = gs.penetration * 1e3
        spen_mm = np.full(len(gs), np.nan)
        if cfg.num_validate > 0:
            if stop():
                return PlanResult.failure("cancelled", timings=timings, **base)
            say("validate", 0.75, f"MuJoCo check of {min(cfg.num_validate, len(cand))} grasps")
            t = time.perf_counter()
            from ..validate import GraspValidator
            if prep.hull_mesh is None:
                return PlanResult.failure("cannot build an object model for the MuJoCo check: the cloud's points "
                                          "span no volume (flat or degenerate)", timings=timings, **base)
            hull = prep.hull_mesh
            todo = cand[:cfg.num_validate]
            step = len(todo) if cfg.validate_stop_after == 0 else cfg.validate_threads
            with GraspValidator(hand.cfg, hull, hands_dir=self.hands_dir, threads=cfg.validate_threads) as v:
                for i in range(0, len(todo), step):
                    vi = todo[i:i + step]
                    sub = gs.select(vi)
                    r = v.validate(sub.trans, sub.quat, sub.pregrasp, sub.grasp, sub.squeeze)
                    validated[vi] = True
                    success[vi] = r.success
                    n_contacts[vi] = r.n_contacts
                    pen_mm[vi] = r.penetration_mm
                    spen_mm[vi] = r.self_penetration_mm
                    if (cfg.validate_stop_after and success.sum() >= cfg.validate_stop_after) or stop():
                        break
            timings["validate"] = time.perf_counter() - t
        k = num_grasps if num_grasps > 0 else cfg.top_k
        final = sorted(cand, key=lambda i: (not success[i], not gs.accepted[i], gs.energy["total"][i]))[:k]
        e = gs.energy["total"]
        grasps = [PlannedGrasp(
            wrist_pos=gs.trans[i].astype(np.float64), wrist_quat=gs.quat[i].astype(np.float64),
            pregrasp=gs.pregrasp[i].astype(np.float64), grasp=gs.grasp[i].astype(np.float64),
            squeeze=gs.squeeze[i].astype(np.float64),
            score=float(2.0 * success[i] + 1.0 * gs.accepted[i] + 1.0 / (1.0 + e[i])), energy=float(e[i]),
            contact_distance_mm=float(gs.contact_distance[i] * 1e3), penetration_mm=float(pen_mm[i]),
            self_penetration_mm=float(spen_mm[i]), num_contacts=int(n_contacts[i]), validated=bool(validated[i]),
            sim_success=bool(success[i]), grasp_type="+".join(n for n, a in zip(hand.tip_names, gs.active[i]) if a),
            source=source) for i in final]
        timings["total"] = time.perf_counter() - t0
        n_ok = int(success.sum())
        summary = (f"{self.mode}{completed}: {len(gs)} candidates, {int(gs.accepted.sum())} passed the energy filter, "
                   + (f"{n_ok}/{int(validated.sum())} passed MuJoCo" if cfg.num_validate else "no MuJoCo check")
                   + f"; {timings['total']:.2f} s")
        say("publish", 1.0, summary)
        if cfg.num_validate and cfg.require_validated and n_ok == 0:
            return PlanResult(False, "no grasp passed the MuJoCo check: " + summary, grasps=grasps, timings=timings,
                              **base)
        return PlanResult(True, summary, grasps=grasps, timings=timings, **base)
