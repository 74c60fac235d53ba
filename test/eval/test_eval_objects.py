"""Which objects ``dex1b eval`` runs on: folders of meshes, rejection messages, spreads."""
import numpy as np
import pytest
import trimesh

from dex1b_ros.eval.objects import resolve_objects, spread


@pytest.fixture
def mesh_folder(tmp_path):
    d = tmp_path / "meshes"
    (d / "sub").mkdir(parents=True)
    trimesh.creation.box((0.05, 0.06, 0.08)).export(d / "good.stl")
    trimesh.creation.box((50, 60, 80)).export(d / "sub" / "good_mm.obj")          # millimetres
    trimesh.creation.box((0.5, 0.06, 0.08)).export(d / "big.ply")
    trimesh.creation.box((0.05, 0.06, 0.002)).export(d / "thin.stl")
    trimesh.Trimesh([[0, 0, 0], [0.05, 0, 0], [0, 0.05, 0], [0.05, 0.05, 0]],
                    [[0, 1, 2], [1, 3, 2]]).export(d / "flat.obj")
    s = trimesh.creation.icosphere(radius=0.04)
    trimesh.Trimesh(s.vertices, s.faces[:-30]).export(d / "open.obj")
    (d / "garbage.obj").write_text("this is not a mesh\n")
    (d / "README.txt").write_text("notes")
    return d


def test_folder_keeps_good_meshes_and_says_why_others_are_rejected(mesh_folder):
    objs = resolve_objects(str(mesh_folder))
    assert sorted(k.split("/")[-1] for k in objs.objects) == ["good.stl", "good_mm.obj"]
    for mesh in objs.objects.values():
        np.testing.assert_allclose(sorted(mesh.extents), [0.05, 0.06, 0.08], atol=1e-9)   # mm -> m
        np.testing.assert_allclose(mesh.center, 0, atol=1e-9)                              # re-centred
    why = {src.split("/")[-1]: reason for src, reason in objs.rejected}
    assert set(why) == {"big.ply", "thin.stl", "flat.obj", "open.obj", "garbage.obj"}
    assert why["big.ply"].startswith("too big for a hand: largest extent 0.5000 m > max_extent 0.3 m")
    assert why["thin.stl"].startswith("too small for a hand: thinnest extent 0.0020 m")
    assert why["flat.obj"].startswith("not watertight and unrepairable")
    assert why["open.obj"].startswith("not watertight and unrepairable")
    assert "degenerate" in why["garbage.obj"] or "cannot read" in why["garbage.obj"]
    assert objs.ignored == ["README.txt"]
    report = objs.report()
    assert "2 usable object(s)" in report and "big.ply: too big for a hand" in report and "README.txt" in report


def test_size_limits_are_configurable(mesh_folder):
    objs = resolve_objects(str(mesh_folder), max_extent=0.6, min_extent=0.001)
    assert sorted(k.split("/")[-1] for k in objs.objects) == ["big.ply", "good.stl", "good_mm.obj", "thin.stl"]


def test_folder_without_usable_mesh_fails_listing_every_reason(tmp_path):
    trimesh.creation.box((0.5, 0.5, 0.5)).export(tmp_path / "huge.stl")
    (tmp_path / "bad.ply").write_text("ply\nformat ascii 1.0\nend_header\n")
    with pytest.raises(ValueError) as e:
        resolve_objects(str(tmp_path))
    msg = str(e.value)
    assert "no usable object" in msg and "huge.stl: too big for a hand" in msg and "bad.ply" in msg


def test_empty_folder_and_bad_spec(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(ValueError, match="no mesh files"):
        resolve_objects(str(tmp_path))
    with pytest.raises(ValueError, match="not a split"):
        resolve_objects("no_such_thing")
    with pytest.raises(ValueError, match="no usable object"):
        resolve_objects(str(tmp_path / "missing.stl"))          # named but absent: rejected, said so


def test_ids_and_single_file(mesh_folder):
    objs = resolve_objects(f"proc:box:80,ycb:no_such_object,{mesh_folder / 'good.stl'}")
    assert list(objs.objects) == ["proc:box:80", str(mesh_folder / "good.stl")]
    assert objs.rejected[0][0] == "ycb:no_such_object" and "unknown YCB object" in objs.rejected[0][1]


def test_spread_is_round_robin_and_deterministic():
    ids = ["ycb:a", "ycb:b", "ycb:c", "proc:box:1", "proc:box:2", "proc:sphere:1", "proc:sphere:2"]
    assert spread(ids, 4) == ["ycb:a", "proc:box:1", "ycb:b", "proc:sphere:1"]
    assert spread(ids, 6) == ["ycb:a", "proc:box:1", "ycb:b", "proc:sphere:1", "ycb:c", "proc:box:2"]
    assert spread(ids, None) == ids and spread(ids, 99) == ids
    assert spread(ids, 1) == ["ycb:a"]


def test_test_split_subset():
    objs = resolve_objects("test", max_objects=4)
    assert [k.split(":")[0] for k in objs.objects] == ["ycb", "proc", "ycb", "proc"]
    assert [k.split(":")[1] for k in list(objs.objects)[1::2]] == ["box", "cylinder"]


def test_union_of_object_sets_keeps_each_id_once_in_order():
    from dex1b_ros.eval.objects import _ids_from_spec
    from dex1b_ros.objects.splits import load_object_set

    a, b = load_object_set("valbroad"), load_object_set("valbroad2")
    assert not set(a) & set(b)                      # twice the plans, no object counted twice
    assert _ids_from_spec("valbroad+valbroad2", []) == a + b
    assert _ids_from_spec("valbroad+valbroad", []) == a
    with pytest.raises(ValueError, match="not a split"):
        _ids_from_spec("valbroad+nothing", [])
