"""The `dex1b` CLI: one table of subcommands, each module exists and answers --help."""
import dataclasses
import importlib

import pytest

from dex1b_ros import cli


def test_each_subcommand_is_listed_once():
    names = [c.name for c in cli.COMMANDS]
    assert len(names) == len(set(names))
    assert {"demo", "hands", "seed", "train", "dataset build", "eval", "bench fk"} <= set(names)
    # the old dict views still hold every module
    assert set(cli.BENCHES.values()) | set(cli.PASSTHROUGH.values()) <= {c.module for c in cli.COMMANDS}


@pytest.mark.parametrize("cmd", cli.COMMANDS, ids=lambda c: c.name)
def test_every_subcommand_module_has_main(cmd):
    assert callable(importlib.import_module(cmd.module).main), cmd.name
    assert cmd.help and "\n" not in cmd.help


def test_top_level_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for c in cli.COMMANDS:
        assert f"  {c.name} " in out and c.help in out, c.name


def test_no_command_prints_usage_and_fails(capsys):
    assert cli.main([]) == 2
    assert "commands:" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(cli.BENCHES))
def test_bench_help(name, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["bench", name, "--help"])
    assert e.value.code == 0
    assert "usage: dex1b bench" in capsys.readouterr().out


@pytest.mark.parametrize("argv,err", [(["bench", "nope"], "dex1b bench: error: invalid choice: 'nope'"),
                                      (["nope"], "dex1b: error: invalid choice: 'nope'"),
                                      (["dataset"], "dataset build")])
def test_unknown_or_incomplete_command_is_an_error(argv, err, capsys):
    assert cli.main(argv) == 2
    assert err in capsys.readouterr().err


def test_group_help_lists_its_commands(capsys):
    assert cli.main(["bench", "--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"bench {b}" in out for b in cli.BENCHES) and "train" not in out


def _flags(cls, prefix=""):
    out = []
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(f.type) or f.name == "model":
            continue
        out.append("--" + (prefix + f.name).replace("_", "-"))
    return out


@pytest.mark.parametrize("name", ["train", "seed"])
def test_every_config_field_is_a_flag(name, capsys):
    from dex1b_ros.generator.model import GeneratorConfig
    from dex1b_ros.generator.seed import SeedConfig
    from dex1b_ros.generator.train import TrainConfig
    with pytest.raises(SystemExit) as e:
        cli.main([name, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    flags = _flags(SeedConfig) if name == "seed" else _flags(TrainConfig) + _flags(GeneratorConfig, "model.")
    missing = [f for f in flags if f not in out]
    assert not missing, missing
    assert "(default: " in out


def test_a_missing_file_is_a_clean_error(tmp_path, capsys):
    assert cli.main(["hands", "--hand", str(tmp_path / "nope.yaml")]) == 2
    assert "dex1b hands: error:" in capsys.readouterr().err
