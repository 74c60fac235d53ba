"""dex1b_ros.resources: the package finds config/ and models/ from a checkout and when installed.

The slow test installs the package NON-editable into a temporary prefix (as ``colcon build``
without ``--symlink-install`` or ``pip install .`` would) and runs it from another directory
with the source tree off ``sys.path``.
"""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import time
from pathlib import Path

import pytest

from dex1b_ros import resources

REPO = Path(__file__).resolve().parents[1]
#: The repository's default hand-model folder (``../shared/assets/hands``).
HANDS = (REPO.parent / "shared" / "assets" / "hands").resolve()
_ENV_CLEAR = (resources.SHARE_DIR_ENV, "DEX1B_SPLITS", "AMENT_PREFIX_PATH")


# ------------------------------------------------------------------------------ search order (fast)
@pytest.fixture
def clean_env(monkeypatch):
    for k in _ENV_CLEAR:
        monkeypatch.delenv(k, raising=False)
    return monkeypatch


def _fake_share(root: Path) -> Path:
    share = root / "share" / "dex1b_ros"
    (share / "config" / "hands").mkdir(parents=True)
    (share / "package.xml").write_text("<package/>")
    idx = root / "share" / "ament_index" / "resource_index" / "packages"
    idx.mkdir(parents=True)
    (idx / "dex1b_ros").write_text("")
    return share


def test_checkout_uses_the_source_tree(clean_env):
    assert resources.source_root() == REPO
    assert resources.share_dir() == REPO
    assert resources.config_dir("hands") == REPO / "config" / "hands"
    assert resources.models_dir("leap") == REPO / "models" / "leap"
    assert resources.resource_path("package.xml").is_file()


def test_env_override(clean_env, tmp_path):
    clean_env.setenv(resources.SHARE_DIR_ENV, str(tmp_path))
    assert resources.share_dir() == tmp_path.resolve()
    with pytest.raises(FileNotFoundError, match=resources.SHARE_DIR_ENV):
        resources.config_dir("hands")
    clean_env.setenv(resources.SHARE_DIR_ENV, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="missing"):
        resources.share_dir()


def test_installed_layouts_and_the_error_names_every_place(clean_env, tmp_path):
    # code that is neither in a checkout nor under <prefix>/lib/pythonX.Y/site-packages
    clean_env.setattr(resources, "_PKG_DIR", tmp_path / "somewhere" / "dex1b_ros")
    clean_env.setattr(sys, "prefix", str(tmp_path / "venv"))
    with pytest.raises(FileNotFoundError) as e:
        resources.share_dir()
    msg = str(e.value)
    for what in ("source tree", "install prefix", "ament index", "sys.prefix", "AMENT_PREFIX_PATH",
                 str(tmp_path / "somewhere"), str(tmp_path / "venv" / "share" / "dex1b_ros")):
        assert what in msg
    # the ament index (a sourced workspace)
    ament = _fake_share(tmp_path / "ws")
    clean_env.setenv("AMENT_PREFIX_PATH", str(tmp_path / "ws"))
    assert resources.share_dir() == ament.resolve()
    # sys.prefix/share/dex1b_ros
    clean_env.delenv("AMENT_PREFIX_PATH")
    venv = _fake_share(tmp_path / "venv")
    assert resources.share_dir() == venv.resolve()
    # the prefix this copy is installed in wins over both
    own = _fake_share(tmp_path / "own")
    clean_env.setenv("AMENT_PREFIX_PATH", str(tmp_path / "ws"))
    clean_env.setattr(resources, "_PKG_DIR", tmp_path / "own" / "lib" / "python3.11" / "site-packages" / "dex1b_ros")
    assert resources.share_dir() == own.resolve()
    with pytest.raises(FileNotFoundError, match=r"models.*chosen from: source tree.*install prefix"):
        resources.models_dir("leap")


# ------------------------------------------------------------------------------ a real install (slow)
_PROBE = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    t0 = time.perf_counter()
    import dex1b_ros
    from dex1b_ros import resources
    from dex1b_ros.hands import load_hand_config, resolve_mjcf
    from dex1b_ros.objects.splits import load_split, splits_path
    from dex1b_ros.planner.pipeline import shipped_model
    from dex1b_ros.eval.run import EvalConfig
    cfg = load_hand_config("leap")
    out = dict(file=dex1b_ros.__file__, share=str(resources.share_dir()), source_root=resources.source_root(),
               hand_source=cfg.source, mjcf=str(resolve_mjcf(cfg)), split_test=len(load_split("test")),
               splits=str(splits_path()), shipped=str(shipped_model("leap")),
               shipped_exists=shipped_model("leap").is_file(), eval_model=str(EvalConfig().model_dir),
               sys_path=[str(Path(p or ".").resolve()) for p in sys.path])
    if "--plan" in sys.argv:
        import torch
        torch.set_num_threads(1)
        from dex1b_ros.geometry.pointcloud import sample_surface
        from dex1b_ros.objects import make_object
        from dex1b_ros.planner.pipeline import GraspPipeline, PipelineConfig
        pipe = GraspPipeline("leap", config=PipelineConfig(num_samples=16, refine_steps=10, num_validate=2, top_k=2))
        pts, nrm = sample_surface(make_object("box", 0, size=0.08).mesh, 1500, seed=0)
        r = pipe.plan(pts, nrm)
        out.update(mode=pipe.mode, plan_info=r.info, plan_success=r.success, plan_grasps=len(r.grasps))
    out["seconds"] = time.perf_counter() - t0
    print("RESULT " + json.dumps(out, default=str))
""")


def _copy_source(dst: Path) -> Path:
    """The files setup.py needs, copied so the build leaves nothing (build/, *.egg-info) in the repo."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for d in ("dex1b_ros", "config", "models", "launch", "resource"):
        shutil.copytree(REPO / d, dst / d, ignore=ignore)
    for f in ("setup.py", "setup.cfg", "package.xml"):
        shutil.copy2(REPO / f, dst / f)
    return dst


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    if not HANDS.is_dir():
        pytest.skip(f"hand models not found at {HANDS} (the repository's default ../shared/assets/hands)")
    src = _copy_source(tmp_path_factory.mktemp("src"))
    prefix = tmp_path_factory.mktemp("prefix")
    # --ignore-installed: never uninstall or touch the venv's editable dex1b_ros
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-cache-dir",
                    "--no-deps", "--no-build-isolation", "--ignore-installed", "--no-warn-script-location",
                    "--prefix", str(prefix), str(src)], check=True, cwd=src, timeout=300)
    shutil.rmtree(src)  # the installed copy must not need its source
    site = Path(sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)}))
    assert (site / "dex1b_ros" / "resources.py").is_file(), f"no dex1b_ros under {site}"
    return prefix, site


def _run(prefix: Path, site: Path, cwd: Path, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _ENV_CLEAR + ("PYTHONPATH",)}
    env.update(PYTHONPATH=str(site), DEX1B_HANDS_DIR=str(HANDS), PYTHONNOUSERSITE="1")
    p = subprocess.run([sys.executable, "-c", _PROBE, *args], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


@pytest.mark.slow
def test_installed_copy_finds_its_config_models_and_splits(installed, tmp_path):
    prefix, site = installed
    share = prefix / "share" / "dex1b_ros"
    for rel in ("package.xml", "config/hands/leap.yaml", "config/hands/allegro.yaml", "config/objects/splits.yaml",
                "config/dataset/default.yaml", "config/eval/results.yaml", "config/grasp_planner.yaml",
                "models/leap/dexsimple.safetensors", "models/leap/model_card.yaml",
                "models/allegro/dexsimple.safetensors", "launch/grasp_planner.launch.py"):
        assert (share / rel).is_file(), rel
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "dex1b_ros").is_file()

    t0 = time.perf_counter()
    r = _run(prefix, site, tmp_path, "--plan")
    print(f"installed probe + plan: {time.perf_counter() - t0:.1f} s "
          f"(in-process {r['seconds']:.1f} s): {r.get('plan_info')}")
    assert Path(r["file"]).is_relative_to(site), r["file"]          # the installed copy, not the checkout
    assert str(REPO) not in r["sys_path"]
    assert r["source_root"] is None
    assert Path(r["share"]) == share.resolve()
    assert Path(r["hand_source"]) == share.resolve() / "config" / "hands" / "leap.yaml"
    assert Path(r["mjcf"]).is_relative_to(HANDS)
    assert r["split_test"] > 0 and Path(r["splits"]).is_relative_to(share.resolve())
    assert Path(r["shipped"]) == share.resolve() / "models" / "leap" / "dexsimple.safetensors" and r["shipped_exists"]
    assert Path(r["eval_model"]) == share.resolve() / "models" / "leap"
    assert r["mode"].startswith("generator+refinement"), r["mode"]     # the shipped generator was loaded
    assert r["plan_info"].startswith("generator+refinement")
    assert r["plan_grasps"] >= 1

    # the venv's editable install is untouched: the checkout is still what the venv imports
    p = subprocess.run([sys.executable, "-c", "import dex1b_ros; print(dex1b_ros.__file__)"], cwd=tmp_path,
                       capture_output=True, text=True, check=True)
    assert Path(p.stdout.strip()).is_relative_to(REPO)
