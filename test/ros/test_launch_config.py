"""Launch files, console scripts, declared parameters and config/*.yaml must not drift apart.

`launch` cannot be installed here, so the launch files are parsed with ``ast`` (never imported):
every launch_ros ``Node`` must name a console script of setup.py whose ``main`` exists, a node
name equal to the top-level key of its params file, parameter overrides that the node declares,
and config files that exist and list exactly the node's declared parameters. A ROS test then
loads each YAML through rcl's own parser (``--ros-args --params-file``) into the real node.
"""
import ast
import importlib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))


def console_scripts() -> dict[str, str]:
    """name -> 'module:function' from setup.py's entry_points (parsed, not executed)."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values):
                if isinstance(k, ast.Constant) and k.value == "console_scripts":
                    out = {}
                    for e in v.elts:
                        name, target = (s.strip() for s in e.value.split("="))
                        out[name] = target
                    return out
    raise AssertionError("setup.py has no console_scripts")


def node_module(executable: str):
    target = console_scripts()[executable]
    mod, fn = target.split(":")
    m = importlib.import_module(mod)
    assert callable(getattr(m, fn, None)), f"{target}: no callable {fn}"
    return m


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def _const(node):
    return node.value if isinstance(node, ast.Constant) else None


def launch_nodes(path: Path) -> tuple[list[dict], set[str], set[str], list[str]]:
    """(Node calls as dicts, declared launch args, used LaunchConfigurations, yaml file names)."""
    tree = ast.parse(path.read_text())
    nodes, declared, used, yamls = [], set(), set(), []
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        fname = call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", "")
        if fname == "Node":
            kw = {k.arg: k.value for k in call.keywords}
            overrides = []
            for item in getattr(kw.get("parameters"), "elts", []):
                if isinstance(item, ast.Dict):
                    overrides += [_const(k) for k in item.keys]
            nodes.append({"package": _const(kw.get("package")), "executable": _const(kw.get("executable")),
                          "name": _const(kw.get("name")), "overrides": overrides,
                          "param_sources": [ast.unparse(e) for e in getattr(kw.get("parameters"), "elts", [])]})
        elif fname == "DeclareLaunchArgument":
            declared.add(_const(call.args[0]))
        elif fname == "LaunchConfiguration":
            used.add(_const(call.args[0]))
        for a in call.args:
            for e in getattr(a, "elts", []):
                if isinstance(_const(e), str) and _const(e).endswith(".yaml"):
                    yamls.append(_const(e))
    return nodes, declared, used, yamls


def test_launch_files_exist_and_are_installed():
    names = {p.name for p in LAUNCH_FILES}
    assert {"grasp_planner.launch.py", "sim_demo.launch.py"} <= names
    # setup.py installs these folders recursively under share/dex1b_ros/ (DATA_DIRS, parsed not executed)
    tree = ast.parse((ROOT / "setup.py").read_text())
    dirs = [ast.literal_eval(n.value) for n in ast.walk(tree) if isinstance(n, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "DATA_DIRS" for t in n.targets)]
    assert dirs and {"launch", "config"} <= set(dirs[0]), dirs


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_matches_entry_points_params_and_configs(path):
    nodes, declared, used, yamls = launch_nodes(path)
    assert nodes, f"{path.name}: no launch_ros Node"
    assert used <= declared, f"{path.name}: LaunchConfiguration without DeclareLaunchArgument: {used - declared}"
    assert {"hand", "params_file"} <= declared
    scripts = console_scripts()
    for n in nodes:
        assert n["package"] == "dex1b_ros"
        assert n["executable"] in scripts, f"{path.name}: executable {n['executable']!r} not in setup.py {scripts}"
        mod = node_module(n["executable"])
        assert n["name"] == mod.NODE_NAME, f"{path.name}: node name {n['name']!r} != {mod.NODE_NAME!r}"
        declared_params = {s.name for s in mod.PARAMS}
        unknown = set(n["overrides"]) - declared_params
        assert not unknown, f"{path.name}: {n['executable']} overrides undeclared parameters {unknown}"
        assert any(not s.startswith("{") for s in n["param_sources"]), f"{path.name}: {n['name']} has no params file"
    for y in yamls:
        assert (ROOT / "config" / y).is_file(), f"{path.name}: config/{y} does not exist"
    executables = {n["executable"] for n in nodes}
    for ex in executables:
        assert f"{ex}.yaml" in yamls, f"{path.name}: no config/{ex}.yaml default for {ex}"


@pytest.mark.parametrize("executable", ["grasp_planner", "sim_camera", "sim_hand", "grasp_executive"])
def test_config_yaml_lists_exactly_the_declared_parameters(executable):
    mod = node_module(executable)
    data = yaml.safe_load((ROOT / "config" / f"{executable}.yaml").read_text())
    assert list(data) == [mod.NODE_NAME], f"config/{executable}.yaml: top key must be {mod.NODE_NAME!r}"
    params = flatten(data[mod.NODE_NAME]["ros__parameters"])
    declared = {s.name: s for s in mod.PARAMS}
    assert set(params) == set(declared), (f"config/{executable}.yaml vs declared: missing "
                                          f"{sorted(set(declared) - set(params))}, unknown "
                                          f"{sorted(set(params) - set(declared))}")
    for name, v in params.items():   # same types (an int where a float is declared is fine in YAML)
        d = declared[name].default
        if isinstance(d, bool) or isinstance(v, bool):
            assert isinstance(v, bool) and isinstance(d, bool), name
        elif isinstance(d, float):
            assert isinstance(v, (int, float)), name
        elif isinstance(d, list):
            assert isinstance(v, list), name
        else:
            assert isinstance(v, type(d)), (name, v, d)
    for s in mod.PARAMS:
        assert s.description, f"{executable}: parameter {s.name} has no description"


@pytest.mark.parametrize("executable", ["grasp_planner", "sim_camera", "sim_hand", "grasp_executive"])
def test_config_yaml_values_are_the_declared_defaults(executable):
    """The YAML is the declared defaults written out, not a second set of defaults."""
    mod = node_module(executable)
    params = flatten(yaml.safe_load((ROOT / "config" / f"{executable}.yaml").read_text())[mod.NODE_NAME]
                     ["ros__parameters"])
    for s in mod.PARAMS:
        d = list(s.default) if isinstance(s.default, tuple) else s.default
        assert params[s.name] == pytest.approx(d) if isinstance(d, float) else params[s.name] == d, s.name


def test_planner_parameters_are_generated_from_planner_config():
    from dex1b_ros.planner.config import PlannerConfig, flat_fields
    from dex1b_ros.ros import grasp_planner_node as gpn
    fields = flat_fields()
    assert [s.name for s in gpn.PLANNER_PARAMS] == [f.name for f in fields]
    assert not {s.name for s in gpn.NODE_PARAMS} & {f.name for f in fields}
    for s, f in zip(gpn.PLANNER_PARAMS, fields):
        assert (s.default, s.description, s.range) == (f.default, f.description, f.range), s.name
        assert s.read_only == (s.name in PlannerConfig.REBUILD), s.name
        assert s.description and not s.description.startswith("-"), s.name
    by = {s.name: s for s in gpn.PLANNER_PARAMS}
    assert by["sampling.num_samples"].range.describe() == ">= 1"
    assert by["preprocess.plane_max_tilt_deg"].range.describe() == "in [0, 90]"
    assert by["preprocess.voxel_size"].description.startswith("m, ")     # units first
    # ranges cover what the dataclasses validate: every numeric field listed in a RANGES table has one
    assert sum(s.range is not None for s in gpn.PLANNER_PARAMS) >= 30


def test_node_defaults_are_the_evals_and_the_benchmarks_planner_config():
    """One planner, one config: the node's declared defaults, the YAML the node is started with,
    the evaluation's and the plan-quality benchmark's planner settings are the same PlannerConfig."""
    from dex1b_ros.eval.run import EvalConfig
    from dex1b_ros.planner.config import PlannerConfig, from_flat, load_planner_config
    from dex1b_ros.ros import grasp_planner_node as gpn
    declared = from_flat({s.name: s.default for s in gpn.PLANNER_PARAMS})
    assert declared == PlannerConfig()
    assert load_planner_config(ROOT / "config" / "grasp_planner.yaml") == declared
    assert EvalConfig().planner_config == declared            # "node defaults" in the eval, by construction
    assert (declared.sampling.num_samples, declared.refinement.refine_steps,
            declared.validation.num_validate) == (96, 50, 32)  # the measured latency settings (docs/ros.md)


@pytest.mark.ros
@pytest.mark.timeout(60)
def test_config_yaml_loads_through_rcl_into_the_nodes(ros_ctx):
    """The real params-file path (rcl's YAML parser) into each node's declared parameters."""
    from ros_fakes import FakePlanner

    from dex1b_ros.planner.config import load_planner_config
    from dex1b_ros.ros.grasp_planner_node import GraspPlannerNode
    from dex1b_ros.ros.sim_camera_node import SimCameraNode

    def args(name):
        return ["--ros-args", "--params-file", str(ROOT / "config" / f"{name}.yaml")]

    node = GraspPlannerNode(FakePlanner("leap"), context=ros_ctx, cli_args=args("grasp_planner"))
    yml = flatten(yaml.safe_load((ROOT / "config/grasp_planner.yaml").read_text())["grasp_planner"]["ros__parameters"])
    for k, v in yml.items():
        assert node.p[k] == v, k
    assert node.config == load_planner_config(ROOT / "config" / "grasp_planner.yaml")
    node.destroy_node()
    cam = SimCameraNode(context=ros_ctx, cli_args=args("sim_camera"))
    assert cam.p["object"] == "ycb:006_mustard_bottle"
    cam.destroy_node()
