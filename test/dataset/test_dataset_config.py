"""The shipped dataset configs load; bad values name their field; the content hash ignores runtime fields."""
import dataclasses
from pathlib import Path

import pytest

from dex1b_ros.config_utils import ConfigError
from dex1b_ros.dataset.build import load_build_config, main

CFG = Path(__file__).resolve().parents[2] / "config" / "dataset"


@pytest.mark.parametrize("name", ["tiny", "default"])
def test_shipped_configs_load(name):
    cfg = load_build_config(CFG / f"{name}.yaml")
    assert cfg.name == name and cfg.rounds >= 2 and cfg.objects.resolve()


def test_overrides_and_hash():
    cfg = load_build_config(CFG / "tiny.yaml", workers=1, engine="ray", ray_address="127.0.0.2:1")
    assert (cfg.workers, cfg.engine, cfg.ray.address) == (1, "ray", "127.0.0.2:1")
    assert cfg.content_hash() == load_build_config(CFG / "tiny.yaml").content_hash()
    assert dataclasses.replace(cfg, seed=1).content_hash() != cfg.content_hash()
    assert dataclasses.replace(cfg, keep_generators="last").content_hash() == cfg.content_hash()   # storage only


@pytest.mark.parametrize("name", ["leap", "allegro"])
def test_committed_builds_keep_their_hash(name):
    """The shipped builds' build.json hash is what their config hashes to with today's code: fields
    added since (at the value that does what the code did before) leave the hash alone, so the
    committed builds resume; another value is another build."""
    import json
    root = CFG.parents[1]
    cfg = load_build_config(CFG / f"{name}.yaml")
    assert cfg.content_hash() == json.loads((root / "data" / name / "build.json").read_text())["content_hash"]
    model = cfg.train.generator.model
    surface = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, generator=dataclasses.replace(
        cfg.train.generator, model=dataclasses.replace(model, penetration="mesh"))))
    assert model.penetration == "cloud" and surface.content_hash() != cfg.content_hash()


@pytest.mark.parametrize("text,field", [("rounds: 0", "rounds"),
                                        ("generate: {samples_per_task: 0}", "generate.samples_per_task"),
                                        ("types: {cap_per_type: -1}", "types.cap_per_type"),
                                        ("engine: spark", "engine"), ("objects: {split: dev}", "objects.split"),
                                        ("keep_generators: none", "keep_generators")])
def test_bad_values_name_the_field(tmp_path, text, field):
    p = tmp_path / "bad.yaml"
    p.write_text(text + "\n")
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_build_config(p)


def test_cli_reports_config_errors(tmp_path, capsys):
    p = tmp_path / "bad.yaml"
    p.write_text("rounds: 0\n")
    assert main(["--config", str(p)]) == 2
    assert "rounds: must be >= 1" in capsys.readouterr().err
