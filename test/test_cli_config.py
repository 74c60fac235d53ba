"""cli_config: argparse flags from config dataclasses (types, nesting, comments, YAML base, errors)."""
import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from dex1b_ros.cli_config import add_config_args, config_from_args, field_comments, parse_config
from dex1b_ros.config_utils import fail, load_yaml


@dataclass
class Inner:
    """Inner part."""

    width: int = 4                     # units of width
    names: tuple[str, ...] = ("a", "b")  # some names


@dataclass
class Outer:
    """Outer config."""

    inner: Inner = field(default_factory=Inner)
    rate: float = 0.5                  # a rate, in [0, 1]
    mode: Literal["x", "y"] = "x"      # which mode
    on: bool = True                    # switch
    where: Path | None = None          # a folder (none = default)
    items: list[str] = field(default_factory=list)  # repeatable
    table: dict[str, int] = field(default_factory=dict)  # YAML only
    plain: int = 3

    def __post_init__(self):
        if not 0 <= self.rate <= 1:
            fail("rate", f"must be in [0, 1], got {self.rate}")


def parser():
    ap = argparse.ArgumentParser(prog="t")
    ap.add_argument("--config", type=Path)
    add_config_args(ap, Outer, aliases={"items": ["--item"]})
    return ap


def parse(*argv, base=None):
    ap = parser()
    return parse_config(ap, Outer, ap.parse_args(list(argv)), base)


def test_defaults_when_nothing_given():
    assert parse() == Outer()


def test_every_kind_of_field():
    c = parse("--rate", "0.25", "--mode", "y", "--no-on", "--where", "out/x", "--item", "a", "--item", "b",
              "--inner.width", "7", "--inner.names", "p", "q", "r", "--plain", "5")
    assert c.rate == 0.25 and c.mode == "y" and c.on is False and c.where == Path("out/x")
    assert c.items == ["a", "b"] and c.inner == Inner(7, ("p", "q", "r")) and c.plain == 5
    assert parse("--where", "none").where is None
    assert parse("--items", "u", "v").items == ["u", "v"]


def test_help_has_comments_defaults_and_nested_flags():
    text = parser().format_help()
    for s in ("--rate RATE", "a rate, in [0, 1] (default: 0.5)", "--mode {x,y}", "--on, --no-on",
              "--inner.width", "units of width (default: 4)", "--inner.names", "(default: a b)", "--item",
              "default: 3"):
        assert s in text, s
    assert "--table" not in text            # mappings stay in YAML
    assert field_comments(Outer)["mode"] == "which mode" and "plain" not in field_comments(Outer)


def test_flags_override_a_yaml_base(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("rate: 0.1\ninner: {width: 2}\ntable: {k: 1}\n")
    base = load_yaml(Outer, p)
    c = parse("--inner.names", "z", base=base)
    assert c.rate == 0.1 and c.inner.width == 2 and c.inner.names == ("z",) and c.table == {"k": 1}


def test_bad_values_are_usage_errors_naming_the_flag(capsys):
    with pytest.raises(SystemExit) as e:
        parse("--rate", "2")
    assert e.value.code == 2
    assert "argument --rate: must be in [0, 1], got 2.0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse("--inner.width", "wide")
    assert "invalid int value" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse("--mode", "z")
    assert "invalid choice" in capsys.readouterr().err


def test_train_and_seed_configs_from_flags(tmp_path):
    from dex1b_ros.generator import seed
    from dex1b_ros.generator import train as T
    ap = T.build_parser()
    a = ap.parse_args(["--hand", "leap", "--data", "x", "--steps", "7", "--batch-size", "9", "--seed", "3",
                       "--lr", "3e-4", "--rotation-augment", "z", "--no-only-success", "--model.latent", "16",
                       "--model.hidden", "32", "32"])
    cfg = parse_config(ap, T.TrainConfig, a)
    assert (cfg.steps, cfg.batch_size, cfg.seed, cfg.lr, cfg.rotation_augment, cfg.only_success) == \
        (7, 9, 3, 3e-4, "z", False)
    assert cfg.model.latent == 16 and cfg.model.hidden == (32, 32) and cfg.model.n_points == 1024
    ap = seed.build_parser()
    a = ap.parse_args(["--hand", "allegro", "--object", "ycb:011_banana", "--object", "proc:box:3", "--keep-invalid",
                       "--hands-dir", str(tmp_path), "--grasps", "8"])
    cfg = config_from_args(seed.SeedConfig, a)
    assert cfg.hand == "allegro" and cfg.objects == ["ycb:011_banana", "proc:box:3"] and cfg.keep_invalid
    assert cfg.hands_dir == tmp_path and cfg.grasps == 8 and cfg.out == Path("out/seed")
