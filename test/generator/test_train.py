"""DexSimple training loop, checkpoints/resume, export and load_generator checks."""
import dataclasses
import json

import numpy as np
import pytest
import torch
import yaml

from dex1b_ros.generator import train as T
from dex1b_ros.generator.model import GeneratorConfig, associated_points
from dex1b_ros.objects.procedural import KINDS
from dex1b_ros.records import SCHEMA_VERSION, records_from_graspset, write_records

torch.set_num_threads(1)
TINY = GeneratorConfig(n_points=128, point_mlp=(32,), point_feature=32, latent=8, hidden=(64, 64))


def tiny_cfg(**kw) -> T.TrainConfig:
    base = dict(model=TINY, steps=40, batch_size=16, objects_per_batch=1, lr=3e-3, kl_warmup=0,
                partial_fraction=0.0, views_per_object=2, rotation_augment="none", only_success=False,
                val_every=0, val_samples=8, ckpt_every=0, log_every=1, seed=0)
    base.update(kw)
    return T.TrainConfig(**base)


@pytest.fixture(scope="module")
def shards(leap, tmp_path_factory):
    """A few optimizer grasps on a box (train split) and the same grasps labelled as a val-split box."""
    from dex1b_ros.geometry.pointcloud import sample_surface
    from dex1b_ros.objects import load_object
    from dex1b_ros.optim import GraspOptimizer, ObjectField, synthesis_config
    mesh = load_object("proc:box:3").mesh
    gs = GraspOptimizer(leap, ObjectField.from_mesh(mesh, resolution=32, n_points=512)).synthesize(
        24, synthesis_config(steps=40, seed=0))
    cloud = torch.as_tensor(sample_surface(mesh, 512, seed=0, fps=True)[0])
    _, ap = associated_points(leap, gs.pose(leap), cloud)
    d = tmp_path_factory.mktemp("shards")
    out = []
    for oid in ("proc:box:3", "proc:box:60"):
        r = records_from_graspset(gs, oid, leap.joint_names, assoc_point=ap.numpy(), grasp_type="t",
                                  generator_version="test")
        out.append(write_records(r, d / f"part-{oid.replace(':', '_')}.parquet"))
    return out


def test_loss_decreases_on_tiny_set(leap, shards, tmp_path):
    res = T.train(leap, shards[:1], tmp_path / "run", tiny_cfg(steps=50), progress=False)
    tot = [h["total"] for h in res.history]
    assert len(tot) == 50
    first, last = np.mean(tot[:8]), np.mean(tot[-8:])
    assert last < 0.7 * first, (first, last)
    assert (tmp_path / "run" / "train_log.csv").read_text().startswith("step,epoch,total")
    assert (tmp_path / "run" / "checkpoint.safetensors").is_file()


def test_partial_views_and_validation_run(leap, shards, tmp_path):
    cfg = tiny_cfg(steps=6, partial_fraction=1.0, rotation_augment="so3", val_every=3, objects_per_batch=2)
    res = T.train(leap, shards, tmp_path / "run", cfg, progress=False)
    assert res.data["val_objects"] == ["proc:box:60"] and res.data["train_objects"] == ["proc:box:3"]
    assert {"val_total", "val_sample_pen_mm", "val_sample_contact_mm"} <= set(res.val)
    rows = (tmp_path / "run" / "val_log.csv").read_text().strip().splitlines()
    assert len(rows) == 3                                    # header + steps 3 and 6


def test_mesh_sdf_in_rotated_batches_is_the_exact_sdf(leap, shards):
    """MeshSDF maps points of a rotated, centred batch back to the object: its values equal the
    exact signed distance of the same points in the object frame (to the grid's accuracy)."""
    from dex1b_ros.generator.model import DexSimple
    from dex1b_ros.geometry.sdf import exact_signed_distance
    recs = T.read_shards(shards[:1])
    clouds = T.CloudCache(128, 2, 0, 128, sdf_resolution=48)
    data = T.GraspData(recs, clouds, 0.015)
    m = DexSimple(leap, dataclasses.replace(TINY, penetration="mesh"))
    b = T.make_batch(m, data, ["proc:box:3"] * 2, [5, 5], [False, True], np.random.default_rng(0), "so3", 2,
                     with_sdf=True)
    pts = torch.randn(10, 7, 3, dtype=torch.float64) * 0.04          # relative to each cloud's centre
    got = b.mesh_sdf(pts, b.cloud_idx)
    obj = (pts + b.centre[b.cloud_idx][:, None].double()) @ b.mesh_sdf.rot[b.cloud_idx].double()
    ref = torch.as_tensor(exact_signed_distance(clouds.mesh("proc:box:3"), obj.numpy()))
    assert not torch.equal(b.mesh_sdf.rot[0], b.mesh_sdf.rot[1])     # two different rotations
    near = ref.abs() < 0.015                                          # inside the grid box (2 cm padding)
    torch.testing.assert_close(got[near], ref[near], atol=2e-3, rtol=0)
    assert torch.equal(got > 0, ref > 0)                              # far away: an upper bound, the sign exact
    assert (ref[near] < 0).sum() >= 3 and (ref[near] > 0).sum() >= 3


def test_mesh_penetration_trains(leap, shards, tmp_path):
    cfg = tiny_cfg(steps=4, model=dataclasses.replace(TINY, penetration="mesh"), rotation_augment="so3",
                   sdf_resolution=16)
    res = T.train(leap, shards[:1], tmp_path / "run", cfg, progress=False)
    assert all(np.isfinite(h["sdf"]) for h in res.history)
    with pytest.raises(T.ConfigError, match="sdf_resolution"):
        tiny_cfg(sdf_resolution=2)


def test_resume_after_crash_equals_uninterrupted(leap, shards, tmp_path, monkeypatch):
    cfg = tiny_cfg(steps=24, ckpt_every=8, partial_fraction=0.5, rotation_augment="so3")
    ref = T.train(leap, shards[:1], tmp_path / "ref", cfg, progress=False)

    calls = {"n": 0}
    real = T.make_batch

    def crashing(*a, **k):
        calls["n"] += 1
        if calls["n"] == 19:                                  # dies during step 19; last checkpoint: step 16
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(T, "make_batch", crashing)
    with pytest.raises(KeyboardInterrupt):
        T.train(leap, shards[:1], tmp_path / "run", cfg, progress=False)
    assert json.loads((tmp_path / "run" / "checkpoint.json").read_text())["step"] == 16
    monkeypatch.setattr(T, "make_batch", real)
    res = T.train(leap, shards[:1], tmp_path / "run", cfg, progress=False)
    for (k, a), (_, b) in zip(ref.model.state_dict().items(), res.model.state_dict().items()):
        torch.testing.assert_close(a, b, msg=k)
    lines = (tmp_path / "run" / "train_log.csv").read_text().strip().splitlines()
    assert [int(x.split(",")[0]) for x in lines[1:]] == list(range(1, 25))


@pytest.fixture(scope="module")
def exported(leap, shards, tmp_path_factory):
    d = tmp_path_factory.mktemp("export")
    cfg = tiny_cfg(steps=3)
    res = T.train(leap, shards, d / "run", cfg, progress=False)
    T.export_model(res, d / "models" / "leap", cfg, command="dex1b train --hand leap")
    return d / "models" / "leap", res


def test_export_card_and_load(leap, exported):
    path, res = exported
    card = yaml.safe_load((path / "model_card.yaml").read_text())
    assert card["hand"] == "leap" and card["joint_names"] == list(leap.joint_names)
    assert card["schema_version"] == SCHEMA_VERSION and card["sha256"] == T.sha256_file(path / "dexsimple.safetensors")
    assert card["generator_config"]["latent"] == 8 and card["training_command"].startswith("dex1b train")
    assert card["objects"]["val"] == ["proc:box:60"]
    m = T.load_generator(path, leap)
    pts = np.random.default_rng(0).normal(size=(128, 3)).astype(np.float32) * 0.03
    nrm = pts / np.linalg.norm(pts, axis=1, keepdims=True)
    a = m.sample(pts, nrm, 10, seed=3)
    b = res.model.sample(pts, nrm, 10, seed=3)
    torch.testing.assert_close(a.q, b.q)


def test_load_wrong_hand_clear_error(exported):
    path, _ = exported
    with pytest.raises(T.GeneratorLoadError, match=r"trained for hand 'leap', not 'allegro'"):
        T.load_generator(path, "allegro")


def test_load_corrupted_file_names_it(leap, exported, tmp_path):
    import shutil
    src, _ = exported
    d = tmp_path / "leap"
    shutil.copytree(src, d)
    w = d / "dexsimple.safetensors"
    data = bytearray(w.read_bytes())
    data[len(data) // 2] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(T.GeneratorLoadError, match=r"dexsimple\.safetensors: checksum mismatch"):
        T.load_generator(d, leap)
    # a truncated file whose card checksum was "fixed" still fails with the file named
    w.write_bytes(bytes(data[:100]))
    card = yaml.safe_load((d / "model_card.yaml").read_text())
    card["sha256"] = T.sha256_file(w)
    (d / "model_card.yaml").write_text(yaml.safe_dump(card))
    with pytest.raises(T.GeneratorLoadError, match=r"dexsimple\.safetensors: cannot read safetensors"):
        T.load_generator(w, leap)


def test_load_missing_files(leap, tmp_path):
    with pytest.raises(T.GeneratorLoadError, match="weights not found"):
        T.load_generator(tmp_path, leap)
    (tmp_path / "dexsimple.safetensors").write_bytes(b"x")
    with pytest.raises(T.GeneratorLoadError, match="model card not found"):
        T.load_generator(tmp_path, leap)


def test_train_config_yaml_and_errors(tmp_path):
    from dex1b_ros.config_utils import ConfigError, load_yaml
    p = tmp_path / "t.yaml"
    p.write_text("steps: 10\nmodel: {latent: 16, beta: 0.1}\nrotation_augment: z\n")
    cfg = load_yaml(T.TrainConfig, p)
    assert cfg.steps == 10 and cfg.model.latent == 16 and cfg.rotation_augment == "z"
    p.write_text("model: {w_sdf: -1}\n")
    with pytest.raises(ConfigError, match="model.w_sdf"):
        load_yaml(T.TrainConfig, p)
    p.write_text("partial_fraction: 2\n")
    with pytest.raises(ConfigError, match="partial_fraction"):
        load_yaml(T.TrainConfig, p)


def test_seed_and_train_parsers_help():
    from dex1b_ros.generator import seed
    for build in (seed.build_parser, T.build_parser):
        text = build().format_help()
        assert "Examples" in text and "--hand" in text
    cfg = seed.SeedConfig(ycb_train=2, proc_train=1, ycb_val=1, proc_val=0)
    ids = cfg.object_ids()
    assert len(ids) == 2 + len(KINDS) + 1 and ids[0].startswith("ycb:")
    assert seed.shard_name("ycb:011_banana") == "part-ycb_011_banana.parquet"
    assert dataclasses.replace(cfg, objects=["proc:box:1"]).object_ids() == ["proc:box:1"]


def test_model_card_names_the_dataset_build(tmp_path):
    """Shards of a `dex1b dataset build` folder: the card's dataset section names the build (its
    build.json hash) and the rounds; shards of no build: no section."""
    from dex1b_ros.generator.checkpoint import dataset_of_shards
    root = tmp_path / "ds"
    for r in (0, 2):
        (root / "grasps" / f"round={r}" / "hand=leap").mkdir(parents=True)
    (root / "build.json").write_text(json.dumps({"content_hash": "abc123", "config": {}}))
    shards = [root / "grasps" / f"round={r}" / "hand=leap" / "x.parquet" for r in (2, 0, 0)]
    assert dataset_of_shards(shards) == {"name": str(root), "build_hash": "abc123", "rounds": [0, 2]}
    assert dataset_of_shards([tmp_path / "loose.parquet"]) is None


def test_init_fine_tunes_an_export_with_other_loss_settings(leap, shards, exported, tmp_path):
    """`dex1b train --init`: the export's architecture and weights, this run's loss settings."""
    path, _ = exported
    init = T.load_generator(path, leap)
    cfg = tiny_cfg(steps=1, lr=1e-12, model=GeneratorConfig(w_prior=0.5))       # default (big) architecture asked
    res = T.train(leap, shards[:1], tmp_path / "run", cfg, progress=False, init=init)
    assert res.model.cfg.hidden == TINY.hidden and res.model.cfg.w_prior == 0.5
    for k, v in init.state_dict().items():
        torch.testing.assert_close(res.model.state_dict()[k], v, atol=1e-6, rtol=0)   # lr ~0: still the init
    assert T.main(["--hand", "leap", "--data", str(shards[0]), "--init", str(path), "--out", str(tmp_path / "cli"),
                   "--export", str(tmp_path / "x"), "--steps", "1", "--quiet", "--model.w-prior", "0.5",
                   "--no-only-success", "--batch-size", "8", "--objects-per-batch", "1"]) == 0
    card = yaml.safe_load((tmp_path / "x" / "model_card.yaml").read_text())
    assert card["generator_config"]["hidden"] == list(TINY.hidden) and card["generator_config"]["w_prior"] == 0.5
