"""The `dex1b` CLI: every subcommand module exists and answers --help."""
import importlib

import pytest

from dex1b_ros import cli


@pytest.mark.parametrize("name,module", sorted({**cli.BENCHES, **cli.PASSTHROUGH}.items()))
def test_every_subcommand_module_has_main(name, module):
    assert callable(importlib.import_module(module).main), name


@pytest.mark.parametrize("name", sorted(cli.BENCHES))
def test_bench_help(name, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["bench", name, "--help"])
    assert e.value.code == 0
    assert "usage: dex1b bench" in capsys.readouterr().out


def test_unknown_bench_is_an_error(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["bench", "nope"])
    assert e.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
