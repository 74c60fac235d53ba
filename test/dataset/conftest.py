"""Dataset-builder fixtures: a micro build config (seconds on one core) and a shard comparer."""
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import yaml

from dex1b_ros.config_utils import from_dict, to_dict
from dex1b_ros.dataset.config import BuildConfig

MICRO = {
    "name": "micro", "hand": "leap", "rounds": 2, "seed": 7,
    "objects": {"ids": ["proc:box:0", "proc:box:1"]},
    "round0": {"grasps_per_task": 24, "tasks_per_object": 1, "steps": 100},
    "generate": {"samples_per_task": 16, "tasks_per_object": 2, "refine_steps": 20, "cloud_points": 128},
    "train": {"steps": 20, "generator": {"batch_size": 16, "objects_per_batch": 2, "partial_fraction": 0.0,
                                         "geom_points": 64, "kl_warmup": 5,
                                         "model": {"n_points": 128, "point_mlp": [16], "point_feature": 32,
                                                   "latent": 8, "hidden": [32, 32]}}},
    "types": {"cap_per_type": 2},
    "keep_invalid": True, "workers": 1, "report": {"enabled": False, "render": 0},
}


def micro_config(out: Path, **over) -> BuildConfig:
    d = {**MICRO, "out": str(out), **over}
    return from_dict(BuildConfig, d)


def write_config(cfg: BuildConfig, path: Path) -> Path:
    path.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    return path


@pytest.fixture
def micro(tmp_path):
    return lambda name="build", **over: micro_config(tmp_path / name, **over)


def shard_files(root: Path) -> list[Path]:
    return sorted(Path(root).glob("grasps/round=*/hand=*/*.parquet"))


def assert_same_shards(a: Path, b: Path) -> None:
    """Two builds hold the same shard names with the same records (column by column)."""
    from dex1b_ros.dataset.schema import read_records
    fa, fb = shard_files(a), shard_files(b)
    assert [p.relative_to(a) for p in fa] == [p.relative_to(b) for p in fb]
    for pa, pb in zip(fa, fb):
        ra, rb = read_records(pa), read_records(pb)
        assert len(ra) == len(rb), pa.name
        for f in dataclasses.fields(ra):
            va, vb = getattr(ra, f.name), getattr(rb, f.name)
            if f.name == "energy":
                for k in va:
                    np.testing.assert_array_equal(va[k], vb[k], err_msg=f"{pa.name}: energy_{k}")
            elif isinstance(va, np.ndarray):
                if va.dtype == object:
                    assert list(va) == list(vb), f"{pa.name}: {f.name}"
                else:
                    np.testing.assert_array_equal(va, vb, err_msg=f"{pa.name}: {f.name}")
            else:
                assert va == vb, f.name
