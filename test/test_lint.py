"""ruff (ruff.toml: E, F, W, I, B; 120 columns) over the whole repository."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ruff() -> list[str] | None:
    exe = Path(sys.executable).with_name("ruff")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("ruff")
    return [found] if found else None


def test_ruff_check_is_clean():
    ruff = _ruff()
    if ruff is None:
        pytest.skip("ruff is not installed (requirements.txt pins it; run scripts/setup_env.sh)")
    r = subprocess.run([*ruff, "check", "--output-format", "concise", "--no-cache", "dex1b_ros", "test", "scripts"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, "ruff check found violations:\n" + r.stdout + r.stderr
