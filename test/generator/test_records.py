"""dex1b_ros.records is the one grasp-shard schema: dex1b_ros.dataset.schema re-exports it, and
the generator reads and writes shards through it without importing dex1b_ros.dataset."""
import subprocess
import sys

import dex1b_ros.records as records


def test_dataset_schema_re_exports_records():
    import dex1b_ros.dataset.schema as schema
    for name in ("GraspRecords", "SchemaError", "read_records", "write_records", "records_from_graspset",
                 "empty_records", "grasp_schema", "SCHEMA_VERSION"):
        assert getattr(schema, name) is getattr(records, name), name


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
