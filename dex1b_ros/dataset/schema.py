"""The grasp-record Parquet schema now lives in :mod:`dex1b_ros.records` (a low-level module
that the generator and the dataset builder both use); this module re-exports it."""
from ..records import (  # noqa: F401
    _JOINT_COLS,
    _VECTORS,
    ENERGY_TERMS,
    META_HAND,
    META_JOINTS,
    META_VERSION,
    SCHEMA_VERSION,
    GraspRecords,
    SchemaError,
    empty_records,
    float_column_paths,
    grasp_schema,
    read_records,
    records_from_graspset,
    temp_path,
    write_records,
)
