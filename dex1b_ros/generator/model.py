"""DexSimple: a conditional VAE over hand poses, conditioned on an object point cloud (no ROS).

Frames and units
- The *cloud frame* is the frame the cloud's points are given in (object mesh frame in
  training, the planning frame at run time). Grasps come out in that frame (m, rad).
- Inside the model everything is relative to the cloud centroid ``c`` (mean of its points) and
  divided by ``GeneratorConfig.trans_scale`` (s = 0.1 m by default): the network sees
  ``(p - c) / s`` and normals. This makes the model translation-invariant and keeps inputs O(1).

Pose vector g (B, 9 + J):
    g = [(trans - c) / s  (3),  rot6d (6, first two rows of R),  normalize_joints(q) (J, in [-1, 1])]
where ``trans`` is the wrist (palm-frame origin) position. :meth:`DexSimple.pose_to_vector` and
:meth:`DexSimple.vector_to_pose` convert; decoded joints go through ``tanh`` so they are always
within the limits, decoded rot6d is re-orthonormalised (Gram-Schmidt) when made a pose.

Condition (B, 2F + 3): a PointNet global feature (F = 256) of the cloud, the *local* feature of
the grasp's associated point (the per-point feature of the nearest cloud point, computed by a
per-point head over [point feature, global feature]), and the associated point itself (x3, in
the normalised frame).

Associated point (Dex1B's diversity condition): the ray from the palm centre toward the midpoint
of the thumb tip and the middle fingertip; among cloud points in front of the palm within
``ray_radius`` of the ray, the one nearest the palm (the first surface the ray meets); if none
is that close, the point nearest the ray; if none is in front, the point nearest the palm
centre. See :func:`associated_points`.

Loss (per batch, means over grasps): reconstruction (squared error of the three parts of g,
weighted) + beta * KL + w_sdf * sum_spheres relu(-d / s)^2 (sphere distance ``d`` of the decoded
hand to the object's full-surface samples: Dex1B's unsigned point-sphere SDF with
``penetration: cloud``, blind to a sphere wholly inside the object that holds no sample; or,
with ``penetration: mesh``, the exact signed distance of the training mesh (winding-number sign,
an ``SDFGrid`` per object), which sees how deep every sphere is) + w_contact * sum_fingers
(d_f / s)^2 (distance from the nearest contact candidate of each of ``contact_fingers`` to the cloud). ``d`` in metres.
These two geometry terms judge the *reconstruction* (z from the encoder, which saw the grasp); what
the node uses are *prior* samples (z ~ N(0, I)), which the loss never sees. ``w_prior > 0`` adds
w_prior * (w_sdf * sdf + w_contact * contact) of one prior sample per grasp (same condition), so
the decoder is also taught that what it makes from the prior touches without penetrating.
Those terms alone let every prior sample fall into the one or two safe grasps of an object,
whatever its associated point (the condition Dex1B samples for diversity). ``w_assoc > 0`` (with
``w_prior``) adds w_assoc * [(perp / s)^2 + relu(-t / s)^2] of each prior sample, where t and perp
are the associated point's distance along and off the sample's own palm ray (the ray that
defines an associated point, above): what the decoder makes from point a must aim its palm at a.
With ``w_assoc`` the prior samples' associated points are drawn uniformly from the cloud, as
sampling draws them (the data's own points lie only where grasps were found: a decoder taught to
aim only there makes nothing usable from the rest of the cloud).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from ..config_utils import fail
from ..geometry.sdf import point_sphere_distance
from ..hands import HandModel, HandPose
from ..rotation import matrix_to_rot6d, rot6d_to_matrix

GENERATOR_VERSION = "dexsimple/1"
"""Written into model cards and grasp records made by this generator."""
ARCHITECTURE_FIELDS = ("n_points", "point_mlp", "point_feature", "latent", "hidden", "trans_scale")
"""GeneratorConfig fields that shape the weights (the rest are loss settings)."""


@dataclass
class GeneratorConfig:
    """DexSimple architecture and loss weights (YAML-loadable with ``config_utils.load_yaml``)."""

    n_points: int = 1024                      # points per input cloud (training; sampling takes any P >= 16)
    point_mlp: tuple[int, ...] = (64, 128)    # shared per-point MLP widths before the feature layer
    point_feature: int = 256                  # width of the global and of the local feature
    latent: int = 64                          # latent size (Dex1B reimplementations: 64-256)
    hidden: tuple[int, ...] = (256, 512, 256)  # encoder and decoder MLP widths
    trans_scale: float = 0.1                  # m; translations and cloud coordinates are divided by it
    w_trans: float = 1.0                      # reconstruction weight, translation part of g
    w_rot: float = 1.0                        # ... rot6d part
    w_joints: float = 1.0                     # ... normalised joints part
    beta: float = 0.01                        # KL weight
    w_sdf: float = 10.0                       # point-sphere penetration, sum over spheres of relu(-d/s)^2
    w_contact: float = 5.0                    # contact distance, sum over contact_fingers of (d/s)^2
    contact_fingers: tuple[str, ...] = ("thumb", "index", "middle")  # fingers pulled to the surface
    ray_radius: float = 0.01                  # m, associated point: points this close to the ray are hits
    w_prior: float = 0.0                      # geometry terms on prior samples too (0 = off, Dex1B's loss)
    w_assoc: float = 0.0                      # prior samples (then with uniform associated points) aim at their
                                              # associated point (needs w_prior):
                                              # (perp / s)^2 + relu(-t / s)^2 of the point off / behind their palm ray
    penetration: str = "cloud"                # w_sdf term: "cloud" = point-sphere distance to the surface samples
                                              # (Dex1B; blind to spheres wholly inside), "mesh" = the training
                                              # mesh's exact SDF (training only: needs the mesh)
    table_frame: bool = False                 # trained for the table: clouds are views of objects resting on
                                              # a table, in its frame (z up, table below the object; training:
                                              # generator.table); the planner rotates a cloud with a known
                                              # support plane into that frame before sampling
    w_table: float = 0.0                      # table term (table_frame): sum over spheres of relu((r - h)/s)^2,
                                              # h = sphere centre height above the table; on reconstructions and,
                                              # with w_prior, prior samples

    def __post_init__(self):
        for k in ("n_points", "point_feature", "latent"):
            if getattr(self, k) < 1:
                fail(k, f"must be >= 1, got {getattr(self, k)}")
        if self.n_points < 16:
            fail("n_points", f"must be >= 16, got {self.n_points}")
        for k in ("point_mlp", "hidden"):
            v = getattr(self, k)
            if not v or any(w < 1 for w in v):
                fail(k, f"need one or more positive widths, got {v}")
        if self.trans_scale <= 0:
            fail("trans_scale", f"must be > 0 m, got {self.trans_scale}")
        for k in ("w_trans", "w_rot", "w_joints", "beta", "w_sdf", "w_contact", "ray_radius", "w_prior", "w_table",
                  "w_assoc"):
            if getattr(self, k) < 0:
                fail(k, f"must be >= 0, got {getattr(self, k)}")
        if not self.contact_fingers and self.w_contact > 0:
            fail("contact_fingers", "empty while w_contact > 0")
        if self.penetration not in ("cloud", "mesh"):
            fail("penetration", f"expected cloud or mesh, got {self.penetration!r}")
        if self.w_assoc > 0 and self.w_prior <= 0:
            fail("w_assoc", "the association term acts on prior samples: it needs w_prior > 0")
        if self.w_table > 0 and not self.table_frame:
            fail("w_table", "the table term needs table_frame: true (clouds with a table below them)")


def _mlp(sizes: list[int], last_act: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2 or last_act:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


# ---------------------------------------------------------------------- associated point
def associated_points(hand: HandModel, pose: HandPose, cloud: torch.Tensor, ray_radius: float = 0.01
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Dex1B associated point of each grasp (see module doc).

    pose: B grasps in the cloud frame. cloud: (P, 3) shared or (B, P, 3) per grasp, m.
    Returns ``(index (B,) long into the cloud, point (B, 3) m)``. No gradients.
    """
    with torch.no_grad():
        palm, _ = hand.palm_frame(pose)                                 # (B, 3)
        tips = hand.fingertips(pose)                                    # (B, F, 3)
        names = hand.tip_names
        target = 0.5 * (tips[:, names.index("thumb")] + tips[:, names.index("middle")])
        d = target - palm
        d = d / d.norm(dim=-1, keepdim=True).clamp_min(1e-9)
        pts = cloud.to(palm) if cloud.dim() == 3 else cloud.to(palm).unsqueeze(0).expand(pose.batch, -1, -1)
        v = pts - palm[:, None]                                         # (B, P, 3)
        t = (v * d[:, None]).sum(-1)                                    # (B, P) along the ray
        perp = (v - t[..., None] * d[:, None]).norm(dim=-1)             # (B, P) distance to the ray
        front = t > 0
        inf = torch.full_like(t, float("inf"))
        first_hit = torch.where(front & (perp < ray_radius), t, inf).argmin(-1)
        nearest_ray = torch.where(front, perp, inf).argmin(-1)
        nearest_palm = v.norm(dim=-1).argmin(-1)
        any_hit = (front & (perp < ray_radius)).any(-1)
        any_front = front.any(-1)
        idx = torch.where(any_hit, first_hit, torch.where(any_front, nearest_ray, nearest_palm))
        point = torch.gather(pts, 1, idx[:, None, None].expand(-1, 1, 3))[:, 0]
    return idx, point


# ---------------------------------------------------------------------- network parts
class PointEncoder(nn.Module):
    """PointNet: shared per-point MLP -> per-point features (K, P, F); max-pool -> global (K, F);
    local feature of point i = head([feature_i, global]) (evaluated only where asked)."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        Fd = cfg.point_feature
        self.point = _mlp([6, *cfg.point_mlp, Fd], last_act=True)
        self.glob = nn.Linear(Fd, Fd)
        self.local_head = _mlp([2 * Fd, Fd, Fd])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (K, P, 6) normalised points + normals -> (per-point (K, P, F), global (K, F))."""
        f = self.point(x)
        return f, self.glob(f.max(dim=1).values)

    def local(self, feats: torch.Tensor, glob: torch.Tensor, cloud_idx: torch.Tensor, point_idx: torch.Tensor
              ) -> torch.Tensor:
        """(B, F) local features of points ``point_idx`` (B,) of clouds ``cloud_idx`` (B,)."""
        f = feats[cloud_idx, point_idx]
        return self.local_head(torch.cat([f, glob[cloud_idx]], -1))


@dataclass
class GeneratorSample:
    """Grasps sampled for one cloud (cloud frame, m, rad)."""

    pose: HandPose                 # (n) poses
    associated_index: torch.Tensor  # (n,) long, index into the cloud
    associated_point: torch.Tensor  # (n, 3) m
    seconds: float = 0.0


class DexSimple(nn.Module):
    """Conditional VAE p(g | z, cloud, associated point) of one hand.

    ``hand`` is a plain attribute (not a submodule): keep it on the model's device and dtype.
    """

    def __init__(self, hand: HandModel, cfg: GeneratorConfig | None = None):
        super().__init__()
        self.cfg = cfg or GeneratorConfig()
        self.hand = hand
        J = hand.n_joints
        self.pose_dim = 9 + J
        c = self.cfg
        cond = 2 * c.point_feature + 3
        self.points = PointEncoder(c)
        self.encoder = _mlp([self.pose_dim + cond, *c.hidden], last_act=True)
        self.to_mu = nn.Linear(c.hidden[-1], c.latent)
        self.to_logvar = nn.Linear(c.hidden[-1], c.latent)
        self.decoder = _mlp([c.latent + cond, *c.hidden, self.pose_dim])
        unknown = [f for f in c.contact_fingers if f not in hand.tip_names]
        if unknown:
            fail("contact_fingers", f"{unknown} not among the hand's fingers {hand.tip_names}")
        from ..optim.energy import finger_groups  # candidate indices per finger, padded with -1
        groups = finger_groups(hand)[[hand.tip_names.index(f) for f in c.contact_fingers]]
        self.register_buffer("contact_groups", groups.cpu(), persistent=False)

    # ------------------------------------------------------------------ normalisation
    @property
    def joint_names(self) -> list[str]:
        return list(self.hand.joint_names)

    def prepare_cloud(self, points, normals) -> tuple[torch.Tensor, torch.Tensor]:
        """points, normals (P, 3) or (K, P, 3) (numpy or torch, cloud frame, m) ->
        (x (K, P, 6) network input, centre (K, 3) m)."""
        dev, dt = self._device_dtype()
        p = torch.as_tensor(np.asarray(points) if not torch.is_tensor(points) else points, device=dev, dtype=dt)
        n = torch.as_tensor(np.asarray(normals) if not torch.is_tensor(normals) else normals, device=dev, dtype=dt)
        if p.dim() == 2:
            p, n = p[None], n[None]
        if p.shape != n.shape or p.shape[-1] != 3 or p.shape[1] < 16:
            raise ValueError(f"cloud: need points and normals of the same shape (P >= 16, 3), got "
                             f"{tuple(p.shape)} and {tuple(n.shape)}")
        centre = p.mean(1)
        return torch.cat([(p - centre[:, None]) / self.cfg.trans_scale, n], -1), centre

    def pose_to_vector(self, pose: HandPose, centre: torch.Tensor) -> torch.Tensor:
        """HandPose (cloud frame) and cloud centres (B, 3) or (3,) -> g (B, 9 + J)."""
        return torch.cat([(pose.trans - centre) / self.cfg.trans_scale, pose.rot6d,
                          self.hand.normalize_joints(pose.q)], -1)

    def vector_to_pose(self, g: torch.Tensor, centre: torch.Tensor) -> HandPose:
        """g (B, 9 + J) -> HandPose in the cloud frame (rot6d re-orthonormalised)."""
        return HandPose(g[:, :3] * self.cfg.trans_scale + centre, matrix_to_rot6d(rot6d_to_matrix(g[:, 3:9])),
                        self.hand.denormalize_joints(g[:, 9:]))

    def _device_dtype(self):
        w = self.to_mu.weight
        return w.device, w.dtype

    # ------------------------------------------------------------------ the VAE
    def condition(self, feats, glob, cloud_idx, point_idx, x) -> torch.Tensor:
        """(B, 2F + 3): [global, local feature, associated point] (x: the (K, P, 6) input)."""
        local = self.points.local(feats, glob, cloud_idx, point_idx)
        return torch.cat([glob[cloud_idx], local, x[cloud_idx, point_idx, :3]], -1)

    def encode(self, g: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(torch.cat([g, cond], -1))
        return self.to_mu(h), self.to_logvar(h).clamp(-12.0, 8.0)

    def decode(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """z (B, latent), cond -> g (B, 9 + J) (joints through tanh, rot6d raw)."""
        out = self.decoder(torch.cat([z, cond], -1))
        return torch.cat([out[:, :9], torch.tanh(out[:, 9:])], -1)

    def losses(self, x: torch.Tensor, centre: torch.Tensor, cloud_idx: torch.Tensor, point_idx: torch.Tensor,
               g: torch.Tensor, geom_cloud: torch.Tensor, kl_scale: float = 1.0,
               mesh_sdf=None, table_z: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """All loss terms (scalars, means over the batch) and ``total``.

        x (K, P, 6), centre (K, 3): prepared conditioning clouds; cloud_idx, point_idx (B,): each
        grasp's cloud and associated point; g (B, 9 + J) target pose vectors (relative to the
        centre of its cloud); geom_cloud (K, Q, 3) m: points the decoded hand is checked against
        (e.g. the full surface even when conditioning on a partial view), in the same frame as
        the clouds (not centred). ``mesh_sdf(points (B, S, 3), cloud_idx (B,)) -> (B, S)``: the
        exact signed distance (m, negative inside) of points given relative to the centre of cloud
        ``cloud_idx`` (needed with ``penetration: mesh``; ``generator.data.MeshSDF``).
        ``kl_scale`` multiplies beta (KL warm-up). ``table_z`` (K,) m: height of each cloud's table
        (horizontal, z up) relative to the cloud's centre (needed with ``w_table > 0``).
        """
        c = self.cfg
        feats, glob = self.points(x)
        cond = self.condition(feats, glob, cloud_idx, point_idx, x)
        mu, logvar = self.encode(g, cond)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        gh = self.decode(z, cond)
        err = (gh - g) ** 2
        rec_t, rec_r, rec_j = err[:, :3].sum(-1).mean(), err[:, 3:9].sum(-1).mean(), err[:, 9:].sum(-1).mean()
        kl = (-0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(-1)).mean()
        out = {"rec_trans": rec_t, "rec_rot": rec_r, "rec_joints": rec_j, "kl": kl}
        total = c.w_trans * rec_t + c.w_rot * rec_r + c.w_joints * rec_j + kl_scale * c.beta * kl
        if c.w_sdf > 0 or c.w_contact > 0:
            # geometry in the centred frame of each grasp's cloud (metres)
            pose = self.vector_to_pose(gh, torch.zeros_like(gh[:, :3]))
            cloud = (geom_cloud - centre[:, None])[cloud_idx]                  # (B, Q, 3)
            sdf_fn = None
            if c.penetration == "mesh":
                if mesh_sdf is None:
                    raise ValueError("DexSimple.losses: penetration 'mesh' needs mesh_sdf (the objects' SDFs)")
                sdf_fn = lambda pts: mesh_sdf(pts, cloud_idx)  # noqa: E731
            sdf, contact = self.geometry_terms(pose, cloud, sdf_fn)
            out["sdf"], out["contact"] = sdf, contact
            total = total + c.w_sdf * sdf + c.w_contact * contact
            tz = None
            if c.w_table > 0:
                if table_z is None:
                    raise ValueError("DexSimple.losses: w_table > 0 needs table_z (each cloud's table height)")
                tz = table_z.to(gh)[cloud_idx]
                out["table"] = self.table_term(pose, tz)
                total = total + c.w_table * out["table"]
            if c.w_prior > 0:
                pcond, pidx = cond, point_idx
                if c.w_assoc > 0:     # the associated points sampling draws: uniform over each cloud
                    pidx = torch.randint(x.shape[1], point_idx.shape, device=point_idx.device)
                    pcond = self.condition(feats, glob, cloud_idx, pidx, x)
                gp = self.decode(torch.randn_like(mu), pcond)
                pose_p = self.vector_to_pose(gp, torch.zeros_like(gp[:, :3]))
                sdf_p, contact_p = self.geometry_terms(pose_p, cloud, sdf_fn)
                out["prior_sdf"], out["prior_contact"] = sdf_p, contact_p
                total = total + c.w_prior * (c.w_sdf * sdf_p + c.w_contact * contact_p)
                if tz is not None:
                    out["prior_table"] = self.table_term(pose_p, tz)
                    total = total + c.w_prior * c.w_table * out["prior_table"]
                if c.w_assoc > 0:
                    out["prior_assoc"] = self.association_term(pose_p, x[cloud_idx, pidx, :3] * c.trans_scale)
                    total = total + c.w_assoc * out["prior_assoc"]
        out["total"] = total
        return out

    def association_term(self, pose: HandPose, point: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of (perp / s)^2 + relu(-t / s)^2: how far ``point`` (B, 3) m (same
        frame as ``pose``) lies off (perp) and behind (t < 0) each pose's palm ray, the ray from the
        palm centre toward the midpoint of the thumb and middle fingertips (:func:`associated_points`)."""
        palm, _ = self.hand.palm_frame(pose)
        tips = self.hand.fingertips(pose)
        names = self.hand.tip_names
        d = 0.5 * (tips[:, names.index("thumb")] + tips[:, names.index("middle")]) - palm
        d = d / d.norm(dim=-1, keepdim=True).clamp_min(1e-9)
        v = point - palm
        t = (v * d).sum(-1)
        perp2 = ((v - t[:, None] * d) ** 2).sum(-1)        # squared: no norm (its gradient at 0 is not finite)
        s = self.cfg.trans_scale
        return (perp2 / s ** 2 + torch.relu(-t / s) ** 2).mean()

    def table_term(self, pose: HandPose, table_z: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of sum over spheres relu((r - h) / s)^2: spheres reaching below the
        table, whose height is ``table_z`` (B,) m in the poses' frame (z up)."""
        centres, radii = self.hand.spheres(pose)
        h = centres[..., 2] - table_z[:, None]
        return (torch.relu((radii - h) / self.cfg.trans_scale) ** 2).sum(-1).mean()

    def geometry_terms(self, pose: HandPose, cloud: torch.Tensor, sdf_fn=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(sdf, contact) means over the batch for poses and per-grasp clouds (B, Q, 3), same frame, m.
        ``sdf_fn(points (B, S, 3)) -> (B, S)``: the object's signed distance (m, negative inside) in
        that frame; given, the penetration term uses it instead of the clouds (see the module doc)."""
        s = self.cfg.trans_scale
        T = self.hand.link_poses_palm(pose.q)
        centres, radii = self.hand.spheres(pose, T)
        if sdf_fn is None:
            d = point_sphere_distance(centres, radii, cloud)                    # (B, S)
        else:
            d = sdf_fn(centres) - (radii if radii.dim() == 2 else radii[None])  # (B, S)
        sdf = (torch.relu(-d / s) ** 2).sum(-1).mean()
        p, _ = self.hand.contact_candidates(pose, T)                            # (B, C, 3)
        g = self.contact_groups
        dist = _nearest_distance(p, cloud)                                      # (B, C)
        dg = dist[:, g.clamp_min(0)].masked_fill(g < 0, float("inf"))           # (B, Fc, K)
        contact = ((dg.min(-1).values / s) ** 2).sum(-1).mean()
        return sdf, contact

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample_detailed(self, points, normals, n: int, associated_counts=None, associated_weights=None,
                        temperature: float = 1.0, seed: int = 0, up=None) -> GeneratorSample:
        """``n`` grasps for one cloud (points, normals (P, 3), cloud frame, m).

        ``up`` (3,): the table's normal (up) in the cloud frame when the object rests on a known
        table. A ``table_frame`` generator then samples in the table frame (the cloud rotated so
        that ``up`` is +z) and the grasps are rotated back; others ignore it (they were trained
        in every orientation).

        Associated points are drawn from the cloud: uniformly; with probability proportional to
        ``1 / (count + 1)`` given ``associated_counts`` (P,) (grasps already made near each
        point: rarely used regions get more); or proportional to ``associated_weights`` (P,).
        z ~ N(0, temperature^2 I). Same inputs and seed -> identical output.
        """
        t0 = time.perf_counter()
        if associated_counts is not None and associated_weights is not None:
            raise ValueError("sample: give associated_counts or associated_weights, not both")
        R = None
        if up is not None and self.cfg.table_frame:
            from ..rotation import rotation_to_z
            up = np.asarray(up, dtype=np.float64)
            if up.shape != (3,) or not np.isfinite(up).all() or np.linalg.norm(up) == 0:
                raise ValueError(f"sample: up must be a finite non-zero (3,) direction, got {up!r}")
            R = torch.as_tensor(rotation_to_z(up))
            points = torch.as_tensor(points, dtype=torch.float64) @ R.T
            normals = None if normals is None else torch.as_tensor(normals, dtype=torch.float64) @ R.T
        x, centre = self.prepare_cloud(points, normals)
        P = x.shape[1]
        dev, dt = x.device, x.dtype
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        if associated_counts is not None:
            w = 1.0 / (torch.as_tensor(np.asarray(associated_counts), dtype=torch.float64) + 1.0)
        elif associated_weights is not None:
            w = torch.as_tensor(np.asarray(associated_weights), dtype=torch.float64)
        else:
            w = None
        if w is not None:
            if w.shape != (P,) or not torch.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
                raise ValueError(f"sample: associated counts/weights must be ({P},) finite, >= 0, not all 0; "
                                 f"got shape {tuple(w.shape)}")
            idx = torch.multinomial(w, n, replacement=True, generator=gen)
        else:
            idx = torch.randint(P, (n,), generator=gen)
        z = torch.randn(n, self.cfg.latent, generator=gen, dtype=torch.float32).to(device=dev, dtype=dt) * temperature
        idx = idx.to(dev)
        feats, glob = self.points(x)
        cond = self.condition(feats, glob, torch.zeros_like(idx), idx, x)
        g = self.decode(z, cond)
        pose = self.vector_to_pose(g, centre[0])
        point = x[0, idx, :3] * self.cfg.trans_scale + centre[0]
        if R is not None:             # table frame -> cloud frame
            Rt = R.to(device=dev, dtype=dt)
            pose = HandPose(pose.trans @ Rt, matrix_to_rot6d(Rt.T @ pose.rotation), pose.q)
            point = point @ Rt
        return GeneratorSample(pose, idx, point, time.perf_counter() - t0)

    def sample(self, points, normals, n: int, associated_counts=None, associated_weights=None,
               temperature: float = 1.0, seed: int = 0, up=None) -> HandPose:
        """``n`` grasps (HandPose, cloud frame) for one cloud; see :meth:`sample_detailed`."""
        return self.sample_detailed(points, normals, n, associated_counts, associated_weights, temperature,
                                    seed, up).pose


def _nearest_distance(p: torch.Tensor, cloud: torch.Tensor) -> torch.Tensor:
    """(B, C) distance from each point p (B, C, 3) to its nearest cloud point (B, Q, 3);
    nearest found without autograd, distance recomputed differentiably."""
    with torch.no_grad():
        idx = torch.cdist(p.detach(), cloud.detach()).argmin(-1)               # (B, C)
    near = torch.gather(cloud, 1, idx[..., None].expand(-1, -1, 3))
    return torch.sqrt(((p - near) ** 2).sum(-1) + 1e-12)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["DexSimple", "GeneratorConfig", "GeneratorSample", "GENERATOR_VERSION", "PointEncoder",
           "associated_points", "count_parameters"]
