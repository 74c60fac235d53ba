"""Mesh loading, unit normalisation, repair, check_mesh, YCB and splits."""
import hashlib

import numpy as np
import pytest
import trimesh

from dex1b_ros.objects import ObjectMesh, check_mesh, load_mesh, load_object, load_split, load_ycb, ycb_names
from dex1b_ros.objects import splits as splits_mod
from dex1b_ros.objects.procedural import KINDS


def _write(tm, path):
    tm.export(str(path))
    return path


def test_mm_file_is_converted_to_meters(tmp_path):
    p = _write(trimesh.creation.box(extents=[100.0, 60.0, 40.0]), tmp_path / "box_mm.stl")
    obj = load_mesh(p)
    np.testing.assert_allclose(obj.extents, [0.1, 0.06, 0.04], rtol=1e-6)
    assert any("mm" in n for n in obj.notes)
    assert obj.name == "box_mm" and obj.source == str(p)


def test_meter_file_kept_and_explicit_scale_overrides(tmp_path):
    p = _write(trimesh.creation.box(extents=[0.1, 0.06, 0.04]), tmp_path / "box_m.obj")
    np.testing.assert_allclose(load_mesh(p).extents, [0.1, 0.06, 0.04], rtol=1e-6)
    q = _write(trimesh.creation.box(extents=[100.0, 60.0, 40.0]), tmp_path / "box_cm.ply")
    np.testing.assert_allclose(load_mesh(q, scale=5e-4).extents, [0.05, 0.03, 0.02], rtol=1e-6)


def test_frame_kept_and_centered(tmp_path):
    tm = trimesh.creation.box(extents=[0.1, 0.06, 0.04])
    tm.apply_translation([0.3, -0.2, 0.1])
    obj = load_mesh(_write(tm, tmp_path / "off.stl"))
    np.testing.assert_allclose(obj.center, [0.3, -0.2, 0.1], atol=1e-7)
    c = obj.centered()
    np.testing.assert_allclose(c.center, 0.0, atol=1e-9)
    back = trimesh.transform_points(c.mesh.vertices, c.to_source)
    np.testing.assert_allclose(back, obj.mesh.vertices, atol=1e-9)


def test_small_hole_is_repaired(tmp_path):
    tm = trimesh.creation.icosphere(subdivisions=2, radius=0.04)
    tm.update_faces(np.arange(len(tm.faces)) != 0)  # one missing triangle
    assert not tm.is_watertight
    obj = load_mesh(_write(tm, tmp_path / "holey.stl"))
    assert obj.mesh.is_watertight and obj.mesh.volume > 0
    assert obj.notes and "repaired" in obj.notes[-1]


def test_duplicated_back_to_back_faces_are_repaired():
    obj = load_ycb("025_mug")  # raw file has duplicated + degenerate faces
    assert obj.mesh.is_watertight and obj.mesh.is_volume
    assert any("duplicated" in n for n in obj.notes)


def test_unrepairable_raises_or_hulls(tmp_path):
    tm = trimesh.creation.icosphere(subdivisions=2, radius=0.04)
    tm.update_faces(tm.triangles_center[:, 2] < 0.01)  # cut the cap off: big hole
    p = _write(tm, tmp_path / "bowl_open.stl")
    with pytest.raises(ValueError, match=r"bowl_open\.stl.*not watertight and unrepairable"):
        load_mesh(p)
    obj = load_mesh(p, allow_hull=True)
    assert obj.mesh.is_watertight and any("convex hull" in n for n in obj.notes)


def test_check_mesh_messages_name_file_and_reason(tmp_path):
    big = load_mesh(_write(trimesh.creation.box(extents=[0.5, 0.1, 0.1]), tmp_path / "big.stl"))
    with pytest.raises(ValueError, match=r"big\.stl: too big for a hand.*0\.5000 m > max_extent 0\.3"):
        check_mesh(big)
    small = load_mesh(_write(trimesh.creation.box(extents=[0.05, 0.05, 0.005]), tmp_path / "thin.stl"))
    with pytest.raises(ValueError, match=r"thin\.stl: too small.*0\.0050 m < min_extent 0\.01"):
        check_mesh(small)
    flat = trimesh.creation.box(extents=[0.1, 0.1, 0.0])
    with pytest.raises(ValueError, match=r"flat\.stl: degenerate mesh \(volume"):
        check_mesh(flat, source="flat.stl")
    with pytest.raises(ValueError, match=r"empty\.stl: degenerate mesh \(no faces\)"):
        check_mesh(trimesh.Trimesh(vertices=np.zeros((3, 3)), faces=np.zeros((0, 3), int)),
                   source="empty.stl")
    ok = load_mesh(_write(trimesh.creation.box(extents=[0.1, 0.05, 0.03]), tmp_path / "ok.stl"))
    assert check_mesh(ok) is ok


def test_unsupported_and_missing_files(tmp_path):
    with pytest.raises(ValueError, match=r"x\.dae: unsupported"):
        load_mesh(tmp_path / "x.dae")
    with pytest.raises(FileNotFoundError, match="nope.stl"):
        load_mesh(tmp_path / "nope.stl")


def test_ycb_loading():
    names = ycb_names()
    assert len(names) == 78 and "011_banana" in names
    b = load_ycb("011_banana")
    assert isinstance(b, ObjectMesh) and b.source == "ycb:011_banana"
    assert b.mesh.is_watertight and 0.15 < b.extents.max() < 0.2  # meters
    b.mesh.apply_translation([1, 0, 0])  # copies: the cache is not mutated
    assert load_ycb("011_banana").extents.max() < 0.2 and abs(load_ycb("011_banana").center[0]) < 0.5
    with pytest.raises(KeyError, match="banan"):
        load_ycb("banan")


def test_splits_deterministic_disjoint_and_complete():
    cfg = splits_mod._read(str(splits_mod.splits_path()))
    sets = {s: load_split(s) for s in ("train", "val", "test")}
    assert sets == {s: load_split(s) for s in ("train", "val", "test")}
    for a in sets:
        for b in sets:
            if a < b:
                assert not set(sets[a]) & set(sets[b]), (a, b)
    ycb = {s: [i[4:] for i in load_split(s, ("ycb",))] for s in sets}
    all_ycb = sum(ycb.values(), []) + list(cfg["ycb_excluded"])
    assert sorted(all_ycb) == sorted(ycb_names())
    n = sum(len(v) for v in ycb.values())
    assert abs(len(ycb["train"]) - 0.6 * n) <= 1 and abs(len(ycb["val"]) - 0.2 * n) <= 1
    # the stored split is the generator's hash order (no need to reload every mesh)
    usable = sum(ycb.values(), [])
    order = sorted(usable, key=lambda s: hashlib.sha256(f"dex1b-split:{s}".encode()).hexdigest())
    assert sorted(order[:len(ycb["train"])]) == ycb["train"]
    assert len(load_split("test", ("proc",))) == len(KINDS) * 20


def test_excluded_ycb_really_fail_check():
    cfg = splits_mod._read(str(splits_mod.splits_path()))
    for name, reason in list(cfg["ycb_excluded"].items())[:2]:
        with pytest.raises(ValueError) as e:
            check_mesh(load_ycb(name))
        assert reason in str(e.value)


def test_load_object_ids(tmp_path):
    assert load_object("ycb:011_banana").name == "011_banana"
    assert load_object("proc:box:3").name == "proc_box_0003"
    p = _write(trimesh.creation.box(extents=[0.1, 0.05, 0.03]), tmp_path / "b.stl")
    assert load_object(str(p)).source == str(p)
    with pytest.raises(ValueError, match="proc:box"):
        load_object("proc:box")
    with pytest.raises(ValueError, match="unknown split"):
        load_split("training")


def _sliver_box():
    """A closed, consistently wound box whose closure needs a zero-area face: edge A-B of one
    side is split at its midpoint M, and the sliver (A, B, M) closes the T-junction."""
    box = trimesh.creation.box(extents=[0.06, 0.05, 0.04])
    V, F = box.vertices.copy(), box.faces.copy()
    f1 = F[0]
    a, b, c = f1
    # find the face sharing the directed edge b->a
    f2 = next(i for i, f in enumerate(F) if any((f[k], f[(k + 1) % 3]) == (b, a) for k in range(3)))
    m = len(V)
    V = np.vstack([V, (V[a] + V[b]) / 2])
    F = np.vstack([np.delete(F, 0, axis=0), [[a, m, c], [m, b, c], [a, b, m]]])
    assert f2 is not None
    return trimesh.Trimesh(V, F, process=False)


def test_mesh_closed_once_merged_is_never_made_worse(tmp_path):
    tm = _sliver_box()
    assert tm.is_watertight and tm.is_winding_consistent  # closed, with a zero-area face
    p = _write(tm, tmp_path / "carton.stl")                 # STL: corners unmerged -> open on load
    raw = trimesh.load(str(p), force="mesh", process=False)
    assert not raw.is_watertight
    obj = load_mesh(p)
    assert obj.mesh.is_watertight and obj.mesh.is_volume
    assert obj.mesh.volume == pytest.approx(0.06 * 0.05 * 0.04, rel=1e-6)
    assert "merged vertices" in obj.notes[-1] and "degenerate" not in obj.notes[-1]


def test_overlapping_shells_are_merged_on_load(tmp_path):
    a = trimesh.creation.box(extents=[0.08, 0.04, 0.04])
    b = trimesh.creation.box(extents=[0.04, 0.08, 0.04])
    b.apply_translation([0.01, 0.01, 0.0])
    p = _write(trimesh.util.concatenate([a, b]), tmp_path / "assembly.obj")
    obj = load_mesh(p)
    assert len(obj.mesh.split(only_watertight=False)) == 1 and obj.mesh.is_volume
    expect = 0.08 * 0.04 * 0.04 + 0.04 * 0.08 * 0.04 - 0.04 * 0.04 * 0.04
    assert obj.mesh.volume == pytest.approx(expect, rel=1e-6)
    assert any("union" in n for n in obj.notes)


@pytest.mark.parametrize("name,split", [("heldout", "test"), ("valbroad", "val"), ("valbroad2", "val")])
def test_object_sets_are_of_one_split_broad_and_non_convex(name, split):
    """The held-out set (reported on) and its validation twin (chosen on) both hold >= 24 objects of
    one split, a third or more strongly non-convex."""
    from dex1b_ros.geometry.decompose import hull_ratio
    from dex1b_ros.objects.splits import load_object_set

    ids = load_object_set(name)
    assert len(ids) >= 24 and len(set(ids)) == len(ids)
    assert set(ids) <= set(load_split(split))  # heldout: never a training or validation object
    ratios = [hull_ratio(load_object(i).mesh) for i in ids]
    assert sum(r < 0.7 for r in ratios) >= len(ids) / 3
