"""Seeded procedural objects sized for a LEAP / Allegro hand.

``make_object(kind, seed)`` is a pure function of (kind, seed, size): the same arguments
give a bit-identical mesh. All meshes are watertight, outward-oriented, in meters,
centred on their bounding-box centre (object frame = that centre, axes = mesh axes).
Sizes: largest bounding-box extent in [0.04, 0.15] m (``small``: [0.02, 0.04] m), or
exactly ``size``; every extent >= 0.02 m.

Two groups of kinds:

* primitives and blobs (``box`` ... ``nonconvex_blob``): convex or nearly so
  (volume / convex-hull volume 0.7-1);
* everyday families (``mug`` ... ``small``, :data:`FAMILY_KINDS`), built with exact mesh
  booleans (``manifold3d``), most of them far from convex (a mug ~0.3, a bowl ~0.2).
  Frames: solids of revolution (mug, bowl, bottle, plate) have their axis on z with the
  opening / cap towards +z and a mug's handle towards +x; elongated objects (lshape,
  tshape, tool, banana, machine_part, book) have their length along x.

:func:`hull_ratio` measures non-convexity; ``python -m dex1b_ros.objects.procedural
--report`` prints it per kind and split (and for YCB), see ``docs/objects.md``.
"""
from __future__ import annotations

import argparse
import time
import zlib

import numpy as np
import trimesh

from .mesh import MeshLike, ObjectMesh, as_trimesh

FAMILY_KINDS = ("mug", "bowl", "bottle", "lshape", "tshape", "tool", "banana", "machine_part",
                "book", "plate", "small")
"""Everyday, mostly non-convex families built with mesh booleans (see module doc)."""
KINDS = ("box", "cylinder", "sphere", "capsule", "ellipsoid", "superquadric",
         "convex_blob", "nonconvex_blob") + FAMILY_KINDS
LARGEST_RANGE = (0.04, 0.15)
"""Range of the largest extent (m) when ``size`` is not given."""
SMALL_RANGE = (0.02, 0.04)
"""Range of the largest extent (m) of kind ``small`` when ``size`` is not given."""
MIN_EXTENT = 0.02
"""Every extent is at least this (m)."""


def largest_range(kind: str) -> tuple[float, float]:
    """Range (m) of the largest bounding-box extent of ``kind`` when ``size`` is not given."""
    return SMALL_RANGE if kind == "small" else LARGEST_RANGE


def object_name(kind: str, seed: int) -> str:
    return f"proc_{kind}_{int(seed):04d}"


def _rng(kind: str, seed: int) -> np.random.Generator:
    # Independent stream per (kind, seed); crc32 is stable across runs and platforms.
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(kind.encode())]))


def _dims(rng: np.random.Generator, largest: float, ratio: float = 0.3) -> np.ndarray:
    """(3,) extents: one equals ``largest``, the others in [max(0.02, ratio*largest), largest]."""
    lo = min(largest, max(MIN_EXTENT, ratio * largest))
    d = np.array([largest, rng.uniform(lo, largest), rng.uniform(lo, largest)])
    return d[rng.permutation(3)]


def _fit_box(tm: trimesh.Trimesh, dims: np.ndarray) -> trimesh.Trimesh:
    """Centre on the bbox centre and scale each axis so the extents equal ``dims``."""
    tm.apply_translation(-tm.bounds.mean(axis=0))
    m = np.diag(np.r_[np.asarray(dims) / tm.extents, 1.0])
    tm.apply_transform(m)
    return tm


def _radial(directions: np.ndarray, faces: np.ndarray, radius: np.ndarray) -> trimesh.Trimesh:
    """Star-shaped surface: unit-sphere mesh with vertex i moved to radius[i]*dir[i].

    A positive radial map of a closed sphere mesh is closed, non-self-intersecting and keeps
    the outward orientation, so the result is always watertight.
    """
    return trimesh.Trimesh(directions * radius[:, None], faces.copy(), process=False)


def _superquadric(rng, dims) -> trimesh.Trimesh:
    s = trimesh.creation.icosphere(subdivisions=4)
    e1, e2 = rng.uniform(0.3, 1.4, size=2)  # ~0.3 boxy, 1 ellipsoid, >1 towards octahedral (convex for e <= 2)
    d = np.abs(s.vertices) + 1e-12
    f = (d[:, 0] ** (2 / e2) + d[:, 1] ** (2 / e2)) ** (e2 / e1) + d[:, 2] ** (2 / e1)
    # inside-outside function is homogeneous of degree 2/e1: F(r d) = r^(2/e1) F(d)
    return _fit_box(_radial(s.vertices, s.faces, f ** (-e1 / 2)), dims)


def _nonconvex_blob(rng, dims) -> trimesh.Trimesh:
    s = trimesh.creation.icosphere(subdivisions=4)
    k = int(rng.integers(3, 7))
    axes = rng.normal(size=(k, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    amp = rng.uniform(0.5, 1.2, size=k)
    kappa = rng.uniform(4.0, 12.0, size=k)
    # smooth lobes (von Mises bumps) on a sphere: concave valleys between lobes
    r = 0.5 + (amp * np.exp(kappa * (s.vertices @ axes.T - 1.0))).sum(axis=1)
    return _fit_box(_radial(s.vertices, s.faces, r), dims)


# ----------------------------------------------------------------------------- families
# Everyday shapes from exact mesh booleans (manifold3d). A Manifold is an oriented
# 2-manifold by construction, so the trimesh made from it is watertight with outward
# normals. Each builder draws its own (realistic, meters) dimensions from ``rng``;
# :func:`_fit_family` then applies ``size`` / the kind's size range.

_SEG = 48
"""Segments around a solid of revolution / a cylinder."""


def _mf():
    import manifold3d  # noqa: PLC0415  (kept local: only the families need it)

    return manifold3d


def _check(man, what: str):
    mf = _mf()
    if man.status() != mf.Error.NoError or man.is_empty():
        raise RuntimeError(f"{what}: manifold construction failed ({man.status()})")
    return man


def _to_trimesh(man) -> trimesh.Trimesh:
    m = _check(man, "to_trimesh").to_mesh64()
    v = np.array(m.vert_properties, dtype=np.float64)[:, :3]
    return trimesh.Trimesh(v, np.array(m.tri_verts, dtype=np.int64), process=False)


def _from_arrays(vertices: np.ndarray, faces: np.ndarray, what: str):
    mf = _mf()
    mesh = mf.Mesh64(vert_properties=np.ascontiguousarray(vertices, dtype=np.float64),
                     tri_verts=np.ascontiguousarray(faces, dtype=np.uint64))
    return _check(mf.Manifold(mesh), what)


def _section(points):
    """2-D region bounded by the polygon ``points`` ((n, 2), either orientation)."""
    mf = _mf()
    return mf.CrossSection([np.asarray(points, dtype=np.float64)], mf.FillRule.NonZero)


def _mirror_x(half) -> np.ndarray:
    """Closed polygon of a silhouette symmetric about x = 0 from its right half.

    ``half``: (n, 2) points (r >= 0, z) from the axis at the bottom to the axis at the top.
    """
    h = np.asarray(half, dtype=np.float64)
    right = h[h[:, 0] > 0]
    return np.vstack([right, right[::-1] * [-1.0, 1.0]])


def _revolve(section, segments: int = _SEG):
    """Solid of revolution about z of the x >= 0 part of a 2-D (r, z) section."""
    sec = _section(section) if isinstance(section, (list, np.ndarray)) else section
    return sec.revolve(segments)


def _cube(lo, hi):
    """Axis-aligned box between corners ``lo`` and ``hi`` (meters)."""
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    return _mf().Manifold.cube(tuple(hi - lo)).translate(tuple(lo))


def _cyl(p0, p1, radius: float, segments: int = 32):
    """Cylinder of ``radius`` from point ``p0`` to ``p1``."""
    p0, p1 = np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64)
    d = p1 - p0
    length = float(np.linalg.norm(d))
    z = d / length
    a = np.eye(3)[int(np.argmin(np.abs(z)))]
    x = np.cross(a, z)
    x /= np.linalg.norm(x)
    rot = np.column_stack([x, np.cross(z, x), z])
    return _mf().Manifold.cylinder(length, radius, -1.0, segments).transform(
        np.column_stack([rot, p0]))


def _tube(centres, radii, section, start, end, what: str):
    """Closed tube swept along ``centres`` (n, 3) as a Manifold.

    Ring i is ``section`` ((m, 2) points around the origin) scaled by ``radii[i]`` ((n,) or
    (n, 2): along the normal, along the binormal) in a rotation-minimising frame; the two
    ends are closed by fans to the points ``start`` and ``end`` (a flat cap when that is
    the end centre, a rounded one when it lies beyond it and the radii taper).
    """
    P = np.asarray(centres, dtype=np.float64)
    n, m = len(P), len(section)
    T = np.gradient(P, axis=0)
    T /= np.linalg.norm(T, axis=1, keepdims=True)
    a = np.eye(3)[int(np.argmin(np.abs(T[0])))]
    N = np.empty_like(P)
    N[0] = a - (a @ T[0]) * T[0]
    N[0] /= np.linalg.norm(N[0])
    for i in range(1, n):  # parallel transport: no twist along the path
        v = N[i - 1] - (N[i - 1] @ T[i]) * T[i]
        N[i] = v / np.linalg.norm(v)
    B = np.cross(T, N)
    r = np.broadcast_to(np.asarray(radii, dtype=np.float64).reshape(n, -1), (n, 2))
    sec = np.asarray(section, dtype=np.float64)
    rings = (P[:, None] + (r[:, None, 0:1] * sec[None, :, 0:1]) * N[:, None]
             + (r[:, None, 1:2] * sec[None, :, 1:2]) * B[:, None])
    V = np.vstack([rings.reshape(-1, 3), start, end])
    i, k = np.meshgrid(np.arange(n - 1), np.arange(m), indexing="ij")
    a0, b0 = i * m + k, i * m + (k + 1) % m
    c0, d0 = a0 + m, b0 + m
    quads = np.concatenate([np.stack([a0, b0, d0], -1).reshape(-1, 3),
                            np.stack([a0, d0, c0], -1).reshape(-1, 3)])
    kk = np.arange(m)
    s_id, e_id = n * m, n * m + 1
    cap0 = np.stack([np.full(m, s_id), (kk + 1) % m, kk], -1)
    cap1 = np.stack([np.full(m, e_id), (n - 1) * m + kk, (n - 1) * m + (kk + 1) % m], -1)
    F = np.concatenate([quads, cap0, cap1])
    if trimesh.Trimesh(V, F, process=False).volume < 0:
        F = F[:, ::-1]
    return _from_arrays(V, F, what)


def _circle(m: int, ridges: int = 0, depth: float = 0.0) -> np.ndarray:
    """(m, 2) unit circle, optionally with ``ridges`` shallow lobes of relative ``depth``."""
    t = np.linspace(0.0, 2 * np.pi, m, endpoint=False)
    rho = 1.0 + depth * np.cos(ridges * t)
    return np.column_stack([rho * np.cos(t), rho * np.sin(t)])


def _mug(rng) -> trimesh.Trimesh:
    """Cup (z up, open at +z) with a D-shaped handle towards +x."""
    H = rng.uniform(0.08, 0.12)
    R = rng.uniform(0.03, 0.043)          # outer radius at the rim
    Rb = R * rng.uniform(0.82, 1.0)       # outer radius at the base (tapered mugs)
    t = rng.uniform(0.003, 0.006)         # wall
    floor = rng.uniform(0.006, 0.012)

    def wall(z):  # outer radius at height z
        return Rb + (R - Rb) * z / H

    body = _revolve([(0, 0), (Rb, 0), (R, H), (0, H)])
    top = H + 0.01
    cavity = _revolve([(0, floor), (wall(floor) - t, floor), (wall(top) - t, top), (0, top)])
    zt = H * (1 - rng.uniform(0.1, 0.2))
    zb = H * rng.uniform(0.12, 0.25)
    reach = rng.uniform(0.022, 0.035)     # wall to handle centreline
    q = rng.uniform(0.45, 0.8)            # < 1: flatter, D-shaped loop
    rn, rb = rng.uniform(0.004, 0.006), rng.uniform(0.005, 0.008)
    phi = np.linspace(-np.pi / 2, np.pi / 2, 33)
    z = (zt + zb) / 2 + (zt - zb) / 2 * np.sin(phi)
    x = wall(z) + reach * np.clip(np.cos(phi), 0, None) ** q
    path = np.column_stack([x, np.zeros_like(x), z])
    # ends run horizontally into the wall (and the cavity, which trims them)
    d_in = t + rb + 0.002
    path = np.vstack([path[0] - [d_in, 0, 0], path, path[-1] - [d_in, 0, 0]])
    handle = _tube(path, np.column_stack([np.full(len(path), rn), np.full(len(path), rb)]),
                   _circle(20), path[0], path[-1], "mug handle")
    return _to_trimesh((body + handle) - cavity)


def _bowl(rng) -> trimesh.Trimesh:
    """Open bowl (z up): flat base, elliptic wall of constant thickness, optional foot ring."""
    mf = _mf()
    Rt = rng.uniform(0.05, 0.075)         # rim outer radius: 10-15 cm wide
    h = Rt * rng.uniform(0.4, 0.65)
    Rf = Rt * rng.uniform(0.3, 0.5)       # flat base
    t = rng.uniform(0.003, min(0.006, 0.095 * Rt))  # thinner walls on small bowls
    th = np.linspace(0, np.pi / 2, 16)
    curve = np.column_stack([Rf + (Rt - Rf) * np.sin(th), h * (1 - np.cos(th))])
    solid = _section(_mirror_x(np.vstack([[0, 0], curve, [0, h]])))
    above = _section([(-Rt, h), (Rt, h), (Rt, h + 5 * t), (-Rt, h + 5 * t)])
    inner = (solid + above).offset(-t, mf.JoinType.Round, 2.0, 32)
    wall = solid - inner
    if rng.uniform() < 0.5:  # foot ring under the base
        fr, fh = Rf * rng.uniform(0.6, 0.9), rng.uniform(0.003, 0.006)
        wall = wall + _section(_mirror_x([(0, -fh), (fr, -fh), (fr, 0.001), (0, 0.001)])) \
            - _section(_mirror_x([(0, -fh - 1), (fr - t, -fh - 1), (fr - t, 0), (0, 0)]))
    return _to_trimesh(_revolve(wall, 64))


def _bottle(rng) -> trimesh.Trimesh:
    """Closed bottle (z up): body (maybe waisted), round shoulder, neck, wider cap."""
    Rb = rng.uniform(0.022, 0.036)
    Htot = rng.uniform(0.10, 0.15)
    rn = rng.uniform(0.009, min(0.014, 0.55 * Rb))
    rc = rn + rng.uniform(0.0015, 0.003)
    cap_h = rng.uniform(0.012, 0.02)
    neck_h = rng.uniform(0.008, 0.02)
    sh_h = (Rb - rn) * rng.uniform(0.6, 1.3)
    body_h = Htot - cap_h - neck_h - sh_h
    waist = rng.uniform(0.0, 0.12) if rng.uniform() < 0.6 else 0.0
    c = 0.003
    zb = np.linspace(c, body_h, 12)
    rb = Rb * (1 - waist * np.sin(np.pi * (zb - c) / (body_h - c)) ** 2)
    u = np.linspace(0, np.pi / 2, 10)[1:]
    shoulder = np.column_stack([rn + (Rb - rn) * np.cos(u), body_h + sh_h * np.sin(u)])
    zn = body_h + sh_h + neck_h
    pts = np.vstack([[[0, 0], [Rb - c, 0]], np.column_stack([rb, zb]), shoulder,
                     [[rn, zn], [rc, zn], [rc, zn + cap_h], [0, zn + cap_h]]])
    return _to_trimesh(_revolve(pts))


def _lshape(rng) -> trimesh.Trimesh:
    """Two boxes joined at a corner (length along x, arms in the xy plane)."""
    L = rng.uniform(0.08, 0.15)
    b = L * rng.uniform(0.7, 1.0)
    w1, w2 = (max(MIN_EXTENT, L * f) for f in rng.uniform(0.15, 0.25, size=2))
    d1, d2 = rng.uniform(0.02, 0.035, size=2)
    return _to_trimesh(_cube((0, 0, -d1 / 2), (L, w1, d1 / 2))
                       + _cube((0, 0, -d2 / 2), (w2, b, d2 / 2)))


def _tshape(rng) -> trimesh.Trimesh:
    """Three boxes: a stem (along y) and two crossbar arms of their own lengths and depths."""
    L = rng.uniform(0.08, 0.15)
    b = L * rng.uniform(0.7, 1.0)                       # stem + crossbar height (y)
    ws, wc = (max(MIN_EXTENT, L * f) for f in rng.uniform(0.15, 0.25, size=2))
    left = L * rng.uniform(0.4, 0.6)                     # crossbar split at the stem centre
    ds, dl, dr = rng.uniform(0.02, 0.035, size=3)
    stem = _cube((-ws / 2, 0, -ds / 2), (ws / 2, b - wc / 2, ds / 2))
    arm_l = _cube((-left, b - wc, -dl / 2), (ws / 2, b, dl / 2))
    arm_r = _cube((-ws / 2, b - wc, -dr / 2), (L - left, b, dr / 2))
    return _to_trimesh(_mf().Manifold.batch_boolean([stem, arm_l, arm_r], _mf().OpType.Add))


def _tool(rng) -> trimesh.Trimesh:
    """A handle along x with a head: hammer, spatula (both round handles) or combination wrench."""
    mf = _mf()
    variant = int(rng.integers(3))
    if variant == 0:  # hammer / mallet: head across the handle end
        Lh, rh = rng.uniform(0.09, 0.135), rng.uniform(0.010, 0.014)
        hx, hy = rng.uniform(0.018, 0.028), rng.uniform(0.05, 0.09)
        hz = 2 * rh + rng.uniform(0.002, 0.01)
        off = hy * rng.uniform(-0.2, 0.2)             # head not always centred on the handle
        handle = _cyl((0, 0, 0), (Lh - hx / 2, 0, 0), rh)
        if rng.uniform() < 0.5:
            head = _cube((Lh - hx, off - hy / 2, -hz / 2), (Lh, off + hy / 2, hz / 2))
        else:
            r = max(hx, hz) / 2
            head = _cyl((Lh - r, off - hy / 2, 0), (Lh - r, off + hy / 2, 0), r)
        return _to_trimesh(handle + head)
    if variant == 1:  # spatula: thin rounded blade on a neck
        Lh, rh = rng.uniform(0.06, 0.08), rng.uniform(0.010, 0.013)
        ln, bl = rng.uniform(0.012, 0.025), rng.uniform(0.035, 0.045)
        bw, bt = rng.uniform(0.04, 0.06), rng.uniform(0.003, 0.005)
        nw = rng.uniform(0.008, 0.012)
        zc = -rh * rng.uniform(0.0, 0.6)              # blade nearer the bottom of the handle
        cr = min(bw, bl) * rng.uniform(0.1, 0.3)
        blade = (mf.CrossSection.square((bl - 2 * cr, bw - 2 * cr), True)
                 .offset(cr, mf.JoinType.Round, 2.0, 24).extrude(bt)
                 .translate((Lh + ln + bl / 2, 0, zc - bt / 2)))
        neck = _cube((Lh - 0.005, -nw / 2, zc - bt / 2), (Lh + ln + 0.002, nw / 2, zc + bt / 2))
        handle = _cyl((0, 0, 0), (Lh, 0, 0), rh)
        return _to_trimesh(handle + neck + blade)
    # wrench: open jaw at +x, ring with a hexagonal hole at x = 0, flat-ish bar between
    Rh, Rr = rng.uniform(0.016, 0.022), rng.uniform(0.013, 0.018)
    Lw = rng.uniform(0.07, 0.10)
    th = rng.uniform(0.02, 0.024)
    bw, bt = rng.uniform(0.014, 0.02), rng.uniform(0.012, 0.018)
    jaw = 2 * Rh * rng.uniform(0.4, 0.55)
    ang = rng.uniform(0.0, 20.0)
    bar = _cube((0, -bw / 2, -bt / 2), (Lw, bw / 2, bt / 2))
    open_head = _cyl((Lw, 0, -th / 2), (Lw, 0, th / 2), Rh, 40)
    slot = _cube((-0.2 * Rh, -jaw / 2, -th), (2 * Rh, jaw / 2, th)).rotate((0, 0, ang)) \
        .translate((Lw, 0, 0))
    ring = _cyl((0, 0, -th / 2), (0, 0, th / 2), Rr, 40)
    hexagon = _cyl((0, 0, -th), (0, 0, th), Rr * rng.uniform(0.5, 0.6), 6)
    return _to_trimesh((bar + open_head + ring) - slot - hexagon)


def _banana(rng) -> trimesh.Trimesh:
    """Tapered, slightly five-sided tube bent along a circular arc (in the xz plane), with a stem."""
    theta = np.deg2rad(rng.uniform(95, 140))
    La = rng.uniform(0.13, 0.18)                        # along the arc
    Rc = La / theta
    r0 = La * rng.uniform(0.08, 0.11)                  # thickest radius
    n = 41
    s = (1 - np.cos(np.pi * np.arange(1, n - 1) / (n - 1))) / 2  # denser near the ends

    def centre(si):
        a = theta * (np.asarray(si) - 0.5)
        return np.column_stack([Rc * np.sin(a), np.zeros_like(a), -Rc * np.cos(a)])

    radius = r0 * np.sin(np.pi * s) ** 0.5 * (1 - 0.2 * s)  # rounded ends, thinner at the stem
    body = _tube(centre(s), radius, _circle(24, 5, 0.05), centre([0.0])[0], centre([1.0])[0],
                 "banana body")
    p0, p1 = centre([0.93])[0], centre([1.0])[0]
    tangent = (p1 - p0) / np.linalg.norm(p1 - p0)
    stem = _cyl(p0, p1 + tangent * rng.uniform(0.008, 0.018), r0 * rng.uniform(0.3, 0.4), 16)
    return _to_trimesh(body + stem)


def _machine_part(rng) -> trimesh.Trimesh:
    """Stepped block with a slot and through holes, or an L bracket with holes and a slot."""
    mf = _mf()
    e = 0.002
    if rng.uniform() < 0.5:  # block
        W, D, H = rng.uniform(0.06, 0.11), rng.uniform(0.03, 0.06), rng.uniform(0.025, 0.045)
        sx, sz = W * rng.uniform(0.25, 0.4), H * rng.uniform(0.35, 0.6)
        sw, sd, xs = W * rng.uniform(0.12, 0.2), H * rng.uniform(0.35, 0.6), W * rng.uniform(0.3, 0.45)
        cuts = [_cube((W - sx, -e, H - sz), (W + e, D + e, H + e)),                # step
                _cube((xs - sw / 2, -e, H - sd), (xs + sw / 2, D + e, H + e))]     # slot
        r = min(0.006, 0.3 * min(sx, D))
        ys = (D / 3, 2 * D / 3) if D / 3 > 2.6 * r else (D / 2,)
        cuts += [_cyl((W - sx / 2, y, -e), (W - sx / 2, y, H), r, 24) for y in ys]
        xl = (xs - sw / 2) / 2
        rl = min(0.006, 0.3 * min(xs - sw / 2, D))
        cuts.append(_cyl((xl, D / 2, -e), (xl, D / 2, H + e), rl, 24))
        return _to_trimesh(mf.Manifold.batch_boolean([_cube((0, 0, 0), (W, D, H))] + cuts,
                                                     mf.OpType.Subtract))
    # L bracket: base plate in xy, upright plate at x = 0
    W, D, Hb = rng.uniform(0.06, 0.1), rng.uniform(0.03, 0.06), rng.uniform(0.035, 0.06)
    tb = rng.uniform(0.005, 0.008)
    parts = [_cube((0, 0, 0), (W, D, tb)), _cube((0, 0, 0), (tb, D, Hb))]
    gusset = rng.uniform() < 0.5
    if gusset:  # triangular rib in the corner, in the xz plane at y = D/2
        g, tg = min(W, Hb) * rng.uniform(0.3, 0.5), rng.uniform(0.004, 0.006)
        rib = _section([(tb - e, tb - e), (tb + g, tb - e), (tb - e, tb + g)]).extrude(tg)
        parts.append(rib.rotate((90, 0, 0)).translate((0, D / 2 + tg / 2, 0)))
    r = min(0.005, 0.2 * D)
    sy = D / 4 if gusset else D / 2                      # keep the slot off the rib
    slot_r = min(r, 0.1 * D)
    slot = mf.Manifold.batch_hull([_cyl((x, sy, -e), (x, sy, tb + e), slot_r, 24)
                                   for x in (0.5 * W, 0.85 * W)])
    ys = (D / 4, 3 * D / 4) if gusset or D > 0.045 else (D / 2,)
    zu = tb + 0.6 * (Hb - tb)
    ru = min(r, 0.3 * (Hb - tb))
    cuts = [slot] + [_cyl((-e, y, zu), (tb + e, y, zu), ru, 24) for y in ys]
    if not gusset or D > 0.045:
        cuts.append(_cyl((0.3 * W, 3 * D / 4 if gusset else D / 2, -e),
                         (0.3 * W, 3 * D / 4 if gusset else D / 2, tb + e), slot_r, 24))
    solid = mf.Manifold.batch_boolean(parts, mf.OpType.Add)
    return _to_trimesh(mf.Manifold.batch_boolean([solid] + cuts, mf.OpType.Subtract))


def _book(rng) -> trimesh.Trimesh:
    """Closed book lying flat: rounded spine at x = 0, page block inset between the covers."""
    W, D, T = rng.uniform(0.10, 0.15), rng.uniform(0.07, 0.11), rng.uniform(0.02, 0.04)
    c, e = rng.uniform(0.0015, 0.003), rng.uniform(0.002, 0.004)
    f = 0.002
    solid = _cube((T / 2, 0, 0), (W, D, T)) + _cyl((T / 2, 0, T / 2), (T / 2, D, T / 2), T / 2, 32)
    cuts = [_cube((W - e, -f, c), (W + f, D + f, T - c)),
            _cube((T / 2, -f, c), (W + f, e, T - c)),
            _cube((T / 2, D - e, c), (W + f, D + f, T - c))]
    mf = _mf()
    return _to_trimesh(mf.Manifold.batch_boolean([solid] + cuts, mf.OpType.Subtract))


def _plate(rng) -> trimesh.Trimesh:
    """Shallow plate (z up): flat well, sloped wall of constant thickness, flat raised rim."""
    R = rng.uniform(0.05, 0.075)
    H = rng.uniform(0.02, 0.026)
    t = rng.uniform(0.003, 0.005)
    Rf = R * rng.uniform(0.45, 0.65)                   # outer edge of the flat well (underside)
    Rw = R * (1 - rng.uniform(0.12, 0.22))            # inner edge of the flat rim
    A, B = np.array([Rf, 0.0]), np.array([Rw, H - t])
    d = (B - A) / np.linalg.norm(B - A)
    nrm = np.array([-d[1], d[0]])                     # towards the upper side

    def inner_at(y):  # the underside line moved up by t along its normal, at height y
        p = A + t * nrm
        return p + d * (y - p[1]) / d[1]

    half_outer = [(0, 0), (Rf, 0), (Rw, H - t), (R, H - t), (R, H), (0, H)]
    x1, x2 = inner_at(t)[0], inner_at(H)[0]
    half_cavity = [(0, t), (x1, t), (x2, H), (x2, H + 0.01), (0, H + 0.01)]
    wall = _section(_mirror_x(half_outer)) - _section(_mirror_x(half_cavity))
    return _to_trimesh(_revolve(wall, 64))


def _small(rng) -> trimesh.Trimesh:
    """2-4 cm object: box, cylinder, sphere, hexagonal nut or rounded die."""
    mf = _mf()
    L = rng.uniform(0.025, SMALL_RANGE[1])
    variant = int(rng.integers(5))
    if variant == 0:
        dims = np.array([L, *rng.uniform(MIN_EXTENT, L, size=2)])[rng.permutation(3)]
        return _to_trimesh(mf.Manifold.cube(tuple(dims), True))
    if variant == 1:
        d, h = (L, rng.uniform(MIN_EXTENT, L)) if rng.uniform() < 0.5 else (rng.uniform(MIN_EXTENT, L), L)
        return _to_trimesh(mf.Manifold.cylinder(h, d / 2, -1.0, 40, True))
    if variant == 2:
        return _to_trimesh(mf.Manifold.sphere(L / 2, 32))
    if variant == 3:  # hex nut: L across corners, hole through
        T = rng.uniform(MIN_EXTENT, min(L, 0.025))
        nut = mf.Manifold.cylinder(T, L / 2, -1.0, 6, True)
        hole = mf.Manifold.cylinder(2 * T, L * rng.uniform(0.26, 0.32), -1.0, 32, True)
        return _to_trimesh(nut - hole)
    s = L / np.sqrt(3) * rng.uniform(1.2, 1.4)       # die: cube with rounded corners
    return _to_trimesh(mf.Manifold.cube((s, s, s), True) ^ mf.Manifold.sphere(s * rng.uniform(0.75, 0.85), 32))


_FAMILIES = {"mug": _mug, "bowl": _bowl, "bottle": _bottle, "lshape": _lshape, "tshape": _tshape,
             "tool": _tool, "banana": _banana, "machine_part": _machine_part, "book": _book,
             "plate": _plate, "small": _small}
assert tuple(_FAMILIES) == FAMILY_KINDS


def _fit_family(tm: trimesh.Trimesh, kind: str, size: float | None) -> trimesh.Trimesh:
    """Scale uniformly so the largest extent is ``size`` (default: the natural size, clipped
    to :func:`largest_range`); then stretch any axis thinner than MIN_EXTENT up to it."""
    big = float(tm.extents.max())
    target = float(np.clip(big, *largest_range(kind))) if size is None else float(size)
    if target != big:
        tm.apply_scale(target / big)
    ext = tm.extents
    if (ext < MIN_EXTENT).any():  # only for an explicit small ``size``
        tm.apply_transform(np.diag(np.r_[np.where(ext < MIN_EXTENT, MIN_EXTENT / ext, 1.0), 1.0]))
    return tm


def hull_ratio(mesh: MeshLike) -> float:
    """Volume / convex-hull volume (1 for convex shapes, ~0.3 for a mug)."""
    tm = as_trimesh(mesh)
    return float(tm.volume / tm.convex_hull.volume)


def make_object(kind: str, seed: int, size: float | None = None) -> ObjectMesh:
    """A procedural object.

    Args:
        kind: one of :data:`KINDS`.
        seed: integer seed; (kind, seed, size) fully determines the mesh.
        size: largest extent in meters (>= 0.02); default random in :func:`largest_range`
            ([0.04, 0.15], ``small`` [0.02, 0.04]; families draw realistic per-kind sizes).

    Returns an :class:`ObjectMesh` named ``proc_<kind>_<seed:04d>`` with source
    ``proc:<kind>:<seed>``, centred at its bounding-box centre, meters.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown procedural kind {kind!r}; choose from {KINDS}")
    rng = _rng(kind, seed)
    L = float(rng.uniform(*LARGEST_RANGE)) if size is None else float(size)
    if L < MIN_EXTENT:
        raise ValueError(f"proc:{kind}:{seed}: size {L} m < minimum extent {MIN_EXTENT} m")
    if kind == "box":
        tm = trimesh.creation.box(extents=_dims(rng, L))
    elif kind == "sphere":
        tm = trimesh.creation.icosphere(subdivisions=4, radius=L / 2)
    elif kind == "ellipsoid":
        tm = _fit_box(trimesh.creation.icosphere(subdivisions=4), _dims(rng, L))
    elif kind == "cylinder":
        lo = min(L, max(MIN_EXTENT, 0.25 * L))
        if rng.uniform() < 0.3:  # disc / can lying flat: diameter is the largest extent
            diameter, height = L, rng.uniform(lo, L)
        else:
            diameter, height = rng.uniform(lo, L), L
        tm = trimesh.creation.cylinder(radius=diameter / 2, height=height, sections=64)
    elif kind == "capsule":
        diameter = rng.uniform(min(L, max(MIN_EXTENT, 0.2 * L)), min(L, max(MIN_EXTENT, 0.6 * L)))
        tm = trimesh.creation.capsule(height=L - diameter, radius=diameter / 2, count=[32, 32])
    elif kind == "superquadric":
        tm = _superquadric(rng, _dims(rng, L))
    elif kind == "convex_blob":
        pts = rng.normal(size=(int(rng.integers(12, 40)), 3))
        tm = _fit_box(trimesh.convex.convex_hull(pts), _dims(rng, L))
    elif kind in _FAMILIES:  # L is drawn above but unused: each family draws its own sizes
        tm = _fit_family(_FAMILIES[kind](rng), kind, size)
    else:  # nonconvex_blob
        tm = _nonconvex_blob(rng, _dims(rng, L, ratio=0.4))
    tm.apply_translation(-tm.bounds.mean(axis=0))
    tm.fix_normals()
    if not (tm.is_watertight and tm.is_volume):  # construction guarantees this
        raise RuntimeError(f"proc:{kind}:{seed}: generated mesh is not a closed volume")
    return ObjectMesh(name=object_name(kind, seed), mesh=tm, source=f"proc:{kind}:{int(seed)}")


# ----------------------------------------------------------------------------- report

def ratio_report(seeds_per_split: int = 4, ycb: bool = True, kinds=KINDS) -> list[dict]:
    """Volume / convex-hull volume per kind and split.

    Procedural: the first ``seeds_per_split`` seeds of each split's seed range; YCB: every
    object of each split (``config/objects/splits.yaml``). Each row: source, kind, split, n,
    mean, min, max, ms (mean make/load time per object), faces (most faces of one mesh),
    per_object ({source id: ratio}).
    """
    from .splits import PROC_SEED_RANGES, SPLITS, load_object, load_split

    rows = []

    def row(source, kind, split, objs, seconds):
        r = np.array([hull_ratio(o) for o in objs])
        rows.append(dict(source=source, kind=kind, split=split, n=len(r), mean=float(r.mean()),
                         min=float(r.min()), max=float(r.max()), ms=1e3 * seconds / len(r),
                         faces=max(len(o.mesh.faces) for o in objs),
                         per_object={o.source: float(x) for o, x in zip(objs, r)}))

    for kind in kinds:
        for split in SPLITS:
            start, stop = PROC_SEED_RANGES[split]
            t0 = time.perf_counter()
            objs = [make_object(kind, s) for s in range(start, min(stop, start + seeds_per_split))]
            row("proc", kind, split, objs, time.perf_counter() - t0)
    if ycb:
        for split in SPLITS:
            t0 = time.perf_counter()
            objs = [load_object(i) for i in load_split(split, ("ycb",))]
            row("ycb", "ycb (all)", split, objs, time.perf_counter() - t0)
    return rows


def format_report(rows: list[dict]) -> str:
    """Markdown table of :func:`ratio_report` rows."""
    out = ["| kind | split | n | mean | min | max | ms/object | max faces |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]
    out += [f"| {r['kind']} | {r['split']} | {r['n']} | {r['mean']:.3f} | {r['min']:.3f} | "
            f"{r['max']:.3f} | {r['ms']:.0f} | {r['faces']} |" for r in rows]
    return "\n".join(out)


def render_grid(path: str, seed: int = 0, kinds=KINDS, dpi: int = 60) -> None:
    """PNG grid with one shaded mesh (``make_object(kind, seed)``) per kind."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    cols = 5
    rows_n = -(-len(kinds) // cols)
    fig = plt.figure(figsize=(2.4 * cols, 2.4 * rows_n))
    light = np.array([0.4, -0.5, 0.75])
    light /= np.linalg.norm(light)
    for i, kind in enumerate(kinds):
        tm = make_object(kind, seed).mesh
        ax = fig.add_subplot(rows_n, cols, i + 1, projection="3d")
        shade = 0.35 + 0.65 * np.clip(tm.face_normals @ light, 0, 1)
        col = np.column_stack([0.35 * shade, 0.55 * shade, 0.85 * shade, np.ones_like(shade)])
        ax.add_collection3d(Poly3DCollection(tm.triangles, facecolors=col, edgecolors=col,
                                             linewidths=0.2))
        h = tm.extents.max() / 2
        ax.set_xlim(-h, h), ax.set_ylim(-h, h), ax.set_zlim(-h, h)
        ax.set_box_aspect((1, 1, 1))
        ax.view_init(elev=25, azim=-60)
        ax.set_axis_off()
        ax.set_title(f"{kind} ({100 * tm.extents.max():.0f} cm, {hull_ratio(tm):.2f})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Procedural objects: non-convexity report and render")
    ap.add_argument("--report", action="store_true",
                    help="print volume / convex-hull volume per kind and split (and YCB)")
    ap.add_argument("--seeds", type=int, default=4, help="procedural seeds per kind and split")
    ap.add_argument("--no-ycb", action="store_true", help="skip the YCB rows")
    ap.add_argument("--ycb-lowest", type=int, default=0, metavar="N",
                    help="also list the N YCB objects with the lowest ratio")
    ap.add_argument("--render", metavar="PNG", help="write a grid with one object per kind")
    args = ap.parse_args(argv)
    if not (args.report or args.render):
        ap.error("nothing to do: give --report and/or --render PNG")
    if args.report:
        t0 = time.perf_counter()
        rows = ratio_report(args.seeds, ycb=not args.no_ycb)
        print(f"volume / convex-hull volume; procedural: first {args.seeds} seeds of each split's "
              f"seed range; YCB: every object of the split ({time.perf_counter() - t0:.0f} s)\n")
        print(format_report(rows))
        if args.ycb_lowest and not args.no_ycb:
            ycb = sorted((x, i, r["split"]) for r in rows if r["source"] == "ycb"
                         for i, x in r["per_object"].items())
            print(f"\nYCB, the {args.ycb_lowest} lowest ratios:\n")
            print("| object | split | ratio |\n|---|---|---:|")
            print("\n".join(f"| {i} | {sp} | {x:.3f} |" for x, i, sp in ycb[:args.ycb_lowest]))
    if args.render:
        render_grid(args.render)
        print(f"wrote {args.render}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
