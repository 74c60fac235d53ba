"""dex1b_ros.records (the grasp-shard schema the generator uses) and dex1b_ros.dataset.schema
are one schema: until dataset/schema.py re-exports records.py, the two must stay identical."""
import ast
import subprocess
import sys
from pathlib import Path

import numpy as np

import dex1b_ros.records as records


def _code(path: Path) -> str:
    """The module's code without its docstring (ast-normalised)."""
    tree = ast.parse(path.read_text())
    if tree.body and isinstance(tree.body[0], ast.Expr) and isinstance(tree.body[0].value, ast.Constant):
        tree.body = tree.body[1:]
    return ast.dump(tree)


def test_dataset_schema_is_records():
    import dex1b_ros.dataset.schema as schema
    if schema.GraspRecords is records.GraspRecords:      # re-export: nothing can drift
        return
    assert _code(Path(schema.__file__)) == _code(Path(records.__file__)), (
        "dex1b_ros/dataset/schema.py and dex1b_ros/records.py differ: change records.py and make "
        "dataset/schema.py re-export it (`from ..records import *`)")


def test_shards_written_by_one_read_by_the_other(tmp_path):
    import dex1b_ros.dataset.schema as schema
    r = records.empty_records("leap", [f"j{i}" for i in range(16)])
    p = records.write_records(r, tmp_path / "a.parquet")
    back = schema.read_records(p)
    assert back.hand == "leap" and len(back) == 0 and list(back.joint_names) == list(r.joint_names)
    assert np.array_equal(schema.grasp_schema(16).names, records.grasp_schema(16).names)


def test_generator_does_not_import_dataset():
    code = ("import sys, dex1b_ros.generator, dex1b_ros.generator.train, dex1b_ros.generator.seed, "
            "dex1b_ros.generator.load, dex1b_ros.generator.checkpoint, dex1b_ros.generator.data;"
            "print(sorted(m for m in sys.modules if m.startswith('dex1b_ros.dataset')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_old_import_paths_still_work():
    from dex1b_ros.generator import load_generator
    from dex1b_ros.generator import train as T
    from dex1b_ros.generator.load import load_generator as lg
    assert load_generator is lg is T.load_generator
    for name in ("TrainConfig", "TrainResult", "train", "export_model", "save_checkpoint", "load_checkpoint",
                 "make_batch", "CloudCache", "GraspData", "Batch", "CARD_NAME", "WEIGHTS_NAME", "GeneratorLoadError",
                 "sha256_file", "_split_records", "_rotations", "_atomic", "evaluate", "sample_geometry"):
        assert hasattr(T, name), name
    from dex1b_ros.hands.model import (  # noqa: F401
        CACHE_ENV,
        HandModel,
        HandPose,
        _cache_path,
        link_points,
        load_hand,
        load_hand_spec,
        transform_points,
    )
